"""A fix as an edit: the enclosing function replaced, never the whole file.

:func:`function_span` finds the function or method around a line with tree-sitter;
:func:`replace_span` builds the :class:`FixEdit` that puts a candidate in its place (re-indented,
with the file's line endings). :func:`check_edit` is the static half of verification: the
edited file parses (tree-sitter, and Python's compiler for Python), and the edit is minimal: the
candidate is one definition of the same name and kind, nothing around it changes; and it reaches
no further than the code it fixes (:func:`reach_problem`: no new imports but modules that only
compute, no new use of the file's imports, ``open``, ``exec`` and the like), because a verified
fix later runs outside the sandbox that verified it.
Nothing here writes a file; :func:`apply_edit` does, for a caller that was asked to.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import logging
import os
import re
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import tree_sitter

from offpilot.context.extract import parse, to_bytes
from offpilot.context.languages import LanguageSpec, for_path
from offpilot.context.symbols import enclosing_definition

log = logging.getLogger(__name__)


class EditConflict(Exception):
    """The file changed since the edit was made; the edit was not applied."""


@dataclass(frozen=True)
class Span:
    """Whole lines of a file: ``start_line`` to ``end_line``, 1-based, inclusive."""

    path: Path
    start_line: int
    end_line: int
    name: str = ""  # the function's name ("" for a region that is not a definition)
    kind: str = ""  # function | method | region
    text: str = ""  # those lines, as in the file

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.start_line}-{self.end_line}"


@dataclass(frozen=True)
class FixEdit:
    """Replace whole lines ``start_line``..``end_line`` (1-based, inclusive) of ``path``.

    ``old_text`` is what those lines hold now and ``new_text`` what replaces them; both end
    with the line's break where the file has one. An LSP client applies it as one
    ``TextEdit`` over :meth:`lsp_range`; :func:`apply_edit` applies it to the file.
    """

    path: Path
    start_line: int
    end_line: int
    old_text: str
    new_text: str
    diff: str  # unified diff of the file, labelled with the workspace-relative path
    file_sha256: str  # of the file's text the edit was made against

    def lsp_range(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((line, character), (line, character)), 0-based, end exclusive, in UTF-16 units
        as LSP counts them: the replaced lines, their line break included."""
        if self.old_text.endswith("\n"):
            return (self.start_line - 1, 0), (self.end_line, 0)
        last = self.old_text.rsplit("\n", 1)[-1]
        return (self.start_line - 1, 0), (self.end_line - 1, len(last.encode("utf-16-le")) // 2)

    def to_json(self) -> dict[str, object]:
        (sl, sc), (el, ec) = self.lsp_range()
        return {"path": str(self.path), "uri": self.path.as_uri(), "startLine": self.start_line,
                "endLine": self.end_line, "oldText": self.old_text, "newText": self.new_text,
                "range": {"start": {"line": sl, "character": sc},
                          "end": {"line": el, "character": ec}},
                "diff": self.diff, "fileSha256": self.file_sha256}


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def function_span(path: Path, text: str, line: int, *, spec: LanguageSpec | None = None
                  ) -> Span | None:
    """The function or method around 1-based ``line`` of ``text`` (its ``def`` line to its
    last line, decorators excluded), or None at top level or in a class body."""
    spec = spec or for_path(path, text)
    if spec is None:
        return None
    lines = _lines(text)
    if not 1 <= line <= len(lines):
        return None
    data = to_bytes(text)
    tree = parse(data, spec)
    if tree is None:
        return None
    row = lines[line - 1]
    col = len(row) - len(row.lstrip())
    offset = len(to_bytes("".join(lines[:line - 1]) + row[:col]))
    try:
        d = enclosing_definition(tree, spec, data, offset)
    except ValueError:  # a query that does not fit this grammar version: no definition
        log.warning("cannot find definitions in %s", path, exc_info=True)
        return None
    if d is None or d.kind not in ("function", "method"):
        return None
    start, end = d.start_line, min(d.end_line, len(lines))
    while start < end and lines[start - 1].lstrip().startswith("@"):
        start += 1  # a decorated definition's node starts at its decorators: keep them
    return Span(path, start, end, d.name, d.kind, "".join(lines[start - 1:end]))


def line_span(path: Path, text: str, start_line: int, end_line: int, *, around: int = 0
              ) -> Span:
    """Lines ``start_line``..``end_line`` (1-based), widened by ``around`` on each side."""
    lines = _lines(text)
    first = max(1, start_line - around)
    last = min(max(len(lines), 1), end_line + around)
    return Span(path, first, last, "", "region", "".join(lines[first - 1:last]))


def indent_of(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line[:len(line) - len(line.lstrip())]
    return ""


def reindent(code: str, indent: str) -> str:
    """``code`` dedented, then indented by ``indent`` (blank lines stay blank)."""
    body = textwrap.dedent(code.replace("\t", "    ") if "\t" in code and " " in indent
                           else code)
    return "".join((indent + ln if ln.strip() else ln.lstrip(" \t"))
                   for ln in body.splitlines(keepends=True))


def replace_span(text: str, span: Span, candidate: str, *, rel_label: str = "") -> FixEdit:
    """The edit that replaces ``span`` in ``text`` with ``candidate`` (re-indented to the
    span's indentation, with the file's line endings and a final line break where the span
    had one)."""
    newline = "\r\n" if "\r\n" in span.text else "\n"
    new = reindent(candidate.replace("\r\n", "\n").strip("\n") + "\n", indent_of(span.text))
    if newline != "\n":
        new = new.replace("\n", newline)
    if not span.text.endswith(("\n", "\r")):
        new = new.rstrip("\r\n")
    lines = _lines(text)
    before = "".join(lines[:span.start_line - 1])
    after = "".join(lines[span.end_line:])
    label = rel_label or span.path.name
    diff = "".join(difflib.unified_diff(_lines(text), _lines(before + new + after),
                                        f"a/{label}", f"b/{label}"))
    return FixEdit(span.path, span.start_line, span.end_line, span.text, new, diff,
                   sha256_text(text))


def edited_text(text: str, edit: FixEdit) -> str:
    lines = _lines(text)
    return "".join(lines[:edit.start_line - 1]) + edit.new_text + "".join(lines[edit.end_line:])


def parse_problem(path: Path, text: str) -> str:
    """Why ``text`` does not parse as ``path``'s language ("" when it does): tree-sitter's
    error nodes, and for Python the compiler too (tree-sitter accepts some invalid code)."""
    spec = for_path(path, text)
    if spec is not None:
        tree = parse(text, spec)
        if tree is None:
            return "the file took too long to parse"
        if tree.root_node.has_error:
            node = _first_error(tree.root_node)
            where = f" at line {node.start_point[0] + 1}" if node is not None else ""
            return f"the edited file does not parse{where}"
    if path.suffix in (".py", ".pyi"):
        try:
            compile(text, str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            return f"the edited file does not compile: {exc.msg} (line {exc.lineno})"
        except ValueError as exc:
            return f"the edited file does not compile: {exc}"
    return ""


def _first_error(node: tree_sitter.Node) -> tree_sitter.Node | None:
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "ERROR" or n.is_missing:
            return n
        stack.extend(reversed(n.children))
    return None


def minimality_problem(span: Span, candidate: str) -> str:
    """Why ``candidate`` is not a minimal replacement of ``span`` ("" when it is): for a
    Python function, it must be one definition with the same name (nothing else added, the
    rest of the file untouched by construction); and it must change something."""
    if candidate.strip() == textwrap.dedent(span.text).strip():
        return "the candidate is the code as it is"
    if span.kind in ("function", "method") and span.path.suffix in (".py", ".pyi"):
        try:
            tree = ast.parse(textwrap.dedent(candidate))
        except SyntaxError as exc:
            return f"the candidate does not parse: {exc.msg} (line {exc.lineno})"
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        if len(tree.body) != 1 or len(defs) != 1:
            return "the candidate is not one function definition (the edit must replace the " \
                   "enclosing function only)"
        if defs[0].name != span.name:
            return f"the candidate defines {defs[0].name!r}, not {span.name!r}"
    return ""


# Builtins a fix has no business starting to use: files, code execution, the interpreter's
# namespaces. A function that already used one may keep using it.
_RISKY_BUILTINS = frozenset({
    "open", "exec", "eval", "compile", "__import__", "breakpoint", "input", "globals", "locals",
    "vars", "setattr", "delattr", "exit", "quit", "memoryview"})
# Modules a fix may import: computation only, no files, processes, network or interpreter.
_PURE_MODULES = frozenset({
    "math", "cmath", "re", "itertools", "functools", "collections", "string", "decimal",
    "fractions", "statistics", "operator", "datetime", "json", "typing", "dataclasses", "enum",
    "heapq", "bisect", "copy", "textwrap", "unicodedata", "random", "hashlib", "numbers"})
_IMPORT_LINE = re.compile(r"^\s*(?:from\s+[\w.]+\s+)?import\s+(.+)$", re.M)


def _loaded_names(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _imports_of(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            out |= {a.asname or a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            out |= {a.asname or a.name for a in n.names}
    return out


def _modules_of(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            out |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            out.add("." * n.level + (n.module or ""))
    return out


def _file_imports(text: str) -> set[str]:
    """The names the file binds by import (read line by line when it does not parse: a fix
    of a syntax error)."""
    try:
        return _imports_of(ast.parse(text))
    except SyntaxError:
        names: set[str] = set()
        for m in _IMPORT_LINE.finditer(text):
            for part in m.group(1).strip("() \\").split(","):
                words = part.split()
                if words:
                    names.add(words[-1] if len(words) == 3 else words[0].split(".")[0])
        return names


def reach_problem(span: Span, candidate: str, text: str) -> str:
    """Why a Python candidate reaches further than the code it fixes ("" when it does not).

    A verified fix is applied to the user's code and runs, unsandboxed, whenever the user runs
    it; the sandbox that verified it hides what a payload would do outside. So a fix may not
    import anything, and may not start using a module the file imports, a risky builtin
    (``open``, ``exec``, ``__import__`` ...) or a dunder attribute that the function did not
    use before.
    """
    if span.path.suffix not in (".py", ".pyi"):
        return ""
    try:
        new = ast.parse(textwrap.dedent(candidate))
    except SyntaxError:
        return ""  # the parse check says so
    try:
        old = ast.parse(textwrap.dedent(span.text))
        before = _loaded_names(old) | _imports_of(old)
        old_attrs = {n.attr for n in ast.walk(old) if isinstance(n, ast.Attribute)}
        old_modules = _modules_of(old)
    except SyntaxError:  # a fix of a syntax error: the words of the code as it is
        before = set(re.findall(r"[A-Za-z_]\w*", span.text))
        old_attrs = set(re.findall(r"\.\s*([A-Za-z_]\w*)", span.text))
        old_modules = {a or b for a, b in re.findall(
            r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", span.text, re.M)}
    modules = _modules_of(new) - old_modules
    risky = sorted(m for m in modules if m.split(".")[0] not in _PURE_MODULES)
    if risky:
        return f"the candidate imports {', '.join(risky)}: a fix may import only modules that " \
               "compute (math, re, collections ...)"
    added = _loaded_names(new) - before - _imports_of(new)
    reach = sorted(added & (_RISKY_BUILTINS | _file_imports(text)))
    if reach:
        return (f"the candidate starts using {', '.join(reach)}, which the function did not "
                "use: a fix may not reach further than the code it fixes")
    dunders = sorted({n.attr for n in ast.walk(new) if isinstance(n, ast.Attribute)
                      and n.attr.startswith("__") and n.attr not in old_attrs})
    if dunders:
        return f"the candidate uses {', '.join(dunders)}, which the function did not"
    return ""


# What a JavaScript or Rust fix may not start using: modules, processes, files, the network,
# code execution and the ways to them (``constructor.constructor``, ``globalThis``), Rust's
# ``unsafe``, FFI and compile-time file reads. Words the function already had stay allowed.
_JS_RISKY = frozenset({
    "require", "import", "process", "child_process", "fs", "fsPromises", "net", "http",
    "https", "dgram", "dns", "tls", "os", "vm", "worker_threads", "cluster", "module",
    "exports", "eval", "Function", "AsyncFunction", "globalThis", "global", "window", "self",
    "Deno", "Bun", "fetch", "XMLHttpRequest", "WebSocket", "Worker", "constructor",
    "__proto__", "prototype", "Reflect", "Proxy", "__dirname", "__filename", "spawn",
    "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork", "readFile",
    "readFileSync", "writeFile", "writeFileSync", "appendFile", "appendFileSync", "unlink",
    "unlinkSync", "rm", "rmSync", "open", "openSync", "Buffer", "WebAssembly", "setInterval",
    "queueMicrotask", "importScripts", "document", "localStorage", "navigator"})
_RUST_RISKY = frozenset({
    "std", "core", "alloc", "process", "fs", "net", "env", "os", "io", "ffi", "Command",
    "File", "OpenOptions", "TcpStream", "TcpListener", "UdpSocket", "unsafe", "extern",
    "asm", "global_asm", "include", "include_str", "include_bytes", "option_env",
    "transmute", "libc", "use", "mod", "crate", "exit", "abort", "static", "thread", "spawn",
    "ptr", "from_raw_parts", "set_var", "remove_var", "read_to_string", "write_all",
    "stdin", "stdout", "stderr", "print", "println", "eprint", "eprintln", "dbg"})
_WORD = re.compile(r"[A-Za-z_$][\w$]*")
_JS_IMPORT = re.compile(r"\bimport\s+(?P<what>[^;'\"]+?)\s+from\b|\b(?:const|let|var)\s+"
                        r"(?P<bound>\{[^}]*\}|[\w$]+)\s*=\s*(?:await\s+)?(?:require|import)\s*\(")
_RUST_USE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.M)


def _words(code: str) -> set[str]:
    return set(_WORD.findall(code))


def _brace_file_imports(text: str, language: str) -> set[str]:
    """The names a JavaScript file binds by import/require, or a Rust file by ``use``."""
    names: set[str] = set()
    if language == "rust":
        for m in _RUST_USE.finditer(text):
            for part in re.split(r"[{},]", m.group(1)):
                words = part.strip().split()
                if words:
                    last = words[-1] if "as" in words else words[0].split("::")[-1]
                    if last not in ("*", "self", "super", "crate", ""):
                        names.add(last)
        return names
    for m in _JS_IMPORT.finditer(text):
        what = m.group("what") or m.group("bound") or ""
        for part in re.split(r"[{},*]", what):
            words = part.strip().split()
            if words:
                names.add(words[-1])
    return names


def brace_reach_problem(span: Span, candidate: str, text: str) -> str:
    """Why a JavaScript/TypeScript or Rust candidate reaches further than the code it fixes
    ("" when it does not): a word it starts using that opens modules, processes, files, the
    network or code execution (``require``, ``child_process``, ``fs``, ``eval``,
    ``std::process``, ``std::fs``, ``unsafe``, ``include_str!`` ...) or a name the file
    imports. The check is by word, strings and comments included: a fix that merely mentions
    one is refused too, which costs a fix, never safety."""
    spec = for_path(span.path, text)
    language = spec.name if spec is not None else ""
    if language == "rust":
        risky = _RUST_RISKY
    elif language in ("javascript", "typescript", "tsx"):
        risky = _JS_RISKY
    else:
        return ""
    added = _words(candidate) - _words(span.text)
    reach = sorted(added & (risky | _brace_file_imports(text, language)))
    if reach:
        return (f"the candidate starts using {', '.join(reach)}, which the function did not "
                "use: a fix may not reach further than the code it fixes")
    return ""


def same_definition_problem(span: Span, edited: str, new_text: str) -> str:
    """For a language without Python's checks: why the replaced lines of ``edited`` are not one
    definition named as ``span`` was ("" when they are), found with tree-sitter: the function
    that starts in them must end on their last line (nothing added after it) and only
    comments or attributes may come before it."""
    if span.kind not in ("function", "method"):
        return ""
    n = len(_lines(new_text)) or 1
    first, last = span.start_line, span.start_line + n - 1
    lines = _lines(edited)
    line = first
    while line <= last and (not lines[line - 1].strip() or lines[line - 1].lstrip().startswith(
            ("//", "/*", "*", "#[", "@"))):
        line += 1
    found = None
    for at in (line, line + 1) if line <= last else ():
        # the line may start outside the definition's node (``export function``)
        found = function_span(span.path, edited, at)
        if found is not None and found.start_line <= line:
            break
        found = None
    if found is None or found.start_line < first or found.end_line != last:
        return "the candidate is not one function definition (the edit must replace the " \
               "enclosing function only)"
    if found.name != span.name:
        return f"the candidate defines {found.name!r}, not {span.name!r}"
    # nothing beside it on its lines either (``}; other()``): alone, the candidate is one item
    # (a method alone may not parse: then the lines above decide)
    spec = for_path(span.path, edited)
    alone = parse(textwrap.dedent(new_text), spec) if spec is not None else None
    if alone is not None and not alone.root_node.has_error:
        items = [n for n in alone.root_node.named_children if n.type not in _BESIDE]
        if len(items) != 1:
            return "the candidate is not one function definition (the edit must replace the " \
                   "enclosing function only)"
    return ""


_BESIDE = frozenset({"comment", "line_comment", "block_comment", "attribute_item",
                     "empty_statement"})


def check_edit(path: Path, text: str, span: Span, candidate: str, *, rel_label: str = ""
               ) -> tuple[FixEdit | None, str]:
    """The edit for ``candidate`` and "" when it passes the static checks, else (None, why)."""
    problem = minimality_problem(span, candidate) or reach_problem(span, candidate, text) \
        or brace_reach_problem(span, candidate, text)
    if problem:
        return None, problem
    edit = replace_span(text, span, candidate, rel_label=rel_label)
    edited = edited_text(text, edit)
    problem = parse_problem(path, edited)
    if not problem and path.suffix not in (".py", ".pyi"):
        problem = same_definition_problem(span, edited, edit.new_text)
    return (None, problem) if problem else (edit, "")


def read_source(path: Path) -> str:
    """A file's text exactly as stored (line endings kept); UnicodeDecodeError when it is
    not UTF-8."""
    return path.read_bytes().decode("utf-8")


def apply_edit(edit: FixEdit) -> None:
    """Write ``edit`` into its file, unless the file changed since the edit was made
    (:class:`EditConflict`). The file is replaced in one step."""
    try:
        current = read_source(edit.path)
    except UnicodeDecodeError:
        raise EditConflict(f"{edit.path.name} is not UTF-8; not applied") from None
    if sha256_text(current) != edit.file_sha256:
        raise EditConflict(f"{edit.path.name} changed since the fix was made; not applied")
    fd, tmp = tempfile.mkstemp(prefix=f".{edit.path.name}.", suffix=".tmp", dir=edit.path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(edited_text(current, edit).encode("utf-8"))
        os.chmod(tmp, edit.path.stat().st_mode & 0o7777)
        os.replace(tmp, edit.path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
