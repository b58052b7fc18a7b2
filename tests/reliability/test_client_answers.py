"""The client side of the fuzzing: an editor that answers the server's own requests badly.

The server asks the editor things: ``workspace/configuration`` (after ``initialized`` and on
every settings change), ``window/workDoneProgress/create`` (the index build),
``workspace/applyEdit`` (Generate tests) and ``window/showDocument`` (Explain, for editors
without their own panel). A scripted raw-stdio client answers every one of them with ``null``,
an error, garbage (a string, a number, a list, an object of the wrong shape, an error that is not
``{code, message}``, a body without ``jsonrpc`` or with ``jsonrpc: "1.0"``, no result at all)
or never, while it runs every command the server registers, inline completion, code actions,
``offpilot/context`` and a settings change. Every request it sends must still be answered
within 10 s of the later of its sending and the server's last request to the editor (Generate
tests runs the code it tests several times in a sandbox first, which on a busy machine alone
takes longer than that), and Generate tests must say that the edit was not made and write
nothing.

The real server over stdio; real HTTP servers on 127.0.0.1 for the model hub
(``offpilot.pullModel``) and for the model itself: a scripted llama-server (the one of the remote
backend's tests), so that the time measured is the server's handling of the editor's answers,
not generation on a busy CPU (the real model's Explain and Generate tests are tested in
``tests/lsp/``).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.rpc import RawServer, clean_env, items_of
from tests.unit.engine.test_download import REPO, FakeHub, make_handler
from tests.unit.engine.test_remote import FakeLlamaServer

pytestmark = pytest.mark.slow

ANSWER_WITHIN = 10.0  # seconds: every client request, whatever the answers to the server's
HANG = 120.0  # seconds after which a request counts as never answered
GARBAGE: list[dict[str, Any]] = [  # bodies without id; "jsonrpc": "2.0" unless said otherwise
    {"result": "garbage"},
    {"result": 42},
    {"result": [1, [2, {"applied": True}]]},
    {"result": {"applied": "yes", "unexpected": {"x": None}}},
    {"error": "oops"},
    {"error": {"code": "not a number"}},
    {"jsonrpc": None, "result": {"applied": True, "success": True}},
    {"jsonrpc": "1.0", "result": {"applied": True, "success": True}},
    {},  # neither result nor error
]
SERVER_REQUESTS = {"workspace/configuration", "window/workDoneProgress/create",
                   "workspace/applyEdit", "window/showDocument"}
HUB_FILE = "tiny.gguf"


class HostileClient(RawServer):
    """A client whose answers to the server's requests are ``null``, errors, garbage or
    nothing (``answer``); it records what the server asked."""

    def __init__(self, answer: str, env: dict[str, str]) -> None:
        self.answer = answer
        self.asked: list[str] = []
        self.asked_at: list[float] = []
        self._garbage = itertools.cycle(GARBAGE)
        super().__init__(env)

    def _answer_server_request(self, msg: dict[str, Any]) -> None:
        self.asked.append(msg["method"])
        self.asked_at.append(time.monotonic())
        if msg["method"] == "workspace/configuration":
            with self._lock:
                self.config_pulls += 1
                self._lock.notify_all()
        body: dict[str, Any]
        if self.answer == "never":
            return
        if self.answer == "null":
            body = {"result": None}
        elif self.answer == "error":
            body = {"error": {"code": -32603, "message": "the editor failed"}}
        else:
            body = dict(next(self._garbage))
        out = {"jsonrpc": "2.0", "id": msg["id"], **body}
        if out["jsonrpc"] is None:
            del out["jsonrpc"]
        self.send_obj(out)


@pytest.fixture
def hub_url() -> Iterator[str]:
    """A model hub on 127.0.0.1 serving one small file (not a model: the download is what
    runs here, and its failure to load is an answer too)."""
    data = b"GGUF" + bytes(range(256)) * 4096
    hub = FakeHub({HUB_FILE: data}, {HUB_FILE: hashlib.sha256(data).hexdigest()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(hub))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def model_url() -> Iterator[str]:
    """A scripted llama-server on 127.0.0.1 (the explanation it writes is one line)."""
    with FakeLlamaServer(reply="It adds two numbers.\n") as fake:
        yield fake.url


def capabilities() -> dict[str, Any]:
    """An editor that says it answers every server request the server sends."""
    return {
        "workspace": {"configuration": True, "applyEdit": True,
                      "workspaceEdit": {"documentChanges": True,
                                        "resourceOperations": ["create"]}},
        "window": {"workDoneProgress": True, "showDocument": {"support": True}},
        "textDocument": {"codeAction": {"codeActionLiteralSupport": {
            "codeActionKind": {"valueSet": ["refactor", "source"]}}}},
    }


def arguments(command: str, uri: str, rng: dict[str, Any]) -> list[Any]:
    if command == "offpilot.pullModel":
        return [{"name": f"{REPO}/{HUB_FILE}"}]
    if command == "offpilot.generateTests":
        return [{"uri": uri, "range": rng, "scope": "symbol"}]
    return [{"uri": uri, "range": rng}]  # offpilot.explain and any command added later


def timed_call(srv: HostileClient, method: str, params: Any) -> dict[str, Any]:
    """The reply to one request; fails when it comes more than ANSWER_WITHIN seconds after
    the request or after the server's last request to the editor, whichever is later."""
    started = time.monotonic()
    msg_id = srv.request(method, params)
    reply = srv.wait_reply(msg_id, HANG)
    assert reply is not None, f"{method} not answered ({srv.answer} answers; server " \
                              f"{'up' if srv.alive() else 'down'})"
    answered = srv.reply_times[msg_id]
    since = max([started, *(t for t in srv.asked_at if started <= t <= answered)])
    took = answered - since
    after = "the request" if since == started else "the server asked the editor"
    assert took <= ANSWER_WITHIN, f"{method} answered {took:.1f} s after {after} " \
                                  f"({srv.answer} answers)"
    return reply


@pytest.mark.parametrize("answer", ["null", "error", "garbage", "never"])
def test_every_request_is_answered_whatever_the_editor_answers(
        answer: str, demo_project: Path, hub_url: str, model_url: str,
        tmp_path: Path) -> None:
    env = clean_env(OFFPILOT_CACHE_DIR=str(tmp_path / "cache"), HF_ENDPOINT=hub_url,
                    OFFPILOT_MODELS_DIR=str(tmp_path / "store"), HF_HUB_DISABLE_TELEMETRY="1")
    srv = HostileClient(answer, env)
    options = {"backend": "llama-server", "endpoint": model_url, "threads": 2, "contextSize": 2048,
               "maxTokens": 8, "chatMaxTokens": 24, "indexEnabled": True, "debounceMs": 0}
    source = demo_project / "shop" / "text.py"
    test_file = demo_project / "tests" / "test_text.py"
    try:
        started = time.monotonic()
        srv.initialize(demo_project, options=options, capabilities=capabilities(),
                       timeout=ANSWER_WITHIN)
        assert time.monotonic() - started <= ANSWER_WITHIN
        timed_call(srv, "offpilot/stats", None)  # after initialized's configuration pull
        commands = srv.commands()
        assert {"offpilot.explain", "offpilot.generateTests",
                "offpilot.pullModel"} <= set(commands)

        text = source.read_text(encoding="utf-8")
        uri = source.as_uri()
        srv.open(uri, text)
        line = next(i for i, ln in enumerate(text.splitlines()) if ln.startswith("def slugify("))
        rng = {"start": {"line": line, "character": 4}, "end": {"line": line, "character": 4}}

        srv.notify("workspace/didChangeConfiguration", {"settings": {"offpilot": options}})
        timed_call(srv, "offpilot/stats", None)
        for method, params in [
                ("textDocument/inlineCompletion", {
                    "textDocument": {"uri": uri}, "position": {"line": line + 1, "character": 4},
                    "context": {"triggerKind": 1}}),
                ("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": rng,
                                             "context": {"diagnostics": []}}),
                ("offpilot/context", {"textDocument": {"uri": uri},
                                      "position": {"line": line, "character": 4}})]:
            reply = timed_call(srv, method, params)
            if method == "textDocument/inlineCompletion":
                assert "error" not in reply and isinstance(items_of(reply.get("result")), list)

        results: dict[str, dict[str, Any]] = {}
        for command in commands:
            results[command] = timed_call(srv, "workspace/executeCommand", {
                "command": command, "arguments": arguments(command, uri, rng),
                "workDoneToken": f"fuzz-{command}"})

        explained = results["offpilot.explain"]
        assert "error" not in explained, explained
        assert explained["result"]["markdown"]

        generated = results["offpilot.generateTests"]
        assert "error" not in generated, generated
        result = generated["result"]
        assert not result.get("testFile"), "the editor applied nothing"
        notes = (" ".join(result.get("notes") or []) + " " + result.get("summary", "")).lower()
        if result.get("content"):  # tests were planned: the answer carries them, nothing
            assert "the editor did not" in notes, notes  # says why they are not written
        assert not test_file.exists(), "nothing may be written outside the editor's edit"

        pulled = results["offpilot.pullModel"]
        assert "error" in pulled or Path(pulled["result"]["path"]).is_file()

        # a settings change after all that, and the server still serves
        srv.notify("workspace/didChangeConfiguration", {"settings": {"offpilot": options}})
        timed_call(srv, "offpilot/stats", None)
        assert srv.alive()
        missing = SERVER_REQUESTS - set(srv.asked)
        assert not missing, f"the server never sent {missing}: the test did not reach them"
    finally:
        srv.close()
