"""``offpilot explain FILE[:START[-END]]``: Explain from the command line, as the server does it.

``FILE`` alone explains the whole file, ``FILE:START`` the function or class around line START
(the whole file when that line is at top level), ``FILE:START-END`` those lines. Lines are
1-based. The Markdown is printed to stdout as it is generated, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from offpilot.config import Settings, load_settings
from offpilot.context.languages import for_path
from offpilot.engine.backend import ModelError
from offpilot.engine.manager import CHAT, ModelManager
from offpilot.features.explain import (
    ExplainTarget,
    context_budget,
    explain,
    file_target,
    pick_target,
)
from offpilot.shared import Snippet, find_root, line_offsets, setup_logging

DESCRIPTION = """Explain code with the chat model, as the server's Explain does.

FILE alone explains the whole file, FILE:START the function or class around line START (the
whole file when that line is at top level), FILE:START-END those lines. Lines are 1-based.
The Markdown goes to stdout as it is generated, progress to stderr."""
INDEX_WAIT = 120.0  # seconds the first index build may take before context is skipped


@dataclass(frozen=True)
class Location:
    path: Path
    start_line: int | None = None  # 1-based
    end_line: int | None = None  # 1-based, inclusive


def parse_location(arg: str) -> Location:
    """``FILE``, ``FILE:START`` or ``FILE:START-END``; ValueError on bad line numbers."""
    m = re.fullmatch(r"(.+?):(\d+)(?:-(\d+))?", arg)
    if m is None or Path(arg).exists():
        return Location(Path(arg))
    start = int(m.group(2))
    end = int(m.group(3)) if m.group(3) else None
    if start < 1:
        raise ValueError("lines are 1-based")
    if end is not None and end < start:
        raise ValueError(f"the range {start}-{end} ends before it starts")
    return Location(Path(m.group(1)), start, end)


def target_at(text: str, location: Location, *, path: str, language: str) -> ExplainTarget:
    if location.start_line is None:
        return file_target(text, path=path, language=language)
    end_line = location.end_line
    start, end = line_offsets(text, location.start_line, end_line or location.start_line)
    if end_line is None:  # one line: the definition around it
        return pick_target(text, start, start, path=path, language=language)
    return pick_target(text, start, end, path=path, language=language)


def _say(err: TextIO, message: str) -> None:
    print(f"[offpilot] {message}", file=err, flush=True)


async def _context(uri: str, root: Path, target: ExplainTarget, settings: Settings,
                   err: TextIO) -> list[Snippet]:
    budget = context_budget(target, settings)
    if not settings.index_enabled or budget <= 0:
        return []
    try:
        from offpilot.context.engine import ContextEngine
    except ImportError:
        return []
    _say(err, f"reading the workspace ({root})")
    engine = ContextEngine([root], settings)
    try:
        engine.start(watch=False)
        await asyncio.to_thread(engine.wait_ready, INDEX_WAIT)
        return list(await asyncio.to_thread(engine.context_for_range, uri, target.start,
                                            target.end, budget))
    except Exception as exc:  # context helps; it is not required
        _say(err, f"no workspace context: {exc}")
        return []
    finally:
        await asyncio.to_thread(engine.stop)


async def explain_location(location: Location, *, settings: Settings, use_context: bool = True,
                           out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Explain ``location``, writing the Markdown to ``out``; the exit status."""
    import os

    from offpilot.context.exclude import FileGuard

    given = os.path.abspath(location.path)
    path = location.path.resolve()
    root = find_root(path)
    secret = FileGuard([find_root(Path(given))], settings.exclude_files).private(given)
    if secret is not None:
        _say(err, f"{secret}; its text is never sent to a model")
        return 2
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = path.name
    spec = for_path(path, text)
    language = spec.language_ids[0] if spec is not None else ""
    target = target_at(text, location, path=rel, language=language)
    _say(err, f"explaining {target.label}")
    snippets = await _context(path.as_uri(), root, target, settings, err) if use_context else []
    if snippets:
        _say(err, "with " + ", ".join(f"{s.path}:{s.start_line}" for s in snippets))
    models = ModelManager(settings)

    def write(piece: str) -> None:
        out.write(piece)
        out.flush()

    try:
        _say(err, "loading the model")
        backend = await models.backend(CHAT)
        _say(err, "writing")
        result = await explain(backend, target, snippets, settings=settings, on_text=write)
    except ModelError as exc:
        print(f"offpilot explain: {exc}", file=err)
        print("offpilot explain: set OFFPILOT_CHAT_MODEL (or OFFPILOT_MODEL) to a .gguf file or "
              "a profile from `offpilot models list`", file=err)
        return 1
    finally:
        await models.close()
    _say(err, f"done: {result.generated_tokens} tokens in {result.seconds:.1f}s "
              f"({result.stop_reason})")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    try:
        location = parse_location(args.target)
        if not location.path.is_file():
            raise ValueError(f"{location.path}: no such file")
    except ValueError as exc:
        print(f"offpilot explain: {exc}", file=sys.stderr)
        return 2
    settings, problems = load_settings()
    for p in problems:
        print(f"offpilot: {p}", file=sys.stderr)
    try:
        return asyncio.run(explain_location(location, settings=settings,
                                            use_context=not args.no_context))
    except OSError as exc:
        print(f"offpilot explain: {exc}", file=sys.stderr)
        return 2


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "explain", help="explain code: a file, the definition at a line, or a range of lines",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="FILE[:START[-END]]",
                   help="a file; :START for the function or class at that line; "
                        ":START-END for those lines (1-based)")
    p.add_argument("--no-context", action="store_true",
                   help="no definitions from the rest of the workspace")
    p.add_argument("--log-level", default="warning",
                   choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_explain)
