"""The shared model service seen by its clients: scheduling across windows, slow readers, bad lines.

The real service process and its real model worker (the embedded Gemma 270M), spoken to over
its Unix socket by plain socket clients in the test, one per editor window: that way the order
in which requests reach the service is the test's to choose, and a client can stop reading.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from offpilot.engine import wire

from tests.reliability.rpc import clean_env

pytestmark = [pytest.mark.slow, pytest.mark.model]

COUNT = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"  # the model goes on counting: long output


def wait_for(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


class Service:
    def __init__(self, *extra: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="op-svc-"))
        os.chmod(self.dir, 0o700)
        self.path = self.dir / "model.sock"
        self.log = open(self.dir / "service.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "offpilot.engine.service", "--socket", str(self.path),
             "--idle-exit", "60", "--foreground", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log,
            env=clean_env())
        assert wait_for(self.path.exists, 30), "the service did not listen"

    def status(self) -> dict[str, Any]:
        with Client(self) as c:
            c.send(wire.Status(id="s"))
            return c.wait("s", 10).result

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return (self.dir / "service.log").read_text(errors="replace")


class Client:
    """One window's connection: sends typed requests, a thread reads the events (if asked)."""

    def __init__(self, service: Service, *, read: bool = True) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(service.path))
        self.events: list[tuple[float, wire.Event]] = []
        self.finished: dict[Any, tuple[float, wire.Event]] = {}
        self.closed = threading.Event()
        if read:
            threading.Thread(target=self._read, daemon=True).start()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, msg: wire.Request) -> None:
        self.sock.sendall(wire.encode(msg))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self) -> None:
        with self.sock.makefile("rb") as f:
            for line in f:
                event = wire.decode_event(line)
                now = time.monotonic()
                self.events.append((now, event))
                if isinstance(event, (wire.Done, wire.Error)):
                    self.finished[event.id] = (now, event)
        self.closed.set()

    def wait(self, rid: Any, timeout: float) -> Any:
        assert wait_for(lambda: rid in self.finished, timeout), f"no answer to {rid!r}"
        return self.finished[rid][1]

    def load(self, model: Path) -> dict[str, Any]:
        self.send(wire.Load(id="load", path=str(model), n_ctx=1024, n_threads=1))
        done = self.wait("load", 120)
        assert isinstance(done, wire.Done), done
        return done.result


def completion(rid: str, prompt: str = "def add(a, b):\n    return", **kw: Any) -> wire.Generate:
    return wire.Generate(id=rid, priority=wire.PRIORITY_COMPLETION,
                         segments=[{"text": prompt}], **{"max_tokens": 8, "time_limit": 60, **kw})


def in_flight(service: Service, pid_count: int) -> bool:
    """Whether the service has relayed ``pid_count`` requests that are not answered yet."""
    return sum(c["in_flight"] for c in service.status()["clients"]) >= pid_count


@pytest.fixture
def service(gemma_path: Path):
    svc = Service()
    yield svc
    svc.stop()


def test_newest_windows_completion_runs_before_an_older_windows_queued_one(service: Service,
                                                                           gemma_path: Path):
    busy, older, newer = Client(service), Client(service), Client(service)
    for c in (busy, older, newer):
        c.load(gemma_path)
    # One window's long completion runs; two others queue behind it, the older one first.
    busy.send(completion("long", COUNT, max_tokens=120, stream=True))
    assert wait_for(lambda: any(isinstance(e, wire.Text) for _t, e in busy.events) or
                    "long" in busy.finished, 60)
    busy_started = "long" not in busy.finished
    older.send(completion("a"))
    assert wait_for(lambda: in_flight(service, 2), 10)
    newer.send(completion("b", "def double(x):\n    return"))
    for c, rid in ((older, "a"), (newer, "b"), (busy, "long")):
        assert isinstance(c.wait(rid, 120), wire.Done)
    t_long, t_a, t_b = busy.finished["long"][0], older.finished["a"][0], newer.finished["b"][0]
    assert t_b < t_a, "the newest window's completion waited for an older window's"
    if busy_started:  # a started completion is not preempted by an equal one
        assert t_long < t_b
    assert busy.finished["long"][1].result["generated_tokens"] > 8


def test_a_completion_runs_before_a_long_chat_generation(service: Service, gemma_path: Path):
    chat, typing = Client(service), Client(service)
    chat.load(gemma_path)
    typing.load(gemma_path)
    chat.send(wire.Generate(id="explain", priority=wire.PRIORITY_CHAT, seq=1, stream=True,
                            segments=[{"text": COUNT}], max_tokens=160, time_limit=60))
    assert wait_for(lambda: any(isinstance(e, wire.Text) for _t, e in chat.events), 60)
    typing.send(completion("c"))
    done = typing.wait("c", 60)
    assert isinstance(done, wire.Done) and done.result["stop_reason"] != "cancelled"
    explained = chat.wait("explain", 120)
    assert isinstance(explained, wire.Done) and explained.result["generated_tokens"] > 20
    assert typing.finished["c"][0] < chat.finished["explain"][0]


def test_bad_lines_are_answered_and_the_connection_serves_on(service: Service, gemma_path: Path):
    c = Client(service)
    c.send_raw(b"this is not json\n")
    c.send_raw(b'{"op": "generate", "id": 9, "segments": "text"}\n')
    c.send_raw(b'{"op": "teleport", "id": 10}\n')
    c.send_raw(b"[1, 2, 3]\n")
    assert wait_for(lambda: len(c.events) >= 4, 10)
    errors = [e for _t, e in c.events]
    assert all(isinstance(e, wire.Error) for e in errors), errors
    assert "not JSON" in errors[0].message and errors[0].id is None
    assert errors[1].id == 9 and "generate.segments" in errors[1].message
    assert errors[2].id == 10 and "unknown op 'teleport'" in errors[2].message
    assert "not a JSON object" in errors[3].message
    c.load(gemma_path)
    c.send(completion("ok"))
    assert isinstance(c.wait("ok", 60), wire.Done)
    assert service.proc.poll() is None


def test_a_client_that_stops_reading_is_dropped_and_others_are_served(gemma_path: Path):
    limit = 8192
    service = Service("--client-buffer", str(limit))
    try:
        stuck = Client(service, read=False)
        stuck.send(wire.Load(id="load", path=str(gemma_path), n_ctx=1024, n_threads=1))
        assert wait_for(lambda: len(service.status()["clients"]) == 1, 120)
        # Streamed generations whose text it never reads: far more than the limit in all.
        for i in range(40):
            stuck.send(wire.Generate(id=i, segments=[{"text": COUNT}], stream=True,
                                     max_tokens=64, time_limit=60))
        good = Client(service)
        good.load(gemma_path)
        t0 = time.monotonic()
        for i in range(3):
            good.send(completion(f"g{i}"))
            assert isinstance(good.wait(f"g{i}", 60), wire.Done)
        served = time.monotonic() - t0

        # The service let go of the stuck client: it is gone from the status, its queued
        # generations were cancelled, and what it had not read was not kept.
        def gone() -> bool:
            st = service.status()
            return len(st["clients"]) == 1 and st["models"][0]["queued"] == 0
        assert wait_for(gone, 120), service.status()
        stuck.sock.settimeout(10)
        received = 0
        while chunk := stuck.sock.recv(1 << 16):
            received += len(chunk)
        # What sat in the kernel's socket buffer, plus at most the limit (and one message).
        assert received < limit + 512 * 1024
        good.send(completion("after"))
        assert isinstance(good.wait("after", 60), wire.Done)
        assert service.proc.poll() is None
        assert served < 60
    finally:
        log = service.stop()
    assert "stopped reading" in log
