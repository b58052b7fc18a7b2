"""The Explain/Fix this problem glue on a real server object, without a client or a model: the
quick fixes offered for the editor's diagnostics, argument checks, the workspace edit a client
with or without change annotations gets, and the plain commands a client without code action
literals gets."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from offpilot.features.fix import FixEdit
from offpilot.lsp.actions import code_actions
from offpilot.lsp.fix import (
    ANNOTATION_ID,
    EXPLAIN_PROBLEM,
    EXPLAIN_TITLE,
    FIX_PROBLEM,
    FIX_TITLE,
    read_problem,
    root_for,
    workspace_edit,
)
from offpilot.lsp.server import OffpilotServer, create_server
from pygls.exceptions import JsonRpcInvalidParams

TEXT = "def total(items):\n    return reslt\n"


def server_for(tmp_path: Path, *, literals: bool = True, annotations: bool = True
               ) -> tuple[OffpilotServer, str]:
    server = create_server()
    server.protocol.client_capabilities = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(
                        value_set=[types.CodeActionKind.QuickFix])) if literals else None)),
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=True, workspace_edit=types.WorkspaceEditClientCapabilities(
                document_changes=annotations,
                change_annotation_support=types.ChangeAnnotationsSupportOptions()
                if annotations else None)))
    server.roots = [tmp_path]
    path = tmp_path / "stats.py"
    path.write_text(TEXT)
    uri = path.as_uri()
    server.documents.open(uri, "python", 3, TEXT)
    return server, uri


def diagnostic(message: str = '"reslt" is not defined', source: str = "Pyright",
               code: str | int = "reportUndefinedVariable") -> types.Diagnostic:
    return types.Diagnostic(range=types.Range(start=types.Position(line=1, character=11),
                                              end=types.Position(line=1, character=16)),
                            message=message, source=source, code=code)


def action_params(uri: str, diagnostics: list[types.Diagnostic]) -> types.CodeActionParams:
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=1, character=11),
                          end=types.Position(line=1, character=11)),
        context=types.CodeActionContext(diagnostics=diagnostics))


def test_quick_fixes_for_each_diagnostic_of_any_source(tmp_path: Path):
    server, uri = server_for(tmp_path)
    tsc = diagnostic("Cannot find name 'reslt'.", "ts", 2304)
    actions = [a for a in code_actions(server, action_params(uri, [diagnostic(), tsc]))
               if isinstance(a, types.CodeAction) and a.kind == types.CodeActionKind.QuickFix]
    assert [a.title.split(" (")[0] for a in actions] == [FIX_TITLE, EXPLAIN_TITLE] * 2
    assert all(a.edit is None and a.command is not None for a in actions)  # no model here
    fix = actions[2]
    assert fix.command is not None and fix.command.command == FIX_PROBLEM
    assert fix.command.arguments == [{"uri": uri, "diagnostic": {
        "range": {"start": {"line": 1, "character": 11}, "end": {"line": 1, "character": 16}},
        "message": "Cannot find name 'reslt'.", "source": "ts", "code": "2304"}}]
    assert fix.diagnostics == [tsc]
    assert actions[3].command is not None and actions[3].command.command == EXPLAIN_PROBLEM


def test_none_without_diagnostics_nor_for_offpilots_own(tmp_path: Path):
    server, uri = server_for(tmp_path)
    for diags in ([], [diagnostic("Missing docstring", "offpilot", "")]):
        titles = [a.title for a in code_actions(server, action_params(uri, diags))]
        assert not any("this problem" in t for t in titles)


def test_plain_commands_for_a_client_without_code_action_literals(tmp_path: Path):
    server, uri = server_for(tmp_path, literals=False)
    commands = [a for a in code_actions(server, action_params(uri, [diagnostic()]))
                if isinstance(a, types.Command) and a.command in (FIX_PROBLEM, EXPLAIN_PROBLEM)]
    assert [c.title for c in commands] == [FIX_TITLE, EXPLAIN_TITLE]


def test_the_request_is_read_from_the_open_document(tmp_path: Path):
    server, uri = server_for(tmp_path)
    _doc, request = read_problem(server, FIX_PROBLEM, [{"uri": uri, "diagnostic": {
        "message": "undefined", "code": 821, "range": {"start": {"line": 99, "character": 0},
                                                        "end": {"line": 1, "character": 4}}}}])
    assert (request.start_line, request.end_line) == (1, 2)  # clamped to the document, ordered
    assert request.code == "821" and request.text == TEXT and request.root == tmp_path.resolve()
    assert root_for(server, tmp_path / "stats.py") == tmp_path.resolve()


@pytest.mark.parametrize("args", [[], [{}], [{"uri": "file:///x.py"}],
                                  [{"uri": "file:///x.py", "diagnostic": {"message": 3}}],
                                  [{"uri": "file:///x.py", "diagnostic": {"message": "m"}}]])
def test_bad_arguments_say_what_is_wrong(tmp_path: Path, args: list[object]):
    server, _uri = server_for(tmp_path)
    with pytest.raises(JsonRpcInvalidParams, match=FIX_PROBLEM):
        read_problem(server, FIX_PROBLEM, args)


def edit_for(tmp_path: Path) -> FixEdit:
    return FixEdit(path=tmp_path / "stats.py", start_line=1, end_line=2, old_text=TEXT,
                   new_text="def total(items):\n    return sum(items)\n", diff="", file_sha256="")


def test_an_annotated_edit_asks_for_confirmation(tmp_path: Path):
    server, uri = server_for(tmp_path)
    edit = workspace_edit(server, uri, 3, edit_for(tmp_path), "the diagnostic is gone")
    assert edit.changes is None and edit.document_changes is not None
    (change,) = edit.document_changes
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.version == 3
    (text_edit,) = change.edits
    assert isinstance(text_edit, types.AnnotatedTextEdit)
    assert text_edit.annotation_id == ANNOTATION_ID
    assert (text_edit.range.start.line, text_edit.range.end.line) == (0, 2)
    assert edit.change_annotations is not None
    assert edit.change_annotations[ANNOTATION_ID].needs_confirmation is True


def test_a_plain_edit_where_annotations_are_not_supported(tmp_path: Path):
    server, uri = server_for(tmp_path, annotations=False)
    edit = workspace_edit(server, uri, 3, edit_for(tmp_path), "gone")
    assert edit.document_changes is None and edit.change_annotations is None
    assert edit.changes is not None
    assert edit.changes[uri][0].new_text.endswith("return sum(items)\n")
