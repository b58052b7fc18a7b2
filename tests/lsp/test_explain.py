"""Explain and the code actions end to end: the real server over stdio, the real embedded model
(Gemma 3 270M, a tiny base model: what it writes is weak, the pipeline around it is tested)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any, Union

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.lsp.helpers import SERVER, open_document, server_env

CACHE = tempfile.mkdtemp(prefix="offpilot-explain-")  # explanations and index stay out of ~/.cache
EXPLAIN = "offpilot.explain"
GENERATE_TESTS = "offpilot.generateTests"


def explain_capabilities() -> types.ClientCapabilities:
    """An editor with code action literals and tags, work-done progress and showDocument."""
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(
            work_done_progress=True,
            show_document=types.ShowDocumentClientCapabilities(support=True)),
        workspace=types.WorkspaceClientCapabilities(configuration=True, apply_edit=True),
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(
                        value_set=[types.CodeActionKind.Refactor,
                                   types.CodeActionKind.Source])),
                tag_support=types.CodeActionTagOptions(
                    value_set=[types.CodeActionTag.LlmGenerated]))))


def as_data(obj: Any) -> Any:
    """A custom notification's params as plain dicts and lists."""
    if hasattr(obj, "_asdict"):
        obj = obj._asdict()
    if isinstance(obj, dict):
        return {k: as_data(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [as_data(v) for v in obj]
    return obj


def read_code_actions_as_sent(client: LanguageClient) -> None:
    """lsprotocol's client side reads every item with a "command" key as a Command, though a
    CodeAction has one too (an object, where a Command's is a string); read them apart."""
    converter = client.protocol._converter

    def code_action_or_command(obj: Any, _: type) -> types.Command | types.CodeAction:
        kind = types.Command if isinstance(obj.get("command"), str) else types.CodeAction
        return converter.structure(obj, kind)

    converter.register_structure_hook(Union[types.Command, types.CodeAction],  # noqa: UP007
                                      code_action_or_command)


async def start(lsp_client: LanguageClient, demo_project: Path) -> None:
    read_code_actions_as_sent(lsp_client)
    lsp_client.demo_project = demo_project  # type: ignore[attr-defined]
    lsp_client.streamed = []  # type: ignore[attr-defined]

    @lsp_client.feature("offpilot/stream")
    def stream(params: Any) -> None:
        lsp_client.streamed.append(as_data(params))  # type: ignore[attr-defined]

    @lsp_client.feature("offpilot/status")
    def status(params: Any) -> None:
        return None

    lsp_client.init_result = await lsp_client.initialize_session(  # type: ignore[attr-defined]
        types.InitializeParams(
            capabilities=explain_capabilities(), root_uri=demo_project.as_uri(),
            client_info=types.ClientInfo(name="offpilot-tests"),
            workspace_folders=[types.WorkspaceFolder(uri=demo_project.as_uri(), name="demo")]))


def offers_tests(client: LanguageClient) -> bool:
    caps = client.init_result.capabilities  # type: ignore[attr-defined]
    commands = caps.execute_command_provider.commands if caps.execute_command_provider else []
    return GENERATE_TESTS in commands


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=SERVER,
    server_env=server_env(OFFPILOT_CACHE_DIR=CACHE, OFFPILOT_CHAT_MAX_TOKENS="96")))
async def client(lsp_client: LanguageClient, demo_project: Path):
    await start(lsp_client, demo_project)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=SERVER,
    server_env=server_env(OFFPILOT_CACHE_DIR=CACHE,
                          OFFPILOT_MODEL=str(Path(CACHE) / "no-such-model.gguf"))))
async def client_without_model(lsp_client: LanguageClient, demo_project: Path):
    await start(lsp_client, demo_project)
    yield
    await lsp_client.shutdown_session()


def lsp_range(text: str, marker: str, length: int = 0) -> types.Range:
    i = text.index(marker)

    def pos(offset: int) -> types.Position:
        before = text[:offset]
        return types.Position(line=before.count("\n"),
                              character=offset - (before.rfind("\n") + 1))

    return types.Range(start=pos(i), end=pos(i + length))


def as_json(rng: types.Range) -> dict[str, Any]:
    return {"start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character}}


def code_action_params(uri: str, rng: types.Range) -> types.CodeActionParams:
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=rng,
        context=types.CodeActionContext(diagnostics=[]))


async def test_code_actions_for_a_function(client: LanguageClient):
    path: Path = client.demo_project / "shop" / "pricing.py"  # type: ignore[attr-defined]
    text = path.read_text(encoding="utf-8")
    uri = await open_document(client, path)
    cursor = lsp_range(text, "total = 0")  # inside cart_total, nothing selected
    actions = await client.text_document_code_action_async(code_action_params(uri, cursor))
    assert actions is not None
    by_title = {a.title: a for a in actions}
    explain = by_title["Offpilot: Explain this code"]
    assert isinstance(explain, types.CodeAction)
    assert explain.command is not None and explain.command.command == EXPLAIN
    assert list(explain.command.arguments) == [{"uri": uri, "range": as_json(cursor)}]
    assert explain.kind == types.CodeActionKind.Refactor
    assert list(explain.tags or ()) == [types.CodeActionTag.LlmGenerated]
    if not offers_tests(client):  # a build without test generation offers Explain only
        assert list(by_title) == ["Offpilot: Explain this code"]
        return
    assert set(by_title) == {"Offpilot: Explain this code", "Offpilot: Generate unit tests",
                             "Offpilot: Generate tests for this file"}
    tests = by_title["Offpilot: Generate unit tests"].command
    assert tests is not None and tests.command == GENERATE_TESTS
    assert list(tests.arguments) == [{"uri": uri, "range": as_json(cursor), "scope": "symbol"}]
    file_tests = by_title["Offpilot: Generate tests for this file"]
    assert file_tests.command is not None and file_tests.command.command == GENERATE_TESTS
    assert file_tests.command.arguments[0]["scope"] == "file"
    assert file_tests.kind == types.CodeActionKind.Source

    only_source = code_action_params(uri, cursor)
    only_source.context.only = [types.CodeActionKind.Source]
    actions = await client.text_document_code_action_async(only_source)
    assert [a.title for a in actions or []] == ["Offpilot: Generate tests for this file"]


async def test_test_generation_is_offered_for_every_language_it_handles(client: LanguageClient):
    import shutil

    if not offers_tests(client):
        pytest.skip("a build without test generation")
    sources = {
        "slug.js": ("javascript",
                    "export function slug(s) {\n  return s.trim().toLowerCase();\n}\n",
                    shutil.which("node") is not None),
        "area.rs": ("rust", "pub fn area(w: u32, h: u32) -> u32 {\n    w * h\n}\n",
                    shutil.which("cargo") is not None),
        "add.go": ("go", "package add\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n", False),
        "Add.java": ("java",
                     "class Add {\n  static int add(int a, int b) {\n    return a + b;\n  }\n}\n",
                     False),
    }
    for name, (language_id, text, runnable) in sources.items():
        path: Path = client.demo_project / name  # type: ignore[attr-defined]
        path.write_text(text, encoding="utf-8")
        uri = await open_document(client, path, language_id=language_id)
        cursor = lsp_range(text, "return" if "return" in text else "w * h")
        actions = await client.text_document_code_action_async(code_action_params(uri, cursor))
        titles = [a.title for a in actions or []]
        suffix = "" if runnable else " (UNVERIFIED draft)"
        assert "Offpilot: Generate unit tests" + suffix in titles, (name, titles)
        assert "Offpilot: Generate tests for this file" + suffix in titles, (name, titles)
    path = client.demo_project / "notes.txt"  # type: ignore[attr-defined]
    path.write_text("just text\n", encoding="utf-8")
    uri = await open_document(client, path, language_id="plaintext")
    actions = await client.text_document_code_action_async(
        code_action_params(uri, lsp_range("just text\n", "just")))
    assert not any("tests" in a.title for a in actions or [])


async def test_code_actions_on_bad_input_are_empty(client: LanguageClient):
    far = types.Range(start=types.Position(line=100_000, character=5),
                      end=types.Position(line=100_001, character=0))
    missing = (client.demo_project / "nowhere.py").as_uri()  # type: ignore[attr-defined]
    for uri in (missing, "untitled:Untitled-1", "not a uri"):
        result = await client.text_document_code_action_async(code_action_params(uri, far))
        assert result is not None and len(result) == 0  # [], not null, not an error
    path: Path = client.demo_project / "shop" / "pricing.py"  # type: ignore[attr-defined]
    uri = await open_document(client, path)
    result = await client.text_document_code_action_async(code_action_params(uri, far))
    assert result is not None  # positions past the end are clamped, never an error
    stats = await client.protocol.send_request_async("offpilot/stats", None)
    assert stats is not None


@pytest.mark.model
@pytest.mark.slow
async def test_explain_streams_reports_progress_and_writes_markdown(client: LanguageClient):
    root: Path = client.demo_project  # type: ignore[attr-defined]
    path = root / "shop" / "pricing.py"
    text = path.read_text(encoding="utf-8")
    uri = await open_document(client, path)
    token = "explain-test"
    client.progress_reports[token] = []  # a client-made token (no workDoneProgress/create)
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=EXPLAIN, arguments=[{"uri": uri, "range": as_json(lsp_range(text, "total = 0"))}],
        work_done_token=token))
    result = as_data(result)
    markdown = result["markdown"]
    assert markdown.startswith("## `cart_total` (shop/pricing.py:19-25)\n\n")
    assert len(markdown.strip()) > len("## `cart_total` (shop/pricing.py:19-25)")
    assert "<end_of_turn>" not in markdown and "\nUser:" not in markdown
    streamed = [p for p in client.streamed if p.get("token") == token]  # type: ignore[attr-defined]
    assert streamed and "".join(p["delta"] for p in streamed) == markdown
    kinds = [type(v).__name__ for v in client.progress_reports[token]]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
    saved = Path(result["path"])
    assert saved.suffix == ".md" and saved.read_text(encoding="utf-8") == markdown
    deadline = time.monotonic() + 5
    while not client.shown_documents and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    shown = client.shown_documents[-1]
    assert shown.uri == saved.as_uri() and shown.take_focus is False


@pytest.mark.model
@pytest.mark.slow
async def test_cancelled_explain_stops_and_the_server_goes_on(client: LanguageClient):
    root: Path = client.demo_project  # type: ignore[attr-defined]
    path = root / "shop" / "pricing.py"
    text = path.read_text(encoding="utf-8")
    uri = await open_document(client, path)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"offpilot": {"chatMaxTokens": 700}}))
    token = "explain-cancel"
    client.progress_reports[token] = []
    params = types.ExecuteCommandParams(
        command=EXPLAIN, arguments=[{"uri": uri, "range": as_json(lsp_range(text, "total = 0"))}],
        work_done_token=token)
    future = client.protocol.send_request(types.WORKSPACE_EXECUTE_COMMAND, params,
                                          msg_id="cancel-explain")
    deadline = time.monotonic() + 120  # the model loads first
    while not any(p.get("token") == token for p in client.streamed):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "no offpilot/stream notification"
        await asyncio.sleep(0.02)
    # The heading came: generation is starting. Cancel the way an editor does.
    t0 = time.perf_counter()
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-explain"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(asyncio.wrap_future(future), 5)
    assert time.perf_counter() - t0 < 5
    while not any(type(v).__name__ == "WorkDoneProgressEnd"
                  for v in client.progress_reports[token]):
        assert time.perf_counter() - t0 < 5, "the progress did not end"
        await asyncio.sleep(0.02)
    # The model is free again: the chat backend goes back to ready.
    while True:
        stats = as_data(await client.protocol.send_request_async("offpilot/stats", None))
        if stats["models"]["chat"]["state"] != "generating":
            break
        assert time.perf_counter() - t0 < 5, "generation went on after the cancel"
        await asyncio.sleep(0.05)
    pieces = len(client.streamed)  # type: ignore[attr-defined]
    await asyncio.sleep(0.5)
    assert len(client.streamed) == pieces  # type: ignore[attr-defined]
    actions = await client.text_document_code_action_async(
        code_action_params(uri, lsp_range(text, "total = 0")))
    assert actions


async def test_explain_of_an_unknown_file_is_an_error_not_a_crash(client: LanguageClient):
    missing = (client.demo_project / "nowhere.py").as_uri()  # type: ignore[attr-defined]
    rng = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}
    with pytest.raises(JsonRpcException, match="cannot read"):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=EXPLAIN, arguments=[{"uri": missing, "range": rng}]))
    with pytest.raises(JsonRpcException, match="expected the arguments"):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=EXPLAIN, arguments=["not a target"]))
    assert await client.protocol.send_request_async("offpilot/stats", None) is not None


async def test_explain_without_a_model_says_what_to_do(client_without_model: LanguageClient):
    client = client_without_model
    path: Path = client.demo_project / "shop" / "pricing.py"  # type: ignore[attr-defined]
    text = path.read_text(encoding="utf-8")
    uri = await open_document(client, path)
    with pytest.raises(JsonRpcException, match=r"offpilot\.chatModel"):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=EXPLAIN,
            arguments=[{"uri": uri, "range": as_json(lsp_range(text, "total = 0"))}]))
    assert await client.protocol.send_request_async("offpilot/stats", None) is not None
