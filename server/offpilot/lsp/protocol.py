"""JSON-RPC hardening: every request gets an answer, even one whose params are malformed.

pygls drops a request whose params fail to deserialize (a negative position, a null range,
params of the wrong shape) after logging it, and the editor then waits forever. Here such a
request is answered with InvalidParams (-32602), and a body that is not JSON with ParseError.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
)
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger(__name__)


@dataclass
class MalformedRequest:
    """A request that arrived with params we could not read; answered with an error."""

    id: Any
    method: str
    reason: str
    jsonrpc: str = "2.0"


class OffpilotProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "id" in data and "method" in data:
                msg_id = data.get("id")
                if isinstance(msg_id, int | str) and not isinstance(msg_id, bool):
                    cause = exc.__cause__
                    reason = str(cause).splitlines()[0] if cause else str(exc)
                    return MalformedRequest(msg_id, str(data.get("method")), reason)
            raise

    def handle_message(self, message: Any) -> None:
        if isinstance(message, dict):
            # Not a JSON-RPC 2.0 message ("jsonrpc" missing): answer requests, drop the rest.
            msg_id = message.get("id")
            if isinstance(msg_id, int | str) and not isinstance(msg_id, bool):
                self._send_response(msg_id, error=JsonRpcInvalidRequest(
                    "not a JSON-RPC 2.0 request").to_response_error())
            else:
                log.warning("dropping a message that is not JSON-RPC 2.0")
            return
        if not hasattr(message, "jsonrpc"):
            log.warning("dropping a message of type %s", type(message).__name__)
            return
        if isinstance(message, MalformedRequest):
            log.warning("invalid params for %s (id %r): %s", message.method, message.id,
                        message.reason)
            error = JsonRpcInvalidParams(
                f"invalid params for {message.method}: {message.reason}")
            self._send_response(message.id, error=error.to_response_error())
            return
        super().handle_message(message)


def answer_unparsable(protocol: LanguageServerProtocol, error: Exception) -> bool:
    """Reply ParseError (id null) to a body that is not JSON; True if it was that case."""
    if isinstance(error, ValueError) and type(error).__name__ == "JSONDecodeError":
        log.warning("unparsable message: %s", error)
        protocol._send_response(None, error=JsonRpcParseError(str(error)).to_response_error())
        return True
    return False
