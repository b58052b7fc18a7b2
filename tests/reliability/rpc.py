"""A raw JSON-RPC client over stdio: sends any bytes, including malformed messages.

Used by the reliability tests and ``bench/storm.py``: it frames messages itself, collects every
reply by id, keeps the notifications, and answers the server's own requests the way a simple
editor does: ``workspace/configuration`` with :attr:`RawServer.config`, ``workspace/applyEdit``
by writing the edit under :attr:`RawServer.apply_edits_in` (refused when that is None or the
edit leaves it), everything else with null.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SERVER = [sys.executable, "-m", "offpilot", "serve", "--log-level", "error"]


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without OFFPILOT_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFPILOT_")}
    env.update(extra)
    return env


class RawServer:
    """The real server as a subprocess; frames messages itself and collects every reply."""

    def __init__(self, env: dict[str, str] | None = None, *, command: list[str] | None = None,
                 cwd: str | Path | None = None, stderr: Any = subprocess.DEVNULL,
                 encode: Callable[[Any], Any] | None = None) -> None:
        self.proc = subprocess.Popen(command or SERVER, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=stderr,
                                     env=env or dict(os.environ), cwd=cwd)
        self.replies: dict[Any, dict[str, Any]] = {}
        self.reply_times: dict[Any, float] = {}
        self.notifications: list[dict[str, Any]] = []
        self.server_requests: queue.Queue[dict[str, Any]] = queue.Queue()
        self.config: dict[str, Any] = {}  # what workspace/configuration answers (section offpilot)
        self.apply_edits_in: Path | None = None  # write workspace/applyEdit edits under here
        self.edits: list[dict[str, Any]] = []  # every workspace/applyEdit received
        self.init_result: dict[str, Any] = {}
        self.config_pulls = 0  # workspace/configuration requests answered
        self.pulls_configuration = False  # the client said it answers them
        self._encode = encode  # json.dumps ``default`` for objects JSON cannot encode
        self._lock = threading.Condition()
        self._write_lock = threading.Lock()
        self._next_id = 1
        self.sent: dict[Any, dict[str, Any]] = {}
        self.sent_times: dict[Any, float] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # ------------------------------------------------------------- reading
    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    with self._lock:
                        self._lock.notify_all()
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii", "replace").partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                continue
            body = out.read(length)
            msg = json.loads(body)
            now = time.monotonic()
            with self._lock:
                if "method" in msg and "id" in msg:
                    self.server_requests.put(msg)
                elif "id" in msg:
                    self.replies[msg["id"]] = msg
                    self.reply_times[msg["id"]] = now
                else:
                    self.notifications.append(msg)
                self._lock.notify_all()
            if "method" in msg and "id" in msg:
                self._answer_server_request(msg)

    def _answer_server_request(self, msg: dict[str, Any]) -> None:
        result: Any = None
        if msg["method"] == "workspace/configuration":
            items = (msg.get("params") or {}).get("items", [])
            result = [dict(self.config) for _ in items]
            self.send_obj({"jsonrpc": "2.0", "id": msg["id"], "result": result})
            with self._lock:
                self.config_pulls += 1
                self._lock.notify_all()
            return
        elif msg["method"] == "workspace/applyEdit":
            edit = (msg.get("params") or {}).get("edit") or {}
            self.edits.append(edit)
            if self.apply_edits_in is None:
                result = {"applied": False, "failureReason": "test client"}
            else:
                try:
                    apply_workspace_edit(self.apply_edits_in, edit)
                    result = {"applied": True}
                except (OSError, ValueError) as exc:
                    result = {"applied": False, "failureReason": str(exc)}
        self.send_obj({"jsonrpc": "2.0", "id": msg["id"], "result": result})

    # ------------------------------------------------------------- writing
    def send_bytes(self, body: bytes) -> None:
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def send_obj(self, obj: Any) -> None:
        self.send_bytes(json.dumps(obj, default=self._encode).encode())

    def request(self, method: str, params: Any = None, *, msg_id: Any = None) -> Any:
        with self._lock:
            if msg_id is None:
                msg_id = self._next_id
                self._next_id += 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.sent[msg_id] = msg
        self.sent_times[msg_id] = time.monotonic()
        self.send_obj(msg)
        return msg_id

    def notify(self, method: str, params: Any = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send_obj(msg)

    # ------------------------------------------------------------- waiting
    def wait_reply(self, msg_id: Any, timeout: float = 30.0) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while msg_id not in self.replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return self.replies.get(msg_id)
                self._lock.wait(min(left, 1.0))
            return self.replies[msg_id]

    def call(self, method: str, params: Any = None, timeout: float = 30.0) -> Any:
        """Send a request and return its result; AssertionError on an error or no answer."""
        msg_id = self.request(method, params)
        reply = self.wait_reply(msg_id, timeout)
        assert reply is not None, f"{method} was not answered within {timeout} s"
        assert "error" not in reply, f"{method} failed: {reply['error']}"
        return reply.get("result")

    def wait_notification(self, predicate: Callable[[dict[str, Any]], bool],
                          timeout: float = 30.0, start: int = 0) -> dict[str, Any] | None:
        """The first notification from index ``start`` on that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for msg in self.notifications[start:]:
                    if predicate(msg):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self._lock.wait(min(left, 1.0))

    def messages(self, kind: int | None = None) -> list[str]:
        """Texts of the window/showMessage notifications so far (of one MessageType)."""
        with self._lock:
            return [n["params"]["message"] for n in self.notifications
                    if n.get("method") == "window/showMessage"
                    and (kind is None or n["params"].get("type") == kind)]

    # ------------------------------------------------------------- session
    def initialize(self, root: Path | None, *, options: Any = None,
                   capabilities: dict[str, Any] | None = None, timeout: float = 60) -> Any:
        params: dict[str, Any] = {"processId": os.getpid(), "capabilities": capabilities or {
            "workspace": {"configuration": True, "applyEdit": True,
                          "workspaceEdit": {"documentChanges": True,
                                            "resourceOperations": ["create"]}},
            "window": {"workDoneProgress": True}}}
        if root is not None:
            params["rootUri"] = root.as_uri()
            params["workspaceFolders"] = [{"uri": root.as_uri(), "name": root.name}]
        if options is not None:
            params["initializationOptions"] = options
        workspace = params["capabilities"].get("workspace") or {}
        self.pulls_configuration = bool(workspace.get("configuration"))
        result = self.call("initialize", params, timeout)
        self.init_result = result or {}
        self.notify("initialized", {})
        return result

    def has_capability(self, name: str) -> bool:
        return bool((self.init_result.get("capabilities") or {}).get(name))

    def commands(self) -> list[str]:
        """The commands of executeCommandProvider."""
        provider = (self.init_result.get("capabilities") or {}).get("executeCommandProvider")
        return list((provider or {}).get("commands") or [])

    def configure(self, settings: dict[str, Any], timeout: float = 30) -> None:
        """New ``offpilot`` settings: pushed, answered to the server's pull, and in effect
        when this returns (the server applies them once its pull is answered)."""
        with self._lock:
            pulls = self.config_pulls
            self.config = dict(settings)
        self.notify("workspace/didChangeConfiguration", {"settings": {"offpilot": settings}})
        if self.pulls_configuration:
            deadline = time.monotonic() + timeout
            with self._lock:
                while self.config_pulls == pulls and time.monotonic() < deadline \
                        and self.proc.poll() is None:
                    self._lock.wait(0.5)
        self.call("offpilot/stats", timeout=timeout)  # handled after the settings

    def open(self, uri: str, text: str, language_id: str = "python", version: int = 1) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language_id, "version": version, "text": text}})

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            rid = self.request("shutdown")
            self.wait_reply(rid, 10)
            self.notify("exit")
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def inline_params(uri: str, line: int, character: int, trigger: int = 2) -> dict[str, Any]:
    """textDocument/inlineCompletion params (trigger 1 = invoked, 2 = automatic)."""
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character},
            "context": {"triggerKind": trigger}}


def items_of(result: Any) -> list[dict[str, Any]]:
    """The items of an InlineCompletionList or of a bare item list."""
    if isinstance(result, dict):
        return list(result.get("items") or [])
    return list(result or [])


def running(pid: int) -> bool:
    """Whether any thread of ``pid`` still runs (Linux). A process killed with several threads
    shows its main thread as a zombie while the others are still ending, and its files (its
    sockets) close only once the last of them has: until then a peer may still write to them."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue  # (that thread has ended)
        if stat[stat.rfind(")") + 2:].split()[0] not in ("Z", "X"):
            return True
    return False


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (a /proc scan; Linux)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid):
            out.append(int(entry))
    return out


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [p.decode("utf-8", "replace") for p in f.read().split(b"\0") if p]
    except OSError:
        return []


def model_worker_pids(server_pid: int) -> list[int]:
    """The model worker processes of the server (``python -m offpilot.engine.worker``)."""
    return [p for p in children_of(server_pid) if "offpilot.engine.worker" in cmdline(p)]


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def _uri_path(root: Path, uri: str) -> Path:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ValueError(f"not a file URI: {uri}")
    path = Path(unquote(parsed.path)).resolve()
    if path != root.resolve() and root.resolve() not in path.parents:
        raise ValueError(f"edit outside the workspace: {path}")
    return path


def _offset(text: str, pos: dict[str, int]) -> int:
    """str offset of an LSP position (UTF-16 columns), clamped."""
    lines = text.split("\n")
    line = max(0, min(pos["line"], len(lines) - 1))
    base = sum(len(ln) + 1 for ln in lines[:line])
    units = lines[line].encode("utf-16-le")[: max(0, pos["character"]) * 2]
    return base + len(units.decode("utf-16-le", "ignore"))


def apply_text_edits(text: str, edits: list[dict[str, Any]]) -> str:
    spans = sorted(((_offset(text, e["range"]["start"]), _offset(text, e["range"]["end"]),
                     e["newText"]) for e in edits), reverse=True)
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def apply_workspace_edit(root: Path, edit: dict[str, Any]) -> None:
    """Write a WorkspaceEdit (create files, text edits) to disk, refusing paths outside root."""
    for change in edit.get("documentChanges") or []:
        if change.get("kind") == "create":
            path = _uri_path(root, change["uri"])
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.write_text("", encoding="utf-8")
        elif "textDocument" in change:
            path = _uri_path(root, change["textDocument"]["uri"])
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            path.write_text(apply_text_edits(text, change.get("edits") or []), encoding="utf-8")
        else:
            raise ValueError(f"unsupported change: {change.get('kind')}")
    for uri, edits in (edit.get("changes") or {}).items():
        path = _uri_path(root, uri)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        path.write_text(apply_text_edits(text, edits), encoding="utf-8")
