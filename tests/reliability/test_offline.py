"""Offline guarantee: an editing session in the default configuration makes no network access.

The server runs the default configuration (local backend, embedded model, workspace index,
generated tests run in the sandbox; only the generation lengths are shortened) through a whole
session: indexing, inline completions, and Explain and Generate Tests when the server offers
them. Two independent proofs:

- a Python audit hook, installed by a ``sitecustomize`` on PYTHONPATH in the server and every
  Python process it starts with that environment (the model worker, index parser processes),
  logs every socket connect/send/bind, name lookup, URL request and process start, and every
  file write; the session must show no connection or lookup other than local ones, and no
  write outside the workspace, the index cache and the temp dir;
- where ``unshare -rn`` works, the server runs in a new network namespace with no interface
  but a down loopback, so any attempt, from native code too, fails; the session must still
  produce completions.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.rpc import SERVER, RawServer, clean_env, inline_params, items_of

pytestmark = [pytest.mark.model, pytest.mark.slow]

AUDIT_HOOK = r'''
"""Audit hook for the offline test: logs network, process and file-write events (JSON lines)."""
import json as _json
import os as _os
import sys as _sys
import time as _time

_LOG = _os.environ.get("OFFPILOT_AUDIT_LOG")
_NET = {"socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"}
_LOOKUP = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
           "socket.gethostbyaddr", "socket.getnameinfo", "urllib.Request", "http.client.connect",
           "ftplib.connect", "smtplib.connect", "poplib.connect", "imaplib.open",
           "telnetlib.Telnet.open", "webbrowser.open"}
_PROC = {"subprocess.Popen", "os.exec", "os.posix_spawn", "os.system", "os.spawn", "os.fork",
         "os.forkpty", "pty.spawn"}
_FILES = {"os.remove", "os.rename", "os.replace", "os.mkdir", "os.rmdir", "shutil.rmtree",
          "os.truncate", "os.symlink", "os.link", "shutil.copyfile", "shutil.move",
          "sqlite3.connect"}
_WRITE_FLAGS = _os.O_WRONLY | _os.O_RDWR | _os.O_CREAT | _os.O_TRUNC | _os.O_APPEND

if _LOG:
    _fd = _os.open(_LOG, _os.O_WRONLY | _os.O_APPEND | _os.O_CREAT, 0o644)

    def _emit(event, **data):
        data.update(pid=_os.getpid(), t=_time.time(), event=event)
        _os.write(_fd, (_json.dumps(data, default=repr) + "\n").encode())

    def _abspath(path, dir_fd=None):
        """An absolute path for a path argument (relative to dir_fd or the cwd)."""
        if isinstance(path, bytes):
            path = path.decode("utf-8", "replace")
        if isinstance(path, _os.PathLike):
            path = _os.fspath(path)
        if not isinstance(path, str) or _os.path.isabs(path):
            return path
        base = (_os.readlink(f"/proc/self/fd/{dir_fd}") if isinstance(dir_fd, int)
                and dir_fd >= 0 else _os.getcwd())
        return _os.path.join(base, path)

    # event -> (positions of path arguments, position of dir_fd or None)
    _PATHS = {"os.remove": ((0,), 1), "os.rmdir": ((0,), 1), "os.mkdir": ((0,), 2),
              "shutil.rmtree": ((0,), 1), "os.truncate": ((0,), None),
              "os.rename": ((0, 1), None), "os.replace": ((0, 1), None),
              "os.symlink": ((1,), 2), "os.link": ((1,), None),
              "shutil.copyfile": ((1,), None), "shutil.move": ((1,), None),
              "sqlite3.connect": ((0,), None)}

    def _hook(event, args):
        try:
            if event in _NET:
                sock, address = args[0], args[1]
                _emit(event, family=int(getattr(sock, "family", -1)), address=address)
            elif event in _FILES:
                where, fd_at = _PATHS[event]
                dir_fd = args[fd_at] if fd_at is not None and len(args) > fd_at else None
                _emit(event, paths=[_abspath(args[i], dir_fd) for i in where if i < len(args)])
            elif event in _LOOKUP or event in _PROC:
                _emit(event, args=[a if isinstance(a, str | int | float | None) else repr(a)
                                   for a in args][:4])
            elif event == "open":
                path, mode, flags = args[0], args[1], args[2]
                writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS)
                path = _abspath(path)
                if writing and isinstance(path, str):
                    _emit("write", paths=[path])
        except Exception:  # an audit hook must never break the program
            pass

    with open("/proc/self/cmdline", "rb") as _f:
        _emit("start", argv=[a.decode("utf-8", "replace") for a in _f.read().split(b"\0")
                             if a])
    _sys.addaudithook(_hook)
'''

LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1", "0.0.0.0", "::"}


def network_namespace_prefix() -> list[str]:
    """``unshare -rn`` (or ``-n`` as root) when it works here, else []."""
    exe = shutil.which("unshare")
    if exe is None:
        return []
    for flags in (["-rn"], ["-n"]):
        probe = subprocess.run([exe, *flags, sys.executable, "-c", "pass"],
                               capture_output=True)
        if probe.returncode == 0:
            return [exe, *flags]
    return []


def is_local(family: int, address: Any) -> bool:
    if family == socket.AF_UNIX:
        return True
    host = address[0] if isinstance(address, list | tuple) and address else address
    if family in (socket.AF_INET, socket.AF_INET6) and isinstance(host, str):
        return host in LOCAL_HOSTS or host.startswith("127.")
    return family == getattr(socket, "AF_NETLINK", -2)  # kernel queries, no network


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def network_violations(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    bad = []
    for e in events:
        if e["event"] in ("socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"):
            if not is_local(e.get("family", -1), e.get("address")):
                bad.append(e)
        elif e["event"].startswith("socket.get"):
            host = (e.get("args") or [None])[0]
            if host not in LOCAL_HOSTS and not str(host).startswith("127."):
                bad.append(e)
        elif e["event"] in ("urllib.Request", "http.client.connect", "ftplib.connect",
                            "smtplib.connect", "poplib.connect", "imaplib.open",
                            "telnetlib.Telnet.open", "webbrowser.open"):
            bad.append(e)
    return bad


def write_violations(events: list[dict[str, Any]], allowed: list[Path]) -> list[dict[str, Any]]:
    roots = [Path(os.path.realpath(p)) for p in allowed]

    def inside(path: str) -> bool:
        if path.startswith("/dev/") or path in (":memory:", ""):
            return True
        real = Path(os.path.realpath(path))
        return any(real == r or r in real.parents for r in roots)

    bad = []
    for e in events:
        for p in e.get("paths") or []:
            if not isinstance(p, str) or not inside(p):
                bad.append({**e, "outside": p})
    return bad


def function_range(text: str, name: str) -> dict[str, Any]:
    lines = text.split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"def {name}("))
    end = start + 1
    while end < len(lines) and (not lines[end] or lines[end].startswith((" ", "\t"))):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return {"start": {"line": start, "character": 0}, "end": {"line": end, "character": 0}}


@pytest.fixture
def audit(tmp_path: Path) -> dict[str, Path]:
    hook_dir = tmp_path / "audit"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(AUDIT_HOOK, encoding="utf-8")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return {"hooks": hook_dir, "log": tmp_path / "audit.jsonl", "tmp": tmp,
            "cache": tmp_path / "cache"}


def audited_env(audit: dict[str, Path], **extra: str) -> dict[str, str]:
    env = clean_env(OFFPILOT_AUDIT_LOG=str(audit["log"]), OFFPILOT_CACHE_DIR=str(audit["cache"]),
                    TMPDIR=str(audit["tmp"]), **extra)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(audit["hooks"]), os.environ.get("PYTHONPATH")) if p)
    return env


def test_the_audit_hook_sees_network_attempts(audit: dict[str, Path]):
    """The proof's own control: a lookup and a connect in an audited process are logged."""
    code = ("import socket\n"
            "try:\n    socket.getaddrinfo('offpilot-control.invalid', 443)\n"
            "except OSError:\n    pass\n"
            "s = socket.socket()\ns.settimeout(0.2)\n"
            "try:\n    s.connect(('192.0.2.1', 9))\nexcept OSError:\n    pass\n")
    prefix = network_namespace_prefix()  # nothing leaves the machine, even here
    subprocess.run([*prefix, sys.executable, "-c", code], env=audited_env(audit), check=True,
                   timeout=60)
    bad = network_violations(read_log(audit["log"]))
    assert {e["event"] for e in bad} == {"socket.getaddrinfo", "socket.connect"}, bad


def test_an_editing_session_makes_no_network_access(audit: dict[str, Path],
                                                    demo_project: Path, gemma_path: Path,
                                                    private_runtime_dir: Path):
    prefix = network_namespace_prefix()
    options = {"chatMaxTokens": 128, "maxTokens": 16, "testTimeout": 60}
    srv = RawServer(audited_env(audit), command=[*prefix, *SERVER])
    srv.config = dict(options)
    srv.apply_edits_in = demo_project
    calls: dict[str, Any] = {}
    try:
        srv.initialize(demo_project, options=options)
        deadline = time.monotonic() + 300
        while not (srv.call("offpilot/stats").get("context") or {}).get("ready"):
            assert time.monotonic() < deadline, "the index was not ready in time"
            time.sleep(0.2)

        path = demo_project / "shop" / "pricing.py"
        saved = path.read_text(encoding="utf-8")
        uri = path.as_uri()
        # the loop body not typed yet, as in `offpilot demo`
        marker = "    for sku, quantity in cart.lines.items():\n        "
        resume = "    return total"
        cut = saved.index(marker) + len(marker)
        text = saved[:cut] + "\n" + saved[saved.index(resume):]
        srv.open(uri, text)
        line = text[:cut].count("\n")
        items = items_of(srv.call("textDocument/inlineCompletion",
                                  inline_params(uri, line, 8, 1), 300))
        calls["completion"] = items
        rng = function_range(text, "cart_total")
        assert srv.call("offpilot/stats")["models"]["completion"]["state"] != "error"

        commands = srv.commands()
        if "offpilot.explain" in commands:
            calls["explain"] = srv.call("workspace/executeCommand", {
                "command": "offpilot.explain", "arguments": [{"uri": uri, "range": rng}],
                "workDoneToken": "offline-explain"}, 600)
        tests_started = time.time()
        if "offpilot.generateTests" in commands:
            text_path = demo_project / "shop" / "text.py"
            source = text_path.read_text(encoding="utf-8")
            srv.open(text_path.as_uri(), source)
            calls["generateTests"] = srv.call("workspace/executeCommand", {
                "command": "offpilot.generateTests", "arguments": [{
                    "uri": text_path.as_uri(), "range": function_range(source, "slugify"),
                    "scope": "symbol"}], "workDoneToken": "offline-tests"}, 900)
        assert srv.alive()
    finally:
        srv.close()

    events = read_log(audit["log"])
    starts = [e for e in events if e["event"] == "start"]
    assert any("serve" in e["argv"] for e in starts), "the server ran without the audit hook"
    assert any("offpilot.engine.worker" in e["argv"] for e in starts), \
        "the model worker ran without the audit hook"
    bad = network_violations(events)
    assert not bad, "network access:\n" + "\n".join(json.dumps(e) for e in bad[:20])
    # (the embedded model's package keeps its assembled file in its own cache folder)
    # (and the shared model service keeps its socket and log in the user's runtime directory)
    allowed = [demo_project, audit["cache"], audit["tmp"], audit["log"], gemma_path.parent,
               private_runtime_dir]
    bad = write_violations(events, allowed)
    assert not bad, "writes outside the workspace:\n" + "\n".join(json.dumps(e)
                                                                  for e in bad[:20])
    # Until the user asks for tests, nothing but Python processes of Offpilot itself starts.
    early = [e for e in events if e["event"] in ("subprocess.Popen", "os.exec", "os.posix_spawn",
                                                 "os.system") and e["t"] < tests_started]
    for e in early:
        argv = json.dumps(e.get("args"))
        assert "offpilot" in argv or "multiprocessing" in argv, f"unexpected process: {e}"
    if prefix:  # in an empty network namespace the session still works
        assert calls["completion"], "no completion without a network"
    print(json.dumps({"netns": bool(prefix), "commands": sorted(calls),
                      "audited_processes": len(starts), "events": len(events),
                      "started": [str(e.get("args"))[:120] for e in events
                                  if e["event"] == "subprocess.Popen"]}, indent=1))
