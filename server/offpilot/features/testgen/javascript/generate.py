"""Characterization tests for JavaScript (and TypeScript with a runner) with node.

1. **Targets**: the exported functions of the file (ES ``export``, or CommonJS
   ``module.exports``/``exports.x``), read with the tree-sitter grammar of the file's language.
2. **Scenarios**: calls with literal arguments from the JSDoc ``@example`` blocks (with the
   result a comment claims: ``add(1, 2) // => 3``), from the model (a few-shot prompt a small
   base model continues with ``name(...)`` lines) and from the parameters (JSDoc types, names,
   default values). Model and comment text is untrusted: only calls whose arguments are
   JSON-like literals survive (:mod:`.jsvalues`), and each call is rebuilt from those values.
3. **Oracle**: a small harness imports the module in the sandbox and runs every call, twice,
   in two node processes; the result (as literal source) or the thrown error's name and message
   is recorded. A call that hangs is cut off and recorded as a timeout; one whose outcome differs
   between the processes gets no test. A claim that differs from the recorded outcome is
   reported as a possible bug and never asserted.
4. **Selection**: a few tests per function, documented examples first, then distinct outcomes.
5. **Verification**: the test file (``assert.deepStrictEqual``/``assert.throws`` in node:test,
   or in the project's vitest or jest when it is installed in ``node_modules``) runs 3 times in
   the sandbox; only tests that pass every run are kept.

TypeScript runs the same way through tsx when it is installed in ``node_modules``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from offpilot.engine.backend import Backend, ChatMessage, ChatRequest, ModelError
from offpilot.features.testgen.core.layout import TestLayout
from offpilot.features.testgen.core.paths import confine, outside_values
from offpilot.features.testgen.core.plan import FilePlan
from offpilot.features.testgen.core.proposals import calls_one_at_a_time, prefers_chat
from offpilot.features.testgen.core.request import TargetError, TestGenRequest
from offpilot.features.testgen.core.result import (
    NOT_RUN_PATH,
    RUNS,
    CallRecord,
    GeneratedTest,
    PossibleBug,
    TestGenResult,
    progress,
)
from offpilot.features.testgen.core.sandbox import TestSandbox
from offpilot.features.testgen.javascript.jsvalues import (
    UNDEFINED,
    LiteralError,
    parse_arguments,
    parse_literal,
    same_value,
    string_source,
    to_js,
)
from offpilot.features.testgen.javascript.noderun import (
    JsOutcome,
    NodeRunner,
    NodeRunReport,
    ProjectRunner,
    installed_package,
    node_modules_dirs,
    package_json,
    project_runner,
    record_calls,
    run_node_tests,
    run_project_tests,
)
from offpilot.features.testgen.javascript.records import (
    JsModule,
    JsParam,
    JsScenario,
    JsTarget,
)
from offpilot.features.trust import RUNNING_OFF_REASON

log = logging.getLogger(__name__)

MAX_TARGETS = 20
MAX_SCENARIOS_PER_TARGET = 24
MAX_SIGNATURE_CALLS = 14
MAX_TESTS_PER_TARGET = 5
MAX_TITLE = 90
MODEL_ATTEMPTS = 8
MODEL_CALLS = 6
MODEL_SECONDS = 20.0
MODEL_SECONDS_TOTAL = 60.0
ORIGIN_RANK = {"docstring": 0, "model": 1, "signature": 2}
# messages of errors the engine throws when an input has the wrong shape: unclaimed, such a
# call is a crash on a made-up input, not behaviour worth a test
_ENGINE_ERROR = re.compile(
    r"is not a function|Cannot read propert|Cannot set propert|is not iterable|is not defined|"
    r"Cannot convert|Cannot destructure|is not a constructor|Maximum call stack|"
    r"Invalid array length|Reduce of empty array|Cannot access .* before initialization|"
    r"Cannot mix BigInt|is not an object|Cannot create property")
_ENGINE_ERROR_NAMES = frozenset({"TypeError", "ReferenceError", "RangeError"})


# ------------------------------------------------------------------------ targets
def _text(node: Any) -> str:
    return node.text.decode("utf-8", "replace") if node is not None else ""


def _jsdoc(node: Any) -> Any:
    prev = node.prev_named_sibling
    if prev is not None and prev.type == "comment" and _text(prev).startswith("/**") \
            and node.start_point[0] - prev.end_point[0] <= 1:
        return prev
    return None


def _doc_text(comment: Any) -> str:
    raw = _text(comment)
    raw = raw[3:-2] if raw.endswith("*/") else raw[3:]
    return "\n".join(re.sub(r"^\s*\* ?", "", line) for line in raw.splitlines()).strip()


_PARAM_TYPE = re.compile(r"@(?:param|arg|argument)\s+\{([^}]*)\}\s+\[?([\w$]+)")


def _param_of(node: Any, doc_types: dict[str, str]) -> JsParam | None:
    kind = node.type
    optional = kind == "optional_parameter"
    type_hint = ""
    value = None
    if kind in ("required_parameter", "optional_parameter"):  # TypeScript
        pattern = node.child_by_field_name("pattern")
        annotation = node.child_by_field_name("type")
        type_hint = _text(annotation).lstrip(":").strip()
        value = node.child_by_field_name("value")
        node = pattern
        kind = node.type if node is not None else ""
    if kind == "assignment_pattern":
        value = node.child_by_field_name("right")
        node = node.child_by_field_name("left")
        kind = node.type if node is not None else ""
    if node is None:
        return None
    default, has_default = None, False
    if value is not None:
        optional = True
        with contextlib.suppress(LiteralError):
            default, has_default = parse_literal(_text(value)), True
    if kind == "identifier":
        name = _text(node)
        return JsParam(name, default, has_default, optional, False, "",
                       type_hint or doc_types.get(name, ""))
    if kind == "rest_pattern":
        inner = next((c for c in node.named_children if c.type == "identifier"), None)
        return JsParam(_text(inner) or "rest", optional=True, rest=True, type_hint=type_hint)
    if kind in ("object_pattern", "array_pattern"):
        return JsParam(f"{kind.split('_')[0]}_param", default, has_default, optional, False,
                       kind.split("_")[0], type_hint)
    return None


def _function_info(fn: Any, doc: str) -> tuple[tuple[JsParam, ...], bool] | None:
    """Parameters of a function node and whether it is async; None for generators."""
    if fn.type in ("generator_function_declaration", "generator_function"):
        return None
    doc_types = {m.group(2): m.group(1) for m in _PARAM_TYPE.finditer(doc)}
    params: list[JsParam] = []
    single = fn.child_by_field_name("parameter")  # ``x => ...``
    if single is not None:
        params.append(JsParam(_text(single), type_hint=doc_types.get(_text(single), "")))
    plist = fn.child_by_field_name("parameters")
    for child in plist.named_children if plist is not None else ():
        if child.type == "comment":
            continue
        p = _param_of(child, doc_types)
        if p is None:
            return None
        params.append(p)
    is_async = any(c.type == "async" for c in fn.children)
    return tuple(params), is_async


_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function",
                              "generator_function"})
_FUNCTION_DECLS = frozenset({"function_declaration", "generator_function_declaration"})


def _camel(stem: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", stem) or ["subject"]
    name = words[0].lower() + "".join(w.capitalize() for w in words[1:])
    return name if not name[0].isdigit() else "_" + name


def read_module(path: Path, source: str, language: str, package_type: str = "") -> JsModule:
    """The exported functions of a JavaScript/TypeScript file (nothing of it is run)."""
    from offpilot.context.languages import for_path

    spec = for_path(path)
    if spec is None:
        raise TargetError(f"{path.name}: no grammar for this file")
    tree = spec.parser().parse(source.encode("utf-8"))
    scan = _Scan(path)
    for stmt in tree.root_node.named_children:
        scan.statement(stmt)
    if not scan.esm and re.search(r"\brequire\s*\(", source):
        scan.cjs = True
    syntax = "esm" if scan.esm else ("cjs" if scan.cjs else "")
    suffix = path.suffix.lower()
    if suffix in (".mjs", ".mts"):
        kind = "esm"
    elif suffix in (".cjs", ".cts"):
        kind = "cjs"
    else:
        kind = syntax or ("esm" if package_type == "module" else "cjs")
    return JsModule(path, source, language, kind, syntax, tuple(_targets_of(scan, source)))


@dataclass
class _Scan:
    """What the top-level statements of a module declare and export."""

    path: Path
    locals_: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (fn, stmt)
    exports: list[tuple[str, str, Any, Any]] = field(default_factory=list)  # (local name,
    # export, fn node, stmt node)
    esm: bool = False
    cjs: bool = False

    def statement(self, stmt: Any) -> None:
        if stmt.type in _FUNCTION_DECLS or stmt.type in ("lexical_declaration",
                                                         "variable_declaration"):
            for name, fn in _declared(stmt):
                self.locals_[name] = (fn, stmt)
        elif stmt.type == "import_statement":
            self.esm = True
        elif stmt.type == "export_statement":
            self.esm = True
            self.export_statement(stmt)
        elif stmt.type == "expression_statement":
            self.assignment(stmt)

    def export_statement(self, stmt: Any) -> None:
        """``export function f``, ``export default ...``, ``export { a as b }``."""
        is_default = any(c.type == "default" for c in stmt.children)
        decl = stmt.child_by_field_name("declaration")
        value = stmt.child_by_field_name("value")
        if decl is not None:
            for name, fn in _declared(decl):
                self.locals_[name] = (fn, stmt)
                self.exports.append((name, "default" if is_default else name, fn, stmt))
        elif value is not None and is_default:
            if value.type == "identifier":
                self.exports.append((_text(value), "default", None, stmt))
            elif value.type in _FUNCTION_VALUES:
                name = _text(value.child_by_field_name("name")) or _camel(self.path.stem)
                self.exports.append((name, "default", value, stmt))
        elif stmt.child_by_field_name("source") is None:
            for clause in stmt.named_children:
                if clause.type != "export_clause":
                    continue
                for sp in clause.named_children:
                    local, alias = sp.child_by_field_name("name"), sp.child_by_field_name(
                        "alias")
                    if local is not None:
                        self.exports.append((_text(local), _text(alias or local), None, stmt))

    def assignment(self, stmt: Any) -> None:
        """``module.exports = {...}``, ``module.exports.f = ...``, ``exports.f = ...``."""
        expr = stmt.named_children[0] if stmt.named_children else None
        if expr is None or expr.type != "assignment_expression":
            return
        left, right = expr.child_by_field_name("left"), expr.child_by_field_name("right")
        which = _member_export(left) if left is not None else None
        if which is None or right is None:
            return
        self.cjs = True
        if which == "module" and right.type == "object":
            for prop in right.named_children:
                self.exported_property(prop, stmt)
        elif right.type == "identifier":
            self.exports.append((_text(right), which, None, stmt))
        elif right.type in _FUNCTION_VALUES:
            name = which if which != "module" else (
                _text(right.child_by_field_name("name")) or _camel(self.path.stem))
            self.exports.append((name, which, right, stmt))

    def exported_property(self, prop: Any, stmt: Any) -> None:
        """One property of ``module.exports = {...}``."""
        if prop.type == "shorthand_property_identifier":
            self.exports.append((_text(prop), _text(prop), None, stmt))
        elif prop.type == "pair":
            key, val = prop.child_by_field_name("key"), prop.child_by_field_name("value")
            if key is None or val is None or key.type != "property_identifier":
                return
            if val.type == "identifier":
                self.exports.append((_text(val), _text(key), None, stmt))
            elif val.type in _FUNCTION_VALUES:
                self.exports.append((_text(key), _text(key), val, stmt))
        elif prop.type == "method_definition":
            method = prop.child_by_field_name("name")
            if method is not None and method.type == "property_identifier":
                self.exports.append((_text(method), _text(method), prop, stmt))


def _declared(decl: Any) -> list[tuple[str, Any]]:
    """The functions a declaration defines: (name, function node)."""
    if decl.type in _FUNCTION_DECLS:
        name = decl.child_by_field_name("name")
        return [(_text(name), decl)] if name is not None else []
    out = []
    if decl.type in ("lexical_declaration", "variable_declaration"):
        for d in decl.named_children:
            if d.type != "variable_declarator":
                continue
            name, value = d.child_by_field_name("name"), d.child_by_field_name("value")
            if name is not None and name.type == "identifier" and value is not None \
                    and value.type in _FUNCTION_VALUES:
                out.append((_text(name), value))
    return out


def _member_export(left: Any) -> str | None:
    """``module.exports.x`` / ``exports.x`` -> "x"; ``module.exports`` -> "module"."""
    text = _text(left)
    if text == "module.exports":
        return "module"
    m = re.fullmatch(r"(?:module\.)?exports\.([A-Za-z_$][\w$]*)", text)
    return m.group(1) if m else None


def _targets_of(scan: _Scan, source: str) -> list[JsTarget]:
    """The exported functions found by ``scan`` that tests can call."""
    path = scan.path
    lines = source.splitlines()
    targets: list[JsTarget] = []
    seen: set[str] = set()
    for local, export, fn, stmt in scan.exports:
        if fn is None:
            if local not in scan.locals_:
                continue
            fn, stmt = scan.locals_[local]
        if export in seen:
            continue
        comment = _jsdoc(stmt)
        doc = _doc_text(comment) if comment is not None else ""
        info = _function_info(fn, doc)
        if info is None:
            continue
        seen.add(export)
        nested = fn.type == "method_definition" or (fn.parent is not None
                                                    and fn.parent.type == "pair")
        span = fn if nested else stmt
        if comment is None and nested:
            comment = _jsdoc(fn if fn.type == "method_definition" else fn.parent)
            doc = _doc_text(comment) if comment is not None else ""
            info = _function_info(fn, doc) or info
        first, last = (comment or span).start_point[0], span.end_point[0]
        name = local if re.fullmatch(r"[A-Za-z_$][\w$]*", local) else _camel(path.stem)
        if name in {t.name for t in targets}:  # one function exported under two names
            name = export if export not in ("default", "module") else f"{name}{len(targets)}"
        targets.append(JsTarget(name, export, info[0], info[1], first, last, doc,
                                "\n".join(lines[first:last + 1])))
    return targets


def select_targets(mod: JsModule, *, symbol: str = "", start_line: int = 0,
                   end_line: int = 0, scope: str = "symbol") -> list[JsTarget]:
    """The exported functions a request asks for (lines 0-based, like LSP's)."""
    if scope == "file":
        return list(mod.targets)
    if symbol:
        return [t for t in mod.targets if symbol in (t.name, t.export)]
    return [t for t in mod.targets if t.first_line <= end_line and t.last_line >= start_line]


# ---------------------------------------------------------------------- scenarios
_CLAIM_PREFIX = re.compile(r"^(?:=>|==>|->|→|⇒|returns?:?|result:?|gives|evaluates to|is)\s*",
                           re.I)
_THROWS = re.compile(r"^(?:throws?|raises?|rejects?)(?:\s+(?:an?\s+)?([A-Za-z_$][\w$]*))?", re.I)


def _claim(rest: str) -> tuple[str, Any] | None:
    """What the text after a call claims: ("value", v), ("raises", name) or None."""
    s = rest.strip()
    while s.startswith(";"):
        s = s[1:].strip()
    if s.startswith(("===", "==")):
        s = s.lstrip("=").strip()
    elif s.startswith("//"):
        s = _CLAIM_PREFIX.sub("", s[2:].strip())
    elif s.startswith(("=>", "->", "→")):
        s = _CLAIM_PREFIX.sub("", s)
    else:
        return None
    m = _THROWS.match(s)
    if m:
        return "raises", m.group(1) or "Error"
    m = re.match(r"^([A-Z]\w*Error)\b", s)
    if m:
        return "raises", m.group(1)
    s = s.rstrip(" ;.")
    try:
        return "value", parse_literal(s)
    except LiteralError:
        return None


def _fits(target: JsTarget, args: Sequence[Any]) -> bool:
    if any(p.rest for p in target.params):
        return True
    return len(args) <= len(target.params)


def calls_in_text(text: str, target: JsTarget, origin: str) -> list[JsScenario]:
    """Every call of ``target`` with literal arguments in ``text``, with the claim that follows
    it on its line (or alone on the next line: ``// => 3``)."""
    found: list[JsScenario] = []
    seen: set[tuple[str, str]] = set()
    lines = text.splitlines()
    head = re.compile(rf"(?<![\w$.]){re.escape(target.name)}\s*\(")
    for i, line in enumerate(lines):
        for m in head.finditer(line):
            try:
                args, end = parse_arguments(line, m.end())
            except LiteralError:
                continue
            if not _fits(target, args):
                continue
            claim = _claim(line[end:])
            if claim is None and i + 1 < len(lines) and lines[i + 1].lstrip().startswith("//") \
                    and not head.search(lines[i + 1]):
                claim = _claim(lines[i + 1])
            s = JsScenario(target.name, tuple(args), origin)
            if claim is not None and claim[0] == "value":
                s = replace(s, expected=claim[1], has_expected=True)
            elif claim is not None:
                s = replace(s, expected_raises=str(claim[1]))
            if s.key not in seen:
                seen.add(s.key)
                found.append(s)
    return found


def example_scenarios(target: JsTarget) -> list[JsScenario]:
    """Calls in the JSDoc's ``@example`` blocks and fenced code, with the results they show."""
    blocks: list[str] = []
    current: list[str] | None = None
    fenced = False
    for line in target.doc.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
            if fenced:
                current = []
                blocks.append("")
            continue
        if stripped.startswith("@"):
            current = [] if stripped.startswith("@example") else None
            if current is not None:
                blocks.append("")
                rest = stripped[len("@example"):].strip()
                if rest:
                    current.append(rest)
            continue
        if current is not None or fenced:
            blocks[-1] += line + "\n"
    return calls_in_text("\n".join(blocks), target, "docstring")


_STR_NAMES = re.compile(r"(name|text|title|str|word|path|key|prefix|suffix|label|^s$|msg|"
                        r"message|line|url|slug|query|sep|char|email|input|code|id$)", re.I)
_NUM_NAMES = re.compile(r"(^[nijkxyzab]$|count|num|size|limit|index|cents|price|qty|quantity|"
                        r"amount|total|width|height|age|len|depth|level|year|port|min|max|"
                        r"low|high|start|end|value|percent|rate|ratio|factor|score|times)", re.I)
_BOOL_NAMES = re.compile(r"^(is|has|should|can|allow|enable|use|with)[A-Z_]|^(flag|strict|force)$")
_LIST_NAMES = re.compile(r"(s$|list|items|values|array|arr$|xs$|elements|numbers|words)", re.I)


def _values_for(p: JsParam) -> list[Any]:
    t = p.type_hint.lower()
    if p.shape == "object":
        return [p.default if p.has_default else {}]
    if p.shape == "array":
        return [p.default if p.has_default else []]
    if p.has_default:
        d = p.default
        if isinstance(d, bool):
            return [d, not d]
        if isinstance(d, int | float):
            return _unique([d, 0, d + 1 if not math.isnan(d) else 1, -1])
        if isinstance(d, str):
            return _unique([d, "", "abc"])
        if isinstance(d, list):
            return _unique([d, [], [1, 2, 3]])
        return [d]
    if "[]" in t or "array" in t:
        item = "abc" if "string" in t else 1
        return [[item, item * 2 if isinstance(item, int) else "de"], []]
    if "bool" in t:
        return [True, False]
    if "number" in t or "int" in t or "float" in t or "bigint" in t:
        return [3, 0, -1, 2.5, 100]
    if "string" in t:
        return ["Hello, World!", "", "a"]
    if "object" in t or t.startswith("{"):
        return [{}]
    name = p.name
    if _BOOL_NAMES.search(name):
        return [True, False]
    if _STR_NAMES.search(name):
        return ["Hello, World!", "", "a"]
    if _NUM_NAMES.search(name):
        return [3, 0, -1, 2.5, 100]
    if _LIST_NAMES.search(name):
        return [[1, 2, 3], []]
    return [1, "abc", [1, 2], None]


def _unique(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not any(same_value(v, o) and type(v) is type(o) for o in out):
            out.append(v)
    return out


def signature_scenarios(target: JsTarget, base: Sequence[Any] | None = None
                        ) -> list[JsScenario]:
    """Calls built from the parameters: a typical call, then one parameter varied at a time."""
    params = [p for p in target.params if not p.rest]
    options = [_values_for(p) for p in params]
    typical = list(base) if base is not None and len(base) == len(params) else [
        o[0] for o in options]
    calls: list[tuple[Any, ...]] = [tuple(typical)]
    for i, values in enumerate(options):
        for v in values:
            row = list(typical)
            row[i] = v
            calls.append(tuple(row))
    if params and all(p.optional for p in params):
        calls.insert(1, ())
    out: list[JsScenario] = []
    seen: set[tuple[str, str]] = set()
    for args in calls:
        s = JsScenario(target.name, args, "signature")
        if s.key not in seen:
            seen.add(s.key)
            out.append(s)
    return out[:MAX_SIGNATURE_CALLS]


def merge(*groups: Sequence[JsScenario]) -> list[JsScenario]:
    out: list[JsScenario] = []
    seen: set[tuple[str, str]] = set()
    for group in groups:
        for s in group:
            if s.key not in seen:
                seen.add(s.key)
                out.append(s)
    return out


FEW_SHOT = '''// Example calls of JavaScript functions: typical inputs, edge cases, invalid inputs.

function clamp(value, low, high) {
  return Math.max(low, Math.min(value, high));
}

clamp(5, 0, 10);
clamp(-3, 0, 10);
clamp(15, 0, 10);
clamp(0, 0, 0);

function initials(fullName) {
  return fullName.split(" ").filter(Boolean).map((w) => w[0].toUpperCase()).join("");
}

initials("Ada Lovelace");
initials("");
initials("grace brewster murray hopper");
initials("  x  ");

'''


async def model_scenarios(backend: Backend, target: JsTarget, language: str
                          ) -> list[JsScenario]:
    """Calls the model proposes for ``target`` (parsed as literals; the text is not trusted).

    A base model is asked for one call at a time, each accepted call added to the prompt (so
    its start stays the same and the KV cache is reused), the temperature raised a little per
    attempt; a chat model answers one request with several ``name(...) // => result`` lines.
    """
    source = target.text[:2500]
    if await prefers_chat(backend):
        lang = "TypeScript" if language == "typescript" else "JavaScript"
        user = (f"```{language}\n{source}\n```\nWrite 8 different calls of `{target.name}` that "
                "unit tests should check: typical inputs, edge cases and invalid inputs. One per "
                f"line, in the form\n{target.name}(...) // => expected_result\n"
                "Use only literal arguments (numbers, strings, arrays, objects).")
        result = await backend.chat(ChatRequest(
            [ChatMessage("system", f"You propose unit test cases for {lang} code. Answer "
                                   "only with lines of code, no explanations."),
             ChatMessage("user", user)], max_tokens=400, temperature=0.0, time_limit=90.0))
        return calls_in_text(result.text, target, "model")[:16]
    return await calls_one_at_a_time(
        backend, f"{FEW_SHOT}{source}\n\n", f"{target.name}(",
        lambda text: calls_in_text(text, target, "model"), key=lambda s: s.key,
        line=lambda s: s.call(target.name) + ";", attempts=MODEL_ATTEMPTS, wanted=MODEL_CALLS,
        seconds=MODEL_SECONDS)


# ------------------------------------------------------------------------- render
@dataclass
class JsTest:
    title: str
    target: JsTarget
    scenario: JsScenario
    outcome: JsOutcome
    status: str = "unverified"
    message: str = ""

    def assertion(self) -> str:
        """The test's assertion, with the names of the module."""
        body = self.code({"test": "test", "assert": "assert",
                          self.target.name: self.target.name})
        return body[body.index("{\n") + 2:body.rindex("\n}")]

    def code(self, names: dict[str, str]) -> str:
        test, assert_ = names["test"], names["assert"]
        call = self.scenario.call(names[self.target.name])
        o = self.outcome
        title = string_source(self.title)
        if o.kind == "raises":
            matcher = f"{{ name: {string_source(o.error_name)}" + (
                f", message: {string_source(o.message)}"
                if o.message and "\n" not in o.message and len(o.message) <= 200 else "") + " }"
            check = f"await {assert_}.rejects" if o.is_async else f"{assert_}.throws"
            line = f"{check}(() => {call}, {matcher});"
            if len(line) > 96:
                line = f"{check}(\n    () => {call},\n    {matcher},\n  );"
        else:
            actual = f"await {call}" if o.is_async else call
            line = f"{assert_}.deepStrictEqual({actual}, {o.source});"
            if len(line) > 96:
                line = f"{assert_}.deepStrictEqual(\n    {actual},\n    {o.source},\n  );"
        head = "async () =>" if o.is_async else "() =>"
        return f"{test}({title}, {head} {{\n  {line}\n}});"


def _squeezed(code: str) -> str:
    return re.sub(r",([)\]}])", r"\1", re.sub(r"\s+", "", code))


def _title(scenario: JsScenario, target: JsTarget, outcome: JsOutcome, taken: set[str]) -> str:
    call = scenario.call(target.name)
    if len(call) > MAX_TITLE - 20:
        call = call[:MAX_TITLE - 23] + "...)"
    what = f"throws {outcome.error_name}" if outcome.kind == "raises" else (
        "returns " + (outcome.source if len(outcome.source) <= 24 else "the recorded value"))
    base = f"{call} {what}"
    title, i = base, 2
    while title in taken:
        title = f"{base} ({i})"
        i += 1
    taken.add(title)
    return title


@dataclass(frozen=True)
class Binding:
    module: str  # canonical: "test", "assert", or a resolved file path
    imported: str  # "default" | "module" (the whole module object) | a name


def _canonical_module(spec: str, test_dir: Path) -> str:
    bare = spec.removeprefix("node:")
    if bare == "test":
        return "test"
    if bare in ("assert", "assert/strict"):
        return "assert"
    if spec.startswith("."):
        return os.path.normpath(test_dir / spec)
    return spec


def existing_bindings(text: str, test_dir: Path, language: str) -> tuple[dict[str, Binding],
                                                                         set[str]]:
    """Names an existing test file binds at the top: imports/requires, and everything else."""
    from offpilot.context.languages import by_name

    spec = by_name("typescript" if language == "typescript" else "javascript")
    bindings: dict[str, Binding] = {}
    taken: set[str] = set()
    if spec is None or not text.strip():
        return bindings, taken
    root = spec.parser().parse(text.encode("utf-8")).root_node

    def module_of(string_node: Any) -> str | None:
        try:
            value = parse_literal(_text(string_node))
        except LiteralError:
            return None
        return _canonical_module(value, test_dir) if isinstance(value, str) else None

    def required(value: Any) -> str | None:
        if value is None or value.type != "call_expression":
            return None
        fn, args = value.child_by_field_name("function"), value.child_by_field_name("arguments")
        if _text(fn) != "require" or args is None or len(args.named_children) != 1 \
                or args.named_children[0].type != "string":
            return None
        return module_of(args.named_children[0])

    for stmt in root.named_children:
        if stmt.type == "import_statement":
            src = stmt.child_by_field_name("source")
            module = module_of(src) if src is not None else None
            for clause in stmt.named_children:
                if clause.type != "import_clause":
                    continue
                for part in clause.named_children:
                    if part.type == "identifier":
                        bindings[_text(part)] = Binding(module or "?", "default")
                    elif part.type == "namespace_import":
                        for ident in part.named_children:
                            bindings[_text(ident)] = Binding(module or "?", "module")
                    elif part.type == "named_imports":
                        for sp in part.named_children:
                            name, alias = sp.child_by_field_name("name"), \
                                sp.child_by_field_name("alias")
                            if name is not None:
                                bindings[_text(alias or name)] = Binding(module or "?",
                                                                         _text(name))
        elif stmt.type in ("lexical_declaration", "variable_declaration"):
            for d in stmt.named_children:
                if d.type != "variable_declarator":
                    continue
                name, value = d.child_by_field_name("name"), d.child_by_field_name("value")
                module = required(value)
                if name is None:
                    continue
                if name.type == "identifier":
                    if module is not None:
                        bindings[_text(name)] = Binding(module, "module")
                    else:
                        taken.add(_text(name))
                elif name.type == "object_pattern" and module is not None:
                    for prop in name.named_children:
                        if prop.type == "shorthand_property_identifier_pattern":
                            bindings[_text(prop)] = Binding(module, _text(prop))
                        elif prop.type == "pair_pattern":
                            key, val = prop.child_by_field_name("key"), \
                                prop.child_by_field_name("value")
                            if key is not None and val is not None and val.type == "identifier":
                                bindings[_text(val)] = Binding(module, _text(key))
                else:
                    taken.update(re.findall(r"[A-Za-z_$][\w$]*", _text(name)))
        elif stmt.type in ("function_declaration", "class_declaration",
                           "generator_function_declaration"):
            name = stmt.child_by_field_name("name")
            if name is not None:
                taken.add(_text(name))
    return bindings, taken


def _same_binding(have: Binding, want: Binding) -> bool:
    if want.module in ("test", "assert"):
        return have.module == want.module and have.imported in (
            "default", "module", "test" if want.module == "test" else "strict")
    if have.module not in (want.module, os.path.splitext(want.module)[0]):
        return False
    if want.imported == "module":
        return have.imported in ("module", "default")
    return have.imported == want.imported


def _quoted(spec: str) -> str:
    return "'" + spec.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _import_lines(missing: Sequence[tuple[str, Binding]], esm: bool, specs: dict[str, str]
                  ) -> list[str]:
    """Import (or require) statements for the bindings a block of tests lacks."""
    groups: dict[str, dict[str, Any]] = {}
    for alias, b in missing:
        g = groups.setdefault(b.module, {"default": "", "whole": "", "named": []})
        if b.imported == "default" and esm:
            g["default"] = alias
        elif b.imported in ("module", "default"):
            g["whole"] = alias
        else:
            sep = " as " if esm else ": "
            g["named"].append(b.imported if alias == b.imported else f"{b.imported}{sep}{alias}")
    lines: list[str] = []
    for module, g in groups.items():
        spec = _quoted(specs.get(module, module))
        if esm:
            parts = [g["default"]] if g["default"] else []
            if g["named"]:
                parts.append("{ " + ", ".join(g["named"]) + " }")
            if parts:
                lines.append(f"import {', '.join(parts)} from {spec};")
            if g["whole"]:
                lines.append(f"import {g['whole']} from {spec};")
        else:
            if g["whole"]:
                lines.append(f"const {g['whole']} = require({spec});")
            if g["named"]:
                lines.append(f"const {{ {', '.join(g['named'])} }} = require({spec});")
    return lines


def plan_tests(original: str | None, tests: Sequence[JsTest], mod: JsModule, test_abs: Path,
               rel_source: str, framework: str = "node:test") -> FilePlan:
    """The test file with ``tests`` (a new file, or the existing one with them appended).

    Names the existing file already imports (``test``, ``assert``, the functions) are reused;
    names it uses for something else are avoided (``add2``).
    """
    test_dir = test_abs.parent
    source_abs = os.path.normpath(mod.path)
    bindings, taken = existing_bindings(original or "", test_dir, mod.language)
    taken |= set(bindings)
    names: dict[str, str] = {}
    test_binding = {"vitest": Binding("vitest", "test"),
                    "jest": Binding("@jest/globals", "test")}.get(framework,
                                                                  Binding("test", "default"))
    if framework == "jest" and "test" not in taken:
        names["test"] = "test"  # a global in jest
    needed: list[tuple[str, Binding]] = [("assert", Binding("assert", "default"))]
    if "test" not in names:
        needed.insert(0, ("test", test_binding))
    for t in {t.target.name: t.target for t in tests}.values():
        needed.append((t.name, Binding(source_abs, t.export)))
    missing: list[tuple[str, Binding]] = []
    for local, want in needed:
        have = next((name for name, b in bindings.items() if _same_binding(b, want)), None)
        if have is not None:
            names[local] = have
            continue
        alias, i = local, 2
        while alias in taken:
            alias = f"{local}{i}"
            i += 1
        taken.add(alias)
        names[local] = alias
        missing.append((alias, want))
    spec = os.path.relpath(source_abs, test_dir).replace(os.sep, "/")
    spec = spec if spec.startswith(".") else "./" + spec
    if mod.language == "typescript":
        spec = re.sub(r"\.(m|c)?ts$", lambda m: f".{m.group(1) or ''}js", spec)
    specs = {"test": "node:test", "assert": "node:assert/strict", source_abs: spec}
    esm = mod.kind == "esm" or framework == "vitest"  # vitest transforms every test file
    lines = _import_lines(missing, esm, specs)
    body = "\n\n".join(t.code(names) for t in tests)
    block = ("\n".join(lines) + "\n\n" if lines else "") + body + "\n"
    if not original or not original.strip():
        text = f"// Tests for {rel_source}.\n" + block
        start = len(original or "")
        return FilePlan((original or "") + text, ((start, text),))
    sep = "\n" if original.endswith("\n") else "\n\n"
    insertion = sep + block
    return FilePlan(original + insertion, ((len(original), insertion),))


# ----------------------------------------------------------------------- pipeline
def claim_matches(s: JsScenario, outcome: JsOutcome) -> bool | None:
    """Whether the recorded outcome fulfils the scenario's claim (None: nothing claimed)."""
    if s.expected_raises:
        if outcome.kind != "raises":
            return False
        claimed = s.expected_raises
        return claimed == "Error" or claimed in (outcome.error_name, outcome.error_class)
    if not s.has_expected:
        return None
    return outcome.kind == "value" and same_value(s.expected, outcome.value, loose=True)


def is_ill_typed(s: JsScenario, outcome: JsOutcome) -> bool:
    return (outcome.kind == "raises" and not s.expected_raises
            and outcome.error_name in _ENGINE_ERROR_NAMES
            and bool(_ENGINE_ERROR.search(outcome.message)))


def _shape(o: JsOutcome) -> str:
    v = o.value
    if o.kind == "raises":
        return "raises " + o.error_name
    if v is None or v is UNDEFINED or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int | float):
        return "nan" if isinstance(v, float) and math.isnan(v) else (
            "negative" if v < 0 else "zero" if v == 0 else "positive")
    if isinstance(v, str | list | dict):
        return f"{type(v).__name__}{'' if v else ' empty'}"
    return type(v).__name__


def select(cands: Sequence[tuple[JsScenario, JsOutcome]], limit: int = MAX_TESTS_PER_TARGET
           ) -> list[tuple[JsScenario, JsOutcome]]:
    """A few tests with distinct outcomes: documented examples first, then, greedily, an error
    or a kind of result (negative, empty, null, ...) not yet asserted, then any new value.
    Among equals the docstring and the model beat the signature, short beats long."""
    pool = list(cands)
    chosen: list[tuple[JsScenario, JsOutcome]] = []
    keys: set[tuple[Any, ...]] = set()
    shapes: set[str] = set()

    def take(c: tuple[JsScenario, JsOutcome]) -> None:
        chosen.append(c)
        pool.remove(c)
        keys.add(c[1].key())
        shapes.add(_shape(c[1]))

    for c in [c for c in pool if c[0].origin == "docstring"]:
        if len(chosen) < limit and c[1].key() not in keys:
            take(c)
    while pool and len(chosen) < limit:
        fresh = [c for c in pool if c[1].key() not in keys]
        if not fresh:
            break
        best = min(fresh, key=lambda c: (_shape(c[1]) in shapes,
                                         ORIGIN_RANK.get(c[0].origin, 3),
                                         len(c[0].call(c[0].target))))
        if chosen and _shape(best[1]) in shapes and len(chosen) >= 3:
            break  # only more of the same kind of result
        take(best)
    return chosen


async def _scenarios_for(request: TestGenRequest, result: TestGenResult,
                         targets: Sequence[JsTarget]) -> dict[str, list[JsScenario]]:
    backend, language = request.backend, request.language
    per_target: dict[str, list[JsScenario]] = {}
    model_failed = ""
    deadline = time.monotonic() + MODEL_SECONDS_TOTAL
    for i, t in enumerate(targets):
        docs = example_scenarios(t)
        proposed: list[JsScenario] = []
        if backend is not None and not model_failed and time.monotonic() < deadline:
            request.progress(f"asking the model for test cases of {t.name}",
                             5 + int(30 * i / max(1, len(targets))))
            try:
                proposed = await model_scenarios(backend, t, language)
            except ModelError as exc:
                model_failed = str(exc)
            except Exception as exc:  # a model fault is not a reason to give up; logged
                log.warning("the model failed proposing test cases", exc_info=True)
                model_failed = f"{type(exc).__name__}: {exc}"
        n_params = len([p for p in t.params if not p.rest])
        base = next((s.args for s in [*docs, *proposed] if len(s.args) == n_params), None)
        merged = merge(docs, proposed, signature_scenarios(t, base))
        per_target[t.name] = merged[:MAX_SCENARIOS_PER_TARGET]
        result.model_scenarios += sum(s.origin == "model" for s in per_target[t.name])
    result.scenarios = sum(len(v) for v in per_target.values())
    if model_failed:
        result.notes.append(f"The model was not available ({model_failed}); test cases came "
                            "from the JSDoc and the parameters.")
    elif backend is None:
        result.notes.append("No model was used; test cases came from the JSDoc and the "
                            "parameters.")
    return per_target


def prepare(request: TestGenRequest) -> tuple[JsModule, list[JsTarget], str]:
    """The module, the targets of the request, and the package's ``type``."""
    path = request.path
    _pkg_dir, pkg = package_json(request.root, path)
    package_type = str(pkg.get("type", "")) if isinstance(pkg.get("type"), str) else ""
    mod = read_module(path, request.source, request.language, package_type)
    targets = select_targets(mod, symbol=request.symbol, start_line=request.start_line,
                             end_line=request.end_line, scope=request.scope)
    if not targets:
        raise TargetError(f"no exported function to test at {request.where()} of {path.name} "
                          "(tests import what the module exports)")
    return mod, targets[:MAX_TARGETS], package_type


def _new_result(request: TestGenRequest, layout: TestLayout, targets: Sequence[JsTarget],
                original: str | None) -> TestGenResult:
    root = request.root
    return TestGenResult(root, request.path, request.language, framework="node:test",
                         test_path=confine(root, layout.test_path), original=original,
                         targets=[t.name for t in targets])


async def unverified_from_claims(request: TestGenRequest, mod: JsModule,
                                 targets: Sequence[JsTarget], layout: TestLayout,
                                 original: str | None, *,
                                 not_run: str = RUNNING_OFF_REASON) -> TestGenResult:
    """Tests from the results the JSDoc (or the model) claims, nothing run (``not_run``: why)."""
    root = request.root
    result = _new_result(request, layout, targets, original)
    result.verified = False
    result.framework = layout.framework
    per_target = await _scenarios_for(request, result, targets)
    by_name = {t.name: t for t in targets}
    tests: list[JsTest] = []
    titles: set[str] = set()
    for name, scenarios in per_target.items():
        for s in scenarios:
            record = screen_js_call(result, s, None)
            if record is None:
                continue
            record.reason = "nothing was run"
            if s.expected_raises:
                o = JsOutcome("raises", error_name=s.expected_raises, is_async=by_name[
                    name].is_async)
            elif s.has_expected:
                o = JsOutcome("value", s.expected, to_js(s.expected),
                              is_async=by_name[name].is_async)
            else:
                continue
            tests.append(JsTest(_title(s, by_name[name], o, titles), by_name[name], s, o))
    result.notes.append(f"{not_run[:1].upper()}{not_run[1:]}: only the results claimed by the "
                        "JSDoc or the model became tests.")
    if tests:
        plan = plan_tests(original, tests, mod, confine(root, layout.test_path), request.rel,
                          layout.framework)
        note = "// UNVERIFIED: written by Offpilot without running them; check before relying.\n"
        offset, text = plan.insertions[-1]
        stripped = text.lstrip("\n")
        marked = text[:len(text) - len(stripped)] + note + stripped
        result.plan = FilePlan((original or "")[:offset] + marked + (original or "")[offset:],
                               ((offset, marked),))
        for t in tests:
            result.tests.append(_generated(t, "unverified"))
    return result


def _generated(t: JsTest, status: str) -> GeneratedTest:
    return GeneratedTest(t.title, t.target.name, t.scenario.call(t.target.name),
                         t.scenario.origin, status, t.code({"test": "test", "assert": "assert",
                                                            t.target.name: t.target.name}),
                         t.outcome.as_outcome(), t.title, message=t.message)


@dataclass
class _JsRun:
    """One JavaScript or TypeScript request being characterized: what its steps share."""

    request: TestGenRequest
    result: TestGenResult
    mod: JsModule
    targets: Sequence[JsTarget]
    per_target: dict[str, list[JsScenario]]
    runner: NodeRunner
    project: ProjectRunner
    layout: TestLayout
    original: str | None


async def generate_js(request: TestGenRequest, mod: JsModule, targets: Sequence[JsTarget],
                      layout: TestLayout, runner: NodeRunner, original: str | None
                      ) -> TestGenResult:
    """Characterization tests for ``targets``, kept only when ``node --test`` passes them."""
    root, path, settings = request.root, request.path, request.settings
    result = _new_result(request, layout, targets, original)
    project = project_runner(root, path, layout.framework)
    if project is None:
        project = ProjectRunner()
        result.notes.append(f"{layout.framework} is in package.json but not installed in "
                            f"node_modules, so the tests use node:test (run them with "
                            f"node --test {layout.test_path.as_posix()}).")
    result.framework = project.framework
    if runner.note:
        result.notes.append(runner.note)
    per_target = await _scenarios_for(request, result, targets)
    overlay = {} if _read(path) == request.source else {request.rel: request.source}
    request.progress("copying the project into a sandbox", 36)
    # no address-space limit (V8 reserves gigabytes for WebAssembly); the heap is capped
    async with TestSandbox(root, timeout=settings.test_timeout, overlay=overlay,
                           memory_mb=0, allow_unisolated=settings.allow_unisolated_runs
                           ) as sandbox:
        for nm in node_modules_dirs(root, path):
            sandbox.link(nm.relative_to(root).as_posix(), nm)
        tsx = installed_package(root, path, "tsx") if mod.language == "typescript" else None
        if tsx is not None:
            # ``--import tsx`` resolves from the working folder; a file beside node_modules
            # resolves it from there
            shim = sandbox.write(tsx.parent.parent.relative_to(root).joinpath(
                ".offpilot-tsx.mjs").as_posix(), "import 'tsx';\n")
            runner = replace(runner, flags=("--import", shim.as_uri()))
        return await _characterize(sandbox, _JsRun(request, result, mod, targets, per_target,
                                                    runner, project, layout, original))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


async def _characterize(sandbox: TestSandbox, run: _JsRun) -> TestGenResult:
    """Record every call twice, select tests from the stable results, keep those that pass."""
    result, targets, runner, original = run.result, run.targets, run.runner, run.original
    rel_src, on_progress = run.request.rel, run.request.on_progress
    calls: list[tuple[int, JsScenario]] = []
    record_of: dict[int, CallRecord] = {}
    for scenarios in run.per_target.values():
        for s in scenarios:
            record = screen_js_call(result, s, sandbox.project_dir)
            if record is None:
                continue
            record.ran = True
            record_of[len(calls)] = record
            calls.append((len(calls), s))
    progress(on_progress, f"recording what {len(calls)} calls do with {runner.label}", 40)
    timeout = run.request.settings.test_timeout
    first = await record_calls(sandbox, runner, rel_src, targets, calls, timeout)
    if first.import_error:
        result.notes.append(f"{rel_src} could not be run with {runner.label}: "
                            f"{first.import_error.strip()[-600:]}")
        return result
    again = [(cid, s) for cid, s in calls if cid in first.outcomes
             and first.outcomes[cid].usable]
    progress(on_progress, f"recording {len(again)} calls again in a fresh process", 50)
    second = await record_calls(sandbox, runner, rel_src, targets, again, timeout)
    by_name = {t.name: t for t in targets}
    candidates: dict[str, list[tuple[JsScenario, JsOutcome]]] = {t.name: [] for t in targets}
    timeouts = unstable = ill_typed = 0
    for cid, s in calls:
        o = first.outcomes.get(cid)
        if o is None:
            record_of[cid].reason = "no result was recorded"
            continue
        record_of[cid].result = o.summary()
        claim = claim_matches(s, o) if o.kind in ("value", "raises", "timeout") else None
        if claim is False and (o.usable or o.kind == "timeout"):
            result.possible_bugs.append(PossibleBug(s.target, s.call(s.target), s.origin,
                                                    s.claimed(), o.summary()))
            continue
        if o.kind in ("timeout", "exited"):
            timeouts += 1
            continue
        if not o.usable:
            continue
        o2 = second.outcomes.get(cid)
        if o2 is None or o2.key() != o.key():
            unstable += 1
            continue
        if is_ill_typed(s, o):
            ill_typed += 1
            continue
        result.usable_calls += 1
        candidates[s.target].append((s, o))
    result.notes.append(f"Ran {len(calls)} calls with {runner.label} in the sandbox (twice, in "
                        "two processes) to record what they return or throw.")
    if timeouts:
        result.notes.append(f"{timeouts} call{'s' if timeouts != 1 else ''} hung or ended the "
                            "process and became no test.")
    if unstable:
        result.notes.append(f"{unstable} call{'s' if unstable != 1 else ''} gave different "
                            "results in the two runs (time, randomness) and became no test.")
    if ill_typed:
        result.notes.append(f"{ill_typed} made-up call{'s' if ill_typed != 1 else ''} only "
                            "crashed on an input of the wrong type (TypeError, ...) and became "
                            "no test.")
    tests: list[JsTest] = []
    titles: set[str] = set()
    there = 0
    for name, cands in candidates.items():
        for s, o in select(cands):
            t = JsTest(_title(s, by_name[name], o, titles), by_name[name], s, o)
            if original and _squeezed(t.assertion()) in _squeezed(original):
                there += 1
                continue
            tests.append(t)
    if there:
        result.notes.append(f"Left out {there} recorded test{'s' if there != 1 else ''} that "
                            "the test file already has (from an earlier run).")
    if not tests:
        result.notes.append("Nothing new to add; nothing was written." if there else
                            "None of the recorded calls gave a result a test can assert; "
                            "nothing was written.")
        return result
    return await _run_and_keep(sandbox, run, tests)


async def _run_and_keep(sandbox: TestSandbox, run: _JsRun, tests: list[JsTest]
                        ) -> TestGenResult:
    """Run the tests 3 times with the project's runner; keep those that pass every run."""
    result, mod, runner, project, original = (run.result, run.mod, run.runner, run.project,
                                              run.original)
    settings, on_progress, rel_src = run.request.settings, run.request.on_progress, run.request.rel
    test_abs = confine(sandbox.root, run.layout.test_path)
    test_rel = run.layout.test_path.as_posix()

    command = "node --test" if project.framework == "node:test" else project.framework

    async def verify(batch: list[JsTest], pct: int, label: str) -> NodeRunReport:
        plan = plan_tests(original, batch, mod, test_abs, rel_src, project.framework)
        sandbox.write(test_rel, plan.text)
        progress(on_progress, f"{label} {len(batch)} test{'s' if len(batch) != 1 else ''} "
                               f"with {command} {RUNS} times", pct)
        titles = [t.title for t in batch]
        if project.framework == "node:test":
            return await run_node_tests(sandbox, runner, test_rel, titles, runs=RUNS,
                                        timeout=settings.test_timeout)
        return await run_project_tests(sandbox, runner, project, test_rel, titles,
                                       esm=mod.kind == "esm", runs=RUNS,
                                       timeout=max(settings.test_timeout, 60.0))

    async def verify_noting(batch: list[JsTest], pct: int, label: str) -> NodeRunReport:
        rep = await verify(batch, pct, label)
        if rep.errors and not rep.passed_all:
            result.notes.append("The test run failed: " + rep.errors[0].strip()[-400:])
        return rep

    rep = await verify_noting(tests, 70, "running")
    for t in tests:
        t.message = rep.failed.get(t.title, "")
    kept = [t for t in tests if t.title in rep.passed_all]
    if kept and len(kept) < len(tests):
        # without the failing tests the file is different: it has to pass on its own, too
        rep2 = await verify_noting(kept, 88, "re-running")
        for t in kept:
            if t.title not in rep2.passed_all:
                t.message = rep2.failed.get(t.title, "failed once the failing tests were gone")
        kept = [t for t in kept if t.title in rep2.passed_all]
    kept_titles = {t.title for t in kept}
    records = {(r.target, r.call): r for r in result.calls}
    for t in tests:
        t.status = "kept" if t.title in kept_titles else "failing"
        result.tests.append(_generated(t, t.status))
        record = records.get((t.target.name, t.scenario.call(t.target.name)))
        if record is not None:
            record.test = t.title
            record.reason = "" if t.status == "kept" else "its test failed and was dropped"
    failing = [t for t in tests if t.status == "failing"]
    if failing:
        reasons = "; ".join(f"{t.title}: {_first_line(t.message)}" for t in failing[:3])
        result.notes.append(f"Dropped after failing under {command}: {reasons}"
                            + (" ..." if len(failing) > 3 else "") + ".")
    if kept:
        result.plan = plan_tests(original, kept, mod, test_abs, rel_src, project.framework)
        result.notes.append(f"Verified with {command} ({runner.label}), {RUNS} runs.")
    progress(on_progress, f"kept {len(kept)} of {len(tests)} tests", 98)
    return result


def screen_js_call(result: TestGenResult, s: JsScenario, inside: Path | None
                   ) -> CallRecord | None:
    """List the call in ``result``; its record when it may run, None when an argument is a
    path outside ``inside`` (the sandbox's copy)."""
    record = CallRecord(s.target, s.call(s.target), s.origin)
    result.calls.append(record)
    outside = outside_values(s.args, inside)
    if outside:
        record.reason = f"{NOT_RUN_PATH} ({outside[0][:80]!r})"
        return None
    return record


def _first_line(message: str) -> str:
    for line in message.strip().splitlines():
        if line.strip():
            return line.strip()[:200]
    return "failed"
