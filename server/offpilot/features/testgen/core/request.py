"""One request for tests: the file, the part of it, the model and the settings.

Every language's pipeline takes a :class:`TestGenRequest` instead of a long list of
parameters; the dispatcher builds it once (:mod:`.dispatch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from offpilot.config import Settings
from offpilot.engine.backend import Backend
from offpilot.features.testgen.core.result import ProgressCallback, progress


class TargetError(Exception):
    """Nothing in the request can be tested (no such file, no function there, a language
    Offpilot does not generate tests for); the message says why, for the user."""


@dataclass(frozen=True)
class TestGenRequest:
    """Generate tests for ``path`` (lines are 0-based, like LSP's).

    ``source`` is the file's current text (an unsaved editor buffer); ``test_file_text`` the
    test file's, when it is open in the editor (None: read it from disk).
    """

    root: Path  # resolved
    path: Path  # absolute, inside ``root``
    source: str
    language: str
    symbol: str = ""
    start_line: int = 0
    end_line: int = 0
    scope: str = "symbol"  # "symbol" | "range" | "file"
    backend: Backend | None = None
    settings: Settings = field(default_factory=Settings)
    on_progress: ProgressCallback | None = None
    test_file_text: str | None = None

    __test__ = False

    @property
    def rel(self) -> str:
        """The source file relative to the root, with forward slashes."""
        return self.path.relative_to(self.root).as_posix()

    def progress(self, message: str, pct: int | None) -> None:
        progress(self.on_progress, message, pct)

    def original(self, test_abs: Path) -> str | None:
        """The test file's text when generation starts (None: it does not exist yet)."""
        if self.test_file_text is not None:
            return self.test_file_text
        return read_text(test_abs)

    def focus(self) -> str:
        """The lines the request is about (the whole file for scope "file" or an empty range)."""
        lines = self.source.splitlines()
        if self.scope != "file" and self.end_line > self.start_line:
            return "\n".join(lines[self.start_line:self.end_line + 1])
        return self.source

    def where(self) -> str:
        """The request's target in words, for an error message."""
        if self.symbol:
            return f"'{self.symbol}'"
        if self.scope != "file":
            return f"lines {self.start_line + 1}-{self.end_line + 1}"
        return "the file"


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
