"""Declarations that can carry a doc comment in JavaScript, TypeScript, Rust, Go, Java, C and C++,
read with tree-sitter.

For each function, method and type: its parameters (a receiver or ``self`` left out, a
destructured parameter left out because it has no name to document), their declared types,
whether it returns a value (from its declared return type, or for JavaScript from its own
``return`` statements), the exceptions it throws (``throw new X``, a Java ``throws`` clause),
whether a Rust function can return an ``Err`` (it returns a ``Result`` and its own body has
``Err(`` or ``?``) or panic (``panic!``, ``assert!``, ...), the doc comment above it, and the
line a new one goes on: above the declaration and its attributes, decorators and annotations
(rustdoc, JSDoc and Javadoc all read a comment there), at the declaration's indentation.
Nested functions and closures belong to themselves, not to the declaration around them.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

import tree_sitter

from offpilot.context.extract import parse
from offpilot.context.languages import LanguageSpec
from offpilot.features.docs.symbols import Param

LANGUAGES = frozenset({"javascript", "typescript", "tsx", "rust", "go", "java", "c", "cpp"})

_FUNCTIONS = {
    "javascript": {"function_declaration", "generator_function_declaration", "method_definition"},
    "rust": {"function_item", "function_signature_item"},
    "go": {"function_declaration", "method_declaration"},
    "java": {"method_declaration", "constructor_declaration"},
    "c": {"function_definition"},
}
_FUNCTIONS["typescript"] = _FUNCTIONS["javascript"] | {"method_signature",
                                                       "abstract_method_signature",
                                                       "function_signature"}
_FUNCTIONS["tsx"] = _FUNCTIONS["typescript"]
_FUNCTIONS["cpp"] = _FUNCTIONS["c"]
_TYPES = {
    "javascript": {"class_declaration"},
    "typescript": {"class_declaration", "abstract_class_declaration", "interface_declaration"},
    "rust": {"struct_item", "enum_item", "trait_item"},
    "go": {"type_spec"},
    "java": {"class_declaration", "interface_declaration", "enum_declaration",
             "record_declaration"},
    "c": set(),
    "cpp": {"class_specifier", "struct_specifier"},
}
_TYPES["tsx"] = _TYPES["typescript"]
# nodes whose insides belong to another function
_NESTED = frozenset({
    "function_declaration", "generator_function_declaration", "function_expression",
    "function", "arrow_function", "method_definition", "class_declaration", "class",
    "function_item", "closure_expression", "func_literal", "lambda_expression",
    "method_declaration", "constructor_declaration", "class_body", "function_definition",
    "impl_item"})
_PANICS = frozenset({"panic", "unreachable", "todo", "unimplemented", "assert", "assert_eq",
                     "assert_ne"})
_WRAPPERS = frozenset({"export_statement", "template_declaration", "ambient_declaration"})
_ATTRIBUTES = frozenset({"decorator", "attribute_item"})
_NO_VALUE = frozenset({"void", "()", "!", "never", "Promise<void>", "undefined"})


@dataclass(frozen=True)
class Comment:
    """A doc comment already above a declaration: its lines as written, 0-based, inclusive."""

    start_line: int
    end_line: int
    raw: tuple[str, ...]  # the source lines start_line..end_line


@dataclass(frozen=True)
class Declaration:
    language: str
    name: str
    kind: str  # function | method | type
    params: tuple[Param, ...]
    returns_value: bool
    return_type: str
    throws: tuple[str, ...] = ()
    throw_messages: dict[str, str] = field(default_factory=dict)
    errors: bool = False  # Rust: can return an Err
    panics: bool = False
    panic_message: str = ""
    comment: Comment | None = None
    start_byte: int = 0  # attributes, decorators and wrappers included
    end_byte: int = 0
    name_line: int = 0  # 0-based line of the declaration's name
    insert_line: int = 0  # 0-based: a new comment goes at the start of this line
    indent: str = ""

    @property
    def documented_params(self) -> tuple[Param, ...]:
        return self.params

    @property
    def docstring(self) -> Comment | None:  # the name the editor code reads for Python
        return self.comment


def _text(source: bytes, node: tree_sitter.Node | None) -> str:
    if node is None:
        return ""
    return source[node.start_byte:node.end_byte].decode("utf-8", errors="replace")


def _own_nodes(node: tree_sitter.Node | None) -> list[tree_sitter.Node]:
    out: list[tree_sitter.Node] = []
    if node is None:
        return out
    stack = list(reversed(node.children))
    while stack:
        n = stack.pop()
        out.append(n)
        if n.type in _NESTED:
            continue
        stack.extend(reversed(n.children))
    return out


def _identifier(node: tree_sitter.Node | None) -> tree_sitter.Node | None:
    """The name a (C, C++, Rust, JavaScript) declarator or pattern declares; None for a
    destructuring pattern."""
    while node is not None:
        if node.type in ("identifier", "field_identifier", "shorthand_property_identifier_pattern"):
            return node
        if node.type in ("object_pattern", "array_pattern", "tuple_pattern", "struct_pattern",
                         "tuple_struct_pattern", "slice_pattern"):
            return None
        inner = node.child_by_field_name("declarator") or node.child_by_field_name("pattern") \
            or node.child_by_field_name("name") or node.child_by_field_name("left")
        if inner is None:
            named = [c for c in node.named_children if c.type not in (
                "type_qualifier", "mutable_specifier", "type_annotation", "parameter_list")]
            inner = named[0] if named else None
        node = inner
    return None


def _type(source: bytes, node: tree_sitter.Node | None) -> str:
    text = _text(source, node).strip()
    return text[1:].strip() if text.startswith(":") else text


def _field_type(node: tree_sitter.Node, name: str) -> str:
    child = node.child_by_field_name(name)
    return child.type if child is not None else ""


def _params(lang: str, source: bytes, node: tree_sitter.Node | None) -> tuple[Param, ...]:
    out: list[Param] = []
    if node is None:
        return ()
    for child in node.named_children:
        kind = child.type
        stars = ""
        if kind in ("comment", "self_parameter", "receiver_parameter"):
            continue
        if lang == "go" and kind in ("parameter_declaration", "variadic_parameter_declaration"):
            annotation = _type(source, child.child_by_field_name("type"))
            if kind == "variadic_parameter_declaration":
                annotation = "..." + annotation
            for i, sub in enumerate(child.children):
                if child.field_name_for_child(i) == "name" and _text(source, sub) != "_":
                    out.append(Param(_text(source, sub), "", annotation))
            continue
        annotation = _type(source, child.child_by_field_name("type"))
        if kind == "spread_parameter":  # Java varargs
            declarator = next((c for c in child.named_children
                               if c.type == "variable_declarator"), None)
            types_ = [c for c in child.named_children if c.type != "variable_declarator"]
            annotation = (_text(source, types_[0]) + "...") if types_ else ""
            name_node = _identifier(declarator)
            stars = "..."
        elif kind == "rest_pattern" or _field_type(child, "pattern") == "rest_pattern":
            target = child if kind == "rest_pattern" else child.child_by_field_name("pattern")
            name_node = _identifier(next(iter(target.named_children), None)) \
                if target is not None else None
            stars = "..."
        elif kind == "variadic_parameter":  # C `...`
            continue
        elif lang in ("c", "cpp") and kind in ("parameter_declaration",
                                               "optional_parameter_declaration"):
            name_node = _identifier(child.child_by_field_name("declarator"))
            if name_node is None:
                continue  # `void`, an unnamed parameter
            annotation = _text(source, child).split("=", 1)[0]
            annotation = annotation[:annotation.rfind(_text(source, name_node))].strip() or \
                annotation.strip()
        else:
            name_node = _identifier(child)
        if name_node is None:
            continue
        name = _text(source, name_node)
        if name in ("_", "this") or not name:
            continue
        out.append(Param(name, stars, annotation))
    return tuple(out)


def _string_literal(source: bytes, node: tree_sitter.Node | None) -> str:
    """The content of a plain string literal below ``node`` (its first one); "" otherwise."""
    if node is None:
        return ""
    for n in [node, *_own_nodes(node)]:
        if n.type in ("string", "string_literal", "interpreted_string_literal"):
            if any(c.type in ("template_substitution", "escape_sequence", "interpolation")
                   for c in n.named_children):
                return ""
            text = _text(source, n)
            return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" \
                else ""
        if n.type == "template_string":
            return ""
    return ""


def _thrown(source: bytes, node: tree_sitter.Node) -> tuple[str, str]:
    """(type, literal message) a ``throw`` names; ("", "") for ``throw err``."""
    value = next(iter(node.named_children), None)
    if value is None:
        return "", ""
    ctor: tree_sitter.Node | None = None
    args: tree_sitter.Node | None = None
    if value.type == "new_expression":  # JavaScript, C++ `throw new X`
        ctor = value.child_by_field_name("constructor") or value.child_by_field_name("type")
        args = value.child_by_field_name("arguments")
    elif value.type == "object_creation_expression":  # Java
        ctor = value.child_by_field_name("type")
        args = value.child_by_field_name("arguments")
    elif value.type == "call_expression":  # C++ `throw std::runtime_error("...")`, JS `Error()`
        ctor = value.child_by_field_name("function")
        args = value.child_by_field_name("arguments")
    if ctor is None or ctor.type not in ("identifier", "type_identifier", "qualified_identifier",
                                         "scoped_type_identifier", "member_expression"):
        return "", ""
    name = _text(source, ctor)
    last = name.replace("::", ".").rsplit(".", 1)[-1]
    if not last[:1].isupper() and "::" not in name:
        return "", ""
    first = next(iter(args.named_children), None) if args is not None else None
    message = _string_literal(source, first) if first is not None and first.type in (
        "string", "string_literal") else ""
    return name, message


def _returns(lang: str, source: bytes, node: tree_sitter.Node, own: list[tree_sitter.Node]
             ) -> tuple[bool, str]:
    if lang in ("javascript", "typescript", "tsx"):
        if node.type == "method_definition" and \
                _text(source, node.child_by_field_name("name")) == "constructor":
            return False, ""
        declared = _type(source, node.child_by_field_name("return_type"))
        generator = any(n.type == "yield_expression" for n in own) or \
            node.type == "generator_function_declaration" or \
            any(c.type == "*" for c in node.children)
        if generator:
            return False, declared
        if declared:
            return declared not in _NO_VALUE, declared
        body = node.child_by_field_name("body")
        if body is not None and body.type != "statement_block":  # `x => x + 1`
            return True, ""
        return any(n.type == "return_statement" and n.named_children for n in own), ""
    if lang == "rust":
        declared = _text(source, node.child_by_field_name("return_type"))
        return bool(declared) and declared not in _NO_VALUE, declared
    if lang == "go":
        declared = _text(source, node.child_by_field_name("result"))
        return bool(declared), declared
    if lang == "java":
        declared = _text(source, node.child_by_field_name("type"))
        return bool(declared) and declared != "void", declared
    # C, C++: the declared type, and a pointer declarator around the function's
    declared = _text(source, node.child_by_field_name("type"))
    pointer = (node.child_by_field_name("declarator") or node).type in ("pointer_declarator",
                                                                        "reference_declarator")
    if not declared:  # a constructor or destructor
        return False, ""
    if declared == "void" and not pointer:
        return False, declared
    return True, declared + (" *" if pointer else "")


def _c_name(source: bytes, node: tree_sitter.Node) -> tuple[str, tree_sitter.Node | None]:
    """The function name and parameter list of a C/C++ function declarator."""
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type != "function_declarator":
        declarator = declarator.child_by_field_name("declarator") or next(
            (c for c in declarator.named_children if c.type == "function_declarator"), None)
    if declarator is None:
        return "", None
    name = _text(source, declarator.child_by_field_name("declarator"))
    return name.rsplit("::", 1)[-1], declarator.child_by_field_name("parameters")


def _anchor(node: tree_sitter.Node) -> tree_sitter.Node:
    """The outermost node that belongs to the declaration (``export``, ``template<...>``,
    ``const f = () => ...``, a Go ``type`` block of one)."""
    while node.parent is not None and (
            node.parent.type in _WRAPPERS or node.parent.type in (
                "variable_declarator", "lexical_declaration", "variable_declaration")
            or (node.parent.type == "type_declaration" and
                len([c for c in node.parent.named_children if c.type == "type_spec"]) == 1)):
        node = node.parent
    return node


def _is_doc(lang: str, text: str) -> bool:
    if lang == "go":
        return text.startswith("//")
    if lang == "rust":
        return (text.startswith("///") and not text.startswith("////")) or \
            (text.startswith("/**") and not text.startswith("/***"))
    if text.startswith("/**") and not text.startswith("/***") and text != "/**/":
        return True
    return lang in ("c", "cpp") and (text.startswith("///") or text.startswith("//!"))


def _leading(lang: str, source: bytes, anchor: tree_sitter.Node
             ) -> tuple[int, Comment | None]:
    """The first line of the declaration's attributes (or of the declaration) and the doc
    comment right above them (or between them, as Rust allows)."""
    top = anchor
    doc: list[tree_sitter.Node] = []
    prev = anchor.prev_sibling
    line = anchor.start_point[0]
    while prev is not None and prev.end_point[0] >= line - 1 and prev.end_point[0] <= line:
        if prev.type in _ATTRIBUTES:
            top = prev if not doc else top
        elif prev.type in ("comment", "line_comment", "block_comment") and \
                _is_doc(lang, _text(source, prev)):
            doc.append(prev)
        else:
            break
        line = prev.start_point[0]
        prev = prev.prev_sibling
    if doc and any(n.start_point[0] == anchor.start_point[0] for n in doc):
        doc = []  # a comment on the declaration's own line is not its doc
    comment = None
    if doc:
        first, (last, column) = doc[-1].start_point[0], doc[0].end_point
        if column == 0 and last > doc[0].start_point[0]:  # a line comment's newline
            last -= 1
        lines = source.decode("utf-8", errors="replace").split("\n")
        comment = Comment(first, last, tuple(lines[first:last + 1]))
    return top.start_byte, comment


def _declaration(lang: str, source: bytes, node: tree_sitter.Node, kind: str,
                 lines: list[str], newlines: list[int]) -> Declaration | None:
    """``newlines``: the byte offsets of the source's line breaks, in order."""
    anchor = _anchor(node)
    start, comment = _leading(lang, source, anchor)
    line_start = source.rfind(b"\n", 0, start) + 1
    if source[line_start:start].strip():
        return None  # other code before the declaration on its line: no room for a comment
    insert_line = bisect.bisect_left(newlines, start)
    line_text = lines[insert_line] if insert_line < len(lines) else ""
    indent = line_text[:len(line_text) - len(line_text.lstrip())]
    name_node = node.child_by_field_name("name")
    if kind == "type":
        name = _text(source, name_node)
        return Declaration(lang, name, "type", (), False, "", comment=comment,
                           start_byte=start, end_byte=node.end_byte,
                           name_line=(name_node or node).start_point[0],
                           insert_line=insert_line, indent=indent)
    if lang in ("c", "cpp"):
        name, params_node = _c_name(source, node)
    else:
        name = _text(source, name_node)
        params_node = node.child_by_field_name("parameters")
        if name_node is None and node.type in ("arrow_function", "function_expression",
                                               "function"):
            holder = node.parent
            name = _text(source, holder.child_by_field_name("name")) if holder else ""
    if not name:
        return None
    body = node.child_by_field_name("body")
    own = _own_nodes(body)
    single = node.child_by_field_name("parameter")  # `x => x + 1`
    params_t = (Param(_text(source, single)),) if single is not None else \
        _params(lang, source, params_node)
    returns, return_type = _returns(lang, source, node, own)
    throws: list[str] = []
    messages: dict[str, str] = {}
    if lang == "java":
        for c in node.named_children:
            if c.type == "throws":
                throws += [_text(source, t) for t in c.named_children]
    for n in own:
        if n.type in ("throw_statement", "throw_expression"):
            exc, message = _thrown(source, n)
            if exc and exc not in throws:
                throws.append(exc)
            if exc and message and exc not in messages:
                messages[exc] = message
    errors = panics = False
    panic_message = ""
    if lang == "rust":
        result = return_type.split("<", 1)[0].rsplit("::", 1)[-1].strip() == "Result"
        errors = result and any(
            n.type == "try_expression" or (n.type == "call_expression" and _text(
                source, n.child_by_field_name("function")) == "Err") for n in own)
        for n in own:
            if n.type == "macro_invocation" and \
                    _text(source, n.child_by_field_name("macro")) in _PANICS:
                if not panics and _text(source, n.child_by_field_name("macro")) == "panic":
                    panic_message = _string_literal(source, next(
                        (c for c in n.named_children if c.type == "token_tree"), None))
                panics = True
    method = node.type in ("method_definition", "method_declaration", "method_signature",
                           "abstract_method_signature", "constructor_declaration") or \
        (lang == "rust" and node.parent is not None and node.parent.type == "declaration_list"
         and node.parent.parent is not None and node.parent.parent.type in (
             "impl_item", "trait_item"))
    return Declaration(lang, name, "method" if method else "function", params_t, returns,
                       return_type, tuple(throws), messages, errors, panics, panic_message,
                       comment, start, node.end_byte, (name_node or node).start_point[0],
                       insert_line, indent)


def _is_function(lang: str, data: bytes, node: tree_sitter.Node, functions: set[str],
                 parent: tree_sitter.Node | None) -> bool:
    """``parent``: the node's parent, passed by the walk (``node.parent`` searches down from
    the root each time: deeply nested code would take quadratic time)."""
    if node.type in functions:
        return True
    if parent is None:
        return False
    if lang in ("c", "cpp") and node.type in ("declaration", "field_declaration"):
        # a prototype: `int count(void);`
        return parent.type in ("translation_unit", "declaration_list", "field_declaration_list",
                               "linkage_specification") and _c_name(data, node)[1] is not None
    if node.type not in ("arrow_function", "function_expression", "function") or \
            parent.type != "variable_declarator":
        return False
    # `const f = (x) => ...` at the top of a module, exported or not
    return parent.parent is not None and parent.parent.parent is not None and \
        parent.parent.parent.type in ("program", "export_statement") and \
        len(parent.parent.named_children) == 1


def declarations(source: str | bytes, spec: LanguageSpec,
                 tree: tree_sitter.Tree | None = None) -> list[Declaration]:
    """Every function, method and type of a file in ``spec``'s language, in source order."""
    if spec.name not in LANGUAGES:
        return []
    data = source.encode("utf-8") if isinstance(source, str) else source
    if tree is None:
        tree = parse(data, spec)
    if tree is None:  # took too long to parse: nothing is read from it
        return []
    lines = data.decode("utf-8", errors="replace").split("\n")
    newlines = [m.start() for m in re.finditer(b"\n", data)]
    functions, types_ = _FUNCTIONS[spec.name], _TYPES[spec.name]
    out: list[Declaration] = []
    stack: list[tuple[tree_sitter.Node, tree_sitter.Node | None]] = [(tree.root_node, None)]
    while stack:
        node, parent = stack.pop()
        found: Declaration | None = None
        if _is_function(spec.name, data, node, functions, parent):
            found = _declaration(spec.name, data, node, "function", lines, newlines)
        elif node.type in types_ and node.child_by_field_name("name") is not None and (
                spec.name != "cpp" or node.child_by_field_name("body") is not None):
            found = _declaration(spec.name, data, node, "type", lines, newlines)
        if found is not None:
            out.append(found)
        stack.extend((child, node) for child in reversed(node.children))
    out.sort(key=lambda d: d.start_byte)
    return out


def declaration_at(decls: list[Declaration], byte: int) -> Declaration | None:
    inside = [d for d in decls if d.start_byte <= byte <= d.end_byte]
    return max(inside, key=lambda d: d.start_byte) if inside else None
