"""What test generation produces, for every language: the result, its tests, the calls that
were tried and the claims the code did not fulfil; and the progress callback's type."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offpilot.features.testgen.core.outcome import Outcome
from offpilot.features.testgen.core.plan import FilePlan

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int | None], None]

RUNS = 3  # a generated test is kept when it passes this many runs
NOT_RUN_BLOCKED = "not run: "  # what starts the reason of a call blocked before running
NOT_RUN_PATH = NOT_RUN_BLOCKED + "an argument is a path outside the sandbox's copy"
NOT_RUN_FOREIGN = NOT_RUN_BLOCKED + "it calls code outside the workspace"


def progress(cb: ProgressCallback | None, message: str, pct: int | None) -> None:
    """Report progress; a failing callback (the editor's) is logged, not raised."""
    if cb is not None:
        try:
            cb(message, pct)
        except Exception:  # the caller's code: any error, and generation goes on
            log.warning("the progress callback failed on %r", message, exc_info=True)


@dataclass(frozen=True)
class PossibleBug:
    """A docstring or model claim that the code does not fulfil."""

    target: str
    call: str
    origin: str  # "docstring" | "model"
    claimed: str
    actual: str

    def message(self) -> str:
        source = "the docstring" if self.origin == "docstring" else "the model"
        return (f"{self.call}: {source} expects {self.claimed}, the code gives {self.actual} "
                "(possible bug or wrong expectation)")

    def to_json(self) -> dict[str, str]:
        return {"target": self.target, "call": self.call, "origin": self.origin,
                "claimed": self.claimed, "actual": self.actual, "message": self.message()}


@dataclass
class CallRecord:
    """One candidate call: whether it ran in the sandbox, what it did, what became of it."""

    target: str
    call: str
    origin: str  # "docstring" | "model" | "signature"
    ran: bool = False
    result: str = ""  # the recorded outcome (when it ran)
    test: str = ""  # the test that asserts it, if one was made
    reason: str = ""  # why it did not run, or why no test was kept from it

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "call": self.call, "origin": self.origin,
                "ran": self.ran, "result": self.result, "test": self.test,
                "reason": self.reason}


@dataclass
class GeneratedTest:
    name: str
    target: str  # qualified name of the function under test
    call: str
    origin: str
    status: str  # "kept" | "failing" | "unverified"
    code: str
    outcome: Outcome | None = None
    key: str = ""  # how the runner names it: ``name`` or ``Class::name``
    lines: frozenset[int] = frozenset()
    kills: frozenset[int] = frozenset()
    message: str = ""  # why it failed
    rendered: Any = field(default=None, repr=False)  # the language's own form of it

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "call": self.call,
                "origin": self.origin, "status": self.status,
                "expected": self.outcome.summary() if self.outcome else "",
                **({"failure": self.message[-500:]} if self.message else {})}


@dataclass
class TestGenResult:
    """What generation produced; ``plan`` is the test file to write (None: nothing to write)."""

    root: Path
    source_path: Path
    language: str
    framework: str = ""
    test_path: Path | None = None  # absolute
    original: str | None = None  # the test file's text when generation started
    plan: FilePlan | None = None
    tests: list[GeneratedTest] = field(default_factory=list)
    possible_bugs: list[PossibleBug] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)  # every candidate call
    verified: bool = True
    workspace_trusted: bool = True  # False: nothing ran because the editor does not trust it
    notes: list[str] = field(default_factory=list)
    scenarios: int = 0
    model_scenarios: int = 0
    usable_calls: int = 0  # calls whose recorded outcome a test can assert
    mutants_total: int = 0
    mutants_killed: int = 0
    lines_total: int = 0
    lines_covered: int = 0
    targets: list[str] = field(default_factory=list)

    __test__ = False

    @property
    def kept(self) -> int:
        return sum(t.status == "kept" for t in self.tests)

    @property
    def failing(self) -> int:
        return sum(t.status == "failing" for t in self.tests)

    @property
    def unverified(self) -> int:
        return sum(t.status == "unverified" for t in self.tests)

    @property
    def relative_test_path(self) -> str:
        if self.test_path is None:
            return ""
        try:
            return self.test_path.relative_to(self.root).as_posix()
        except ValueError:
            return str(self.test_path)

    @property
    def summary(self) -> str:
        what = ", ".join(self.targets[:3]) + (" ..." if len(self.targets) > 3 else "")
        where = self.relative_test_path or "no file"
        parts: list[str] = []
        if self.kept:
            detail = [f"each passed {RUNS} runs on the current code"]
            if self.mutants_total:
                detail.append(f"they catch {self.mutants_killed} of {self.mutants_total} "
                              "injected bugs (mutants)")
            if self.lines_total:
                detail.append(f"cover {self.lines_covered} of {self.lines_total} lines")
            parts.append(f"Kept {self.kept} test{'s' if self.kept != 1 else ''} for {what} in "
                         f"{where} ({'; '.join(detail)}).")
        if self.unverified:
            parts.append(f"Wrote {self.unverified} UNVERIFIED test"
                         f"{'s' if self.unverified != 1 else ''} for {what} in {where}: "
                         "Offpilot did not run them; check them before relying on them.")
        if not self.kept and not self.unverified:
            parts.append(f"No test for {what} could be kept; nothing was written.")
        if self.failing:
            parts.append(f"{self.failing} generated test{'s' if self.failing != 1 else ''} "
                         f"failed and {'were' if self.failing != 1 else 'was'} dropped.")
        if self.possible_bugs:
            n = len(self.possible_bugs)
            parts.append(f"{n} possible bug{'s' if n != 1 else ''} or wrong expectation"
                         f"{'s' if n != 1 else ''}: "
                         + "; ".join(b.message() for b in self.possible_bugs[:3])
                         + (" ..." if n > 3 else "") + ".")
        ran = sum(c.ran for c in self.calls)
        blocked = sum(not c.ran and c.reason.startswith(NOT_RUN_BLOCKED) for c in self.calls)
        if ran or blocked:
            why = (f"; {blocked} not run because of a path outside the sandbox's copy or a "
                   "call outside the workspace" if blocked else "")
            parts.append(f"Ran {ran} call{'s' if ran != 1 else ''} of the code in the sandbox"
                         f"{why} (each is listed under calls).")
        parts += self.notes
        return " ".join(parts)

    def to_json(self, test_uri: str = "") -> dict[str, Any]:
        return {
            "summary": self.summary,
            "testFile": test_uri,
            "kept": self.kept,
            "failing": self.failing,
            "unverified": self.unverified,
            "framework": self.framework,
            "language": self.language,
            "verified": self.verified,
            "workspaceTrusted": self.workspace_trusted,
            "tests": [t.to_json() for t in self.tests],
            "possibleBugs": [b.to_json() for b in self.possible_bugs],
            "calls": [c.to_json() for c in self.calls],
            "mutants": {"total": self.mutants_total, "killed": self.mutants_killed},
            "coverage": {"lines": self.lines_total, "covered": self.lines_covered},
            "notes": list(self.notes),
        }
