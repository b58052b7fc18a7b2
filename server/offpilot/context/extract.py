"""Definitions, imports and names of one file, from the queries in ``grammars/<lang>/``.

The queries say *what* to take (see ``grammars/README.md`` for their capture names); this module
only walks their captures and cuts text out of the source:

- :func:`summarize` — a :class:`FileSummary`: definitions with their signature (the declaration
  head up to the body), doc comment or docstring, enclosing definition, plus imports and package.
- :func:`identifiers_around` — names used near a position, nearest first (what to look up).
- :func:`calls_in_range` — names a range calls or uses (what an explanation needs to see).

Everything here is bounded on hostile input (megabytes on one line, thousands of nesting levels,
bytes that are not UTF-8): no recursion over the tree, capped texts and counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import tree_sitter

from offpilot.context.languages import LanguageSpec
from offpilot.context.model import Definition, FileSummary, Import

log = logging.getLogger(__name__)

MAX_SIGNATURE = 300  # characters of a signature
MAX_DOC = 600  # characters of a doc comment
MAX_DEFINITIONS = 5000  # per file
MAX_IMPORTS = 2000  # per file
MAX_DOC_COMMENTS = 64  # comment siblings looked at above a definition
MAX_NAMES = 200  # names returned by identifiers_around / calls_in_range
PARSE_TIMEOUT = 5.0  # seconds summarize() spends parsing one file at most
READ_CHUNK = 1 << 16
WINDOW_BYTES = 4096  # identifiers_around looks at most this far either side of the position

# Kinds a definition nested in makes it a method (when it is a function).
CLASS_KINDS = frozenset({"class", "struct", "interface", "trait", "impl", "enum"})
CONTAINER_KINDS = CLASS_KINDS | {"namespace", "module"}
# Kinds that group others: enclosing_definition skips them.
GROUP_KINDS = frozenset({"namespace", "module"})
COMMENT_TYPES = frozenset({"comment", "line_comment", "block_comment"})
# Siblings allowed between a doc comment and its definition (Rust attributes, Java annotations).
SKIPPED_ABOVE = frozenset({"attribute_item", "inner_attribute_item", "annotation",
                           "marker_annotation", "decorator"})
# Annotations that lead a declaration's modifiers (Java): left out of its signature.
LEADING_ANNOTATIONS = frozenset({"annotation", "marker_annotation"})
# Macros: the first line is their signature (the rest is the replacement text).
MACRO_TYPES = frozenset({"preproc_def", "preproc_function_def", "macro_definition"})
# Nodes that wrap a definition: its doc comment sits above the wrapper.
WRAPPER_TYPES = frozenset({"decorated_definition", "export_statement", "template_declaration",
                           "ambient_declaration", "expression_statement"})
IGNORED_NAMES = frozenset({"self", "cls", "this", "super", "_", "Self"})
QUOTES = "\"'`"
BRACKETS = {"<": ">"}  # `#include <stdio.h>`


# ----------------------------------------------------------------------------- parsing
def to_bytes(source: bytes | str) -> bytes:
    return source if isinstance(source, bytes) else source.encode("utf-8", "surrogatepass")


def parse(source: bytes | str, spec: LanguageSpec,
          timeout: float | None = PARSE_TIMEOUT) -> tree_sitter.Tree | None:
    """The syntax tree, or None when parsing takes longer than ``timeout`` seconds (error
    recovery on garbage — a binary blob, another language — can take many seconds a megabyte)."""
    data = to_bytes(source)
    parser = spec.parser()
    if timeout is None:
        return parser.parse(data)
    deadline = time.monotonic() + timeout

    def read(byte: int, _point: tuple[int, int]) -> bytes:
        return data[byte:byte + READ_CHUNK]

    def give_up(*_state: object) -> bool:
        return time.monotonic() > deadline

    try:
        return parser.parse(read, progress_callback=give_up)
    except ValueError:  # "Parsing failed": the callback stopped it
        log.debug("parse abandoned after %.1fs (%d bytes)", timeout, len(data))
        return None


def node_text(source: bytes, node: tree_sitter.Node, limit: int = 0) -> str:
    end = node.end_byte if not limit else min(node.end_byte, node.start_byte + 4 * limit)
    text = source[node.start_byte:end].decode("utf-8", "replace")
    return text[:limit] if limit else text


def _line(node: tree_sitter.Node) -> int:
    return node.start_point.row + 1


def _end_line(node: tree_sitter.Node) -> int:
    row, col = node.end_point
    return max(node.start_point.row + 1, row + 1 if col > 0 else row)


def _matches(query: tree_sitter.Query, node: tree_sitter.Node,
             byte_range: tuple[int, int] | None = None,
             ) -> list[tuple[int, dict[str, list[tree_sitter.Node]]]]:
    cursor = tree_sitter.QueryCursor(query)
    if byte_range is not None:
        cursor.set_byte_range(*byte_range)
    return cursor.matches(node)


def _captures(query: tree_sitter.Query, node: tree_sitter.Node,
              byte_range: tuple[int, int] | None = None) -> dict[str, list[tree_sitter.Node]]:
    cursor = tree_sitter.QueryCursor(query)
    if byte_range is not None:
        cursor.set_byte_range(*byte_range)
    return cursor.captures(node)


# ----------------------------------------------------------------------------- definitions
@dataclass
class _Found:
    """A definition match before it becomes a :class:`Definition`."""

    node: tree_sitter.Node
    kind: str
    name: str
    parent: str = ""  # explicit (@parent capture, qualified name), else found by nesting
    doc_node: tree_sitter.Node | None = None
    name_node: tree_sitter.Node | None = None


def _split_qualified(name: str) -> tuple[str, str]:
    """``Foo::bar`` → ("bar", "Foo"); plain names have no qualifier."""
    if "::" in name:
        head, _, tail = name.rpartition("::")
        return tail.strip(), head.strip()
    return name, ""


def _found_in(matches: Iterable[tuple[int, dict[str, list[tree_sitter.Node]]]], source: bytes,
              prefix: str) -> list[_Found]:
    """Matches with a ``@<prefix>.<kind>`` capture and a ``@name``, one per node: where two
    patterns catch the same node, the one written first in the query wins."""
    seen: dict[tuple[int, int], tuple[int, _Found]] = {}
    for pattern, caps in matches:
        node = kind = None
        for cap, nodes in caps.items():
            if cap.startswith(prefix) and nodes:
                node, kind = nodes[0], cap[len(prefix):]
                break
        names = caps.get("name")
        if node is None or not kind or not names:
            continue
        key = (node.start_byte, node.end_byte)
        old = seen.get(key)
        if old is not None and old[0] <= pattern:
            if old[1].doc_node is None and caps.get("doc"):
                old[1].doc_node = caps["doc"][0]
            continue
        name, parent = _split_qualified(" ".join(node_text(source, n, 200) for n in names))
        if not name:
            continue
        if caps.get("parent"):
            parent = node_text(source, caps["parent"][0], 200)
        doc_node = caps["doc"][0] if caps.get("doc") else None
        if doc_node is None and old is not None:
            doc_node = old[1].doc_node
        seen[key] = (pattern, _Found(node, kind, name, parent, doc_node, names[-1]))
        if len(seen) >= MAX_DEFINITIONS:
            break
    return sorted((f for _p, f in seen.values()),
                  key=lambda f: (f.node.start_byte, -f.node.end_byte))


def _body(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The body of a definition: its ``body`` field, or one a few levels down
    (``type T struct {…}``, ``const f = () => {…}``)."""
    body = node.child_by_field_name("body")
    if body is not None:
        return body
    level = [node]
    for _depth in range(3):
        nxt: list[tree_sitter.Node] = []
        for parent in level:
            for i in range(min(parent.named_child_count, 16)):
                child = parent.named_child(i)
                if child is None:
                    continue
                body = child.child_by_field_name("body")
                if body is not None:
                    return body
                nxt.append(child)
        level = nxt[:64]
    return None


def _head_start(node: tree_sitter.Node) -> tree_sitter.Node:
    """Where the signature starts: after the annotations that lead the modifiers (Java's
    ``@Override`` is not part of the head, as a Python decorator is not)."""
    first = node.named_child(0)
    if first is None or first.type != "modifiers":
        return node
    start = None
    for child in first.children:
        if child.type not in LEADING_ANNOTATIONS and child.type not in COMMENT_TYPES:
            break
        # the next modifier, or what follows the modifiers when they are all annotations
        start = child.next_sibling or first.next_sibling
    if start is None:
        return node
    return start if start.start_byte < node.end_byte else node


def signature_of(source: bytes, node: tree_sitter.Node, kind: str,
                 name_node: tree_sitter.Node | None = None) -> tuple[str, int]:
    """(the declaration head as written, its last line): up to the body, or the first line of
    a constant or macro, or the whole declaration where there is no body (prototypes,
    aliases). A name written after the body (``typedef struct {…} point;``) is kept."""
    body = _body(node)
    head = _head_start(node)
    start = head.start_byte
    end = body.start_byte if body is not None and body.start_byte > start else node.end_byte
    end = min(end, start + 4 * MAX_SIGNATURE)
    text = source[start:end].decode("utf-8", "replace")
    if node.type in MACRO_TYPES:
        text = text.split("\n", 1)[0].rstrip("\\ \t\r")
        if node.type == "macro_definition" and "{" in text:
            text = text[:text.index("{")]
    elif body is None and kind in ("constant", "variable", "field"):
        text = text.split("\n", 1)[0]
    elif body is None and kind in CONTAINER_KINDS and "{" in text:
        text = text[:text.index("{")]  # `type T interface {`, a body that is no field
    elif body is not None and name_node is not None and name_node.start_byte >= body.end_byte:
        tail = source[body.end_byte:min(node.end_byte, body.end_byte + 400)]
        text = text.rstrip() + " {…}" + tail.decode("utf-8", "replace").split("\n", 1)[0]
    text = text.rstrip()
    last_line = head.start_point.row + 1 + text.count("\n")
    if len(text) > MAX_SIGNATURE:
        text = text[:MAX_SIGNATURE].rstrip() + "…"
    return text, last_line


def _starts_line(source: bytes, node: tree_sitter.Node) -> bool:
    start = node.start_byte
    line_start = source.rfind(b"\n", max(0, start - 400), start)
    if line_start == -1 and start > 400:
        return False
    return not source[line_start + 1:start].strip()


def doc_of(source: bytes, node: tree_sitter.Node, doc_node: tree_sitter.Node | None) -> str:
    """The docstring the query caught, else the comments right above the definition (or above
    the decorator/export/template that wraps it), as written."""
    if doc_node is not None:
        return _cap_doc(node_text(source, doc_node, MAX_DOC + 1))
    outer = node
    while outer.parent is not None and outer.parent.type in WRAPPER_TYPES:
        outer = outer.parent
    comments: list[tree_sitter.Node] = []
    top_row = outer.start_point.row
    prev = outer.prev_sibling
    for _ in range(MAX_DOC_COMMENTS):
        if prev is None:
            break
        if prev.type in SKIPPED_ABOVE and not comments:
            top_row = prev.start_point.row
            prev = prev.prev_sibling
            continue
        # a line comment may end at column 0 of the next line (its newline)
        end_row = prev.end_point.row - (1 if prev.end_point.column == 0 else 0)
        if prev.type not in COMMENT_TYPES or end_row < top_row - 1 \
                or not _starts_line(source, prev):
            break
        comments.append(prev)
        top_row = prev.start_point.row
        prev = prev.prev_sibling
    if not comments:
        return ""
    return _cap_doc("\n".join(node_text(source, c, MAX_DOC + 1).rstrip()
                               for c in reversed(comments)))


def _cap_doc(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_DOC else text[:MAX_DOC].rstrip() + "…"


def _definitions(found: list[_Found], source: bytes, path: str) -> list[Definition]:
    """Parents by nesting (a stack sweep over the definitions in start order)."""
    out: list[Definition] = []
    stack: list[tuple[int, str, str, tree_sitter.Node]] = []  # (end_byte, name, kind, node)
    # `void ns::f() {}` defines a function of namespace ns, `void Foo::f() {}` a method of Foo:
    # the syntax is the same, the file's own namespaces tell them apart.
    namespaces = {f.name for f in found if f.kind == "namespace"} - \
        {f.name for f in found if f.kind in CLASS_KINDS}
    for f in found:
        while stack and stack[-1][0] < f.node.end_byte:
            stack.pop()
        outer = stack[-1] if stack else None
        # a definition that is the outer one's direct child is another name for it, not a
        # member: `typedef struct list {…} list_t;`
        if outer is not None and f.node.parent == outer[3]:
            outer = stack[-2] if len(stack) > 1 else None
        outer_name, outer_kind = (outer[1], outer[2]) if outer is not None else ("", "")
        parent = f.parent or outer_name
        kind = f.kind
        qualified_by_class = bool(f.parent) and \
            f.parent.rpartition("::")[2].split("<")[0].strip() not in namespaces
        if kind == "function" and (qualified_by_class or outer_kind in CLASS_KINDS):
            kind = "method"
        signature, sig_end = signature_of(source, f.node, kind, f.name_node)
        start = _line(f.node)
        out.append(Definition(
            name=f.name, kind=kind, path=path, start_line=start, end_line=_end_line(f.node),
            signature=signature, doc=doc_of(source, f.node, f.doc_node), parent=parent,
            signature_end_line=sig_end if sig_end != start else 0))
        stack.append((f.node.end_byte, f.name, kind, f.node))
    return out


# ----------------------------------------------------------------------------- imports
def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and (BRACKETS.get(text[0]) == text[-1]
                           or (text[0] in QUOTES and text[-1] == text[0])):
        return text[1:-1]
    return text


def _imports(matches: Iterable[tuple[int, dict[str, list[tree_sitter.Node]]]], source: bytes,
             separator: str) -> list[Import]:
    """One import per ``@import`` node; its matches add names (and aliases) to it."""
    groups: dict[tuple[int, int], dict[str, Any]] = {}
    for _pattern, caps in matches:
        nodes = caps.get("import")
        if not nodes:
            continue
        key = (nodes[0].start_byte, nodes[0].end_byte)
        g = groups.get(key)
        if g is None:
            if len(groups) >= MAX_IMPORTS:
                break
            g = groups[key] = {"module": "", "names": [], "alias": "", "level": 0,
                               "wildcard": False, "line": _line(nodes[0])}
        if caps.get("module"):
            module = _unquote(node_text(source, caps["module"][0], 500))
            prefix = caps.get("module.prefix")
            if prefix:
                module = separator.join(node_text(source, n, 500) for n in prefix) \
                    + separator + module
            g["module"] = module
        if caps.get("level"):
            g["level"] = node_text(source, caps["level"][0], 100).count(".")
        if caps.get("alias"):
            g["alias"] = node_text(source, caps["alias"][0], 200)
        if caps.get("wildcard"):
            g["wildcard"] = True
        if caps.get("name"):
            name = node_text(source, caps["name"][0], 200)
            alias = node_text(source, caps["name.alias"][0], 200) if caps.get("name.alias") \
                else ""
            g["names"].append((caps["name"][0].start_byte, name, alias))
    out = [(key, Import(module=g["module"], alias=g["alias"],
                        names=tuple(dict.fromkeys((n, a) for _b, n, a in sorted(g["names"]))),
                        level=g["level"], line=g["line"], wildcard=g["wildcard"]))
           for key, g in groups.items() if g["module"] or g["level"]]
    return [imp for _key, imp in sorted(out, key=lambda ki: ki[0])]  # in file order


# ----------------------------------------------------------------------------- summary
def summarize(source: bytes | str, spec: LanguageSpec, path: str,
              tree: tree_sitter.Tree | None = None,
              parse_timeout: float | None = PARSE_TIMEOUT) -> FileSummary:
    """Definitions, imports and package of one file (best effort when it has syntax errors;
    empty, with ``errors`` set, when it cannot be parsed within ``parse_timeout`` seconds)."""
    data = to_bytes(source)
    if tree is None:
        tree = parse(data, spec, parse_timeout)
        if tree is None:
            return FileSummary(path=path, language=spec.name, errors=True)
    root = tree.root_node
    definitions: list[Definition] = []
    package = ""
    imports: list[Import] = []
    combined = spec.combined_query("tags", "imports")  # one walk over the tree for both
    if combined is not None:
        query, ranges = combined
        matches = _matches(query, root)
        tags = ranges.get("tags")
        if tags is not None:
            tag_matches = [(p, c) for p, c in matches if p in tags]
            definitions = _definitions(_found_in(tag_matches, data, "definition."), data, path)
            for _pattern, caps in tag_matches:
                if caps.get("package"):
                    package = node_text(data, caps["package"][0], 300).strip()
                    break
        if "imports" in ranges:
            imports = _imports((m for m in matches if m[0] in ranges["imports"]), data,
                               "::" if spec.name in ("rust", "cpp") else ".")
    return FileSummary(path=path, language=spec.name, definitions=tuple(definitions),
                       imports=tuple(imports), package=package, errors=root.has_error)


# ----------------------------------------------------------------------------- names
def _line_window(source: bytes, byte_offset: int, window_lines: int) -> tuple[int, int]:
    """Bytes of ``window_lines`` lines either side of ``byte_offset`` (at most WINDOW_BYTES)."""
    lo_limit = max(0, byte_offset - WINDOW_BYTES)
    hi_limit = min(len(source), byte_offset + WINDOW_BYTES)
    lo = byte_offset
    for _ in range(window_lines + 1):
        i = source.rfind(b"\n", lo_limit, lo)
        if i == -1:
            lo = lo_limit
            break
        lo = i
    hi = byte_offset
    for _ in range(window_lines + 1):
        i = source.find(b"\n", hi + 1 if hi < hi_limit else hi, hi_limit)
        if i == -1:
            hi = hi_limit
            break
        hi = i
    return lo, max(hi, lo)


def identifiers_around(tree: tree_sitter.Tree, spec: LanguageSpec, source_bytes: bytes,
                       byte_offset: int, window_lines: int = 8) -> list[str]:
    """Identifiers, call targets and type names within ``window_lines`` lines of the position,
    nearest first, each once."""
    query = spec.query("identifiers")
    if query is None or tree is None:
        return []
    byte_offset = max(0, min(byte_offset, len(source_bytes)))
    lo, hi = _line_window(source_bytes, byte_offset, window_lines)
    caps = _captures(query, tree.root_node, (lo, hi))
    nodes: dict[tuple[int, int], tree_sitter.Node] = {}
    for cap in ("call", "type", "identifier"):
        for n in caps.get(cap, ()):
            if n.start_byte >= lo and n.end_byte <= hi:
                nodes.setdefault((n.start_byte, n.end_byte), n)

    def distance(n: tree_sitter.Node) -> int:
        if n.start_byte <= byte_offset <= n.end_byte:
            return 0
        return min(abs(n.start_byte - byte_offset), abs(n.end_byte - byte_offset))

    out: dict[str, None] = {}
    for n in sorted(nodes.values(), key=distance):
        name = node_text(source_bytes, n, 200)
        if name and name not in IGNORED_NAMES:
            out.setdefault(name)
            if len(out) >= MAX_NAMES:
                break
    return list(out)


def calls_in_range(tree: tree_sitter.Tree, spec: LanguageSpec, start_byte: int,
                   end_byte: int, source_bytes: bytes | None = None) -> list[str]:
    """Names the range calls, then the type names it uses, in order of appearance, each once."""
    query = spec.query("identifiers")
    if query is None or tree is None:
        return []
    start_byte, end_byte = sorted((max(0, start_byte), max(0, end_byte)))
    caps = _captures(query, tree.root_node, (start_byte, end_byte))
    out: dict[str, None] = {}
    for cap in ("call", "type"):
        for n in sorted(caps.get(cap, ()), key=lambda n: n.start_byte):
            if n.start_byte < start_byte or n.end_byte > end_byte:
                continue
            name = node_text(source_bytes, n, 200) if source_bytes is not None \
                else (n.text or b"").decode("utf-8", "replace")[:200]
            if name and name not in IGNORED_NAMES:
                out.setdefault(name)
                if len(out) >= MAX_NAMES:
                    return list(out)
    return list(out)


# ----------------------------------------------------------------------------- scopes
def scopes_at(tree: tree_sitter.Tree, spec: LanguageSpec, source: bytes,
              byte_offset: int) -> list[Definition]:
    """The named scopes (``scopes.scm``) that enclose ``byte_offset``, outermost first."""
    query = spec.query("scopes")
    if query is None or tree is None:
        return []
    b = max(0, min(byte_offset, len(source)))
    matches = _matches(query, tree.root_node, (max(0, b - 1), min(len(source), b + 1)))
    found = [f for f in _found_in(matches, source, "scope.") if _encloses(f.node, source, b)]
    return _definitions(found, source, "")


def _encloses(node: tree_sitter.Node, source: bytes, b: int) -> bool:
    if not node.start_byte <= b <= node.end_byte:
        return False
    if b == node.end_byte:  # just after a closing brace is outside; after the last line is in
        return source[node.end_byte - 1:node.end_byte] not in (b"}", b";", b")")
    return True
