"""textDocument/inlineCompletion: LSP types in, :class:`Completer` in the middle, items out.

Also ``offpilot/cursor``, a notification an editor may send when the cursor settles somewhere
(``{"textDocument": {"uri"}, "position": {line, character}}``, sent once the cursor settled):
the prompts of that place (the quick one, then the whole one) are evaluated as background work,
so the first suggestion there costs only what is typed. An editor that asks for code actions at
the cursor as it moves (a light bulb; the range is empty) says the same with no extension of its
own. Without either, the server warms at the place of the last edit, once the user pauses.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from offpilot.config import Settings
from offpilot.context.documents import Document
from offpilot.engine.backend import ModelError
from offpilot.lsp.feature import Edit, Feature
from offpilot.lsp.protocol import arrival_text

if TYPE_CHECKING:
    from offpilot.lsp.server import OffpilotServer

log = logging.getLogger(__name__)

CURSOR_NOTIFICATION = "offpilot/cursor"
# The editor sends the notification once the cursor has settled (its own pause): little more
# waiting is needed before warming there.
CURSOR_WARMUP_DELAY = 0.05


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


class CompletionFeature(Feature):
    """Inline completions, warmed where the user edits and pauses; the model preloaded."""

    name = "completion"

    def setup(self, server: OffpilotServer) -> None:
        super().setup(server)
        _register(server)

    def initialized(self) -> None:
        self.server.spawn(self.server.preload())

    def document_changed(self, doc: Document, edit: Edit | None) -> None:
        if edit is not None:
            self.server.schedule_warmup(doc, edit.end)

    def code_actions(self, params: types.CodeActionParams, doc: Document
                     ) -> list[types.CodeAction]:
        """None; a request for the code actions at a cursor (an empty range, no ``only``: the
        light bulb an editor shows where the cursor settles) warms the prompts there."""
        r, context = params.range, params.context
        if r.start == r.end and not (context is not None and context.only) \
                and self.server.documents.get(doc.uri) is doc:
            self.server.schedule_warmup(doc, doc.offset_at(r.start.line, r.start.character),
                                        delay=CURSOR_WARMUP_DELAY)
        return []

    def document_closed(self, uri: str) -> None:
        self.server.completer.forget(uri)

    def settings_changed(self, old: Settings, new: Settings) -> None:
        if (old.model, old.backend, old.prompt_mode) != (new.model, new.backend,
                                                          new.prompt_mode):
            self.server.completer.anchors.clear()
            self.server.completer.cache.clear()
            self.server.spawn(self.server.preload())


def _register(server: OffpilotServer) -> None:
    @server.feature(CURSOR_NOTIFICATION)
    def cursor(ls: OffpilotServer, params: object = None) -> None:
        uri = _get(_get(params, "textDocument"), "uri")
        position = _get(params, "position")
        doc = ls.documents.get(uri) if isinstance(uri, str) else None
        line, character = _get(position, "line"), _get(position, "character")
        if doc is None or not isinstance(line, int) or not isinstance(character, int):
            return  # a notification has no answer: a bad one is ignored
        ls.schedule_warmup(doc, doc.offset_at(line, character), delay=CURSOR_WARMUP_DELAY)

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
