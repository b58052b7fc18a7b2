"""The ``fix`` and ``explain-error`` command lines: bad input is refused clearly, before any
model is loaded, and nothing is written."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from offpilot.cli import main

from .projects import calc_project


def test_fix_refuses_a_test_outside_the_workspace(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]):
    root = calc_project(tmp_path)
    (tmp_path / "elsewhere.py").write_text("def test_x():\n    pass\n")
    code = main(["fix", f"{tmp_path / 'elsewhere.py'}::test_x", "--root", str(root)])
    assert code == 2
    assert "is not a file of the workspace" in capsys.readouterr().err


def test_fix_with_no_run_runs_nothing_and_writes_nothing(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]):
    root = calc_project(tmp_path)
    monkeypatch.chdir(root)
    before = (root / "calc.py").read_bytes()
    code = main(["fix", "tests/test_calc.py::test_add", "--no-run", "--no-model", "--apply"])
    assert code == 2
    assert "not_run: offpilot.runGeneratedTests is off" in capsys.readouterr().err
    assert (root / "calc.py").read_bytes() == before


def test_explain_error_refuses_text_without_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr("sys.stdin", io.StringIO("all good\n"))
    assert main(["explain-error", "-"]) == 2
    assert "no Python traceback or Rust panic" in capsys.readouterr().err
