"""The per-user model service: one model worker per distinct model, shared by every server.

``python -m offpilot.engine.service --socket PATH --idle-exit SECONDS`` binds a Unix socket
(0600, in a 0700 directory; see :mod:`offpilot.engine.shared`), forks into a session of its
own and serves every Offpilot server of the user that runs from the same installation (each
installation has a socket of its own, named from :func:`installation_id`). Beside the socket
it keeps a record (``PATH`` with ``.json``: its pid, version, package directory), so that
``offpilot models status`` of another installation can list it without talking to it.

Where there are no Unix sockets (Windows), or with ``OFFPILOT_SERVICE_TRANSPORT=tcp``, it is
started as ``--endpoint PATH`` instead: it listens on loopback TCP (``127.0.0.1``, a port the
system chooses), draws a secret token (:func:`secrets.token_hex`, 256 bits) and writes both,
with its pid, to the endpoint file ``PATH`` (0600, in the same private directory; replaced
atomically). It does not fork: started with ``--detach``, it starts itself again as a
detached process (:func:`detached`: a session of its own; on Windows no console and a process
group of its own), waits until that one has written the endpoint file, and exits, so the
service is no child of the server that started it (a server ends its children as it exits).
Every
connection must first send a ``hello`` line with that token, alone, within
:data:`HELLO_TIMEOUT` seconds; anything else closes the connection unanswered.

It does not load llama.cpp itself: for each distinct (model file, context size, threads, GPU
layers, batch) it runs one ``offpilot.engine.worker`` child and relays the worker protocol
(the typed messages of :mod:`offpilot.engine.wire`) between the clients and that worker:

- request ids are renumbered per worker, so one client's ``cancel`` reaches only its own
  requests, and a client that disconnects has its requests cancelled;
- each client gets a slot: its completion, chat and short-first-prompt streams use the
  worker's KV-cache sequences ``3 * slot`` to ``3 * slot + 2``, so windows typing at once keep
  their own cached prefixes; prompt tokens and those evaluated are counted per client (its
  cache hit rate);
- the worker's priorities order the work of every client: completions, then background
  work (prefetch, warm-ups), then chat, each stepped one token at a time, and among waiting
  completions the newest first (the window typed in last);
- a line that is not a request is answered with an ``error`` event that says why;
- what waits to be sent to a client is bounded (``--client-buffer``): a client that stops
  reading is disconnected and its requests cancelled, rather than held in memory without end
  (nothing waits on a client: events are queued to it, never awaited, so others go on);
- a worker that dies fails its requests and closes its clients' connections (they reconnect,
  and the next load starts a new worker); a client that dies changes nothing for the others;
- with no client connected for ``--idle-exit`` seconds, the service exits.

Unix-socket peers are checked with SO_PEERCRED where the platform has it: only the same user
may connect. TCP peers are checked by the token only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import itertools
import json
import logging
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offpilot.engine import wire
from offpilot.shared.files import write_atomically
from offpilot.shared.nodump import forbid_dumps
from offpilot.shared.processes import package_env, process_alive, start_time

log = logging.getLogger("offpilot.service")

SLOTS = 4  # clients with a KV-cache slot of their own per model; more share slots
STREAMS = 3  # sequences per slot: completion (0), chat (1), short first prompts (2)
STREAM_LIMIT = 1 << 24
CLIENT_BUFFER = 1 << 20  # bytes waiting for one client before it counts as not reading
LOOPBACK = "127.0.0.1"  # the TCP transport listens here only
HELLO_TIMEOUT = 5.0  # seconds a TCP connection has to send its hello (then it is closed)
HELLO_LIMIT = 4096  # bytes of a hello line
ENDPOINT_LIMIT = 1 << 16  # bytes read of an endpoint file
LAUNCH_TIMEOUT = 30.0  # seconds --detach waits for the service to write its endpoint file


def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def peer_credentials(sock: socket.socket | None) -> tuple[int, int] | None:
    """(pid, uid) of the peer of a Unix socket, where the platform tells (Linux)."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    size = struct.calcsize("3i")
    pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET,
                                                         socket.SO_PEERCRED, size))
    return pid, uid


@dataclass
class Client:
    cid: int
    writer: asyncio.StreamWriter
    pid: int | None
    limit: int = CLIENT_BUFFER
    connected: float = field(default_factory=time.time)
    host: Host | None = None
    slot: int = -1
    pending: dict[wire.Id, int] = field(default_factory=dict)  # client id -> worker id
    requests: int = 0
    prompt_tokens: int = 0
    evaluated: int = 0
    shifted: int = 0

    def send(self, msg: wire.Event) -> None:
        if self.writer.is_closing():
            return
        try:
            self.writer.write(wire.encode(msg))
        except (ConnectionError, RuntimeError) as exc:
            log.info("client %d: %s", self.cid, exc)
            return
        waiting = self.writer.transport.get_write_buffer_size()
        if waiting > self.limit:
            # It stopped reading. Drop it (and what it has not read); its server reconnects.
            log.warning("client %d (pid %s) stopped reading: %d bytes wait for it; "
                        "disconnecting it", self.cid, self.pid, waiting)
            self.writer.transport.abort()

    def describe(self) -> dict[str, Any]:
        hit = (1.0 - self.evaluated / self.prompt_tokens) if self.prompt_tokens else None
        return {"id": self.cid, "pid": self.pid, "slot": self.slot,
                "model": self.host.key[0] if self.host else None,
                "connected_s": round(time.time() - self.connected, 1),
                "requests": self.requests, "in_flight": len(self.pending),
                "prompt_tokens": self.prompt_tokens, "prompt_tokens_evaluated": self.evaluated,
                "prompt_tokens_shifted": self.shifted,
                "cache_hit_rate": None if hit is None else round(hit, 4)}


Key = tuple[str, int, int, int, int]  # path, n_ctx, threads, gpu layers, batch


class Host:
    """One model worker process and the requests relayed to it."""

    def __init__(self, service: Service, key: Key) -> None:
        self.service = service
        self.key = key
        self.proc: asyncio.subprocess.Process | None = None
        self.desc: dict[str, Any] | None = None
        self.ready: asyncio.Future[dict[str, Any]] | None = None
        self.pending: dict[int, tuple[Client, Any, str]] = {}  # worker id -> client, id, op
        self.ids = itertools.count(1)
        self.error = ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def load(self) -> dict[str, Any]:
        if self.desc is not None and self.alive():
            return self.desc
        if self.ready is None or (self.ready.done() and (self.desc is None or not self.alive())):
            self.ready = asyncio.get_running_loop().create_future()
            self.service.spawn(self._start(self.ready))
        return await asyncio.shield(self.ready)

    async def _start(self, ready: asyncio.Future[dict[str, Any]]) -> None:
        path, n_ctx, threads, gpu_layers, n_batch = self.key
        self.close()  # a worker left without a model by a failed load
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "offpilot.engine.worker", "--parent", str(os.getpid()),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=None, env=package_env(), limit=STREAM_LIMIT)
        except OSError as exc:
            ready.set_exception(RuntimeError(f"the model worker did not start: {exc}"))
            return
        load_id = next(self.ids)
        self.pending[load_id] = (_LOADER, ready, "load")
        self.service.spawn(self._read(self.proc))
        self.write(wire.Load(id=load_id, path=path, n_ctx=n_ctx, n_threads=threads,
                             n_gpu_layers=gpu_layers, n_batch=n_batch, n_seq=SLOTS * STREAMS))

    def write(self, msg: wire.Request) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None or proc.stdin is None:
            raise RuntimeError(self.error or "the model worker is not running")
        proc.stdin.write(wire.encode(msg))

    def forward(self, client: Client, msg: wire.Generate | wire.Tokenize | wire.Crash) -> None:
        wid = next(self.ids)
        out = dataclasses.replace(msg, id=wid)
        if isinstance(out, wire.Generate):
            stream = min(max(out.seq, 0), STREAMS - 1)
            out.seq = client.slot * STREAMS + stream
        client.pending[msg.id] = wid
        self.pending[wid] = (client, msg.id, msg.OP)
        try:
            self.write(out)
        except (RuntimeError, ConnectionError) as exc:
            self.pending.pop(wid, None)
            client.pending.pop(msg.id, None)
            client.send(wire.Error(msg.id, str(exc)))

    def cancel(self, wid: int) -> None:
        with contextlib.suppress(RuntimeError, ConnectionError):
            self.write(wire.Cancel(wid))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                line = await proc.stdout.readline()
                if not line:
                    break
                try:
                    msg = wire.decode_event(line)
                except wire.ProtocolError as exc:
                    log.warning("%s: unreadable worker line: %s", self.key[0], exc)
                    continue
                if isinstance(msg, wire.Ready):
                    continue
                if isinstance(msg, wire.Error) and msg.id is None:
                    log.warning("%s: the worker says %s", self.key[0], msg.message)
                    continue
                mid = msg.id
                entry = self.pending.get(mid) if isinstance(mid, int) else None
                if entry is None or not isinstance(mid, int):
                    continue
                client, cid, op = entry
                final = isinstance(msg, (wire.Done, wire.Error))
                if final:
                    self.pending.pop(mid, None)
                if client is _LOADER:
                    if final and not cid.done():
                        if isinstance(msg, wire.Done):
                            self.desc = {**msg.result, "worker_pid": proc.pid}
                            cid.set_result(self.desc)
                        elif isinstance(msg, wire.Error):
                            cid.set_exception(RuntimeError(msg.message))
                    continue
                if final:
                    client.pending.pop(cid, None)
                if isinstance(msg, wire.Done) and op == wire.Generate.OP:
                    res = msg.result
                    client.requests += 1
                    client.prompt_tokens += _count(res, "prompt_tokens")
                    client.evaluated += _count(res, "prompt_tokens_evaluated")
                    client.shifted += _count(res, "prompt_tokens_shifted")
                client.send(dataclasses.replace(msg, id=cid))
        finally:
            code = await proc.wait()
            self.error = f"the model worker stopped (exit code {code})"
            log.warning("%s: %s", self.key[0], self.error)
            if self.proc is proc:
                self.desc = None
            pending, self.pending = self.pending, {}
            for client, cid, _op in pending.values():
                if client is _LOADER:
                    if not cid.done():
                        cid.set_exception(RuntimeError(self.error))
                else:
                    client.pending.pop(cid, None)
                    client.send(wire.Error(cid, self.error))
            # Its clients reconnect and load again, which starts a new worker.
            for client in list(self.service.clients.values()):
                if client.host is self:
                    client.writer.close()

    def slots_in_use(self) -> list[int]:
        return [c.slot for c in self.service.clients.values() if c.host is self]

    def take_slot(self) -> int:
        used = self.slots_in_use()
        free = [s for s in range(SLOTS) if s not in used]
        if free:
            return free[0]
        return min(range(SLOTS), key=used.count)  # share the least shared one

    def close(self) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None and proc.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):  # it is gone already
                proc.stdin.write(wire.encode(wire.Shutdown()))
                proc.stdin.close()

    def describe(self) -> dict[str, Any]:
        path, n_ctx, threads, gpu_layers, n_batch = self.key
        pid = self.proc.pid if self.alive() and self.proc else None
        queued = sum(1 for c, _i, op in self.pending.values() if c is not _LOADER
                     and op == wire.Generate.OP)
        return {"path": path, "n_ctx": n_ctx, "threads": threads, "gpu_layers": gpu_layers,
                "n_batch": n_batch, "loaded": self.desc is not None and pid is not None,
                "worker_pid": pid, "rss": rss_bytes(pid) if pid else None,
                "clients": len(self.slots_in_use()), "queued": queued,
                "error": self.error if pid is None else ""}


class _Loader:
    """Marks the load request a host sends itself."""


def _count(result: dict[str, Any], name: str) -> int:
    value = result.get(name, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


_LOADER: Any = _Loader()


def installation() -> tuple[object, ...] | None:
    """The files of the Offpilot installation this process runs from, as they are now: its
    interpreter and the package. None once the interpreter is gone (the installation was
    removed); another value once they were replaced (reinstalled)."""
    import offpilot

    try:
        exe = os.stat(sys.executable)
        init = os.stat(offpilot.__file__ or "")
    except OSError:
        return None
    return (exe.st_ino, init.st_ino, init.st_mtime_ns)


def installation_identity() -> dict[str, str]:
    """What tells this Offpilot installation from another one of the same user, and stays the
    same across its restarts: the package's version, the real path of the package directory,
    and the interpreter's environment (the real path of ``sys.prefix``: a virtual environment,
    a ``pipx``/``uv tool`` one, the interpreter an editor extension runs; and its Python
    version, which the package's native dependencies are built for)."""
    import offpilot

    return {"version": str(getattr(offpilot, "__version__", "")),
            "package": os.path.realpath(os.path.dirname(offpilot.__file__ or "")),
            "prefix": os.path.realpath(sys.prefix),
            "python": f"{sys.version_info[0]}.{sys.version_info[1]}"}


def installation_id(identity: dict[str, str] | None = None) -> str:
    """A short stable name for an installation (12 hex digits of a SHA-256 of its identity)."""
    ident = identity if identity is not None else installation_identity()
    blob = "\0".join(f"{k}={ident[k]}" for k in sorted(ident))
    return hashlib.sha256(blob.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def record_path(sock: Path) -> Path:
    """Where the service listening on ``sock`` (a socket, or an endpoint file) keeps its
    record: ``model-<id>.json`` beside ``model-<id>.sock``, ``model-<id>.endpoint.json``
    beside ``model-<id>.endpoint`` (so both transports of one installation can run)."""
    if sock.suffix == ".sock":
        return sock.with_suffix(".json")
    return sock.with_name(sock.name + ".json")


def write_record(sock: Path, **where: Any) -> None:
    """Say who listens on ``sock`` (0600, replaced atomically): read by other installations'
    ``offpilot models status``, which do not connect to a service of another version.
    ``where``: ``socket_inode`` of a Unix socket, ``port`` of a TCP endpoint (never the
    token)."""
    record = {"pid": os.getpid(), "proc_start": start_time(os.getpid()), "socket": str(sock),
              **where, "started": time.time(), "executable": sys.executable,
              **installation_identity()}
    write_atomically(record_path(sock), json.dumps(record))  # mkstemp: 0600


def read_endpoint(path: Path) -> dict[str, Any] | None:
    """The endpoint file of a TCP service (``port``, ``token``, ``pid``, ``proc_start``), or
    None when it is missing or not one."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(ENDPOINT_LIMIT))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    port, token, pid = data.get("port"), data.get("token"), data.get("pid")
    if not (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536
            and isinstance(token, str) and token and isinstance(pid, int)
            and not isinstance(pid, bool)):
        return None
    started = data.get("proc_start")
    return {**data, "proc_start": started if isinstance(started, str) else None}


def write_endpoint(path: Path, port: int, token: str) -> None:
    """Say where this service listens and the token it takes (0600, replaced atomically)."""
    text = json.dumps({"host": LOOPBACK, "port": port, "token": token, "pid": os.getpid(),
                       "proc_start": start_time(os.getpid()), "started": time.time()})
    for attempt in range(20):
        try:
            write_atomically(path, text)
            return
        except PermissionError:
            # Windows refuses to replace a file another process has open (a client reading
            # the stale one): a moment later it is closed.
            if os.name != "nt" or attempt == 19:
                raise
            time.sleep(0.05)


def live_endpoint(path: Path) -> dict[str, Any] | None:
    """The endpoint file ``path`` (:func:`read_endpoint`) if the process it names still runs
    (a reused pid does not count), else None."""
    endpoint = read_endpoint(path)
    if endpoint is None or not process_alive(endpoint["pid"], endpoint["proc_start"]):
        return None
    return endpoint


def hello(port: int, token: str, timeout: float) -> socket.socket | None:
    """A connection to the TCP service on ``port`` that took ``token`` (its ``hello`` answered),
    or None when nothing listens there, or it refuses the token or does not answer in time."""
    try:
        s = socket.create_connection((LOOPBACK, port), timeout=timeout)
    except OSError:
        return None
    try:
        s.sendall(wire.encode(wire.Hello(token=token, id="hello", pid=os.getpid())))
        line = b""
        while not line.endswith(b"\n") and len(line) < STREAM_LIMIT:
            chunk = s.recv(4096)  # (nothing follows the answer until a request is sent)
            if not chunk:
                break
            line += chunk
        msg = wire.decode_event(line)
    except (OSError, wire.ProtocolError):
        s.close()
        return None
    if not (isinstance(msg, wire.Done) and msg.id == "hello"):
        s.close()
        return None
    return s


class Service:
    """Serves clients on ``sock``: a Unix socket bound at ``path``, or, with ``token``, a TCP
    socket on loopback whose endpoint file is ``path``."""

    def __init__(self, sock: socket.socket, path: Path, idle_exit: float,
                 client_buffer: int = CLIENT_BUFFER, token: str | None = None) -> None:
        self.sock = sock
        self.client_buffer = client_buffer
        self.path = path
        self.token = token
        self.port: int | None = sock.getsockname()[1] if token is not None else None
        self.inode = os.stat(path).st_ino if token is None else None
        self.installation = installation()
        self.idle_exit = idle_exit
        self.hosts: dict[Key, Host] = {}
        self.clients: dict[int, Client] = {}
        self.ids = itertools.count(1)
        self.started = time.time()
        self.idle_since: float | None = time.monotonic()
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        if self.token is None:
            server = await asyncio.start_unix_server(self.handle, sock=self.sock,
                                                     limit=STREAM_LIMIT)
        else:
            server = await asyncio.start_server(self.handle, sock=self.sock, limit=STREAM_LIMIT)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stopping.set)
            except (NotImplementedError, RuntimeError):  # Windows' loops take none
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(self.stopping.set))
        watch = asyncio.create_task(self._watch_idle())
        async with server:
            await self.stopping.wait()
            self.unlink()  # first: a server starting a new service may bind the path at once
        watch.cancel()
        self.shutdown()

    async def _watch_idle(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.idle_exit / 4))
            if not self._socket_is_ours():
                log.warning("the %s %s was replaced; exiting",
                            "socket" if self.token is None else "endpoint file", self.path)
                self.stopping.set()
                return
            if installation() != self.installation:
                # Uninstalled or reinstalled: it could start no worker, or one of another
                # version. Its clients see it go and start the service of their installation.
                log.warning("the Offpilot installation this service runs from was removed or "
                            "replaced; exiting")
                self.stopping.set()
                return
            if self.clients:
                self.idle_since = None
            elif self.idle_since is None:
                self.idle_since = time.monotonic()
            elif time.monotonic() - self.idle_since >= self.idle_exit:
                log.info("no client for %.0f s; exiting", self.idle_exit)
                self.stopping.set()
                return

    def _socket_is_ours(self) -> bool:
        """Whether ``path`` still leads to this service: the socket it bound, or an endpoint
        file naming this process and port (another service replaces a stale one)."""
        if self.token is not None:
            endpoint = read_endpoint(self.path)
            return (endpoint is not None and endpoint["pid"] == os.getpid()
                    and endpoint["port"] == self.port)
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def unlink(self) -> None:
        if self._socket_is_ours():
            with contextlib.suppress(OSError):
                record_path(self.path).unlink()
            with contextlib.suppress(OSError):
                self.path.unlink()

    def shutdown(self) -> None:
        for host in self.hosts.values():
            host.close()
        self.unlink()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.token is not None:
            greeting = await self._hello(reader, writer)
            if greeting is None:
                writer.close()
                return
            pid = greeting.pid
        else:
            creds = peer_credentials(writer.get_extra_info("socket"))
            if creds is not None and creds[1] != os.getuid():
                log.warning("refused a connection from uid %d (pid %d)", creds[1], creds[0])
                writer.close()
                return
            pid = creds[0] if creds else None
        client = Client(next(self.ids), writer, pid, limit=self.client_buffer)
        self.clients[client.cid] = client
        self.idle_since = None
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ConnectionError, ValueError):
                    break
                if not line:
                    break
                try:
                    msg = wire.decode_request(line)
                except wire.ProtocolError as exc:
                    client.send(wire.Error(wire.request_id(line), f"bad request: {exc}"))
                    continue
                if isinstance(msg, wire.Shutdown):  # this client is leaving
                    break
                await self.dispatch(client, msg)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        finally:
            self.drop(client)
            writer.close()

    async def _hello(self, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> wire.Hello | None:
        """Read a TCP connection's first line: a ``hello`` with the token, and nothing after it
        (a client waits for its answer before it sends a request). Answers it and returns it;
        None (refused: the caller closes the connection, having answered nothing) on another
        line, a wrong token, or silence for HELLO_TIMEOUT."""
        peer = writer.get_extra_info("peername")
        data = b""
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                while b"\n" not in data and len(data) < HELLO_LIMIT:
                    chunk = await reader.read(HELLO_LIMIT - len(data))
                    if not chunk:
                        break
                    data += chunk
        except (TimeoutError, ConnectionError) as exc:
            log.warning("refused a connection from %s: no hello (%s)", peer,
                        type(exc).__name__)
            return None
        line, newline, rest = data.partition(b"\n")
        try:
            msg = wire.decode_request(line) if newline and not rest else None
        except wire.ProtocolError:
            msg = None
        if not isinstance(msg, wire.Hello) or self.token is None or not hmac.compare_digest(
                msg.token.encode("utf-8", "surrogateescape"), self.token.encode("ascii")):
            log.warning("refused a connection from %s: its first line is not a hello with "
                        "the token", peer)
            return None
        writer.write(wire.encode(wire.Done(msg.id, {"service_pid": os.getpid()})))
        return msg

    def drop(self, client: Client) -> None:
        self.clients.pop(client.cid, None)
        if client.host is not None:
            for wid in list(client.pending.values()):
                client.host.pending.pop(wid, None)
                client.host.cancel(wid)
        client.pending.clear()
        if not self.clients:
            self.idle_since = time.monotonic()

    async def dispatch(self, client: Client, msg: wire.Request) -> None:
        if isinstance(msg, wire.Cancel):
            wid = client.pending.get(msg.id)
            if wid is not None and client.host is not None:
                client.host.cancel(wid)
        elif isinstance(msg, wire.Load):
            self.spawn(self._load(client, msg))
        elif isinstance(msg, wire.Status):
            client.send(wire.Done(msg.id, self.status()))
        elif isinstance(msg, (wire.Generate, wire.Tokenize, wire.Crash)):
            if client.host is None or not client.host.alive():
                client.send(wire.Error(msg.id, "no model loaded"))
                return
            client.host.forward(client, msg)
        else:
            client.send(wire.Error(None, f"the model service does not take {msg.OP!r}"))

    async def _load(self, client: Client, msg: wire.Load) -> None:
        mid = msg.id
        try:
            key: Key = (os.path.realpath(msg.path), msg.n_ctx, msg.n_threads,
                        msg.n_gpu_layers, msg.n_batch)
        except (OSError, ValueError) as exc:
            client.send(wire.Error(mid, f"bad load request: {exc}"))
            return
        host = self.hosts.get(key)
        if host is None:
            host = self.hosts[key] = Host(self, key)
        try:
            desc = await host.load()
        except Exception as exc:
            client.send(wire.Error(mid, str(exc)))
            if self.hosts.get(key) is host and host.desc is None:
                host.close()
                self.hosts.pop(key, None)
            return
        if client.cid not in self.clients:
            return
        if client.host is not host:
            client.host = host
            client.slot = host.take_slot()
        client.send(wire.Done(mid, {**desc, "slot": client.slot, "service_pid": os.getpid()}))
        self._unload_unused()

    def _unload_unused(self) -> None:
        """Close workers no client uses while another model is in use (a setting changed)."""
        used = {c.host for c in self.clients.values() if c.host is not None}
        for key, host in list(self.hosts.items()):
            if host not in used and used and host.ready is not None and host.ready.done():
                log.info("unloading %s: no client uses it", key[0])
                host.close()
                self.hosts.pop(key, None)

    def status(self) -> dict[str, Any]:
        hosts = [h.describe() for h in self.hosts.values()]
        own = rss_bytes(os.getpid())
        return {"pid": os.getpid(), "socket": str(self.path),
                "transport": "unix" if self.token is None else "tcp",
                **({"address": f"{LOOPBACK}:{self.port}"} if self.token is not None else {}),
                "installation": installation_identity(),
                "uptime_s": round(time.time() - self.started, 1),
                "idle_exit_s": self.idle_exit, "slots_per_model": SLOTS,
                "rss": own, "rss_total": (own or 0) + sum(h["rss"] or 0 for h in hosts),
                "models": hosts,
                "clients": [c.describe() for c in self.clients.values() if c.host is not None]}


def bind(path: Path) -> socket.socket:
    """Listen on ``path`` (0600); replace a stale socket, refuse if a service answers there."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        if path.exists() or path.is_symlink():
            path.unlink()
    else:
        log.info("a model service already listens on %s; leaving it to serve", path)
        raise SystemExit(0)  # the starter connects to that one
    finally:
        probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(64)
    return sock


def detached() -> dict[str, Any]:
    """Popen arguments that start a process outliving its starter, with no console."""
    if os.name == "nt":
        return {"creationflags": getattr(subprocess, "DETACHED_PROCESS", 0)
                | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
                | getattr(subprocess, "CREATE_NO_WINDOW", 0)}
    return {"start_new_session": True}


def launch(argv: list[str], path: Path, timeout: float) -> int:
    """Start this service (``argv``, without ``--detach``) as a detached process, and wait
    until its endpoint file ``path`` names it, or it exits: 0 once it listens (or another
    service did and it left that one to serve), else its exit code (1 on no answer)."""
    proc = subprocess.Popen([sys.executable, "-m", "offpilot.engine.service", *argv],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            env=package_env(), close_fds=True, **detached())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        endpoint = read_endpoint(path)
        if endpoint is not None and endpoint["pid"] == proc.pid:
            return 0
        code = proc.poll()
        if code is not None:
            return code
        time.sleep(0.02)
    log.error("the service did not write %s in %.0f s", path, timeout)
    return 1


def bind_tcp(path: Path) -> socket.socket:
    """Listen on a port of 127.0.0.1 the system chooses, unless the endpoint file ``path``
    names a live service that takes its token (then that one serves: exit 0)."""
    endpoint = live_endpoint(path)
    if endpoint is not None:
        conn = hello(endpoint["port"], endpoint["token"], HELLO_TIMEOUT)
        if conn is not None:
            conn.close()
            log.info("a model service already listens on port %d; leaving it to serve",
                     endpoint["port"])
            raise SystemExit(0)  # the starter connects to that one
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: no other socket may share the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    sock.bind((LOOPBACK, 0))
    sock.listen(64)
    return sock


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="offpilot.engine.service")
    listen = parser.add_mutually_exclusive_group(required=True)
    listen.add_argument("--socket", help="listen on this Unix socket")
    listen.add_argument("--endpoint", help="listen on loopback TCP; write the port and the "
                       "token to this file (never forks)")
    parser.add_argument("--idle-exit", type=float, default=600.0)
    parser.add_argument("--client-buffer", type=int, default=CLIENT_BUFFER,
                        help="bytes waiting for a client before it is disconnected as stuck")
    parser.add_argument("--foreground", action="store_true", help="do not fork (debugging)")
    parser.add_argument("--detach", action="store_true",
                        help="with --endpoint: start the service as a detached process, exit "
                        "once it listens")
    args = parser.parse_args(argv)
    forbid_dumps()  # it holds the environment of the server that started it
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    if args.endpoint and args.detach:
        own = list(sys.argv[1:] if argv is None else argv)
        own.remove("--detach")
        raise SystemExit(launch(own, Path(args.endpoint), LAUNCH_TIMEOUT))
    token: str | None = None
    if args.endpoint:
        path = Path(args.endpoint)
        sock = bind_tcp(path)
        token = secrets.token_hex(32)
        port = sock.getsockname()[1]
        write_endpoint(path, port, token)  # the starter waits for this file
        where: dict[str, Any] = {"port": port}
    else:
        path = Path(args.socket)
        sock = bind(path)
        if not args.foreground and os.fork() > 0:
            os._exit(0)  # the starter waits for this exit: the socket listens
        where = {"socket_inode": os.stat(path).st_ino}
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        write_record(path, **where)
    except OSError as exc:  # only the listing of other installations' services misses it
        log.warning("cannot write the service record beside %s: %s", path, exc)
    log.info("listening on %s (idle exit %.0f s)",
             path if token is None else f"{LOOPBACK}:{sock.getsockname()[1]} ({path})",
             args.idle_exit)
    service = Service(sock, path, max(args.idle_exit, 0.5), max(args.client_buffer, 4096),
                      token=token)
    asyncio.run(service.run())
    log.info("exited")


if __name__ == "__main__":
    main()
