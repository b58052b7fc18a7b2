"""The documentation glue on a real server object, without a client or a model: which actions
are offered where, the quick fix's edit, and the diagnostics."""

from __future__ import annotations

from lsprotocol import types
from offpilot.cli.demo import apply_text_edits
from offpilot.features.docs.checks import check_source
from offpilot.lsp.actions import code_actions
from offpilot.lsp.docs import GENERATE_DOCS, GENERATE_TITLE, UPDATE_TITLE, diagnostic, mismatches

from tests.unit.lsp.test_actions import literal_support, params, server_for

SOURCE = '''def total(prices, rate):
    """Sum of prices.

    Args:
        prices: The prices.
        discount: Gone.
    """
    return sum(prices) * rate


def undocumented(a, b=1):
    return a + b
'''
URI = "file:///work/shop/cart.py"


def test_quick_fix_on_a_mismatch_and_generate_on_an_undocumented_function():
    server = server_for(literal_support())
    server.documents.open(URI, "python", 3, SOURCE)
    doc = server.documents.get(URI)
    assert doc is not None
    [found] = mismatches(doc)
    diag = diagnostic(doc, found)
    assert diag.range.start == types.Position(line=1, character=4)
    assert diag.severity == types.DiagnosticSeverity.Information and diag.source == "offpilot"

    actions = code_actions(server, params(URI, 0, 5))
    fix = next(a for a in actions if a.title == UPDATE_TITLE)
    assert isinstance(fix, types.CodeAction) and fix.kind == types.CodeActionKind.QuickFix
    change = fix.edit.document_changes[0]  # type: ignore[union-attr,index]
    assert change.text_document.version == 3  # type: ignore[union-attr]
    fixed = apply_text_edits(SOURCE, list(change.edits))  # type: ignore[union-attr]
    assert check_source(fixed) == [] and "rate: TODO: describe." in fixed
    assert "discount" not in fixed and fixed.split("    Args:")[0] == SOURCE.split("    Args:")[0]
    assert GENERATE_TITLE not in [a.title for a in actions]  # total has a docstring

    actions = code_actions(server, params(URI, 11, 6))
    generate = [a for a in actions if a.title == GENERATE_TITLE]
    assert len(generate) == 1 and generate[0].kind == types.CodeActionKind.RefactorRewrite
    assert generate[0].command.command == GENERATE_DOCS  # type: ignore[union-attr]
    assert generate[0].edit is None  # nothing runs until it is chosen
    only = code_actions(server, params(URI, 11, 6, only=[types.CodeActionKind.Refactor]))
    assert GENERATE_TITLE in [a.title for a in only]  # refactor.rewrite is a refactor
    assert code_actions(server, params(URI, 11, 6, only=[types.CodeActionKind.QuickFix])) == []


def test_a_client_without_literals_gets_the_command_but_no_edit_only_fix():
    server = server_for(None)
    server.documents.open(URI, "python", 1, SOURCE)
    titles = [a.title for a in code_actions(server, params(URI, 0, 5))]
    assert UPDATE_TITLE not in titles
    commands = code_actions(server, params(URI, 11, 6))
    assert any(isinstance(c, types.Command) and c.command == GENERATE_DOCS for c in commands)


def test_doc_comment_languages_get_the_same_actions_and_text_gets_none():
    server = server_for(literal_support())
    server.documents.open("file:///work/a.js", "javascript", 1, "function f(a) { return a }\n")
    doc = server.documents.get("file:///work/a.js")
    assert doc is not None and mismatches(doc) == []
    assert [a.title for a in code_actions(server, params("file:///work/a.js", 0, 12))
            if a.title in (UPDATE_TITLE, GENERATE_TITLE)] == [GENERATE_TITLE]
    stale = "/**\n * F.\n * @param b - Gone.\n */\nfunction f(a) { return a }\n"
    server.documents.open("file:///work/b.js", "javascript", 1, stale)
    doc = server.documents.get("file:///work/b.js")
    assert doc is not None and [m.definition.name for m in mismatches(doc)] == ["f"]
    assert [a.title for a in code_actions(server, params("file:///work/b.js", 2, 3))
            if a.title in (UPDATE_TITLE, GENERATE_TITLE)] == [UPDATE_TITLE]
    server.documents.open("file:///work/n.txt", "plaintext", 1, "function f(a) {}\n")
    doc = server.documents.get("file:///work/n.txt")
    assert doc is not None and mismatches(doc) == []
    assert [a.title for a in code_actions(server, params("file:///work/n.txt", 0, 3))
            if a.title in (UPDATE_TITLE, GENERATE_TITLE)] == []
