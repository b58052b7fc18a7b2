"""``offpilot eval`` on a real repository from PyPI, with several models side by side.

The corpus is a pure-Python source distribution that retrieval was not tuned on
(``bench/retrieval.py`` uses the standard library, requests, django and date-fns): click 8.1.7,
fetched once with ``pip download`` into ``bench/.cache`` and unpacked; its package folder
(``src/click``, the ``src`` root) is evaluated. Models: the embedded Gemma 3 270M (``gemma``),
and copies of it with FIM token ids (``fim``: the FIM prompt path) or a chat template (``chat``:
the instruct path) written into the GGUF metadata. Gemma 270M was trained for neither, so those
two measure what the prompt path does to the same weights, not a better model; any other
``PATH.gguf`` works too.

Each model runs with repository context on and off over the same positions, the cross-file call
sites (``call``: the callee's name and arguments hidden, the callee defined in another file)
among them. Prints ``offpilot eval``'s two tables: per model and setting, then per kind with
context on against off and each kind's sample size.

    .venv/bin/python bench/eval_corpus.py --models gemma,fim --samples 120
    .venv/bin/python bench/eval_corpus.py --models gemma --samples 60 --kinds call
    .venv/bin/python bench/eval_corpus.py --callee-recall --samples 150  # retrieval only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
sys.path.insert(0, str(HERE.parent / "server"))

from offpilot.config import load_settings  # noqa: E402
from offpilot.features.evaluate import (  # noqa: E402
    ALL_KINDS,
    CALL,
    ProgressBar,
    RepositoryContext,
    kind_table,
    run_eval,
    table,
)

PACKAGE = "click==8.1.7"
ARCHIVE = "click-8.1.7.tar.gz"
SUBDIR = "src"


def fetch() -> Path:
    """The unpacked corpus (downloaded from PyPI and unpacked at most once)."""
    target = CACHE / "src" / "click"
    if target.is_dir():
        return target / SUBDIR
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (CACHE / ARCHIVE).is_file():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                        ":all:", PACKAGE, "-d", str(CACHE)], check=True)
    tmp = Path(tempfile.mkdtemp(dir=CACHE))
    with tarfile.open(CACHE / ARCHIVE) as tar:
        tar.extractall(tmp, filter="data")
    (inner,) = list(tmp.iterdir())
    target.parent.mkdir(parents=True, exist_ok=True)
    inner.rename(target)
    tmp.rmdir()
    return target / SUBDIR


def model_path(name: str) -> str:
    """gemma | fim | chat | PATH.gguf → a GGUF path (the edited copies are made once)."""
    from gguf_edit import gemma_copy

    return str(gemma_copy(name)) if name in ("gemma", "fim", "chat") else name


def callee_recall(root: Path, samples: int, seed: str) -> int:
    """Share of call sites whose retrieved context (the configured budget) holds the callee's
    definition: what retrieval can give the model there, whatever the model makes of it."""
    settings, _ = load_settings()
    repo = RepositoryContext(root, settings)
    try:
        repo.start()
        picked = repo.sample(samples, seed=seed, kinds=(CALL,), max_size=settings.max_file_size)
        hits = 0
        for s in picked:
            uri = f"file:///offpilot-eval/{s.path}"
            repo.open(uri, s)
            try:
                got = repo(uri, s.text, s.offset, settings.context_budget)
            finally:
                repo.close(uri)
            path, _, line = s.callee.rpartition(":")
            hits += any(g.path == path and g.start_line <= int(line) <= g.end_line
                        for g in got)
    finally:
        repo.stop()
    print(f"corpus {PACKAGE}: {len(picked)} cross-file call sites, context budget "
          f"{settings.context_budget} chars: callee's definition in the context at {hits} "
          f"({hits / max(len(picked), 1):.3f})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="gemma,fim", help="comma-separated: gemma | fim | chat "
                    "| PATH.gguf (default: gemma,fim)")
    ap.add_argument("--samples", type=int, default=120)
    ap.add_argument("--kinds", default=",".join(ALL_KINDS))
    ap.add_argument("--seed", default="")
    ap.add_argument("--threads", type=int, default=1,
                    help="model threads (1 is fastest on a machine whose cores are busy)")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--time-limit", type=float, default=120.0,
                    help="seconds per completion (the setting is 5; raised so that load on the "
                         "machine does not change the answers)")
    ap.add_argument("--json", type=Path, help="also write the results (with answers) here")
    ap.add_argument("--callee-recall", action="store_true",
                    help="no model: at the cross-file call sites, how often the context "
                         "retrieved holds the callee's definition")
    args = ap.parse_args()

    root = fetch()
    if args.callee_recall:
        return callee_recall(root, args.samples, args.seed)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    paths = [model_path(m) for m in names]
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    settings, _ = load_settings()
    settings = replace(settings, debounce_ms=0, prefetch=False, warmup=False,
                       threads=args.threads, max_tokens=args.max_tokens,
                       time_limit=args.time_limit)
    t0 = time.perf_counter()
    picked, results = asyncio.run(run_eval(root, settings, models=paths, samples=args.samples,
                                           contexts=[True, False], seed=args.seed, kinds=kinds,
                                           progress=ProgressBar()))
    for r in results:  # name the rows as asked
        r.model = names[paths.index(r.model)]
    counts = ", ".join(f"{k} {sum(s.kind == k for s in picked)}" for k in kinds)
    print(f"corpus {PACKAGE} (bench/{root.relative_to(CACHE.parent)}): {len(picked)} "
          f"positions ({counts}); {time.perf_counter() - t0:.0f} s")
    print(table(results))
    print()
    print(kind_table(results))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1),
                             encoding="utf-8")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
