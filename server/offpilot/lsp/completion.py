"""textDocument/inlineCompletion: LSP types in, :class:`Completer` in the middle, items out.

Also ``offpilot/cursor``, a notification an editor may send when the cursor settles somewhere
(``{"textDocument": {"uri"}, "position": {line, character}}``): the prompt of that place is
evaluated while the model is idle, so the first suggestion there costs only the cursor window.
Without it the server warms at the place of the last edit.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from offpilot.engine.backend import ModelError
from offpilot.lsp.protocol import arrival_text

if TYPE_CHECKING:
    from offpilot.lsp.server import OffpilotServer

log = logging.getLogger(__name__)

CURSOR_NOTIFICATION = "offpilot/cursor"


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def setup(server: OffpilotServer) -> None:
    @server.feature(CURSOR_NOTIFICATION)
    def cursor(ls: OffpilotServer, params: Any = None) -> None:
        uri = _get(_get(params, "textDocument"), "uri")
        position = _get(params, "position")
        doc = ls.documents.get(uri) if isinstance(uri, str) else None
        line, character = _get(position, "line"), _get(position, "character")
        if doc is None or not isinstance(line, int) or not isinstance(character, int):
            return  # a notification has no answer: a bad one is ignored
        ls.schedule_warmup(doc, doc.offset_at(line, character))

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: OffpilotServer, params: types.InlineCompletionParams
                                ) -> types.InlineCompletionList:
        empty = types.InlineCompletionList(items=[])
        s = ls.settings
        doc = ls.documents.get(params.text_document.uri)
        if doc is None or not s.completions_enabled or doc.language_id in s.disabled_languages:
            return empty
        arrived = arrival_text.get()
        if arrived is not None and arrived is not doc.text:
            return empty  # edited after the request arrived: its position is for older text
        pos = params.position
        offset = doc.offset_at(pos.line, pos.character)
        version, text = doc.version, doc.text
        try:
            outcome = await ls.completer.complete(
                doc.uri, text, offset, language=doc.language_id,
                path=ls.document_path(doc.uri))
        except ModelError as exc:
            log.info("no completion: %s", exc)  # the user was told through the status
            return empty
        current = ls.documents.get(params.text_document.uri)
        if current is not doc or current.version != version or current.text is not text:
            # Computed for a text that is gone (an edit, or a reopen; the text check also
            # covers a client that does not bump the version).
            return empty
        line, character = doc.position_at(offset)
        here = types.Position(line=line, character=character)
        return types.InlineCompletionList(items=[
            types.InlineCompletionItem(insert_text=item, range=types.Range(start=here, end=here))
            for item in outcome.items])
