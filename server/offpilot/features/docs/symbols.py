"""Python definitions that can carry a docstring, read with tree-sitter.

For each function, method and class: its parameters (``self``/``cls`` of a method left out),
their annotations, whether its own body returns a value, the exceptions its own ``raise``
statements name, where a docstring goes and the docstring it has, if any. Nested functions,
classes and lambdas belong to themselves, not to the definition around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tree_sitter

from offpilot.context.extract import parse
from offpilot.context.languages import LanguageSpec, by_name

_NESTED = frozenset({"function_definition", "class_definition", "lambda"})


@dataclass(frozen=True)
class Param:
    name: str  # without stars
    stars: str = ""  # "*" or "**" for variadic parameters
    annotation: str = ""

    @property
    def display(self) -> str:
        return self.stars + self.name


@dataclass(frozen=True)
class Docstring:
    text: str  # the literal's content, quotes and prefix removed
    start_line: int  # 0-based line of the opening quotes
    end_line: int  # 0-based line of the closing quotes
    start_byte: int
    end_byte: int
    content_start_byte: int  # after the opening quotes
    content_end_byte: int  # before the closing quotes


@dataclass(frozen=True)
class Definition:
    name: str
    kind: str  # function | method | class
    params: tuple[Param, ...]
    returns_value: bool
    return_annotation: str
    raises: tuple[str, ...]  # exception names, in order of first appearance
    raise_messages: dict[str, str] = field(default_factory=dict)  # name -> literal message
    is_generator: bool = False
    docstring: Docstring | None = None
    start_byte: int = 0  # the definition, decorators included
    end_byte: int = 0
    name_line: int = 0  # 0-based line of `def`/`class`
    name_column: int = 0  # bytes
    body_line: int = -1  # 0-based line of the first statement of the body
    body_column: int = 0  # bytes: the body's indentation
    body_on_header: bool = False  # `def f(): return 1`: nowhere to put a docstring
    init_params: tuple[Param, ...] = ()  # a class: its __init__'s parameters
    init_documented: bool = False  # a class whose __init__ has its own docstring

    @property
    def documented_params(self) -> tuple[Param, ...]:
        """The parameters its docstring should describe."""
        if self.kind == "class":
            return () if self.init_documented else self.init_params
        return self.params


def python_spec() -> LanguageSpec:
    spec = by_name("python")
    if spec is None:  # the grammar ships with Offpilot
        raise RuntimeError("the Python grammar is not installed")
    return spec


def _text(source: bytes, node: tree_sitter.Node | None) -> str:
    if node is None:
        return ""
    return source[node.start_byte:node.end_byte].decode("utf-8", errors="replace")


def _own_nodes(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    """Every node below ``node`` that is not inside a nested definition."""
    out: list[tree_sitter.Node] = []
    stack = list(reversed(node.children))
    while stack:
        n = stack.pop()
        out.append(n)
        if n.type in _NESTED:
            continue
        stack.extend(reversed(n.children))
    return out


def _params(source: bytes, parameters: tree_sitter.Node | None, *, method: bool
            ) -> tuple[Param, ...]:
    out: list[Param] = []
    if parameters is None:
        return ()
    for child in parameters.named_children:
        stars, annotation, name_node = "", "", None
        kind = child.type
        if kind == "identifier":
            name_node = child
        elif kind in ("typed_parameter", "typed_default_parameter", "default_parameter"):
            annotation = _text(source, child.child_by_field_name("type"))
            name_node = child.child_by_field_name("name")
            if name_node is None:  # typed_parameter: the first named child
                name_node = child.named_children[0] if child.named_children else None
        elif kind in ("list_splat_pattern", "dictionary_splat_pattern"):
            name_node = child
        if name_node is not None and name_node.type in ("list_splat_pattern",
                                                         "dictionary_splat_pattern"):
            stars = "**" if name_node.type == "dictionary_splat_pattern" else "*"
            inner = [c for c in name_node.named_children if c.type == "identifier"]
            name_node = inner[0] if inner else None
        if name_node is None or name_node.type != "identifier":
            continue  # `*` and `/` separators, patterns
        out.append(Param(_text(source, name_node), stars, annotation))
    if method and out and not out[0].stars and out[0].name in ("self", "cls", "mcs",
                                                               "metacls"):
        out = out[1:]
    return tuple(out)


def _raised_name(source: bytes, node: tree_sitter.Node) -> tuple[str, str]:
    """(exception name, literal message) of a ``raise`` statement; ("", "") if none is named."""
    value = next((c for c in node.named_children), None)
    if value is None or node.child_by_field_name("cause") is value:
        return "", ""
    message = ""
    if value.type == "call":
        args = value.child_by_field_name("arguments")
        if args is not None and args.named_children and args.named_children[0].type == "string":
            message = _string_value(source, args.named_children[0])
        value = value.child_by_field_name("function") or value
    if value.type not in ("identifier", "attribute"):
        return "", ""
    name = _text(source, value)
    last = name.rsplit(".", 1)[-1]
    # A class by convention; `raise err` re-raises a variable whose class we cannot name.
    return (name, message) if last[:1].isupper() else ("", "")


def _string_value(source: bytes, node: tree_sitter.Node) -> str:
    parts = [c for c in node.named_children if c.type == "string_content"]
    if any(c.type == "interpolation" for c in node.named_children):
        return ""
    return "".join(_text(source, p) for p in parts)


def _docstring(source: bytes, body: tree_sitter.Node | None) -> Docstring | None:
    if body is None or not body.named_children:
        return None
    first = body.named_children[0]
    if first.type != "expression_statement" or not first.named_children:
        return None
    string = first.named_children[0]
    if string.type != "string":
        return None
    start = next((c for c in string.children if c.type == "string_start"), None)
    end = next((c for c in string.children if c.type == "string_end"), None)
    if start is None or end is None:
        return None
    return Docstring(
        text=source[start.end_byte:end.start_byte].decode("utf-8", errors="replace"),
        start_line=string.start_point[0], end_line=string.end_point[0],
        start_byte=string.start_byte, end_byte=string.end_byte,
        content_start_byte=start.end_byte, content_end_byte=end.start_byte)


def _decorators(node: tree_sitter.Node, source: bytes) -> list[str]:
    parent = node.parent
    if parent is None or parent.type != "decorated_definition":
        return []
    return [_text(source, d).lstrip("@").strip() for d in parent.children
            if d.type == "decorator"]


def _function(source: bytes, node: tree_sitter.Node, in_class: bool) -> Definition:
    decorators = _decorators(node, source)
    static = any(d.split("(")[0].rsplit(".", 1)[-1] == "staticmethod" for d in decorators)
    params = _params(source, node.child_by_field_name("parameters"),
                     method=in_class and not static)
    body = node.child_by_field_name("body")
    own = _own_nodes(body) if body is not None else []
    returns_value = any(n.type == "return_statement" and n.named_children
                        and not (len(n.named_children) == 1
                                 and n.named_children[0].type == "none")
                        for n in own)
    raises: list[str] = []
    messages: dict[str, str] = {}
    for n in own:
        if n.type != "raise_statement":
            continue
        name, message = _raised_name(source, n)
        if name and name not in raises:
            raises.append(name)
            if message:
                messages[name] = message
    return _definition(
        source, node, body, name=_text(source, node.child_by_field_name("name")),
        kind="method" if in_class else "function", params=params,
        returns_value=returns_value,
        return_annotation=_text(source, node.child_by_field_name("return_type")),
        raises=tuple(raises), raise_messages=messages,
        is_generator=any(n.type == "yield" for n in own))


def _definition(source: bytes, node: tree_sitter.Node, body: tree_sitter.Node | None,
                **fields: object) -> Definition:
    outer = node.parent if node.parent is not None and \
        node.parent.type == "decorated_definition" else node
    body_line, body_column, on_header = -1, 0, False
    if body is not None and body.named_children:
        first = body.named_children[0]
        body_line, body_column = first.start_point
        on_header = first.start_point[0] == node.start_point[0] or \
            first.start_point[0] == (node.child_by_field_name("name") or node).start_point[0]
    return Definition(docstring=_docstring(source, body), start_byte=outer.start_byte,
                      end_byte=node.end_byte, name_line=node.start_point[0],
                      name_column=node.start_point[1], body_line=body_line,
                      body_column=body_column, body_on_header=on_header,
                      **fields)  # type: ignore[arg-type]


def definitions(source: str | bytes, tree: tree_sitter.Tree | None = None
                ) -> list[Definition]:
    """Every function, method and class of a Python file, in source order."""
    data = source.encode("utf-8") if isinstance(source, str) else source
    if tree is None:
        tree = parse(data, python_spec())
    if tree is None:  # took too long to parse: nothing is read from it
        return []
    out: list[Definition] = []
    stack: list[tuple[tree_sitter.Node, bool]] = [(tree.root_node, False)]
    while stack:
        node, in_class = stack.pop()
        if node.type == "function_definition":
            out.append(_function(data, node, in_class))
            body = node.child_by_field_name("body")
            if body is not None:
                stack.extend((c, False) for c in reversed(body.children))
            continue
        if node.type == "class_definition":
            body = node.child_by_field_name("body")
            out.append(_class(data, node, body))
            if body is not None:
                stack.extend((c, True) for c in reversed(body.children))
            continue
        keep_class = in_class and node.type in ("decorated_definition", "block")
        stack.extend((c, keep_class) for c in reversed(node.children))
    out.sort(key=lambda d: d.start_byte)
    return out


def _class(source: bytes, node: tree_sitter.Node, body: tree_sitter.Node | None) -> Definition:
    init_params: tuple[Param, ...] = ()
    init_documented = False
    for child in body.named_children if body is not None else ():
        fn = child
        if fn.type == "decorated_definition":
            fn = fn.child_by_field_name("definition") or fn
        if fn.type == "function_definition" and \
                _text(source, fn.child_by_field_name("name")) == "__init__":
            init_params = _params(source, fn.child_by_field_name("parameters"), method=True)
            init_documented = _docstring(source, fn.child_by_field_name("body")) is not None
    return _definition(source, node, body, name=_text(source, node.child_by_field_name("name")),
                       kind="class", params=(), returns_value=False, return_annotation="",
                       raises=(), init_params=init_params, init_documented=init_documented)


def definition_at(defs: list[Definition], byte: int) -> Definition | None:
    """The innermost definition whose span holds ``byte``."""
    inside = [d for d in defs if d.start_byte <= byte <= d.end_byte]
    return max(inside, key=lambda d: d.start_byte) if inside else None
