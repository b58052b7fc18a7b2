"""``offpilot tests`` on a copy of the example project, and drafts for other languages."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
from offpilot.cli import main
from offpilot.cli.tests import split_target
from offpilot.config import Settings
from offpilot.engine.backend import GenerationResult, TextRequest
from offpilot.features.testgen import generate_tests
from offpilot.shared import write_atomically


def test_split_target():
    assert split_target("shop/pricing.py:apply_discount") == (Path("shop/pricing.py"),
                                                              "apply_discount")
    assert split_target("shop/models.py:Cart.add") == (Path("shop/models.py"), "Cart.add")
    assert split_target("shop/pricing.py") == (Path("shop/pricing.py"), "")
    assert split_target("C:/x/y.py") == (Path("C:/x/y.py"), "")


def test_write_atomically_replaces_in_one_step(tmp_path: Path):
    target = tmp_path / "tests" / "test_x.py"
    write_atomically(target, "a = 1\n")
    write_atomically(target, "a = 2\n")
    assert target.read_text() == "a = 2\n"
    assert [p.name for p in target.parent.iterdir()] == ["test_x.py"]


def _cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFPILOT_PYTHON_PATH", sys.executable)
    monkeypatch.setenv("OFFPILOT_TEST_TIMEOUT", "60")


def test_cli_dry_run_prints_tests_and_writes_nothing(demo_project: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]):
    _cli_env(monkeypatch)
    code = main(["tests", f"{demo_project / 'shop' / 'text.py'}:slugify", "--dry-run",
                 "--no-model"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "from shop.text import slugify" in out
    assert "assert slugify('Hello, World!') == 'hello-world'" in out
    assert "UNVERIFIED" in err and "%" in err  # summary and progress on stderr
    assert "Nothing was run (--dry-run)" in err  # a dry run executes nothing of the project
    assert not (demo_project / "tests" / "test_text.py").exists()


def test_cli_writes_the_test_file(demo_project: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]):
    _cli_env(monkeypatch)
    code = main(["tests", f"{demo_project / 'shop' / 'pricing.py'}:format_cents",
                 "--no-model"])
    _out, err = capsys.readouterr()
    assert code == 0, err
    written = (demo_project / "tests" / "test_pricing.py").read_text()
    assert "def test_format_cents_" in written


def test_cli_rejects_what_it_cannot_test(demo_project: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]):
    _cli_env(monkeypatch)
    assert main(["tests", str(demo_project / "README.md"), "--no-model"]) == 2
    assert main(["tests", f"{demo_project / 'shop' / 'text.py'}:nothing", "--no-model"]) == 2
    assert main(["tests", str(demo_project / "missing.py")]) == 2
    err = capsys.readouterr().err
    assert "no public function or method" in err and "not a file" in err


class FakeDraftBackend:
    """A FAKE model backend for tests, not a model: plain text requests get ``answer``."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.prompts: list[str] = []

    async def info(self):  # no chat template: a base model's shape
        from offpilot.engine.backend import ModelInfo, PromptMode

        return ModelInfo(name="fake", path="fake.gguf", architecture="fake",
                         prompt_mode=PromptMode.PREFIX)

    async def generate(self, request: TextRequest, on_text=None) -> GenerationResult:
        self.prompts.append(request.prompt)
        return GenerationResult(text=self.answer, stop_reason="stop")


async def test_other_languages_get_an_unverified_draft(tmp_path: Path):
    (tmp_path / "go.mod").write_text("module example.com/shop\n")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "store.go").write_text(
        "package store\n\nfunc Double(n int) int { return 2 * n }\n")
    fake = FakeDraftBackend('store\n\nimport "testing"\n\nfunc TestDouble(t *testing.T) {\n'
                            '\tif Double(2) != 4 {\n\t\tt.Fatal("Double(2)")\n\t}\n}\n')
    result = await generate_tests(tmp_path, tmp_path / "store" / "store.go", backend=fake,
                                  settings=replace(Settings(), run_generated_tests=True))
    assert result.framework == "go test" and not result.verified
    assert result.unverified == 1 and result.kept == 0
    assert result.test_path == (tmp_path / "store" / "store_test.go").resolve()
    assert result.plan is not None and result.plan.text.startswith("// UNVERIFIED")
    assert "package store" in result.plan.text
    assert "UNVERIFIED" in result.summary
    broken = FakeDraftBackend("store\n\nfunc {{{")
    result = await generate_tests(tmp_path, tmp_path / "store" / "store.go", backend=broken)
    assert result.plan is None and "does not parse" in result.summary
