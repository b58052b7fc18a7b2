"""Documentation end to end: the real server over stdio, the real embedded model (Gemma 3 270M).

The client applies ``workspace/applyEdit`` and quick-fix edits to disk, as an editor would. What
is checked is what Offpilot promises whatever the model writes: the file still parses, its code
is unchanged (its AST without docstrings is identical), every parameter is documented and no
other, Returns and Raises follow the code.
"""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from offpilot.cli.demo import apply_workspace_edit
from offpilot.features.docs.checks import check_source
from offpilot.features.docs.styles import parse_docstring
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcRequestCancelled
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.lsp.helpers import SERVER, open_document, server_env
from tests.lsp.test_explain import explain_capabilities, read_code_actions_as_sent

GENERATE_DOCS = "offpilot.generateDocs"

SAMPLE = '''"""Cart operations."""


def add_item(cart: dict, sku: str, quantity: int = 1) -> int:
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    cart[sku] = cart.get(sku, 0) + quantity
    return cart[sku]


def remove(cart: dict, sku: str) -> None:
    """Remove a line from the cart.

    Args:
        cart: The cart.
        item: The line to remove.
    """
    cart.pop(sku, None)
'''


def without_docstrings(source: str) -> str:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=server_env()))
async def client(lsp_client: LanguageClient, demo_project: Path):
    read_code_actions_as_sent(lsp_client)
    lsp_client.demo_project = demo_project  # type: ignore[attr-defined]
    lsp_client.edits = []  # type: ignore[attr-defined]
    lsp_client.streamed = []  # type: ignore[attr-defined]

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        lsp_client.edits.append(params.edit)  # type: ignore[attr-defined]
        try:
            apply_workspace_edit(demo_project, params.edit)
        except Exception as exc:
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason=str(exc))
        return types.ApplyWorkspaceEditResult(applied=True)

    @lsp_client.feature("offpilot/stream")
    def stream(params: Any) -> None:
        lsp_client.streamed.append(params)  # type: ignore[attr-defined]

    @lsp_client.feature("offpilot/status")
    def status(params: Any) -> None:
        return None

    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=explain_capabilities(), root_uri=demo_project.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=demo_project.as_uri(), name="demo")]))
    yield
    await lsp_client.shutdown_session()


def at(text: str, marker: str) -> types.Range:
    i = text.index(marker)
    before = text[:i]
    pos = types.Position(line=before.count("\n"), character=i - (before.rfind("\n") + 1))
    return types.Range(start=pos, end=pos)


async def diagnostics_for(client: LanguageClient, uri: str, timeout: float = 10.0
                          ) -> list[types.Diagnostic]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = client.diagnostics.get(uri)
        if found is not None:
            return list(found)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no diagnostics published for {uri}")


def actions_params(uri: str, rng: types.Range, diagnostics: list[types.Diagnostic]
                   ) -> types.CodeActionParams:
    return types.CodeActionParams(text_document=types.TextDocumentIdentifier(uri=uri), range=rng,
                                  context=types.CodeActionContext(diagnostics=diagnostics))


async def test_parameter_mismatch_diagnostic_and_quick_fix(client: LanguageClient):
    path: Path = client.demo_project / "shop" / "cart_ops.py"  # type: ignore[attr-defined]
    path.write_text(SAMPLE, encoding="utf-8")
    uri = await open_document(client, path)
    found = await diagnostics_for(client, uri)
    assert len(found) == 1
    diag = found[0]
    assert diag.source == "offpilot" and diag.code == "doc-params"
    assert diag.severity == types.DiagnosticSeverity.Information
    assert "`sku`" in diag.message and "`item`" in diag.message
    assert diag.range.start.line == SAMPLE[:SAMPLE.index('    """Remove')].count("\n")

    actions = await client.text_document_code_action_async(
        actions_params(uri, diag.range, [diag]))
    by_title = {a.title: a for a in actions or []}
    fix = by_title["Offpilot: Update documentation"]
    assert isinstance(fix, types.CodeAction) and fix.kind == types.CodeActionKind.QuickFix
    assert list(fix.diagnostics or ()) == [diag] and fix.edit is not None
    assert "Offpilot: Generate documentation" not in by_title  # remove has a docstring
    apply_workspace_edit(client.demo_project, fix.edit)  # type: ignore[attr-defined]
    fixed = path.read_text(encoding="utf-8")
    assert without_docstrings(fixed) == without_docstrings(SAMPLE)
    assert check_source(fixed) == []
    doc = ast.get_docstring(ast.parse(fixed).body[2]) or ""
    assert "cart: The cart." in doc and "sku: TODO" in doc and "item" not in doc

    # the editor sends the fixed text: the diagnostic goes away
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)]))
    for _ in range(100):
        if not client.diagnostics.get(uri):
            break
        await asyncio.sleep(0.05)
    assert list(client.diagnostics.get(uri, [None])) == []


@pytest.mark.model
@pytest.mark.slow
async def test_generate_documentation_inserts_a_checked_docstring(client: LanguageClient):
    path: Path = client.demo_project / "shop" / "cart_ops.py"  # type: ignore[attr-defined]
    path.write_text(SAMPLE, encoding="utf-8")
    uri = await open_document(client, path)
    cursor = at(SAMPLE, "cart[sku] = ")
    actions = await client.text_document_code_action_async(actions_params(uri, cursor, []))
    by_title = {a.title: a for a in actions or []}
    action = by_title["Offpilot: Generate documentation"]
    assert isinstance(action, types.CodeAction)
    assert action.kind == types.CodeActionKind.RefactorRewrite
    assert action.edit is None and action.command is not None  # the model runs when chosen
    assert action.command.command == GENERATE_DOCS

    token = "docs-test"
    client.progress_reports[token] = []
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=GENERATE_DOCS, arguments=action.command.arguments, work_done_token=token))
    assert result is not None
    result = result if isinstance(result, dict) else result._asdict()
    assert result["applied"] is True, result
    assert result["parameters"] == ["cart", "sku", "quantity"]
    assert len(client.edits) == 1  # type: ignore[attr-defined]
    kinds = [type(v).__name__ for v in client.progress_reports[token]]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"

    written = path.read_text(encoding="utf-8")
    assert without_docstrings(written) == without_docstrings(SAMPLE)  # the code is unchanged
    fn = ast.parse(written).body[1]
    assert isinstance(fn, ast.FunctionDef) and fn.name == "add_item"
    doc = ast.get_docstring(fn, clean=False)
    assert doc
    parsed = parse_docstring(doc)
    assert parsed.names == ["cart", "sku", "quantity"]  # every parameter, no other
    assert parsed.returns  # add_item returns a value
    assert list(parsed.raises) == ["ValueError"]
    assert parsed.raises["ValueError"] == "quantity must be positive."
    assert '    """' in written.split("def add_item", 1)[1].split("\n")[1]  # body indentation

    # the same place again: it has a docstring now, so there is nothing to generate
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=written)]))
    with pytest.raises(JsonRpcInvalidParams):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=GENERATE_DOCS, arguments=[{"uri": uri, "position": {
                "line": cursor.start.line, "character": 4}}]))


async def test_generate_documentation_rejects_bad_arguments(client: LanguageClient):
    for args in ([], [{"uri": 3}], [{"uri": "file:///nowhere.py", "position": {"line": 0,
                                                                              "character": 0}}]):
        with pytest.raises(JsonRpcInvalidParams):
            await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command=GENERATE_DOCS, arguments=args))
    stats = await client.protocol.send_request_async("offpilot/stats", None)
    assert stats is not None  # the server is still there


@pytest.mark.model
@pytest.mark.slow
async def test_cancelled_generation_writes_nothing(client: LanguageClient):
    path: Path = client.demo_project / "shop" / "cart_ops.py"  # type: ignore[attr-defined]
    path.write_text(SAMPLE, encoding="utf-8")
    uri = await open_document(client, path)
    cursor = at(SAMPLE, "cart[sku] = ")
    token = "docs-cancel"
    client.progress_reports[token] = []
    params = types.ExecuteCommandParams(
        command=GENERATE_DOCS, arguments=[{"uri": uri, "position": {
            "line": cursor.start.line, "character": cursor.start.character}}],
        work_done_token=token)
    future = client.protocol.send_request(types.WORKSPACE_EXECUTE_COMMAND, params,
                                          msg_id="cancel-docs")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120  # the model loads first
    while not any(_token(p) == token for p in client.streamed):  # type: ignore[attr-defined]
        assert loop.time() < deadline, "no offpilot/stream notification"
        await asyncio.sleep(0.02)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-docs"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(asyncio.wrap_future(future), 10)
    await asyncio.sleep(0.5)
    assert client.edits == []  # type: ignore[attr-defined]
    assert path.read_text(encoding="utf-8") == SAMPLE
    assert any(type(v).__name__ == "WorkDoneProgressEnd" for v in client.progress_reports[token])


def _token(params: Any) -> Any:
    return params.get("token") if isinstance(params, dict) else getattr(params, "token", None)


TOOLS = '''"""Text helpers."""


def initials(full_name: str) -> str:
    return "".join(word[0].upper() for word in full_name.split())
'''


async def _generate(client: LanguageClient, path: Path, source: str, marker: str
                    ) -> dict[str, Any]:
    path.write_text(source, encoding="utf-8")
    uri = await open_document(client, path)
    actions = await client.text_document_code_action_async(
        actions_params(uri, at(source, marker), []))
    action = {a.title: a for a in actions or []}["Offpilot: Generate documentation"]
    assert isinstance(action, types.CodeAction) and action.command is not None
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=GENERATE_DOCS, arguments=action.command.arguments))
    assert result is not None
    return result if isinstance(result, dict) else result._asdict()


@pytest.mark.model
@pytest.mark.slow
async def test_generated_examples_pass_doctest_on_the_written_file(client: LanguageClient):
    path: Path = client.demo_project / "shop" / "text_tools.py"  # type: ignore[attr-defined]
    result = await _generate(client, path, TOOLS, "return ")
    assert result["applied"] is True, result
    assert result["examples"] >= 1 and result["notes"] == [], result
    written = path.read_text(encoding="utf-8")
    assert without_docstrings(written) == without_docstrings(TOOLS)  # the code is unchanged
    assert "    Examples:\n        >>> initials(" in written
    done = subprocess.run([sys.executable, "-m", "doctest", "-v", path.name], cwd=path.parent,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"{result['examples']} passed and 0 failed" in done.stdout


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=server_env()))
async def untrusted(lsp_client: LanguageClient, demo_project: Path):
    read_code_actions_as_sent(lsp_client)
    lsp_client.demo_project = demo_project  # type: ignore[attr-defined]

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        apply_workspace_edit(demo_project, params.edit)
        return types.ApplyWorkspaceEditResult(applied=True)

    for method in ("offpilot/stream", "offpilot/status"):
        lsp_client.feature(method)(lambda params: None)
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=explain_capabilities(), root_uri=demo_project.as_uri(),
        initialization_options={"workspaceTrusted": False},
        workspace_folders=[types.WorkspaceFolder(uri=demo_project.as_uri(), name="demo")]))
    yield
    await lsp_client.shutdown_session()


@pytest.mark.model
@pytest.mark.slow
async def test_no_examples_are_recorded_in_an_untrusted_workspace(untrusted: LanguageClient,
                                                                 tmp_path: Path):
    canary = tmp_path / "import.canary"  # importing the module writes it
    source = f"import pathlib\npathlib.Path({str(canary)!r}).write_text('ran')\n\n" + TOOLS
    path: Path = untrusted.demo_project / "shop" / "trap.py"  # type: ignore[attr-defined]
    result = await _generate(untrusted, path, source, "return ")
    assert result["applied"] is True, result
    assert result["examples"] == 0
    assert any("not trusted" in n for n in result["notes"]), result
    assert ">>>" not in path.read_text(encoding="utf-8")
    assert not canary.exists()
    done = subprocess.run([sys.executable, "-c", "import trap"], cwd=path.parent, timeout=60)
    assert done.returncode == 0 and canary.exists()  # the trap works when run


@pytest.mark.model
@pytest.mark.slow
def test_offpilot_docs_cli_writes_examples_that_pass_doctest(tmp_path: Path):
    path = tmp_path / "text_tools.py"
    path.write_text(TOOLS, encoding="utf-8")

    def docs(*flags: str) -> tuple[dict[str, Any], str]:
        run = subprocess.run([sys.executable, "-m", "offpilot", "docs", f"{path}:initials",
                              "--json", *flags], capture_output=True, text=True, timeout=600,
                             env=server_env())
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout.splitlines()[0]), run.stderr

    dry, err = docs("--dry-run")  # runs nothing: no examples, the file unchanged
    assert dry["examples"] == 0 and "--dry-run runs nothing" in " ".join(dry["notes"]), err
    assert ">>>" not in dry["docstring"] and path.read_text(encoding="utf-8") == TOOLS
    plain, _ = docs("--no-examples")
    assert plain["examples"] == 0 and plain["notes"] == [] and ">>>" not in plain["docstring"]
    path.write_text(TOOLS, encoding="utf-8")
    answer, err = docs()
    assert answer["examples"] >= 1 and ">>> initials(" in answer["docstring"], err
    assert ">>> initials(" in path.read_text(encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "doctest", "-v", path.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert f"{answer['examples']} passed and 0 failed" in done.stdout
