"""Index throughput on a real repository: cold build, warm restart, one changed file.

The corpus is a PyPI sdist (default: Django 5.1.4, ~2,800 source files) downloaded once into
bench/.cache. Each phase runs in a fresh process (so its RSS is its own) against a private
cache dir:

    .venv/bin/python bench/index.py                    # django, every core
    .venv/bin/python bench/index.py --corpus requests --workers 1

Prints files, seconds, files/s, files parsed, database size and peak RSS per phase.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "server"))
sys.path.insert(0, str(HERE))


def phase(name: str, root: Path, workers: int) -> dict:
    from offpilot.context.index import Index

    t0 = time.perf_counter()
    index = Index(root)
    load_s = time.perf_counter() - t0
    if name == "change":
        target = sorted(p for p in index.paths() if p.endswith(".py"))[len(index.paths()) // 2]
        path = root / target
        path.write_text(path.read_text() + "\n\ndef added_by_bench():\n    return 1\n")
        t1 = time.perf_counter()
        stats = index.update_paths([path])
        event_s = time.perf_counter() - t1
        path.write_text(path.read_text() + "\n# again\n")
    t1 = time.perf_counter()
    stats = index.refresh(workers=workers)
    refresh_s = time.perf_counter() - t1
    index.close()
    db = sum(p.stat().st_size for p in index.db_path.parent.glob(index.db_path.name + "*"))
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = {"phase": name, "files": stats.files, "definitions": stats.definitions,
           "parsed": stats.parsed, "seconds": load_s + refresh_s, "load_s": load_s,
           "db_mb": db / 1e6, "rss_mb": self_rss / 1024, "worker_rss_mb": child_rss / 1024}
    if name == "change":
        out["event_s"] = event_s
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="django")
    parser.add_argument("--workers", type=int, default=0, help="default: every core")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from offpilot.context.index import available_cpus

    workers = args.workers or available_cpus()
    if args.phase:
        print(json.dumps(phase(args.phase, Path(args.root), workers)))
        return 0
    from retrieval import fetch

    root = fetch(args.corpus)
    env = dict(os.environ, OFFPILOT_CACHE_DIR=tempfile.mkdtemp(prefix="offpilot-bench-"))
    rows = []
    for name in ("cold", "warm", "change"):
        out = subprocess.run([sys.executable, __file__, "--phase", name, "--root", str(root),
                              "--workers", str(workers)], env=env, check=True,
                             capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"\n{args.corpus}: {rows[0]['files']} files, {rows[0]['definitions']} definitions, "
          f"{workers} worker processes")
    print(f"{'phase':<8} {'seconds':>8} {'files/s':>8} {'parsed':>7} {'db MB':>6} "
          f"{'RSS MB':>7} {'worker RSS MB':>14}")
    for r in rows:
        rate = r["parsed"] / r["seconds"] if r["parsed"] else float("nan")
        print(f"{r['phase']:<8} {r['seconds']:>8.2f} {rate:>8.0f} {r['parsed']:>7} "
              f"{r['db_mb']:>6.1f} {r['rss_mb']:>7.0f} {r['worker_rss_mb']:>14.0f}")
    change = rows[2]
    print(f"one changed file: watcher path {change['event_s'] * 1000:.0f} ms, "
          f"full rescan {change['seconds']:.2f} s (load {change['load_s']:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
