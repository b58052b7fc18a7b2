"""The client side of the per-user model service (:mod:`offpilot.engine.service`).

Every Offpilot server of a user (one per editor window) connects to one service process over a
Unix socket in the user's runtime directory; the service runs one model worker per distinct
(model file, context size, threads, GPU layers) for all of them. Each installation of Offpilot
(a ``pipx`` or ``uv tool`` install, the environment an editor extension brings, another
version) has a service and a socket of its own, ``model-<id>.sock`` (see
:func:`offpilot.engine.service.installation_id`): a server never talks to a service of other
code, whose protocol may differ. The first server that needs a
model starts the service (under a lock file, so two servers starting at once start one); when
the service dies, every connected server sees the socket close at once, fails its requests in
flight, and reconnects, and the first to take the lock starts a new service.

The wire protocol is the model worker's own (the typed messages of :mod:`offpilot.engine.wire`,
one JSON object per line), over an asyncio Unix stream: the same framing the in-server
worker's pipes use, and JSON rather than pickles, so nothing a peer sends is executed.

Where there are no Unix sockets (Windows), the same service listens on loopback TCP instead:
its endpoint file ``model-<id>.endpoint`` (0600, in the same private directory) holds its port
and a secret token, which every connection sends first (a ``hello``). That transport does
not fork: the service is started detached and the starter waits for its endpoint file and
its answer to the token. ``OFFPILOT_SERVICE_TRANSPORT`` chooses: ``auto`` (the default: Unix
sockets where there are, else TCP), ``unix`` or ``tcp`` (on any platform).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from offpilot.engine import wire
from offpilot.engine.backend import BackendState, ModelError, OnText
from offpilot.engine.local import LocalBackend, _Pending
from offpilot.engine.service import (
    HELLO_TIMEOUT,
    LOOPBACK,
    detached,
    hello,
    installation_id,
    installation_identity,
    live_endpoint,
    read_endpoint,
    record_path,
)
from offpilot.shared.processes import package_env, process_alive

log = logging.getLogger(__name__)

SOCKET_PREFIX = "model"  # model-<installation id>.sock, its start lock and log beside it
ENDPOINT_SUFFIX = ".endpoint"  # model-<installation id>.endpoint: the TCP transport's file
TRANSPORT_ENV = "OFFPILOT_SERVICE_TRANSPORT"  # auto (the default), unix or tcp
RECORD_LIMIT = 1 << 16  # bytes read of another service's record
START_TIMEOUT = 30.0  # seconds to wait for the start lock, and for a started service to listen
STREAM_LIMIT = 1 << 24
LOG_LIMIT = 1 << 20  # bytes of service log kept across service starts


_warned: set[str] = set()  # values of TRANSPORT_ENV already said to be unknown


def transport() -> str:
    """How servers reach the service: ``"unix"`` (a Unix socket) or ``"tcp"`` (loopback TCP
    and a token), as ``OFFPILOT_SERVICE_TRANSPORT`` says (``auto``: Unix sockets where the
    platform has them, else TCP); ``""`` when ``unix`` is asked for where there are none."""
    unix = os.name == "posix" and hasattr(socket, "AF_UNIX")
    value = os.environ.get(TRANSPORT_ENV, "").strip().lower() or "auto"
    if value == "tcp":
        return "tcp"
    if value == "unix":
        return "unix" if unix else ""
    if value != "auto" and value not in _warned:
        _warned.add(value)
        log.warning("%s=%r is not auto, unix or tcp; taking auto", TRANSPORT_ENV, value)
    return "unix" if unix else "tcp"


def available() -> bool:
    """Whether the service can run here (always, but where a Unix socket is asked for and the
    platform has none)."""
    return bool(transport())


def runtime_dir() -> Path:
    """The user's private directory for the socket and the lock (created 0700, checked).

    ``platformdirs.user_runtime_dir`` ($XDG_RUNTIME_DIR on Linux); where its parent is missing
    (no login session), a per-user directory in the temporary directory.
    """
    return private_dir(_runtime_base())


def _runtime_base() -> Path:
    import platformdirs

    base = Path(platformdirs.user_runtime_dir("offpilot", appauthor=False))
    if not base.parent.is_dir():
        user = os.getuid() if hasattr(os, "getuid") else _user_name()
        base = Path(tempfile.gettempdir()) / f"offpilot-{user}"
    return base


def _user_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "user"


def private_dir(path: Path) -> Path:
    """Create ``path`` as a directory only its owner can use; refuse one anyone else owns.

    On Windows (no uids, no mode bits) the directory is in the user's own profile
    (``%LOCALAPPDATA%``), which only that user can use; it must be a directory."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        raise ModelError(f"cannot create the model service directory {path}: {exc}") from None
    owned = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    if not stat.S_ISDIR(st.st_mode) or not owned:
        raise ModelError(f"{path} is not a directory owned by this user; the shared model "
                         "service will not use it")
    if hasattr(os, "getuid") and st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def socket_name() -> str:
    """The socket of this installation's service, or its endpoint file on the TCP transport
    (the lock and the log are named alike)."""
    suffix = ENDPOINT_SUFFIX if transport() == "tcp" else ".sock"
    return f"{SOCKET_PREFIX}-{installation_id()}{suffix}"


def socket_path() -> Path:
    return runtime_dir() / socket_name()


def lock_path(sock: Path) -> Path:
    return sock.with_suffix(".lock")


def log_path(sock: Path) -> Path:
    return sock.with_suffix(".log")


async def _open(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(str(path), limit=STREAM_LIMIT)


def _spawn_service(path: Path, idle_exit: float, *flags: str) -> tuple[
        subprocess.Popen[bytes], Path]:
    log_file = log_path(path)
    with contextlib.suppress(OSError):
        if log_file.stat().st_size > LOG_LIMIT:
            log_file.unlink()  # start afresh rather than grow without end
    with open(log_file, "ab") as err:
        with contextlib.suppress(OSError):
            os.chmod(log_file, 0o600)
        proc = subprocess.Popen(
            [sys.executable, "-m", "offpilot.engine.service", *flags, str(path),
             "--idle-exit", str(idle_exit)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            env=package_env(), close_fds=True, **detached())
    return proc, log_file


def _log_tail(log_file: Path) -> str:
    with contextlib.suppress(OSError, IndexError):
        return log_file.read_text(errors="replace").strip().splitlines()[-1]
    return ""


def start_service(path: Path, idle_exit: float, tcp: bool = False) -> None:
    """Start a detached service listening on ``path``; returns once it listens.

    The service binds its socket, then forks: the first process exits (0 once the socket
    listens), its child lives on in a session of its own, outliving the server that started it.
    On the TCP transport (``path``: the endpoint file) nothing forks: the first process starts
    the service as a detached process and exits 0 once its endpoint file names it; the
    starter then waits (the rest of START_TIMEOUT) until that service takes its token.
    """
    deadline = time.monotonic() + START_TIMEOUT
    flags = ("--detach", "--endpoint") if tcp else ("--socket",)
    proc, log_file = _spawn_service(path, idle_exit, *flags)
    try:
        code = proc.wait(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise ModelError("the shared model service did not start in time") from None
    if code != 0:
        raise ModelError(f"the shared model service did not start (exit code {code}): "
                         f"{_log_tail(log_file)}")
    while tcp and not _answers(live_endpoint(path)):
        if time.monotonic() > deadline:
            raise ModelError("the shared model service started, but does not take the token "
                             f"of its endpoint file {path}")
        time.sleep(0.05)


def _answers(endpoint: dict[str, Any] | None) -> bool:
    """Whether the running service an endpoint file names takes its token."""
    if endpoint is None:
        return False
    conn = hello(endpoint["port"], endpoint["token"], HELLO_TIMEOUT)
    if conn is None:
        return False
    with contextlib.suppress(OSError):
        conn.sendall(wire.encode(wire.Shutdown()))  # (a client leaving: not one that stays)
    conn.close()
    return True


@contextlib.asynccontextmanager
async def start_lock(path: Path, timeout: float = START_TIMEOUT) -> AsyncIterator[None]:
    """Hold the lock file ``path`` (``filelock``: ``fcntl.flock`` on POSIX, ``msvcrt.locking``
    on Windows; released when its holder exits, even killed), polling without blocking the
    loop; a ModelError after ``timeout`` seconds."""
    import filelock

    lock = filelock.FileLock(str(path), mode=0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            lock.acquire(timeout=0)
            break
        except filelock.Timeout:
            if time.monotonic() > deadline:
                raise ModelError("another server is starting the shared model service and "
                                 "has not finished") from None
            await asyncio.sleep(0.05)
    try:
        yield
    finally:
        lock.release()


async def _open_tcp(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """A connection to the TCP service the endpoint file ``path`` names, having given it the
    token; None when that service is not running or does not take it (a stale file)."""
    endpoint = live_endpoint(path)
    if endpoint is None:
        return None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(LOOPBACK, endpoint["port"], limit=STREAM_LIMIT),
            HELLO_TIMEOUT)
    except (OSError, TimeoutError):
        return None
    try:
        writer.write(wire.encode(wire.Hello(token=endpoint["token"], id="hello",
                                            pid=os.getpid())))
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT)
        msg = wire.decode_event(line)
    except (OSError, ValueError, TimeoutError):  # (ProtocolError is a ValueError)
        writer.close()
        return None
    if not (isinstance(msg, wire.Done) and msg.id == "hello"):
        writer.close()
        return None
    return reader, writer


async def _connect_tcp(path: Path, idle_exit: float) -> tuple[asyncio.StreamReader,
                                                                asyncio.StreamWriter]:
    conn = await _open_tcp(path)
    if conn is not None:
        return conn
    async with start_lock(lock_path(path)):
        conn = await _open_tcp(path)  # whoever held the lock may have started it meanwhile
        if conn is not None:
            return conn
        if path.exists():
            log.info("replacing the stale model service endpoint %s", path)
            for stale in (path, record_path(path)):
                with contextlib.suppress(OSError):
                    stale.unlink()
        await asyncio.to_thread(start_service, path, idle_exit, True)
        conn = await _open_tcp(path)
    if conn is None:
        raise ModelError("the shared model service started, then did not take its token")
    return conn


async def connect(idle_exit: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to this user's service, starting it (or replacing a stale socket or endpoint
    file) if needed."""
    path = socket_path()
    if transport() == "tcp":
        return await _connect_tcp(path, idle_exit)
    with contextlib.suppress(FileNotFoundError, ConnectionRefusedError):
        return await _open(path)
    async with start_lock(lock_path(path)):
        # Whoever held the lock may have started it meanwhile.
        with contextlib.suppress(FileNotFoundError, ConnectionRefusedError):
            return await _open(path)
        if path.exists() or path.is_symlink():
            log.info("replacing the stale model service socket %s", path)
            path.unlink()
        await asyncio.to_thread(start_service, path, idle_exit)
        return await _open(path)


def request_status(timeout: float = 5.0) -> dict[str, Any] | None:
    """The status of this installation's running service, or None when none is running (never
    starts one, and creates nothing: with no runtime directory, no service has run)."""
    if not _runtime_base().is_dir():
        return None
    path = socket_path()
    if transport() == "tcp":
        endpoint = live_endpoint(path)
        if endpoint is None:
            return None
        conn = hello(endpoint["port"], endpoint["token"], timeout)
        if conn is None:
            return None
    else:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(timeout)
        try:
            conn.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            conn.close()
            return None
    with conn:
        conn.sendall(wire.encode(wire.Status(1)))
        with conn.makefile("rb") as f:
            line = f.readline()
    if not line:
        return None
    try:
        msg = wire.decode_event(line)
    except wire.ProtocolError as exc:
        raise ModelError(f"the model service answered something unreadable: {exc}") from None
    return msg.result if isinstance(msg, wire.Done) else None


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            data = f.read(RECORD_LIMIT)
        record = json.loads(data)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def other_services() -> list[dict[str, Any]]:
    """Services of other Offpilot installations in this user's runtime directory.

    Known from the files there only, never by connecting: another version may speak another
    protocol, and a connection would count as a client (keeping that service from its idle
    exit). Each entry: ``socket`` (a Unix socket, or the endpoint file of a TCP service), and
    ``state``: ``"running"`` (its record names a live process that bound this very socket, or
    that its endpoint file names; with ``pid``, ``version``, ``package``, ``prefix``),
    ``"stopped"`` (its record's process is gone: the socket or endpoint is stale) or
    ``"unknown"`` (no record: a service of an Offpilot that wrote none, or a stale socket).
    """
    base = _runtime_base()
    if not base.is_dir():
        return []
    own = socket_name()
    out: list[dict[str, Any]] = []
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    for name in names:
        tcp = name.endswith(ENDPOINT_SUFFIX)
        if name == own or not name.startswith(SOCKET_PREFIX) or not (
                tcp or name.endswith(".sock")):
            continue
        sock = base / name
        try:
            st = os.lstat(sock)
        except OSError:
            continue
        kind_ok = stat.S_ISREG(st.st_mode) if tcp else stat.S_ISSOCK(st.st_mode)
        if not kind_ok or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            continue
        entry: dict[str, Any] = {"socket": str(sock), "state": "unknown", "pid": None}
        record = _read_record(record_path(sock))
        pid = record.get("pid") if record else None
        if tcp:  # the record is of the service the endpoint file names (port, pid)
            endpoint = read_endpoint(sock)
            ours = (record is not None and endpoint is not None and endpoint["pid"] == pid
                    and endpoint["port"] == record.get("port"))
        else:  # the record is of the service that bound this very socket
            ours = record is not None and record.get("socket_inode") == st.st_ino
        if ours and record is not None and isinstance(pid, int) and not isinstance(pid, bool):
            entry.update({k: record[k] for k in ("version", "package", "prefix")
                          if isinstance(record.get(k), str)})
            started = record.get("proc_start")
            if process_alive(pid, started if isinstance(started, str) else None):
                entry.update(state="running", pid=pid)
            else:
                entry["state"] = "stopped"
        out.append(entry)
    return out


def service_report() -> dict[str, Any]:
    """What ``offpilot models status`` shows, for the editor: never raises, never starts one.

    ``{"running": True, "status": {...}}`` (see ``Service.status``) or ``{"running": False,
    "message": why}``; both with ``installation`` (this one's identity and socket) and
    ``others`` (the services of other installations, see :func:`other_services`).
    """
    if not available():
        return {"running": False,
                "message": "the shared model service is not available on this platform",
                "installation": installation_identity(), "others": []}
    report: dict[str, Any]
    try:
        status = request_status()
    except (OSError, ModelError, ValueError) as exc:
        report = {"running": False, "message": f"the model service did not answer: {exc}"}
    else:
        if status is None:
            report = {"running": False,
                      "message": "no shared model service of this installation is running (it "
                                 "starts with the first server that needs a model when "
                                 "offpilot.sharedModel is on)"}
        else:
            report = {"running": True, "status": status}
    report["installation"] = {**installation_identity(),
                              "socket": str(_runtime_base() / socket_name()),
                              "transport": transport()}
    try:
        report["others"] = other_services()
    except (OSError, ModelError) as exc:  # (listing others must not hide our own)
        log.info("cannot list other installations' model services: %s", exc)
        report["others"] = []
    return report


class _NotDelivered(ModelError):
    """A request sent on a connection whose service had already stopped."""


class SharedBackend(LocalBackend):
    """A :class:`LocalBackend` whose model runs in the per-user service.

    If the service cannot be reached or started, it falls back to its own worker process, as
    with ``sharedModel`` off, and says why in the log.
    """

    def __init__(self, model_path: str | Path, *, idle_exit: float = 600.0,
                 **kwargs: Any) -> None:
        super().__init__(model_path, **kwargs)
        self.idle_exit = idle_exit
        self.fallback = ""  # why the service is not used ("" while it is)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._conn_task: asyncio.Task[None] | None = None
        self._recover_task: asyncio.Task[Any] | None = None
        self._closing = False
        self._worker_pid: int | None = None
        self.service_pid: int | None = None
        self.slot: int | None = None

    # -------------------------------------------------------------- status
    @property
    def pid(self) -> int | None:
        if self.fallback:
            return super().pid
        return self._worker_pid if self._connected() else None

    @property
    def service(self) -> dict[str, Any]:
        if self.fallback:
            return {"shared": False, "fallback": self.fallback}
        return {"shared": True, "pid": self.service_pid if self._connected() else None,
                "slot": self.slot, "socket": str(socket_path()), "transport": transport()}

    def _connected(self) -> bool:
        return (self._writer is not None and not self._writer.is_closing()
                and self._conn_task is not None and not self._conn_task.done())

    def _alive(self) -> bool:
        return super()._alive() if self.fallback else self._connected()

    # ----------------------------------------------------------- lifecycle
    async def _spawn(self) -> None:
        await self._kill()
        for attempt in range(2):
            if self.fallback:
                break
            try:
                self._reader, self._writer = await connect(self.idle_exit)
                break
            except (OSError, ModelError) as exc:
                if attempt == 0:  # e.g. a service exiting as this one connected: once more
                    await asyncio.sleep(0.3)
                    continue
                self.fallback = str(exc) or type(exc).__name__
                log.warning("shared model service unavailable (%s); running the model in this "
                            "server", self.fallback)
        if self.fallback:
            await super()._spawn()
            return
        self._closing = False
        self._conn_task = asyncio.create_task(self._read_conn(self._reader))

    async def _kill(self) -> None:
        await super()._kill()
        writer, self._writer = self._writer, None
        task, self._conn_task = self._conn_task, None
        if writer is not None:
            self._closing = True
            with contextlib.suppress(OSError, RuntimeError):  # the service is gone already
                writer.close()
        if task is not None:
            task.cancel()  # (_closing: its end is not reported as a loss)
            # What was sent on that connection gets no answer now: fail it here, as the end of
            # the connection would have.
            self._fail_all(ModelError(self._last_error or "the shared model service stopped"))
        self._info = None

    async def close(self) -> None:
        self._closing = True
        if self._recover_task is not None:
            self._recover_task.cancel()
        if self.fallback:
            await super().close()
            return
        self._fail_all(ModelError("the model was closed"))
        await self._kill()
        self._set_state(BackendState.NO_MODEL)

    async def _read_conn(self, reader: asyncio.StreamReader | None) -> None:
        assert reader is not None
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ConnectionError, ValueError):
                    break
                if not line:
                    break
                try:
                    msg = wire.decode_event(line)
                except wire.ProtocolError as exc:
                    log.warning("model service: unreadable line %r: %s", line[:200], exc)
                    continue
                self._dispatch(msg)
        finally:
            if not self._closing:
                self._lost("the shared model service stopped")

    def _lost(self, reason: str) -> None:
        """The connection closed under us: fail what is in flight, then reconnect."""
        if self._pending:
            log.error("%s with %d requests in flight", reason, len(self._pending))
        self._fail_all(ModelError(reason))
        self._info = None
        self._writer = None
        self._last_error = reason
        self._set_state(BackendState.ERROR, reason)
        if self._recover_task is None or self._recover_task.done():
            self._recover_task = asyncio.create_task(self._recover())

    async def _recover(self) -> None:
        # A short random pause: servers that lost the service together do not all race for
        # the start lock at once (the lock makes the race harmless; this only spreads it).
        await asyncio.sleep(random.uniform(0.0, 0.2))
        if self._closing:
            return
        with contextlib.suppress(ModelError):  # reported through the state listener
            await self.start()

    # ------------------------------------------------------------- requests
    async def _call(self, msg: wire.Load | wire.Generate | wire.Tokenize,
                    on_text: OnText | None = None) -> dict[str, Any]:
        if self.fallback:
            return await super()._call(msg, on_text)
        try:
            result = await self._send(msg, on_text)
        except _NotDelivered as exc:
            if isinstance(msg, wire.Load):  # start() holds the start lock: it reports this
                raise ModelError(str(exc)) from None
            # The service had stopped before this request was sent, and the end of the
            # connection was not read yet (a keystroke just after a crash). It was never in
            # flight: like a request sent a moment later, it waits for the reconnection and
            # goes to the new service, once.
            log.info("%s; sending the request again once reconnected", exc)
            await self.start()
            if self._active:
                self._set_state(BackendState.GENERATING)
            if self.fallback:  # no service could be started: this server's own worker
                return await super()._call(msg, on_text)
            result = await self._send(msg, on_text)
        if isinstance(msg, wire.Load):
            self._worker_pid = result.get("worker_pid")
            self.service_pid = result.get("service_pid")
            self.slot = result.get("slot")
        return result

    async def _send(self, msg: wire.Load | wire.Generate | wire.Tokenize,
                    on_text: OnText | None) -> dict[str, Any]:
        """Send one request on the connection in use and wait for its answer; raises
        :class:`_NotDelivered` when nothing listened any more as it was sent."""
        writer = self._writer
        if writer is None or writer.is_closing():
            raise ModelError(self._last_error or "not connected to the shared model service")
        req_id = next(self._ids)
        pending = _Pending(on_text)
        self._pending[req_id] = pending
        self.queued_max = max(self.queued_max, len(self._pending))
        msg.id = req_id
        data = wire.encode(msg)
        try:
            writer.write(data)
            if writer.is_closing():
                # The send failed at once (EPIPE: the service's end of the socket is closed):
                # the service was gone before this request reached it.
                raise _NotDelivered("the shared model service stopped before the request "
                                    "reached it")
            await writer.drain()
            return await pending.future
        except _NotDelivered:
            self._pending.pop(req_id, None)
            if not pending.future.done():
                pending.future.cancel()  # (the connection's end fails it otherwise, unread)
            raise
        except asyncio.CancelledError:
            self._pending.pop(req_id, None)
            if not writer.is_closing():
                with contextlib.suppress(OSError, RuntimeError):  # the service is gone already
                    writer.write(wire.encode(wire.Cancel(req_id)))
            raise
        except (BrokenPipeError, ConnectionResetError) as exc:
            self._pending.pop(req_id, None)
            raise ModelError(f"the shared model service stopped: {exc}") from None

    async def crash_for_test(self) -> None:
        if self.fallback:
            await super().crash_for_test()
        elif self._writer is not None:
            self._writer.write(wire.encode(wire.Crash(0)))
            await self._writer.drain()
