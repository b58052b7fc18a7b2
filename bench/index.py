"""Index throughput on a real repository: cold build, warm restart, changed files, context.

The corpus is a PyPI sdist (default: Django 5.1.4, ~2,800 source files) downloaded once into
bench/.cache, or ``stdlib``: a copy of this interpreter's standard library. Each phase runs in a
fresh process (so its RSS is its own) against a private cache dir:

- cold: build the index from nothing; warm: open it again (nothing changed);
- change: ``--updates`` files edited and put back one at a time, each re-indexed as the watcher
  does (``update_paths``), then a full rescan that finds one changed file;
- context: ``retrieve`` (the context of one completion) at ``--positions`` line ends of the
  source file nearest 2,000 lines, open in the editor.

    .venv/bin/python bench/index.py                    # django, every core
    .venv/bin/python bench/index.py --corpus stdlib
    .venv/bin/python bench/index.py --corpus requests --workers 1

Prints seconds, files/s, files parsed, database size and peak RSS per phase, then the update
and context latencies.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "server"))
sys.path.insert(0, str(HERE))


ADDED = b"\n\ndef added_by_bench():\n    return 1\n"


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[int(q * (len(values) - 1))] if values else float("nan")


def rss_mb() -> tuple[float, float]:
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def context_phase(root: Path, positions: int) -> dict:
    """Latency of ``ContextEngine.retrieve`` in the file nearest 2,000 lines (open, as in an
    editor), at line ends spread over the file."""
    from offpilot.config import Settings
    from offpilot.context.documents import Documents
    from offpilot.context.engine import ContextEngine
    from offpilot.context.languages import for_path

    docs = Documents()
    engine = ContextEngine([root], Settings(), docs)
    engine.start(watch=False)
    engine.wait_ready()
    index = engine._roots[0].index
    sized = []
    for rel in index.paths():
        try:
            sized.append((abs((root / rel).read_bytes().count(b"\n") - 2000), rel))
        except OSError:
            continue
    rel = min(sized)[1]
    text = (root / rel).read_text(encoding="utf-8", errors="replace")
    spec = for_path(rel)
    uri = (root / rel).as_uri()
    docs.open(uri, spec.name if spec else "", 1, text)
    engine._resummarize(uri, None)  # what note_opened does in the background
    ends = [i for i, c in enumerate(text) if c == "\n"]
    offsets = random.Random(1).sample(ends, min(positions, len(ends)))
    engine.retrieve(uri, offsets[0])  # first use: caches fill
    ms = []
    chars = []
    for offset in offsets:
        t0 = time.perf_counter()
        result = engine.retrieve(uri, offset)
        ms.append((time.perf_counter() - t0) * 1000)
        chars.append(sum(len(s.text) for s in result.snippets))
    engine.stop()
    self_rss, child_rss = rss_mb()
    return {"phase": "context", "file": rel, "lines": text.count("\n"), "positions": len(ms),
            "p50_ms": statistics.median(ms), "p95_ms": percentile(ms, 0.95),
            "max_ms": max(ms), "chars": statistics.mean(chars), "rss_mb": self_rss,
            "worker_rss_mb": child_rss}


def phase(name: str, root: Path, workers: int, updates: int, positions: int) -> dict:
    from offpilot.context.index import Index

    if name == "context":
        return context_phase(root, positions)
    t0 = time.perf_counter()
    index = Index(root)
    load_s = time.perf_counter() - t0
    event_ms: list[float] = []
    rescanned = None
    if name == "change":
        sources = sorted(p for p in index.paths() if p.endswith(".py"))
        for i in range(updates):
            path = root / sources[(i * len(sources)) // updates + len(sources) // (2 * updates)]
            original = path.read_bytes()
            for data in (original + ADDED, original):  # edited, then put back
                path.write_bytes(data)
                t1 = time.perf_counter()
                index.update_paths([path])
                event_ms.append((time.perf_counter() - t1) * 1000)
        rescanned = root / sources[len(sources) // 2]
        original = rescanned.read_bytes()
        rescanned.write_bytes(original + ADDED)
    t1 = time.perf_counter()
    stats = index.refresh(workers=workers)
    refresh_s = time.perf_counter() - t1
    index.close()
    if rescanned is not None:
        rescanned.write_bytes(original)
    db = sum(p.stat().st_size for p in index.db_path.parent.glob(index.db_path.name + "*"))
    self_rss, child_rss = rss_mb()
    out = {"phase": name, "files": stats.files, "definitions": stats.definitions,
           "parsed": stats.parsed, "seconds": load_s + refresh_s, "load_s": load_s,
           "db_mb": db / 1e6, "rss_mb": self_rss, "worker_rss_mb": child_rss}
    if event_ms:
        out.update(updates=len(event_ms), event_p50_ms=statistics.median(event_ms),
                   event_p95_ms=percentile(event_ms, 0.95), event_max_ms=max(event_ms))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="django")
    parser.add_argument("--workers", type=int, default=0, help="default: every core")
    parser.add_argument("--updates", type=int, default=20,
                        help="files edited and put back in the change phase (default 20)")
    parser.add_argument("--positions", type=int, default=200,
                        help="cursor positions of the context phase (default 200)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from offpilot.context.index import available_cpus

    workers = args.workers or available_cpus()
    if args.phase:
        print(json.dumps(phase(args.phase, Path(args.root), workers, args.updates,
                               args.positions)))
        return 0
    from retrieval import fetch

    root = fetch(args.corpus)
    env = dict(os.environ, OFFPILOT_CACHE_DIR=tempfile.mkdtemp(prefix="offpilot-bench-"))
    rows = []
    for name in ("cold", "warm", "change", "context"):
        out = subprocess.run([sys.executable, __file__, "--phase", name, "--root", str(root),
                              "--workers", str(workers), "--updates", str(args.updates),
                              "--positions", str(args.positions)], env=env, check=True,
                             capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"\n{args.corpus}: {rows[0]['files']} files, {rows[0]['definitions']} definitions, "
          f"{workers} worker processes")
    print(f"{'phase':<8} {'seconds':>8} {'files/s':>8} {'parsed':>7} {'db MB':>6} "
          f"{'RSS MB':>7} {'worker RSS MB':>14}")
    for r in rows[:3]:
        rate = r["parsed"] / r["seconds"] if r["parsed"] else float("nan")
        print(f"{r['phase']:<8} {r['seconds']:>8.2f} {rate:>8.0f} {r['parsed']:>7} "
              f"{r['db_mb']:>6.1f} {r['rss_mb']:>7.0f} {r['worker_rss_mb']:>14.0f}")
    change, context = rows[2], rows[3]
    print(f"single-file update (watcher path), {change['updates']} updates: "
          f"p50 {change['event_p50_ms']:.1f} ms, p95 {change['event_p95_ms']:.1f} ms, "
          f"max {change['event_max_ms']:.1f} ms")
    print(f"full rescan with one changed file: {change['seconds']:.2f} s "
          f"(load {change['load_s']:.2f} s)")
    print(f"context assembly, {context['file']} ({context['lines']} lines), "
          f"{context['positions']} positions: p50 {context['p50_ms']:.1f} ms, "
          f"p95 {context['p95_ms']:.1f} ms, max {context['max_ms']:.1f} ms, "
          f"{context['chars']:.0f} chars, RSS {context['rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
