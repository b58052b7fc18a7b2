"""``offpilot fix TEST`` and ``offpilot explain-error [FILE|-]``: thin command-line glue.

TEST is a pytest node id, a ``node --test`` file or a cargo test name (of the crate the current
folder is in).

``fix`` streams the explanation and the outcome (Markdown, or one JSON object with ``--json``)
to stdout and progress to stderr; it changes no file unless ``--apply`` is given and the fix was
verified. Exit status: 0 a verified fix (or the test passes), 1 no verified fix, 2 bad input or
nothing could be run, 3 no model.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from offpilot.config import Settings, load_settings
from offpilot.engine.backend import Backend, ModelError
from offpilot.engine.manager import CHAT, ModelManager
from offpilot.features.fix.edits import EditConflict, apply_edit
from offpilot.features.fix.explain_error import explain_traceback
from offpilot.features.fix.failing_test import (
    NOT_RUN,
    PASSES,
    VERIFIED,
    FixRequest,
    fix_failing_test,
)
from offpilot.features.fix.frames import parse_error_text
from offpilot.features.fix.runners import RunnerUnavailable, runner_for


def _settings() -> Settings:
    settings, problems = load_settings()
    for p in problems:
        print(f"offpilot: {p}", file=sys.stderr)
    return settings


def _progress(message: str) -> None:
    print(f"[offpilot fix] {message}", file=sys.stderr, flush=True)


def _write(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()


async def _with_model(settings: Settings, use_model: bool) -> tuple[ModelManager, Backend | None]:
    models = ModelManager(settings)
    if not use_model:
        return models, None
    _progress("loading the model")
    return models, await models.backend(CHAT)


def project_root(test: str, root: str | None) -> Path:
    """The project: ``--root``, else the one the test file is in, else (a cargo test name)
    the one the current folder is in."""
    from offpilot.shared import find_root

    if root:
        return Path(root).resolve()
    path = Path(test.partition("::")[0])
    if path.is_file():
        return find_root(path.resolve())
    return find_root(Path.cwd().resolve() / "Cargo.toml")


async def run_fix(args: argparse.Namespace, settings: Settings) -> int:
    root = project_root(args.test, args.root)
    # a test id that names nothing is refused before the model loads (a missing node or
    # cargo the pipeline reports, as not run)
    with contextlib.suppress(RunnerUnavailable):
        runner_for(root, args.test, settings, Path.cwd())
    request = FixRequest(root, args.test, cwd=Path.cwd(), max_candidates=args.candidates,
                         budget_s=args.budget, explain=not args.no_explain)
    models, backend = await _with_model(settings, not args.no_model)
    try:
        result = await fix_failing_test(request, backend=backend, settings=settings,
                                        on_text=None if args.json else _write,
                                        on_progress=_progress)
    finally:
        await models.close()
    applied = ""
    if args.apply and result.edit is not None and result.status == VERIFIED:
        try:
            apply_edit(result.edit)
            applied = f"applied to {result.edit.path}"
        except (EditConflict, OSError) as exc:
            applied = f"not applied: {exc}"
    if args.json:
        data = result.to_json()
        data["applied"] = applied
        print(json.dumps(data, indent=1))
    print(f"offpilot fix: {result.status}: {result.reason}"
          + (f"; {applied}" if applied else ""), file=sys.stderr)
    if result.status in (VERIFIED, PASSES):
        return 0
    return 2 if result.status == NOT_RUN or result.status == "error" else 1


def cmd_fix(args: argparse.Namespace) -> int:
    from offpilot.shared import setup_logging

    setup_logging(args.log_level)
    settings = _settings()
    if args.no_run:
        settings = replace(settings, run_generated_tests=False)
    try:
        return asyncio.run(run_fix(args, settings))
    except ValueError as exc:
        print(f"offpilot fix: {exc}", file=sys.stderr)
        return 2
    except ModelError as exc:
        print(f"offpilot fix: no model: {exc}", file=sys.stderr)
        return 3


async def run_explain_error(text: str, root: Path, settings: Settings, as_json: bool) -> int:
    models = ModelManager(settings)
    try:
        backend = await models.backend(CHAT)
        result = await explain_traceback(backend, text, root,
                                         on_text=None if as_json else _write)
    finally:
        await models.close()
    if as_json:
        print(json.dumps(result.to_json(), indent=1))
    return 0


def cmd_explain_error(args: argparse.Namespace) -> int:
    from offpilot.shared import setup_logging

    setup_logging(args.log_level)
    try:
        if args.file in ("-", None):
            text = sys.stdin.read()
        else:
            text = Path(args.file).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        print(f"offpilot explain-error: {exc}", file=sys.stderr)
        return 2
    root = Path(args.root).resolve() if args.root else Path.cwd().resolve()
    if not parse_error_text(text).language:
        print("offpilot explain-error: no Python traceback or Rust panic found in the text",
              file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_explain_error(text, root, _settings(), args.json))
    except ValueError as exc:
        print(f"offpilot explain-error: {exc}", file=sys.stderr)
        return 2
    except ModelError as exc:
        print(f"offpilot explain-error: no model: {exc}", file=sys.stderr)
        return 3


def register(subparsers: Any) -> None:
    """Add ``fix`` and ``explain-error`` to the ``offpilot`` command line."""
    levels = ["debug", "info", "warning", "error"]
    p = subparsers.add_parser(
        "fix", help="run a failing test in the sandbox, explain it, and propose a verified fix")
    p.add_argument("test", metavar="TEST",
                   help="a pytest node id (tests/test_x.py::test_y), a node --test file "
                        "(test/x.test.js, or test/x.test.js::name) or a cargo test name "
                        "(tests::it_adds)")
    p.add_argument("--root", help="the project folder (default: found from the test file)")
    p.add_argument("--candidates", type=int, default=4, help="most fixes to try (default 4)")
    p.add_argument("--budget", type=float, default=120.0,
                   help="seconds after which no new candidate is tried (default 120)")
    p.add_argument("--apply", action="store_true",
                   help="write the fix into the file, only if it was verified")
    p.add_argument("--no-explain", action="store_true", help="no explanation, fixes only")
    p.add_argument("--no-model", action="store_true", help="run and locate the failure only")
    p.add_argument("--no-run", action="store_true", help="run nothing (nothing to verify)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--log-level", default="warning", choices=levels)
    p.set_defaults(func=cmd_fix)

    p = subparsers.add_parser(
        "explain-error", help="explain a Python traceback or Rust panic (a file, or - for stdin)")
    p.add_argument("file", nargs="?", default="-", metavar="FILE|-")
    p.add_argument("--root", help="the project the frames belong to (default: this folder)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--log-level", default="warning", choices=levels)
    p.set_defaults(func=cmd_explain_error)
