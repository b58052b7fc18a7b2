"""The shared model service on its loopback TCP transport (the one Windows uses), chosen here
with OFFPILOT_SERVICE_TRANSPORT=tcp: real servers over stdio, the real embedded model, the
service and its worker counted in /proc (helpers of test_shared_model.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from offpilot.engine import wire
from offpilot.engine.service import read_endpoint, record_path
from offpilot.engine.shared import SOCKET_PREFIX, TRANSPORT_ENV, socket_name
from offpilot.shared.processes import start_time

from tests.reliability.rpc import clean_env, model_worker_pids, running
from tests.reliability.test_shared_model import (  # noqa: F401 (shared: a fixture)
    Env,
    complete,
    service_pids,
    shared,
    wait_for,
    workers_of,
)

pytestmark = [pytest.mark.slow, pytest.mark.model]


@pytest.fixture
def tcp(shared: Env) -> Env:  # noqa: F811 (the fixture imported above)
    shared.extra[TRANSPORT_ENV] = "tcp"
    return shared


def endpoint_file(env: Env) -> Path:
    [path] = (env.run_dir / "offpilot").glob(f"{SOCKET_PREFIX}-*.endpoint")
    return path


def listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of the TCP sockets ``pid`` listens on (IPv4 and IPv6; Linux)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.read().splitlines()[1:]:
                cols = row.split()
                if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                    addr, port = cols[1].split(":")
                    if len(addr) == 8:
                        addr = socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1])
                    out.append((addr, int(port, 16)))
    return out


def ask_raw(port: int, data: bytes, timeout: float = 15) -> bytes:
    """Send ``data`` on a new connection; what comes back before it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        got = b""
        try:
            while chunk := conn.recv(65536):
                got += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return got


def test_servers_share_one_service_and_worker_over_loopback_tcp(tcp: Env):
    servers = [tcp.start(f"w{i}") for i in range(3)]
    for i, srv in enumerate(servers):
        assert complete(srv, tcp.tmp / f"w{i}", "a.py"), f"server {i} got no completion"
    [service] = service_pids(tcp.run_dir)
    [worker] = workers_of(service)
    for srv in servers:
        assert model_worker_pids(srv.proc.pid) == []  # no server runs its own worker
        info = srv.call("offpilot/stats")["models"]["completion"]["service"]
        assert info["shared"] is True and info["pid"] == service
        assert info["transport"] == "tcp" and info["socket"].endswith(".endpoint")
    assert os.getsid(service) == service  # detached: a session of its own
    with open(f"/proc/{service}/stat") as f:  # no child of a server (they end theirs)
        assert int(f.read().rsplit(")", 1)[1].split()[1]) not in {s.proc.pid for s in servers}

    path = endpoint_file(tcp)
    endpoint = read_endpoint(path)
    assert endpoint is not None and endpoint["pid"] == service
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(record_path(path)).st_mode) == 0o600
    assert endpoint["token"] not in record_path(path).read_text()  # the record has no token
    assert not list(path.parent.glob("*.sock"))
    assert listening(service) == [("127.0.0.1", endpoint["port"])]  # loopback only

    st = tcp.status()
    assert st is not None and st["pid"] == service and st["transport"] == "tcp"
    assert st["address"] == f"127.0.0.1:{endpoint['port']}"
    assert st["models"][0]["worker_pid"] == worker
    # TCP tells no peer pid: each server says its own in its hello.
    assert {c["pid"] for c in st["clients"]} == {s.proc.pid for s in servers}
    report = servers[2].call("offpilot/modelService")  # the editor's status menu
    assert report["running"] is True and report["status"]["pid"] == service
    assert report["installation"]["transport"] == "tcp"
    assert report["installation"]["socket"] == str(path)
    text = subprocess.run([sys.executable, "-m", "offpilot", "models", "status"],
                          env=tcp.env(), capture_output=True, text=True, timeout=30).stdout
    assert f"service: pid {service}" in text
    assert f"endpoint: 127.0.0.1:{endpoint['port']} (loopback TCP" in text

    # Another installation's TCP service is listed from its records, without connecting.
    other = path.with_name(f"{SOCKET_PREFIX}-0123456789ab.endpoint")
    log = tcp.tmp / "other-service.log"
    with open(log, "wb") as err:  # (a pipe would be held open by the detached service)
        started = subprocess.run(
            [sys.executable, "-m", "offpilot.engine.service", "--endpoint", str(other),
             "--idle-exit", "600", "--detach"], env=clean_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=err, timeout=60)
    assert started.returncode == 0, log.read_text()
    theirs = read_endpoint(other)
    assert theirs is not None and running(theirs["pid"])
    [listed] = tcp.report()["others"]
    assert listed == {**listed, "socket": str(other), "state": "running", "pid": theirs["pid"]}
    os.kill(theirs["pid"], signal.SIGKILL)
    assert wait_for(lambda: not running(theirs["pid"]), 10)
    [listed] = tcp.report()["others"]
    assert listed["state"] == "stopped" and listed["socket"] == str(other)


def test_connections_without_the_token_are_closed_unanswered(tcp: Env):
    a = tcp.start("a")
    assert complete(a, tcp.tmp / "a", "a.py")
    [service] = service_pids(tcp.run_dir)
    endpoint = read_endpoint(endpoint_file(tcp))
    assert endpoint is not None
    port, token = endpoint["port"], endpoint["token"]
    status = wire.encode(wire.Status(1))

    assert ask_raw(port, status) == b""  # no hello
    assert ask_raw(port, wire.encode(wire.Hello(token="f" * 64, id="h"))) == b""
    assert ask_raw(port, wire.encode(wire.Hello(token=token.upper(), id="h"))) == b""
    t0 = time.monotonic()
    assert ask_raw(port, b"", timeout=30) == b""  # says nothing: closed after the limit
    assert time.monotonic() - t0 < 15

    # The real token gets an answer (what the refused ones would have got).
    answer = ask_raw(port, wire.encode(wire.Hello(token=token, id="h")), timeout=3)
    assert json.loads(answer.splitlines()[0]) == {
        "event": "done", "id": "h", "result": {"service_pid": service}}

    # The service went on serving its server throughout, and counts no refused peer.
    assert complete(a, tcp.tmp / "a", "b.py", "def double(x):\n    return \n")
    st = tcp.status()
    assert st is not None and [c["pid"] for c in st["clients"]] == [a.proc.pid]
    assert service_pids(tcp.run_dir) == [service]


def test_a_killed_tcp_service_is_replaced_and_a_stale_endpoint_too(
        tcp: Env, monkeypatch: pytest.MonkeyPatch):
    run = tcp.run_dir / "offpilot"
    run.mkdir(mode=0o700)
    # A stale endpoint file: its process is gone (a pid that ran and was reaped).
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    monkeypatch.setenv(TRANSPORT_ENV, "tcp")
    path = run / socket_name()  # the endpoint file of this installation's service
    path.write_text(json.dumps({"port": 9, "token": "0" * 64, "pid": gone.pid}))

    a = tcp.start("a")
    b = tcp.start("b")
    assert complete(a, tcp.tmp / "a", "a.py")
    assert complete(b, tcp.tmp / "b", "a.py")
    [service] = service_pids(tcp.run_dir)
    first = read_endpoint(path)
    assert first is not None and first["pid"] == service and first["port"] != 9

    os.kill(service, signal.SIGKILL)  # its endpoint file stays behind, naming a dead pid
    assert wait_for(lambda: not running(service), 10)
    assert complete(a, tcp.tmp / "a", "b.py", "def double(x):\n    return \n",
                    timeout=60), tcp.logs()
    assert complete(b, tcp.tmp / "b", "b.py", "def half(x):\n    return \n",
                    timeout=60), tcp.logs()
    [new] = service_pids(tcp.run_dir)
    assert new != service and len(workers_of(new)) == 1
    second = read_endpoint(path)
    assert second is not None and second["pid"] == new
    assert second["token"] != first["token"]  # a new token (and, most likely, a new port)
    for srv in (a, b):
        assert srv.call("offpilot/stats")["models"]["completion"]["service"]["pid"] == new
        assert model_worker_pids(srv.proc.pid) == []

    # A live pid whose port takes no token (the test's own process, a closed port): stale.
    for srv in (a, b):
        srv.close()
    os.kill(new, signal.SIGTERM)
    assert wait_for(lambda: not running(new), 10) and not path.exists()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    path.write_text(json.dumps({"port": closed_port, "token": "1" * 64, "pid": os.getpid(),
                                "proc_start": start_time(os.getpid())}))
    c = tcp.start("c")
    assert complete(c, tcp.tmp / "c", "a.py")
    [third] = service_pids(tcp.run_dir)
    replaced = read_endpoint(path)
    assert replaced is not None and replaced["pid"] == third and replaced["port"] != closed_port
