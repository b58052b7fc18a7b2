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


MODULE = '''\
import os
import subprocess

LIMIT = 10


def helper(x):
    return x * 2


def scale(path, x):
    """The size of path, scaled."""
    return os.path.getsize(path) * x - 1
'''


def _check(candidate: str, text: str = MODULE) -> str:
    path = Path("mod.py")
    span = function_span(path, text, text.count("\n"))
    assert span is not None
    return check_edit(path, text, span, candidate)[1]


def test_a_fix_may_use_what_the_function_used_the_file_defines_and_modules_that_compute():
    assert _check("def scale(path, x):\n    return os.path.getsize(path) * x\n") == ""
    assert _check("def scale(path, x):\n    return helper(os.path.getsize(path)) + LIMIT\n") \
        == ""
    assert _check("def scale(path, x):\n    import math\n"
                  "    return math.floor(os.path.getsize(path) * x)\n") == ""


def test_a_fix_that_reaches_further_than_the_function_is_refused():
    cases = {
        "subprocess.run(['rm', '-rf', path])": "starts using subprocess",
        "open(path, 'w').write('')": "starts using open",
        "exec('import shutil')": "starts using exec",
        "__import__('shutil').rmtree(path)": "starts using __import__",
        "x.__class__.__subclasses__()": "uses __class__, __subclasses__",
    }
    for payload, why in cases.items():
        problem = _check(f"def scale(path, x):\n    {payload}\n"
                         "    return os.path.getsize(path) * x\n")
        assert why in problem, (payload, problem)
    problem = _check("def scale(path, x):\n    import shutil\n    shutil.rmtree(path)\n"
                     "    return os.path.getsize(path) * x\n")
    assert "imports shutil" in problem


def test_a_syntax_fix_may_keep_what_the_broken_function_used():
    broken = MODULE.replace("return os.path.getsize(path) * x - 1",
                            "return os.path.getsize(path * x - 1")
    assert _check("def scale(path, x):\n    return os.path.getsize(path) * x - 1\n",
                  broken) == ""
    assert "starts using subprocess" in _check(
        "def scale(path, x):\n    subprocess.call('id')\n    return os.path.getsize(path)\n",
        broken)
