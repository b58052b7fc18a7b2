"""Where and how the tests of one source file are written (every language fills one in)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TestLayout:
    """Where and how to write tests for one source file."""

    language: str  # "python" | "javascript" | "typescript" | "go" | "rust" | "java"
    framework: str  # "pytest" | "unittest" | "vitest" | "jest" | "node:test" | "go" | ...
    test_path: Path  # relative to the project root
    reason: str  # why this framework, for the summary
    import_style: str = "from"  # Python: "from" (from a.b import f) | "module" (from a import b)
    # | "import" (import a.b)
    toolchain: str | None = None  # the program that runs the tests, when installed

    __test__ = False


def read_text_limited(path: Path, limit: int = 200_000) -> str:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            return fh.read(limit)
    except OSError:
        return ""
