"""Edits of the enclosing function: found with tree-sitter, re-indented, line endings kept."""

from __future__ import annotations

from pathlib import Path

from offpilot.features.fix.edits import (
    check_edit,
    edited_text,
    function_span,
    minimality_problem,
)

CLASS = '''\
class Cart:
    @property
    def total(self):
        return sum(self.items) - 1

    def size(self):
        return len(self.items)
'''


def test_a_method_is_replaced_at_its_indentation_decorator_kept():
    path = Path("cart.py")
    span = function_span(path, CLASS, 4)
    assert span is not None and (span.name, span.start_line, span.end_line) == ("total", 3, 4)
    edit, problem = check_edit(path, CLASS, span,
                               "def total(self):\n    return sum(self.items)\n")
    assert problem == "" and edit is not None
    assert edited_text(CLASS, edit) == CLASS.replace(" - 1", "")
    assert edit.lsp_range() == ((2, 0), (4, 0))


def test_crlf_and_a_last_line_without_a_break_are_kept():
    text = "def f(x):\r\n    return x - 1"
    path = Path("f.py")
    span = function_span(path, text, 2)
    assert span is not None
    edit, problem = check_edit(path, text, span, "def f(x):\n    return x + 1\n")
    assert problem == "" and edit is not None
    assert edited_text(text, edit) == "def f(x):\r\n    return x + 1"
    assert edit.lsp_range() == ((0, 0), (1, 16))


def test_a_candidate_that_rewrites_more_than_the_function_is_not_minimal():
    span = function_span(Path("cart.py"), CLASS, 7)
    assert span is not None and span.name == "size"
    assert "not one function" in minimality_problem(
        span, "import os\n\ndef size(self):\n    return 0\n")
    assert minimality_problem(span, "def size(self):\n    return 0\n") == ""
