"""The real downloader (huggingface_hub) against a local hub that serves the real Gemma GGUF.

The hub here is a small HTTP server on 127.0.0.1 speaking the part of the Hugging Face hub
protocol that ``huggingface_hub`` uses to fetch one file: HEAD and GET on
``/{repo}/resolve/{revision}/{file}`` with ``ETag`` (the LFS sha256), ``X-Repo-Commit``,
``Content-Length`` and ``Range`` requests. It can drop a connection halfway, answer errors and
publish a wrong checksum.
"""

from __future__ import annotations

import hashlib
import itertools
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from offpilot.engine import models
from offpilot.engine.backend import ModelError

REPO = "test-org/gemma-3-270m-GGUF"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    """State shared with the request handler: the file, what to do, what was asked."""

    def __init__(self, files: dict[str, bytes], sha: dict[str, str]) -> None:
        self.files = files
        self.sha = dict(sha)
        self.requests: list[tuple[str, str, str | None]] = []
        self.drop_after: int | None = None  # bytes of body sent before the connection drops
        self.fail_status: int | None = None  # answer GETs with this status
        self.lock = threading.Lock()


def make_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _lookup(self) -> tuple[str, bytes] | None:
            prefix = f"/{REPO}/resolve/"
            if not self.path.startswith(prefix):
                return None
            rest = self.path[len(prefix):]
            _rev, _, name = rest.partition("/")
            data = hub.files.get(name)
            return (name, data) if data is not None else None

        def _not_found(self) -> None:
            self.send_response(404)
            self.send_header("X-Error-Code", "RepoNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self) -> None:
            with hub.lock:
                hub.requests.append(("HEAD", self.path, self.headers.get("Range")))
            found = self._lookup()
            if found is None:
                return self._not_found()
            name, data = found
            self.send_response(200)
            self.send_header("ETag", f'"{hub.sha[name]}"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()

        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            with hub.lock:
                hub.requests.append(("GET", self.path, rng))
            found = self._lookup()
            if found is None:
                return self._not_found()
            name, data = found
            if hub.fail_status is not None:
                self.send_response(hub.fail_status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            if rng and rng.startswith("bytes="):
                start = int(rng[len("bytes="):].split("-")[0])
            body = data[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", f'"{hub.sha[name]}"')
            self.end_headers()
            if hub.drop_after is not None:
                cut, hub.drop_after = hub.drop_after, None
                self.wfile.write(body[:cut])
                self.wfile.flush()
                # Drop the connection mid-body, as a broken network would.
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            view = memoryview(body)
            for i in range(0, len(view), 1 << 20):
                self.wfile.write(view[i:i + (1 << 20)])

    return Handler


@pytest.fixture(scope="module")
def gguf_bytes(gemma_path: Path) -> bytes:
    return gemma_path.read_bytes()


@pytest.fixture(scope="module")
def gguf_sha(gguf_bytes: bytes) -> str:
    return hashlib.sha256(gguf_bytes).hexdigest()


@pytest.fixture
def hub(gguf_bytes: bytes, gguf_sha: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake = FakeHub({"gemma-3-270m-q4_k_m.gguf": gguf_bytes},
                   {"gemma-3-270m-q4_k_m.gguf": gguf_sha})
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv(models.MODELS_DIR_ENV, str(tmp_path / "store"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fake.server = server  # type: ignore[attr-defined]
    yield fake
    server.shutdown()
    server.server_close()


REF = f"{REPO}/gemma-3-270m-q4_k_m.gguf"


def test_pull_is_byte_identical_and_reports_progress(hub: FakeHub, gguf_bytes: bytes):
    seen: list[tuple[int, int | None]] = []
    path = models.pull(REF, progress=lambda done, total: seen.append((done, total)))
    assert path == models.store_path(models.parse_hub_ref(REF))
    assert path.read_bytes() == gguf_bytes
    assert seen[-1] == (len(gguf_bytes), len(gguf_bytes))
    assert len(seen) > 2 and all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    assert models.resolve_model(REF) == path
    assert not list((path.parents[1] / models.PARTIAL_DIR).glob("*.part"))
    # A second pull finds the file and does not download again.
    gets = sum(1 for r in hub.requests if r[0] == "GET")
    assert models.pull(REF) == path
    assert sum(1 for r in hub.requests if r[0] == "GET") == gets


def test_pull_a_profile_then_resolve_it(hub: FakeHub, monkeypatch: pytest.MonkeyPatch,
                                        gguf_bytes: bytes):
    profile = models.ModelProfile(
        name="test-gemma", description="the test hub's file", repo=REPO,
        file="gemma-3-270m-q4_k_m.gguf", size=len(gguf_bytes), quantization="Q4_K_M",
        roles=("completion",), prompt_mode="prefix", license="test", context=32768)
    monkeypatch.setitem(models.PROFILES, "test-gemma", profile)
    with pytest.raises(ModelError, match="offpilot models pull test-gemma"):
        models.resolve_model("test-gemma")
    path = models.pull("test-gemma")
    assert models.resolve_model("test-gemma") == path
    entry = next(e for e in models.list_models() if e.name == "test-gemma")
    assert entry.installed and entry.size == len(gguf_bytes)
    assert models.remove("test-gemma") == [path, path.with_name(path.name + models.META_SUFFIX)]
    assert not path.exists()


def test_interrupted_download_leaves_nothing_in_place_and_resumes(hub: FakeHub,
                                                                  gguf_bytes: bytes):
    half = len(gguf_bytes) // 2
    hub.drop_after = half
    hub.fail_status = None

    # The first GET drops halfway; huggingface_hub retries with a Range request, which the
    # hub (still broken) answers with 503: the pull fails with the partial file kept.
    def break_retries(*_: object) -> None:
        if hub.drop_after is None:
            hub.fail_status = 503

    with pytest.raises(ModelError, match=r"(?i)run the same pull again to resume"):
        models.pull(REF, progress=break_retries)
    final = models.store_path(models.parse_hub_ref(REF))
    assert not final.exists()
    with pytest.raises(ModelError, match="not downloaded yet"):
        models.resolve_model(REF)
    partials = list((final.parents[1] / models.PARTIAL_DIR).glob("*.part"))
    assert len(partials) == 1
    kept = partials[0].stat().st_size
    assert 0 < kept <= half  # what was written before the drop (whole chunks)

    hub.fail_status = None
    hub.requests.clear()
    path = models.pull(REF)
    gets = [r for r in hub.requests if r[0] == "GET"]
    assert gets == [("GET", gets[0][1], f"bytes={kept}-")]
    assert path.read_bytes() == gguf_bytes
    assert not partials[0].exists()


def test_checksum_mismatch_installs_nothing(hub: FakeHub):
    hub.sha["gemma-3-270m-q4_k_m.gguf"] = "0" * 64
    with pytest.raises(ModelError, match="checksum mismatch") as err:
        models.pull(REF)
    assert "nothing was installed" in str(err.value)
    final = models.store_path(models.parse_hub_ref(REF))
    assert not final.exists()
    assert not list((final.parents[1] / models.PARTIAL_DIR).glob("*.part"))


def test_hub_down_fails_fast_with_a_clear_message(hub: FakeHub, monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(ModelError, match="cannot reach the model hub"):
        models.pull(REF)
    assert time.monotonic() - start < 10


def test_offline_mode_refuses_before_any_request(hub: FakeHub, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="offline mode"):
        models.pull(REF)
    assert hub.requests == []


def test_missing_file_in_repo(hub: FakeHub):
    with pytest.raises(ModelError, match="not found"):
        models.pull(f"{REPO}/no-such-file.gguf")


def test_not_enough_disk_space(hub: FakeHub, monkeypatch: pytest.MonkeyPatch):
    import shutil as _shutil

    real = _shutil.disk_usage

    def tiny(path):  # the disk reports almost no free space
        u = real(path)
        return type(u)(u.total, u.used, 1024)

    monkeypatch.setattr(models.shutil, "disk_usage", tiny)
    with pytest.raises(ModelError, match="not enough disk space"):
        models.pull(REF)
    assert [r for r in hub.requests if r[0] == "GET"] == []


def test_unknown_profile_lists_the_known_ones(hub: FakeHub):
    with pytest.raises(ModelError) as err:
        models.pull("qwen9-coder")
    for name in ("qwen3-4b-instruct-2507", "qwen2.5-coder-1.5b", "gemma3-270m"):
        assert name in str(err.value)
    assert hub.requests == []


def test_a_damaged_installed_file_is_downloaded_again(hub: FakeHub, gguf_bytes: bytes):
    final = models.store_path(models.parse_hub_ref(REF))
    final.parent.mkdir(parents=True)
    final.write_bytes(b"")  # zero bytes, as a full disk or a killed copy leaves it
    assert models.pull(REF).read_bytes() == gguf_bytes


def test_cli_pull_prints_the_path_and_progress(hub: FakeHub, gguf_bytes: bytes):
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "offpilot", "models", "pull", REF],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip())
    assert path.read_bytes() == gguf_bytes
    assert "100.0%" in out.stderr  # progress goes to stderr, the path alone to stdout

    hub.fail_status = 500
    path.unlink()
    out = subprocess.run([sys.executable, "-m", "offpilot", "models", "pull", REF],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert out.returncode == 1 and out.stdout == ""
    assert "HTTP 500" in out.stderr and "resume" in out.stderr
