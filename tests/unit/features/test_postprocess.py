"""Syntax-aware post-processing with the real tree-sitter grammars."""

from __future__ import annotations

from offpilot.features.postprocess import postprocess, syntax_cut


def test_a_block_is_cut_where_it_ends_and_the_suffix_keeps_its_closer():
    prefix, suffix = "function f(a) {\n  ", "\n}\n"
    raw = "if (a) {\n    return 1;\n  }\n  return 2;\n}\n\nfunction g() {"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="javascript") == (
        "if (a) {\n    return 1;\n  }\n  return 2;")


def test_a_statement_cut_off_by_the_token_limit_is_dropped():
    prefix, suffix = "def f(xs):\n    out = []\n    ", "\n    return out\n"
    raw = "for x in xs:\n        out.append(x)\n    total = sum(\n"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == (
        "for x in xs:\n        out.append(x)")


def test_an_open_docstring_is_closed():
    prefix, suffix = "def price(p, r):\n    ", "\n\ndef other():\n    pass\n"
    raw = '"""Price after a tax rate.\n\n    >>> price(1000, 15)'
    out = postprocess(raw, prefix=prefix, suffix=suffix, language="python")
    assert out == '"""Price after a tax rate.\n\n    >>> price(1000, 15)\n    """'


def test_a_line_repeating_the_code_below_ends_the_completion():
    prefix, suffix = "def f(xs):\n    total = 0\n    for x in xs:\n        ", "\n    return total\n"
    raw = "total += x\n    return total\n\ndef g():\n    pass"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == "total += x"


def test_no_grammar_or_one_line_leaves_the_text_alone():
    assert syntax_cut("a\nb(", prefix="", suffix="", language="no-such-language") == "a\nb("
    assert syntax_cut("x = (", prefix="", suffix="", language="python") == "x = ("
