"""`offpilot models use` is remembered: the next `offpilot serve` completes with that model.

A real server over stdio, the user config file in a private XDG_CONFIG_HOME (see
tests/conftest.py), the model pulled from the local HTTP hub of tests/unit/engine/test_download.py
into a private store, so it is a different file from the embedded default.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import threading
import tomllib
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from tests.lsp.helpers import open_document, position_of
from tests.unit.engine.test_download import REPO, FakeHub, make_handler

pytestmark = [pytest.mark.model, pytest.mark.slow]

FILE = "gemma-3-270m-q4_k_m.gguf"
MODEL = f"{REPO}/{FILE}"
TEXT = 'def greet(name: str) -> str:\n    """Say hello."""\n    return \n'


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


def offpilot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "offpilot", *args], capture_output=True,
                          text=True, timeout=300, env=env)


async def test_models_use_then_serve_completes_with_that_model(
        tmp_path: Path, hub_url: str, private_user_config: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFPILOT_", "HF_"))}
    env.update({"HF_ENDPOINT": hub_url, "OFFPILOT_MODELS_DIR": str(tmp_path / "store"),
                "HF_HUB_DISABLE_TELEMETRY": "1", "OFFPILOT_THREADS": "2",
                "OFFPILOT_CONTEXT_SIZE": "1024", "OFFPILOT_INDEX_ENABLED": "false"})
    pulled = offpilot(env, "models", "pull", MODEL)
    assert pulled.returncode == 0, pulled.stderr
    stored = Path(pulled.stdout.strip())
    assert stored.is_relative_to(tmp_path / "store")

    used = offpilot(env, "models", "use", MODEL)
    assert used.returncode == 0, used.stderr
    assert tomllib.loads(private_user_config.read_text(encoding="utf-8")) == {"model": MODEL}
    shown = json.loads(offpilot(env, "config", "--json").stdout)
    assert shown["configFile"] == str(private_user_config)
    assert shown["settings"]["model"] == {"value": MODEL, "source": "config file"}

    client = LanguageClient("user-config-test", "1")
    for method in ("offpilot/status", "window/showMessage", "window/logMessage",
                   types.WINDOW_WORK_DONE_PROGRESS_CREATE, types.PROGRESS):
        client.feature(method)(lambda params: None)
    log = tmp_path / "server.log"
    await client.start_io(sys.executable, "-m", "offpilot", "serve", "--log-file", str(log),
                          env=env)
    try:
        await asyncio.wait_for(client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=tmp_path.as_uri())), 60)
        client.initialized(types.InitializedParams())
        path = tmp_path / "greet.py"
        path.write_text(TEXT, encoding="utf-8")
        uri = await open_document(client, path)
        result = await asyncio.wait_for(client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=position_of(TEXT, "    return "),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked))), 240)
        # (what the small model writes there may be cut to nothing: the model's use is shown
        # by the stats below, not by the text)
        assert result is not None
        stats: Any = await asyncio.wait_for(
            client.protocol.send_request_async("offpilot/stats", None), 60)
        calls = stats["completion"]["modelCalls"] if isinstance(stats, dict) else \
            stats.completion.modelCalls
        assert calls >= 1
        completion = stats["models"]["completion"] if isinstance(stats, dict) else \
            stats.models.completion
        get = completion.get if isinstance(completion, dict) else \
            lambda k: getattr(completion, k)
        assert get("model") == MODEL
        assert Path(get("path")) == stored
        assert get("loaded") is True
        await asyncio.wait_for(client.shutdown_async(None), 60)
        client.exit(None)
    except BaseException:
        print(log.read_text(encoding="utf-8", errors="replace")[-6000:] if log.exists() else "")
        raise
    finally:
        await asyncio.wait_for(client.stop(), 30)
