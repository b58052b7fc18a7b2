"""Characterization: what the code under test really does for each candidate call.

The calls run in the sandbox (``oracle_runner.py``, a script copied next to the project copy);
the server only reads the JSON lines it writes. A call is recorded as the ``repr`` of its result
when that ``repr`` evaluates back to an equal value (a literal, or a constructor of a known
class), or as the exception type it raised. Each call runs in two processes with different hash
seeds; a call whose outcome differs between them (time, randomness, set order) is not
deterministic and gets no assertion. The first process also collects the lines each call
executes (``sys.settrace``) and which mutants each call kills.

Everything read back is untrusted (the code under test can write to the output file): records
are type-checked and size-limited here, and reprs are validated with :mod:`ast` before any of
them becomes test source.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offpilot.features.testgen.core.outcome import Outcome
from offpilot.features.testgen.core.sandbox import TestSandbox
from offpilot.features.testgen.python.mutants import Mutant, uses_future_annotations
from offpilot.features.testgen.python.target import PyModule, PyTarget

log = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("oracle_runner.py")
PER_CALL_TIMEOUT = 2.0
MUTANT_CALL_TIMEOUT = 0.5
MAX_RECORD_CHARS = 20_000


@dataclass
class Recording:
    call_id: int
    call: str
    target_id: str
    outcome: Outcome
    deterministic: bool = True
    seconds: float = 0.0
    lines: frozenset[int] = frozenset()
    effects: tuple[str, ...] = ()  # what it did outside the project copy (files, processes)


@dataclass
class OracleReport:
    import_error: str = ""
    recordings: dict[int, Recording] = field(default_factory=dict)
    executable: dict[str, frozenset[int]] = field(default_factory=dict)
    killed_by: dict[int, frozenset[int]] = field(default_factory=dict)  # mutant -> calls
    broken_mutants: set[int] = field(default_factory=set)  # did not compile or define
    timed_out: bool = False
    complete: bool = False
    stderr: str = ""


@dataclass(frozen=True)
class CallSpec:
    call_id: int
    target_id: str
    source: str


def _str(v: Any, limit: int = MAX_RECORD_CHARS) -> str:
    return v[:limit] if isinstance(v, str) else ""


def _outcome(raw: Any) -> Outcome:
    if not isinstance(raw, dict):
        return Outcome("missing")
    kind = raw.get("kind")
    if kind == "value" and isinstance(raw.get("repr"), str):
        state = raw.get("state")
        return Outcome("value", repr=_str(raw["repr"]), literal=raw.get("literal") is True,
                       constructible=raw.get("constructible") is True,
                       listed=raw.get("listed") is True, has_float=raw.get("float") is True,
                       value_type=_str(raw.get("type"), 100),
                       state=_str(state) if isinstance(state, str) else None,
                       changed_state=raw.get("changed") is True)
    if kind == "raises" and isinstance(raw.get("type"), str):
        bases = tuple((_str(b[0], 200), _str(b[1], 200)) for b in raw.get("bases") or []
                      if isinstance(b, list) and len(b) == 2)[:20]
        return Outcome("raises", exc_type=_str(raw["type"], 200),
                       exc_module=_str(raw.get("module"), 200), exc_bases=bases)
    if kind in ("timeout", "unrepresentable"):
        return Outcome(kind, value_type=_str(raw.get("type"), 100))
    return Outcome("missing")


def _ints(values: Any, limit: int = 100_000) -> frozenset[int]:
    if not isinstance(values, list):
        return frozenset()
    return frozenset(v for v in values[:limit] if isinstance(v, int) and not isinstance(v, bool))


def parse_records(text: str, calls: Sequence[CallSpec]) -> OracleReport:
    """Read the runner's JSON lines into a report (unknown or malformed lines are skipped)."""
    by_id = {c.call_id: c for c in calls}
    report = OracleReport()
    for line in text.splitlines():
        if len(line) > 4 * MAX_RECORD_CHARS:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        kind = rec.get("type")
        if kind == "import" and rec.get("ok") is not True:
            report.import_error = _str(rec.get("error"), 500) or "the module did not import"
        elif kind == "target" and isinstance(rec.get("id"), str):
            report.executable[rec["id"]] = _ints(rec.get("executable"))
        elif kind == "call" and rec.get("id") in by_id:
            spec = by_id[rec["id"]]
            seconds = rec.get("seconds")
            report.recordings[spec.call_id] = Recording(
                spec.call_id, spec.source, spec.target_id, _outcome(rec.get("outcome")),
                seconds=float(seconds) if isinstance(seconds, int | float) else 0.0,
                lines=_ints(rec.get("lines")),
                effects=tuple(_str(e, 300) for e in rec.get("effects") or []
                              if isinstance(e, str))[:5])
        elif kind == "mutant" and isinstance(rec.get("id"), int):
            if rec.get("error"):
                report.broken_mutants.add(rec["id"])
            else:
                report.killed_by[rec["id"]] = _ints(rec.get("killed_by"))
        elif kind == "done":
            report.complete = True
    return report


def build_spec(sandbox: TestSandbox, mod: PyModule, targets: dict[str, PyTarget],
               calls: Sequence[CallSpec], mutants: Sequence[Mutant], out: Path, *,
               trace: bool, per_call_timeout: float = PER_CALL_TIMEOUT) -> dict[str, Any]:
    rel_root = mod.import_root.resolve().relative_to(sandbox.root)
    rel_file = mod.path.resolve().relative_to(sandbox.root)
    return {
        "import_root": str(sandbox.project_dir / rel_root),
        "module": mod.module,
        "module_file": str(sandbox.project_dir / rel_file),
        "imports": sorted({(c.module, c.name) for c in mod.classes.values()}),
        "targets": [{"id": tid, "name": t.name, "owner": t.owner, "first_line": t.first_line,
                     "last_line": t.last_line} for tid, t in targets.items()],
        "calls": [{"id": c.call_id, "target": c.target_id, "source": c.source} for c in calls],
        "per_call_timeout": per_call_timeout,
        "trace": trace,
        "mutants": [{"id": m.id, "target": m.target_id, "source": m.source,
                     "future_annotations": uses_future_annotations(mod)} for m in mutants],
        "mutant_timeout": MUTANT_CALL_TIMEOUT,
        "out": str(out),
    }


async def _run_once(sandbox: TestSandbox, spec: dict[str, Any], name: str, *,
                    hash_seed: int, timeout: float, calls: Sequence[CallSpec]) -> OracleReport:
    runner = sandbox.write_support("oracle_runner.py", RUNNER.read_text(encoding="utf-8"))
    out = Path(spec["out"])
    out.unlink(missing_ok=True)
    spec_path = sandbox.write_support(f"{name}.json", json.dumps(spec))
    result = await sandbox.run_python(["-B", str(runner), str(spec_path)], timeout=timeout,
                                      hash_seed=hash_seed)
    try:
        with out.open("r", encoding="utf-8", errors="replace") as fh:
            text = fh.read(64 * 1024 * 1024)
    except OSError:
        text = ""
    report = parse_records(text, calls)
    report.timed_out = result.timed_out
    report.stderr = result.stderr[-2000:]
    if not report.complete and not report.import_error and not report.recordings:
        reason = "timed out" if result.timed_out else f"exit status {result.returncode}"
        report.import_error = f"the recording process failed ({reason}): " \
                              f"{result.stderr.strip()[-300:]}"
    return report


async def record_calls(sandbox: TestSandbox, mod: PyModule, targets: dict[str, PyTarget],
                       calls: Sequence[CallSpec], mutants: Sequence[Mutant] = (), *,
                       timeout: float = 60.0) -> OracleReport:
    """Run every call twice (two processes, two hash seeds) and the mutants once."""
    first_spec = build_spec(sandbox, mod, targets, calls, mutants,
                            sandbox.support_dir / "oracle-1.jsonl", trace=True)
    first = await _run_once(sandbox, first_spec, "oracle-1", hash_seed=1, timeout=timeout,
                            calls=calls)
    if first.import_error:
        return first
    again = [c for c in calls if c.call_id in first.recordings
             and first.recordings[c.call_id].outcome.usable]
    second_spec = build_spec(sandbox, mod, targets, again, (),
                             sandbox.support_dir / "oracle-2.jsonl", trace=False)
    second = await _run_once(sandbox, second_spec, "oracle-2", hash_seed=2, timeout=timeout,
                             calls=again)
    for call_id, rec in first.recordings.items():
        other = second.recordings.get(call_id)
        rec.deterministic = other is not None and other.outcome.key() == rec.outcome.key()
    return first
