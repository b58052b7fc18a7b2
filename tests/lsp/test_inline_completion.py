"""Inline completions end to end: the real server over stdio, the real embedded model."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.lsp.helpers import SERVER, capabilities, open_document, position_of, server_env

pytestmark = pytest.mark.model

TEXT = ('"""Shapes."""\n\n\ndef area_of_square(side: float) -> float:\n'
        '    """Area of a square."""\n    return \n\n\nprint(area_of_square(2))\n')


def completion_params(uri: str, pos: types.Position) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=pos,
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked))


async def test_capabilities(client: LanguageClient):
    caps = client.init_result.capabilities  # type: ignore[attr-defined]
    assert caps.inline_completion_provider
    sync = caps.text_document_sync
    assert sync.change == types.TextDocumentSyncKind.Incremental


async def test_inline_completion_returns_text_that_does_not_repeat_the_suffix(
        client: LanguageClient):
    path: Path = client.demo_project / "shapes.py"  # type: ignore[attr-defined]
    path.write_text(TEXT, encoding="utf-8")
    uri = await open_document(client, path)
    pos = position_of(TEXT, "    return ")
    result = await client.text_document_inline_completion_async(completion_params(uri, pos))
    assert result is not None and len(result.items) >= 1
    item = result.items[0]
    text = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    assert text.strip()
    assert "print(area_of_square(2))" not in text
    assert item.range.start == pos


async def test_mid_line_completion_is_one_line(client: LanguageClient):
    path: Path = client.demo_project / "mid.py"  # type: ignore[attr-defined]
    text = "values = [1, 2, 3]\ntotal = sum()\nprint(total)\n"
    path.write_text(text, encoding="utf-8")
    uri = await open_document(client, path)
    pos = position_of(text, "total = sum(")  # the line goes on after the cursor: ")"
    result = await client.text_document_inline_completion_async(completion_params(uri, pos))
    assert result is not None and result.items, "no completion in the middle of a line"
    for item in result.items:
        assert item.insert_text.strip()
        assert "\n" not in item.insert_text


async def test_incremental_edits_reach_the_completion(client: LanguageClient):
    path: Path = client.demo_project / "edit.py"  # type: ignore[attr-defined]
    path.write_text("", encoding="utf-8")
    uri = await open_document(client, path, text="")
    typed = "import os\n\ndef list_python_files(folder):\n    "
    pos = types.Position(line=0, character=0)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=pos, end=pos), text=typed)]))
    end = position_of(typed, typed)
    result = await client.text_document_inline_completion_async(completion_params(uri, end))
    assert result.items and result.items[0].insert_text.strip()


async def stats(client: LanguageClient) -> dict:
    result = await client.protocol.send_request_async("offpilot/stats", None)
    return result._asdict() if hasattr(result, "_asdict") else result


def field(obj, name: str):
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name)


@pytest.mark.parametrize("report", ["cursor notification", "code action request"])
async def test_the_cursor_settling_warms_the_prompt_so_the_completion_evaluates_little(
        client: LanguageClient, report: str):
    # The editor says where the cursor settled: with offpilot/cursor (the VS Code extension),
    # or by asking for the code actions there (the light bulb of many editors).
    path: Path = client.demo_project / f"warm_{report[:4]}.py"  # type: ignore[attr-defined]
    text = "".join(f"def helper_{i}(value: int) -> int:\n    \"\"\"Helper number {i}.\"\"\"\n"
                   f"    return value * {i} + {i * 7}\n\n\n" for i in range(25))
    text += "def combined(value: int) -> int:\n    return \n"
    path.write_text(text, encoding="utf-8")
    uri = await open_document(client, path)
    pos = position_of(text, "    return \n")
    pos = types.Position(line=pos.line, character=len("    return "))
    if report == "cursor notification":
        client.protocol.notify("offpilot/cursor", {"textDocument": {"uri": uri},
                                                   "position": {"line": pos.line,
                                                                "character": pos.character}})
    else:
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=pos, end=pos),
            context=types.CodeActionContext(
                diagnostics=[], trigger_kind=types.CodeActionTriggerKind.Automatic)))
        assert actions is not None  # answered as before (the offers at the cursor)
    # Two warm-ups: the quick prompt (the cursor's window), then the whole prompt.
    deadline = time.monotonic() + 120
    while True:
        completion = field(await stats(client), "completion")
        if len(field(completion, "promptTokensWarmed")) >= 2:
            break
        assert time.monotonic() < deadline, "the prompts were not warmed"
        await asyncio.sleep(0.1)
    quick, whole = field(completion, "promptTokensWarmed")[:2]
    result = await client.text_document_inline_completion_async(completion_params(uri, pos))
    assert result is not None
    completion = field(await stats(client), "completion")
    assert field(completion, "requests") == 1
    evaluated = field(completion, "promptTokensEvaluated")[-1]
    # the warm-ups evaluated both prompts (the whole one hundreds of tokens); the request used
    # the whole prompt and evaluated only its tail
    assert 0 < quick < whole and whole > 300, (quick, whole)
    assert field(completion, "shortPrompts") == 0 and evaluated <= 2, evaluated


async def test_cancelled_request_returns_promptly_and_the_next_one_works(
        client: LanguageClient):
    path: Path = client.demo_project / "cancel.py"  # type: ignore[attr-defined]
    path.write_text(TEXT, encoding="utf-8")
    uri = await open_document(client, path)
    pos = position_of(TEXT, "    return ")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"offpilot": {"maxTokens": 256, "maxLines": 50, "timeLimit": 60}}))
    # load the model with a request elsewhere, so the cancelled one is not a cache hit
    await client.text_document_inline_completion_async(
        completion_params(uri, position_of(TEXT, "print(")))
    t0 = time.perf_counter()
    # Cancel the way an editor does: $/cancelRequest with the id, then wait for the answer.
    # (Cancelling the client-side future instead trips pygls' client on the late response.)
    future = client.protocol.send_request(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, completion_params(uri, pos),
        msg_id="cancel-me")
    await asyncio.sleep(0.3)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-me"))
    try:
        answer = await asyncio.wait_for(asyncio.wrap_future(future), 5)
    except JsonRpcRequestCancelled:
        answer = None
    assert answer is None or len(answer.items) == 0
    assert time.perf_counter() - t0 < 5
    result = await client.text_document_inline_completion_async(completion_params(uri, pos))
    assert result is not None


async def test_server_answers_other_requests_while_generating(client: LanguageClient):
    path: Path = client.demo_project / "busy.py"  # type: ignore[attr-defined]
    path.write_text(TEXT, encoding="utf-8")
    uri = await open_document(client, path)
    pos = position_of(TEXT, "    return ")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"offpilot": {"maxTokens": 256, "maxLines": 50, "timeLimit": 60}}))
    await asyncio.sleep(0.2)
    long = asyncio.ensure_future(
        client.text_document_inline_completion_async(completion_params(uri, pos)))
    await asyncio.sleep(0.05)
    t0 = time.perf_counter()
    stats = await client.protocol.send_request_async("offpilot/stats", None)
    answered_in = time.perf_counter() - t0
    assert stats is not None
    assert answered_in < 2
    await long


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=SERVER, server_env=server_env(OFFPILOT_MODEL="/nonexistent/model.gguf")))
async def missing_model_client(lsp_client: LanguageClient, demo_project: Path):
    lsp_client.demo_project = demo_project  # type: ignore[attr-defined]
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=capabilities(), root_uri=demo_project.as_uri()))
    yield
    await lsp_client.shutdown_session()


async def test_missing_model_keeps_the_server_up_and_says_so(
        missing_model_client: LanguageClient):
    client = missing_model_client
    path: Path = client.demo_project / "shop" / "pricing.py"  # type: ignore[attr-defined]
    uri = await open_document(client, path)
    result = await client.text_document_inline_completion_async(
        completion_params(uri, types.Position(line=3, character=0)))
    assert result is not None and len(result.items) == 0
    for _ in range(50):
        if any("not found" in m.message for m in client.messages):
            break
        await asyncio.sleep(0.1)
    errors = [m for m in client.messages if m.type == types.MessageType.Error]
    assert any("/nonexistent/model.gguf" in m.message for m in errors)
    stats = await client.protocol.send_request_async("offpilot/stats", None)
    assert stats is not None  # still serving


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=server_env()))
async def bad_settings_client(lsp_client: LanguageClient, demo_project: Path):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=capabilities(), root_uri=demo_project.as_uri(),
        initialization_options={"maxTokens": "lots", "promptMode": "telepathy"}))
    yield
    await lsp_client.shutdown_session()


async def test_invalid_settings_are_reported_and_defaults_used(
        bad_settings_client: LanguageClient):
    client = bad_settings_client
    for _ in range(50):
        if client.messages:
            break
        await asyncio.sleep(0.1)
    text = " ".join(m.message for m in client.messages)
    assert "maxTokens" in text and "promptMode" in text
    stats = await client.protocol.send_request_async("offpilot/stats", None)
    assert stats is not None
