"""Helpers for end-to-end tests: the server command, client capabilities, documents."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

SERVER = [sys.executable, "-m", "offpilot", "serve", "--log-level", "info"]


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFPILOT_")}
    env.update({"OFFPILOT_THREADS": "2", "OFFPILOT_CONTEXT_SIZE": "2048", **extra})
    return env


def capabilities() -> types.ClientCapabilities:
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True, show_document=None),
        workspace=types.WorkspaceClientCapabilities(configuration=True, apply_edit=True))


async def open_document(client: LanguageClient, path: Path, text: str | None = None,
                        language_id: str = "python") -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(
            uri=uri, language_id=language_id, version=1,
            text=path.read_text(encoding="utf-8") if text is None else text)))
    return uri


def position_of(text: str, marker: str) -> types.Position:
    i = text.index(marker) + len(marker)
    before = text[:i]
    return types.Position(line=before.count("\n"), character=i - (before.rfind("\n") + 1))


