"""Syntax-aware post-processing with the real tree-sitter grammars."""

from __future__ import annotations

from offpilot.features.postprocess import block_cut, postprocess, syntax_cut


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


def test_a_completion_ends_before_a_line_that_reproduces_a_context_label():
    # Seen after `return ` in a real repository: the model ran past the function and wrote the
    # context block's path label, then another file's code.
    prefix = "def is_known(name):\n    return "
    suffix = "\n\n\ndef other():\n    pass\n"
    raw = "0\n\n# httpx/_utils.py\ndef get_environment_proxies() -> dict:\n    return {}"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == "0"


def test_prompt_structure_never_reaches_the_suggestion():
    prefix, suffix = "def f(x):\n    y = ", "\n    return y\n"
    for raw, want in (("x + 1<|fim_suffix|>\n    return y", "x + 1"),
                      ("x * 2\n```\nFile other.py:", "x * 2"),
                      ("x - 1\n// src/util.ts\nexport const a = 1;", "x - 1"),
                      ("<CURSOR>", "")):
        assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == want


def test_a_comment_that_is_not_a_path_label_stays():
    prefix, suffix = "def f(xs):\n    ", "\n\n\nprint(f([]))\n"
    raw = "# see utils.py for the rules\n    xs.sort()"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == raw


def test_the_completion_stays_in_the_block_the_code_after_the_cursor_continues():
    prefix = "def f(xs):\n    total = 0\n    for x in xs:\n        total += "
    suffix = "\n    return total\n"
    raw = "x\n        count += 1\n    return total * 2\n\ndef g():\n    pass"
    assert block_cut(raw, prefix=prefix, suffix=suffix) == "x\n        count += 1"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == (
        "x\n        count += 1")


def test_at_the_end_of_a_file_a_dedent_is_kept_unless_it_follows_a_blank_line():
    prefix = "def f(xs):\n    for x in xs:\n        print("
    raw = "x)\n    return len(xs)\n\n\ndef g():\n    pass"
    assert block_cut(raw, prefix=prefix, suffix="") == "x)\n    return len(xs)"


def test_an_opening_line_whose_body_follows_the_cursor_is_the_whole_completion():
    prefix = "def f(xs):\n    total = 0\n"
    suffix = "\n        total += x\n    return total\n"  # the cursor on an empty line
    raw = "    for x in xs:\n        total += x * 2\n    return total"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == (
        "    for x in xs:")
    # the same opener with nothing deeper after the cursor keeps its body
    assert postprocess(raw, prefix=prefix, suffix="\n    return total\n",
                       language="python") == "    for x in xs:\n        total += x * 2"


def test_switching_off_the_line_rules_keeps_what_they_would_cut_but_never_prompt_text():
    prefix = "def f(xs):\n    total = 0\n    for x in xs:\n        total += "
    suffix = "\n    return total\n"
    raw = "x\n    return total * 2\n# pkg/other.py\nimport os"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python",
                       line_decision=False, syntax=False) == "x\n    return total * 2"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == "x"


def test_one_statement_when_the_code_after_the_cursor_goes_on_in_the_block():
    prefix = "def f(xs):\n    total = 0\n"
    suffix = "\n    return total\n"  # an empty line opened above the return
    raw = "    for x in xs:\n        total += x\n    total *= 2\n    print(total)"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == (
        "    for x in xs:\n        total += x")
    raw = "    total = sum(xs)\n    total *= 2"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == (
        "    total = sum(xs)")


def test_a_comment_opening_the_statement_is_kept_with_the_statement_it_introduces():
    prefix = "def f(xs):\n    total = 0\n"
    suffix = "\n    return total\n"  # an empty line opened above the return
    raw = "    # add them up\n    total = sum(xs)\n    total *= 2"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == (
        "    # add them up\n    total = sum(xs)")
    # the cursor after the indentation: the comment's column is the cursor's
    assert postprocess("# add them up\n    total = sum(xs)\n    total *= 2",
                       prefix=prefix + "    ", suffix=suffix, language="python") == (
        "# add them up\n    total = sum(xs)")
    # a comment followed by nothing at its own level stays a comment alone
    raw = "    # done\nprint(f([]))"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == "    # done"
    # comments with no statement after them: the first comment line, not all of them
    raw = "    # Sort the list\n    # Sort the list\n    # Sort the list"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == (
        "    # Sort the list")
    # JavaScript's line comment
    prefix, suffix = "function f(xs) {\n  let t = 0;\n", "\n  return t;\n}\n"
    raw = "  // add them up\n  t = xs.length;\n  t *= 2;"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="javascript") == (
        "  // add them up\n  t = xs.length;")


def test_a_completion_that_reaches_the_code_after_the_cursor_keeps_all_it_wrote_before_it():
    prefix = "def f(xs):\n    total = 0\n"
    suffix = "\n    return total\n"  # an empty line opened above the return
    # the model filled the gap with two statements, then wrote the line that follows
    raw = "    total = sum(xs)\n    total *= 2\n    return total\n\ndef g():"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == (
        "    total = sum(xs)\n    total *= 2")
    # it did not reach that line: one statement, as before
    raw = "    total = sum(xs)\n    total *= 2\n    print(total)"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == (
        "    total = sum(xs)")


def test_an_opener_whose_body_follows_keeps_the_lines_that_lead_down_to_that_body():
    prefix = "def f(rows):\n    out = []\n"
    suffix = "\n            out.append(x)\n    return out\n"
    # the model wrote the two blocks that lead to the line after the cursor, then that line
    raw = "    for row in rows:\n        for x in row:\n            out.append(x)\n    return out"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == (
        "    for row in rows:\n        for x in row:")
    # an opener wrapping the existing body: the model's copy of the body is dropped
    prefix, suffix = "def f(xs):\n    total = 0\n", "\n        total += x\n    return total\n"
    raw = "    for x in xs:\n        total += x\n    return total"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == (
        "    for x in xs:")


def test_a_completion_that_reaches_the_code_after_the_cursor_still_stays_in_its_block():
    prefix = "def f(xs):\n    for x in xs:\n"
    suffix = "\n        print(x)\n    return xs\n"
    # on its way to the line after the cursor the model left the loop and came back
    raw = "        x += 1\n    y = 2\n# pkg/util.py\n        print(x)"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language="python") == "        x += 1"
