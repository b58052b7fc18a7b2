"""Test source from recorded outcomes: pytest functions or unittest methods, and their imports.

A test asserts exactly what the code did when the call was recorded:
``assert slugify('Hello, World!') == 'hello-world'``, ``with pytest.raises(ValueError): ...``,
and for a method also the object's state afterwards. Floats compare with ``pytest.approx``
(``assertAlmostEqual`` for unittest). Only values whose source is a literal or a constructor
of a class the module knows are ever written.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from offpilot.features.testgen.core.outcome import Outcome
from offpilot.features.testgen.core.plan import FilePlan, apply_insertions
from offpilot.features.testgen.python.scenarios import _safe_value
from offpilot.features.testgen.python.target import ClassInfo, PyTarget

MAX_NAME = 60
MAX_LINE = 99  # generated lines wrap at this width
STDLIB_FOR_TESTS = ("asyncio", "unittest")


@dataclass(frozen=True)
class Imports:
    """What a set of tests needs imported."""

    stdlib: frozenset[str] = frozenset()  # modules: "asyncio", "unittest"
    third_party: frozenset[str] = frozenset()  # "pytest"
    names: frozenset[tuple[str, str]] = frozenset()  # (module, name) from the project/stdlib

    def __or__(self, other: Imports) -> Imports:
        return Imports(self.stdlib | other.stdlib, self.third_party | other.third_party,
                       self.names | other.names)


@dataclass
class RenderedTest:
    name: str
    code: str  # the function (pytest) or method (unittest, indented by the class) source
    imports: Imports
    owner_class: str = ""  # unittest: the TestCase class it belongs to


@dataclass
class Style:
    framework: str = "pytest"  # "pytest" | "unittest"
    import_style: str = "from"  # "from" | "module" | "import"
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    module: str = ""


# ------------------------------------------------------------------------ names
def _words(node: ast.AST, classes: dict[str, ClassInfo]) -> list[str]:
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or v is None:
            return [str(v).lower()]
        if isinstance(v, int | float):
            text = repr(v).replace("-", "minus_").replace(".", "_").replace("+", "")
            return [re.sub(r"\W", "", text)]
        if isinstance(v, str | bytes):
            s = v.decode("latin-1") if isinstance(v, bytes) else v
            if not s:
                return ["empty"]
            found = re.findall(r"[A-Za-z0-9]+", s.lower())
            if not found:
                return ["blank"] if not s.strip() else ["symbols"]
            return found[:3]
        return []
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return ["minus_" + w for w in _words(node.operand, classes)]
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        if not node.elts:
            return ["empty_" + type(node).__name__.lower()]
        inner = [w for e in node.elts[:2] for w in _words(e, classes)]
        return inner[:3] or [type(node).__name__.lower()]
    if isinstance(node, ast.Dict):
        return ["empty_dict"] if not node.keys else ["dict"]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [w for a in node.args[:1] for w in _words(a, classes)]
        return [snake(node.func.id), *args[:1]]
    return []


def snake(name: str) -> str:
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    return re.sub(r"\W+", "_", out).strip("_") or "value"


def describe_call(call: str, outcome: Outcome, classes: dict[str, ClassInfo]) -> str:
    """``slugify('Hello, World!')`` raising nothing -> ``hello_world``."""
    try:
        node = ast.parse(call, mode="eval").body
    except SyntaxError:
        return "case"
    words: list[str] = []
    if isinstance(node, ast.Call):
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            words += _words(arg, classes)
    if isinstance(node, ast.Call) and not node.args and not node.keywords:
        words = ["defaults"]
    if outcome.kind == "raises":
        words.append("raises_" + snake(outcome.exc_type.rsplit(".", 1)[-1]))
    text = "_".join(w for w in words if w)
    text = re.sub(r"_+", "_", text).strip("_") or "call"
    return text[:MAX_NAME].rstrip("_")


def unique_name(base: str, taken: set[str]) -> str:
    name = base if base.isidentifier() and not keyword.iskeyword(base) else "test_case"
    i = 2
    while name in taken:
        name = f"{base}_{i}"
        i += 1
    taken.add(name)
    return name


# ---------------------------------------------------------------------- values
def safe_value_source(text: str, classes: dict[str, ClassInfo]) -> str | None:
    """``text`` as canonical source if it is a literal or a known constructor call."""
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not _safe_value(node, classes):
        try:
            ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            return None
    return text if len(text) < 2000 else None


def _exception_ref(outcome: Outcome, style: Style) -> tuple[str, Imports]:
    """How a test names the exception a call raised, and what that needs imported."""
    chain = [(outcome.exc_module, outcome.exc_type), *outcome.exc_bases]
    for module, qualname in chain:
        if module == "builtins" and qualname.isidentifier():
            return qualname, Imports()
        # both come from the code under test (a class can set its own __module__): only a
        # dotted name becomes an import, never other source
        if "." not in qualname and qualname.isidentifier() and module and all(
                part.isidentifier() and not part.startswith("_")
                for part in module.split(".")) and module != "__main__":
            return qualname, Imports(names=frozenset({(module, qualname)}))
    return "Exception", Imports()


def _names_used(call: str) -> set[str]:
    try:
        tree = ast.parse(call, mode="eval")
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _qualify(source: str, mapping: dict[str, str]) -> str:
    """Rewrite names per ``mapping`` (``slugify`` -> ``text.slugify``) in an expression."""
    if not mapping:
        return source

    class Rewrite(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id in mapping:
                return ast.parse(mapping[node.id], mode="eval").body
            return node

    tree = Rewrite().visit(ast.parse(source, mode="eval"))
    return ast.unparse(ast.fix_missing_locations(tree))


def _name_imports(names: Iterable[str], style: Style, target_module: str
                  ) -> tuple[Imports, dict[str, str]]:
    """Imports for project names in calls, per the import style, and how to refer to them."""
    mapping: dict[str, str] = {}
    pairs: set[tuple[str, str]] = set()
    modules: set[str] = set()
    for name in names:
        info = style.classes.get(name)
        module = info.module if info is not None else target_module
        if style.import_style == "module" and "." in module:
            package, _, leaf = module.rpartition(".")
            pairs.add((package, leaf))
            mapping[name] = f"{leaf}.{name}"
        elif style.import_style == "import":
            modules.add(module)
            mapping[name] = f"{module}.{name}"
        else:
            pairs.add((module, name))
    imports = Imports(stdlib=frozenset(), names=frozenset(pairs))
    if modules:
        imports = imports | Imports(names=frozenset(("", m) for m in modules))
    return imports, mapping


# --------------------------------------------------------------------- rendering
def _assert_lines(expr: str, outcome: Outcome, framework: str) -> tuple[list[str], Imports]:
    value = outcome.repr
    imports = Imports()
    if outcome.listed:
        expr = f"list({expr})"
    if framework == "unittest":
        if value == "None":
            return [f"self.assertIsNone({expr})"], imports
        if value in ("True", "False"):
            return [f"self.assertIs({expr}, {value})"], imports
        if outcome.value_type == "float" and not outcome.listed:
            return [f"self.assertAlmostEqual({expr}, {value})"], imports
        return [f"self.assertEqual({expr}, {value})"], imports
    if value == "None" or value in ("True", "False"):
        return [f"assert {expr} is {value}"], imports
    if outcome.has_float:
        return [f"assert {expr} == pytest.approx({value})"], \
            Imports(third_party=frozenset({"pytest"}))
    return [f"assert {expr} == {value}"], imports


def render_test(name: str, target: PyTarget, call: str, outcome: Outcome, style: Style
                ) -> RenderedTest | None:
    """One test for ``call`` asserting ``outcome``; None if it cannot be written safely."""
    classes = style.classes
    if outcome.kind == "value":
        value = safe_value_source(outcome.repr, classes)
        if value is None:
            return None
        state = safe_value_source(outcome.state, classes) if outcome.state else None
    elif outcome.kind != "raises":
        return None
    else:
        state = None
    try:
        node = ast.parse(call, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call):
        return None
    used = _names_used(call)
    if outcome.kind == "value" and outcome.constructible:
        used |= _names_used(outcome.repr)
    if state:
        used |= _names_used(state)
    imports, mapping = _name_imports(sorted(used), style, style.module)
    body: list[str] = []
    receiver = ""
    if target.owner and isinstance(node.func, ast.Attribute) \
            and isinstance(node.func.value, ast.Call):
        receiver = snake(target.owner)
        if receiver in used or keyword.iskeyword(receiver) or receiver == target.name:
            receiver = "obj"
        body.append(f"{receiver} = {_qualify(ast.unparse(node.func.value), mapping)}")
        node.func.value = ast.Name(id=receiver, ctx=ast.Load())
        expr = _qualify(ast.unparse(node), {k: v for k, v in mapping.items() if k != receiver})
    else:
        expr = _qualify(call, mapping)
    if target.is_async:
        expr = f"asyncio.run({expr})"
        imports = imports | Imports(stdlib=frozenset({"asyncio"}))
    unittest = style.framework == "unittest"
    if outcome.kind == "raises":
        exc, exc_imports = _exception_ref(outcome, style)
        imports = imports | exc_imports
        if unittest:
            body += [f"with self.assertRaises({exc}):", f"    {expr}"]
        else:
            body += [f"with pytest.raises({exc}):", f"    {expr}"]
            imports = imports | Imports(third_party=frozenset({"pytest"}))
    else:
        rendered_value = _qualify(outcome.repr, mapping) if outcome.constructible \
            else outcome.repr
        lines, more = _assert_lines(expr, Outcome(**{**outcome.__dict__,
                                                      "repr": rendered_value}),
                                    style.framework)
        body += lines
        imports = imports | more
        if state and receiver:
            state_src = _qualify(state, mapping)
            body.append(f"self.assertEqual({receiver}, {state_src})" if unittest
                        else f"assert {receiver} == {state_src}")
    width = MAX_LINE - (8 if unittest else 4)
    body = [wrapped for line in body for wrapped in wrap_line(line, width)]
    if unittest:
        code = f"def {name}(self):\n" + "".join(f"    {line}\n" for line in body)
        imports = imports | Imports(stdlib=frozenset({"unittest"}))
    else:
        code = f"def {name}():\n" + "".join(f"    {line}\n" for line in body)
    try:
        ast.parse(code)
    except SyntaxError:
        return None
    return RenderedTest(name, code, imports,
                        owner_class=f"Test{target.owner or ''}{_camel(target.name)}"
                        if unittest else "")


def _brackets(line: str) -> list[tuple[int, int]]:
    """(open, close) index pairs of the brackets in ``line``, outside string literals."""
    pairs: list[tuple[int, int]] = []
    stack: list[int] = []
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            stack.append(i)
        elif ch in ")]}" and stack:
            pairs.append((stack.pop(), i))
        i += 1
    return pairs


def _top_commas(text: str) -> list[int]:
    depth, quote, out, i = 0, "", [], 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(i)
        i += 1
    return out


def wrap_line(line: str, width: int) -> list[str]:
    """A statement longer than ``width``, its widest bracket split one item per line.

    Only layout changes: the result must parse to the same tree, or the line stays as it is.
    """
    if len(line) <= width:
        return [line]
    indent = line[:len(line) - len(line.lstrip())]
    for start, end in sorted(_brackets(line), key=lambda p: p[0] - p[1]):
        inner = line[start + 1:end]
        cuts = _top_commas(inner)
        if not cuts and len(inner) < 20:
            continue
        items, prev = [], 0
        for c in [*cuts, len(inner)]:
            item = inner[prev:c].strip()
            if item:
                items.append(item)
            prev = c + 1
        head, tail = line[:start + 1], line[end:]
        out = [head] + [f"{indent}    {item}," for item in items] + [indent + tail]
        try:
            same = ast.dump(ast.parse(line.strip())) == ast.dump(
                ast.parse("\n".join(x[len(indent):] for x in out)))
        except SyntaxError:
            same = False
        if same:
            return [out[0], *[w for x in out[1:-1] for w in wrap_line(x, width)], out[-1]]
    return [line]


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


# ------------------------------------------------------------------------- files
def import_lines(imports: Imports, present: set[tuple[str, str]] | None = None) -> list[str]:
    """Import statements, grouped stdlib / third-party / project, skipping those present."""
    present = present or set()
    groups: list[list[str]] = [[], [], []]
    for m in sorted(imports.stdlib):
        if ("", m) not in present:
            groups[0].append(f"import {m}")
    for m in sorted(imports.third_party):
        if ("", m) not in present:
            groups[1].append(f"import {m}")
    by_module: dict[str, list[str]] = {}
    for module, name in sorted(imports.names):
        if (module, name) in present:
            continue
        if not module:
            if ("", name) not in present:
                groups[2].append(f"import {name}")
            continue
        by_module.setdefault(module, []).append(name)
    for module, names in sorted(by_module.items()):
        groups[2].append(f"from {module} import {', '.join(sorted(set(names)))}")
    out: list[str] = []
    for g in groups:
        if g:
            if out:
                out.append("")
            out.extend(g)
    return out


def existing_imports(tree: ast.Module) -> set[tuple[str, str]]:
    present: set[tuple[str, str]] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname is None:
                    present.add(("", a.name))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for a in node.names:
                if a.asname is None:
                    present.add((node.module, a.name))
    return present


def defined_names(tree: ast.Module) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(node.name)
    return out


def _group_body(tests: Sequence[RenderedTest], framework: str) -> str:
    if framework != "unittest":
        return "\n\n".join(t.code for t in tests)
    classes: dict[str, list[RenderedTest]] = {}
    for t in tests:
        classes.setdefault(t.owner_class, []).append(t)
    parts = []
    for cls, members in classes.items():
        methods = "\n".join("".join(f"    {line}\n" if line else "\n"
                                    for line in t.code.splitlines()) for t in members)
        parts.append(f"class {cls}(unittest.TestCase):\n{methods}")
    return "\n\n".join(parts)


def plan_file(original: str | None, tests: Sequence[RenderedTest], framework: str,
              module: str) -> FilePlan:
    """The new test file, or the existing one with the tests appended and imports added."""
    imports = Imports()
    for t in tests:
        imports = imports | t.imports
    body = _group_body(tests, framework)
    if original is None or not original.strip():
        header = f'"""Tests for {module}."""\n\n'
        lines = import_lines(imports)
        text = header + ("\n".join(lines) + "\n\n\n" if lines else "") + body
        if framework == "unittest":
            text += '\n\nif __name__ == "__main__":\n    unittest.main()\n'
        start = len(original or "")
        return FilePlan((original or "") + text, ((start, text),))
    try:
        tree = ast.parse(original)
    except SyntaxError:
        tree = ast.Module(body=[], type_ignores=[])
    missing = import_lines(imports, existing_imports(tree))
    insertions: list[tuple[int, str]] = []
    line_offsets = [0]
    for line in original.splitlines(keepends=True):
        line_offsets.append(line_offsets[-1] + len(line))
    leading = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            leading.append(node)
        elif leading or not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            break
    tail = "" if original.endswith("\n") else "\n"
    block = tail + "\n\n" + body
    end = len(original)
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.If) and ast.unparse(last.test) in (
            "__name__ == '__main__'", "'__main__' == __name__"):
        # new tests go before `if __name__ == "__main__": unittest.main()`, which would
        # otherwise run (and exit) before they are defined
        end, tail = line_offsets[last.lineno - 1], ""
        block = body + "\n\n"
    if missing and leading:
        end_line = leading[-1].end_lineno or leading[-1].lineno
        offset = line_offsets[min(end_line, len(line_offsets) - 1)]
        prefix = "" if original[:offset].endswith("\n") else "\n"
        insertions.append((offset, prefix + "\n".join(
            line for line in missing if line) + "\n"))
    elif missing:
        block = tail + "\n\n" + "\n".join(missing) + "\n\n\n" + block.lstrip("\n")
    insertions.append((end, block))
    return FilePlan(apply_insertions(original, insertions), tuple(insertions))
