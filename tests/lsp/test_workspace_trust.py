"""An untrusted workspace over real LSP: ``offpilot.generateTests`` runs none of its code.

The real server over stdio, told the workspace is not trusted the two ways an editor can: in
``initializationOptions`` (as VS Code does in Restricted Mode) or in the ``offpilot`` section of
``workspace/configuration`` (a Neovim user's ``settings``). The workspace is a trap: importing
its module, or running its ``.venv`` python (also named by ``pythonPath``), writes a canary
file outside it. The control shows the canaries fire when run. No model is configured (a path
that does not exist), so the tests come from the docstring's claims.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from offpilot.cli.demo import apply_workspace_edit
from pygls.lsp.client import LanguageClient
from pygls.uris import to_fs_path

from tests.lsp.helpers import open_document

SHOUT = '''

def shout(text: str) -> str:
    """Upper case with an exclamation mark.

    >>> shout("hi")
    'HI!'
    """
    return text.upper() + "!"
'''


def trap(tmp: Path) -> tuple[Path, list[Path]]:
    canaries = [tmp / "import.canary", tmp / "venv.canary"]
    root = tmp / "downloaded"
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "words.py").write_text(
        f"import pathlib\npathlib.Path({str(canaries[0])!r}).write_text('ran')\n" + SHOUT)
    python = root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\necho ran > '{canaries[1]}'\nexec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    return root, canaries


async def start(root: Path, init: dict[str, Any], section: dict[str, Any],
                messages: list[str]) -> LanguageClient:
    client = LanguageClient("trust-test", "1")

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def configuration(params: types.ConfigurationParams) -> list[Any]:
        return [section for _ in params.items]

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        apply_workspace_edit(root, params.edit)
        return types.ApplyWorkspaceEditResult(applied=True)

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def show(params: types.ShowMessageParams) -> None:
        messages.append(params.message)

    for method in ("offpilot/status", types.WINDOW_LOG_MESSAGE, types.PROGRESS,
                   types.WINDOW_WORK_DONE_PROGRESS_CREATE):
        client.feature(method)(lambda params: None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFPILOT_")}
    env.update({"OFFPILOT_INDEX_ENABLED": "false", "OFFPILOT_COMPLETIONS_ENABLED": "false",
                "OFFPILOT_MODEL": str(root.parent / "no-such-model.gguf")})
    await client.start_io(sys.executable, "-m", "offpilot", "serve", env=env)
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True),
            workspace=types.WorkspaceClientCapabilities(
                configuration=True, apply_edit=True,
                workspace_edit=types.WorkspaceEditClientCapabilities(
                    document_changes=True,
                    resource_operations=[types.ResourceOperationKind.Create]))),
        root_uri=root.as_uri(), initialization_options=init,
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="downloaded")]))
    client.initialized(types.InitializedParams())
    return client


def _field(result: Any, key: str) -> Any:
    return result.get(key) if isinstance(result, dict) else getattr(result, key, None)


def test_the_canaries_fire_when_run(tmp_path: Path):
    root, canaries = trap(tmp_path)
    subprocess.run([str(root / ".venv" / "bin" / "python"), "-c", "import pkg.words"],
                   cwd=root, check=True, timeout=60)
    assert all(c.exists() for c in canaries)


@pytest.mark.parametrize("how", ["initializationOptions", "workspace/configuration"])
async def test_generate_tests_in_an_untrusted_workspace_runs_nothing(tmp_path: Path, how: str):
    root, canaries = trap(tmp_path)
    python = str(root / ".venv" / "bin" / "python")
    if how == "initializationOptions":
        # the workspace's configuration claims trust: the editor's "false" still wins
        init = {"workspaceTrusted": False, "pythonPath": python}
        section = {"workspaceTrusted": True, "pythonPath": python}
    else:
        init = {"pythonPath": python}
        section = {"workspaceTrusted": False}
    messages: list[str] = []
    client = await start(root, init, section, messages)
    try:
        source = root / "pkg" / "words.py"
        uri = await open_document(client, source)
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="offpilot.generateTests",
            arguments=[{"uri": uri, "range": None, "scope": "file"}]))
        summary = _field(result, "summary")
        assert [c.name for c in canaries if c.exists()] == [], summary
        assert _field(result, "workspaceTrusted") is False
        assert _field(result, "verified") is False and _field(result, "kept") == 0
        assert "This workspace is not trusted, so Offpilot ran none of its code" in summary
        assert "Trust the workspace to let Offpilot run the tests" in summary
        assert _field(result, "unverified") == 1, summary
        test_file = Path(to_fs_path(_field(result, "testFile")) or "")
        assert root in test_file.parents, test_file
        written = test_file.read_text(encoding="utf-8")
        assert "# UNVERIFIED" in written and "assert shout('hi') == 'HI!'" in written
        assert [c.name for c in canaries if c.exists()] == []
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
