"""What a model-written JavaScript or TypeScript test file may use before it is written: the
code under test, the test framework and plain values, nothing that reaches the system.

A draft is untrusted code. Before it runs (in the sandbox) or is written into the project (the
user's next test run has no sandbox), the draft is checked for **imports** other than the code
under test, the project's own modules, the test framework and a few standard modules of plain
values, and for **names of system access** anywhere in the text (files, processes, network,
environment, dynamic code). It reads the text, not its meaning: conservative, and a list of
names, so it is a second line behind the sandbox and the UNVERIFIED mark, not a proof.
"""

from __future__ import annotations

import re

_JS_MODULES = frozenset({
    "vitest", "node:test", "node:assert", "node:assert/strict", "assert", "assert/strict",
    "@jest/globals", "chai", "mocha",
})
_JS_BLOCKED = re.compile(
    r"(?<![\w$.])(process|globalThis|global|window|self|eval|Function|fetch|XMLHttpRequest|"
    r"WebSocket|Deno|Bun|child_process|Worker|module|exports|constructor|__proto__|"
    r"prototype|Reflect|Proxy|setTimeout|setInterval|queueMicrotask)(?![\w$])|import\.meta|"
    r"\.constructor\b")
_JS_IMPORT = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)(['"`])(.*?)\1""")
_JS_REQUIRE_ANY = re.compile(r"\brequire\b|\bimport\s*\(")

def _strip_js_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def js_outside_uses(text: str, own: tuple[str, ...] = ()) -> list[str]:
    """What ``text`` (a JavaScript or TypeScript test file a model wrote) uses beyond the
    workspace's own code and the test framework; empty when nothing. ``own`` names the
    project's modules."""
    found: list[str] = []
    code = _strip_js_comments(text)
    imported = [m.group(2) for m in _JS_IMPORT.finditer(code)]
    for name in imported:
        if name in _JS_MODULES or name.startswith(("./", "../")):
            continue
        found.append(f"imports {name!r}")
    calls = len(_JS_REQUIRE_ANY.findall(code))
    literal = len(re.findall(r"""\b(?:require|import)\s*\(\s*['"`]""", code))
    if calls > literal:
        found.append("require or import() of a computed name")
    found += [f"uses {m.group(0).strip('.')!r}" for m in _JS_BLOCKED.finditer(code)]
    return list(dict.fromkeys(found))
