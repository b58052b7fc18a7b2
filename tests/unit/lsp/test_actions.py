"""The code action and explain glue on a real server object, without a client or a model:
argument checks, which actions are offered to which client, and when showDocument is used."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from offpilot.lsp.actions import (
    EXPLAIN_COMMAND,
    EXPLAIN_TITLE,
    FILE_TESTS_TITLE,
    GENERATE_TESTS_COMMAND,
    TESTS_TITLE,
    client_shows_documents,
    code_actions,
    read_target_argument,
)
from offpilot.lsp.server import OffpilotServer, create_server

PRICING = Path(__file__).resolve().parents[3] / "examples" / "demo-project" / "shop" / "pricing.py"


def literal_support(tags: bool = False) -> types.CodeActionClientCapabilities:
    return types.CodeActionClientCapabilities(
        code_action_literal_support=types.ClientCodeActionLiteralOptions(
            code_action_kind=types.ClientCodeActionKindOptions(
                value_set=[types.CodeActionKind.Refactor, types.CodeActionKind.Source])),
        tag_support=types.CodeActionTagOptions(value_set=[types.CodeActionTag.LlmGenerated])
        if tags else None)


def server_for(code_action: types.CodeActionClientCapabilities | None = None,
               show_document: bool = False, client_name: str = "") -> OffpilotServer:
    server = create_server()
    server.protocol.client_capabilities = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(code_action=code_action),
        window=types.WindowClientCapabilities(
            show_document=types.ShowDocumentClientCapabilities(support=show_document)))
    server.client_name = client_name  # type: ignore[attr-defined]
    server.roots = [PRICING.parents[1]]
    if GENERATE_TESTS_COMMAND not in server.protocol.fm.commands:
        @server.command(GENERATE_TESTS_COMMAND)  # stands in for test generation's command
        def generate_tests(ls: OffpilotServer, *args: object) -> None:
            return None
    return server


def params(uri: str, line: int, character: int, end: tuple[int, int] | None = None,
           only: list[str] | None = None) -> types.CodeActionParams:
    start = types.Position(line=line, character=character)
    stop = types.Position(line=end[0], character=end[1]) if end else start
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=start, end=stop),
        context=types.CodeActionContext(diagnostics=[], only=only))


def open_pricing(server: OffpilotServer) -> str:
    uri = PRICING.as_uri()
    server.documents.open(uri, "python", 1, PRICING.read_text(encoding="utf-8"))
    return uri


def test_actions_inside_a_function_with_tags_for_a_client_that_knows_them():
    server = server_for(literal_support(tags=True))
    uri = open_pricing(server)
    actions = code_actions(server, params(uri, 20, 4))  # in cart_total
    assert [a.title for a in actions] == [EXPLAIN_TITLE, TESTS_TITLE, FILE_TESTS_TITLE]
    assert all(isinstance(a, types.CodeAction) for a in actions)
    explain, tests, file_tests = actions
    assert explain.command.command == EXPLAIN_COMMAND  # type: ignore[union-attr]
    assert explain.command.arguments == [{  # type: ignore[union-attr]
        "uri": uri, "range": {"start": {"line": 20, "character": 4},
                              "end": {"line": 20, "character": 4}}}]
    assert tests.command.arguments[0]["scope"] == "symbol"  # type: ignore[union-attr]
    assert file_tests.command.arguments[0]["scope"] == "file"  # type: ignore[union-attr]
    assert (explain.kind, file_tests.kind) == (types.CodeActionKind.Refactor,
                                               types.CodeActionKind.Source)
    assert explain.tags == [types.CodeActionTag.LlmGenerated]


def test_no_tags_for_a_client_that_does_not_know_them():
    server = server_for(literal_support(tags=False))
    actions = code_actions(server, params(open_pricing(server), 20, 4))
    assert actions and all(a.tags is None for a in actions)  # type: ignore[union-attr]


def test_plain_commands_for_a_client_without_code_action_literals():
    server = server_for(None)
    actions = code_actions(server, params(open_pricing(server), 20, 4))
    assert [type(a) for a in actions] == [types.Command] * 3
    assert actions[0].command == EXPLAIN_COMMAND  # type: ignore[union-attr]


def test_top_level_offers_only_tests_for_the_file_and_only_filters_kinds():
    server = server_for(literal_support())
    uri = open_pricing(server)
    assert [a.title for a in code_actions(server, params(uri, 2, 0))] == [FILE_TESTS_TITLE]
    refactors = code_actions(server, params(uri, 20, 4, only=[types.CodeActionKind.Refactor]))
    assert [a.title for a in refactors] == [EXPLAIN_TITLE, TESTS_TITLE]
    assert code_actions(server, params(uri, 20, 4, only=[types.CodeActionKind.QuickFix])) == []


def test_selection_of_another_language_gets_explain_only():
    server = server_for(literal_support())
    uri = "file:///work/notes.md"
    server.documents.open(uri, "markdown", 1, "# Notes\n\nSome text.\n")
    assert [a.title for a in code_actions(server, params(uri, 2, 0, end=(2, 9)))] == \
        [EXPLAIN_TITLE]


def test_unknown_documents_get_nothing():
    server = server_for(literal_support())
    for uri in ("file:///no/such/file.py", "untitled:1", "", "::"):
        assert code_actions(server, params(uri, 3, 1)) == []


def test_files_on_disk_that_are_not_open_are_read():
    server = server_for(literal_support())
    actions = code_actions(server, params(PRICING.as_uri(), 20, 4))
    assert actions and actions[0].title == EXPLAIN_TITLE


@pytest.mark.parametrize(("args", "error"), [
    (None, "expected the arguments"),
    ([], "expected the arguments"),
    (["file:///a.py"], "expected the arguments"),
    ([{"range": {}}], '"uri"'),
    ([{"uri": "file:///a.py", "range": "0:0"}], '"range"'),
    ([{"uri": "file:///a.py", "range": {"start": {"line": "1"}, "end": {}}}], "integers"),
])
def test_bad_command_arguments(args: object, error: str):
    with pytest.raises(ValueError, match=error):
        read_target_argument(args)


def test_command_arguments():
    uri, rng, scope = read_target_argument([{"uri": "file:///a.py", "range": {
        "start": {"line": 3, "character": -2}, "end": {"line": 4, "character": 0}}}])
    assert (uri, scope) == ("file:///a.py", "symbol")
    assert rng is not None and (rng.start.line, rng.start.character) == (3, 0)  # clamped
    assert read_target_argument([{"uri": "file:///a.py", "scope": "file"}])[1:] == (None, "file")


@pytest.mark.parametrize(("support", "name", "shown"), [
    (True, "Neovim", True),
    (True, "", True),
    (True, "Visual Studio Code", False),  # its extension has its own Explain panel
    (True, "VSCodium", False),
    (False, "Neovim", False),
])
def test_show_document_only_for_clients_without_their_own_panel(support: bool, name: str,
                                                                 shown: bool):
    assert client_shows_documents(server_for(show_document=support, client_name=name)) is shown
