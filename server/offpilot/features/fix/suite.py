"""What one run of a project's tests gave, whatever ran them (pytest, node, cargo)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SuiteRun:
    """One run of some of a project's tests: outcome and failure text per test id."""

    outcomes: dict[str, str] = field(default_factory=dict)  # id -> passed|failed|skipped
    messages: dict[str, str] = field(default_factory=dict)  # id -> failure text
    errors: list[str] = field(default_factory=list)  # what kept tests from running
    output: str = ""  # the runner's own output (its end)
    timed_out: bool = False

    def passed(self) -> set[str]:
        return {k for k, v in self.outcomes.items() if v == "passed"}

    def merge(self, other: SuiteRun) -> None:
        self.outcomes.update(other.outcomes)
        self.messages.update(other.messages)
        self.errors += other.errors


def normalise_test_id(test_id: str) -> str:
    """``./tests\\x.py::t`` -> ``tests/x.py::t``."""
    path, sep, rest = test_id.strip().partition("::")
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path + sep + rest
