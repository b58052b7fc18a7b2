"""The whole pipeline on small projects: claims checked against recorded results, tests kept
only when they pass 3 runs, failing ones dropped, nothing run when running is off.

The model here is :class:`FakeChatBackend`, a scripted stand-in, not a model.
"""

from __future__ import annotations

import asyncio
import glob
import re
import sys
import tempfile
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from offpilot.config import Settings
from offpilot.engine.backend import (
    BackendState,
    ChatRequest,
    GenerationResult,
    ModelInfo,
    PromptMode,
    TextRequest,
)
from offpilot.features.testgen import generate_tests
from offpilot.features.testgen.python.render import plan_file

SETTINGS = replace(Settings(), python_path=sys.executable, test_timeout=60.0)


class FakeChatBackend:
    """A FAKE model backend for tests: it is not a model. It answers every chat request with
    the scripted ``answer`` text and records the requests it was given."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.chats: list[ChatRequest] = []
        self.texts: list[TextRequest] = []

    @property
    def state(self) -> BackendState:
        return BackendState.READY

    async def start(self) -> ModelInfo:
        return await self.info()

    async def info(self) -> ModelInfo:
        return ModelInfo(name="fake", path="", architecture="fake",
                         prompt_mode=PromptMode.INSTRUCT, chat_template="{{ fake }}")

    async def chat(self, request: ChatRequest, on_text=None) -> GenerationResult:
        self.chats.append(request)
        return GenerationResult(text=self.answer, stop_reason="stop")

    async def generate(self, request: TextRequest, on_text=None) -> GenerationResult:
        self.texts.append(request)
        return GenerationResult(text="", stop_reason="stop")

    async def close(self) -> None:
        return None


def project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    return root


SHOUT = '''\
    def shout(text: str) -> str:
        """Upper case with an exclamation mark.

        >>> shout("hi")
        'HI!'
        >>> shout("a")
        'a!'
        """
        return text.upper() + "!"
'''


async def test_claims_that_differ_are_reported_not_asserted(tmp_path: Path):
    root = project(tmp_path, {"words.py": SHOUT})
    fake = FakeChatBackend("assert shout('hey') == 'HEY!'\nassert shout('') == ''\n"
                           "assert shout(1 + 1) == 2\nos.remove('x')")
    result = await generate_tests(root, root / "words.py", symbol="shout", backend=fake,
                                  settings=SETTINGS)
    assert fake.chats, "a chat model gets a chat request"
    bugs = {(b.call, b.origin, b.claimed, b.actual) for b in result.possible_bugs}
    assert ("shout('a')", "docstring", "'a!'", "'A!'") in bugs
    assert ("shout('')", "model", "''", "'!'") in bugs
    assert "possible bug" in result.summary
    assert result.kept >= 1 and result.failing == 0
    assert result.plan is not None
    text = result.plan.text
    assert "shout('a')" not in text and "shout('')" not in text
    assert "assert shout('hi') == 'HI!'" in text  # the documented example that holds
    assert result.test_path == (root / "test_words.py").resolve()
    assert not result.test_path.exists()  # the pipeline plans; the caller writes


async def test_tests_that_fail_under_pytest_are_dropped(tmp_path: Path):
    root = project(tmp_path, {"env.py": '''\
        import sys


        def in_pytest() -> bool:
            return "pytest" in sys.modules


        def double(n: int) -> int:
            return 2 * n
    '''})
    result = await generate_tests(root, root / "env.py", scope="file", settings=SETTINGS)
    by_target = {t.target: t.status for t in result.tests}
    assert by_target["in_pytest"] == "failing"  # recorded False, True under pytest: dropped
    assert by_target["double"] == "kept"
    assert result.failing >= 1 and result.kept >= 1
    assert result.plan is not None and "in_pytest" not in result.plan.text
    assert "dropped" in result.summary


async def test_nothing_runs_when_running_is_off(tmp_path: Path):
    marker = tmp_path / "imported.marker"
    root = project(tmp_path / "p", {"words.py": f"import pathlib\n"
                                                f"pathlib.Path({str(marker)!r}).touch()\n\n\n"
                                                + textwrap.dedent(SHOUT)})
    result = await generate_tests(root, root / "words.py", symbol="shout",
                                  settings=replace(SETTINGS, run_generated_tests=False))
    assert not marker.exists(), "the code under test was executed"
    assert result.kept == 0 and result.unverified == 2 and not result.verified
    assert result.plan is not None and "UNVERIFIED" in result.plan.text
    assert "UNVERIFIED" in result.summary


async def test_unittest_projects_get_unittest_tests(tmp_path: Path):
    root = tmp_path
    (root / "calc.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_other.py").write_text(
        "import unittest\n\n\nclass TestOther(unittest.TestCase):\n"
        "    def test_x(self):\n        self.assertTrue(True)\n")
    result = await generate_tests(root, root / "calc.py", symbol="add", settings=SETTINGS)
    assert result.framework == "unittest"
    assert result.kept >= 1, result.summary
    assert result.plan is not None
    assert "class TestAdd(unittest.TestCase):" in result.plan.text
    assert "self.assertEqual(add(" in result.plan.text


async def test_unsaved_source_is_what_gets_tested(tmp_path: Path):
    root = project(tmp_path, {"calc.py": "def add(a: int, b: int) -> int:\n    return a + b\n"})
    unsaved = "def add(a: int, b: int) -> int:\n    return a - b\n"
    result = await generate_tests(root, root / "calc.py", unsaved, symbol="add",
                                  settings=SETTINGS)
    assert result.plan is not None
    asserted = re.findall(r"assert add\((-?\d+), (-?\d+)\) == (-?\d+)", result.plan.text)
    assert asserted
    assert all(int(a) - int(b) == int(c) for a, b, c in asserted)  # the buffer, not the disk


async def test_cancelling_kills_the_sandbox_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # sandboxes of this test only (other runs on the machine make their own in /tmp)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    marker = tmp_path / "finished.marker"
    root = project(tmp_path / "p", {"slow.py": f'''\
        import pathlib
        import time


        def wait(n: int) -> int:
            time.sleep(1.5)
            pathlib.Path({str(marker)!r}).touch()
            return n
    '''})
    before = set(glob.glob(str(scratch / "offpilot-sandbox-*")))
    stages: list[str] = []
    task = asyncio.ensure_future(generate_tests(
        root, root / "slow.py", symbol="wait", settings=SETTINGS,
        on_progress=lambda message, pct: stages.append(message)))
    for _ in range(100):
        if any("recording" in s for s in stages):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(2)
    assert not marker.exists(), "the sandboxed call kept running after the cancel"
    after = set(glob.glob(str(scratch / "offpilot-sandbox-*")))
    assert after <= before
    assert not (root / "test_slow.py").exists()


def test_appending_keeps_the_existing_file_and_adds_missing_imports():
    from offpilot.features.testgen.python.render import Imports, RenderedTest

    original = "import pytest\nfrom shop.models import Cart\n\n\ndef test_old():\n    pass\n"
    new = RenderedTest("test_new", "def test_new():\n    assert f(1) == 2\n",
                       Imports(third_party=frozenset({"pytest"}),
                               names=frozenset({("shop.models", "Cart"), ("shop.text", "f")})))
    plan = plan_file(original, [new], "pytest", "shop.text")
    assert plan.text.startswith("import pytest\nfrom shop.models import Cart\n"
                                "from shop.text import f\n")
    assert plan.text.count("import pytest") == 1
    assert "def test_old():\n    pass\n" in plan.text
    assert plan.text.endswith("def test_new():\n    assert f(1) == 2\n")
    # insertions only: the original text is still there, in order
    pos = 0
    for piece in original.split("\n"):
        pos = plan.text.index(piece, pos)


def _python_without_pytest() -> str | None:
    import shutil
    import subprocess

    for cand in ("/usr/bin/python3", shutil.which("python3")):
        if not cand or not Path(cand).exists():
            continue
        probe = subprocess.run([cand, "-c", "import sys, importlib.util; sys.exit("
                                "sys.version_info < (3, 8) or importlib.util.find_spec('pytest')"
                                " is not None)"], capture_output=True, check=False)
        if probe.returncode == 0:
            return cand
    return None


async def test_without_pytest_the_tests_are_unittest_and_run_with_unittest(tmp_path: Path):
    python = _python_without_pytest()
    if python is None:
        pytest.skip("no Python without pytest on this machine")
    root = project(tmp_path, {"calc.py": "def add(a: int, b: int) -> int:\n    return a + b\n"})
    result = await generate_tests(root, root / "calc.py", symbol="add",
                                  settings=replace(SETTINGS, python_path=python))
    assert result.framework == "unittest"
    assert "pytest is not installed" in result.summary
    assert result.kept >= 1, result.summary
    assert result.plan is not None and "unittest.TestCase" in result.plan.text


def test_appending_unittest_tests_puts_them_before_the_main_guard(tmp_path: Path):
    import subprocess
    import sys

    from offpilot.features.testgen.python.render import Imports, RenderedTest

    original = ('"""Tests for m."""\n\nimport unittest\n\n\nclass TestOld(unittest.TestCase):\n'
                '    def test_old(self):\n        self.assertTrue(True)\n\n\n'
                'if __name__ == "__main__":\n    unittest.main()\n')
    new = RenderedTest("test_new", "def test_new(self):\n    self.assertTrue(True)\n",
                       Imports(stdlib=frozenset({"unittest"})), owner_class="TestNew")
    plan = plan_file(original, [new], "unittest", "m")
    assert plan.text.index("class TestNew") < plan.text.index('if __name__ == "__main__"')
    assert plan.text.endswith('if __name__ == "__main__":\n    unittest.main()\n')
    assert "\n\n\n\nif __name__" not in plan.text  # two blank lines, as before
    (tmp_path / "test_m.py").write_text(plan.text)
    # run as a script, unittest.main() must see both classes
    done = subprocess.run([sys.executable, "test_m.py", "-v"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "test_new" in done.stderr and "Ran 2 tests" in done.stderr
