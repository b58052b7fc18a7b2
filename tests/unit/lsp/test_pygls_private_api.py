"""What ``offpilot.lsp.protocol`` relies on in pygls beyond its public API, and that it works.

pygls offers no public way to answer a request with an error, to send a raw body, to fail one
of its pending requests or to know that ``shutdown`` arrived; the protocol uses private members
for those (``PYGLS_PRIVATE``) and pyproject.toml pins pygls to the minor version checked here.
These tests fail when a pygls release renames or reshapes one of them, or when the public hooks
the protocol overrides stop being called: first the members and their signatures, then the
overrides at work, in process (the same ``json.loads(object_hook=structure_message)`` then
``handle_message`` that pygls' reader runs) and against the real server over stdio.
"""

from __future__ import annotations

import inspect
import json
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from offpilot.context.documents import Documents
from offpilot.lsp.client_requests import UnreadableAnswer
from offpilot.lsp.progress import work_done_token
from offpilot.lsp.protocol import PYGLS_PRIVATE, OffpilotProtocol, arrival_text
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCProtocol, LanguageServerProtocol

from tests.reliability.rpc import RawServer, clean_env


def params_of(func: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.default) for p in inspect.signature(func).parameters.values()]


# --------------------------------------------------------------------------- the members
def test_private_methods_have_the_signatures_used() -> None:
    empty = inspect.Parameter.empty
    assert params_of(JsonRPCProtocol._send_response) == [
        ("self", empty), ("msg_id", empty), ("result", None), ("error", None)]
    assert params_of(JsonRPCProtocol._send_data) == [("self", empty), ("data", empty)]


def test_public_hooks_overridden_have_the_signatures_used() -> None:
    empty = inspect.Parameter.empty
    assert params_of(JsonRPCProtocol.structure_message) == [("self", empty), ("data", empty)]
    assert params_of(JsonRPCProtocol.handle_message) == [("self", empty), ("message", empty)]
    for name in ("lsp_text_document__did_open", "lsp_text_document__did_change",
                 "lsp_text_document__did_close"):
        assert params_of(getattr(LanguageServerProtocol, name)) == [
            ("self", empty), ("params", empty)], name
    # No private method of pygls is overridden.
    ours = {name for name, value in vars(OffpilotProtocol).items() if callable(value)}
    inherited = {name for name in dir(LanguageServerProtocol) if name.startswith("_")}
    assert not (ours & inherited) - {"__init__"}


@pytest.fixture
def server() -> LanguageServer:
    return LanguageServer("offpilot-test", "0", protocol_cls=OffpilotProtocol)


def test_private_attributes_exist_with_the_types_used(server: LanguageServer) -> None:
    protocol = server.protocol
    assert isinstance(protocol, OffpilotProtocol)
    assert protocol._server is server
    assert protocol._shutdown is False
    assert protocol._result_types == {} and isinstance(protocol._result_types, dict)
    assert protocol._request_futures == {} and isinstance(protocol._request_futures, dict)
    for dotted in PYGLS_PRIVATE:
        owner, _, name = dotted.partition(".")
        assert owner == "JsonRPCProtocol"
        assert hasattr(JsonRPCProtocol, name) or hasattr(protocol, name), dotted


def test_the_document_handlers_are_ours(server: LanguageServer) -> None:
    builtin = server.protocol.fm.builtin_features
    for method, name in ((types.TEXT_DOCUMENT_DID_OPEN, "lsp_text_document__did_open"),
                         (types.TEXT_DOCUMENT_DID_CHANGE, "lsp_text_document__did_change"),
                         (types.TEXT_DOCUMENT_DID_CLOSE, "lsp_text_document__did_close")):
        assert builtin[method].__func__ is getattr(OffpilotProtocol, name)


# --------------------------------------------------------------------------- in process
class Wire:
    """The protocol's writer: each body it sends, decoded."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.sent.append(json.loads(data))

    def close(self) -> None:
        pass


def receive(protocol: LanguageServerProtocol, message: dict[str, Any]) -> None:
    """What pygls' reader does with one body."""
    protocol.handle_message(json.loads(json.dumps(message),
                                       object_hook=protocol.structure_message))


@pytest.fixture
def wire(server: LanguageServer) -> Wire:
    wire = Wire()
    server.protocol.set_writer(wire, include_headers=False)
    return wire


def test_the_request_context_reaches_the_handler_and_is_reset(
        server: LanguageServer, wire: Wire) -> None:
    seen: dict[str, Any] = {}
    documents = Documents()
    documents.open("file:///w/a.py", "python", 1, "def f():\n    return 1\n")
    server.documents = documents  # type: ignore[attr-defined]

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION)
    def inline(params: types.InlineCompletionParams) -> list[Any]:
        seen["text"] = arrival_text.get()
        return []

    @server.command("offpilot.test")
    def command(*args: Any) -> None:
        seen["token"] = work_done_token.get()

    receive(server.protocol, {"jsonrpc": "2.0", "id": 1, "method": "workspace/executeCommand",
                              "params": {"command": "offpilot.test", "arguments": [],
                                         "workDoneToken": "tok-1"}})
    receive(server.protocol, {"jsonrpc": "2.0", "id": 2,
                              "method": "textDocument/inlineCompletion", "params": {
                                  "textDocument": {"uri": "file:///w/a.py"},
                                  "position": {"line": 1, "character": 4},
                                  "context": {"triggerKind": 2}}})
    assert seen == {"token": "tok-1", "text": "def f():\n    return 1\n"}
    assert work_done_token.get() is None and arrival_text.get() is None
    assert sorted(m["id"] for m in wire.sent if "result" in m) == [1, 2]


def test_malformed_params_and_misplaced_ids_are_answered(
        server: LanguageServer, wire: Wire) -> None:
    receive(server.protocol, {"jsonrpc": "2.0", "id": 7,
                              "method": "textDocument/inlineCompletion",
                              "params": {"textDocument": {"uri": 5}, "position": None}})
    receive(server.protocol, {"jsonrpc": "2.0", "id": 8, "method": "textDocument/didSave",
                              "params": {"textDocument": {"uri": "file:///w/a.py"}}})
    receive(server.protocol, {"jsonrpc": "1.0", "id": 9, "method": "offpilot/stats"})
    receive(server.protocol, {"id": 10, "method": "offpilot/stats"})
    codes = {m["id"]: m["error"]["code"] for m in wire.sent}
    assert codes == {7: -32602, 8: -32600, 9: -32600, 10: -32600}


def test_requests_after_shutdown_are_refused(server: LanguageServer, wire: Wire) -> None:
    receive(server.protocol, {"jsonrpc": "2.0", "id": 1, "method": "shutdown"})
    assert server.protocol._shutdown is True
    receive(server.protocol, {"jsonrpc": "2.0", "id": 2, "method": "offpilot/stats"})
    answers = {m["id"]: m for m in wire.sent}
    assert "error" not in answers[1]
    assert answers[2]["error"]["code"] == -32600
    assert "shutting down" in answers[2]["error"]["message"]


@pytest.mark.parametrize("answer", [
    {"jsonrpc": "2.0", "result": None},
    {"jsonrpc": "2.0", "result": [5]},
    {"jsonrpc": "2.0", "error": {"code": "not a number"}},
    {"result": {"applied": True}},
    {"jsonrpc": "1.0", "result": {"applied": True}},
])
def test_an_unreadable_answer_fails_the_pending_request(
        server: LanguageServer, wire: Wire, answer: dict[str, Any]) -> None:
    future: Future[Any] = server.protocol.send_request(
        types.WORKSPACE_APPLY_EDIT, types.ApplyWorkspaceEditParams(
            edit=types.WorkspaceEdit(changes={})), msg_id="srv-1")
    assert wire.sent[-1]["method"] == types.WORKSPACE_APPLY_EDIT
    receive(server.protocol, {"id": "srv-1", **answer})
    assert future.done()
    assert isinstance(future.exception(), UnreadableAnswer)
    assert "srv-1" not in server.protocol._request_futures
    assert "srv-1" not in server.protocol._result_types


def test_a_readable_answer_still_resolves_the_request(server: LanguageServer, wire: Wire
                                                      ) -> None:
    future: Future[Any] = server.protocol.send_request(
        types.WORKSPACE_APPLY_EDIT, types.ApplyWorkspaceEditParams(
            edit=types.WorkspaceEdit(changes={})), msg_id="srv-2")
    receive(server.protocol, {"jsonrpc": "2.0", "id": "srv-2", "result": {"applied": True}})
    assert future.result(timeout=0).applied is True


# --------------------------------------------------------------------------- the real server
def test_the_real_server_answers_what_pygls_alone_would_drop(tmp_path: Path) -> None:
    srv = RawServer(clean_env(OFFPILOT_MODEL=str(tmp_path / "missing.gguf"),
                              OFFPILOT_CACHE_DIR=str(tmp_path / "cache")))
    try:
        srv.initialize(tmp_path)
        srv.send_bytes(b"{not json")
        bad = srv.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": "file:///w/a.py"},
            "position": {"line": -1, "character": 0}, "context": {"triggerKind": 1}})
        with_id = srv.request("textDocument/didSave", {"textDocument": {"uri": "file:///a"}})
        replies = {msg_id: srv.wait_reply(msg_id, 30) for msg_id in (None, bad, with_id)}
        assert replies[None] is not None and replies[None]["error"]["code"] == -32700
        assert replies[bad] is not None and replies[bad]["error"]["code"] == -32602
        assert replies[with_id] is not None and replies[with_id]["error"]["code"] == -32600
        assert srv.call("offpilot/stats") is not None  # still serving
        shut = srv.request("shutdown")
        assert srv.wait_reply(shut, 10) is not None
        late = srv.request("offpilot/stats")
        reply = srv.wait_reply(late, 10)
        assert reply is not None and reply["error"]["code"] == -32600
    finally:
        srv.close()
