"""What a model-written Go or Java test file may use before it is run or written: the code under
test, the test framework and plain values, nothing that reaches the system.

A draft is untrusted code. Before it runs (in the sandbox) or is written into the project (the
user's next test run has no sandbox), the draft is checked for **imports** other than the code
under test, the project's own modules, the test framework and a few standard modules of plain
values, and for **names of system access** anywhere in the text (files, processes, network,
environment, dynamic code). It reads the text, not its meaning: conservative, and a list of
names, so it is a second line behind the sandbox and the UNVERIFIED mark, not a proof.
"""

from __future__ import annotations

import re

_GO_STD_OK = re.compile(
    r"^(testing|fmt|strings|strconv|math|math/[a-z/]+|sort|slices|maps|errors|reflect|unicode|"
    r"unicode/utf8|bytes|regexp|container/[a-z]+|cmp)$")
_GO_IMPORT_BLOCK = re.compile(r"\bimport\s*\((.*?)\)", re.S)
_GO_IMPORT_ONE = re.compile(r"""\bimport\s+(?:[\w.]+\s+)?"([^"]*)\"""")
_GO_BLOCKED = re.compile(r"//go:|\bunsafe\b|\bcgo\b")

_JAVA_OK = re.compile(r"^(static\s+)?(org\.junit\.|java\.util\.(?!concurrent|jar|zip|logging|"
                      r"prefs|spi)|java\.math\.)")
_JAVA_IMPORT = re.compile(r"^\s*import\s+([^;]+);", re.M)
_JAVA_BLOCKED = re.compile(
    r"\b(Runtime|ProcessBuilder|Process|ClassLoader|Thread|File|Files|Path|Paths|Socket|"
    r"ServerSocket|URL|URI|HttpClient|Unsafe|MethodHandles)\b|\bjava\.(io|nio|net|lang\.reflect)"
    r"|\bClass\.forName\b|\bSystem\s*\.\s*(?!out\b|err\b)\w+|\bgetClass\b")


def go_outside_uses(text: str, own: tuple[str, ...] = ()) -> list[str]:
    """What ``text`` (a Go test file a model wrote) uses beyond the
    workspace's own code and the test framework; empty when nothing. ``own`` names the
    project's modules."""
    found: list[str] = []
    specs: list[str] = []
    for block in _GO_IMPORT_BLOCK.finditer(text):
        specs += re.findall(r'"([^"]*)"', block.group(1))
    specs += [m.group(1) for m in _GO_IMPORT_ONE.finditer(text)]
    for spec in specs:
        if _GO_STD_OK.match(spec) or any(spec == o or spec.startswith(o + "/")
                                         for o in own if o):
            continue
        found.append(f"imports {spec!r}")
    found += [f"uses {m.group(0)!r}" for m in _GO_BLOCKED.finditer(text)]
    return list(dict.fromkeys(found))


def java_outside_uses(text: str, own: tuple[str, ...] = ()) -> list[str]:
    """What ``text`` (a Java test file a model wrote) uses beyond the
    workspace's own code and the test framework; empty when nothing. ``own`` names the
    project's modules."""
    found: list[str] = []
    for m in _JAVA_IMPORT.finditer(text):
        name = " ".join(m.group(1).split())
        bare = name.removeprefix("static ").strip()
        if _JAVA_OK.match(name) or any(bare.startswith(o + ".") for o in own if o):
            continue
        found.append(f"imports {bare!r}")
    found += [f"uses {m.group(0)!r}" for m in _JAVA_BLOCKED.finditer(text)]
    return list(dict.fromkeys(found))
