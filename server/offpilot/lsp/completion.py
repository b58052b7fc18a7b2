"""textDocument/inlineCompletion: LSP types in, :class:`Completer` in the middle, items out."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from offpilot.engine.backend import ModelError

if TYPE_CHECKING:
    from offpilot.lsp.server import OffpilotServer

log = logging.getLogger(__name__)


def setup(server: OffpilotServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: OffpilotServer, params: types.InlineCompletionParams
                                ) -> types.InlineCompletionList:
        empty = types.InlineCompletionList(items=[])
        s = ls.settings
        doc = ls.documents.get(params.text_document.uri)
        if doc is None or not s.completions_enabled or doc.language_id in s.disabled_languages:
            return empty
        pos = params.position
        offset = doc.offset_at(pos.line, pos.character)
        version = doc.version
        try:
            outcome = await ls.completer.complete(
                doc.uri, doc.text, offset, language=doc.language_id,
                path=ls.document_path(doc.uri))
        except ModelError as exc:
            log.info("no completion: %s", exc)  # the user was told through the status
            return empty
        current = ls.documents.get(params.text_document.uri)
        if current is None or current.version != version:
            return empty  # computed for a version of the document that is gone
        line, character = doc.position_at(offset)
        here = types.Position(line=line, character=character)
        return types.InlineCompletionList(items=[
            types.InlineCompletionItem(insert_text=text, range=types.Range(start=here, end=here))
            for text in outcome.items])
