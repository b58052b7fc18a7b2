"""Characterization tests for Rust: calls of public functions, recorded by running them.

For a top-level ``pub fn`` whose parameters are simple (integers, floats, ``bool``, ``char``,
``&str``, ``String``, and ``Vec``/slices of those) and whose result is too (or an ``Option``,
a ``Vec`` or a tuple of them), calls are built from the parameter types: a typical call, then
one argument varied at a time. A harness, written as one more integration test of the crate
copy in the sandbox, runs each call under ``catch_unwind`` and writes the result's ``{:?}``
(or the panic message) as a JSON line. The Debug text is read back by a small parser and
written again as a Rust expression of the declared type (``vec![1, 2]``, ``Some(3)``,
``"a".to_string()`` where a ``String`` must match exactly): the expected value of an
``assert_eq!``, or ``#[should_panic(expected = ...)]``. Nothing the code printed ever becomes
test source unparsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

INTS = frozenset({"i8", "i16", "i32", "i64", "i128", "isize",
                  "u8", "u16", "u32", "u64", "u128", "usize"})
FLOATS = frozenset({"f32", "f64"})
SCALARS = INTS | FLOATS | {"bool", "char"}
TEXT = frozenset({"&str", "&'staticstr", "String"})
MAX_CALLS_PER_TARGET = 12
MAX_TESTS_PER_TARGET = 4


@dataclass(frozen=True)
class RustTarget:
    name: str
    params: tuple[tuple[str, str], ...]  # (name, type without spaces)
    returns: str  # type without spaces
    first_line: int  # 0-based, with its doc comments
    last_line: int


def _norm(type_text: str) -> str:
    return re.sub(r"\s+", "", type_text)


def _element(ty: str) -> str | None:
    """``Vec<i32>``, ``&[i32]``, ``&Vec<i32>`` -> ``i32``."""
    m = re.fullmatch(r"&?Vec<(.+)>|&\[(.+)\]", ty)
    return (m.group(1) or m.group(2)) if m else None


def param_supported(ty: str) -> bool:
    if ty in SCALARS or ty in ("&str", "String"):
        return True
    inner = _element(ty)
    return inner is not None and (inner in SCALARS or inner in ("&str", "String"))


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "<([":
            depth += 1
        elif c in ">)]":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if text[start:]:
        parts.append(text[start:])
    return parts


def return_supported(ty: str, depth: int = 0) -> bool:
    if depth > 2:
        return False
    if ty in SCALARS or ty in TEXT:
        return True
    m = re.fullmatch(r"(Vec|Option)<(.+)>", ty)
    if m:
        return return_supported(m.group(2), depth + 1)
    if ty.startswith("(") and ty.endswith(")") and ty != "()":
        parts = _split_top(ty[1:-1])
        return 1 < len(parts) <= 4 and all(return_supported(p, depth + 1) for p in parts)
    return False


def _text(node: Any) -> bytes:
    return node.text or b""


def rust_targets(source: str) -> list[RustTarget]:
    """The file's top-level ``pub fn`` items a characterization test can call."""
    from offpilot.context.languages import by_name

    spec = by_name("rust")
    if spec is None:
        return []
    root = spec.parser().parse(source.encode("utf-8")).root_node
    out: list[RustTarget] = []
    first_doc: int | None = None
    for node in root.named_children:
        if node.type == "line_comment" and _text(node).startswith(b"///"):
            first_doc = node.start_point[0] if first_doc is None else first_doc
            continue
        if node.type == "attribute_item":
            continue
        doc_line, first_doc = first_doc, None
        if node.type != "function_item" or node.has_error:
            continue
        vis = next((c for c in node.children if c.type == "visibility_modifier"), None)
        mods = next((c for c in node.children if c.type == "function_modifiers"), None)
        if vis is None or _text(vis) != b"pub" or node.child_by_field_name("type_parameters"):
            continue
        if mods is not None and any(m in _text(mods) for m in (b"async", b"unsafe", b"extern")):
            continue
        name = node.child_by_field_name("name")
        plist = node.child_by_field_name("parameters")
        ret = node.child_by_field_name("return_type")
        if name is None or plist is None or ret is None:
            continue
        params: list[tuple[str, str]] = []
        for p in plist.named_children:
            pattern, ptype = p.child_by_field_name("pattern"), p.child_by_field_name("type")
            if p.type != "parameter" or pattern is None or ptype is None:
                params = []
                break
            params.append((_text(pattern).decode("utf-8", "replace"),
                           _norm(_text(ptype).decode("utf-8", "replace"))))
        if len(params) != len(plist.named_children):
            continue
        returns = _norm(_text(ret).decode("utf-8", "replace"))
        if not all(param_supported(t) for _n, t in params) or not return_supported(returns):
            continue
        first = doc_line if doc_line is not None else node.start_point[0]
        out.append(RustTarget(_text(name).decode("utf-8", "replace"), tuple(params), returns,
                              first, node.end_point[0]))
    return out


# ------------------------------------------------------------------------- calls
def rust_str(text: str) -> str:
    """A Rust string literal for ``text``."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029\ufeff":
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


_SCALAR_VALUES = {"int": ["7", "0", "1", "-1", "100"], "uint": ["7", "0", "1", "100"],
                  "float": ["1.5", "0.0", "-2.0", "10.0"], "bool": ["true", "false"],
                  "char": ["'a'", "'Z'", "'7'"]}
_TEXTS = ["hello", "", "Hello, World!"]


def _scalar_values(ty: str) -> list[str]:
    if ty in INTS:
        return _SCALAR_VALUES["uint" if ty.startswith("u") else "int"]
    if ty in FLOATS:
        return _SCALAR_VALUES["float"]
    return _SCALAR_VALUES[ty]


def _item_values(ty: str) -> list[str]:
    if ty == "&str":
        return [rust_str(t) for t in _TEXTS]
    if ty == "String":
        return [f"String::from({rust_str(t)})" for t in _TEXTS]
    return _scalar_values(ty)


def values_for(ty: str) -> list[str]:
    inner = _element(ty)
    if inner is None:
        return _item_values(ty)
    items = [v for v in _item_values(inner) if v not in ('""', 'String::from("")')][:3]
    if ty.startswith("&["):
        return [f"&[{', '.join(items)}]", "&[]"]
    prefix = "&" if ty.startswith("&") else ""
    return [f"{prefix}vec![{', '.join(items)}]", f"{prefix}Vec::<{inner}>::new()"]


def target_calls(target: RustTarget) -> list[str]:
    """A typical call, then one argument varied at a time."""
    options = [values_for(t) for _n, t in target.params]
    typical = [o[0] for o in options]
    calls = [typical]
    for i, values in enumerate(options):
        for v in values[1:]:
            args = list(typical)
            args[i] = v
            calls.append(args)
    out: list[str] = []
    for args in calls:
        call = f"{target.name}({', '.join(args)})"
        if call not in out:
            out.append(call)
    return out[:MAX_CALLS_PER_TARGET]


HARNESS = r"""// Offpilot test sandbox: runs calls of the code under test, writes what each one did.
#![allow(unused_imports, unused_must_use, clippy::all)]
__USE__

fn offpilot_json(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn offpilot_record<F: FnOnce() -> String + std::panic::UnwindSafe>(id: usize, skip: &[usize],
                                                                  f: F) {
    use std::io::Write;
    if skip.contains(&id) {
        return;
    }
    let path = std::env::var("OFFPILOT_REPORT").unwrap();
    let mut out = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    let _ = writeln!(out, "{{\"id\":{},\"start\":true}}", id);
    let line = match std::panic::catch_unwind(f) {
        Ok(text) => format!("{{\"id\":{},\"kind\":\"value\",\"debug\":{}}}", id,
                            offpilot_json(&text)),
        Err(payload) => {
            let message = payload.downcast_ref::<&str>().map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            format!("{{\"id\":{},\"kind\":\"panics\",\"message\":{}}}", id,
                    offpilot_json(&message))
        }
    };
    let _ = writeln!(out, "{}", line);
}

#[test]
fn offpilot_record_calls() {
    std::panic::set_hook(Box::new(|_| {}));
    let skip: Vec<usize> = std::env::var("OFFPILOT_SKIP").unwrap_or_default().split(',')
        .filter_map(|s| s.parse().ok()).collect();
__CALLS__
}
"""


def harness(use_line: str, calls: Sequence[str]) -> str:
    rows = "\n".join(f"    offpilot_record({i}, &skip, || format!(\"{{:?}}\", {call}));"
                     for i, call in enumerate(calls))
    return HARNESS.replace("__USE__", use_line).replace("__CALLS__", rows)


# ---------------------------------------------------------------- reading results
class DebugError(ValueError):
    pass


_TOKEN = re.compile(r"""\s*(?:(?P<num>-?(?:inf|NaN|\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?))
                    |(?P<str>"(?:[^"\\]|\\.)*")|(?P<chr>'(?:[^'\\]|\\.|\\u\{[0-9a-f]+\})')
                    |(?P<word>true|false|None|Some)|(?P<punct>[\[\](),]))""", re.X | re.S)


def parse_debug(text: str) -> Any:
    """The ``{:?}`` text of a supported value as a tree: ("num", s), ("str", s), ("chr", s),
    ("bool", s), ("none",), ("some", v), ("list", [..]), ("tuple", [..])."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise DebugError(f"unexpected text at {pos}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        if len(tokens) > 2000:
            raise DebugError("too long")
    value, end = _parse(tokens, 0, 0)
    if end != len(tokens):
        raise DebugError("trailing text")
    return value


def _parse(tokens: list[tuple[str, str]], i: int, depth: int) -> tuple[Any, int]:
    if i >= len(tokens) or depth > 6:
        raise DebugError("unexpected end")
    kind, text = tokens[i]
    if kind == "num":
        return ("num", text), i + 1
    if kind == "str":
        return ("str", text), i + 1
    if kind == "chr":
        return ("chr", text), i + 1
    if kind == "word":
        if text in ("true", "false"):
            return ("bool", text), i + 1
        if text == "None":
            return ("none",), i + 1
        if i + 1 < len(tokens) and tokens[i + 1] == ("punct", "("):
            inner, j = _parse(tokens, i + 2, depth + 1)
            if j < len(tokens) and tokens[j] == ("punct", ")"):
                return ("some", inner), j + 1
        raise DebugError("bad Some")
    if text in "[(":
        close = "]" if text == "[" else ")"
        items: list[Any] = []
        j = i + 1
        while j < len(tokens) and tokens[j] != ("punct", close):
            item, j = _parse(tokens, j, depth + 1)
            items.append(item)
            if j < len(tokens) and tokens[j] == ("punct", ","):
                j += 1
        if j >= len(tokens):
            raise DebugError("unclosed")
        return ("list" if text == "[" else "tuple", items), j + 1
    raise DebugError(f"unexpected {text!r}")


def expected_source(value: Any, ty: str, exact: bool = False) -> str | None:
    """``value`` (from :func:`parse_debug`) as a Rust expression of type ``ty``; None when it
    cannot be written (NaN, a value of another shape). ``exact``: inside an Option or a tuple,
    where a ``String`` does not compare with a ``&str``."""
    kind = value[0]
    if ty in INTS:
        return value[1] if kind == "num" and re.fullmatch(r"-?\d+", value[1]) else None
    if ty in FLOATS:
        if kind != "num" or value[1] in ("inf", "-inf", "NaN"):
            return None
        return value[1] if re.search(r"[.e]", value[1]) else value[1] + ".0"
    if ty == "bool":
        return value[1] if kind == "bool" else None
    if ty == "char":
        return value[1] if kind == "chr" else None
    if ty in TEXT:
        if kind != "str":
            return None
        return f"{value[1]}.to_string()" if exact and ty == "String" else value[1]
    m = re.fullmatch(r"(Vec|Option)<(.+)>", ty)
    if m and m.group(1) == "Vec":
        if kind != "list":
            return None
        if not value[1]:
            return f"Vec::<{m.group(2)}>::new()"
        items = [expected_source(v, m.group(2), exact) for v in value[1]]
        return None if None in items else f"vec![{', '.join(items)}]"  # type: ignore[arg-type]
    if m:
        if kind == "none":
            return "None"
        if kind != "some":
            return None
        inner = expected_source(value[1], m.group(2), True)
        return None if inner is None else f"Some({inner})"
    if ty.startswith("(") and kind == "tuple":
        parts = _split_top(ty[1:-1])
        if len(parts) != len(value[1]):
            return None
        items = [expected_source(v, t, True) for v, t in zip(value[1], parts, strict=True)]
        return None if None in items else f"({', '.join(items)})"  # type: ignore[arg-type]
    return None


@dataclass(frozen=True)
class RustOutcome:
    kind: str  # "value" | "panics" | "timeout" | "exited"
    text: str = ""  # the Debug text, or the panic message

    def key(self) -> tuple[str, str]:
        return self.kind, self.text


def read_records(text: str, ids: set[int]) -> tuple[dict[int, RustOutcome], int | None]:
    """Outcomes from the harness's JSON lines (untrusted: checked), and the last call started."""
    outcomes: dict[int, RustOutcome] = {}
    last: int | None = None
    for line in text.splitlines()[:20_000]:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        cid = rec.get("id")
        if not isinstance(cid, int) or isinstance(cid, bool) or cid not in ids:
            continue
        if rec.get("start") is True:
            last = cid
            continue
        kind = rec.get("kind")
        body = rec.get("debug") if kind == "value" else rec.get("message")
        if kind in ("value", "panics") and isinstance(body, str) and cid not in outcomes:
            outcomes[cid] = RustOutcome(str(kind), body[:20_000])
    return outcomes, last


# ------------------------------------------------------------------------ render
def _words(call: str) -> str:
    args = call[call.index("(") + 1:-1]
    words = []
    for arg in _split_top(args)[:3]:
        arg = arg.strip()
        if arg.startswith("-"):
            words.append("minus_" + re.sub(r"\W", "_", arg[1:]))
        elif re.fullmatch(r"[\d.]+", arg):
            words.append(arg.replace(".", "_"))
        elif arg in ('""', 'String::from("")') or arg.endswith(("[]", "::new()")):
            words.append("empty")
        else:
            found = re.findall(r"[a-z0-9]+", arg.lower().replace("string::from", "")
                               .replace("vec!", ""))
            words.append("_".join(found[:2]) or "value")
    return "_".join(w for w in words if w) or "defaults"


def render_test(target: RustTarget, call: str, outcome: RustOutcome, taken: set[str]
                ) -> tuple[str, str] | None:
    """(name, source) of a ``#[test]`` asserting ``outcome``; None when it cannot be written."""
    base = f"{target.name}_{_words(call)}"
    if outcome.kind == "panics":
        base += "_panics"
    base = re.sub(r"_+", "_", base).strip("_")[:60]
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    if outcome.kind == "panics":
        message = outcome.text
        attr = "#[should_panic]"
        if message and "\n" not in message and len(message) <= 120:
            attr = f"#[should_panic(expected = {rust_str(message)})]"
        code = f"#[test]\n{attr}\nfn {name}() {{\n    let _ = {call};\n}}\n"
    else:
        try:
            value = parse_debug(outcome.text)
        except DebugError:
            return None
        expected = expected_source(value, target.returns)
        if expected is None:
            return None
        line = f"    assert_eq!({call}, {expected});"
        if len(line) > 96:
            line = f"    assert_eq!(\n        {call},\n        {expected},\n    );"
        code = f"#[test]\nfn {name}() {{\n{line}\n}}\n"
    taken.add(name)
    return name, code


def squeezed(code: str) -> str:
    """``code`` without whitespace or trailing commas: two tests that assert the same compare
    equal however they are wrapped."""
    return re.sub(r",([)\]])", r"\1", re.sub(r"\s+", "", code))


def _shape(outcome: RustOutcome) -> str:
    if outcome.kind != "value":
        return outcome.kind
    t = outcome.text
    if t in ("0", "0.0", '""', "[]", "None", "false", "-0.0"):
        return "empty " + t
    return "negative" if t.startswith("-") else "value"


def select(cands: Sequence[tuple[str, RustOutcome]], limit: int = MAX_TESTS_PER_TARGET
           ) -> list[tuple[str, RustOutcome]]:
    """A few calls with distinct outcomes: a panic and an empty/zero/negative result before
    more of the same, shorter calls first."""
    chosen: list[tuple[str, RustOutcome]] = []
    keys: set[tuple[str, str]] = set()
    shapes: set[str] = set()
    pool = list(cands)
    while pool and len(chosen) < limit:
        fresh = [c for c in pool if c[1].key() not in keys]
        if not fresh:
            break
        best = min(fresh, key=lambda c: (_shape(c[1]) in shapes, pool.index(c)))
        if _shape(best[1]) in shapes and len(chosen) >= 3:
            break
        chosen.append(best)
        pool.remove(best)
        keys.add(best[1].key())
        shapes.add(_shape(best[1]))
    return chosen
