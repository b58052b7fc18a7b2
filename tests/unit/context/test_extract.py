"""Queries of every language compile; extraction survives hostile input; outline budget."""

from __future__ import annotations

import pytest
import tree_sitter
from offpilot.context import extract, symbols
from offpilot.context.languages import (
    all_languages,
    by_name,
    for_language_id,
    for_path,
    grammars_dir,
)
from offpilot.context.model import Definition, FileSummary

LANGUAGES = ("python", "javascript", "typescript", "go", "rust", "java", "c", "cpp")
KINDS = ("tags", "imports", "scopes", "identifiers")


def test_every_language_is_registered_and_loads():
    names = [s.name for s in all_languages()]
    assert sorted(names) == sorted((*LANGUAGES, "tsx"))
    for spec in all_languages():
        assert spec.query_kinds() == sorted(KINDS), spec.name
        tree = spec.parser().parse(b"x")
        assert tree.root_node is not None
        for lid in spec.language_ids:
            assert for_language_id(lid) is spec
        for ext in spec.extensions:
            assert for_path(f"dir/file{ext}") is spec
        combined = spec.combined_query("tags", "imports")  # what summarize() runs
        assert combined is not None, spec.name
        query, ranges = combined
        assert list(ranges) == ["tags", "imports"]
        assert query.pattern_count == sum(len(r) for r in ranges.values())


@pytest.mark.parametrize("name", [s.name for s in all_languages()])
@pytest.mark.parametrize("kind", KINDS)
def test_every_query_compiles_against_its_grammar(name: str, kind: str):
    spec = by_name(name)
    assert spec is not None
    path = grammars_dir() / spec.query_dir / f"{kind}.scm"
    assert path.is_file(), path
    # compiled directly so that an error is shown, not logged
    tree_sitter.Query(spec.language(), path.read_text(encoding="utf-8"))
    assert spec.query(kind) is not None


def hostile_inputs() -> dict[str, bytes]:
    return {
        "nested parentheses": b"x = " + b"(" * 10_000 + b"1" + b")" * 10_000 + b"\n",
        "nested braces": b"f() " + b"{" * 10_000 + b"}" * 10_000 + b"\n",
        "nested brackets, unclosed": b"a = " + b"[" * 10_000,
        "nested blocks": b"".join(b"if (x) {\n" for _ in range(10_000)) + b"}\n" * 10_000,
        "one-line script": b"var a=function(b){return b+1},c=[1,2,{d:a(3)}];" * 45_000,
        "invalid utf-8":
            b"def f\xff\xfe(a):\n  '''d\xc3'''\n  return \x80 g(a) // \xed\xa0\x80\n" * 50,
        "many lines": b"int f(int a) { return g(a); }\n" * 20_000,
        "empty": b"",
        "nul bytes": b"\x00" * 1000,
    }


@pytest.mark.parametrize("name", LANGUAGES)
def test_hostile_inputs_finish_without_errors(name: str):
    spec = by_name(name)
    assert spec is not None
    for label, data in hostile_inputs().items():
        summary = extract.summarize(data, spec, "hostile", parse_timeout=2.0)
        assert summary.language == name, label
        for d in summary.definitions:
            assert len(d.signature) <= extract.MAX_SIGNATURE + 1
            assert len(d.doc) <= extract.MAX_DOC + 1
        tree = extract.parse(data, spec, timeout=2.0)
        if tree is None:  # given up on: callers get no tree, nothing else to check
            continue
        for offset in (0, len(data) // 2, len(data)):
            symbols.enclosing_definitions(tree, spec, data, offset)
            symbols.enclosing_definition(tree, spec, data, offset)
            extract.identifiers_around(tree, spec, data, offset)
        extract.calls_in_range(tree, spec, 0, len(data), data)


def test_parse_gives_up_after_its_timeout():
    spec = by_name("python")
    assert spec is not None
    garbage = b"var a=function(b){return b+1};" * 70_000
    assert extract.parse(garbage, spec, timeout=0.01) is None
    summary = extract.summarize(garbage, spec, "x.py", parse_timeout=0.01)
    assert summary.errors and not summary.definitions


def test_str_and_bytes_give_the_same_summary():
    spec = by_name("python")
    assert spec is not None
    text = "def café(x: str) -> str:\n    '''Ünïcode.'''\n    return x\n"
    assert extract.summarize(text, spec, "a.py") == extract.summarize(text.encode(), spec, "a.py")


def _def(name: str, start: int, end: int, signature: str, parent: str = "") -> Definition:
    return Definition(name=name, kind="function", path="a.py", start_line=start, end_line=end,
                      signature=signature, parent=parent)


def test_outline_indents_by_nesting_and_cuts_at_a_line():
    summary = FileSummary("a.py", "python", definitions=(
        _def("A", 1, 10, "class A:"),
        _def("m", 2, 5, "def m(\n        self,\n    ) -> int:", "A"),
        _def("n", 6, 10, "def n(self):", "A"),
        _def("f", 12, 14, "def f():"),
    ))
    full = symbols.outline(summary, 1000)
    assert full == "class A:\n  def m( self, ) -> int:\n  def n(self):\ndef f():"
    cut = symbols.outline(summary, len("class A:\n  def m( self, ) -> int:") + 3)
    assert cut == "class A:\n  def m( self, ) -> int:"
    assert symbols.outline(summary, 3) == ""
