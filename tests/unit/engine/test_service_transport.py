"""The parts of the model service's transport that need no model: the start lock across
processes, process liveness, the transport choice, endpoint files, and the TCP service's
token handshake (a real service process on 127.0.0.1; it starts no model worker until a
client loads a model)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from offpilot.engine import shared, wire
from offpilot.engine.backend import ModelError
from offpilot.engine.service import hello, read_endpoint, record_path
from offpilot.shared.processes import process_alive, start_time


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OFFPILOT_")}


# ------------------------------------------------------------------- the lock
HOLD = """
import sys, filelock
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""


def test_start_lock_excludes_another_process_and_is_freed_when_it_is_killed(tmp_path: Path):
    path = tmp_path / "model-x.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=_env())
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"

        async def take(timeout: float) -> float:
            t0 = time.monotonic()
            async with shared.start_lock(path, timeout):
                return time.monotonic() - t0

        with pytest.raises(ModelError, match="another server is starting"):
            asyncio.run(take(0.3))
        holder.kill()  # killed, not released: the system frees the lock
        holder.wait()
        assert asyncio.run(take(5.0)) < 2.0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_start_lock_waits_without_blocking_the_loop(tmp_path: Path):
    path = tmp_path / "model-x.lock"
    order: list[str] = []

    async def scenario() -> None:
        async def first() -> None:
            async with shared.start_lock(path):
                order.append("first in")
                await asyncio.sleep(0.3)  # the loop runs on: second polls meanwhile
                order.append("first out")

        async def second() -> None:
            await asyncio.sleep(0.05)
            async with shared.start_lock(path):
                order.append("second in")

        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            for _ in range(10):
                await asyncio.sleep(0.02)
                ticks += 1

        await asyncio.gather(first(), second(), ticker())
        assert ticks == 10

    asyncio.run(scenario())
    assert order == ["first in", "first out", "second in"]


# ---------------------------------------------------------------- liveness
def test_process_alive_tells_running_ended_zombie_and_reused_processes():
    assert process_alive(os.getpid(), start_time(os.getpid()))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = start_time(child.pid)
    deadline = time.monotonic() + 10
    while sys.platform.startswith("linux") and time.monotonic() < deadline:
        with open(f"/proc/{child.pid}/stat") as f:  # ended, not reaped: a zombie
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.02)
    if sys.platform.startswith("linux"):
        assert not process_alive(child.pid)
    child.wait()
    assert not process_alive(child.pid, started)
    if started is not None:  # (Linux) the same pid with another start time: another process
        assert not process_alive(os.getpid(), str(int(started) + 1))


@pytest.mark.parametrize("pid", [0, -1])
def test_process_alive_never_probes_a_process_group(pid: int):
    assert process_alive(pid) is False  # kill(0, 0) would succeed: the caller's own group


# ------------------------------------------------------------- the transport
@pytest.mark.parametrize(("value", "expected"), [
    (None, "unix"), ("", "unix"), ("auto", "unix"), ("tcp", "tcp"), ("TCP ", "tcp"),
    ("unix", "unix"), ("carrier-pigeon", "unix")])
def test_transport_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                        expected: str):
    if value is None:
        monkeypatch.delenv(shared.TRANSPORT_ENV, raising=False)
    else:
        monkeypatch.setenv(shared.TRANSPORT_ENV, value)
    assert shared.transport() == expected  # (this platform has Unix sockets)
    assert shared.available()
    suffix = ".endpoint" if expected == "tcp" else ".sock"
    assert shared.socket_name().endswith(suffix)


def test_records_of_both_transports_have_names_of_their_own(tmp_path: Path):
    assert record_path(tmp_path / "model-a.sock") == tmp_path / "model-a.json"
    assert record_path(tmp_path / "model-a.endpoint") == tmp_path / "model-a.endpoint.json"


@pytest.mark.parametrize("text", [
    "", "not json", "[]", '{"port": 1, "token": "t"}', '{"port": 0, "token": "t", "pid": 1}',
    '{"port": 70000, "token": "t", "pid": 1}', '{"port": 80, "token": "", "pid": 1}',
    '{"port": true, "token": "t", "pid": 1}', '{"port": 80, "token": 5, "pid": 1}'])
def test_read_endpoint_refuses_what_is_not_an_endpoint(tmp_path: Path, text: str):
    path = tmp_path / "e.endpoint"
    path.write_text(text)
    assert read_endpoint(path) is None


# ------------------------------------------------------ the TCP service itself
@pytest.fixture
def tcp_service(tmp_path: Path) -> Iterator[tuple[Path, dict[str, object]]]:
    path = tmp_path / "model-test.endpoint"
    log = open(tmp_path / "service.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "offpilot.engine.service", "--endpoint", str(path),
         "--idle-exit", "60"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=log, env=_env())
    try:
        deadline = time.monotonic() + 30
        while (endpoint := read_endpoint(path)) is None and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "service.log").read_text()
            time.sleep(0.05)
        assert endpoint is not None and endpoint["pid"] == proc.pid
        yield path, endpoint
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert not path.exists() and not record_path(path).exists()  # removed as it exits


def _answer(conn: socket.socket, timeout: float = 10) -> bytes:
    """What comes back before the connection closes (or the timeout)."""
    conn.settimeout(timeout)
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def test_tcp_service_answers_only_a_first_line_hello_with_its_token(
        tcp_service: tuple[Path, dict[str, object]]):
    path, endpoint = tcp_service
    port, token = endpoint["port"], endpoint["token"]
    assert isinstance(port, int) and isinstance(token, str)
    assert len(bytes.fromhex(token)) == 32
    assert os.stat(path).st_mode & 0o777 == 0o600
    record = json.loads(record_path(path).read_text())
    assert record["port"] == port and token not in record_path(path).read_text()
    status = wire.encode(wire.Status(1))

    refused = [
        status,  # no hello
        wire.encode(wire.Hello(token="0" * 64, id="h")) + status,  # a wrong token
        wire.encode(wire.Hello(token=token[:-1], id="h")),  # a prefix of it
        wire.encode(wire.Hello(token=token, id="h")) + status,  # not alone: not waited for
        b'{"op": "hello"}\n',  # no token at all
    ]
    for line in refused:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(line)
            assert _answer(conn) == b"", line
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        t0 = time.monotonic()
        assert _answer(conn, 30) == b""  # silent: closed after the hello time limit
        assert 3.0 < time.monotonic() - t0 < 15.0

    # The token, alone: answered, and then the connection is a client like any other.
    conn = hello(port, token, 10)
    assert conn is not None
    with conn:
        conn.sendall(status)
        with conn.makefile("rb") as f:
            msg = wire.decode_event(f.readline())
    assert isinstance(msg, wire.Done) and msg.result["transport"] == "tcp"
    assert msg.result["address"] == f"127.0.0.1:{port}" and msg.result["pid"] == endpoint["pid"]


def test_a_second_tcp_service_leaves_a_live_one_to_serve(
        tcp_service: tuple[Path, dict[str, object]]):
    path, endpoint = tcp_service
    out = subprocess.run(
        [sys.executable, "-m", "offpilot.engine.service", "--endpoint", str(path),
         "--idle-exit", "60"], stdin=subprocess.DEVNULL, capture_output=True, env=_env(),
        timeout=60)
    assert out.returncode == 0, out.stderr
    assert b"already listens" in out.stderr
    assert read_endpoint(path) == endpoint  # untouched


def _start(path: Path, idle_exit: float) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "offpilot.engine.service", "--endpoint", str(path),
         "--idle-exit", str(idle_exit)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env=_env())
    deadline = time.monotonic() + 30
    while (read_endpoint(path) or {}).get("pid") != proc.pid:
        assert proc.poll() is None and time.monotonic() < deadline, "it did not listen"
        time.sleep(0.05)
    return proc


def test_tcp_service_exits_when_idle_and_when_its_endpoint_file_is_replaced(tmp_path: Path):
    path = tmp_path / "model-test.endpoint"
    idle = _start(path, 1)
    try:
        assert idle.wait(15) == 0  # no client for a second
    finally:
        if idle.poll() is None:
            idle.kill()
            idle.wait()
    assert not path.exists() and not record_path(path).exists()

    replaced = _start(path, 600)
    try:
        endpoint = read_endpoint(path)
        assert endpoint is not None
        # Another service took the name (it wrote its own endpoint file): this one leaves,
        # and leaves that file alone.
        other = {**endpoint, "pid": os.getppid(), "port": endpoint["port"] ^ 1}
        path.write_text(json.dumps(other))
        assert replaced.wait(15) == 0
    finally:
        if replaced.poll() is None:
            replaced.kill()
            replaced.wait()
    assert json.loads(path.read_text()) == other
