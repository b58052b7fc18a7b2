"""A real Offpilot server over stdio, driven by pytest-lsp's client."""

from __future__ import annotations

from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.lsp.helpers import SERVER, capabilities, server_env


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=server_env()))
async def client(lsp_client: LanguageClient, demo_project: Path):
    lsp_client.demo_project = demo_project  # type: ignore[attr-defined]
    lsp_client.init_result = await lsp_client.initialize_session(  # type: ignore[attr-defined]
        types.InitializeParams(
        capabilities=capabilities(), root_uri=demo_project.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=demo_project.as_uri(), name="demo")]))
    yield
    await lsp_client.shutdown_session()
