"""Secrets stay out of the index database, retrieval and ``offpilot context``.

The workspace (:mod:`tests.security.secrets_workspace`) has a symlink to a secret outside it,
a ``.env``, an ``id_rsa``, source files named like secrets and one excluded by the user's own
pattern; every secret holds a canary string. Each test also checks that the ordinary file's
marker *does* get through, so that an absent canary means something.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from offpilot.config import Settings
from offpilot.context.documents import Documents
from offpilot.context.engine import ContextEngine
from offpilot.context.exclude import FileGuard
from offpilot.context.index import Index
from offpilot.context.watcher import Watcher

from tests.reliability.rpc import clean_env
from tests.security.secrets_workspace import (
    CANARY,
    CONTROL,
    CURSOR_CHARACTER,
    CURSOR_LINE,
    USER_PATTERN,
    database_bytes,
    make_workspace,
)

SECRET_PATHS = ("secret_keys.py", ".env", "id_rsa", "deploy/secrets.py",
                "config/aws_credentials.py", "private_settings.py")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OFFPILOT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_workspace(tmp_path)


def test_builtin_patterns_match_secret_files_and_not_code():
    guard = FileGuard()
    for rel in (".env", "web/.env.local", "prod.env", "certs/server.pem", "tls.key", "id_rsa",
                "home/.ssh/id_ed25519.pub", "store.p12", "cert.pfx", "aws_credentials.py",
                "deploy/secrets.py", "secrets.json", ".netrc", ".npmrc", ".pypirc",
                "a/.aws/config", "prod.tfvars"):
        assert guard.matches(rel), rel
    for rel in ("app.py", "environment.py", "keyboard.py", "secret_santa.py", "src/key.ts",
                "env/setup.py", "docs/credits.md"):
        assert not guard.matches(rel), rel
    assert FileGuard(extra=[USER_PATTERN]).matches("pkg/private_settings.py")


def test_index_database_holds_no_secret(ws: Path, cache: Path):
    index = Index(ws, exclude=[USER_PATTERN])
    try:
        index.refresh(workers=1)
        paths = index.paths()
        assert "util.py" in paths and "app.py" in paths
        for rel in SECRET_PATHS:
            assert rel not in paths, rel
        assert not index.definitions("fetch_token") and index.definitions("control_helper")
    finally:
        index.close()
    data = database_bytes(cache)
    assert CONTROL.encode() in data  # what is indexed is in these bytes
    assert CANARY.encode() not in data


def test_a_file_excluded_later_is_erased_from_the_database(ws: Path, cache: Path):
    index = Index(ws)  # the user's pattern not set yet: private_settings.py is indexed
    try:
        index.refresh(workers=1)
        assert index.definitions("private_value")
    finally:
        index.close()
    assert CANARY.encode() in database_bytes(cache)  # it was there
    index = Index(ws, exclude=[USER_PATTERN])  # the user adds the pattern
    try:
        index.refresh(workers=1)
        assert not index.definitions("private_value") and index.definitions("control_helper")
    finally:
        index.close()
    assert CANARY.encode() not in database_bytes(cache)  # overwritten, not just unlinked


def test_watcher_and_update_paths_skip_secrets_and_links_outside(ws: Path, cache: Path,
                                                                  tmp_path: Path):
    index = Index(ws, exclude=[USER_PATTERN])
    batches = []
    watcher = Watcher({index.root: index.rules}, batches.append,
                      guard=FileGuard([ws], [USER_PATTERN]))
    try:
        index.refresh(workers=1)
        (tmp_path / "elsewhere" / "more.py").write_text(f'TOKEN = "{CANARY}"\n')
        (ws / "more.py").symlink_to(tmp_path / "elsewhere" / "more.py")
        (ws / "inside_link.py").symlink_to(ws / "util.py")  # a link inside: kept
        (ws / "secrets.py").write_text(f'TOKEN = "{CANARY}"\n')
        (ws / "private_more.py").write_text(f'TOKEN = "{CANARY}"\n')
        for name in ("more.py", "inside_link.py", "secrets.py", "private_more.py"):
            watcher.note(str(ws / name), False)
        pending = {p.name for pend in watcher._pending.values() for p in pend.batch.paths}
        assert pending == {"inside_link.py"}
        index.update_paths([ws / n for n in ("more.py", "inside_link.py", "secrets.py",
                                             "private_more.py")])
        assert index.has("inside_link.py")
        assert not any(index.has(n) for n in ("more.py", "secrets.py", "private_more.py"))
    finally:
        index.close()
    assert CANARY.encode() not in database_bytes(cache)


def test_documents_load_refuses_secrets_and_files_outside(ws: Path, tmp_path: Path):
    docs = Documents(guard=FileGuard([ws], [USER_PATTERN]))
    for rel in SECRET_PATHS:
        assert docs.load((ws / rel).as_uri(), 1_000_000) is None, rel
    assert docs.load((tmp_path / "elsewhere" / "secret_keys.py").as_uri(), 1_000_000) is None
    assert docs.load((ws / "util.py").as_uri(), 1_000_000) is not None
    assert "outside the workspace" in (docs.excluded((ws / "secret_keys.py").as_uri()) or "")
    assert "secrets" in (docs.excluded((ws / ".env").as_uri()) or "")


def test_retrieval_gives_no_secret_even_from_open_documents(ws: Path, cache: Path):
    settings = Settings(exclude_files=(USER_PATTERN,))
    engine = ContextEngine([ws], settings)
    docs = engine.documents
    engine.start(watch=False)
    try:
        assert engine.wait_ready(60)
        # Open secret documents, edited: they must not become overlays or similar chunks.
        for rel in SECRET_PATHS:
            path = ws / rel
            uri = path.as_uri()
            docs.open(uri, "python", 1, path.read_text(encoding="utf-8"))
            engine.note_edited(uri, 10)
        uri = (ws / "app.py").as_uri()
        docs.open(uri, "python", 1, (ws / "app.py").read_text(encoding="utf-8"))
        time.sleep(1.0)  # past the re-summarize delay
        offset = docs.get(uri).offset_at(CURSOR_LINE, CURSOR_CHARACTER)
        got = engine.retrieve(uri, offset).snippets
        text = "\n".join(s.text for s in got)
        assert CONTROL in text
        assert CANARY not in text
        assert not any(CANARY in c.text for c in engine.ring.chunks())
        explain = engine.context_for_range(uri, 0, len(docs.get(uri).text))
        assert CONTROL in "\n".join(s.text for s in explain)
        assert CANARY not in "\n".join(s.text for s in explain)
        for rel in SECRET_PATHS:  # a cursor in a secret file: nothing
            assert engine.retrieve((ws / rel).as_uri(), 5).snippets == []
    finally:
        engine.stop()
    assert CANARY.encode() not in database_bytes(cache)


def run_context(ws: Path, cache: Path, rel: str, line: int, col: int
                ) -> subprocess.CompletedProcess:
    env = clean_env(OFFPILOT_CACHE_DIR=str(cache), OFFPILOT_EXCLUDE_FILES=USER_PATTERN)
    return subprocess.run([sys.executable, "-m", "offpilot", "context", str(ws / rel),
                           str(line), str(col), "--json"],
                          env=env, capture_output=True, text=True, timeout=120, cwd=ws)


def test_context_command_output_has_no_secret(ws: Path, tmp_path: Path):
    cache = tmp_path / "cli-cache"
    done = run_context(ws, cache, "app.py", CURSOR_LINE + 1, CURSOR_CHARACTER + 1)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert any(CONTROL in s["text"] for s in out["snippets"]), out
    assert CANARY not in done.stdout + done.stderr
    for rel in SECRET_PATHS:  # asked about a secret file itself: refused, nothing printed
        done = run_context(ws, cache, rel, 1, 1)
        assert done.returncode == 1, (rel, done.stderr[-2000:])
        assert "kept out of prompts" in done.stderr
        assert CANARY not in done.stdout + done.stderr
    assert CANARY.encode() not in database_bytes(cache)


def test_complete_and_explain_commands_refuse_private_files(ws: Path, tmp_path: Path):
    env = clean_env(OFFPILOT_CACHE_DIR=str(tmp_path / "cli-cache"),
                    OFFPILOT_EXCLUDE_FILES=USER_PATTERN,
                    OFFPILOT_MODEL=str(tmp_path / "no-model-here.gguf"))  # never reached
    for rel in SECRET_PATHS:
        for command in (["complete", str(ws / rel), "2", "1"], ["explain", f"{ws / rel}:1"]):
            done = subprocess.run([sys.executable, "-m", "offpilot", *command], env=env,
                                  capture_output=True, text=True, timeout=120, cwd=ws)
            assert done.returncode != 0, (rel, command)
            assert "never sent to a model" in done.stderr, (rel, command, done.stderr[-1000:])
            assert CANARY not in done.stdout + done.stderr


def test_a_pattern_added_while_running_takes_effect_at_once(ws: Path, cache: Path):
    engine = ContextEngine([ws], Settings())
    docs = engine.documents
    engine.start(watch=False)
    try:
        assert engine.wait_ready(60)
        assert engine.guard.private(ws / "private_settings.py") is None
        uri = (ws / "private_settings.py").as_uri()
        docs.open(uri, "python", 1, (ws / "private_settings.py").read_text(encoding="utf-8"))
        engine.note_edited(uri, 10)
        deadline = time.monotonic() + 10
        while not any(CANARY in c.text for c in engine.ring.chunks()) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(CANARY in c.text for c in engine.ring.chunks())  # context, before
        engine.set_exclude((USER_PATTERN,))
        assert not any(CANARY in c.text for c in engine.ring.chunks())
        assert engine.guard.private(ws / "private_settings.py") is not None
        deadline = time.monotonic() + 30
        while any(r.index.has("private_settings.py") for r in engine._roots) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(r.index.has("private_settings.py") for r in engine._roots)
    finally:
        engine.stop()
    assert CANARY.encode() not in database_bytes(cache)


def test_complete_command_on_a_symlink_loop_is_a_clear_error(tmp_path: Path):
    ws = tmp_path / "loop"
    ws.mkdir()
    (ws / "a.py").symlink_to(ws / "b.py")
    (ws / "b.py").symlink_to(ws / "a.py")
    env = clean_env(OFFPILOT_CACHE_DIR=str(tmp_path / "cli-cache"),
                    OFFPILOT_MODEL=str(tmp_path / "no-model-here.gguf"))  # never reached
    done = subprocess.run([sys.executable, "-m", "offpilot", "complete", str(ws / "a.py"),
                           "1", "1"], env=env, capture_output=True, text=True, timeout=120,
                          cwd=ws)
    assert done.returncode == 2, done.stderr[-1000:]
    assert "Traceback" not in done.stderr
    assert "Too many levels of symbolic links" in done.stderr, done.stderr[-1000:]


def test_a_folder_link_out_of_a_workspace_without_markers_is_refused(tmp_path: Path):
    # no .git, no pyproject.toml: the folder the command runs in is the workspace, and a file
    # reached through a folder link that points elsewhere is outside it
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "tok.py").write_text(f'TOKEN = "{CANARY}"\n')
    ws = tmp_path / "plain"
    ws.mkdir()
    (ws / "main.py").write_text("x = 1\n")
    (ws / "linkdir").symlink_to(outside, target_is_directory=True)
    cache = tmp_path / "cli-cache"
    env = clean_env(OFFPILOT_CACHE_DIR=str(cache))
    done = subprocess.run([sys.executable, "-m", "offpilot", "context", "linkdir/tok.py", "1",
                           "1", "--json"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ws)
    assert done.returncode == 1 and "kept out of prompts" in done.stderr, done.stderr[-1000:]
    assert CANARY not in done.stdout + done.stderr
    assert not cache.exists() or CANARY.encode() not in database_bytes(cache)
