"""The per-user model service: one model worker per distinct model, shared by every server.

``python -m offpilot.engine.service --socket PATH --idle-exit SECONDS`` binds a Unix socket
(0600, in a 0700 directory; see :mod:`offpilot.engine.shared`), forks into a session of its
own and serves every Offpilot server of the user that runs from the same installation (each
installation has a socket of its own, named from :func:`installation_id`). Beside the socket
it keeps a record (``PATH`` with ``.json``: its pid, version, package directory), so that
``offpilot models status`` of another installation can list it without talking to it.

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

Peers are checked with SO_PEERCRED where the platform has it: only the same user may connect.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import json
import logging
import os
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offpilot.engine import wire
from offpilot.shared.files import write_atomically
from offpilot.shared.nodump import forbid_dumps
from offpilot.shared.processes import start_time

log = logging.getLogger("offpilot.service")

SLOTS = 4  # clients with a KV-cache slot of their own per model; more share slots
STREAMS = 3  # sequences per slot: completion (0), chat (1), short first prompts (2)
STREAM_LIMIT = 1 << 24
CLIENT_BUFFER = 1 << 20  # bytes waiting for one client before it counts as not reading


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
        env = dict(os.environ)
        pkg_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, env.get("PYTHONPATH")) if p)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "offpilot.engine.worker", "--parent", str(os.getpid()),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=None, env=env, limit=STREAM_LIMIT)
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
    """Where the service listening on ``sock`` keeps its record."""
    return sock.with_suffix(".json")


def write_record(sock: Path) -> None:
    """Say who listens on ``sock`` (0600, replaced atomically): read by other installations'
    ``offpilot models status``, which do not connect to a service of another version."""
    record = {"pid": os.getpid(), "proc_start": start_time(os.getpid()), "socket": str(sock),
              "socket_inode": os.stat(sock).st_ino, "started": time.time(),
              "executable": sys.executable, **installation_identity()}
    write_atomically(record_path(sock), json.dumps(record))  # mkstemp: 0600


class Service:
    def __init__(self, sock: socket.socket, path: Path, idle_exit: float,
                 client_buffer: int = CLIENT_BUFFER) -> None:
        self.sock = sock
        self.client_buffer = client_buffer
        self.path = path
        self.inode = os.stat(path).st_ino
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
        server = await asyncio.start_unix_server(self.handle, sock=self.sock,
                                                 limit=STREAM_LIMIT)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
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
                log.warning("the socket %s was replaced; exiting", self.path)
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
        creds = peer_credentials(writer.get_extra_info("socket"))
        if creds is not None and creds[1] != os.getuid():
            log.warning("refused a connection from uid %d (pid %d)", creds[1], creds[0])
            writer.close()
            return
        client = Client(next(self.ids), writer, creds[0] if creds else None,
                        limit=self.client_buffer)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="offpilot.engine.service")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--idle-exit", type=float, default=600.0)
    parser.add_argument("--client-buffer", type=int, default=CLIENT_BUFFER,
                        help="bytes waiting for a client before it is disconnected as stuck")
    parser.add_argument("--foreground", action="store_true", help="do not fork (debugging)")
    args = parser.parse_args(argv)
    forbid_dumps()  # it holds the environment of the server that started it
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    path = Path(args.socket)
    sock = bind(path)
    if not args.foreground and os.fork() > 0:
        os._exit(0)  # the starter waits for this exit: the socket listens
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        write_record(path)
    except OSError as exc:  # only the listing of other installations' services misses it
        log.warning("cannot write the service record beside %s: %s", path, exc)
    log.info("listening on %s (idle exit %.0f s)", path, args.idle_exit)
    service = Service(sock, path, max(args.idle_exit, 0.5), max(args.client_buffer, 4096))
    asyncio.run(service.run())
    log.info("exited")


if __name__ == "__main__":
    main()
