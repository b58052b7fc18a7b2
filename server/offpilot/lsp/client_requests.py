"""Requests the server sends to the editor, each with a timeout and a checked answer.

Every server→client request (``workspace/applyEdit``, ``window/showDocument``,
``window/workDoneProgress/create``, ``workspace/configuration``, ``window/showMessageRequest``)
goes through :func:`ask_client`. An editor may answer late or never, answer with an error, with
``null`` where a result is required, or with something that is not the expected shape; a
feature waiting on it must still end, with a message that says which of these happened. The
answer is one of:

- the result, when it arrived within ``timeout`` seconds and passes ``check``;
- :class:`ClientRequestFailed` otherwise, whose message reads after "the editor did not ...:"
  ("did not answer within 5 s", "answered with an error: ...", "answered with no result",
  "answered with an unreadable result: ...").

A timed-out request is forgotten (a late answer is then logged as one to an unknown request).
An answer that cannot be structured into the expected type resolves the request at once with
an error (see :meth:`offpilot.lsp.protocol.OffpilotProtocol.structure_message`), so the timeout
is the last resort, not the usual path.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

if TYPE_CHECKING:
    from offpilot.lsp.server import OffpilotServer

log = logging.getLogger(__name__)

CLIENT_REQUEST_TIMEOUT = 5.0  # seconds the editor has to answer a request from the server


class ClientRequestFailed(Exception):
    """A request to the editor got no usable answer; the message says why."""

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(reason)
        self.method = method
        self.reason = reason


class UnreadableAnswer(JsonRpcException):
    """The editor's answer to a server request could not be read as the expected type."""

    CODE = -32603


def _forget(protocol: object, msg_id: str) -> None:
    for table in ("_request_futures", "_result_types"):
        pending = getattr(protocol, table, None)
        if isinstance(pending, dict):
            pending.pop(msg_id, None)


async def ask_client(server: OffpilotServer, method: str, params: Any, *,
                     timeout: float = CLIENT_REQUEST_TIMEOUT,
                     check: Callable[[Any], bool] | None = None,
                     result_required: bool = True) -> Any:
    """Send ``method`` to the editor and return its checked result.

    ``check`` tells a usable result from a malformed one; ``result_required=False`` accepts
    ``null`` (``window/workDoneProgress/create`` answers nothing else). Raises
    :class:`ClientRequestFailed`; a cancelled caller cancels the wait and forgets the request.
    """
    protocol = server.protocol
    msg_id = f"offpilot-{uuid.uuid4()}"
    try:
        future = protocol.send_request(method, params, msg_id=msg_id)
    except Exception as exc:  # the connection is gone, params that cannot be serialized
        log.debug("%s could not be sent", method, exc_info=True)  # the caller gets the reason
        _forget(protocol, msg_id)
        raise ClientRequestFailed(method, f"the request could not be sent ({exc})") from None
    try:
        result = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
    except TimeoutError:
        _forget(protocol, msg_id)
        raise ClientRequestFailed(method, f"no answer within {timeout:g} s") from None
    except asyncio.CancelledError:
        _forget(protocol, msg_id)
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the caller was cancelled
        # the request itself was cancelled: pygls does that to every pending request on
        # shutdown
        raise ClientRequestFailed(method, "no answer (the server is shutting down)") from None
    except UnreadableAnswer as exc:
        raise ClientRequestFailed(method, f"an unreadable answer ({exc})") from None
    except JsonRpcException as exc:
        message = str(getattr(exc, "message", "") or exc) or type(exc).__name__
        raise ClientRequestFailed(method, f"an error answer ({message})") from None
    except Exception as exc:  # a future failed by something else (the connection closed)
        log.debug("%s failed", method, exc_info=True)  # the caller gets the reason
        raise ClientRequestFailed(method, f"no answer ({type(exc).__name__}: {exc})") from None
    if result is None:
        if result_required:
            raise ClientRequestFailed(method, "an empty answer (null)")
        return None
    if check is not None and not check(result):
        raise ClientRequestFailed(method, f"a malformed answer ({str(result)[:200]})")
    return result


# ----------------------------------------------------------------------------- one per method
def _is_apply_result(value: Any) -> bool:
    return isinstance(value, types.ApplyWorkspaceEditResult) and isinstance(value.applied, bool)


async def apply_edit(server: OffpilotServer, edit: types.WorkspaceEdit, label: str, *,
                     timeout: float = CLIENT_REQUEST_TIMEOUT) -> types.ApplyWorkspaceEditResult:
    """``workspace/applyEdit``; its result when the editor answered it properly."""
    result: types.ApplyWorkspaceEditResult = await ask_client(
        server, types.WORKSPACE_APPLY_EDIT,
        types.ApplyWorkspaceEditParams(edit=edit, label=label), timeout=timeout,
        check=_is_apply_result)
    return result


async def show_document(server: OffpilotServer, params: types.ShowDocumentParams, *,
                        timeout: float = CLIENT_REQUEST_TIMEOUT) -> bool:
    """``window/showDocument``; whether the editor says it showed the document."""
    result = await ask_client(server, types.WINDOW_SHOW_DOCUMENT, params, timeout=timeout,
                              check=lambda r: isinstance(getattr(r, "success", None), bool))
    return bool(result.success)


async def create_progress(server: OffpilotServer, token: str | int, *,
                          timeout: float = CLIENT_REQUEST_TIMEOUT) -> None:
    """``window/workDoneProgress/create``: the token may be used once this returns."""
    await ask_client(server, types.WINDOW_WORK_DONE_PROGRESS_CREATE,
                     types.WorkDoneProgressCreateParams(token=token), timeout=timeout,
                     result_required=False)


async def configuration(server: OffpilotServer, items: list[types.ConfigurationItem], *,
                        timeout: float = CLIENT_REQUEST_TIMEOUT) -> list[Any]:
    """``workspace/configuration``: one value per item."""
    result = await ask_client(
        server, types.WORKSPACE_CONFIGURATION, types.ConfigurationParams(items=items),
        timeout=timeout, check=lambda r: isinstance(r, list | tuple) and len(r) == len(items))
    return list(result)


async def show_message_request(server: OffpilotServer, message: str, actions: list[str], *,
                               kind: types.MessageType = types.MessageType.Info,
                               timeout: float = CLIENT_REQUEST_TIMEOUT) -> str | None:
    """``window/showMessageRequest``: the title of the action the user chose, or None when
    the message was dismissed. A user may take long to choose: callers that wait for a person
    pass a longer ``timeout``."""
    result = await ask_client(
        server, types.WINDOW_SHOW_MESSAGE_REQUEST, types.ShowMessageRequestParams(
            type=kind, message=message,
            actions=[types.MessageActionItem(title=a) for a in actions]),
        timeout=timeout, result_required=False,
        check=lambda r: isinstance(getattr(r, "title", None), str))
    if result is None:
        return None
    title = str(result.title)
    if title not in actions:
        raise ClientRequestFailed(types.WINDOW_SHOW_MESSAGE_REQUEST,
                                  f"an action that was not offered ({title[:100]!r})")
    return title
