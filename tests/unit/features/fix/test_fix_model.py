"""``offpilot fix`` and ``offpilot explain-error`` end to end: the real embedded model (Gemma 3
270M) and the real sandbox. The small model may or may not find the fix: either outcome is
accepted when it is honest (a verified edit, or "no verified fix" with the idea marked as
unverified), and the user's file is never touched either way."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from offpilot.cli import main
from offpilot.features.testgen.core.sandbox import filesystem_isolation

from .projects import CALC, calc_project

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.mark.skipif(not filesystem_isolation().available,
                    reason="no bubblewrap sandbox on this machine")
def test_fix_returns_a_verified_edit_or_says_there_is_none_and_never_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    root = calc_project(tmp_path)
    monkeypatch.setenv("OFFPILOT_TEST_TIMEOUT", "60")
    monkeypatch.chdir(root)
    digest = hashlib.sha256((root / "calc.py").read_bytes()).hexdigest()
    code = main(["fix", "tests/test_calc.py::test_add", "--json", "--candidates", "2",
                 "--budget", "120"])
    out, err = capsys.readouterr()
    assert hashlib.sha256((root / "calc.py").read_bytes()).hexdigest() == digest
    result = json.loads(out)
    assert result["status"] in ("verified", "no_verified_fix"), err
    assert code == (0 if result["status"] == "verified" else 1)
    assert result["testId"] == "tests/test_calc.py::test_add"
    assert result["function"]["name"] == "add"
    assert result["error"]["type"] == "AssertionError"
    assert sorted(result["passedBefore"]) == [
        "tests/test_calc.py::test_add_negative_zero", "tests/test_calc.py::test_add_zero",
        "tests/test_calc.py::test_mul"]
    assert result["explanation"].startswith("## Why `tests/test_calc.py::test_add` fails")
    assert 1 <= len(result["candidates"]) <= 2
    if result["status"] == "verified":
        edit = result["edit"]
        assert "pass in 3 runs" in result["reason"]
        assert (edit["startLine"], edit["endLine"]) == (1, 3)  # the function only
        fixed = CALC.replace(edit["oldText"], edit["newText"], 1)
        namespace: dict[str, object] = {}
        exec(compile(fixed, "calc.py", "exec"), namespace)
        assert namespace["add"](2, 3) == 5 and namespace["add"](7, 0) == 7  # type: ignore
        assert result["unverifiedIdea"] == ""
    else:
        assert result["edit"] is None
        idea = result["unverifiedIdea"]
        assert idea == "" or idea.startswith("**UNVERIFIED idea, not applied**")


def test_explain_error_on_a_real_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "boom.py").write_text(
        "def ratio(a, b):\n    return a / b\n\n\nprint(ratio(1, 0))\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "pkg/boom.py"], cwd=tmp_path, capture_output=True,
                          text=True, check=False)
    assert "ZeroDivisionError" in done.stderr
    (tmp_path / "tb.txt").write_text(done.stderr, encoding="utf-8")
    code = main(["explain-error", str(tmp_path / "tb.txt"), "--root", str(tmp_path), "--json"])
    out, _err = capsys.readouterr()
    assert code == 0
    result = json.loads(out)
    assert result["type"] == "ZeroDivisionError" and result["message"] == "division by zero"
    assert [f["line"] for f in result["framesShown"]] == [5, 2]
    heading, _, body = result["markdown"].partition("\n\n")
    assert heading == "## ZeroDivisionError at pkg/boom.py:2"
    assert body.strip()  # the model's answer, or the note that it gave none


@pytest.mark.skipif(not filesystem_isolation().available,
                    reason="no bubblewrap sandbox on this machine")
@pytest.mark.parametrize("kind", ["node", "cargo"])
def test_fix_of_a_node_or_cargo_test_is_verified_or_honest_and_never_writes(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]):
    from .node_cargo_projects import js_project, rust_project

    tool = "node" if kind == "node" else "cargo"
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    if kind == "node":
        root, test, source, name = js_project(tmp_path), "test/math.test.js", "src/math.js", \
            "test/math.test.js::adds"
    else:
        root, test, source, name = rust_project(tmp_path), "it_adds", "src/lib.rs", \
            "tests::it_adds"
    monkeypatch.setenv("OFFPILOT_TEST_TIMEOUT", "60")
    monkeypatch.chdir(root)
    digest = hashlib.sha256((root / source).read_bytes()).hexdigest()
    code = main(["fix", test, "--json", "--candidates", "2", "--budget", "120"])
    out, err = capsys.readouterr()
    assert hashlib.sha256((root / source).read_bytes()).hexdigest() == digest
    assert not (root / "target").exists()
    result = json.loads(out)
    assert result["status"] in ("verified", "no_verified_fix"), err
    assert code == (0 if result["status"] == "verified" else 1)
    assert result["testId"] == name
    assert result["function"]["name"] == "add"
    assert result["function"]["path"] == str((root / source).resolve())
    assert len(result["passedBefore"]) == 2
    assert result["explanation"].startswith(f"## Why `{name}` fails")
    assert 1 <= len(result["candidates"]) <= 2
    if result["status"] == "verified":
        assert "pass in 3 runs" in result["reason"]
        assert result["edit"]["startLine"] in (1, 2) and result["unverifiedIdea"] == ""
    else:
        assert result["edit"] is None
        idea = result["unverifiedIdea"]
        assert idea == "" or idea.startswith("**UNVERIFIED idea, not applied**")
