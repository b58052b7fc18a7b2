"""The model worker: a child process that owns the llama.cpp model and runs generation jobs.

Protocol: the typed messages of :mod:`offpilot.engine.wire`, one JSON object per line. Requests
arrive on stdin; events leave on the process's original stdout (fd 1 is then pointed at stderr,
so nothing llama.cpp prints can corrupt the protocol). A reader thread takes ``cancel`` messages
the moment they arrive (llama.cpp releases the GIL while it computes), and the main thread runs
jobs one token at a time, always advancing the most urgent one, so a completion typed during a
long Explain is not kept waiting and a superseded request stops within one token. A line that is
not a request is answered with an ``error`` event saying why, and the worker reads on.

Scheduling: completions before background work (prefetch, warm-ups) before chat; a started
job is never preempted by one of equal priority; among waiting completions the newest runs
first (with the shared service, the window typed in last is served first; within one window,
older ones are superseded anyway). Jobs switch between prefill chunks and between tokens;
background work evaluates its prompt in smaller chunks, so a completion that arrives during it
waits for little.
A generate result counts the prompt tokens evaluated (``prompt_tokens_evaluated``) and the
cached ones moved to new positions (``prompt_tokens_shifted``); a load result says whether the
model's cache moves chunks (``shift_reuse``).

The worker never outlives the server that started it (``--parent PID``): on Linux it asks the
kernel to SIGKILL it when the parent dies (``PR_SET_PDEATHSIG``, checked against a parent that
died before the request took effect), and everywhere it exits as soon as its stdin reaches EOF,
even in the middle of a model load or a generation: nobody is left to read the answer.
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import os
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import IO, Any

from offpilot.engine import wire
from offpilot.shared.nodump import forbid_dumps


@dataclass
class Job:
    priority: int
    order: int  # arrival: higher is newer
    id: wire.Id
    gen: Generator[Any, None, None] = field(repr=False)
    started: bool = False

    def rank(self) -> tuple[int, int, int]:
        """Lower runs first: priority; then a job already started (never preempted by an equal
        one, so its cache and logits stay its own); then, among completions, the newest (the
        window typed last), and among other work, the oldest."""
        newest_first = self.priority <= wire.PRIORITY_COMPLETION
        return (self.priority, 0 if self.started else 1,
                -self.order if newest_first else self.order)


class Worker:
    def __init__(self, out: IO[str]) -> None:
        from offpilot.engine.runtime import LlamaRuntime

        self.runtime = LlamaRuntime()
        self.out = out
        self.inbox: queue.Queue[wire.Request] = queue.Queue()
        self.cancelled: set[wire.Id] = set()
        self.lock = threading.Lock()
        self.running = True
        self.jobs: list[Job] = []
        self.order = itertools.count()

    def send(self, msg: wire.Event) -> None:
        line = wire.encode(msg).decode("ascii")
        with self.lock:
            self.out.write(line)
            self.out.flush()

    # ------------------------------------------------------------------ input
    def read_loop(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                line = line.strip()
                if not line:
                    continue
                try:
                    msg = wire.decode_request(line)
                except wire.ProtocolError as exc:
                    self.send(wire.Error(wire.request_id(line), f"bad request: {exc}"))
                    continue
                if isinstance(msg, wire.Cancel):
                    with self.lock:
                        self.cancelled.add(msg.id)
                    continue
                self.inbox.put(msg)
        except (OSError, ValueError):  # a closed or undecodable stream ends the input too
            pass
        # End of input: the server closed the pipe or died. Leave now, whatever the main
        # thread is doing (a load of several seconds, a long generation).
        os._exit(0)

    def is_cancelled(self, job_id: wire.Id) -> bool:
        with self.lock:
            return job_id in self.cancelled

    # ------------------------------------------------------------------- jobs
    def handle(self, msg: wire.Request) -> None:
        from offpilot.engine.runtime import (
            BACKGROUND_PREFILL_CHUNK,
            PREFILL_CHUNK,
            GenerateParams,
            RuntimeError_,
        )

        job_id = getattr(msg, "id", None)
        try:
            if isinstance(msg, wire.Shutdown):
                self.running = False
            elif isinstance(msg, wire.Load):
                info = self.runtime.load(msg.path, n_ctx=msg.n_ctx, n_threads=msg.n_threads,
                                         n_gpu_layers=msg.n_gpu_layers, n_batch=msg.n_batch,
                                         n_seq=msg.n_seq)
                self.send(wire.Done(job_id, info))
            elif isinstance(msg, wire.Tokenize):
                toks = self.runtime.tokenize(msg.text)
                self.send(wire.Done(job_id, {"tokens": len(toks)}))
            elif isinstance(msg, wire.Generate):
                chunk = (BACKGROUND_PREFILL_CHUNK if msg.priority == wire.PRIORITY_BACKGROUND
                         else PREFILL_CHUNK)
                gen = self.runtime.generate(GenerateParams(**msg.params()),
                                            lambda: self.is_cancelled(job_id),
                                            prefill_chunk=chunk)
                self.jobs.append(Job(msg.priority, next(self.order), job_id, gen))
            elif isinstance(msg, wire.Crash):  # a native-level abort, as llama.cpp may do
                os.abort()
            else:
                self.send(wire.Error(job_id, f"the model worker does not take {msg.OP!r}"))
        except RuntimeError_ as exc:
            self.send(wire.Error(job_id, str(exc)))
        except Exception as exc:  # report, keep serving
            traceback.print_exc(file=sys.stderr)
            self.send(wire.Error(job_id, f"{type(exc).__name__}: {exc}"))

    def next_job(self) -> Job:
        return min(self.jobs, key=Job.rank)

    def step(self) -> None:
        """Advance the most urgent job by one token (or one prefill chunk)."""
        from offpilot.engine.runtime import RuntimeError_

        job = self.next_job()
        job.started = True
        try:
            step = next(job.gen)
        except StopIteration:
            self.jobs.remove(job)
            return
        except RuntimeError_ as exc:
            self.jobs.remove(job)
            self.send(wire.Error(job.id, str(exc)))
            return
        except Exception as exc:
            self.jobs.remove(job)
            traceback.print_exc(file=sys.stderr)
            self.send(wire.Error(job.id, f"{type(exc).__name__}: {exc}"))
            return
        if step.text:
            self.send(wire.Text(job.id, step.text))
        if step.result is not None:
            self.jobs.remove(job)
            job.gen.close()
            with self.lock:
                self.cancelled.discard(job.id)
            self.send(wire.Done(job.id, step.result))

    def run(self) -> None:
        while self.running:
            # Take every waiting message first: new work can outrank the waiting jobs.
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
    worker.send(wire.Ready(os.getpid()))
    worker.run()


if __name__ == "__main__":
    main()
