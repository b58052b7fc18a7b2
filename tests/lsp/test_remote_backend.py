"""The language server against a real OpenAI-compatible endpoint: llama-cpp-python's own server
(``python -m llama_cpp.server``) running the embedded Gemma model on loopback.

The same requests as the in-process tests (inline completion, Explain) go through the same
prompts and post-processing; only the backend differs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from tests.lsp.helpers import capabilities, open_document, position_of
from tests.lsp.test_inline_completion import TEXT, completion_params
from tests.unit.engine.test_remote import llama_cpp_server

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def endpoint(gemma_path: Path):
    with llama_cpp_server(gemma_path, "gemma-3-270m") as url:
        yield url


async def start(project: Path, endpoint: str) -> tuple[LanguageClient, list[str]]:
    client = LanguageClient("remote-test", "1")
    streamed: list[str] = []

    @client.feature("offpilot/stream")
    def stream(params: Any) -> None:
        delta = params.get("delta") if isinstance(params, dict) else getattr(params, "delta", "")
        streamed.append(delta or "")

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def configuration(params: types.ConfigurationParams) -> list[Any]:
        return [{} for _ in params.items]

    for method in ("offpilot/status", types.WINDOW_SHOW_MESSAGE, types.WINDOW_LOG_MESSAGE,
                   types.PROGRESS, types.WINDOW_WORK_DONE_PROGRESS_CREATE):
        client.feature(method)(lambda params: None)

    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFPILOT_")}
    env.update({"OFFPILOT_BACKEND": "openai", "OFFPILOT_ENDPOINT": endpoint,
                "OFFPILOT_REMOTE_MODEL": "gemma-3-270m", "OFFPILOT_INDEX_ENABLED": "false"})
    await client.start_io(sys.executable, "-m", "offpilot", "serve", env=env)
    await client.initialize_async(types.InitializeParams(
        capabilities=capabilities(), root_uri=project.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=project.as_uri(), name="demo")]))
    client.initialized(types.InitializedParams())
    return client, streamed


async def test_completion_and_explain_through_an_openai_compatible_server(
        demo_project: Path, endpoint: str):
    client, streamed = await start(demo_project, endpoint)
    try:
        path = demo_project / "shapes.py"
        path.write_text(TEXT, encoding="utf-8")
        uri = await open_document(client, path)
        pos = position_of(TEXT, "    return ")
        result = await client.text_document_inline_completion_async(completion_params(uri, pos))
        assert result is not None and len(result.items) >= 1
        text = result.items[0].insert_text
        assert isinstance(text, str) and text.strip()
        assert "print(area_of_square(2))" not in text

        stats = await client.protocol.send_request_async("offpilot/stats", None)
        models = stats["models"] if isinstance(stats, dict) else stats.models
        assert "openai" in str(models)  # the completion went to the endpoint

        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="offpilot.explain", arguments=[{"uri": uri, "range": {
                "start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 4}}}],
            work_done_token="explain-remote"))
        markdown = result["markdown"] if isinstance(result, dict) else result.markdown
        assert markdown.startswith("## `area_of_square`")
        assert "".join(streamed) == markdown
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
