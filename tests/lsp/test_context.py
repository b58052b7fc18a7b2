"""Workspace context end to end: the real server indexes the example project, and a function
defined in another file reaches the completion prompt."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.lsp.helpers import SERVER, capabilities, open_document, position_of, server_env

CACHE = tempfile.mkdtemp(prefix="offpilot-index-")  # keep the user's cache dir clean
CHECKOUT = ("from shop.models import Cart\nfrom shop.pricing import cart_total, format_cents\n\n\n"
            "def receipt(cart: Cart) -> str:\n    total = cart_total(cart, 10)\n"
            "    return format_cents(total)\n")


def as_data(obj: Any) -> Any:
    """A JSON-RPC result of a custom request as plain dicts and lists."""
    if hasattr(obj, "_asdict"):
        obj = obj._asdict()
    if isinstance(obj, dict):
        return {k: as_data(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [as_data(v) for v in obj]
    return obj


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=SERVER, server_env=server_env(OFFPILOT_CACHE_DIR=CACHE)))
async def client(lsp_client: LanguageClient, demo_project: Path):
    lsp_client.demo_project = demo_project  # type: ignore[attr-defined]
    (demo_project / "shop" / "checkout.py").write_text(CHECKOUT, encoding="utf-8")
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=capabilities(), root_uri=demo_project.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=demo_project.as_uri(), name="demo")]))
    yield
    await lsp_client.shutdown_session()


async def context_stats(client: LanguageClient, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stats = as_data(await client.protocol.send_request_async("offpilot/stats", None))
        context = stats.get("context") or {}
        if context.get("ready") or time.monotonic() > deadline:
            return context
        await asyncio.sleep(0.1)


async def test_index_is_built_and_reported(client: LanguageClient):
    context = await context_stats(client)
    assert context["ready"] and context["files"] >= 6 and context["definitions"] >= 9


async def completion_stats(client: LanguageClient) -> dict[str, Any]:
    stats = as_data(await client.protocol.send_request_async("offpilot/stats", None))
    return stats.get("completion") or {}


@pytest.mark.model
async def test_definition_from_another_file_reaches_the_completion_prompt(
        client: LanguageClient):
    root: Path = client.demo_project  # type: ignore[attr-defined]
    await context_stats(client)
    uri = await open_document(client, root / "shop" / "checkout.py")
    pos = position_of(CHECKOUT, "cart_total(")
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=pos,
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked))
    # The first request is answered from the cursor's window (a quick prompt) while the whole
    # prompt, with the repository context, goes through the model in the background.
    await client.text_document_inline_completion_async(params)
    assert (await completion_stats(client))["shortPrompts"] == 1
    deadline = time.monotonic() + 120
    while not (await completion_stats(client))["promptTokensWarmed"]:
        assert time.monotonic() < deadline, "the whole prompt was never evaluated"
        await asyncio.sleep(0.1)
    context = await context_stats(client)
    last = context["last_retrieval"]
    assert {"path": "shop/pricing.py", "lines": [19, 25], "kind": "definition"} in last
    assert context["retrieval_ms_p50"] is not None
    # The next request there uses the whole prompt, context included. ("#" typed first, so
    # the first answer's cache entry cannot answer it: it goes to the model.)
    at = position_of(CHECKOUT, "total = ")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=at, end=at), text="#")]))
    calls = (await completion_stats(client))["modelCalls"]
    await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=pos.line, character=pos.character + 1),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    done = await completion_stats(client)
    assert done["modelCalls"] > calls and done["shortPrompts"] == 1  # (a prefetch may follow)


async def test_context_request_shows_the_snippets(client: LanguageClient):
    root: Path = client.demo_project  # type: ignore[attr-defined]
    await context_stats(client)
    uri = await open_document(client, root / "shop" / "checkout.py")
    pos = position_of(CHECKOUT, "cart_total(")
    result = as_data(await client.protocol.send_request_async("offpilot/context", {
        "uri": uri, "position": {"line": pos.line, "character": pos.character}}))
    texts = [s["text"] for s in result["snippets"] if s["path"] == "shop/pricing.py"]
    assert any(t.startswith("def cart_total(cart: Cart") for t in texts)


async def test_context_request_reads_a_file_that_is_not_open(client: LanguageClient):
    root: Path = client.demo_project  # type: ignore[attr-defined]
    await context_stats(client)
    pos = position_of(CHECKOUT, "cart_total(")
    result = as_data(await client.protocol.send_request_async("offpilot/context", {
        "uri": (root / "shop" / "checkout.py").as_uri(),
        "position": {"line": pos.line, "character": pos.character}}))
    assert "shop/pricing.py" in {s["path"] for s in result["snippets"]}


async def test_context_request_never_reads_a_fifo_or_a_binary(client: LanguageClient):
    root: Path = client.demo_project  # type: ignore[attr-defined]
    await context_stats(client)
    fifo = root / "shop" / "pipe.py"
    os.mkfifo(fifo)  # reading it would block until somebody writes
    binary = root / "shop" / "blob.py"
    binary.write_bytes(b"\0\x01\x02" * 100)
    for path in (fifo, binary, root / "shop" / "missing.py"):
        result = as_data(await asyncio.wait_for(client.protocol.send_request_async(
            "offpilot/context", {"uri": path.as_uri(),
                                 "position": {"line": 0, "character": 0}}), 30))
        assert result["snippets"] == [] and "not a readable source file" in result["message"]
