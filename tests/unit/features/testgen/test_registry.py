"""The language registry of test generation: which package handles which file."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest
from offpilot.features.testgen import TargetError, generate_tests, language_of, runs_tests_in
from offpilot.features.testgen.core import registry


@pytest.mark.parametrize(("name", "language"), [
    ("a.py", "python"), ("a.js", "javascript"), ("a.mjs", "javascript"),
    ("a.cjs", "javascript"), ("a.JSX", "javascript"), ("a.ts", "typescript"),
    ("a.tsx", "typescript"), ("a.mts", "typescript"), ("a.go", "go"), ("a.rs", "rust"),
    ("a.java", "java"), ("a.md", None), ("Makefile", None),
])
def test_each_suffix_goes_to_its_language(name: str, language: str | None):
    assert language_of(Path(name)) == language


def test_what_runs_here_follows_the_toolchains():
    assert runs_tests_in("python")
    assert runs_tests_in("javascript") == (shutil.which("node") is not None)
    assert runs_tests_in("rust") == (shutil.which("cargo") is not None)
    assert not runs_tests_in("go") and not runs_tests_in("java")
    assert not runs_tests_in("cobol")


def test_a_suffix_cannot_be_taken_twice():
    class Other:
        name = "Other Python"
        languages: Mapping[str, str] = {"python3": "Python 3"}
        suffixes: Mapping[str, str] = {".py": "python3"}
        drafts: Mapping[str, registry.DraftRules] = {}

    with pytest.raises(ValueError, match=r"\.py files are already handled as python"):
        registry.register(Other())  # type: ignore[arg-type]
    assert language_of(Path("a.py")) == "python"


async def test_an_unknown_language_names_the_known_ones(tmp_path: Path):
    (tmp_path / "notes.md").write_text("# notes\n", encoding="utf-8")
    with pytest.raises(TargetError) as err:
        await generate_tests(tmp_path, tmp_path / "notes.md")
    assert str(err.value) == ("notes.md: Offpilot generates tests for Go, Java, JavaScript, "
                              "Python, Rust and TypeScript files")
