"""The command-line completion names the file's language from the language registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from offpilot.cli.complete import language_id_for


@pytest.mark.parametrize(("name", "language"), [
    ("app.py", "python"), ("lib.rs", "rust"), ("main.go", "go"), ("view.tsx", "typescriptreact"),
    ("index.mjs", "javascript"), ("notes.txt", ""), ("Makefile", ""),
])
def test_language_id_comes_from_the_registry(name: str, language: str) -> None:
    assert language_id_for(Path(name)) == language
