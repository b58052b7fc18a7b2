"""The server never outlives its editor: no Offpilot process is left 5 s after the editor goes.

The editor goes in the middle of each feature (see :mod:`tests.reliability.editor_process`):
an inline completion while the model loads, Explain while it streams, Generate tests while the
code under test runs in its sandbox, a model download part way, Fix this problem while it looks
for a verified fix, ``offpilot.fixTest`` while the project's tests run in the sandbox and while
the model explains the failure. After a fix scenario, no file of the project has changed and
no sandbox folder is left in the server's temporary folder. It goes in two ways: its end of
the pipe is closed (stdin EOF), or the editor process, the server's parent, is killed with
SIGKILL. Every process of the server's tree at that moment (the server, its model worker, the
sandboxed runs and what they started) and every process carrying this test's mark in its
environment must be gone 5 s later.

Two more ways for the editor to be gone: the ``processId`` given in ``initialize`` ends while
the pipe stays open (the server polls it), and the server itself is killed with SIGKILL (its
model worker dies by the parent-death signal, with no help from the server).

The real server, the real embedded model, real sandboxes, a real (slow) HTTP hub on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.reliability.editor_process import (
    FIX_SCENARIOS,
    HUB_FILE,
    MARK,
    SCENARIOS,
    descendants,
    drive,
    marked,
    project_digest,
    running,
)
from tests.reliability.rpc import RawServer, clean_env, model_worker_pids
from tests.unit.engine.test_download import FakeHub, make_handler

pytestmark = [pytest.mark.slow, pytest.mark.model,
              pytest.mark.skipif(not sys.platform.startswith("linux"),
                                 reason="reads the process tree from /proc")]

GONE_WITHIN = 5.0  # seconds


class _Trickle:
    """A socket writer that sends 64 KiB at a time, 50 ms apart (about 1.3 MB/s)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        for i in range(0, len(view), 1 << 16):
            self._raw.write(view[i:i + (1 << 16)])
            time.sleep(0.05)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


@pytest.fixture
def slow_hub() -> Iterator[str]:
    data = b"GGUF" + os.urandom(32 << 20)  # about 25 s at the hub's pace
    hub = FakeHub({HUB_FILE: data}, {HUB_FILE: hashlib.sha256(data).hexdigest()})
    base = make_handler(hub)

    class Slow(base):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            super().setup()
            self.wfile = _Trickle(self.wfile)

        def handle(self) -> None:
            with contextlib.suppress(OSError):  # the server went away mid-body: the point
                super().handle()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def environment(tmp_path: Path, hub: str, mark: str) -> dict[str, str]:
    (tmp_path / "tmp").mkdir(exist_ok=True)  # the server's temporary folder: its sandboxes
    return clean_env(**{MARK: mark, "OFFPILOT_CACHE_DIR": str(tmp_path / "cache"),
                        "TMPDIR": str(tmp_path / "tmp"),
                        "OFFPILOT_MODELS_DIR": str(tmp_path / "store"), "HF_ENDPOINT": hub,
                        "HF_HUB_DISABLE_TELEMETRY": "1",
                        "PYTHONPATH": os.pathsep.join(
                            p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)})


def assert_nothing_left(scenario: str, project: Path, files: dict[str, str],
                        tmp_path: Path) -> None:
    """After a fix scenario: the project's files as they were, no sandbox folder left."""
    if scenario not in FIX_SCENARIOS:
        return
    assert files and project_digest(project) == files
    assert "shop/fixme.py" in files and "tests/test_fixme.py" in files
    deadline = time.monotonic() + GONE_WITHIN
    while (left := sorted((tmp_path / "tmp").glob("offpilot-sandbox-*"))) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"sandbox folders left: {left}"


def assert_all_gone(pids: list[int], mark: str, what: str) -> None:
    deadline = time.monotonic() + GONE_WITHIN
    left = pids
    while time.monotonic() < deadline:
        left = sorted({p for p in pids if running(p)} | set(marked(mark)))
        if not left:
            return
        time.sleep(0.1)
    described = {p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")[:120]
                 for p in left if running(p)}
    raise AssertionError(f"{GONE_WITHIN:.0f} s after {what}, still running: {described}")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_closing_stdin_mid_feature_leaves_no_process(scenario: str, demo_project: Path,
                                                     slow_hub: str, tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    srv = RawServer(environment(tmp_path, slow_hub, mark))
    try:
        pending = drive(srv, scenario, demo_project)
        files = project_digest(demo_project)
        tree = [srv.proc.pid, *descendants(srv.proc.pid)]
        workers = model_worker_pids(srv.proc.pid)
        assert srv.proc.stdin is not None and srv.alive()
        srv.proc.stdin.close()
        srv.proc.wait(timeout=GONE_WITHIN)
        assert_all_gone(tree, mark, f"stdin closed during {scenario}")
        assert_nothing_left(scenario, demo_project, files, tmp_path)
        if scenario != "download":
            assert workers, "the scenario must have a model worker to stop"
        assert pending or scenario not in ("download", *FIX_SCENARIOS), \
            "the feature ended before the editor did"
    finally:
        if srv.alive():
            srv.proc.kill()
            srv.proc.wait()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_killing_the_editor_mid_feature_leaves_no_process(scenario: str, demo_project: Path,
                                                          slow_hub: str, tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    editor = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.editor_process", scenario, str(demo_project)],
        cwd=REPO, env=environment(tmp_path, slow_hub, mark), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL)
    try:
        assert editor.stdout is not None
        line = editor.stdout.readline()
        assert line, "the editor process ended before reaching its point"
        point = json.loads(line)
        files = project_digest(demo_project)
        server = point["server"]
        tree = [server, *descendants(server)]
        assert len(tree) > 1 or scenario == "download", f"nothing running under {tree}"
        editor.send_signal(signal.SIGKILL)
        editor.wait()
        assert_all_gone(tree, mark, f"the editor was killed during {scenario}")
        assert_nothing_left(scenario, demo_project, files, tmp_path)
        assert point["pending"] or scenario not in FIX_SCENARIOS
    finally:
        if editor.poll() is None:
            editor.kill()
            editor.wait()
        for pid in marked(mark):  # never leave one behind, whatever failed
            os.kill(pid, signal.SIGKILL)


def test_server_exits_when_the_editor_process_ends(demo_project: Path, slow_hub: str,
                                                   tmp_path: Path) -> None:
    """The pipe stays open; only the processId given in initialize ends."""
    mark = uuid.uuid4().hex
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    srv = RawServer(environment(tmp_path, slow_hub, mark))
    try:
        srv.config = {"threads": 2, "contextSize": 2048, "indexEnabled": False,
                      "sharedModel": False}
        srv.call("initialize", {"processId": sleeper.pid, "rootUri": demo_project.as_uri(),
                                "capabilities": {},
                                "initializationOptions": srv.config}, timeout=60)
        srv.notify("initialized", {})
        srv.call("offpilot/stats", timeout=30)
        # a model in memory, to see that the worker goes too
        uri = (demo_project / "shop" / "text.py").as_uri()
        srv.open(uri, "def add(a, b):\n    return \n")
        srv.call("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 11},
            "context": {"triggerKind": 1}}, timeout=180)
        workers = model_worker_pids(srv.proc.pid)
        assert workers
        time.sleep(1.5)
        assert srv.alive(), "the server must run while the editor's process does"
        sleeper.kill()
        sleeper.wait()
        srv.proc.wait(timeout=GONE_WITHIN)
        assert_all_gone([srv.proc.pid, *workers], mark, "the editor's process ended")
    finally:
        sleeper.kill()
        sleeper.wait()
        if srv.alive():
            srv.proc.kill()
            srv.proc.wait()


def test_model_worker_dies_with_a_killed_server(demo_project: Path, slow_hub: str,
                                                tmp_path: Path) -> None:
    """SIGKILL leaves the server no chance to clean up: the worker goes by itself."""
    mark = uuid.uuid4().hex
    srv = RawServer(environment(tmp_path, slow_hub, mark))
    try:
        drive(srv, "completion", demo_project)  # the worker is loading the model
        workers = model_worker_pids(srv.proc.pid)
        assert workers
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        assert_all_gone(workers, mark, "the server was killed")
    finally:
        if srv.alive():
            srv.proc.kill()
            srv.proc.wait()
