"""The shared model service with real servers over stdio and the real embedded model.

Each test points XDG_RUNTIME_DIR at a private temporary directory, so its servers find (or
start) their own service; the fixture stops whatever service a test left behind. Processes are
counted in /proc: one service per installation, one model worker for any number of servers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from offpilot.engine.shared import socket_name

from tests.reliability.rpc import (
    SERVER,
    RawServer,
    children_of,
    clean_env,
    cmdline,
    inline_params,
    items_of,
    model_worker_pids,
    running,
)

pytestmark = [pytest.mark.slow, pytest.mark.model]

TEXT = "def add(a, b):\n    return \n"
FAST = {"indexEnabled": False, "threads": 1, "contextSize": 1024, "maxTokens": 8,
        "debounceMs": 0, "warmup": False, "prefetch": False, "sharedModel": True}


REPO = Path(__file__).resolve().parents[2]


def own_socket(run_dir: Path) -> Path:
    """The socket of the service of this installation (the one the tests run)."""
    return run_dir / "offpilot" / socket_name()


def socket_arg(pid: int) -> str | None:
    """The socket a service process was started for (its ``--socket`` argument, or the
    endpoint file of one on loopback TCP: ``--endpoint``)."""
    argv = cmdline(pid)
    if "offpilot.engine.service" not in argv:
        return None
    for flag in ("--socket", "--endpoint"):
        if flag in argv[:-1]:
            return argv[argv.index(flag) + 1]
    return None


def service_pids(run_dir: Path, sock: Path | None = None) -> list[int]:
    """Live service processes listening in ``run_dir`` (on ``sock`` only, if given)."""
    where = str(run_dir / "offpilot") + os.sep
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and running(int(p))
            and (arg := socket_arg(int(p))) is not None
            and (arg == str(sock) if sock is not None else arg.startswith(where))]


def workers_of(pid: int) -> list[int]:
    return [p for p in children_of(pid) if running(p)
            and "offpilot.engine.worker" in cmdline(p)]


def wait_for(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


class Env:
    def __init__(self, run_dir: Path, tmp: Path, model: Path) -> None:
        self.run_dir = run_dir
        self.tmp = tmp
        self.model = model
        self.servers: list[RawServer] = []
        self.extra: dict[str, str] = {}  # more environment for every server and command

    def env(self, install: Path | None = None) -> dict[str, str]:
        """The environment of a server; ``install``: run the package found there instead."""
        env = clean_env(OFFPILOT_CACHE_DIR=str(self.tmp / ".cache"),
                        XDG_RUNTIME_DIR=str(self.run_dir), **self.extra)
        if install is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(install), env.get("PYTHONPATH")) if p)
        return env

    def start(self, name: str, install: Path | None = None, **options: Any) -> RawServer:
        root = self.tmp / name
        root.mkdir(exist_ok=True)
        # the server's log (info), read by :meth:`logs` when an assertion fails
        log = (self.tmp / f"{name}.log").open("ab")
        srv = RawServer(self.env(install), command=[*SERVER[:-1], "info"], stderr=log)
        log.close()  # (the server has its own copy)
        srv.config = {**FAST, "model": str(self.model), **options}
        srv.initialize(root, options=srv.config)
        self.servers.append(srv)
        return srv

    def logs(self, tail: int = 4000) -> str:
        """The end of each server's log, for an assertion's message."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}"
                         for p in sorted(self.tmp.glob("*.log")))

    def report(self, install: Path | None = None) -> dict[str, Any]:
        """What ``offpilot models status --json`` (of ``install``, or of this one) prints."""
        out = subprocess.run([sys.executable, "-m", "offpilot", "models", "status", "--json"],
                             env=self.env(install), capture_output=True, text=True, timeout=30)
        assert out.stdout.strip(), out.stderr
        report: dict[str, Any] = json.loads(out.stdout)
        assert out.returncode == (0 if report["running"] else 1), out
        return report

    def status(self, install: Path | None = None) -> dict[str, Any] | None:
        """The status of the running service of this installation (or of ``install``)."""
        report = self.report(install)
        return report["status"] if report["running"] else None


@pytest.fixture
def shared(tmp_path: Path, gemma_path: Path) -> Iterator[Env]:
    # A short path: Unix socket paths are limited to about 100 bytes.
    run_dir = Path(tempfile.mkdtemp(prefix="op-run-"))
    os.chmod(run_dir, 0o700)
    env = Env(run_dir, tmp_path, gemma_path)
    try:
        yield env
    finally:
        for srv in env.servers:
            if srv.alive():
                srv.close()
        for pid in service_pids(run_dir):
            os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not service_pids(run_dir), 10)
        for pid in service_pids(run_dir):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(run_dir, ignore_errors=True)


def complete(srv: RawServer, root: Path, name: str, text: str = TEXT, line: int = 1,
             character: int = 11, timeout: float = 120) -> list[dict[str, Any]]:
    uri = (root / name).as_uri()
    srv.open(uri, text)
    return items_of(srv.call("textDocument/inlineCompletion",
                             inline_params(uri, line, character, trigger=1), timeout))


def test_three_servers_share_one_model_worker_and_outlive_each_other(shared: Env):
    servers = [shared.start(f"w{i}") for i in range(3)]
    for i, srv in enumerate(servers):
        assert complete(srv, shared.tmp / f"w{i}", "a.py"), f"server {i} got no completion"
    services = service_pids(shared.run_dir)
    assert len(services) == 1, services
    service = services[0]
    workers = workers_of(service)
    assert len(workers) == 1, workers  # exactly one process owns the model
    for srv in servers:
        assert model_worker_pids(srv.proc.pid) == []  # no server runs its own worker
        info = srv.call("offpilot/stats")["models"]["completion"]
        assert info["service"]["shared"] is True and info["service"]["pid"] == service
        assert info["pid"] == workers[0]
    slots = {srv.call("offpilot/stats")["models"]["completion"]["service"]["slot"]
             for srv in servers}
    assert slots == {0, 1, 2}  # a KV-cache slot each

    st = shared.status()
    assert st is not None and st["pid"] == service
    assert len(st["models"]) == 1 and st["models"][0]["worker_pid"] == workers[0]
    assert st["models"][0]["rss"] > 0 and st["rss_total"] > st["models"][0]["rss"]
    clients = {c["pid"]: c for c in st["clients"]}
    assert set(clients) == {srv.proc.pid for srv in servers}
    for c in clients.values():
        assert c["requests"] >= 1 and c["prompt_tokens"] > 0
        assert c["cache_hit_rate"] is not None

    # The editor's status menu asks a server for the same status.
    report = servers[2].call("offpilot/modelService")
    assert report["running"] is True and report["status"]["pid"] == service
    assert {c["pid"] for c in report["status"]["clients"]} == set(clients)
    assert report["status"]["models"][0]["loaded"] is True

    # Typing on in one window: its own slot still holds the prompt before the cursor.
    uri = (shared.tmp / "w0" / "a.py").as_uri()
    servers[0].notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2},
        "contentChanges": [{"text": "def add(a, b):\n    return (\n"}]})
    servers[0].call("textDocument/inlineCompletion", inline_params(uri, 1, 12, 1), 120)
    st = shared.status()
    assert st is not None
    mine = {c["pid"]: c for c in st["clients"]}[servers[0].proc.pid]
    assert mine["prompt_tokens_evaluated"] < mine["prompt_tokens"]

    # A server that dies does not take the service down.
    servers[0].proc.kill()
    servers[0].proc.wait()
    assert complete(servers[1], shared.tmp / "w1", "b.py", "def double(x):\n    return \n")
    assert service_pids(shared.run_dir) == [service]
    assert workers_of(service) == workers
    assert wait_for(lambda: len((shared.status() or {}).get("clients", [])) == 2, 5)


def test_cancellation_and_supersession_stay_within_one_client(shared: Env):
    a = shared.start("a", maxTokens=96, maxLines=200, timeLimit=60)
    b = shared.start("b")
    assert complete(b, shared.tmp / "b", "warm.py")  # the service and the model are up
    long_uri = (shared.tmp / "a" / "long.py").as_uri()
    a.open(long_uri, "# A module of many small numbered functions.\n\ndef f1():\n    return 1\n\n")
    long_id = a.request("textDocument/inlineCompletion", inline_params(long_uri, 5, 0, 1))
    assert wait_for(lambda: any(c["in_flight"] for c in (shared.status() or {}).get(
        "clients", [])), 60), "the long completion never reached the service"

    # B supersedes its own request and cancels another; A's generation goes on.
    uri = (shared.tmp / "b" / "x.py").as_uri()
    b.open(uri, TEXT)
    first = b.request("textDocument/inlineCompletion", inline_params(uri, 1, 11, 1))
    second = b.request("textDocument/inlineCompletion", inline_params(uri, 1, 11, 1))
    other = (shared.tmp / "b" / "y.py").as_uri()
    b.open(other, "def double(x):\n    return \n")
    third = b.request("textDocument/inlineCompletion", inline_params(other, 1, 11, 1))
    b.notify("$/cancelRequest", {"id": third})
    for rid in (first, second, third):
        assert b.wait_reply(rid, 120) is not None
    assert items_of(b.replies[second]["result"])  # the newest of B's requests is answered
    assert items_of(b.replies[first]["result"]) == []  # superseded

    reply = a.wait_reply(long_id, 120)
    assert reply is not None and "result" in reply, reply
    text = items_of(reply["result"])[0]["insertText"]
    assert len(text) > 40, text  # A's long completion ran to its end, not cancelled
    stats = a.call("offpilot/stats")
    assert stats["completion"]["superseded"] == 0


def test_service_killed_mid_completion_every_server_recovers(shared: Env):
    a = shared.start("a", maxTokens=256, maxLines=200, timeLimit=60)
    b = shared.start("b")
    assert complete(b, shared.tmp / "b", "warm.py")
    [service] = service_pids(shared.run_dir)
    [worker] = workers_of(service)
    long_uri = (shared.tmp / "a" / "long.py").as_uri()
    a.open(long_uri, "# A module of many small numbered functions.\n\ndef f1():\n    return 1\n\n")
    rid = a.request("textDocument/inlineCompletion", inline_params(long_uri, 5, 0, 1))
    assert wait_for(lambda: any(c["in_flight"] for c in (shared.status() or {}).get(
        "clients", [])), 60)
    time.sleep(0.3)
    assert rid not in a.replies, "the long completion ended before the kill"

    os.kill(service, signal.SIGKILL)
    killed = time.monotonic()
    reply = a.wait_reply(rid, 10)
    assert reply is not None and "result" in reply, reply
    assert a.reply_times[rid] - killed < 2.0  # answered (empty), not left hanging
    assert items_of(reply["result"]) == []
    # It stops at its next token (one token can take seconds on a busy machine).
    assert wait_for(lambda: not running(worker), 15), "the old worker outlived its service"

    # Both servers reconnect; exactly one new service with one worker.
    a.configure({**FAST, "model": str(shared.model)})  # short completions from here on
    assert complete(a, shared.tmp / "a", "c.py", "def triple(x):\n    return \n", timeout=60)
    assert complete(b, shared.tmp / "b", "d.py", "def half(x):\n    return \n", timeout=60)
    services = service_pids(shared.run_dir)
    assert len(services) == 1 and services != [service], services
    [new] = services
    assert len(workers_of(new)) == 1, (workers_of(new), children_of(new), shared.status())
    for srv in (a, b):
        assert srv.call("offpilot/stats")["models"]["completion"]["service"]["pid"] == new
        assert model_worker_pids(srv.proc.pid) == []


def test_a_request_sent_to_a_service_that_died_unnoticed_goes_to_the_new_one(
        shared: Env, monkeypatch: pytest.MonkeyPatch):
    """A request written on the connection of a service that has died, before the server read
    the connection's end (its loop busy: a keystroke right after a crash, on a loaded machine),
    was never in flight: it waits for the reconnection and the new service answers it."""
    import asyncio

    from offpilot.engine.backend import InfillRequest
    from offpilot.engine.shared import SharedBackend

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared.run_dir))

    async def scenario() -> tuple[int | None, int | None, str]:
        backend = SharedBackend(shared.model, n_ctx=1024, n_threads=1)
        try:
            await backend.start()
            old = backend.service_pid
            assert old is not None and service_pids(shared.run_dir) == [old]
            os.kill(old, signal.SIGKILL)
            # The loop does not run meanwhile: the end of the connection stays unread.
            assert wait_for(lambda: not running(old), 10)
            result = await backend.infill(InfillRequest(
                prefix="def add(a, b):\n    return ", suffix="\n", max_tokens=8,
                time_limit=60))
            return old, backend.service_pid, result.text
        finally:
            await backend.close()

    old, new, text = asyncio.run(scenario())
    assert text.strip(), "the request sent as the service died came back empty"
    assert new is not None and new != old and service_pids(shared.run_dir) == [new]


def test_stale_socket_is_replaced_and_permissions_are_private(shared: Env):
    sock_dir = shared.run_dir / "offpilot"
    sock_dir.mkdir(mode=0o755)  # too open: tightened
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = own_socket(shared.run_dir)
    stale.bind(str(path))  # bound, never listening: refuses connections
    stale.close()
    srv = shared.start("a")
    assert complete(srv, shared.tmp / "a", "a.py")
    assert len(service_pids(shared.run_dir, path)) == 1
    assert stat.S_IMODE(os.stat(sock_dir).st_mode) == 0o700
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert model_worker_pids(srv.proc.pid) == []


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                    reason="switching to another user needs root")
def test_another_user_cannot_connect(shared: Env):
    srv = shared.start("a")
    assert complete(srv, shared.tmp / "a", "a.py")
    path = own_socket(shared.run_dir)

    def as_nobody() -> str:
        """Connect as user nobody (a forked child) and ask for the status."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: only plain system calls, then _exit
            try:
                os.close(r)
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(10)
                try:
                    s.connect(str(path))
                except PermissionError:
                    res = b"denied"
                else:
                    try:
                        s.sendall(b'{"op": "status", "id": 1}\n')
                        res = b"answered" if s.recv(65536) else b"closed"
                    except (ConnectionResetError, BrokenPipeError):  # closed unread
                        res = b"closed"
            except BaseException as exc:
                res = repr(exc).encode()
            os.write(w, res)
            os._exit(0)
        os.close(w)
        try:
            return os.read(r, 4096).decode()
        finally:
            os.close(r)
            os.waitpid(pid, 0)

    assert as_nobody() == "denied"  # the directory and the socket are private
    # Even if the permissions were opened up, the service checks the peer's uid.
    os.chmod(shared.run_dir, 0o755)
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o666)
    assert as_nobody() == "closed"
    assert complete(srv, shared.tmp / "a", "b.py", "def double(x):\n    return \n")


def test_service_exits_when_idle(shared: Env):
    srv = shared.start("a", sharedModelIdleExit=2)
    assert complete(srv, shared.tmp / "a", "a.py")
    [service] = service_pids(shared.run_dir)
    [worker] = workers_of(service)
    time.sleep(3)  # a connected server keeps it up, idle or not
    assert running(service)
    srv.close()
    assert wait_for(lambda: not running(service) and not running(worker), 10)
    assert not own_socket(shared.run_dir).exists()
    assert not own_socket(shared.run_dir).with_suffix(".json").exists()  # its record


def test_setting_off_and_unusable_service_dir_use_the_in_server_worker(shared: Env):
    off = shared.start("off", sharedModel=False)
    assert complete(off, shared.tmp / "off", "a.py")
    assert len(model_worker_pids(off.proc.pid)) == 1
    assert service_pids(shared.run_dir) == []
    assert "service" not in off.call("offpilot/stats")["models"]["completion"]
    report = off.call("offpilot/modelService")
    assert report["running"] is False and "no shared model service" in report["message"]

    (shared.run_dir / "offpilot").write_text("not a directory")
    fallback = shared.start("fb")
    assert complete(fallback, shared.tmp / "fb", "a.py")
    assert len(model_worker_pids(fallback.proc.pid)) == 1
    info = fallback.call("offpilot/stats")["models"]["completion"]
    assert info["service"]["shared"] is False
    assert str(shared.run_dir / "offpilot") in info["service"]["fallback"]
    assert service_pids(shared.run_dir) == []


def other_installation(tmp: Path, version: str) -> Path:
    """Another installation of Offpilot: a copy of the package elsewhere (with the queries, as
    the wheel ships them), saying it is ``version``. Put first on PYTHONPATH, it is what a
    server, its service and their model worker run."""
    root = tmp / f"install-{version}"
    shutil.copytree(REPO / "server" / "offpilot", root / "offpilot",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "offpilot" / "grammars").symlink_to(REPO / "grammars")
    init = root / "offpilot" / "__init__.py"
    text = init.read_text()
    assert '__version__ = "' in text
    init.write_text(text.replace('__version__ = "', f'__version__ = "{version}+', 1))
    return root


def test_each_installation_has_a_service_of_its_own(shared: Env):
    """Servers of two installations (another package directory and version) never share a
    service: each completes through the service of its own installation; servers of one
    installation, started at any time, share one."""
    other = other_installation(shared.tmp, "9.9.9")
    mine = [shared.start("m1"), shared.start("m2")]
    theirs = [shared.start("t1", install=other), shared.start("t2", install=other)]
    for i, srv in enumerate(mine + theirs):
        assert complete(srv, shared.tmp / ("m1", "m2", "t1", "t2")[i], "a.py"), i

    def service_of(srv: RawServer) -> dict[str, Any]:
        info = srv.call("offpilot/stats")["models"]["completion"]
        assert info["service"]["shared"] is True, info
        return dict(info["service"])

    my_sock, their_sock = (Path(service_of(s[0])["socket"]) for s in (mine, theirs))
    assert my_sock == own_socket(shared.run_dir)
    assert their_sock != my_sock and their_sock.parent == my_sock.parent
    assert their_sock.name.startswith("model-") and their_sock.suffix == ".sock"
    [my_service] = service_pids(shared.run_dir, my_sock)
    [their_service] = service_pids(shared.run_dir, their_sock)
    assert sorted(service_pids(shared.run_dir)) == sorted([my_service, their_service])
    for srvs, pid, sock in ((mine, my_service, my_sock), (theirs, their_service, their_sock)):
        for srv in srvs:
            assert service_of(srv)["pid"] == pid and service_of(srv)["socket"] == str(sock)
            assert model_worker_pids(srv.proc.pid) == []
        assert len(workers_of(pid)) == 1  # a model worker per installation
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(sock.with_suffix(".json")).st_mode) == 0o600

    # Each installation's status is its own service's, and lists the other one's from its
    # record, without connecting to it (its clients are only the other installation's).
    for install, srvs, pid, other_pid, other_sock, version in (
            (None, mine, my_service, their_service, their_sock, "9.9.9+"),
            (other, theirs, their_service, my_service, my_sock, "")):
        report = shared.report(install)
        assert report["running"] is True and report["status"]["pid"] == pid
        assert {c["pid"] for c in report["status"]["clients"]} == {s.proc.pid for s in srvs}
        package = str((install or REPO / "server") / "offpilot")
        assert report["status"]["installation"]["package"] == os.path.realpath(package)
        assert report["installation"]["socket"] == str(own_socket(shared.run_dir)
                                                       if install is None else their_sock)
        [listed] = report["others"]
        assert listed["socket"] == str(other_sock) and listed["pid"] == other_pid
        assert listed["state"] == "running" and listed["version"].startswith(version)
        assert listed["version"] != report["status"]["installation"]["version"]
    report = mine[0].call("offpilot/modelService")  # what the editor's status menu shows
    assert report["status"]["pid"] == my_service
    assert [o["pid"] for o in report["others"]] == [their_service]
    text = subprocess.run([sys.executable, "-m", "offpilot", "models", "status"],
                          env=shared.env(), capture_output=True, text=True, timeout=30).stdout
    assert f"service: pid {my_service}" in text
    assert f"pid {their_service}  {their_sock}" in text and "version 9.9.9+" in text

    # The same installation started again (a new editor window) finds its service.
    again = shared.start("m3")
    assert complete(again, shared.tmp / "m3", "b.py", "def double(x):\n    return \n")
    assert service_of(again)["pid"] == my_service
    assert sorted(service_pids(shared.run_dir)) == sorted([my_service, their_service])

    # One installation's service going away leaves the other's alone; its own servers start
    # a new one of their installation.
    os.kill(their_service, signal.SIGKILL)
    assert wait_for(lambda: not running(their_service), 10)
    assert complete(mine[1], shared.tmp / "m2", "c.py", "def half(x):\n    return \n")
    assert complete(theirs[1], shared.tmp / "t2", "c.py", "def half(x):\n    return \n")
    assert service_pids(shared.run_dir, my_sock) == [my_service]
    [restarted] = service_pids(shared.run_dir, their_sock)
    assert restarted != their_service and service_of(theirs[1])["pid"] == restarted
    assert wait_for(lambda: [o["pid"] for o in shared.report()["others"]] == [restarted], 10)

    # A service killed with no server left to replace it leaves a stale socket: listed as
    # stopped (its record's process is gone), and not asked.
    for srv in theirs:
        srv.close()
    os.kill(restarted, signal.SIGKILL)
    assert wait_for(lambda: not running(restarted), 10)
    [listed] = shared.report()["others"]
    assert listed["state"] == "stopped" and listed["pid"] is None
    assert listed["socket"] == str(their_sock) and listed["version"].startswith("9.9.9+")


def test_service_of_a_removed_installation_exits_and_servers_start_their_own(shared: Env):
    """A service whose Offpilot installation is uninstalled (its interpreter gone) could start no
    model worker; it exits (its socket and record gone), and the servers of other installations
    are served by their own services throughout."""
    import site
    import sysconfig

    venv = shared.tmp / "old-install"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv",
                    "--without-pip", str(venv)], check=True, timeout=60)
    paths = [str(REPO / "server"), sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    sock_dir = shared.run_dir / "offpilot"
    sock_dir.mkdir(mode=0o700)
    env = {**shared.env(), "PYTHONPATH": os.pathsep.join(paths)}
    # The venv's interpreter is another installation: its service has a socket of its own.
    name = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "from offpilot.engine.shared import socket_name; print(socket_name())"],
        env=env, capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    old_sock = sock_dir / name
    assert old_sock != own_socket(shared.run_dir)
    log = shared.tmp / "old-service.log"
    with open(log, "wb") as err:  # (a pipe would be held open by the detached service)
        started = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "offpilot.engine.service",
             "--socket", str(old_sock), "--idle-exit", "600"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            timeout=60)
    assert started.returncode == 0, log.read_text()
    [old] = service_pids(shared.run_dir)
    assert str(venv) in " ".join(cmdline(old))
    assert wait_for(lambda: [o.get("pid") for o in shared.report()["others"]] == [old], 10)
    assert shared.report()["others"][0]["prefix"] == os.path.realpath(venv)

    srv = shared.start("a")
    assert complete(srv, shared.tmp / "a", "a.py")
    [new] = service_pids(shared.run_dir, own_socket(shared.run_dir))
    assert str(venv) not in " ".join(cmdline(new)) and len(workers_of(new)) == 1

    shutil.rmtree(venv)  # uninstalled while its service idles
    assert wait_for(lambda: not running(old), 10), "the service outlived its installation"
    assert not old_sock.exists() and not old_sock.with_suffix(".json").exists()
    assert shared.report()["others"] == []
    assert complete(srv, shared.tmp / "a", "b.py", "def double(x):\n    return \n")
    assert service_pids(shared.run_dir) == [new]
