"""The HTTP backends against real servers on 127.0.0.1.

* ``OpenAIBackend`` against llama-cpp-python's own OpenAI-compatible server running the real
  Gemma model (``@pytest.mark.model``).
* ``LlamaServerBackend`` against ``FakeLlamaServer`` below: a small HTTP server that implements
  llama-server's ``/props``, ``/tokenize``, ``/infill`` and ``/completion`` request and response
  JSON (including server-sent events) as documented in llama.cpp's ``tools/server/README.md``.
  It is a stand-in, labelled as such: the llama-server binary is not runnable on this machine.
  It records what it was sent, so the tests check the requests Offpilot makes.
* Failure modes with tiny servers of our own: one that answers garbage, one that accepts
  connections and never answers, and a port where nothing listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from offpilot.config import load_settings
from offpilot.engine import remote, templates
from offpilot.engine.backend import (
    BackendState,
    ChatMessage,
    ChatRequest,
    InfillRequest,
    ModelError,
    PromptMode,
    Snippet,
    TextRequest,
)
from offpilot.engine.manager import CHAT, COMPLETION, ModelManager
from offpilot.engine.remote import LlamaServerBackend, OpenAIBackend

from bench.gguf_edit import GEMMA_CHAT_TEMPLATE

SECRET = "sk-test-0123456789-very-secret"
CTX = (Snippet("pkg/util.py", 1, 2, "definition", "def helper(x):\n    return x * 2\n"),)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------- fake llama-server
QWEN_VOCAB = {"<|fim_prefix|>": 151659, "<|fim_suffix|>": 151661, "<|fim_middle|>": 151660,
              "<|file_sep|>": 151664}


class FakeLlamaServer:
    """Stand-in for llama-server (documented JSON shapes), recording each request."""

    def __init__(self, *, vocab: dict[str, int] | None = None, chat_template: str = "",
                 slots: int = 2, reply: str = "    return a + b\n", fail_first: int = 0,
                 fail_status: int = 503) -> None:
        self.vocab = vocab or {}
        self.chat_template = chat_template
        self.slots = slots
        self.reply = reply
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.requests: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeLlamaServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [b for _, p, b, _ in self.requests if p == path]

    def _tokenize(self, text: str) -> list[int]:
        if text in self.vocab:
            return [self.vocab[text]]
        return [ord(c) for c in text]  # one token per character

    def _generate(self, body: dict[str, Any]) -> tuple[str, str]:
        n = int(body.get("n_predict", -1))
        text = self.reply
        stop_type = "eos"
        for word in body.get("stop") or []:
            if word and word in text:
                text, stop_type = text[:text.index(word)], "word"
        if n == 0:
            return "", "limit"
        if 0 < n < len(text):
            text, stop_type = text[:n], "limit"
        return text, stop_type

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self, body: dict[str, Any]) -> None:
                fake.requests.append((self.command, self.path, body, dict(self.headers)))

            def do_GET(self) -> None:
                self._record({})
                if self.path == "/props":
                    return self._json(200, {
                        "default_generation_settings": {"n_ctx": 8192, "n_predict": -1},
                        "total_slots": fake.slots, "model_path": "/models/served-model.gguf",
                        "chat_template": fake.chat_template, "bos_token": "<bos>",
                        "eos_token": "<eos>", "build_info": "fake"})
                if self.path == "/health":
                    return self._json(200, {"status": "ok"})
                self._json(404, {"error": {"code": 404, "message": "File Not Found",
                                           "type": "not_found_error"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                self._record(body)
                if fake.fail_first > 0:
                    fake.fail_first -= 1
                    return self._json(fake.fail_status, {"error": {
                        "code": fake.fail_status, "message": "Loading model",
                        "type": "unavailable_error"}})
                if self.path == "/tokenize":
                    return self._json(200, {"tokens": fake._tokenize(body.get("content", ""))})
                if self.path == "/infill" and not fake.vocab:
                    return self._json(501, {"error": {
                        "code": 501, "message": "Infill is not supported by this model",
                        "type": "not_supported_error"}})
                if self.path not in ("/infill", "/completion"):
                    return self._json(404, {"error": {"code": 404, "message": "not found"}})
                text, stop_type = fake._generate(body)
                timings = {"prompt_n": 12, "prompt_ms": 30.5, "predicted_n": len(text),
                           "predicted_ms": 40.0, "cache_n": 100}
                final = {"content": "" if body.get("stream") else text, "stop": True,
                         "stop_type": stop_type, "stopping_word": "", "tokens_predicted":
                         len(text), "tokens_evaluated": 112, "timings": timings,
                         "id_slot": body.get("id_slot", -1), "truncated": False}
                if not body.get("stream"):
                    return self._json(200, final)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for i in range(0, len(text), 4):
                    piece = {"content": text[i:i + 4], "stop": False}
                    self.wfile.write(f"data: {json.dumps(piece)}\n\n".encode())
                self.wfile.write(f"data: {json.dumps(final)}\n\n".encode())
                self.close_connection = True

        return Handler


def request(**kw: Any) -> InfillRequest:
    base = {"prefix": "import os\n\ndef add(a, b):\n", "suffix": "\n\nprint(add(1, 2))\n",
            "typed": "    ret", "language": "python", "path": "pkg/calc.py", "context": CTX,
            "max_tokens": 32, "time_limit": 2.0}
    base.update(kw)
    return InfillRequest(**base)


async def test_llama_server_fim_uses_infill_with_repository_context():
    with FakeLlamaServer(vocab=QWEN_VOCAB) as srv:
        b = LlamaServerBackend(srv.url)
        info = await b.start()
        assert info.prompt_mode is PromptMode.FIM
        assert (info.fim.prefix, info.fim.suffix, info.fim.middle) == (151659, 151661, 151660)
        assert info.fim.file_sep == 151664 and info.n_ctx == 8192
        assert info.name == "served-model"
        res = await b.infill(request(stop=("\n\n",)))
        assert res.text == "    return a + b\n" and res.stop_reason == "eos"
        assert res.prompt_tokens == 112 and res.prompt_tokens_evaluated == 12
        assert res.generated_tokens == len(res.text)
        body = srv.bodies("/infill")[-1]
        assert body["input_prefix"] == "import os\n\ndef add(a, b):\n"
        assert body["input_suffix"] == "\n\nprint(add(1, 2))\n"
        assert body["prompt"] == "    ret"
        assert body["input_extra"] == [{"filename": "pkg/util.py",
                                        "text": "def helper(x):\n    return x * 2\n"}]
        assert body["cache_prompt"] is True and body["n_cache_reuse"] == 256
        assert body["id_slot"] == 0 and body["n_predict"] == 32
        assert body["t_max_predict_ms"] == 2000 and body["stop"] == ["\n\n"]
        assert body["stream"] is False
        # single-line completions stop at the newline; warming evaluates only
        await b.infill(request(stop_at_newline=True, warm_only=True))
        body = srv.bodies("/infill")[-1]
        assert body["stop"] == ["\n"] and body["n_predict"] == 0
        assert b.state is BackendState.READY
        await b.close()


async def test_llama_server_streams_pieces_and_reports_the_final_stats():
    with FakeLlamaServer(vocab=QWEN_VOCAB) as srv:
        b = LlamaServerBackend(srv.url)
        pieces: list[str] = []
        res = await b.infill(request(), on_text=pieces.append)
        assert len(pieces) > 1 and "".join(pieces) == res.text == "    return a + b\n"
        assert res.stop_reason == "eos" and res.prompt_ms == 30.5
        assert srv.bodies("/infill")[-1]["stream"] is True
        await b.close()


async def test_llama_server_instruct_and_chat_use_the_same_prompts_as_the_local_engine():
    reply = "urn a + b\n```\nThat is all."
    with FakeLlamaServer(chat_template=GEMMA_CHAT_TEMPLATE, reply=reply) as srv:
        b = LlamaServerBackend(srv.url)
        info = await b.start()
        assert info.prompt_mode is PromptMode.INSTRUCT and info.fim is None
        req = request()
        res = await b.infill(req)
        assert res.text == "urn a + b\n"  # cut at the closing fence, as the local engine does
        body = srv.bodies("/completion")[-1]
        expected = templates.segments_to_text(info, templates.infill_segments(info, req))
        assert expected.startswith("<bos>")
        assert body["prompt"] == expected[len("<bos>"):]  # the server adds BOS itself
        assert body["prompt"].endswith("```python\n    ret")
        assert templates.FENCE in body["stop"] and body["id_slot"] == 0

        chat = await b.chat(ChatRequest([ChatMessage("user", "Explain add")], max_tokens=40))
        assert chat.text == reply
        body = srv.bodies("/completion")[-1]
        assert body["id_slot"] == 1 and body["n_predict"] == 40
        assert "<start_of_turn>user\nExplain add<end_of_turn>" in body["prompt"]

        await b.generate(TextRequest("def f():", max_tokens=5))
        assert srv.bodies("/completion")[-1]["prompt"] == "def f():"
        assert await b.count_tokens("abc") == 3
        await b.close()


async def test_llama_server_prefix_mode_and_a_single_slot():
    with FakeLlamaServer(slots=1) as srv:
        b = LlamaServerBackend(srv.url)
        info = await b.start()
        assert info.prompt_mode is PromptMode.PREFIX
        req = request()
        await b.infill(req)
        body = srv.bodies("/completion")[-1]
        assert body["prompt"] == templates.segments_to_text(
            info, templates.infill_segments(info, req))
        assert body["id_slot"] == 0
        await b.chat(ChatRequest([ChatMessage("user", "hi")]))
        assert srv.bodies("/completion")[-1]["id_slot"] == -1  # no second slot: any idle one
        await b.close()


async def test_5xx_is_retried_and_4xx_is_not():
    with FakeLlamaServer(vocab=QWEN_VOCAB) as srv:
        b = LlamaServerBackend(srv.url)
        await b.start()
        srv.fail_first = 2
        res = await b.infill(request())
        assert res.text
        assert len(srv.bodies("/infill")) == 3
        srv.fail_first, srv.fail_status = 1, 400
        with pytest.raises(ModelError, match="HTTP 400: Loading model"):
            await b.infill(request())
        assert len(srv.bodies("/infill")) == 4
        assert b.state is BackendState.ERROR
        await b.close()


async def test_api_key_is_sent_but_never_shown(monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OFFPILOT_TEST_KEY", SECRET)
    with FakeLlamaServer(vocab=QWEN_VOCAB) as srv:
        b = LlamaServerBackend(srv.url, api_key_env="OFFPILOT_TEST_KEY")
        await b.infill(request())
        assert srv.requests[-1][3].get("Authorization") == f"Bearer {SECRET}"
        srv.fail_first, srv.fail_status = 1, 401
        with pytest.raises(ModelError) as err:
            await b.infill(request())
        assert "OFFPILOT_TEST_KEY" in str(err.value)
        assert SECRET not in str(err.value) and SECRET not in caplog.text
        await b.close()


# ------------------------------------------------------------------------ broken endpoints
class TinyServer:
    """A TCP server with a scripted behaviour: ``garbage`` answers, or ``hang`` forever."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.got_request = threading.Event()
        self.peer_closed = threading.Event()
        self.headers: list[bytes] = []
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _conn(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.headers.append(data)
            self.got_request.set()
            if self.mode == "garbage":
                body = b"<html>this is not the API you are looking for</html>"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
                return
            conn.settimeout(30)
            with contextlib.suppress(OSError):
                while conn.recv(65536):  # hang: read whatever comes until the client leaves
                    pass
            self.peer_closed.set()

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture
def fast_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote, "RETRY_AFTER", 0.0)


@pytest.mark.parametrize("kind", ["llama-server", "openai"])
async def test_garbage_answers_give_a_clear_error(kind: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OFFPILOT_TEST_KEY", SECRET)
    srv = TinyServer("garbage")
    try:
        b = (LlamaServerBackend(srv.url, api_key_env="OFFPILOT_TEST_KEY") if kind ==
             "llama-server" else OpenAIBackend(srv.url, "m", "OFFPILOT_TEST_KEY"))
        with pytest.raises(ModelError, match="not JSON") as err:
            await b.infill(request())
        assert SECRET not in str(err.value)
        assert b.state is BackendState.ERROR
        # Within the retry pause a new request fails at once, without touching the server.
        n = len(srv.headers)
        with pytest.raises(ModelError, match="not JSON"):
            await b.infill(request())
        assert len(srv.headers) == n
        await b.close()
    finally:
        srv.close()


@pytest.mark.parametrize("kind", ["llama-server", "openai"])
async def test_a_hanging_endpoint_times_out(kind: str):
    srv = TinyServer("hang")
    try:
        b = (LlamaServerBackend(srv.url, info_timeout=1.0) if kind == "llama-server"
             else OpenAIBackend(srv.url, info_timeout=1.0))
        start = time.monotonic()
        with pytest.raises(ModelError, match="did not answer within 1 s"):
            await b.start()
        assert time.monotonic() - start < 5
        assert b.state is BackendState.ERROR
        await b.close()
    finally:
        srv.close()


@pytest.mark.parametrize("kind", ["llama-server", "openai"])
async def test_a_dead_endpoint_fails_fast_and_recovers(kind: str, fast_retry: None):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    states: list[BackendState] = []
    b = (LlamaServerBackend(url, on_state=lambda s, m: states.append(s)) if kind ==
         "llama-server" else OpenAIBackend(url, on_state=lambda s, m: states.append(s)))
    start = time.monotonic()
    with pytest.raises(ModelError, match="not reachable"):
        await b.infill(request())
    assert time.monotonic() - start < 5
    assert b.state is BackendState.ERROR and BackendState.ERROR in states
    if kind == "llama-server":
        srv = FakeLlamaServer(vocab=QWEN_VOCAB)
        srv.server.server_close()
        srv.server = ThreadingHTTPServer(("127.0.0.1", port), srv._handler())
        srv.thread = threading.Thread(target=srv.server.serve_forever, daemon=True)
        with srv:
            res = await b.infill(request())
            assert res.text and b.state is BackendState.READY
    await b.close()


async def test_cancelling_closes_the_http_request():
    with FakeLlamaServer(vocab=QWEN_VOCAB) as props:
        hang = TinyServer("hang")
        try:
            b = LlamaServerBackend(props.url)
            await b.start()  # metadata from the working server...
            b.http.base_url = hang.url  # ...then generation goes to the one that never answers
            task = asyncio.create_task(b.infill(request(), on_text=lambda t: None))
            assert await asyncio.to_thread(hang.got_request.wait, 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await asyncio.to_thread(hang.peer_closed.wait, 5)
            await b.close()
        finally:
            hang.close()


async def test_not_an_http_endpoint():
    with pytest.raises(ModelError, match="not an http"):
        LlamaServerBackend("gpu-box:8080")


# --------------------------------------------------------------------------- the manager
async def test_manager_builds_remote_backends_from_settings(monkeypatch: pytest.MonkeyPatch):
    with FakeLlamaServer(vocab=QWEN_VOCAB) as srv:
        settings, problems = load_settings({"backend": "llama-server", "endpoint": srv.url,
                                            "chatModel": "ignored-by-llama-server"}, environ={})
        assert problems == []
        manager = ModelManager(settings)
        completion = await manager.backend(COMPLETION)
        assert isinstance(completion, LlamaServerBackend)
        assert await manager.backend(CHAT) is completion  # one server, two slots
        status = manager.status()
        assert status[COMPLETION]["backend"] == "llama-server"
        assert status[COMPLETION]["loaded"] and status[CHAT]["endpoint"] == srv.url
        await manager.close()

    settings, _ = load_settings({"backend": "openai", "endpoint": "http://127.0.0.1:9",
                                 "remoteModel": "qwen2.5-coder-1.5b", "chatModel": "qwen3"},
                                environ={})
    manager = ModelManager(settings)
    assert manager.key_for(COMPLETION).model == "qwen2.5-coder-1.5b"
    assert manager.key_for(CHAT).model == "qwen3"
    await manager.close()


async def test_manager_reports_a_missing_endpoint_and_a_dead_one():
    seen: list[tuple[str, BackendState, str]] = []
    settings, _ = load_settings({"backend": "openai"}, environ={})
    manager = ModelManager(settings, on_state=lambda r, s, m: seen.append((r, s, m)))
    with pytest.raises(ModelError, match="endpoint is empty"):
        await manager.backend(COMPLETION)
    assert seen[-1][:2] == (COMPLETION, BackendState.ERROR)
    settings, _ = load_settings({"backend": "openai",
                                 "endpoint": f"http://127.0.0.1:{free_port()}"}, environ={})
    manager.update_settings(settings)
    with pytest.raises(ModelError, match="not reachable"):
        await manager.backend(COMPLETION)
    assert manager.status()[COMPLETION]["state"] == "error"
    assert "not reachable" in manager.status()[COMPLETION]["error"]
    await manager.close()


def test_fim_family_and_prompt_mode_from_the_model_name():
    b = OpenAIBackend("http://127.0.0.1:1")
    assert b._prompt_mode_for("qwen2.5-coder:1.5b-base")[0] is PromptMode.FIM
    assert b._prompt_mode_for("qwen2.5-coder-7b-instruct")[0] is PromptMode.INSTRUCT
    assert b._prompt_mode_for("qwen3-4b-instruct-2507")[0] is PromptMode.INSTRUCT
    assert b._prompt_mode_for("gemma-3-270m-q4_k_m.gguf")[0] is PromptMode.PREFIX
    assert b._prompt_mode_for("bigcode/starcoder2-3b")[1].prefix_text == "<fim_prefix>"
    forced = OpenAIBackend("http://127.0.0.1:1", prompt_mode="prefix")
    assert forced._prompt_mode_for("qwen2.5-coder-1.5b")[0] is PromptMode.PREFIX


def test_code_from_a_chat_answer():
    assert remote.code_from_answer("```python\n    return a\n```\nDone.") == "    return a\n"
    assert remote.code_from_answer("    return a") == "    return a"
    msgs = remote.instruct_infill_messages(request(context=()))
    assert msgs[0].content == templates.INFILL_SYSTEM
    assert "def add(a, b):\n    ret<CURSOR>\n\nprint" in msgs[1].content


# ------------------------------------------------- OpenAI backend, llama-cpp-python server
@contextlib.contextmanager
def llama_cpp_server(model: Path, alias: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias",
         alias, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
         "--n_threads", "2", "--verbose", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()[-2000:])
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def base_server(gemma_path: Path) -> Iterator[str]:
    with llama_cpp_server(gemma_path, "gemma-3-270m") as url:
        yield url


@pytest.fixture(scope="module")
def chat_server(chat_model_path: Path) -> Iterator[str]:
    with llama_cpp_server(chat_model_path, "gemma-3-270m-chat") as url:
        yield url


@pytest.mark.model
async def test_openai_generate_and_prefix_infill_with_the_real_model(base_server: str):
    b = OpenAIBackend(base_server)
    info = await b.start()
    assert info.name == "gemma-3-270m" and info.prompt_mode is PromptMode.PREFIX
    pieces: list[str] = []
    res = await b.generate(TextRequest("def add(a, b):\n    return", max_tokens=12),
                           on_text=pieces.append)
    assert res.text and "".join(pieces) == res.text
    assert res.stop_reason in {"length", "stop"} and res.generated_tokens > 0
    line = await b.infill(request(stop_at_newline=True, max_tokens=24))
    assert "\n" not in line.text and line.stop_reason in {"stop", "length"}
    assert await b.count_tokens("def add(a, b):") > 3
    assert b.state is BackendState.READY
    await b.close()


@pytest.mark.model
async def test_openai_chat_and_instruct_infill_with_the_real_model(chat_server: str):
    b = OpenAIBackend(chat_server, "gemma-3-270m-chat")
    info = await b.start()
    assert info.prompt_mode is PromptMode.INSTRUCT
    res = await b.chat(ChatRequest([ChatMessage("user", "Write a Python function that adds "
                                                "two numbers.")], max_tokens=24))
    assert res.text.strip() and res.generated_tokens > 0
    fill = await b.infill(request(max_tokens=24))
    assert isinstance(fill.text, str) and templates.FENCE not in fill.text
    await b.close()


@pytest.mark.model
async def test_openai_cancel_stops_a_long_generation(base_server: str):
    b = OpenAIBackend(base_server)
    await b.start()
    first = asyncio.Event()
    task = asyncio.create_task(b.generate(
        TextRequest("Once upon a time", max_tokens=1500), on_text=lambda t: first.set()))
    await asyncio.wait_for(first.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The server is free again: the next request completes with text.
    res = await asyncio.wait_for(b.generate(TextRequest("def f(x):", max_tokens=8)), 30)
    assert res.text
    await b.close()


@pytest.mark.model
async def test_openai_unknown_remote_model_is_a_clear_error(base_server: str):
    b = OpenAIBackend(base_server, "no-such-model")
    with pytest.raises(ModelError, match=r"does not serve the model 'no-such-model'.*gemma"):
        await b.start()
    await b.close()
