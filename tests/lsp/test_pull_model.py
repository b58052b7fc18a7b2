"""offpilot.pullModel over LSP: a real server downloads a real GGUF from a local HTTP hub.

The hub is the one of tests/unit/engine/test_download.py (a real HTTP server on loopback serving
the embedded Gemma file the way the Hugging Face hub does); the server finds it through
HF_ENDPOINT, as huggingface_hub does.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

from tests.unit.engine.test_download import REPO, FakeHub, make_handler

FILE = "gemma-3-270m-q4_k_m.gguf"


@pytest.fixture
def hub_url(gemma_path: Path):
    data = gemma_path.read_bytes()
    hub = FakeHub({FILE: data}, {FILE: hashlib.sha256(data).hexdigest()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(hub))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def start(tmp_path: Path, hub_url: str) -> tuple[LanguageClient, list[Any]]:
    client = LanguageClient("pull-test", "1")
    reports: list[Any] = []

    @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def create(params: types.WorkDoneProgressCreateParams) -> None:
        return None

    @client.feature(types.PROGRESS)
    def progress(params: types.ProgressParams) -> None:
        reports.append(params.value)

    for method in ("offpilot/status", "window/showMessage", "window/logMessage"):
        client.feature(method)(lambda params: None)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFPILOT_", "HF_"))}
    env.update({"HF_ENDPOINT": hub_url, "OFFPILOT_MODELS_DIR": str(tmp_path / "store"),
                "OFFPILOT_INDEX_ENABLED": "false", "OFFPILOT_COMPLETIONS_ENABLED": "false",
                "HF_HUB_DISABLE_TELEMETRY": "1"})
    await client.start_io(sys.executable, "-m", "offpilot", "serve", env=env)
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True)),
        root_uri=tmp_path.as_uri()))
    client.initialized(types.InitializedParams())
    return client, reports


async def stop(client: LanguageClient) -> None:
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


@pytest.mark.slow
async def test_pull_model_downloads_with_progress(tmp_path: Path, hub_url: str,
                                                  gemma_path: Path):
    client, reports = await start(tmp_path, hub_url)
    try:
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="offpilot.pullModel", arguments=[{"name": f"{REPO}/{FILE}"}],
            work_done_token="pull-1"))
        path = Path(result["path"])
        assert path.is_file() and path.is_relative_to(tmp_path / "store")
        assert path.read_bytes() == gemma_path.read_bytes()
        kinds = [getattr(r, "kind", None) or r.get("kind") for r in reports]
        assert kinds[0] == "begin" and kinds[-1] == "end"
        percentages = [getattr(r, "percentage", None) if not isinstance(r, dict)
                       else r.get("percentage") for r in reports]
        assert 100 in percentages  # the last report before the end says the file is complete

        # an unknown name is a clear error, and the server goes on
        with pytest.raises(JsonRpcException, match=r"unknown|not found|RepoNotFound|404"):
            await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="offpilot.pullModel", arguments=[{"name": "test-org/nope/x.gguf"}]))
        with pytest.raises(JsonRpcException, match="name"):
            await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="offpilot.pullModel", arguments=[{"name": 3}]))
        stats = await client.protocol.send_request_async("offpilot/stats", None)
        assert stats is not None
    finally:
        await stop(client)
