"""The model worker: a child process that owns the llama.cpp model and runs generation jobs.

Protocol: one JSON object per line. Requests arrive on stdin; events leave on the process's
original stdout (fd 1 is then pointed at stderr, so nothing llama.cpp prints can corrupt the
protocol). A reader thread takes ``cancel`` messages the moment they arrive (llama.cpp releases
the GIL while it computes), and the main thread runs jobs one token at a time, always advancing
the most urgent one, so a completion typed during a long Explain is not kept waiting and a
superseded request stops within one token.

Requests: ``{"op": "load", "id", "path", "n_ctx", "n_threads", "n_gpu_layers", "n_batch"}``,
``{"op": "generate", "id", "priority", ...GenerateParams}``, ``{"op": "tokenize", "id", "text"}``,
``{"op": "cancel", "id"}``, ``{"op": "shutdown"}``.
Events: ``{"id", "event": "text", "text"}``, ``{"id", "event": "done", "result"}``,
``{"id", "event": "error", "message"}``. A generate result counts the prompt tokens evaluated
(``prompt_tokens_evaluated``) and the cached ones moved to new positions
(``prompt_tokens_shifted``); a load result says whether the model's cache moves chunks
(``shift_reuse``).

The worker never outlives the server that started it (``--parent PID``): on Linux it asks the
kernel to SIGKILL it when the parent dies (``PR_SET_PDEATHSIG``, checked against a parent that
died before the request took effect), and everywhere it exits as soon as its stdin reaches EOF,
even in the middle of a model load or a generation: nobody is left to read the answer.
"""

from __future__ import annotations

import argparse
import ctypes
import heapq
import itertools
import json
import os
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import IO, Any

from offpilot.shared.nodump import forbid_dumps


class Worker:
    def __init__(self, out: IO[str]) -> None:
        from offpilot.engine.runtime import LlamaRuntime

        self.runtime = LlamaRuntime()
        self.out = out
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.cancelled: set[Any] = set()
        self.lock = threading.Lock()
        self.running = True
        # (priority, order, id, generator); lower priority value runs first
        self.jobs: list[tuple[int, int, Any, Iterator[Any]]] = []
        self.order = itertools.count()

    def send(self, msg: dict[str, Any]) -> None:
        line = json.dumps(msg, ensure_ascii=True)
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()

    # ------------------------------------------------------------------ input
    def read_loop(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                line = line.strip()
                if not line:
                    continue
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                if msg.get("op") == "cancel":
                    with self.lock:
                        self.cancelled.add(msg.get("id"))
                    continue
                self.inbox.put(msg)
        except (OSError, ValueError):  # a closed or undecodable stream ends the input too
            pass
        # End of input: the server closed the pipe or died. Leave now, whatever the main
        # thread is doing (a load of several seconds, a long generation).
        os._exit(0)

    def is_cancelled(self, job_id: Any) -> bool:
        with self.lock:
            return job_id in self.cancelled

    # ------------------------------------------------------------------- jobs
    def handle(self, msg: dict[str, Any]) -> None:
        from offpilot.engine.runtime import GenerateParams, RuntimeError_

        op = msg.get("op")
        job_id = msg.get("id")
        try:
            if op == "shutdown":
                self.running = False
            elif op == "load":
                info = self.runtime.load(
                    msg["path"], n_ctx=int(msg.get("n_ctx", 4096)),
                    n_threads=int(msg.get("n_threads", 0)),
                    n_gpu_layers=int(msg.get("n_gpu_layers", 0)),
                    n_batch=int(msg.get("n_batch", 512)), n_seq=int(msg.get("n_seq", 2)))
                self.send({"id": job_id, "event": "done", "result": info})
            elif op == "tokenize":
                toks = self.runtime.tokenize(msg.get("text", ""))
                self.send({"id": job_id, "event": "done", "result": {"tokens": len(toks)}})
            elif op == "generate":
                fields = GenerateParams.__dataclass_fields__
                params = GenerateParams(**{k: v for k, v in msg.items() if k in fields})
                gen = self.runtime.generate(params, lambda: self.is_cancelled(job_id))
                heapq.heappush(self.jobs, (int(msg.get("priority", 5)), next(self.order),
                                           job_id, gen))
            elif op == "crash":  # used by tests: a native-level abort, as llama.cpp may do
                os.abort()
            else:
                self.send({"id": job_id, "event": "error", "message": f"unknown op {op!r}"})
        except RuntimeError_ as exc:
            self.send({"id": job_id, "event": "error", "message": str(exc)})
        except Exception as exc:  # report, keep serving
            traceback.print_exc(file=sys.stderr)
            self.send({"id": job_id, "event": "error", "message": f"{type(exc).__name__}: {exc}"})

    def step(self) -> None:
        """Advance the most urgent job by one token (or one prefill chunk)."""
        from offpilot.engine.runtime import RuntimeError_

        _prio, _order, job_id, gen = self.jobs[0]
        try:
            step = next(gen)
        except StopIteration:
            heapq.heappop(self.jobs)
            return
        except RuntimeError_ as exc:
            heapq.heappop(self.jobs)
            self.send({"id": job_id, "event": "error", "message": str(exc)})
            return
        except Exception as exc:
            heapq.heappop(self.jobs)
            traceback.print_exc(file=sys.stderr)
            self.send({"id": job_id, "event": "error", "message": f"{type(exc).__name__}: {exc}"})
            return
        if step.text:
            self.send({"id": job_id, "event": "text", "text": step.text})
        if step.result is not None:
            heapq.heappop(self.jobs)
            gen.close()
            with self.lock:
                self.cancelled.discard(job_id)
            self.send({"id": job_id, "event": "done", "result": step.result})

    def run(self) -> None:
        while self.running:
            # Take every waiting message first: new work can outrank the running job.
            try:
                while True:
                    msg = self.inbox.get(block=not self.jobs)
                    self.handle(msg)
                    if not self.running:
                        return
            except queue.Empty:
                pass
            if self.jobs:
                self.step()


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """Be killed when ``parent`` dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                print(f"prctl(PR_SET_PDEATHSIG) failed: errno {ctypes.get_errno()}",
                      file=sys.stderr)
        except (OSError, AttributeError) as exc:
            print(f"prctl(PR_SET_PDEATHSIG) unavailable: {exc}", file=sys.stderr)
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m offpilot.engine.worker")
    parser.add_argument("--parent", type=int, default=0,
                        help="the server's pid: the worker dies with it")
    args = parser.parse_args(argv)
    forbid_dumps()  # it has the server's environment: keep it from other processes too
    if args.parent:
        die_with_parent(args.parent)
    # Keep the protocol on a private copy of stdout; route fd 1 (native prints) to stderr.
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    worker = Worker(proto)
    reader = threading.Thread(target=worker.read_loop, args=(sys.stdin,), daemon=True)
    reader.start()
    worker.send({"event": "ready", "pid": os.getpid()})
    worker.run()


if __name__ == "__main__":
    main()
