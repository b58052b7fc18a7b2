"""Work-done progress and text streaming for long-running commands (Explain, Generate tests).

pygls hands a command handler only its arguments, so the ``workDoneToken`` of the
``workspace/executeCommand`` request is kept in a context variable by :mod:`offpilot.lsp.protocol`
and read back here. A command reports through :class:`CommandProgress`:

- ``$/progress`` begin/report/end on the client's token (when it sent one), and
- ``offpilot/stream`` notifications ``{"token", "delta"}`` carrying generated text as it comes,
  which the VS Code Explain panel and ``offpilot demo`` show live.

Cancellation: pygls runs a command as a sub-task of its ``workspace/executeCommand`` request, and
``$/cancelRequest`` cancels only the request's future (answering RequestCancelled).
:func:`follow_request_cancellation` links the two, so the command's task is cancelled too and its
generation stops within one token; :class:`CommandProgress` does this when it is created, and its
``__exit__`` still ends the progress.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from types import TracebackType
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from offpilot.lsp.server import OffpilotServer

log = logging.getLogger(__name__)

STREAM_NOTIFICATION = "offpilot/stream"

work_done_token: contextvars.ContextVar[str | int | None] = contextvars.ContextVar(
    "offpilot_work_done_token", default=None)


def current_work_done_token() -> str | int | None:
    """The ``workDoneToken`` of the executeCommand request being handled, if the client sent one."""
    return work_done_token.get()


def follow_request_cancellation(server: OffpilotServer) -> None:
    """Cancel the current task when the client cancels the request it serves."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return
    protocol = getattr(server, "protocol", None)
    msg_id = getattr(protocol, "msg_id", None)
    futures = getattr(protocol, "_request_futures", {})
    request = futures.get(msg_id) if msg_id is not None else None
    if task is None or request is None or request is task:
        return
    loop = asyncio.get_running_loop()

    def on_done(future: asyncio.Future[object]) -> None:
        if future.cancelled() and not task.done():
            loop.call_soon_threadsafe(task.cancel)

    request.add_done_callback(on_done)


def _not_sent(method: str, exc: OSError) -> None:
    """A notification the editor cannot get (its pipe is closed; pygls logged the write)."""
    log.debug("%s not sent: %s", method, exc)


class CommandProgress:
    """Progress of one command run; a context manager that always ends what it began."""

    def __init__(self, server: OffpilotServer, title: str, token: str | int | None = None) -> None:
        self.server = server
        self.title = title
        self.token = token if token is not None else current_work_done_token()
        self._begun = False
        self._ended = False
        follow_request_cancellation(server)

    def begin(self, message: str | None = None, percentage: int | None = None) -> None:
        if self.token is None or self._begun:
            return
        self._begun = True
        try:
            self.server.work_done_progress.begin(self.token, types.WorkDoneProgressBegin(
                title=self.title, message=message, percentage=percentage, cancellable=True))
        except OSError as exc:
            _not_sent("$/progress", exc)

    def report(self, message: str | None = None, percentage: int | None = None) -> None:
        if self.token is None:
            return
        if not self._begun:
            self.begin(message, percentage)
            return
        try:
            self.server.work_done_progress.report(self.token, types.WorkDoneProgressReport(
                message=message, percentage=percentage))
        except OSError as exc:
            _not_sent("$/progress", exc)

    def stream(self, delta: str) -> None:
        """Send a piece of generated text to the client."""
        if not delta:
            return
        try:
            self.server.protocol.notify(STREAM_NOTIFICATION, {"token": self.token,
                                                              "delta": delta})
        except OSError as exc:
            _not_sent(STREAM_NOTIFICATION, exc)

    def end(self, message: str | None = None) -> None:
        if self.token is None or not self._begun or self._ended:
            return
        self._ended = True
        try:
            self.server.work_done_progress.end(self.token,
                                               types.WorkDoneProgressEnd(message=message))
        except OSError as exc:
            _not_sent("$/progress", exc)

    def __enter__(self) -> CommandProgress:
        self.begin()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.end("done")
        elif issubclass(exc_type, BaseException) and exc_type.__name__ == "CancelledError":
            self.end("cancelled")
        else:
            self.end("failed")
