"""JSON-RPC hardening: every request gets an answer, even one whose params are malformed.

pygls drops a request whose params fail to deserialize (a negative position, a null range,
params of the wrong shape) after logging it, and the editor then waits forever. Here such a
request is answered with InvalidParams (-32602), and a body that is not JSON with ParseError.
Messages with an id that pygls would otherwise drop unanswered get InvalidRequest (-32600): a
notification method sent with an id, a ``jsonrpc`` other than "2.0", a request after shutdown.

The other direction too: pygls structures the editor's answer to a server request into the
request's result type; an answer it cannot structure (``null`` where ``workspace/applyEdit``
needs ``{"applied"}``, a malformed ``error``, a body without ``jsonrpc``) was logged and dropped,
and the request's future never resolved. Here such an answer resolves it with
:class:`~offpilot.lsp.client_requests.UnreadableAnswer`.

Only public pygls hooks are overridden: ``structure_message`` and ``handle_message`` of the
JSON-RPC protocol, and the built-in ``textDocument/did*`` handlers (declared with pygls'
``lsp_method``). pygls has no public way to send a response or raw data, to fail one of its
pending requests, or to ask whether ``shutdown`` was received, so :data:`PYGLS_PRIVATE` names the
private members used for that; pyproject.toml pins pygls to the minor version they were checked
against, and ``tests/unit/lsp/test_pygls_private_api.py`` fails when an upgrade changes them.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeGuard

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
)
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from offpilot.lsp.client_requests import UnreadableAnswer
from offpilot.lsp.progress import work_done_token

log = logging.getLogger(__name__)

MsgId = int | str
# What pygls' generator handlers yield: a handler to run next, its arguments and keywords.
_Dispatch = Generator[tuple[Any, tuple[Any, ...], None], Any, None]

# The private pygls (2.1) members this module relies on, with what it relies on them for.
PYGLS_PRIVATE = {
    "JsonRPCProtocol._send_response": "answering a request with an error",
    "JsonRPCProtocol._send_data": "answering a body that is not JSON (the id must be null)",
    "JsonRPCProtocol._result_types": "telling an answer to one of our requests from others",
    "JsonRPCProtocol._request_futures": "failing our request when its answer is unreadable",
    "JsonRPCProtocol._shutdown": "refusing requests after shutdown",
    "JsonRPCProtocol._server": "the server's open documents",
}

# For an inline completion request: the document text when the request arrived. Messages are
# ordered, so the request's position refers to that text; an edit handled before the handler
# starts makes the request stale.
arrival_text: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "offpilot_arrival_text", default=None)


@dataclass
class MalformedRequest:
    """A request that arrived with params we could not read; answered with an error."""

    id: MsgId
    method: str
    reason: str
    jsonrpc: str = "2.0"
    not_a_request: bool = False  # InvalidRequest rather than InvalidParams


@dataclass
class SettledAnswer:
    """An answer to a server request that could not be read; its request was already failed."""

    id: MsgId


def _usable_id(msg_id: object) -> TypeGuard[MsgId]:
    return isinstance(msg_id, int | str) and not isinstance(msg_id, bool)


def _is_answer(data: Any) -> bool:
    return isinstance(data, dict) and "id" in data and "method" not in data


class OffpilotProtocol(LanguageServerProtocol):
    # The id of the answer being read when it answers one of our requests.
    _answer_to_ours: MsgId | None = None

    # Open documents live in ``server.documents`` (offpilot.context.documents) only. pygls'
    # own copy in its workspace would be a second one, and its incremental update converts
    # positions character by character in Python: over a second per keystroke on a 10 MB
    # one-line file, on the event loop. Its handlers are replaced by plain dispatch.
    def _user_handler(self, method: str, params: Any) -> _Dispatch:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> _Dispatch:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams
                                      ) -> _Dispatch:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams
                                     ) -> _Dispatch:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _arrival_text(self, params: Any) -> str | None:
        documents = getattr(self._server, "documents", None)
        uri = getattr(getattr(params, "text_document", None), "uri", None)
        doc = documents.get(uri) if documents is not None and uri else None
        text = getattr(doc, "text", None)
        return text if isinstance(text, str) else None

    def _dispatch_request(self, message: Any) -> None:
        """Hand a request to pygls with its request-scoped context variables set.

        pygls runs each message in a copy of the current context, made inside
        ``handle_message``, and the handler's task copies that; the values set here are therefore
        the handler's, and are reset here once pygls has dispatched it.
        """
        method, params = message.method, getattr(message, "params", None)
        # Commands get only their arguments: keep the request's workDoneToken for them.
        token = work_done_token.set(getattr(params, "work_done_token", None)
                                    if method == types.WORKSPACE_EXECUTE_COMMAND else None)
        text = arrival_text.set(self._arrival_text(params)
                                if method == types.TEXT_DOCUMENT_INLINE_COMPLETION else None)
        try:
            super().handle_message(message)
        finally:
            arrival_text.reset(text)
            work_done_token.reset(token)

    def _fail_server_request(self, msg_id: object, reason: str) -> bool:
        """Resolve the pending server request ``msg_id`` with an error; False if none."""
        if not _usable_id(msg_id):
            return False
        self._result_types.pop(msg_id, None)
        future = self._request_futures.pop(msg_id, None)
        if future is None:
            return False
        log.warning("unreadable answer to request %r: %s", msg_id, reason)
        if not future.done():
            future.set_exception(UnreadableAnswer(reason))
        return True

    def structure_message(self, data: dict[str, Any]) -> Any:
        if isinstance(data, dict) and "method" in data and "params" not in data:
            data = {**data, "params": None}  # params are optional in JSON-RPC
        # (json.loads calls this for nested objects too: only a top-level answer to one of
        # our own requests has an id in _result_types)
        msg_id = data.get("id") if _is_answer(data) else None
        ours = _usable_id(msg_id) and msg_id in self._result_types
        self._answer_to_ours = msg_id if _usable_id(msg_id) and ours else None
        expected = getattr(self._result_types.get(msg_id) if _usable_id(msg_id) else None,
                           "__name__", "")
        try:
            message = super().structure_message(data)
        except JsonRpcException as exc:
            if ours:
                if "error" in data:
                    reason = f"an error that is not {{code, message}}: {data['error']!r:.100}"
                elif data.get("result") is None:
                    reason = "no result (null or missing)"
                else:
                    reason = (f"a result that is not a {expected.removesuffix('Response')}: "
                              f"{data['result']!r:.100}")
                self._fail_server_request(data["id"], reason)
                return SettledAnswer(data["id"])
            if isinstance(data, dict) and "id" in data and "method" in data:
                msg_id = data.get("id")
                if _usable_id(msg_id):
                    cause = exc.__cause__
                    reason = str(cause).splitlines()[0] if cause else str(exc)
                    return MalformedRequest(msg_id, str(data.get("method")), reason)
            raise
        if (isinstance(data, dict) and "method" in data and _usable_id(data.get("id"))
                and not hasattr(message, "id")):
            # A notification method sent with an id: pygls would run it and never answer.
            return MalformedRequest(data["id"], str(data["method"]),
                                    "it is a notification and must not have an id",
                                    not_a_request=True)
        return message

    def handle_message(self, message: Any) -> None:
        if isinstance(message, SettledAnswer):
            return
        if isinstance(message, dict):
            # Not a JSON-RPC 2.0 message ("jsonrpc" missing): answer requests, drop the rest
            # (an answer to one of our requests fails that request).
            msg_id = message.get("id")
            if _is_answer(message) and _usable_id(msg_id) and msg_id in self._result_types:
                self._fail_server_request(msg_id, "not a JSON-RPC 2.0 answer")
                return
            if "method" in message and _usable_id(msg_id):
                self._send_response(msg_id, error=JsonRpcInvalidRequest(
                    "not a JSON-RPC 2.0 request").to_response_error())
            else:
                log.warning("dropping a message that is not JSON-RPC 2.0")
            return
        if not hasattr(message, "jsonrpc"):
            log.warning("dropping a message of type %s", type(message).__name__)
            return
        if isinstance(message, MalformedRequest):
            log.warning("invalid %s %s (id %r): %s",
                        "request" if message.not_a_request else "params for", message.method,
                        message.id, message.reason)
            error: JsonRpcException = (
                JsonRpcInvalidRequest(f"{message.method}: {message.reason}")
                if message.not_a_request
                else JsonRpcInvalidParams(f"invalid params for {message.method}: "
                                          f"{message.reason}"))
            self._send_response(message.id, error=error.to_response_error())
            return
        method = getattr(message, "method", None)
        msg_id = getattr(message, "id", None)
        if method is None and message.jsonrpc != "2.0" and _usable_id(msg_id) \
                and msg_id == self._answer_to_ours:
            # an answer pygls would drop, leaving our request pending
            self._fail_server_request(msg_id, f"not a JSON-RPC 2.0 answer (jsonrpc "
                                              f"{message.jsonrpc!r})")
            return
        if method is not None and _usable_id(msg_id):
            # Requests pygls would drop without an answer.
            reason = ""
            if message.jsonrpc != "2.0":
                reason = f"not a JSON-RPC 2.0 request (jsonrpc {message.jsonrpc!r})"
            elif self._shutdown and method != types.EXIT:
                reason = "the server is shutting down"
            if reason:
                log.warning("refusing %s (id %r): %s", method, msg_id, reason)
                self._send_response(msg_id, error=JsonRpcInvalidRequest(
                    reason).to_response_error())
                return
            self._dispatch_request(message)
            return
        super().handle_message(message)


def answer_unparsable(protocol: LanguageServerProtocol, error: Exception) -> bool:
    """Reply ParseError (id null) to a body that is not JSON; True if it was that case."""
    if isinstance(error, ValueError) and type(error).__name__ == "JSONDecodeError":
        log.warning("unparsable message: %s", error)
        # Written as a plain dict: the response classes drop a None id, and JSON-RPC wants
        # "id": null here.
        err = JsonRpcParseError(str(error)).to_response_error()
        protocol._send_data({"jsonrpc": "2.0", "id": None,
                             "error": {"code": err.code, "message": err.message}})
        return True
    return False
