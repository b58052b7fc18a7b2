"""``offpilot index`` and ``offpilot context``: build the workspace index, and show what context
retrieval puts in the prompt at a position.

Results go to stdout (a table, the snippets, or JSON with ``--json``); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from offpilot.shared import find_root, offset_of, snippet_json


def _settings() -> Any:
    from offpilot.config import load_settings

    settings, problems = load_settings()
    for p in problems:
        print(f"offpilot: {p}", file=sys.stderr)
    return settings


def _progress(quiet: bool) -> Any:
    last = {"decile": -1}

    def report(message: str, fraction: float | None) -> None:
        if quiet or fraction is None:
            return
        decile = int(fraction * 10)
        if decile != last["decile"]:
            last["decile"] = decile
            print(f"index: {fraction * 100:5.1f}% {message}", file=sys.stderr, flush=True)

    return report


def cmd_index(args: argparse.Namespace) -> int:
    from offpilot.context.index import Index, available_cpus

    settings = _settings()
    root = Path(args.root or ".").resolve()
    if not root.is_dir():
        print(f"offpilot index: not a folder: {root}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    index = Index(root, max_file_size=settings.max_file_size, exclude=settings.exclude_files)
    load_s = time.perf_counter() - t0
    try:
        stats = index.refresh(on_progress=_progress(args.json),
                              workers=args.workers or available_cpus())
    finally:
        index.close()
    db_bytes = sum(p.stat().st_size for p in index.db_path.parent.glob(index.db_path.name + "*")
                   if p.is_file())
    out = {"root": str(root), "files": stats.files, "definitions": stats.definitions,
           "imports": stats.imports, "parsed": stats.parsed, "skipped": stats.skipped,
           "seconds": round(stats.seconds + load_s, 3), "load_seconds": round(load_s, 3),
           "database": str(index.db_path), "database_bytes": db_bytes,
           "rebuilt": index.rebuilt}
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        width = max(len(k) for k in out)
        for k, v in out.items():
            print(f"{k:<{width}}  {v}")
    return 0


def cmd_context(args: argparse.Namespace) -> int:
    from offpilot.context.engine import ContextEngine

    settings = _settings()
    path = Path(os.path.abspath(args.file))  # a symlink stays the link (its target is checked)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        offset = offset_of(text, args.line, args.col)
        end = offset_of(text, args.to[0], args.to[1]) if args.to else None
    except (OSError, ValueError) as exc:
        print(f"offpilot context: {exc}", file=sys.stderr)
        return 2
    root = Path(args.root).resolve() if args.root else find_root(path)
    budget = settings.context_budget if args.budget is None else args.budget
    engine = ContextEngine([root], replace(settings, context_budget=budget))
    reason = engine.guard.reason(path)
    if reason is not None:
        engine.stop()
        message = f"offpilot context: kept out of prompts: {reason}"
        if args.json:
            print(json.dumps({"root": str(root), "budget": budget, "chars": 0, "ms": 0.0,
                              "snippets": [], "message": message}, indent=1))
        print(message, file=sys.stderr)
        return 1
    engine.start(on_progress=_progress(args.json), watch=False)
    engine.wait_ready()
    try:
        uri = path.as_uri()
        if end is None:
            result = engine.retrieve(uri, offset, budget)
            snippets, ms = result.snippets, result.ms
        else:
            t0 = time.perf_counter()
            snippets = engine.context_for_range(uri, offset, end, budget)
            ms = (time.perf_counter() - t0) * 1000
    finally:
        engine.stop()
    chars = sum(len(s.text) for s in snippets)
    if args.json:
        print(json.dumps({"root": str(root), "budget": budget, "chars": chars,
                          "ms": round(ms, 2), "snippets": [snippet_json(s) for s in snippets]},
                         indent=1))
        return 0
    for s in snippets:
        print(f"--- {s.path}:{s.start_line}-{s.end_line} ({s.kind}, {len(s.text)} chars)")
        print(s.text)
    print(f"--- {len(snippets)} snippets, {chars} chars of {budget}, {ms:.1f} ms",
          file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    """Add ``index`` and ``context`` to the ``offpilot`` command line."""
    p = subparsers.add_parser("index", help="build or refresh the workspace index, print stats")
    p.add_argument("root", nargs="?", help="workspace folder (default: the current folder)")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    p.add_argument("--workers", type=int, default=0,
                   help="parser processes for the build (default: every core)")
    p.set_defaults(func=cmd_index)

    p = subparsers.add_parser(
        "context", help="print the context snippets retrieval gives at FILE:LINE:COL")
    p.add_argument("file")
    p.add_argument("line", type=int, help="1-based line")
    p.add_argument("col", type=int, help="1-based column (characters)")
    p.add_argument("--budget", type=int, default=None,
                   help="characters of context (default: the contextBudget setting)")
    p.add_argument("--to", type=int, nargs=2, metavar=("LINE", "COL"),
                   help="a range instead of a cursor: the definitions it uses (as Explain)")
    p.add_argument("--root", help="workspace folder (default: found from FILE)")
    p.add_argument("--json", action="store_true", help="print the snippets as JSON")
    p.set_defaults(func=cmd_context)
