"""Documentation without a model: definitions read with the real Python grammar, docstrings in
each style, the parameter check and its fix, the repair of a draft, style detection and the
insertion (the code never changes)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from offpilot.features.docs.checks import TODO, check_source, fix
from offpilot.features.docs.generate import (
    NO_SUMMARY,
    DocsError,
    apply_insertion,
    find_symbol,
    insertion,
    project_style,
    repair,
    undocumented_at,
)
from offpilot.features.docs.styles import GOOGLE, NUMPY, REST, detect_style, parse_docstring
from offpilot.features.docs.symbols import definitions

from tests.lsp.test_docs import without_docstrings

CODE = '''
class Store:
    def __init__(self, name, *items):
        self.name = name

    @staticmethod
    def make(a: int, b=2, *rest, key: str = "k", **kw) -> int:
        def inner():
            raise KeyError("inner")
            return 5
        if a < 0:
            raise ValueError("a must be positive")
        try:
            pass
        except OSError as exc:
            raise exc
        return a + b

    def clear(self, force=False):
        if not force:
            return None
        yield 1


def one_liner(x): return x
'''


def by_name(source: str) -> dict:
    return {d.name: d for d in definitions(source)}


def test_definitions_read_parameters_returns_and_raises():
    defs = by_name(CODE)
    store, make, inner, clear = defs["Store"], defs["make"], defs["inner"], defs["clear"]
    assert store.kind == "class" and [p.display for p in store.documented_params] == \
        ["name", "*items"]
    assert defs["__init__"].kind == "method" and [p.name for p in defs["__init__"].params] == \
        ["name", "items"]  # self is not a parameter to document
    assert [p.display for p in make.params] == ["a", "b", "*rest", "key", "**kw"]  # static
    assert make.params[0].annotation == "int" and make.return_annotation == "int"
    assert make.returns_value and make.raises == ("ValueError",)  # not inner's, not `raise exc`
    assert make.raise_messages == {"ValueError": "a must be positive"}
    assert inner.returns_value and inner.raises == ("KeyError",)
    assert not clear.returns_value and clear.is_generator  # `return None` returns nothing
    assert defs["one_liner"].body_on_header
    assert make.body_column == 8 and make.docstring is None


@pytest.mark.parametrize("doc, style, names", [
    ("Sum.\n\n    Args:\n        a (int): First.\n            More.\n        b: Second.\n\n"
     "    Returns:\n        int: The sum.\n    ", GOOGLE, ["a", "b"]),
    ("Sum.\n\n    Parameters\n    ----------\n    a, b : int\n        Numbers.\n    c\n"
     "        Third.\n\n    Returns\n    -------\n    int\n        The sum.\n    ", NUMPY,
     ["a", "b", "c"]),
    ("Sum.\n\n    :param int a: First.\n    :param b: Second.\n    :type b: int\n"
     "    :returns: The sum.\n    ", REST, ["a", "b"]),
    ("Sum of *args.\n\n    Args:\n        *args: Numbers.\n        **kwargs: Options.\n    ",
     GOOGLE, ["args", "kwargs"]),
])
def test_each_style_is_read(doc: str, style: str, names: list[str]):
    parsed = parse_docstring(doc)
    assert parsed.style == style and parsed.names == names and parsed.summary.startswith("Sum")
    assert parsed.returns in ("The sum.", "") if names[0] == "args" else \
        parsed.returns == "The sum."


def test_style_detection_takes_the_most_used_style():
    google = "A.\n\n    Args:\n        x: y.\n"
    numpy = "A.\n\n    Returns\n    -------\n    int\n"
    rest = "A.\n\n    :returns: y.\n"
    assert detect_style([google, numpy, numpy, rest]) == NUMPY
    assert detect_style(["Just prose.", "More prose."]) is None
    assert project_style("def f():\n    '''A.\n\n    :param x: y.\n    '''\n") == REST
    assert project_style("def f(): pass\n") == GOOGLE  # nothing to go by
    assert project_style("def f(): pass\n", setting=NUMPY) == NUMPY


def test_project_style_comes_from_neighbouring_files(tmp_path: Path):
    (tmp_path / "a.py").write_text('def g(x):\n    """G.\n\n    Parameters\n    ----------\n'
                                   '    x\n        X.\n    """\n', encoding="utf-8")
    target = tmp_path / "b.py"
    target.write_text("def f(y):\n    return y\n", encoding="utf-8")
    assert project_style(target.read_text(), target, tmp_path) == NUMPY


MISMATCHED = '''
def google(a, b, **kw):
    """G.

    Args:
        a: A.
        extra: A keyword argument.
    """


def numpy(a, b):
    """N.

    Parameters
    ----------
    a : int
        A.
    c : int
        Gone.

    Returns
    -------
    int
        Something.
    """
    return a


def rest(a, b):
    """R.

    :param a: A.
    :type a: int
    :param z: Gone.
    :returns: Nothing much.
    """


def fine(a, *args):
    """F.

    Args:
        a: A.
    """


def prose(a):
    """Only prose, no parameter section: not checked."""
'''


def test_mismatches_are_found_and_fixed():
    found = {m.definition.name: m for m in check_source(MISMATCHED)}
    assert set(found) == {"google", "numpy", "rest"}  # *args may stay undocumented
    assert [p.name for p in found["google"].missing] == ["b"] and found["google"].phantom == ()
    assert [p.name for p in found["numpy"].missing] == ["b"] and found["numpy"].phantom == ("c",)
    assert found["rest"].phantom == ("z",)
    assert "does not document `b`" in found["rest"].message
    text = MISMATCHED
    for m in sorted(found.values(), key=lambda m: -m.definition.name_line):
        edit = fix(m)
        assert edit is not None
        lines = text.split("\n")
        lines[edit.start:edit.end] = edit.lines
        text = "\n".join(lines)
    assert check_source(text) == []
    assert without_docstrings(text) == without_docstrings(MISMATCHED)
    docs = {d.name: d.docstring.text for d in definitions(text) if d.docstring}
    assert f"b: {TODO}" in docs["google"] and "extra: A keyword argument." in docs["google"]
    assert "c : int" not in docs["numpy"] and f"b\n        {TODO}" in docs["numpy"]
    assert "Something." in docs["numpy"]  # other sections are kept
    assert ":param z:" not in docs["rest"] and f":param b: {TODO}" in docs["rest"]
    assert ":type a: int" in docs["rest"] and ":returns: Nothing much." in docs["rest"]


def test_repair_keeps_only_what_the_code_shows():
    make = by_name(CODE)["make"]
    draft = ("add two numbers\n\n    Args:\n        a: first number\n        zzz: a phantom\n"
             "        key: TODO\n\n    Returns:\n        the sum\n\n    Raises:\n"
             "        TypeError: never raised here\n")
    fixed = repair(draft, make)
    assert fixed.parts.summary == "Add two numbers."
    assert [p[0] for p in fixed.parts.params] == ["a", "b", "*rest", "key", "**kw"]
    assert dict((p[0], p[2]) for p in fixed.parts.params) == {
        "a": "First number.", "b": TODO, "*rest": TODO, "key": TODO, "**kw": TODO}
    assert fixed.parts.returns == ("int", "The sum.")
    assert fixed.parts.raises == (("ValueError", "a must be positive."),)
    assert fixed.described == 1 and fixed.summarized

    clear = by_name(CODE)["clear"]
    empty = repair("", clear)
    assert empty.parts.summary == NO_SUMMARY and not empty.summarized
    assert empty.parts.returns is None  # returns None / a generator: no Returns section


def test_text_copied_from_the_prompt_example_is_dropped():
    make = by_name(CODE)["make"]
    fixed = repair("Multiply every value by a factor.\n\n    Args:\n        a: The numbers to "
                   "scale.\n", make)
    assert fixed.parts.summary == NO_SUMMARY and fixed.parts.params[0][2] == TODO


@pytest.mark.parametrize("style", [GOOGLE, NUMPY, REST])
def test_insertion_adds_only_a_docstring(style: str):
    make = by_name(CODE)["make"]
    parts = repair('Add "two" numbers with a \\ backslash.\n', make).parts
    ins = insertion(CODE, make, parts, style)
    out = apply_insertion(CODE, ins)
    assert without_docstrings(out) == without_docstrings(CODE)
    after = by_name(out)["make"]
    assert after.docstring is not None
    parsed = parse_docstring(after.docstring.text)
    assert parsed.names == ["a", "b", "rest", "key", "kw"]
    assert parsed.style == style
    assert out.split("\n")[ins.line].startswith(" " * 8 + ('r"""' if "\\" in
                                                         ins.text else '"""'))
    assert ast.get_docstring(ast.parse(out).body[0].body[1]).startswith("Add")  # type: ignore


def test_targets():
    offset = CODE.encode().index(b"self.name")
    assert undocumented_at(CODE, offset).name == "__init__"  # type: ignore[union-attr]
    assert undocumented_at(CODE, CODE.encode().index(b"one_liner")) is None  # no room
    assert find_symbol(CODE, "Store.clear").name == "clear"
    with pytest.raises(DocsError):
        find_symbol(CODE, "Store.missing")
    with pytest.raises(DocsError):
        insertion(CODE, by_name(CODE)["one_liner"], repair("", by_name(CODE)["one_liner"]).parts,
                  GOOGLE)
