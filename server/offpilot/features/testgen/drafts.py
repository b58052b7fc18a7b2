"""What a model-written test file may use before it is run or written: the code under test,
the test framework and plain values, nothing that reaches the system.

A draft (a whole test file the model wrote, for Rust, Go, Java, JavaScript or TypeScript) is
untrusted code. Before it runs (Rust, in the sandbox) or is written into the project (every
language; the user's next test run has no sandbox), :func:`outside_uses` looks for what
would reach beyond the workspace's own code:

- **imports** (``use``/``import``/``require``/``import()``) other than the code under test,
  the project's own modules and the test framework, plus a few standard modules of plain
  values (collections, math, strings);
- **names of system access** anywhere in the text (files, processes, network, environment,
  dynamic code: ``process``, ``eval``, ``std::fs``, ``Command``, ``Runtime``, ``System.getenv``,
  ``include_str!``...).

It reads the text, not its meaning: conservative (a draft that mentions ``process`` in a
string is dropped too), and a list of names, so it is a second line behind the sandbox and the
UNVERIFIED mark, not a proof.
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

_RUST_USE = re.compile(r"\buse\s+([^;]+);")
_RUST_STD_OK = re.compile(
    r"^(std|core|alloc)::(collections|cmp|fmt|str|string|vec|iter|ops|convert|num|char|"
    r"option|result|borrow|boxed|hash|f32|f64|i8|i16|i32|i64|i128|isize|u8|u16|u32|u64|u128|"
    r"usize)\b")
_RUST_BLOCKED = re.compile(
    r"\b(fs|process|net|env|os|io|thread|ptr|ffi|arch|mem|intrinsics|libc)::|"
    r"\b(include|include_str|include_bytes|env|option_env|asm|global_asm|concat_idents)!|"
    r"\b(unsafe|extern)\b|#\s*!?\[\s*(link|no_mangle|export_name|path)|"
    r"\b(Command|File|OpenOptions|TcpStream|TcpListener|UdpSocket|DirBuilder)\b|"
    r"\b(remove_file|remove_dir|remove_dir_all|write|create_dir|rename|set_var|var_os|"
    r"spawn)\s*\(")


def _strip_js_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def outside_uses(language: str, text: str, *, own: tuple[str, ...] = ()) -> list[str]:
    """What ``text`` (a test file a model wrote) uses beyond the workspace's own code and the
    test framework; empty when nothing. ``own`` names the project's modules: the Rust library
    name, the Go module path, the Java package."""
    found: list[str] = []
    if language in ("javascript", "typescript"):
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
    elif language == "go":
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
    elif language == "java":
        for m in _JAVA_IMPORT.finditer(text):
            name = " ".join(m.group(1).split())
            bare = name.removeprefix("static ").strip()
            if _JAVA_OK.match(name) or any(bare.startswith(o + ".") for o in own if o):
                continue
            found.append(f"imports {bare!r}")
        found += [f"uses {m.group(0)!r}" for m in _JAVA_BLOCKED.finditer(text)]
    elif language == "rust":
        for m in _RUST_USE.finditer(text):
            path = " ".join(m.group(1).split()).removeprefix("::")
            head = path.split("::", 1)[0]
            if head in ("crate", "super", "self", *[o for o in own if o]) or (
                    _RUST_STD_OK.match(path) and not _RUST_BLOCKED.search(path + "::")):
                continue
            found.append(f"uses {path!r}")
        found += [f"uses {m.group(0).strip()!r}" for m in _RUST_BLOCKED.finditer(text)]
    return list(dict.fromkeys(found))
