"""Typing storm: inline completion requests at a fixed rate, interleaved with edits.

The real server over stdio with the real model. A file of the example project is typed into,
one character per tick, each character a ``didChange`` followed by an automatic
``textDocument/inlineCompletion`` at the new cursor, ``--rate`` times a second for
``--seconds``, never waiting for answers (an editor does not). Like VS Code, the client sends
``$/cancelRequest`` for the previous request when it is still open (``--no-cancel``: it does not,
and only the server's own superseding stops the old work). ``offpilot/stats`` is sampled twice a
second.

Printed: requests sent and answered (with items, empty, cancelled), how many the server
superseded, the most work queued at once (client side: requests not answered yet; server
side: asyncio tasks, and requests waiting on the model worker), resident memory of the server
and its model worker at warm-up and at the end, and the latency of the storm's last request
next to that of an idle request before and after the storm.

    python bench/storm.py                          # 50 requests/s for 60 s, embedded Gemma
    python bench/storm.py --rate 100 --seconds 20 --model /models/qwen2.5-coder-1.5b.gguf
"""

from __future__ import annotations

import argparse
import inspect
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "server"))

from tests.reliability.rpc import (  # noqa: E402
    RawServer,
    clean_env,
    inline_params,
    items_of,
    model_worker_pids,
    rss_bytes,
)

EXAMPLE = REPO / "examples" / "demo-project"
TARGET = "shop/pricing.py"
MARKER = "    for sku, quantity in cart.lines.items():\n        "


@dataclass
class StormResult:
    rate: float
    seconds: float
    cancel: bool
    sent: int = 0
    answered: int = 0
    with_items: int = 0
    empty: int = 0
    cancelled: int = 0  # answered with RequestCancelled
    errors: int = 0  # other errors
    unanswered: int = 0
    cancels_sent: int = 0
    superseded: int = 0  # by the server (offpilot/stats)
    edits: int = 0
    outstanding_max: int = 0  # requests sent and not answered, most at once
    tasks_max: int = 0  # asyncio tasks in the server, most sampled
    tasks_idle: int = 0  # before the storm
    tasks_end: int = 0  # after the storm, once everything is answered
    worker_queued_max: int = 0  # requests waiting on the model worker, most at once
    stats_latency_max: float = 0.0  # seconds, offpilot/stats during the storm
    rss_warm: dict[str, int] = field(default_factory=dict)
    rss_end: dict[str, int] = field(default_factory=dict)
    idle_latency: float = 0.0  # seconds, a completion before the storm
    last_latency: float = 0.0  # seconds, the storm's last request
    after_latency: float = 0.0  # seconds, a completion after the storm
    achieved_rate: float = 0.0
    last_items: int = 0
    model_calls: int = 0  # completions that reached the model during the storm
    idle_tokens: int = 0  # prompt tokens evaluated by the idle request (KV cache reuse)
    last_tokens: int = 0
    after_tokens: int = 0

    def rss_change(self, key: str) -> float:
        before, after = self.rss_warm.get(key, 0), self.rss_end.get(key, 0)
        return (after - before) / before * 100 if before else float("nan")


def typed_text(chars: int) -> str:
    """Real code to type: the standard library's textwrap module, from its first function."""
    import textwrap

    source = Path(inspect.getsourcefile(textwrap) or "").read_text(encoding="utf-8")
    body = source[source.index("    def _munge_whitespace"):]
    while len(body) < chars:
        body += body
    return body[:chars]


def _stats(srv: RawServer, result: StormResult | None = None) -> dict[str, Any]:
    stats = srv.call("offpilot/stats", timeout=60)
    if result is not None:
        _note_stats(result, stats)
    return stats


def _note_stats(result: StormResult, stats: dict[str, Any]) -> None:
    result.tasks_max = max(result.tasks_max, int(stats.get("tasks", 0)))
    worker = stats["models"]["completion"]
    result.worker_queued_max = max(result.worker_queued_max,
                                   int(worker.get("queuedMax", worker.get("queued", 0))))


def _collect_samples(srv: RawServer, result: StormResult, samples: list[Any]) -> None:
    """Take in the stats samples answered so far (they are sent without waiting)."""
    for msg_id in list(samples):
        reply = srv.replies.get(msg_id)
        if reply is None:
            continue
        samples.remove(msg_id)
        result.stats_latency_max = max(result.stats_latency_max,
                                       srv.reply_times[msg_id] - srv.sent_times[msg_id])
        if "result" in reply:
            _note_stats(result, reply["result"])


def _last_evaluated(srv: RawServer) -> int:
    evaluated = _stats(srv)["completion"].get("promptTokensEvaluated") or [0]
    return int(evaluated[-1])


def _rss(srv: RawServer) -> dict[str, int]:
    workers = model_worker_pids(srv.proc.pid)
    out = {"server": rss_bytes(srv.proc.pid), "worker": sum(rss_bytes(p) for p in workers)}
    out["total"] = out["server"] + out["worker"]
    return out


def _timed_completion(srv: RawServer, uri: str, line: int, character: int) -> tuple[float, int]:
    t0 = time.monotonic()
    result = srv.call("textDocument/inlineCompletion",
                      inline_params(uri, line, character, trigger=1), timeout=300)
    return time.monotonic() - t0, len(items_of(result))


def run_storm(*, rate: float = 50, seconds: float = 60, model: str = "", threads: int = 2,
              cancel: bool = True, settings: dict[str, Any] | None = None,
              log: Any = None) -> StormResult:
    """Run one storm against a fresh server; see the module doc."""
    say = (lambda msg: print(msg, file=log, flush=True)) if log else (lambda msg: None)
    work = Path(tempfile.mkdtemp(prefix="offpilot-storm-"))
    result = StormResult(rate=rate, seconds=seconds, cancel=cancel)
    srv: RawServer | None = None
    try:
        root = work / "demo-project"
        shutil.copytree(EXAMPLE, root)
        env = clean_env(OFFPILOT_CACHE_DIR=str(work / "cache"), OFFPILOT_MODEL=model,
                        OFFPILOT_THREADS=str(threads))
        srv = RawServer(env)
        srv.config = dict(settings or {})
        srv.initialize(root, options=srv.config)
        deadline = time.monotonic() + 300
        while not (_stats(srv).get("context") or {}).get("ready"):
            if time.monotonic() > deadline:
                raise RuntimeError("the index was not ready in time")
            time.sleep(0.2)

        saved = (root / TARGET).read_text(encoding="utf-8")
        cut = saved.index(MARKER) + len(MARKER)
        text = saved[:cut] + "\n" + saved[saved.index("    return total"):]
        uri = (root / TARGET).as_uri()
        srv.open(uri, text)
        line, character = text[:cut].count("\n"), len(MARKER.split("\n")[-1])
        say("warm-up: loading the model")
        _timed_completion(srv, uri, line, character)  # loads the model
        time.sleep(1.0)
        idle_at = text.index("def format_cents")
        idle_line = text.count("\n", 0, idle_at)
        idle_col = text.index("\n", idle_at) - idle_at  # the end of the def line
        result.idle_latency, _ = _timed_completion(srv, uri, idle_line, idle_col)
        result.idle_tokens = _last_evaluated(srv)
        time.sleep(1.0)
        result.rss_warm = _rss(srv)
        before = _stats(srv)
        result.tasks_idle = int(before.get("tasks", 0))
        superseded0 = int(before["completion"]["superseded"])
        calls0 = int(before["completion"]["modelCalls"])

        typed = typed_text(int(rate * seconds) + 10)
        version = 1
        ids: list[Any] = []
        previous: Any = None
        interval = 1.0 / rate
        say(f"storm: {rate:g} requests/s for {seconds:g} s")
        t_start = time.monotonic()
        next_tick, next_sample = t_start, t_start + 0.5
        samples: list[Any] = []
        i = 0
        while True:
            now = time.monotonic()
            if now - t_start >= seconds:
                break
            if now < next_tick:
                time.sleep(min(next_tick - now, 0.005))
                continue
            next_tick += interval
            ch = typed[i]
            i += 1
            version += 1
            at = {"line": line, "character": character}
            srv.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": at, "end": at}, "text": ch}]})
            result.edits += 1
            if ch == "\n":
                line, character = line + 1, 0
            else:
                character += 1
            if cancel and previous is not None and previous not in srv.replies:
                srv.notify("$/cancelRequest", {"id": previous})
                result.cancels_sent += 1
            previous = srv.request("textDocument/inlineCompletion",
                                   inline_params(uri, line, character, trigger=2))
            ids.append(previous)
            result.outstanding_max = max(result.outstanding_max,
                                         sum(1 for m in ids[-500:] if m not in srv.replies))
            if now >= next_sample:
                next_sample = now + 0.5
                _collect_samples(srv, result, samples)
                samples.append(srv.request("offpilot/stats"))
        elapsed = time.monotonic() - t_start
        result.sent = len(ids)
        result.achieved_rate = result.sent / elapsed if elapsed else 0.0
        last = ids[-1]
        for msg_id in [*ids, *samples]:
            srv.wait_reply(msg_id, 120)
        _collect_samples(srv, result, samples)
        reply = srv.replies.get(last)
        if reply is not None:
            result.last_latency = srv.reply_times[last] - srv.sent_times[last]
            result.last_items = len(items_of(reply.get("result")))
        result.last_tokens = _last_evaluated(srv)
        for msg_id in ids:
            reply = srv.replies.get(msg_id)
            if reply is None:
                result.unanswered += 1
                continue
            result.answered += 1
            if "error" in reply:
                if reply["error"].get("code") == -32800:
                    result.cancelled += 1
                else:
                    result.errors += 1
            elif items_of(reply.get("result")):
                result.with_items += 1
            else:
                result.empty += 1
        time.sleep(1.0)
        after = _stats(srv, result)
        result.tasks_end = int(after.get("tasks", 0))
        result.superseded = int(after["completion"]["superseded"]) - superseded0
        result.model_calls = int(after["completion"]["modelCalls"]) - calls0
        idle_line += typed[:i].count("\n")  # the storm typed above it
        result.after_latency, _ = _timed_completion(srv, uri, idle_line, idle_col)
        result.after_tokens = _last_evaluated(srv)
        result.rss_end = _rss(srv)
        return result
    finally:
        if srv is not None:
            srv.close()
        shutil.rmtree(work, ignore_errors=True)


def table(r: StormResult) -> str:
    mib = 1 << 20

    def rss(key: str) -> str:
        return (f"{r.rss_warm.get(key, 0) / mib:.0f} MiB -> {r.rss_end.get(key, 0) / mib:.0f} "
                f"MiB ({r.rss_change(key):+.1f}%)")

    rows = [
        ("storm", f"{r.rate:g} req/s for {r.seconds:g} s (achieved {r.achieved_rate:.1f}/s), "
                  f"{r.edits} didChange, client cancels {'on' if r.cancel else 'off'}"),
        ("requests sent / answered", f"{r.sent} / {r.answered} ({r.unanswered} unanswered)"),
        ("answers", f"{r.with_items} with items, {r.empty} empty, {r.cancelled} cancelled, "
                    f"{r.errors} errors"),
        ("superseded (server) / cancelled (client)", f"{r.superseded} / {r.cancels_sent}"),
        ("reached the model", str(r.model_calls)),
        ("queued max: open requests (client)", str(r.outstanding_max)),
        ("queued max: server tasks (idle, end)",
         f"{r.tasks_max} ({r.tasks_idle}, {r.tasks_end})"),
        ("queued max: model worker requests", str(r.worker_queued_max)),
        ("offpilot/stats latency max", f"{r.stats_latency_max * 1000:.0f} ms"),
        ("RSS server", rss("server")),
        ("RSS model worker", rss("worker")),
        ("RSS total", rss("total")),
        ("latency idle request (before)", f"{r.idle_latency * 1000:.0f} ms "
                                          f"({r.idle_tokens} prompt tokens evaluated)"),
        ("latency last storm request", f"{r.last_latency * 1000:.0f} ms "
                                       f"({r.last_tokens} prompt tokens evaluated, "
                                       f"{r.last_items} items)"),
        ("latency idle request (after)", f"{r.after_latency * 1000:.0f} ms "
                                         f"({r.after_tokens} prompt tokens evaluated)"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=50, help="requests (and edits) per second")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--model", default="", help="offpilot.model: empty = embedded Gemma")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--debounce-ms", type=int, default=None,
                    help="offpilot.debounceMs (default: the server's)")
    ap.add_argument("--no-cancel", action="store_true",
                    help="do not send $/cancelRequest for the previous request")
    ap.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = ap.parse_args()
    settings: dict[str, Any] = {}
    if args.debounce_ms is not None:
        settings["debounceMs"] = args.debounce_ms
    result = run_storm(rate=args.rate, seconds=args.seconds, model=args.model,
                       threads=args.threads, cancel=not args.no_cancel, settings=settings,
                       log=sys.stderr)
    print(table(result))
    if args.json:
        print(json.dumps(asdict(result), indent=1))
    return 0 if result.unanswered == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
