"""The verifier of candidate fixes, on a real sandbox, with HAND-WRITTEN candidates.

The candidates below are written here, not by a model: these tests check that the verifier
accepts a right fix and rejects each kind of wrong one (does not parse, is not minimal, leaves
the test failing, breaks a test that passed, passes only some of the three runs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from offpilot.features.fix.edits import edited_text, function_span, read_source
from offpilot.features.fix.failing_test import TestFixVerifier
from offpilot.features.fix.pytest_runs import run_pytest
from offpilot.features.testgen.core.sandbox import TestSandbox, filesystem_isolation

from .projects import CALC, calc_project

CALC_REST = CALC[CALC.index("\n\n\ndef mul"):]

pytestmark = pytest.mark.skipif(not filesystem_isolation().available,
                                reason="no bubblewrap sandbox on this machine")

TARGET = "tests/test_calc.py::test_add"

RIGHT = '''\
def add(a, b):
    """The sum of a and b."""
    return a + b
'''
HARD_CODED = '''\
def add(a, b):
    return 5
'''
STILL_WRONG = '''\
def add(a, b):
    return a * b
'''
NOT_PYTHON = '''\
def add(a, b):
    return (a + b
'''
RENAMED = '''\
def plus(a, b):
    return a + b
'''
EXTRA_FUNCTION = '''\
def add(a, b):
    return a + b


def helper():
    return 1
'''
# right on the first two runs, wrong from the third: a counter file in the project copy. (The
# function already used pathlib, so the candidate may: the verifier refuses a fix that starts
# using a module the function did not.)
FLAKY_CALC = """\
import pathlib


def add(a, b):
    \"\"\"The sum of a and b.\"\"\"
    pathlib.Path(__file__)
    return a - b
"""
FLAKY = '''\
def add(a, b):
    counter = pathlib.Path(__file__).with_name("runs.txt")
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    return a + b if n < 2 else a - b
'''


@pytest.fixture
async def verifier(tmp_path: Path):
    root = calc_project(tmp_path)
    path = root / "calc.py"
    text = read_source(path)
    span = function_span(path, text, 3)
    assert span is not None and span.name == "add" and (span.start_line, span.end_line) == (1, 3)
    async with TestSandbox(root, timeout=60) as sandbox:
        before = await run_pytest(sandbox, timeout=60)
        assert before.outcomes[TARGET] == "failed"
        passed = sorted(before.passed())
        assert passed == ["tests/test_calc.py::test_add_negative_zero",
                          "tests/test_calc.py::test_add_zero", "tests/test_calc.py::test_mul"]
        yield TestFixVerifier(sandbox, rel_path="calc.py", text=text, span=span,
                              target_id=TARGET, passed_before=passed, runs=3, timeout=60)
    assert read_source(path) == text  # the user's file is never written


async def test_a_right_fix_is_verified_as_an_edit_of_the_function_only(verifier):
    edit, verdict = await verifier.check(RIGHT)
    assert verdict.verified and verdict.stage == "verified", verdict.reason
    assert edit is not None and (edit.start_line, edit.end_line) == (1, 3)
    assert "-    return a - b\n+    return a + b\n" in edit.diff
    changed = [ln for ln in edit.diff.splitlines()[2:] if ln.startswith(("-", "+"))]
    assert changed == ["-    return a - b", "+    return a + b"]
    assert edited_text(verifier.text, edit) == verifier.text.replace("a - b", "a + b")
    # the sandbox's copy is put back after the check
    assert read_source(verifier.sandbox.project_dir / "calc.py") == verifier.text


async def test_a_fix_that_breaks_a_test_that_passed_is_rejected(verifier):
    edit, verdict = await verifier.check(HARD_CODED)
    assert edit is None and verdict.stage == "regression"
    assert "passed before" in verdict.reason


async def test_a_fix_that_leaves_the_test_failing_is_rejected(verifier):
    edit, verdict = await verifier.check(STILL_WRONG)
    assert edit is None and verdict.stage == "target"
    assert "still fails" in verdict.reason


@pytest.mark.parametrize("candidate, why", [
    (NOT_PYTHON, "parse"), (RENAMED, "defines 'plus'"), (EXTRA_FUNCTION, "one function"),
    ('def add(a, b):\n    """The sum of a and b."""\n    return a - b\n', "as it is"),
])
async def test_static_checks_reject_without_running(verifier, candidate: str, why: str):
    edit, verdict = await verifier.check(candidate)
    assert edit is None and verdict.stage == "static"
    assert why in verdict.reason


async def test_a_fix_must_pass_all_three_runs(tmp_path: Path):
    root = calc_project(tmp_path)
    path = root / "calc.py"
    path.write_text(FLAKY_CALC + CALC_REST, encoding="utf-8")
    text = read_source(path)
    span = function_span(path, text, 6)
    assert span is not None and span.name == "add"
    async with TestSandbox(root, timeout=60) as sandbox:
        before = await run_pytest(sandbox, timeout=60)
        assert before.outcomes[TARGET] == "failed"
        verifier = TestFixVerifier(sandbox, rel_path="calc.py", text=text, span=span,
                                   target_id=TARGET, passed_before=sorted(before.passed()),
                                   runs=3, timeout=60)
        edit, verdict = await verifier.check(FLAKY)
    assert edit is None and verdict.stage == "regression", verdict
    assert verdict.reason.startswith("run 2 of 3: the failing test does not pass")
    assert read_source(path) == text
