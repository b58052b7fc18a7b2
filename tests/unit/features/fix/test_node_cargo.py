"""``offpilot fix`` for ``node --test`` files and cargo test names, on the real sandbox with the
real node and cargo.

The verify-and-offer path is driven by HAND-WRITTEN candidates, served by a labelled FAKE
backend (:class:`~.node_cargo_projects.FakeFixBackend`, not a model): one that reaches further
than the code (refused before it runs), one that breaks a test that passed (refused by the
runs), and the right one (offered). The real embedded model is in ``test_fix_model.py``.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from offpilot.config import Settings
from offpilot.features.fix import FixRequest, fix_failing_test
from offpilot.features.fix.edits import (
    brace_reach_problem,
    check_edit,
    edited_text,
    function_span,
    read_source,
)
from offpilot.features.fix.failing_test import NO_VERIFIED_FIX, NOT_RUN, VERIFIED
from offpilot.features.fix.frames import parse_error_text
from offpilot.features.fix.runners import CargoTestRunner, NodeTestRunner, runner_for
from offpilot.features.testgen.core.sandbox import filesystem_isolation
from offpilot.features.trust import UNTRUSTED_REASON

from .node_cargo_projects import (
    JS_REACHES,
    JS_RIGHT,
    JS_WRONG,
    LIB_RS,
    MATH_JS,
    RS_REACHES,
    RS_RIGHT,
    RS_WRONG,
    FakeFixBackend,
    js_project,
    rust_project,
)

SETTINGS = replace(Settings(), test_timeout=60.0)
sandboxed = pytest.mark.skipif(not filesystem_isolation().available,
                               reason="no bubblewrap sandbox on this machine")
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
needs_cargo = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- parsing
NODE_STACK = """\
AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:

-1 !== 5

    at add (file:///tmp/offpilot-sandbox-x1/project/src/math.js:3:10)
    at TestContext.<anonymous> (file:///tmp/offpilot-sandbox-x1/project/test/math.test.js:6:10)
    at Test.runInAsyncScope (node:async_hooks:206:9)
    at node:internal/test_runner/harness:255:12"""

RUST_PANIC = """\
thread 'tests::it_adds' (15999) panicked at src/lib.rs:15:9:
assertion `left == right` failed
  left: -1
 right: 5
stack backtrace:
   4: calc::tests::it_adds
             at ./src/lib.rs:15:9
"""


def test_a_node_stack_is_read_innermost_last_without_node_internals():
    error = parse_error_text(NODE_STACK)
    assert (error.language, error.error_type) == ("javascript", "AssertionError")
    assert error.message == "Expected values to be strictly equal:\n-1 !== 5"
    assert [(f.path, f.line, f.function) for f in error.frames] == [
        ("/tmp/offpilot-sandbox-x1/project/test/math.test.js", 6, "TestContext.<anonymous>"),
        ("/tmp/offpilot-sandbox-x1/project/src/math.js", 3, "add")]


def test_a_rust_panic_with_the_thread_id_of_newer_rust_is_read():
    error = parse_error_text(RUST_PANIC)
    assert (error.language, error.error_type) == ("rust", "panic")
    assert error.message == "assertion `left == right` failed"
    assert [(f.path, f.line) for f in error.frames] == [("./src/lib.rs", 15)]


def test_test_ids_choose_their_runner(tmp_path: Path):
    js = js_project(tmp_path)
    runner, test_id = runner_for(js, "./test/math.test.js", SETTINGS)
    assert isinstance(runner, NodeTestRunner) and test_id == "test/math.test.js"
    crate = rust_project(tmp_path)
    runner, test_id = runner_for(crate, "tests::it_adds", SETTINGS)
    assert isinstance(runner, CargoTestRunner) and test_id == "tests::it_adds"
    assert runner.project == crate.resolve()
    with pytest.raises(ValueError, match="no such test file"):
        runner_for(js, "test/missing.test.js", SETTINGS)
    with pytest.raises(ValueError, match="not in a cargo crate"):
        runner_for(js, "it_adds", SETTINGS)


# ----------------------------------------------------------------------------- static checks
@pytest.mark.parametrize("name, source, line, candidate, why", [
    ("src/math.js", MATH_JS, 3, JS_REACHES, "child_process, execSync, require"),
    ("src/math.js", MATH_JS, 3, "export function add(a, b) {\n  return eval('a+b');\n}\n",
     "eval"),
    ("src/math.js", MATH_JS, 3, "export function add(a, b) {\n  return [].constructor."
     "constructor('return a+b')();\n}\n", "constructor"),
    ("src/lib.rs", LIB_RS, 2, RS_REACHES, "Command, process, std"),
    ("src/lib.rs", LIB_RS, 2, "pub fn add(a: i32, b: i32) -> i32 {\n    let _ = include_str!("
     "\"/etc/passwd\");\n    a + b\n}\n", "include_str"),
    ("src/lib.rs", LIB_RS, 2, "pub fn add(a: i32, b: i32) -> i32 {\n    unsafe { a + b }\n}\n",
     "unsafe"),
])
def test_a_candidate_that_reaches_further_than_the_code_is_refused(
        tmp_path: Path, name: str, source: str, line: int, candidate: str, why: str):
    path = tmp_path / name
    path.parent.mkdir(parents=True)
    path.write_text(source)
    span = function_span(path, source, line)
    assert span is not None and span.name == "add"
    problem = brace_reach_problem(span, candidate, source)
    assert why in problem and "reach further" in problem
    edit, reason = check_edit(path, source, span, candidate)
    assert edit is None and why in reason


@pytest.mark.parametrize("name, source, line, right, extra", [
    ("src/math.js", MATH_JS, 3, JS_RIGHT, "\nexport function helper() {\n  return 1;\n}\n"),
    ("src/lib.rs", LIB_RS, 2, RS_RIGHT, "\npub fn helper() -> i32 {\n    1\n}\n"),
])
def test_only_one_definition_of_the_same_name_replaces_the_function(
        tmp_path: Path, name: str, source: str, line: int, right: str, extra: str):
    path = tmp_path / name
    path.parent.mkdir(parents=True)
    path.write_text(source)
    span = function_span(path, source, line)
    assert span is not None
    edit, reason = check_edit(path, source, span, right)
    assert edit is not None and reason == ""
    assert edited_text(source, edit) == source.replace(span.text, right)
    edit, reason = check_edit(path, source, span, right + extra)
    assert edit is None and "one function definition" in reason
    # a statement after the function on its last line: not the function only either
    edit, reason = check_edit(path, source, span, right.rstrip() + " mul(1, 2);\n")
    assert edit is None and ("one function definition" in reason or "parse" in reason)
    renamed = right.replace("add", "plus")
    edit, reason = check_edit(path, source, span, renamed)
    assert edit is None and "defines 'plus', not 'add'" in reason
    edit, reason = check_edit(path, source, span, right.rstrip().rstrip("}"))
    assert edit is None and "does not parse" in reason


# ----------------------------------------------------------------------------- pipeline
async def _fix(root: Path, test_id: str, fixes: list[str], language: str):
    backend = FakeFixBackend(fixes, language)
    shown: list[str] = []
    result = await fix_failing_test(FixRequest(root, test_id, max_candidates=len(fixes)),
                                    backend=backend, settings=SETTINGS, on_text=shown.append)
    return result, "".join(shown)


@sandboxed
@needs_node
async def test_node_the_right_candidate_is_verified_and_offered_and_the_file_is_untouched(
        tmp_path: Path):
    root = js_project(tmp_path)
    before = digest(root / "src" / "math.js")
    result, shown = await _fix(root, "test/math.test.js", [JS_REACHES, JS_WRONG, JS_RIGHT],
                               "javascript")
    assert result.status == VERIFIED, result.reason
    assert result.test_id == "test/math.test.js::adds"
    assert result.passed_before == ["test/math.test.js::adds zero",
                                    "test/math.test.js::multiplies"]
    assert result.error is not None and result.error.error_type == "AssertionError"
    assert result.span is not None and (result.span.name, result.span.start_line,
                                        result.span.end_line) == ("add", 2, 4)
    stages = [(c.stage, c.verified) for c in result.candidates]
    assert stages == [("static", False), ("regression", False), ("verified", True)]
    assert "child_process" in result.candidates[0].reason
    assert "adds zero, which passed before" in result.candidates[1].reason
    assert result.reason == "the failing test and the 2 test(s) that passed before pass in " \
                            "3 runs"
    edit = result.edit
    assert edit is not None and (edit.start_line, edit.end_line) == (2, 4)
    assert "-  return a - b;\n+  return a + b;\n" in edit.diff
    assert "### Verified fix of `add`" in shown
    assert digest(root / "src" / "math.js") == before


@sandboxed
@needs_node
async def test_node_no_right_candidate_is_an_honest_no_verified_fix(tmp_path: Path):
    root = js_project(tmp_path)
    before = digest(root / "src" / "math.js")
    result, shown = await _fix(root, "test/math.test.js::adds", [JS_REACHES, JS_WRONG],
                               "javascript")
    assert result.status == NO_VERIFIED_FIX and result.edit is None
    assert result.reason == "none of 2 candidate(s) passed verification"
    assert result.unverified_idea.startswith("**UNVERIFIED idea, not applied**")
    assert "```javascript\nexport function add(a, b) {\n  return 5;" in result.unverified_idea
    assert "**No verified fix**" in shown
    assert digest(root / "src" / "math.js") == before


@sandboxed
@needs_cargo
async def test_cargo_the_right_candidate_is_verified_and_offered_and_the_file_is_untouched(
        tmp_path: Path):
    root = rust_project(tmp_path)
    before = digest(root / "src" / "lib.rs")
    result, shown = await _fix(root, "it_adds", [RS_REACHES, RS_WRONG, RS_RIGHT], "rust")
    assert result.status == VERIFIED, result.reason
    assert result.test_id == "tests::it_adds"
    assert result.passed_before == ["tests::it_adds_zero", "tests::it_multiplies"]
    assert result.error is not None and result.error.error_type == "panic"
    # the panic is in the test (in ``mod tests``): the function it calls is the one fixed
    assert result.span is not None and (result.span.name, result.span.start_line,
                                        result.span.end_line) == ("add", 1, 3)
    stages = [(c.stage, c.verified) for c in result.candidates]
    assert stages == [("static", False), ("regression", False), ("verified", True)]
    assert "process" in result.candidates[0].reason
    assert "tests::it_adds_zero, which passed before" in result.candidates[1].reason
    edit = result.edit
    assert edit is not None and "-    a - b\n+    a + b\n" in edit.diff
    assert (root / "src" / "lib.rs").read_text() == LIB_RS
    assert digest(root / "src" / "lib.rs") == before
    assert not (root / "target").exists()  # built in the sandbox's copy only
    assert "### Verified fix of `add`" in shown


@sandboxed
@needs_cargo
async def test_a_panic_inside_the_code_points_at_its_function(tmp_path: Path):
    root = rust_project(tmp_path)
    lib = root / "src" / "lib.rs"
    lib.write_text(LIB_RS.replace("    a * b\n", "    let v: Vec<i32> = vec![a, b];\n"
                                  "    v[a as usize] * b\n"))
    result = await fix_failing_test(FixRequest(root, "it_multiplies"), backend=None,
                                    settings=SETTINGS)
    assert result.status == NO_VERIFIED_FIX and result.reason == "no model to propose a fix"
    assert result.error is not None and "index out of bounds" in result.error.message
    assert result.span is not None and result.span.name == "mul"


async def test_untrusted_workspace_runs_neither_node_nor_cargo(tmp_path: Path):
    untrusted = replace(SETTINGS, workspace_trusted=False)
    for root, test_id, rel in ((js_project(tmp_path), "test/math.test.js", "src/math.js"),
                               (rust_project(tmp_path), "it_adds", "src/lib.rs")):
        before = digest(root / rel)
        backend = FakeFixBackend([JS_RIGHT], "javascript")
        result = await fix_failing_test(FixRequest(root, test_id), backend=backend,
                                        settings=untrusted)
        assert (result.status, result.reason) == (NOT_RUN, UNTRUSTED_REASON)
        assert backend.chats == [] and result.candidates == []
        assert digest(root / rel) == before
        assert not (root / "target").exists()
    assert read_source(tmp_path / "js-project" / "src" / "math.js") == MATH_JS
