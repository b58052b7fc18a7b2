"""What a model-written Rust test file may use before it is run or written: the code under
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



def rust_outside_uses(text: str, own: tuple[str, ...] = ()) -> list[str]:
    """What ``text`` (a Rust test file a model wrote) uses beyond the
    workspace's own code and the test framework; empty when nothing. ``own`` names the
    project's modules."""
    found: list[str] = []
    for m in _RUST_USE.finditer(text):
        path = " ".join(m.group(1).split()).removeprefix("::")
        head = path.split("::", 1)[0]
        if head in ("crate", "super", "self", *[o for o in own if o]) or (
                _RUST_STD_OK.match(path) and not _RUST_BLOCKED.search(path + "::")):
            continue
        found.append(f"uses {path!r}")
    found += [f"uses {m.group(0).strip()!r}" for m in _RUST_BLOCKED.finditer(text)]
    return list(dict.fromkeys(found))
