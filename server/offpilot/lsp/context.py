"""Workspace context: the index built when the client is ready and kept up with the documents,
and ``offpilot/context``, the snippets retrieval gives at a position, for editors and tests.

The index (:class:`offpilot.context.engine.ContextEngine`) starts after ``initialized`` when
``offpilot.indexEnabled`` is on and there is a workspace folder, reporting its first build as
work-done progress; it is ``server.context_engine`` for the other features (completion and
Explain retrieve through it).

``offpilot/context``:

Params: ``{"uri" (or "textDocument": {"uri"}), "position": {line, character}, "budget"?,
"end"?: {line, character}}``; with ``end`` the answer is the Explain context of the range.
Result: ``{"ready", "ms", "snippets": [{path, start_line, end_line, kind, text}]}``, plus a
``message`` when the document is neither open nor a readable source file (a FIFO, a device, a
binary or a file over the size limit is never read), or is kept out of prompts
(:mod:`offpilot.context.exclude`: it looks like it holds secrets, or, when not open, it
resolves outside the workspace).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from lsprotocol import types

from offpilot.context.documents import Document, Documents
from offpilot.lsp import client_requests
from offpilot.lsp.client_requests import ClientRequestFailed
from offpilot.lsp.feature import Edit, Feature
from offpilot.lsp.server import OffpilotServer  # (a runtime name: pygls reads the hints)
from offpilot.shared import snippet_json

log = logging.getLogger(__name__)

CONTEXT_REQUEST = "offpilot/context"


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _offset(doc: Document, position: Any) -> int:
    return doc.offset_at(int(_get(position, "line") or 0), int(_get(position, "character") or 0))


def kept_out(documents: Documents, uri: str) -> str | None:
    """Why no context is given for ``uri``: an open document when its text must never reach a
    model (:meth:`FileGuard.private`), a file not open also when it resolves outside the
    workspace."""
    doc = documents.get(uri)
    if doc is not None:
        return documents.guard.private(doc.path)
    return documents.excluded(uri)


class ContextFeature(Feature):
    """The workspace index and ``offpilot/context`` (see the module doc)."""

    name = "context"

    def setup(self, server: OffpilotServer) -> None:
        super().setup(server)
        _register(server)

    def initialized(self) -> None:
        server = self.server
        if not server.settings.index_enabled or not server.roots:
            return
        try:
            from offpilot.context.engine import ContextEngine
        except ImportError as exc:
            log.warning("workspace context engine unavailable: %s", exc)
            return
        # The engine reads the server's settings holder: changes reach it on their own.
        engine = ContextEngine(server.roots, server.settings_holder, documents=server.documents)
        server.context_engine = engine
        loop = asyncio.get_running_loop()
        token = f"offpilot-index-{time.monotonic_ns()}"
        state = {"started": False}

        def on_progress(message: str, fraction: float | None) -> None:
            loop.call_soon_threadsafe(self._index_progress, token, state, message, fraction)

        server.spawn(self._create_progress(token, state))
        engine.start(on_progress=on_progress)

    def document_opened(self, doc: Document) -> None:
        if self.server.context_engine is not None:
            self.server.context_engine.note_opened(doc.uri)

    def document_changed(self, doc: Document, edit: Edit | None) -> None:
        if self.server.context_engine is not None and edit is not None:
            self.server.context_engine.note_edited(doc.uri, edit.start)

    def stats(self) -> dict[str, Any]:
        engine = self.server.context_engine
        return {} if engine is None else {"context": engine.stats()}

    async def shutdown(self) -> None:
        if self.server.context_engine is not None:
            self.server.context_engine.stop()

    async def _create_progress(self, token: str, state: dict[str, bool]) -> None:
        caps = self.server.client_capabilities.window
        if caps is None or not caps.work_done_progress:
            return
        try:
            await client_requests.create_progress(self.server, token)
        except ClientRequestFailed as exc:
            state["refused"] = True  # no $/progress on a token the editor did not take
            log.info("window/workDoneProgress/create: the editor gave %s", exc)

    def _index_progress(self, token: str, state: dict[str, bool], message: str,
                        fraction: float | None) -> None:
        server = self.server
        caps = server.client_capabilities.window
        # (a progress already begun is ended even if the token was refused after all)
        use_progress = caps is not None and bool(caps.work_done_progress) \
            and (state["started"] or not state.get("refused"))
        pct = None if fraction is None else max(0, min(100, int(fraction * 100)))
        done = fraction is not None and fraction >= 1.0
        try:
            if use_progress and not state["started"]:
                state["started"] = True
                server.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                    title="Offpilot: indexing", message=message, percentage=pct))
            elif use_progress and done:
                server.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
            elif use_progress:
                server.work_done_progress.report(token, types.WorkDoneProgressReport(
                    message=message, percentage=pct))
        except OSError as exc:  # the editor is gone (pygls logged the failed write)
            log.debug("$/progress not sent: %s", exc)
        if done:
            if server.status["state"] == "indexing":
                server.set_status("ready")
        elif server.status["state"] in ("ready", "no-model"):
            server.set_status("indexing", message)


def _register(server: OffpilotServer) -> None:
    @server.feature(CONTEXT_REQUEST)
    async def context(ls: OffpilotServer, params: object = None) -> dict[str, Any]:
        engine = ls.context_engine
        uri = _get(params, "uri") or _get(_get(params, "textDocument"), "uri")
        if engine is None or not uri:
            return {"ready": False, "ms": 0.0, "snippets": []}
        reason = await asyncio.to_thread(kept_out, ls.documents, uri)
        if reason is not None:
            return {"ready": engine.ready, "ms": 0.0, "snippets": [],
                    "message": f"kept out of prompts: {reason}"}
        # Not open in the editor: the file on disk, if it is a readable source file.
        doc = await asyncio.to_thread(ls.documents.load, uri, ls.settings.max_file_size)
        if doc is None:
            return {"ready": engine.ready, "ms": 0.0, "snippets": [],
                    "message": f"not a readable source file of at most "
                               f"{ls.settings.max_file_size} bytes: {uri}"}
        budget = _get(params, "budget")
        budget = int(budget) if isinstance(budget, int | float) else ls.settings.context_budget
        start = _offset(doc, _get(params, "position"))
        end = _get(params, "end")
        t0 = time.perf_counter()
        if end is not None:
            snippets = await asyncio.to_thread(engine.context_for_range, uri, start,
                                               _offset(doc, end), budget)
        else:
            snippets = (await asyncio.to_thread(engine.retrieve, uri, start, budget)).snippets
        return {"ready": engine.ready, "ms": round((time.perf_counter() - t0) * 1000, 2),
                "snippets": [snippet_json(s) for s in snippets]}
