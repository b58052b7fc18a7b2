"""``offpilot/context``: the snippets retrieval gives at a position, for editors and tests.

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
import time
from typing import Any

from offpilot.context.documents import Document, Documents
from offpilot.shared import snippet_json

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


def setup(server: Any) -> None:
    @server.feature(CONTEXT_REQUEST)
    async def context(ls: Any, params: Any = None) -> dict[str, Any]:
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
