"""Candidate calls of the function under test: from the model, the docstring and the signature.

A candidate is only the source of one call, e.g. ``apply_discount(1000, 10)``. Model text is
untrusted: a call is accepted only when :mod:`ast` shows that it calls the target (or, for a
method, ``Owner(...).method(...)``) with literal arguments, where a literal may also be a
constructor call of a class the target module defines or imports. Nothing is evaluated here;
the calls run later, in the sandbox, where their real results are recorded.
"""

from __future__ import annotations

import ast
import doctest
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from offpilot.features.testgen.core.paths import inside_folder as _inside
from offpilot.features.testgen.core.paths import looks_like_path
from offpilot.features.testgen.python.target import ClassInfo, Param, PyTarget

MAX_CALL_CHARS = 400
MAX_NODES = 120
MAX_LITERAL_CHARS = 200


@dataclass(frozen=True)
class Scenario:
    """One candidate call, and what its source claimed the result would be (if anything)."""

    call: str  # canonical source (``ast.unparse``)
    origin: str  # "docstring" | "model" | "signature"
    expected: str | None = None  # a literal claimed for the result, as source
    expected_raises: str | None = None  # an exception name claimed for the call


# ----------------------------------------------------------------- validation
def _safe_value(node: ast.AST, classes: dict[str, ClassInfo], depth: int = 0) -> bool:
    if depth > 4:
        return False
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, str | bytes):
            return len(value) <= MAX_LITERAL_CHARS
        if isinstance(value, int) and not isinstance(value, bool):
            return abs(value) < 10**30
        return value is None or isinstance(value, bool | float | complex)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return isinstance(node.operand, ast.Constant) and isinstance(
            node.operand.value, int | float | complex) and _safe_value(node.operand, classes)
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return len(node.elts) <= 20 and all(
            not isinstance(e, ast.Starred) and _safe_value(e, classes, depth + 1)
            for e in node.elts)
    if isinstance(node, ast.Dict):
        return len(node.keys) <= 20 and all(
            k is not None and _safe_value(k, classes, depth + 1)
            and _safe_value(v, classes, depth + 1) for k, v in zip(node.keys, node.values,
                                                                    strict=True))
    if isinstance(node, ast.Call):
        return (isinstance(node.func, ast.Name) and node.func.id in classes
                and _safe_args(node, classes, depth + 1)
                and _fits_constructor(node, classes[node.func.id]))
    return False


def _fits_constructor(call: ast.Call, info: ClassInfo) -> bool:
    """Arity and keyword names of a constructor call, when the parameters are known."""
    if not info.params:
        return True  # unknown (an inherited __init__) or none: the sandbox will tell
    positional = [p for p in info.params if not p.keyword_only]
    if len(call.args) > len(positional):
        return False
    given = {p.name for p in positional[:len(call.args)]}
    names = {p.name for p in info.params}
    for kw in call.keywords:
        if kw.arg not in names or kw.arg in given:
            return False
        given.add(kw.arg)
    return all(p.default is not None or p.name in given for p in info.params)


def _safe_args(call: ast.Call, classes: dict[str, ClassInfo], depth: int) -> bool:
    if len(call.args) + len(call.keywords) > 12:
        return False
    return (all(not isinstance(a, ast.Starred) and _safe_value(a, classes, depth)
                for a in call.args)
            and all(k.arg is not None and _safe_value(k.value, classes, depth)
                    for k in call.keywords))


def validate_call(text: str, target: PyTarget, classes: dict[str, ClassInfo]) -> str | None:
    """The canonical source of ``text`` if it is an allowed call of ``target``, else None."""
    if len(text) > MAX_CALL_CHARS:
        return None
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        return None
    call = tree.body
    if not isinstance(call, ast.Call):
        return None
    func = call.func
    if target.owner:
        if not (isinstance(func, ast.Attribute) and func.attr == target.name
                and isinstance(func.value, ast.Call)
                and isinstance(func.value.func, ast.Name) and func.value.func.id == target.owner
                and _safe_args(func.value, classes, 1)):
            return None
    elif not (isinstance(func, ast.Name) and func.id == target.name):
        return None
    if not _safe_args(call, classes, 0) or not fits_signature(call, target, classes):
        return None
    return ast.unparse(call)


_SIMPLE_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "complex": (int, float, complex), "str": (str,),
    "bytes": (bytes,), "bool": (bool,), "list": (list,), "List": (list,), "tuple": (tuple,),
    "Tuple": (tuple,), "dict": (dict,), "Dict": (dict,), "set": (set,), "Set": (set,),
    "frozenset": (set, frozenset),
}


def _fits(node: ast.expr, annotation: str | None, classes: dict[str, ClassInfo]) -> bool:
    """Whether a literal argument can be of the annotated type (unknown types: yes)."""
    if not annotation:
        return True
    ann = annotation.replace("typing.", "").strip().strip("'\"")
    if ann.startswith("Optional[") and ann.endswith("]"):
        ann = f"{ann[9:-1]} | None"
    options = [a.strip() for a in _split_top(ann.replace("|", ","))] if "|" in ann else [ann]
    if isinstance(node, ast.Call):
        name = getattr(node.func, "id", "")
        bases = [o.partition("[")[0] for o in options]
        return any(b in (name, "object", "Any") or (b not in _SIMPLE_TYPES and b not in classes)
                   for b in bases)
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return True
    for option in options:
        base = option.partition("[")[0].strip()
        if base == "None":
            if value is None:
                return True
            continue
        kinds = _SIMPLE_TYPES.get(base)
        if kinds is None and base not in classes:
            return True  # a type we do not know: anything may fit
        if kinds is not None and isinstance(value, kinds) and not (
                isinstance(value, bool) and bool not in kinds and base != "int"):
            return True
    return False


def fits_signature(call: ast.Call, target: PyTarget, classes: dict[str, ClassInfo]) -> bool:
    """Arity, keyword names and simple types of ``call`` against the target's signature."""
    params = list(target.params)
    positional = [p for p in params if not p.keyword_only]
    if len(call.args) > len(positional) and not target.varargs:
        return False
    given: dict[str, ast.expr] = {}
    for p, arg in zip(positional, call.args, strict=False):
        given[p.name] = arg
    by_name = {p.name: p for p in params}
    for kw in call.keywords:
        if kw.arg is None or kw.arg in given:
            return False
        if kw.arg not in by_name and not target.varkw:
            return False
        given[kw.arg] = kw.value
    if any(p.default is None and p.name not in given for p in params):
        return False
    return all(_fits(node, by_name[name].annotation, classes)
               for name, node in given.items() if name in by_name)


# ------------------------------------------------------------------ paths
def outside_paths(call: str, inside: Path | None = None) -> list[str]:
    """String (or bytes) constants anywhere in ``call`` (nested in lists, dicts, constructor
    arguments) that look like paths and do not point into ``inside`` (the sandbox's project
    copy; None: no folder counts as inside)."""
    try:
        tree = ast.parse(call, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return [call]
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant):
            continue
        value = node.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if not isinstance(value, str) or not looks_like_path(value):
            continue
        if inside is not None and _inside(value.strip(), inside):
            continue
        found.append(value)
    return found


def foreign_calls(call: str, allowed: Iterable[str]) -> list[str]:
    """Names ``call`` calls that are not in ``allowed`` (the target and the workspace's classes);
    any call through an attribute other than ``allowed``'s methods counts as foreign."""
    allowed = set(allowed)
    try:
        tree = ast.parse(call, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return [call]
    out: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            if func.id not in allowed:
                out.append(func.id)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call) \
                and isinstance(func.value.func, ast.Name) and func.value.func.id in allowed \
                and func.attr in allowed:
            continue  # ``Owner(...).method(...)``
        else:
            out.append(ast.unparse(func))
    return out


def _literal(text: str) -> str | None:
    """``text`` as canonical literal source, or None if it is not a plain literal."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
        ast.literal_eval(node)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return None
    return ast.unparse(node)


# ------------------------------------------------------------------ extraction
# what follows a call when a text claims its result: ``== 5``, ``==> 5``, ``-> 5``, ``➞ 5``
_EXPECT = re.compile(r"\s*(?:==>|==|=>|->|➞|should return|returns)\s*(.+?)\s*(?:#.*)?$")


def _claimed(rest: str) -> str | None:
    m = _EXPECT.match(rest)
    if not m:
        return None
    text = m.group(1).rstrip(".,;")
    return _literal(text) or _literal(text.rstrip(")").rstrip())


def extract_calls(text: str, target: PyTarget, classes: dict[str, ClassInfo],
                  origin: str = "model") -> list[Scenario]:
    """Every allowed call of ``target`` found in free text (model output), in order, deduplicated.

    A call is the shortest balanced text from ``name(`` that parses; a following ``== literal``
    on the same line is kept as the claimed result.
    """
    head = f"{target.owner}(" if target.owner else f"{target.name}("
    found: list[Scenario] = []
    seen: set[str] = set()
    pos = 0
    while (start := text.find(head, pos)) >= 0:
        pos = start + 1
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_."):
            continue  # part of a longer name or an attribute of something else
        window = text[start:start + MAX_CALL_CHARS]
        for end in (m.end() for m in re.finditer(r"\)", window)):
            call = validate_call(window[:end], target, classes)
            if call is None:
                continue
            if call not in seen:
                seen.add(call)
                expected = _claimed(window[end:].split("\n", 1)[0])
                found.append(Scenario(call, origin, expected=expected))
            pos = start + end
            break
    return found


def docstring_scenarios(target: PyTarget, classes: dict[str, ClassInfo]) -> list[Scenario]:
    """Calls in the docstring's ``>>>`` examples, with the result the docstring shows."""
    if ">>>" not in target.docstring:
        return []
    try:
        examples = doctest.DocTestParser().get_examples(target.docstring)
    except ValueError:
        return []
    out = []
    for ex in examples:
        source = ex.source.strip()
        printed = source.startswith("print(") and source.endswith(")")
        if printed:  # the output is str() of the result, not its repr: no claim to compare
            source = source[len("print("):-1]
        compared = None
        try:
            node = ast.parse(source, mode="eval").body
        except (SyntaxError, ValueError):
            continue
        if isinstance(node, ast.Compare) and len(node.ops) == 1 \
                and isinstance(node.ops[0], ast.Eq):  # ``>>> f(2) == 4`` / ``True``
            compared = ast.unparse(node.comparators[0])
            source = ast.unparse(node.left)
        call = validate_call(source, target, classes)
        if call is None:
            continue
        want = ex.want.strip()
        raises = None
        expected = None
        if ex.exc_msg is not None or want.startswith("Traceback"):
            last = want.splitlines()[-1] if want else ""
            raises = last.split(":", 1)[0].rsplit(".", 1)[-1].strip() or None
        elif compared is not None:
            expected = _literal(compared) if want == "True" else None
        elif want and not printed:
            expected = _literal(want)
        out.append(Scenario(call, "docstring", expected=expected, expected_raises=raises))
    return out


def docstring_text_scenarios(target: PyTarget, classes: dict[str, ClassInfo]
                             ) -> list[Scenario]:
    """Calls written in a docstring's prose (``add(2, 3) ==> 5``), outside ``>>>`` examples."""
    prose = "\n".join(line for line in target.docstring.splitlines()
                      if not line.lstrip().startswith((">>>", "...")))
    return extract_calls(prose, target, classes, origin="docstring")


def docstring_examples(target: PyTarget, classes: dict[str, ClassInfo]) -> list[Scenario]:
    """Every example call of the docstring: ``>>>`` examples first, then ones in the prose."""
    return merge(docstring_scenarios(target, classes), docstring_text_scenarios(target, classes))


# ------------------------------------------------------------------- synthesis
_STR_NAMES = re.compile(r"(name|text|title|string|word|path|key|sku|prefix|suffix|label|"
                        r"^s$|msg|message|line|url|slug|query|sep)", re.I)
_INT_NAMES = re.compile(r"(^n$|^i$|^k$|count|num|size|limit|index|cents|price|quantity|amount|"
                        r"total|width|height|age|length|len|depth|level|year|port)", re.I)
_FLOAT_NAMES = re.compile(r"(percent|ratio|rate|factor|weight|scale|prob)", re.I)
_LIST_NAMES = re.compile(r"(items|values|xs|list|lines|seq|elements|numbers|words)", re.I)

TYPICAL_STRINGS = ('"Hello, World!"', '""', '"a"', '"  spaced   out  "', '"Ünïcode café"',
                   '"The quick brown fox jumps over the lazy dog"', '"123"')


def _unique(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _split_top(text: str) -> list[str]:
    """``"str, list[int]"`` -> ``["str", "list[int]"]`` (commas inside brackets kept)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def _numbers(literals: Sequence[object]) -> list[int | float]:
    return [v for v in literals if isinstance(v, int | float) and not isinstance(v, bool)]


def values_for(annotation: str | None, default: str | None, name: str,
               literals: Sequence[object], classes: dict[str, ClassInfo],
               depth: int = 0) -> list[str]:
    """Candidate argument sources for one parameter, the most typical first."""
    ann = (annotation or "").replace("typing.", "").strip().strip("'\"")
    if ann.startswith("Optional[") and ann.endswith("]"):
        return [*values_for(ann[9:-1], default, name, literals, classes, depth), "None"]
    union = _split_top(ann.replace("|", ",")) if "|" in ann else []
    if union:
        out: list[str] = []
        for part in union:
            if part != "None":
                out += values_for(part, None, name, literals, classes, depth)[:4]
        return _unique(out + (["None"] if "None" in union else []))
    base, _, inner = ann.partition("[")
    inner = inner[:-1] if inner.endswith("]") else inner
    args = _split_top(inner)
    base = base.strip()
    if not base:
        base = _kind_from_default(default) or _kind_from_name(name)
    extra = [default] if default and default != "..." and _literal(default) else []
    nums = _numbers(literals)
    if base == "bool":
        return ["True", "False"]
    if base == "int":
        around = [str(int(c) + d) for c in nums for d in (0, -1, 1) if abs(c) < 10**9]
        return _unique(["10", "0", "1", "-1", *around, *extra, "1000"])
    if base == "float":
        around = [repr(float(c) + d) for c in nums for d in (0, -1, 1) if abs(c) < 10**9]
        return _unique(["10.0", "0.0", "1.5", "-1.0", *around, *extra, "0.1"])
    if base == "str":
        strs = [repr(v) for v in literals if isinstance(v, str) and v.isprintable()]
        return _unique([*TYPICAL_STRINGS[:1], *extra, *TYPICAL_STRINGS[1:], *strs])
    if base == "bytes":
        return ['b"abc"', 'b""', 'b"\\x00\\xff"']
    if base == "None":
        return ["None"]
    if base in {"list", "List", "Sequence", "Iterable", "Collection", "MutableSequence",
                "tuple", "Tuple", "set", "Set", "frozenset", "AbstractSet"}:
        elem = values_for(args[0] if args else None, None, "", literals, classes, depth + 1) \
            if depth < 2 else ["1"]
        elem = [e for e in elem if e != "None"][:3] or ["1"]
        if base in {"tuple", "Tuple"}:
            if len(args) > 1 and args[-1] != "...":
                parts = [values_for(a, None, "", literals, classes, depth + 1)[0] for a in args]
                return [f"({', '.join(parts)},)"]
            return ["()", f"({', '.join(elem)},)"]
        if base in {"set", "Set", "frozenset", "AbstractSet"}:
            return [f"{{{', '.join(elem)}}}"]
        return [f"[{', '.join(elem)}]", "[]", f"[{elem[0]}]"]
    if base in {"dict", "Dict", "Mapping", "MutableMapping"}:
        if depth >= 2:
            return ["{}"]
        keys = values_for(args[0] if args else "str", None, "", literals, classes, depth + 1)
        vals = values_for(args[1] if len(args) > 1 else None, None, "", literals, classes,
                          depth + 1)
        return [f"{{{keys[0]}: {vals[0]}}}", "{}"]
    if base in classes and depth < 3:
        info = classes[base]
        required = [p for p in info.params if p.default is None]
        parts = []
        for p in required:
            v = values_for(p.annotation, None, p.name, (), classes, depth + 1)[0]
            parts.append(f"{p.name}={v}" if p.keyword_only else v)
        out = [f"{base}({', '.join(parts)})"]
        optional = [p for p in info.params if p.default is not None]
        if optional and depth == 0:  # also one with every field set (a non-empty cart)
            filled = parts + [
                f"{p.name}={values_for(p.annotation, None, p.name, (), classes, depth + 1)[0]}"
                for p in optional]
            out.append(f"{base}({', '.join(filled)})")
        return out
    return _unique([*extra, "0", '"abc"', "None", "[]"])


def _kind_from_default(default: str | None) -> str:
    if not default or default == "...":
        return ""
    try:
        value = ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return ""
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list",
            dict: "dict", tuple: "tuple", bytes: "bytes"}.get(type(value), "")


def _kind_from_name(name: str) -> str:
    for pattern, kind in ((_FLOAT_NAMES, "float"), (_INT_NAMES, "int"), (_LIST_NAMES, "list"),
                          (_STR_NAMES, "str")):
        if pattern.search(name):
            return kind
    return ""


def _format_call(head: str, params: Sequence[Param], chosen: dict[str, str]) -> str:
    parts = []
    positional = True
    for p in params:
        if p.name not in chosen:
            positional = False  # later arguments must be named once one is left out
            continue
        if p.keyword_only or not positional or p.default is not None:
            parts.append(f"{p.name}={chosen[p.name]}")
        else:
            parts.append(chosen[p.name])
    return f"{head}({', '.join(parts)})"


def synthesize(target: PyTarget, classes: dict[str, ClassInfo], *, limit: int = 40,
               base: dict[str, str] | None = None) -> list[Scenario]:
    """Calls built from the signature: a typical call, then one parameter varied at a time.

    Values come from type hints, defaults, parameter names and the constants in the body
    (``0 <= percent <= 100`` gives -1, 0, 1, 99, 100, 101): the boundaries where behaviour
    changes. ``base`` (e.g. the arguments of a docstring example) replaces the typical values.
    """
    if any(p.name.startswith("*") for p in target.params):
        return []
    literals = list(target.literals)
    for m in re.finditer(r"['\"]([^'\"\n]{1,30})['\"]", target.docstring):
        literals.append(m.group(1))
    options = {p.name: values_for(p.annotation, p.default, p.name, literals, classes)
               for p in target.params}
    for opts in options.values():  # a built object (a cart with items) is the typical input
        if len(opts) > 1 and opts[0].endswith("()") and opts[1].startswith(opts[0][:-1]):
            opts[0], opts[1] = opts[1], opts[0]
    typical = {p.name: (base or {}).get(p.name) or options[p.name][0]
               for p in target.params if p.default is None}
    _add_lengths(target, options, typical)
    head = target.name
    receivers: list[str] = []
    if target.owner:
        if target.owner not in classes:
            return []
        receivers = values_for(target.owner, None, "", (), classes)
        head = f"{receivers[0]}.{target.name}"
    calls = [_format_call(head, target.params, typical)]
    # the same call on a fully built object (e.g. a cart that has items)
    calls += [_format_call(f"{r}.{target.name}", target.params, typical) for r in receivers[1:]]
    # round-robin over parameters so that a cap does not starve the later ones
    varied = [[(p.name, v) for v in options[p.name] if v != typical.get(p.name)]
              for p in target.params]
    for i in range(max((len(v) for v in varied), default=0)):
        for per_param in varied:
            if i < len(per_param):
                name, value = per_param[i]
                calls.append(_format_call(head, target.params, {**typical, name: value}))
    out = []
    seen: set[str] = set()
    for c in calls:
        call = validate_call(c, target, classes)
        if call and call not in seen:
            seen.add(call)
            out.append(Scenario(call, "signature"))
        if len(out) >= limit:
            break
    return out


def _add_lengths(target: PyTarget, options: dict[str, list[str]], typical: dict[str, str]
                 ) -> None:
    """Integer parameters also try the length of the typical string or list, and one less.

    ``truncate(text, limit)`` changes behaviour exactly where ``limit == len(text)``.
    """
    lengths: list[int] = []
    for value in typical.values():
        try:
            v = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(v, str | list | tuple | bytes) and len(v) > 1:
            lengths += [len(v), len(v) - 1]
    if not lengths:
        return
    for p in target.params:
        opts = options[p.name]
        if opts and opts[0] == "10" and "1000" in opts:  # the int choices of values_for
            opts[:] = _unique([*opts[:2], *map(str, lengths), *opts[2:]])


def base_from_examples(target: PyTarget, scenarios: Sequence[Scenario]) -> dict[str, str]:
    """Arguments of the first positional example call, by parameter name (a realistic base)."""
    for s in scenarios:
        call = ast.parse(s.call, mode="eval").body
        assert isinstance(call, ast.Call)
        if call.keywords or len(call.args) != len([p for p in target.params
                                                   if p.default is None]):
            continue
        return {p.name: ast.unparse(a) for p, a in zip(target.params, call.args, strict=False)}
    return {}


def merge(*groups: Iterable[Scenario]) -> list[Scenario]:
    """Scenarios in order, one per call; an earlier claim of the result wins."""
    out: dict[str, Scenario] = {}
    for group in groups:
        for s in group:
            earlier = out.get(s.call)
            claims = s.expected is not None or s.expected_raises is not None
            if earlier is None or (claims and earlier.expected is None
                                   and earlier.expected_raises is None):
                out[s.call] = s
    return list(out.values())
