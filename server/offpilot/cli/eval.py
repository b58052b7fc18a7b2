"""``offpilot eval [ROOT]``: completion quality on the user's own code (see
:mod:`offpilot.features.evaluate`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from offpilot.features import evaluate
from offpilot.features.evaluate import ALL_KINDS, ProgressBar, kind_table, run_eval, table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "eval", help="measure completion quality on a repository, per model and setting",
        description=evaluate.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", nargs="?", default=".", help="the repository (default: .)")
    p.add_argument("--models", default="default",
                   help="comma-separated: profile names (offpilot models list), .gguf paths, "
                        "or 'default' for the configured model (default: default)")
    p.add_argument("--samples", type=int, default=40, help="positions to complete (40)")
    p.add_argument("--context", choices=["both", "on", "off"], default="both",
                   help="repository context on, off or both side by side (both)")
    p.add_argument("--kinds", default=",".join(ALL_KINDS),
                   help=f"position kinds to sample (default: {','.join(ALL_KINDS)})")
    p.add_argument("--seed", default="", help="another seed gives other positions")
    p.add_argument("--time-limit", type=float, default=None,
                   help="seconds per completion (default: the timeLimit setting)")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="tokens per completion (default: the maxTokens setting)")
    p.add_argument("--threads", type=int, default=None, help="model threads (default: setting)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--answers", action="store_true",
                   help="with --json: include every sample's expected text and answer")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from offpilot.config import load_settings

    root = Path(args.root)
    if not root.is_dir():
        print(f"offpilot eval: {root} is not a folder", file=sys.stderr)
        return 2
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ALL_KINDS]
    if bad or not kinds:
        print(f"offpilot eval: unknown kind {', '.join(bad) or '(none)'}; "
              f"choose from {', '.join(ALL_KINDS)}", file=sys.stderr)
        return 2
    if args.samples < 1:
        print("offpilot eval: --samples must be at least 1", file=sys.stderr)
        return 2
    settings, problems = load_settings()
    for problem in problems:
        print(f"offpilot: {problem}", file=sys.stderr)
    changes: dict[str, Any] = {"debounce_ms": 0, "prefetch": False, "warmup": False}
    if args.time_limit is not None:
        changes["time_limit"] = args.time_limit
    if args.max_tokens is not None:
        changes["max_tokens"] = args.max_tokens
    if args.threads is not None:
        changes["threads"] = args.threads
    settings = replace(settings, **changes)
    contexts = {"both": [True, False], "on": [True], "off": [False]}[args.context]
    models = [m.strip() for m in args.models.split(",") if m.strip()] or ["default"]
    t0 = time.perf_counter()
    picked, results = asyncio.run(run_eval(root, settings, models=models, samples=args.samples,
                                           contexts=contexts, seed=args.seed, kinds=kinds,
                                           progress=ProgressBar()))
    if not picked:
        print(f"offpilot eval: no source files to sample under {root}", file=sys.stderr)
        return 1
    if args.json:
        out = {"root": str(root.resolve()), "samples": len(picked), "seed": args.seed,
               "kinds": {k: sum(s.kind == k for s in picked) for k in kinds},
               "seconds": round(time.perf_counter() - t0, 1),
               "settings": {"maxTokens": settings.max_tokens, "timeLimit": settings.time_limit,
                            "contextBudget": settings.context_budget},
               "results": []}
        for r in results:
            d = asdict(r)
            if not args.answers:
                d.pop("answers")
            out["results"].append(d)
        json.dump(out, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        counts = ", ".join(f"{k} {sum(s.kind == k for s in picked)}" for k in kinds)
        print(f"{len(picked)} positions in {root} ({counts})")
        print(table(results))
        print()
        print(kind_table(results))
    with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream
        sys.stdout.flush()
    return 1 if results and all(r.error for r in results) else 0
