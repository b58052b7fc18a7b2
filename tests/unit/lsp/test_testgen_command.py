"""offpilot.generateTests at the LSP edge: argument checks and the edit it sends."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from lsprotocol import types
from offpilot.features.testgen import FilePlan, TestGenResult
from offpilot.lsp.testgen import build_edit, parse_request, project_root
from pygls.exceptions import JsonRpcInvalidParams


def fake_server(roots: list[Path], *, document_changes: bool = True,
                create: bool = True) -> SimpleNamespace:
    """A stand-in for the server with only what the command reads (not a server)."""
    edit_caps = types.WorkspaceEditClientCapabilities(
        document_changes=document_changes,
        resource_operations=[types.ResourceOperationKind.Create] if create else None)
    caps = types.ClientCapabilities(workspace=types.WorkspaceClientCapabilities(
        apply_edit=True, workspace_edit=edit_caps))
    return SimpleNamespace(roots=roots, client_capabilities=caps, documents=SimpleNamespace(
        position_encoding="utf-16"))


def test_arguments_are_checked(tmp_path: Path):
    server = fake_server([tmp_path])
    src = tmp_path / "a.py"
    src.write_text("def f(): pass\n")
    req = parse_request(server, ({"uri": src.as_uri(), "range": {
        "start": {"line": 3, "character": 0}, "end": {"line": 1, "character": 2}}},))
    assert (req.start_line, req.end_line, req.scope) == (1, 3, "symbol")
    assert parse_request(server, ({"uri": src.as_uri(), "range": None},)).scope == "file"
    for bad in ((), ("x",), ({"uri": "untitled:1"},), ({"uri": src.as_uri(), "scope": "x"},),
                ({"uri": src.as_uri(), "range": {"start": {"line": -1}, "end": {"line": 0}}},),
                ({"uri": (tmp_path.parent / "elsewhere.py").as_uri()},)):
        with pytest.raises(JsonRpcInvalidParams):
            parse_request(server, bad)


def test_a_nested_project_is_its_own_root(tmp_path: Path):
    (tmp_path / "svc" / "pkg").mkdir(parents=True)
    (tmp_path / "svc" / "pyproject.toml").write_text("")
    assert project_root(tmp_path / "svc" / "pkg" / "m.py", tmp_path) == tmp_path / "svc"
    assert project_root(tmp_path / "m.py", tmp_path) == tmp_path


def _result(tmp_path: Path, original: str | None, insertions) -> TestGenResult:
    from offpilot.features.testgen import apply_insertions

    plan = FilePlan(apply_insertions(original or "", insertions), tuple(insertions))
    return TestGenResult(tmp_path, tmp_path / "a.py", "python", original=original, plan=plan,
                         test_path=tmp_path / "test_a.py")


def test_a_new_file_is_created_then_filled(tmp_path: Path):
    result = _result(tmp_path, None, [(0, "def test_x():\n    pass\n")])
    edit = build_edit(fake_server([tmp_path]), result, "file:///t/test_a.py", None)
    create, fill = edit.document_changes  # type: ignore[misc]
    assert isinstance(create, types.CreateFile) and not create.options.overwrite
    assert isinstance(fill, types.TextDocumentEdit)
    assert fill.edits[0].range.start == types.Position(0, 0)


def test_tests_are_inserted_without_replacing_anything(tmp_path: Path):
    original = "import pytest\n# café ☕ 𝄞\n\ndef test_old():\n    pass\n"
    after_emoji = len("import pytest\n# café ☕ 𝄞")
    ins = [(after_emoji, "  # note"), (len(original), "\n\ndef test_new(): pass\n")]
    result = _result(tmp_path, original, ins)
    edit = build_edit(fake_server([tmp_path]), result, "file:///t/test_a.py", 7)
    (change,) = edit.document_changes  # type: ignore[misc]
    assert change.text_document.version == 7
    first, last = change.edits
    assert first.range.start == first.range.end == types.Position(1, 11)  # UTF-16 units
    assert last.range.start == last.range.end == types.Position(5, 0)
    legacy = build_edit(fake_server([tmp_path], document_changes=False), result, "file:///x", 7)
    assert list(legacy.changes) == ["file:///x"]  # type: ignore[arg-type]
