"""Model faults seen from the editor: the real server over stdio, bad model files via settings.

A bad model is not a server fault. For every kind of bad file the server stays up, says what is
wrong in a window/showMessage error that names the file, answers inline completions with an
empty list and keeps answering other requests. A worker killed mid-generation is replaced by
the next request; a setting fixed with workspace/didChangeConfiguration takes effect at once.
(Backend-level checks of the same files are in tests/model/test_local_backend.py; the missing
model given by the environment is in tests/lsp/test_inline_completion.py.)
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.rpc import (
    RawServer,
    clean_env,
    inline_params,
    items_of,
    model_worker_pids,
)

pytestmark = pytest.mark.slow

ERROR = 1  # MessageType.Error
TEXT = "def add(a, b):\n    return \n"
FAST = {"indexEnabled": False, "threads": 2, "contextSize": 1024, "maxTokens": 8,
        "debounceMs": 0}


def start(root: Path, **options: object) -> RawServer:
    srv = RawServer(clean_env(OFFPILOT_CACHE_DIR=str(root / ".cache")))
    srv.config = {**FAST, **options}  # what the server pulls with workspace/configuration
    srv.initialize(root, options=srv.config)
    return srv


@pytest.fixture
def servers() -> Iterator[list[RawServer]]:
    started: list[RawServer] = []
    yield started
    for srv in started:
        srv.close()


def wait_state(srv: RawServer, state: str, timeout: float, start: int = 0) -> bool:
    return srv.wait_notification(
        lambda n: n.get("method") == "offpilot/status" and n["params"].get("state") == state,
        timeout, start) is not None


def completion_items(srv: RawServer, uri: str, line: int, character: int,
                     timeout: float = 120) -> list[dict]:
    return items_of(srv.call("textDocument/inlineCompletion",
                             inline_params(uri, line, character, trigger=1), timeout))


def sparse_gguf(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00")
        f.truncate(size)
    return path


def too_large_size() -> int:
    from offpilot.engine.modelfile import available_memory

    return max(2 * (available_memory() or 0), 64 << 30)


BAD_FILES = {
    # name: (bytes or a maker, words the message must contain)
    "zero-byte": (b"", "empty"),
    "non-gguf": (b"PK\x03\x04 a zip archive, not a model\n" * 64, "not a GGUF"),
    "too-large": (None, "memory"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_model_file_is_reported_and_the_server_keeps_serving(
        kind: str, tmp_path: Path, servers: list[RawServer]):
    data, words = BAD_FILES[kind]
    model = tmp_path / f"{kind}.gguf"
    if data is None:
        sparse_gguf(model, too_large_size())
    else:
        model.write_bytes(data)
    srv = start(tmp_path, model=str(model))
    servers.append(srv)
    check_reported_and_serving(srv, tmp_path, model, words)


@pytest.mark.model
def test_truncated_model_is_reported_and_the_server_keeps_serving(
        tmp_path: Path, gemma_path: Path, servers: list[RawServer]):
    model = tmp_path / "truncated.gguf"
    with gemma_path.open("rb") as src:
        model.write_bytes(src.read(1 << 20))
    srv = start(tmp_path, model=str(model))
    servers.append(srv)
    check_reported_and_serving(srv, tmp_path, model, "")


def check_reported_and_serving(srv: RawServer, root: Path, model: Path, words: str) -> None:
    uri = (root / "a.py").as_uri()
    srv.open(uri, TEXT)
    assert completion_items(srv, uri, 1, 11) == []
    shown = srv.wait_notification(
        lambda n: n.get("method") == "window/showMessage" and n["params"]["type"] == ERROR,
        30)
    assert shown is not None, f"no error message; got {srv.messages()}"
    message = shown["params"]["message"]
    assert model.name in message and words in message, message
    stats = srv.call("offpilot/stats")
    assert stats["models"]["completion"]["state"] == "error"
    assert words in stats["models"]["completion"].get("error", ""), stats["models"]
    # Later requests are answered at once (no reload attempt per keystroke), others too.
    t0 = time.monotonic()
    assert completion_items(srv, uri, 1, 10) == []
    assert time.monotonic() - t0 < 5
    if srv.has_capability("codeActionProvider"):
        srv.call("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "context": {"diagnostics": []},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}})
    assert srv.call("offpilot/stats")["status"]["state"] == "error"
    assert len([m for m in srv.messages(ERROR) if model.name in m]) == 1  # said once
    assert srv.alive()


@pytest.mark.model
def test_killed_worker_mid_generation_is_replaced_by_the_next_request(
        tmp_path: Path, gemma_path: Path, servers: list[RawServer]):
    own = {**FAST, "sharedModel": False}  # the server's own worker (see test_shared_model.py)
    srv = start(tmp_path, model=str(gemma_path), sharedModel=False)
    servers.append(srv)
    uri = (tmp_path / "a.py").as_uri()
    srv.open(uri, TEXT)
    assert completion_items(srv, uri, 1, 11)  # loads the model
    worker = srv.call("offpilot/stats")["models"]["completion"]["pid"]
    assert model_worker_pids(srv.proc.pid) == [worker]  # the same process, seen in /proc

    srv.configure({**own, "model": str(gemma_path), "maxTokens": 512, "maxLines": 200,
                   "timeLimit": 60})
    long_uri = (tmp_path / "long.py").as_uri()
    srv.open(long_uri, "# A long module of many small functions.\n\n")
    rid = srv.request("textDocument/inlineCompletion", inline_params(long_uri, 2, 0, 1))
    deadline = time.monotonic() + 60
    while srv.call("offpilot/stats")["models"]["completion"].get("queued", 0) < 1:
        assert time.monotonic() < deadline, "the long completion never reached the worker"
        time.sleep(0.05)
    time.sleep(0.5)  # let it generate a few tokens
    assert rid not in srv.replies, "the long completion ended before the kill"
    mark = len(srv.notifications)
    os.kill(worker, signal.SIGKILL)

    reply = srv.wait_reply(rid, 15)
    assert reply is not None and "result" in reply, reply
    assert items_of(reply["result"]) == []
    assert wait_state(srv, "error", 10, mark)
    assert any("stopped" in m for m in srv.messages(ERROR)), srv.messages()
    assert srv.alive()

    srv.configure({**own, "model": str(gemma_path)})
    other = (tmp_path / "b.py").as_uri()  # not a cache hit
    srv.open(other, "def double(x):\n    return \n")
    assert completion_items(srv, other, 1, 11)
    stats = srv.call("offpilot/stats")["models"]["completion"]
    assert stats["state"] in ("ready", "generating") and stats["pid"] != worker
    assert model_worker_pids(srv.proc.pid) == [stats["pid"]]


@pytest.mark.model
def test_fixing_the_model_setting_recovers_within_5_seconds(
        tmp_path: Path, gemma_path: Path, servers: list[RawServer]):
    bad = tmp_path / "notes.gguf"
    bad.write_text("these are my notes, not a model\n", encoding="utf-8")
    with gemma_path.open("rb") as f:  # have the good file in the page cache, as it would be
        while f.read(1 << 24):
            pass
    srv = start(tmp_path, model=str(bad))
    servers.append(srv)
    uri = (tmp_path / "a.py").as_uri()
    srv.open(uri, TEXT)
    assert completion_items(srv, uri, 1, 11) == []
    assert any(bad.name in m for m in srv.messages(ERROR))

    mark = len(srv.notifications)
    t0 = time.monotonic()
    srv.configure({**FAST, "model": str(gemma_path)})
    assert wait_state(srv, "ready", 5, mark), \
        f"not ready {time.monotonic() - t0:.1f} s after the fix: {srv.notifications[mark:]}"
    assert completion_items(srv, uri, 1, 11)
    assert srv.call("offpilot/stats")["models"]["completion"]["state"] in ("ready",
                                                                           "generating")


def test_missing_model_set_by_settings_then_fixed_file_recovers(
        tmp_path: Path, servers: list[RawServer]):
    """The file appears later under the same name (a download finishing): the next
    completion after the retry pause tries again and reports the new state."""
    target = tmp_path / "later.gguf"
    srv = start(tmp_path, model=str(target))
    servers.append(srv)
    uri = (tmp_path / "a.py").as_uri()
    srv.open(uri, TEXT)
    assert completion_items(srv, uri, 1, 11) == []
    assert any("not found" in m and target.name in m for m in srv.messages(ERROR))
    target.write_bytes(b"still not a model")  # the file changed: retried at once
    assert completion_items(srv, uri, 1, 10) == []
    shown = srv.wait_notification(
        lambda n: n.get("method") == "window/showMessage" and "not a GGUF" in
        n["params"]["message"], 10)
    assert shown is not None, srv.messages()
    assert srv.alive()
