"""Data safety: no edit for a text it was not computed for; a crash never spoils the index.

- An inline completion is computed for the document text its request refers to; when the text
  changed before the answer (a new version, a client that does not bump versions, a reopen),
  the answer is empty rather than an edit for a text the user no longer has.
- Index writes are transactions: killing ``offpilot index`` or the server mid-build leaves a
  database that passes SQLite's integrity check, holds whole files only, and is completed by
  the next build instead of being thrown away.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from offpilot.context.index import Index, database_path

from tests.reliability.rpc import RawServer, clean_env, inline_params, items_of

FILES = 2500  # enough that a build takes a few seconds on two cores

FAST = {"indexEnabled": False, "threads": 2, "contextSize": 1024, "maxTokens": 8}


# --------------------------------------------------------------------- stale completions
@pytest.fixture(scope="module")
def model_server(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("stale")
    srv = RawServer(clean_env(OFFPILOT_CACHE_DIR=str(root / ".cache")))
    srv.config = {**FAST, "model": str(gemma_path)}
    srv.initialize(root, options=srv.config)
    srv.root = root  # type: ignore[attr-defined]
    uri = (root / "warm.py").as_uri()
    srv.open(uri, "def add(a, b):\n    return \n")
    srv.call("textDocument/inlineCompletion", inline_params(uri, 1, 11, 1), 180)  # load
    yield srv
    srv.close()


def change(srv: RawServer, uri: str, version: int, text: str, line: int = 0) -> None:
    at = {"line": line, "character": 0}
    srv.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                          "contentChanges": [{"range": {"start": at, "end": at},
                                                              "text": text}]})


CASES = ["unchanged", "new-version", "same-version", "reopened"]


@pytest.mark.model
@pytest.mark.parametrize("case", CASES)
def test_completion_is_empty_when_the_text_changed_before_the_answer(
        model_server: RawServer, case: str):
    srv = model_server
    uri = (srv.root / f"{case}.py").as_uri()  # type: ignore[attr-defined]
    text = f"def {case.replace('-', '_')}_total(values):\n    return \n"
    srv.open(uri, text)
    rid = srv.request("textDocument/inlineCompletion", inline_params(uri, 1, 11, 1))
    if case == "new-version":
        change(srv, uri, 2, "import os\n")  # the cursor's line moves down
    elif case == "same-version":
        change(srv, uri, 1, "import os\n")  # a client that does not bump the version
    elif case == "reopened":
        srv.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        srv.open(uri, "# another text\n" + text)
    reply = srv.wait_reply(rid, 120)
    assert reply is not None and "result" in reply, reply
    items = items_of(reply["result"])
    if case == "unchanged":
        assert items, "the control case must produce a completion"
        assert items[0]["range"]["start"] == {"line": 1, "character": 11}
    else:
        assert items == [], f"an edit for a text that is gone: {items}"


# --------------------------------------------------------------------- index crashes
def make_workspace(root: Path, n: int = FILES) -> Path:
    for i in range(n):
        folder = root / f"pkg{i // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{i}.py").write_text(
            f'"""Module {i}."""\n\nimport os\n\n\ndef func_{i}(x):\n    """Doc {i}."""\n'
            f"    return x + {i}\n\n\nclass Thing{i}:\n    def method(self):\n"
            f"        return func_{i}(1)\n", encoding="utf-8")
    return root


def committed_files(db_path: Path) -> int:
    """Files committed so far; reads alongside a running writer (WAL)."""
    if not db_path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM files").fetchone()[0])
    except sqlite3.Error:  # not created yet, or a schema without that table
        return 0


def wait_partial(db_path: Path, proc: subprocess.Popen, limit: float = 120) -> int:
    """Wait until some but not all files are committed; return how many."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        files = committed_files(db_path)
        if files >= 100:
            return files
        assert proc.poll() is None, "the build ended before it could be interrupted"
        time.sleep(0.02)
    raise AssertionError("no batch was committed in time")


def kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the process and its parser workers, no cleanup
    proc.wait(timeout=30)


def check_consistent(root: Path, db_path: Path) -> set[str]:
    """SQLite's integrity check passes and every committed file is whole, as the index reads
    it back; returns the committed paths."""
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    idx = Index(root, db_path=db_path)
    try:
        assert not idx.rebuilt, "the interrupted database could not be read"
        paths = set(idx.paths())
        # each module defines func_i, Thing_i and Thing_i.method: all or nothing
        for path in paths:
            summary = idx.summary(path)
            names = sorted(d.name for d in summary.definitions) if summary else []
            i = Path(path).stem.removeprefix("mod")
            assert names == sorted([f"func_{i}", f"Thing{i}", "method"]), (path, names)
    finally:
        idx.close()
    return paths


def check_complete(root: Path) -> None:
    idx = Index(root)
    try:
        assert not idx.rebuilt, "the interrupted database was thrown away"
        committed = len(idx.paths())
        stats = idx.refresh(workers=1)
        assert stats.parsed == FILES - committed  # only what was missing is parsed
        assert len(idx.paths()) == FILES
        assert all(idx.definitions(f"func_{i}") for i in range(0, FILES, 97))
    finally:
        idx.close()


@pytest.mark.slow
def test_index_command_killed_mid_build_leaves_a_usable_index(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch):
    root = make_workspace(tmp_path / "ws")
    cache = tmp_path / "cache"
    monkeypatch.setenv("OFFPILOT_CACHE_DIR", str(cache))
    db_path = database_path(root)
    env = clean_env(OFFPILOT_CACHE_DIR=str(cache))
    proc = subprocess.Popen([sys.executable, "-m", "offpilot", "index", "--workers", "2",
                             str(root)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_partial(db_path, proc)
    finally:
        kill_group(proc)
    committed = check_consistent(root, db_path)
    assert 0 < len(committed) < FILES
    check_complete(root)
    done = subprocess.run([sys.executable, "-m", "offpilot", "index", "--json", str(root)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["files"] == FILES and out["parsed"] == 0 and not out["rebuilt"]


@pytest.mark.slow
def test_server_killed_mid_index_restarts_on_a_usable_index(tmp_path: Path):
    root = make_workspace(tmp_path / "ws")
    cache = tmp_path / "cache"
    env = clean_env(OFFPILOT_CACHE_DIR=str(cache), OFFPILOT_MODEL=str(tmp_path / "x.gguf"))
    db_path = cache / "index" / database_path(root).name  # same name under this cache dir
    first = subprocess.Popen([sys.executable, "-m", "offpilot", "serve"], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "processId": None, "rootUri": root.as_uri(), "capabilities": {}}}).encode()
        init = json.dumps({"jsonrpc": "2.0", "method": "initialized", "params": {}}).encode()
        assert first.stdin is not None
        for b in (body, init):
            first.stdin.write(b"Content-Length: %d\r\n\r\n" % len(b) + b)
        first.stdin.flush()
        wait_partial(db_path, first)
    finally:
        kill_group(first)
    committed = check_consistent(root, db_path)
    assert 0 < len(committed) < FILES

    srv = RawServer(env)
    try:
        srv.initialize(root)
        deadline = time.monotonic() + 300
        while not (context := srv.call("offpilot/stats").get("context") or {}).get("ready"):
            assert time.monotonic() < deadline, "the index was not ready in time"
            time.sleep(0.2)
        assert context["files"] == FILES and not context.get("error")
        assert context["definitions"] == 3 * FILES
    finally:
        srv.close()
