"""No secret leaves the machine: the real server, a real LSP client over stdio, and a remote
backend pointed at an HTTP server on 127.0.0.1 that records every request body.

The backend is ``llama-server`` (FIM through ``/infill``, repository context in
``input_extra``) and the HTTP server is ``FakeLlamaServer`` from ``tests/unit/engine/
test_remote.py``: a stand-in with llama-server's documented JSON shapes, labelled as such, used
here for what it records. The workspace (:mod:`tests.security.secrets_workspace`) holds a
symlink to a secret outside it, a ``.env``, an ``id_rsa``, files named like secrets and one the
user excludes with ``offpilot.excludeFiles`` (sent as the client's configuration). The secret
documents are opened and edited in the editor too. Then: the canary is in no request body, no
LSP answer and no byte of the index database, while the ordinary file's marker does reach the
backend.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from tests.lsp.test_context import as_data
from tests.lsp.test_inline_completion import completion_params
from tests.reliability.rpc import clean_env
from tests.security.secrets_workspace import (
    CANARY,
    CONTROL,
    CURSOR_CHARACTER,
    CURSOR_LINE,
    USER_PATTERN,
    database_bytes,
    make_workspace,
)
from tests.unit.engine.test_remote import QWEN_VOCAB, FakeLlamaServer

SECRET_DOCS = {"secret_keys.py": "python", ".env": "dotenv", "id_rsa": "plaintext",
               "deploy/secrets.py": "python", "config/aws_credentials.py": "python",
               "private_settings.py": "python"}


async def start(ws: Path, endpoint: str, cache: Path) -> tuple[LanguageClient, list[Any]]:
    client = LanguageClient("secrets-test", "1")
    seen: list[Any] = []  # every notification the server sent, to search for the canary

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def configuration(params: types.ConfigurationParams) -> list[Any]:
        return [{"excludeFiles": [USER_PATTERN]} for _ in params.items]

    for method in ("offpilot/status", "offpilot/stream", types.WINDOW_SHOW_MESSAGE,
                   types.WINDOW_LOG_MESSAGE, types.PROGRESS,
                   types.WINDOW_WORK_DONE_PROGRESS_CREATE):
        client.feature(method)(lambda params: seen.append(params))

    env = clean_env(OFFPILOT_BACKEND="llama-server", OFFPILOT_ENDPOINT=endpoint,
                    OFFPILOT_CACHE_DIR=str(cache), OFFPILOT_THREADS="2")
    await client.start_io(sys.executable, "-m", "offpilot", "serve", env=env)
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True),
            workspace=types.WorkspaceClientCapabilities(configuration=True),
            text_document=types.TextDocumentClientCapabilities(
                code_action=types.CodeActionClientCapabilities(
                    code_action_literal_support=types.ClientCodeActionLiteralOptions(
                        code_action_kind=types.ClientCodeActionKindOptions(
                            value_set=[types.CodeActionKind.Refactor]))))),
        root_uri=ws.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=ws.as_uri(), name="ws")]))
    client.initialized(types.InitializedParams())
    return client, seen


async def request(client: LanguageClient, method: str, params: Any) -> Any:
    return as_data(await client.protocol.send_request_async(method, params))


async def wait_indexed(client: LanguageClient, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        context = (await request(client, "offpilot/stats", None)).get("context") or {}
        if context.get("ready") or time.monotonic() > deadline:
            return context
        await asyncio.sleep(0.1)


def open_doc(client: LanguageClient, path: Path, language: str) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1,
                                             text=path.read_text(encoding="utf-8"))))
    return uri


def type_at_end(client: LanguageClient, uri: str, text: str, version: int = 2) -> None:
    """Type ``\\nx`` after the last line of ``text`` (as the editor sends a keystroke)."""
    line = text.count("\n")
    character = len(text) - text.rfind("\n") - 1
    at = types.Position(line=line, character=character)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=at, end=at), text="\nx")]))


@pytest.mark.slow
async def test_no_secret_reaches_the_backend_the_answers_or_the_index(tmp_path: Path):
    ws = make_workspace(tmp_path)
    cache = tmp_path / "cache"
    answers: list[Any] = []
    with FakeLlamaServer(vocab=QWEN_VOCAB, reply="token\n") as srv:
        client, seen = await start(ws, srv.url, cache)
        try:
            context = await wait_indexed(client)
            assert context.get("ready") and context["files"] >= 2, context

            # The secret files, open and typed in: no completion, no warm-up, no context.
            for rel, language in SECRET_DOCS.items():
                path = ws / rel
                uri = open_doc(client, path, language)
                text = path.read_text(encoding="utf-8")
                type_at_end(client, uri, text)
                result = await client.text_document_inline_completion_async(
                    completion_params(uri, types.Position(line=text.count("\n") + 1,
                                                          character=1)))
                assert result is None or not result.items, rel
                actions = await client.text_document_code_action_async(
                    types.CodeActionParams(
                        text_document=types.TextDocumentIdentifier(uri=uri),
                        range=types.Range(start=types.Position(line=4, character=4),
                                          end=types.Position(line=4, character=4)),
                        context=types.CodeActionContext(diagnostics=[])))
                assert not actions, rel
                with pytest.raises(Exception, match="never sent to a model"):
                    await client.workspace_execute_command_async(types.ExecuteCommandParams(
                        command="offpilot.explain", arguments=[{"uri": uri, "range": {
                            "start": {"line": 4, "character": 4},
                            "end": {"line": 4, "character": 4}}}]))
                if language == "python":  # (the link is refused as a path outside too)
                    with pytest.raises(Exception,
                                       match=r"never sent to a model|outside the workspace"):
                        await client.workspace_execute_command_async(
                            types.ExecuteCommandParams(
                                command="offpilot.generateTests",
                                arguments=[{"uri": uri, "scope": "file"}]))
                    with pytest.raises(Exception, match="never sent to a model"):
                        await client.workspace_execute_command_async(
                            types.ExecuteCommandParams(
                                command="offpilot.generateDocs",
                                arguments=[{"uri": uri, "position": {"line": 0,
                                                                     "character": 0}}]))
                got = await request(client, "offpilot/context", {
                    "uri": uri, "position": {"line": 4, "character": 8}})
                assert got["snippets"] == [] and "kept out of prompts" in got["message"], rel
                answers.append(got)
            await asyncio.sleep(1.5)  # past the warm-up and re-summarize delays
            assert not [r for r in srv.requests if r[1] in ("/infill", "/completion")], \
                "a secret document was sent to the model"

            # An ordinary file: its completion carries context, the ordinary marker included.
            app = ws / "app.py"
            uri = open_doc(client, app, "python")
            pos = types.Position(line=CURSOR_LINE, character=CURSOR_CHARACTER)
            result = await client.text_document_inline_completion_async(
                completion_params(uri, pos))
            answers.append([item.insert_text for item in result.items] if result else None)
            bodies = srv.bodies("/infill")
            assert bodies, "the completion did not reach the backend"
            assert CONTROL in json.dumps(bodies[-1]["input_extra"])
            got = await request(client, "offpilot/context", {
                "uri": uri, "position": {"line": CURSOR_LINE, "character": CURSOR_CHARACTER}})
            assert any(CONTROL in s["text"] for s in got["snippets"]), got
            answers.append(got)
            # The link to the outside file and a secret file, not open: nothing read.
            outside = (tmp_path / "elsewhere" / "secret_keys.py").as_uri()
            for other in (outside, (ws / ".env").as_uri()):
                client.text_document_did_close(types.DidCloseTextDocumentParams(
                    text_document=types.TextDocumentIdentifier(uri=other)))
                got = await request(client, "offpilot/context", {
                    "uri": other, "position": {"line": 0, "character": 0}})
                assert got["snippets"] == [] and "kept out of prompts" in got["message"]
                answers.append(got)
            answers.append(await request(client, "offpilot/stats", None))
        finally:
            await client.shutdown_async(None)
            client.exit(None)
            await client.stop()
        sent = json.dumps([(method, path, body) for method, path, body, _ in srv.requests])
    assert CANARY not in sent
    assert CANARY not in json.dumps(answers, default=str)
    assert CANARY not in json.dumps(seen, default=str)
    assert CONTROL.encode() in database_bytes(cache)
    assert CANARY.encode() not in database_bytes(cache)
