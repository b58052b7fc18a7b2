"""offpilot.generateTests end to end: the real server over stdio, the real embedded model.

The client applies ``workspace/applyEdit`` to disk, as an editor would; the test file it gets
must pass pytest in a clean subprocess. Cancelling mid-generation leaves no file behind.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from offpilot.cli.demo import apply_workspace_edit
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcRequestCancelled
from pygls.uris import to_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.lsp.helpers import SERVER, open_document, server_env

pytestmark = [pytest.mark.model, pytest.mark.slow]


def _capabilities() -> types.ClientCapabilities:
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=types.WorkspaceClientCapabilities(
            configuration=True, apply_edit=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(
                document_changes=True,
                resource_operations=[types.ResourceOperationKind.Create])))


def _path(root: Path, uri: str) -> Path:
    path = Path(to_fs_path(uri) or "").resolve()
    assert root.resolve() in path.parents, f"edit outside the project: {path}"
    return path


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER,
                                              server_env=server_env()))
async def client(lsp_client: LanguageClient, demo_project: Path):
    lsp_client.demo_project = demo_project  # type: ignore[attr-defined]
    lsp_client.edits = []  # type: ignore[attr-defined]

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        lsp_client.edits.append(params.edit)  # type: ignore[attr-defined]
        try:
            apply_workspace_edit(demo_project, params.edit)
        except Exception as exc:
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason=str(exc))
        return types.ApplyWorkspaceEditResult(applied=True)

    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=_capabilities(), root_uri=demo_project.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=demo_project.as_uri(), name="demo")]))
    yield
    await lsp_client.shutdown_session()


def _range_of(text: str, name: str) -> dict[str, Any]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {name}("))
    end = start + 1
    while end < len(lines) and (not lines[end] or lines[end].startswith((" ", "\t"))):
        end += 1
    return {"start": {"line": start, "character": 0},
            "end": {"line": end - 1, "character": 0}}


def _field(result: Any, key: str) -> Any:
    return result.get(key) if isinstance(result, dict) else getattr(result, key, None)


def _clean_pytest(project: Path, test_file: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OFFPILOT_", "PYTEST_", "PYTHONPATH"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(test_file.relative_to(project))], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


async def test_generates_passing_tests_for_slugify(client: LanguageClient):
    root: Path = client.demo_project  # type: ignore[attr-defined]
    source = root / "shop" / "text.py"
    text = source.read_text(encoding="utf-8")
    uri = await open_document(client, source)
    token = "tests-slugify"
    client.progress_reports[token] = []
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="offpilot.generateTests",
        arguments=[{"uri": uri, "range": _range_of(text, "slugify"), "scope": "symbol"}],
        work_done_token=token))
    assert _field(result, "kept") >= 1, _field(result, "summary")
    assert isinstance(_field(result, "summary"), str)
    assert _field(result, "failing") >= 0 and _field(result, "unverified") == 0
    test_file = _path(root, _field(result, "testFile"))
    assert test_file == (root / "tests" / "test_text.py").resolve()
    written = test_file.read_text(encoding="utf-8")
    assert "from shop.text import slugify" in written
    assert "def test_slugify_" in written
    assert client.edits, "the file must come through workspace/applyEdit"  # type: ignore
    kinds = [type(v).__name__ for v in client.progress_reports[token]]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
    run = _clean_pytest(root, test_file)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{_field(result, 'kept')} passed" in run.stdout


async def test_appends_to_an_existing_test_file_without_touching_its_tests(
        client: LanguageClient):
    root: Path = client.demo_project  # type: ignore[attr-defined]
    existing = root / "tests" / "test_models.py"
    before = existing.read_text(encoding="utf-8")
    uri = await open_document(client, root / "shop" / "models.py")
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="offpilot.generateTests", arguments=[{"uri": uri, "range": None,
                                                      "scope": "file"}]))
    assert _field(result, "kept") >= 1, _field(result, "summary")
    after = existing.read_text(encoding="utf-8")
    assert after.startswith(before.rstrip("\n"))
    for name in ("test_add_counts_quantities", "test_add_rejects_zero_quantity"):
        assert f"def {name}():" in after
    run = _clean_pytest(root, existing)
    assert run.returncode == 0, run.stdout + run.stderr


def _sandbox_processes() -> list[str]:
    """Command lines of running processes that belong to a test sandbox."""
    out = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "offpilot-sandbox-" in cmdline:
            out.append(cmdline)
    return out


async def test_cancelling_leaves_no_partial_file(client: LanguageClient):
    root: Path = client.demo_project  # type: ignore[attr-defined]
    source = root / "shop" / "slow.py"
    source.write_text('"""A slow function."""\n\nimport time\n\n\n'
                      'def wait_and_double(n: int) -> int:\n    time.sleep(1.5)\n'
                      '    return 2 * n\n', encoding="utf-8")
    uri = await open_document(client, source)
    token = "tests-cancel"
    client.progress_reports[token] = []
    future = client.protocol.send_request(
        types.WORKSPACE_EXECUTE_COMMAND, types.ExecuteCommandParams(
            command="offpilot.generateTests",
            arguments=[{"uri": uri, "range": None, "scope": "file"}], work_done_token=token),
        msg_id="cancel-tests")

    def stage() -> str:
        return " ".join(str(getattr(v, "message", "") or "")
                        for v in client.progress_reports[token])

    for _ in range(1200):  # cancel while the sandbox runs the (slow) calls
        if "recording" in stage():
            break
        await asyncio.sleep(0.1)
    assert "recording" in stage(), stage()
    await asyncio.sleep(1.0)
    assert _sandbox_processes(), "the calls should be running in the sandbox now"
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-tests"))
    try:
        answer = await asyncio.wait_for(asyncio.wrap_future(future), 30)
    except JsonRpcRequestCancelled:
        answer = None
    assert answer is None, f"finished before the cancel arrived: {answer}"
    await asyncio.sleep(0.5)
    assert not _sandbox_processes(), "sandboxed processes survived the cancel"
    assert not (root / "tests" / "test_slow.py").exists()
    assert not client.edits  # type: ignore[attr-defined]
    # the server is still there and answers
    with pytest.raises(JsonRpcInvalidParams):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="offpilot.generateTests", arguments=[{"uri": "untitled:x"}]))


async def test_bad_arguments_get_clear_errors(client: LanguageClient):
    root: Path = client.demo_project  # type: ignore[attr-defined]
    for args, words in (([], "expected one argument"),
                        ([{"uri": 3}], "file: URI"),
                        ([{"uri": (root / "shop" / "text.py").as_uri(), "scope": "all"}],
                         "scope"),
                        ([{"uri": Path("/etc/hostname").as_uri()}], "outside the workspace"),
                        ([{"uri": (root / "README.md").as_uri()}], "generates tests for")):
        with pytest.raises(JsonRpcInvalidParams) as err:
            await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="offpilot.generateTests", arguments=args))
        assert words in str(err.value), (args, str(err.value))
