"""``offpilot tests FILE[:SYMBOL]``: generate verified unit tests from the command line.

The same pipeline as the editor command: progress goes to stderr, the test file to stdout,
then the summary (stderr). The file is written next to the project's other tests unless
``--dry-run``; it is written atomically, and not at all if it changed while generating.
``--dry-run`` also runs nothing: no code of the project executes, so its output is the
unverified tests that the docstring's and the model's claims give.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from offpilot.config import Settings, load_settings
from offpilot.engine.backend import Backend, ModelError
from offpilot.engine.manager import CHAT, ModelManager
from offpilot.features.testgen import (
    PathOutsideWorkspace,
    TargetError,
    TestGenResult,
    ensure_inside,
    explain_not_run,
    generate_tests,
)
from offpilot.shared import find_root, setup_logging, write_atomically


def split_target(arg: str) -> tuple[Path, str]:
    """``shop/pricing.py:apply_discount`` -> (path, symbol); a bare path gives no symbol."""
    head, sep, tail = arg.rpartition(":")
    if sep and head and all(part.isidentifier() for part in tail.split(".")):
        return Path(head), tail
    return Path(arg), ""


def write_result(result: TestGenResult) -> str:
    """Write the planned test file; returns a problem message, or "" when written."""
    if result.plan is None or result.test_path is None:
        return "nothing to write"
    path = ensure_inside(result.root, result.test_path)
    try:
        current: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    if current != result.original:
        return f"{path.name} changed while the tests were generated; not written"
    write_atomically(path, result.plan.text)
    return ""


async def run_tests_command(path: Path, symbol: str, *, scope: str, settings: Settings,
                            use_model: bool = True, dry_run: bool = False) -> tuple[int, Any]:
    path = path.resolve()
    root = find_root(path)
    if dry_run:  # a dry run executes nothing of the project
        settings = replace(settings, run_generated_tests=False)
    models = ModelManager(settings)
    backend: Backend | None = None

    def progress(message: str, pct: int | None) -> None:
        shown = f"{pct:3d}% " if pct is not None else ""
        print(f"[offpilot tests] {shown}{message}", file=sys.stderr, flush=True)

    try:
        if use_model:
            progress("loading the model", 0)
            try:
                backend = await models.backend(CHAT)
            except ModelError as exc:
                print(f"offpilot tests: no model ({exc}); using the docstring and signature",
                      file=sys.stderr)
        result = await generate_tests(root, path, symbol=symbol, scope=scope, backend=backend,
                                      settings=settings, on_progress=progress)
    finally:
        await models.close()
    if dry_run:
        explain_not_run(result, "--dry-run")
    problem = "" if dry_run else write_result(result)
    return (0 if result.kept or result.unverified else 1), (result, problem)


def cmd_tests(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    settings, problems = load_settings()
    for p in problems:
        print(f"offpilot: {p}", file=sys.stderr)
    if args.no_run or args.dry_run:  # a dry run executes nothing of the project either
        settings = replace(settings, run_generated_tests=False)
    path, symbol = split_target(args.target)
    if not path.is_file():
        print(f"offpilot tests: {path} is not a file", file=sys.stderr)
        return 2
    scope = args.scope or ("symbol" if symbol else "file")
    try:
        code, (result, problem) = asyncio.run(run_tests_command(
            path, symbol, scope=scope, settings=settings, use_model=not args.no_model,
            dry_run=args.dry_run))
    except (TargetError, PathOutsideWorkspace, OSError, ValueError) as exc:
        print(f"offpilot tests: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json(result.test_path.as_uri() if result.test_path
                                        and result.plan and not problem else ""), indent=1))
    elif result.plan is not None:
        sys.stdout.write(result.plan.text)
    where = result.relative_test_path
    if result.plan is not None and not args.dry_run:
        print(f"offpilot tests: {problem or 'wrote ' + where}", file=sys.stderr)
    print(f"offpilot tests: {result.summary}", file=sys.stderr)
    return code if not problem or args.dry_run else 1


def register(subparsers: Any) -> None:
    """Add ``tests`` to the ``offpilot`` command line."""
    p = subparsers.add_parser(
        "tests", help="generate unit tests for FILE[:SYMBOL] and keep those that pass")
    p.add_argument("target", metavar="FILE[:SYMBOL]",
                   help="a source file, optionally with a function, Class or Class.method")
    p.add_argument("--scope", choices=["symbol", "file"],
                   help="symbol (default with SYMBOL) or every public function of the file")
    p.add_argument("--dry-run", action="store_true",
                   help="run nothing and write nothing: print the unverified tests that the "
                        "docstring's and the model's claims give")
    p.add_argument("--no-model", action="store_true",
                   help="test cases from the docstring and signature only")
    p.add_argument("--no-run", action="store_true",
                   help="run nothing (offpilot.runGeneratedTests off): unverified tests only")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--log-level", default="warning",
                   choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_tests)
