"""An untrusted workspace: ``offpilot fix`` runs none of its code and says why.

The project's ``conftest.py`` writes a canary file when pytest imports it. The control runs
pytest on the project directly to show the canary fires; the fix pipeline must not fire it.
No model is needed: nothing is run, so there is nothing to explain or verify.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from offpilot.config import Settings
from offpilot.features.fix import FixRequest, fix_failing_test
from offpilot.features.fix.failing_test import NOT_RUN
from offpilot.features.trust import RUNNING_OFF_REASON, UNTRUSTED_REASON

from .projects import calc_project


def canary_project(tmp_path: Path) -> tuple[Path, Path]:
    root = calc_project(tmp_path)
    canary = tmp_path / "conftest.canary"
    (root / "conftest.py").write_text(
        f"open({str(canary)!r}, 'w').write('ran')\n", encoding="utf-8")
    return root, canary


def test_the_canary_fires_when_the_tests_are_run(tmp_path: Path):
    root, canary = canary_project(tmp_path)
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root,
                   capture_output=True, check=False, timeout=120)
    assert canary.read_text() == "ran"


async def test_fix_in_an_untrusted_workspace_runs_nothing(tmp_path: Path):
    root, canary = canary_project(tmp_path)
    before = (root / "calc.py").read_bytes()
    messages: list[str] = []
    result = await fix_failing_test(
        FixRequest(root, "tests/test_calc.py::test_add"), backend=None,
        settings=replace(Settings(), workspace_trusted=False), on_text=messages.append)
    assert result.status == NOT_RUN and result.reason == UNTRUSTED_REASON
    assert result.edit is None and result.candidates == [] and messages == []
    assert not canary.exists()
    assert (root / "calc.py").read_bytes() == before


async def test_fix_with_running_turned_off_runs_nothing(tmp_path: Path):
    root, canary = canary_project(tmp_path)
    result = await fix_failing_test(
        FixRequest(root, "tests/test_calc.py::test_add"), backend=None,
        settings=replace(Settings(), run_generated_tests=False))
    assert (result.status, result.reason) == (NOT_RUN, RUNNING_OFF_REASON)
    assert not canary.exists()
