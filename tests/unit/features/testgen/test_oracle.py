"""The oracle records what calls of a real module do, in the sandbox, and which mutants die."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from offpilot.features.testgen.core.sandbox import TestSandbox
from offpilot.features.testgen.python.mutants import make_mutants
from offpilot.features.testgen.python.oracle import CallSpec, parse_records, record_calls
from offpilot.features.testgen.python.target import find_targets, load_module

MODULE = textwrap.dedent('''\
    """A small module under test."""
    import random
    from dataclasses import dataclass, field

    IMPORTED = []


    def clamp(value: int, low: int = 0, high: int = 10) -> int:
        if value < low:
            return low
        if value > high:
            return high
        return value


    def parse_age(text: str) -> int:
        age = int(text)
        if age < 0:
            raise ValueError("negative age")
        return age


    def lucky() -> int:
        return random.randrange(10**9)


    def spin(n: int) -> int:
        while True:
            n += 1


    def opaque(n: int) -> object:
        return object()


    def countdown(n: int):
        while n > 0:
            yield n
            n -= 1


    def ratio(a: int, b: int) -> float:
        return a / b


    @dataclass
    class Counter:
        counts: dict[str, int] = field(default_factory=dict)

        def bump(self, key: str) -> int:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]
''')


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "core.py").write_text(MODULE)
    return tmp_path


async def test_records_values_exceptions_and_determinism(project: Path):
    path = project / "pkg" / "core.py"
    mod = load_module(project, path, MODULE)
    assert mod.module == "pkg.core"
    targets = {name: find_targets(mod, symbol=name)[0]
               for name in ("clamp", "parse_age", "lucky", "spin", "opaque", "countdown",
                            "ratio", "Counter.bump")}
    tids = {name: t for name, t in targets.items()}
    sources = [("clamp", "clamp(-5)"), ("clamp", "clamp(50)"), ("clamp", "clamp(3)"),
               ("parse_age", "parse_age('42')"), ("parse_age", "parse_age('-1')"),
               ("parse_age", "parse_age('x')"), ("lucky", "lucky()"), ("spin", "spin(1)"),
               ("opaque", "opaque(1)"), ("countdown", "countdown(3)"), ("ratio", "ratio(1, 3)"),
               ("Counter.bump", "Counter().bump('a')")]
    calls = [CallSpec(i, tid, src) for i, (tid, src) in enumerate(sources)]
    mutants = make_mutants(mod, targets["clamp"], "clamp")
    async with TestSandbox(project, python=sys.executable) as sb:
        report = await record_calls(sb, mod, tids, calls, mutants, timeout=60)
    assert not report.import_error
    rec = {c.source: report.recordings[c.call_id] for c in calls}
    assert rec["clamp(-5)"].outcome.repr == "0" and rec["clamp(-5)"].deterministic
    assert rec["clamp(50)"].outcome.repr == "10"
    assert rec["parse_age('42')"].outcome.repr == "42"
    assert rec["parse_age('-1')"].outcome.kind == "raises"
    assert rec["parse_age('-1')"].outcome.exc_type == "ValueError"
    assert rec["parse_age('x')"].outcome.exc_type == "ValueError"
    assert not rec["lucky()"].deterministic
    assert rec["spin(1)"].outcome.kind == "timeout"
    assert rec["opaque(1)"].outcome.kind == "unrepresentable"
    assert rec["countdown(3)"].outcome.listed and rec["countdown(3)"].outcome.repr == "[3, 2, 1]"
    assert rec["ratio(1, 3)"].outcome.has_float
    bump = rec["Counter().bump('a')"].outcome
    assert bump.repr == "1" and bump.state == "Counter(counts={'a': 1})"
    # lines executed inside the target, and the lines a test could cover
    clamp_lines = report.executable["clamp"]
    assert rec["clamp(-5)"].lines <= clamp_lines and len(rec["clamp(-5)"].lines) == 2
    assert len(clamp_lines) == 5
    # mutants: each boundary call kills some, and together they kill most
    assert mutants and not report.broken_mutants
    killed = {m for m, by in report.killed_by.items() if by}
    assert len(killed) >= len(mutants) // 2


async def test_import_errors_are_reported(tmp_path: Path):
    (tmp_path / "broken.py").write_text("import does_not_exist\n\ndef f(x: int) -> int:\n"
                                        "    return x\n")
    mod = load_module(tmp_path, tmp_path / "broken.py",
                      (tmp_path / "broken.py").read_text())
    t = find_targets(mod, symbol="f")[0]
    async with TestSandbox(tmp_path, python=sys.executable) as sb:
        report = await record_calls(sb, mod, {"f": t}, [CallSpec(0, "f", "f(1)")])
    assert "does_not_exist" in report.import_error


def test_malformed_runner_output_is_ignored():
    calls = [CallSpec(0, "t", "f(1)")]
    text = "\n".join([
        "not json", "[1, 2]", '{"type": "call", "id": 99, "outcome": {"kind": "value"}}',
        '{"type": "call", "id": 0, "outcome": {"kind": "value", "repr": 5}}',
        '{"type": "mutant", "id": "x"}', '{"type": "target", "id": "t", "executable": "no"}',
    ])
    report = parse_records(text, calls)
    assert report.recordings[0].outcome.kind == "missing"
    assert report.executable["t"] == frozenset()
    assert not report.complete
