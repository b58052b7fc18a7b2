"""The feature hooks on a real server object, without a client: every registered feature is
called on document sync, settings changes and code actions, in order, and one that fails is
logged without stopping the others or the server's own copy of the documents."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
from lsprotocol import types
from offpilot.config import Settings
from offpilot.context.documents import Document
from offpilot.lsp.feature import Edit, Feature
from offpilot.lsp.server import FEATURES, OffpilotServer, create_server

URI = "file:///tmp/offpilot-features/shop.py"


class Broken(Feature):
    name = "broken"

    def document_opened(self, doc: Document) -> None:
        raise RuntimeError("opened")

    def document_changed(self, doc: Document, edit: Edit | None) -> None:
        raise RuntimeError("changed")

    def document_closed(self, uri: str) -> None:
        raise RuntimeError("closed")

    def settings_changed(self, old: Settings, new: Settings) -> None:
        raise RuntimeError("settings")

    def code_actions(self, params: types.CodeActionParams, doc: Document
                     ) -> list[types.CodeAction]:
        raise RuntimeError("actions")

    def stats(self) -> dict[str, Any]:
        raise RuntimeError("stats")


class Recorder(Feature):
    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[Any, ...]] = []

    def document_opened(self, doc: Document) -> None:
        self.seen.append(("opened", doc.text))

    def document_changed(self, doc: Document, edit: Edit | None) -> None:
        self.seen.append(("changed", doc.text, edit))

    def document_closed(self, uri: str) -> None:
        self.seen.append(("closed", uri))

    def settings_changed(self, old: Settings, new: Settings) -> None:
        self.seen.append(("settings", old.max_tokens, new.max_tokens))

    def code_actions(self, params: types.CodeActionParams, doc: Document
                     ) -> list[types.CodeAction]:
        return [types.CodeAction(title="recorded", kind=types.CodeActionKind.QuickFix)]

    def stats(self) -> dict[str, Any]:
        return {"recorder": len(self.seen)}


def handler(server: OffpilotServer, method: str) -> Any:
    return server.protocol.fm.features[method]


def test_every_listed_feature_is_registered() -> None:
    server = create_server()
    assert [type(f).__name__ for f in server.features] == [e.split(":")[1] for e in FEATURES]
    assert all(f.server is server for f in server.features)


async def test_a_failing_feature_stops_neither_the_others_nor_document_sync(
        caplog: pytest.LogCaptureFixture) -> None:
    server = create_server()
    recorder = Recorder()
    server.register(Broken())
    server.register(recorder)
    caplog.set_level(logging.ERROR, logger="offpilot.lsp.server")

    handler(server, types.TEXT_DOCUMENT_DID_OPEN)(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=URI, language_id="python", version=1,
                                             text="x = 1\n")))
    handler(server, types.TEXT_DOCUMENT_DID_CHANGE)(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=0, character=4),
                              end=types.Position(line=0, character=5)), text="42")]))
    doc = server.documents.get(URI)
    assert doc is not None and doc.text == "x = 42\n" and doc.version == 2
    actions = server.feature_code_actions(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        range=types.Range(start=types.Position(line=0, character=0),
                          end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[])), doc)
    assert [a.title for a in actions] == ["recorded"]
    server.settings_holder.set(dataclasses.replace(server.settings, max_tokens=17))
    assert server.settings.max_tokens == 17
    stats = handler(server, "offpilot/stats")(None)
    assert stats["recorder"] == 3 and stats["settings"]["completion"]["maxTokens"] == 17
    handler(server, types.TEXT_DOCUMENT_DID_CLOSE)(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=URI)))
    assert server.documents.get(URI) is None

    assert recorder.seen == [("opened", "x = 1\n"), ("changed", "x = 42\n", Edit(4, 6)),
                             ("settings", Settings().max_tokens, 17), ("closed", URI)]
    failed = sorted(r.getMessage() for r in caplog.records if "broken" in r.getMessage())
    assert failed == sorted(f"the broken feature failed in {hook}" for hook in (
        "document_opened", "document_changed", "code_actions", "settings_changed", "stats",
        "document_closed"))
