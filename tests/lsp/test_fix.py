"""Explain this problem, Fix this problem, Explain this error, Fix this test over real LSP.

The real server over stdio with the real embedded model (Gemma 3 270M, a tiny base model: what it
writes is weak; the guarantees around it are tested): quick fixes are offered on diagnostics as
Pyright and ruff send them, the model never runs while they are computed, only a verified edit
is sent through ``workspace/applyEdit`` (annotated for confirmation), else the answer says there
is no verified fix; the server never writes the file. In an untrusted workspace nothing runs:
the workspace's ``ruff`` and its tests are traps that write a canary file when run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from offpilot.features.fix.diagnostics import syntax_problems, undefined_names
from pygls.lsp.client import LanguageClient

from tests.lsp.helpers import open_document
from tests.lsp.test_explain import as_data, read_code_actions_as_sent

CACHE = tempfile.mkdtemp(prefix="offpilot-fix-")

TOTAL = """\
def total(items):
    result = 0
    for item in items:
        result += item
    return reslt


def mean(items):
    return total(items) / len(items)
"""

BROKEN = """\
def area(width, height:
    return width * height


def perimeter(width, height):
    return 2 * (width + height)
"""


class Session:
    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.edits: list[types.ApplyWorkspaceEditParams] = []
        self.streamed: list[str] = []
        self.progress: list[Any] = []


async def start(root: Path, init: dict[str, Any] | None = None,
                env_extra: dict[str, str] | None = None) -> Session:
    client = LanguageClient("fix-test", "1")
    read_code_actions_as_sent(client)
    session = Session(client)

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def configuration(params: types.ConfigurationParams) -> list[Any]:
        return [{} for _ in params.items]

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        session.edits.append(params)  # recorded, not written: the test applies it in memory
        return types.ApplyWorkspaceEditResult(applied=True)

    @client.feature("offpilot/stream")
    def stream(params: Any) -> None:
        session.streamed.append(as_data(params)["delta"])

    @client.feature(types.PROGRESS)
    def progress(params: Any) -> None:
        session.progress.append(params)

    for method in ("offpilot/status", types.WINDOW_LOG_MESSAGE, types.WINDOW_SHOW_MESSAGE,
                   types.WINDOW_WORK_DONE_PROGRESS_CREATE):
        client.feature(method)(lambda params: None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFPILOT_")}
    env.update({"OFFPILOT_INDEX_ENABLED": "false", "OFFPILOT_COMPLETIONS_ENABLED": "false",
                "OFFPILOT_THREADS": "2", "OFFPILOT_CONTEXT_SIZE": "2048",
                "OFFPILOT_CACHE_DIR": CACHE, **(env_extra or {})})
    await client.start_io(sys.executable, "-m", "offpilot", "serve", env=env)
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True),
            workspace=types.WorkspaceClientCapabilities(
                configuration=True, apply_edit=True,
                workspace_edit=types.WorkspaceEditClientCapabilities(
                    document_changes=True,
                    change_annotation_support=types.ChangeAnnotationsSupportOptions(
                        groups_on_label=True))),
            text_document=types.TextDocumentClientCapabilities(
                code_action=types.CodeActionClientCapabilities(
                    code_action_literal_support=types.ClientCodeActionLiteralOptions(
                        code_action_kind=types.ClientCodeActionKindOptions(
                            value_set=[types.CodeActionKind.QuickFix,
                                       types.CodeActionKind.Refactor]))))),
        root_uri=root.as_uri(), initialization_options=init or {},
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")]))
    client.initialized(types.InitializedParams())
    return session


async def stop(session: Session) -> None:
    try:
        await session.client.shutdown_async(None)
        session.client.exit(None)
    finally:
        await session.client.stop()


def diagnostic(line: int, start: int, end: int, message: str, source: str,
               code: str) -> types.Diagnostic:
    return types.Diagnostic(
        range=types.Range(start=types.Position(line=line, character=start),
                          end=types.Position(line=line, character=end)),
        message=message, source=source, code=code, severity=types.DiagnosticSeverity.Error)


def apply_in_memory(text: str, params: types.ApplyWorkspaceEditParams) -> str:
    """The one text edit of a fix, applied to ``text`` (whole lines, as the server sends)."""
    changes = params.edit.document_changes
    assert changes is not None and len(changes) == 1
    change = changes[0]
    assert isinstance(change, types.TextDocumentEdit)
    (edit,) = change.edits
    lines = text.splitlines(keepends=True)
    rng = edit.range
    start = sum(len(x) for x in lines[:rng.start.line]) + rng.start.character
    end = sum(len(x) for x in lines[:rng.end.line]) + rng.end.character
    return text[:start] + edit.new_text + text[end:]


def workspace(tmp_path: Path, name: str, text: str) -> tuple[Path, Path]:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'ws'\nversion = '0'\n")
    source = root / name
    source.write_text(text)
    return root, source


async def code_actions(session: Session, uri: str, diag: types.Diagnostic
                       ) -> list[types.CodeAction]:
    actions = await session.client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=diag.range,
        context=types.CodeActionContext(diagnostics=[diag])))
    return [a for a in actions or [] if isinstance(a, types.CodeAction)
            and a.kind == types.CodeActionKind.QuickFix]


async def run(session: Session, command: types.Command) -> dict[str, Any]:
    result = await session.client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=command.command, arguments=command.arguments,
        work_done_token=f"t-{time.monotonic_ns()}"))
    assert isinstance(result, dict) or hasattr(result, "_asdict")
    return as_data(result)


async def check_fix(session: Session, uri: str, source: str, text: str,
                    diag: types.Diagnostic, gone: Any) -> dict[str, Any]:
    """Choose "Fix this problem": a verified edit whose result passes ``gone``, or an honest
    no-fix with nothing applied; the file on disk stays as it was."""
    actions = await code_actions(session, uri, diag)
    fix = next(a for a in actions if a.title.startswith("Offpilot: Fix this problem"))
    assert fix.edit is None and fix.command is not None  # no model ran for the menu
    assert fix.diagnostics and fix.diagnostics[0].message == diag.message
    on_disk = Path(source).read_bytes()
    answer = await run(session, fix.command)
    assert Path(source).read_bytes() == on_disk  # the server never writes the file
    assert answer["status"] in ("verified", "no_verified_fix")
    print(f"{diag.source} {diag.message!r}: {answer['status']} ({answer['reason']})")
    if answer["status"] == "verified":
        assert answer["applied"] is True and len(session.edits) == 1
        params = session.edits[0]
        annotations = params.edit.change_annotations or {}
        assert any(a.needs_confirmation for a in annotations.values())
        fixed = apply_in_memory(text, params)
        assert fixed != text and gone(fixed)
        assert answer["edit"]["newText"] in fixed
    else:
        assert session.edits == [] and answer["applied"] is False and answer["edit"] is None
        assert "No verified fix" in answer["markdown"] and answer["reason"]
    assert session.progress  # work-done progress was reported
    return answer


async def test_quick_fixes_on_a_pyright_undefined_name(tmp_path: Path):
    root, source = workspace(tmp_path, "stats.py", TOTAL)
    session = await start(root)
    try:
        uri = await open_document(session.client, source)
        diag = diagnostic(4, 11, 16, '"reslt" is not defined', "Pyright",
                          "reportUndefinedVariable")
        t0 = time.perf_counter()
        actions = await code_actions(session, uri, diag)
        assert time.perf_counter() - t0 < 5  # commands only: no model in the menu
        titles = [a.title for a in actions]
        assert "Offpilot: Explain this problem" in titles
        assert "Offpilot: Fix this problem" in titles
        assert all(a.command is not None and a.edit is None for a in actions)

        explain = next(a for a in actions if a.title == "Offpilot: Explain this problem")
        assert explain.command is not None
        answer = await run(session, explain.command)
        assert answer["markdown"].startswith("## Pyright:")
        assert "".join(session.streamed) == answer["markdown"]  # streamed as it came
        assert Path(answer["path"]).read_text(encoding="utf-8") == answer["markdown"]
        assert session.edits == []

        session.streamed.clear()
        await check_fix(session, uri, str(source), TOTAL, diag,
                        lambda fixed: not syntax_problems(fixed) and not any(
                            "reslt" in p.message for p in undefined_names(fixed)))
    finally:
        await stop(session)


async def test_fix_a_ruff_syntax_error(tmp_path: Path):
    root, source = workspace(tmp_path, "shapes.py", BROKEN)
    session = await start(root)
    try:
        uri = await open_document(session.client, source)
        diag = diagnostic(0, 22, 23, "SyntaxError: Expected ')', found ':'", "ruff", "")
        await check_fix(session, uri, str(source), BROKEN, diag,
                        lambda fixed: not syntax_problems(fixed)
                        and "def perimeter(width, height):" in fixed)
    finally:
        await stop(session)


async def test_no_actions_without_diagnostics_and_for_own_diagnostics(tmp_path: Path):
    root, source = workspace(tmp_path, "stats.py", TOTAL)
    session = await start(root, env_extra={"OFFPILOT_MODEL": str(tmp_path / "none.gguf")})
    try:
        uri = await open_document(session.client, source)
        rng = types.Range(start=types.Position(line=4, character=11),
                          end=types.Position(line=4, character=16))
        for diags in ([], [diagnostic(4, 11, 16, "Missing docstring", "offpilot", "")]):
            actions = await session.client.text_document_code_action_async(
                types.CodeActionParams(text_document=types.TextDocumentIdentifier(uri=uri),
                                       range=rng, context=types.CodeActionContext(
                                           diagnostics=diags)))
            assert not any("this problem" in a.title for a in actions or [])
        # bad arguments: a clear error, and the server goes on
        with pytest.raises(Exception, match="diagnostic"):
            await session.client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="offpilot.fixProblem", arguments=[{"uri": uri}]))
        with pytest.raises(Exception, match="traceback"):
            await session.client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="offpilot.explainError", arguments=[{"text": "all is well"}]))
        assert await code_actions(session, uri, diagnostic(4, 11, 16, "x", "Pyright", ""))
    finally:
        await stop(session)


async def test_explain_error_streams_a_real_traceback(tmp_path: Path):
    root, _source = workspace(tmp_path, "stats.py", TOTAL.replace("reslt", "result"))
    run_py = root / "run.py"
    run_py.write_text("from stats import mean\n\nprint(mean([]))\n")
    proc = subprocess.run([sys.executable, "run.py"], cwd=root, capture_output=True, text=True,
                          timeout=60)
    assert "ZeroDivisionError" in proc.stderr
    session = await start(root)
    try:
        answer = await run(session, types.Command(
            title="", command="offpilot.explainError", arguments=[{"text": proc.stderr}]))
        assert answer["error"]["type"] == "ZeroDivisionError"
        assert any(f["path"].endswith("stats.py") for f in answer["error"]["frames"])
        assert answer["markdown"].startswith("## ZeroDivisionError at stats.py:9")
        assert len(session.streamed) > 1 and "".join(session.streamed) == answer["markdown"]
        assert session.progress
    finally:
        await stop(session)


def trap(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A workspace whose ``ruff`` and tests write ``canary`` when anything runs them."""
    root, source = workspace(tmp_path, "stats.py", TOTAL)
    canary = tmp_path / "ran.canary"
    ruff = root / ".venv" / "bin" / "ruff"
    ruff.parent.mkdir(parents=True)
    ruff.write_text(f"#!/bin/sh\necho ran > '{canary}'\necho '[]'\n")
    ruff.chmod(0o755)
    (root / "test_stats.py").write_text(
        f"import pathlib\npathlib.Path({str(canary)!r}).write_text('ran')\n"
        "from stats import total\n\n\ndef test_total():\n    assert total([1, 2]) == 3\n")
    return root, source, canary


def test_the_trap_fires_when_run(tmp_path: Path):
    root, _source, canary = trap(tmp_path)
    subprocess.run([str(root / ".venv" / "bin" / "ruff")], check=True, timeout=30)
    assert canary.exists()


async def test_untrusted_workspace_runs_nothing(tmp_path: Path):
    root, source, canary = trap(tmp_path)
    session = await start(root, init={"workspaceTrusted": False})
    try:
        uri = await open_document(session.client, source)
        diag = diagnostic(4, 11, 16, "Undefined name `reslt`", "ruff", "F821")
        answer = await check_fix(session, uri, str(source), TOTAL, diag,
                                 lambda fixed: not any("reslt" in p.message
                                                       for p in undefined_names(fixed)))
        assert "ruff" not in answer["checks"]
        assert any("not trusted" in n for n in answer["notes"])
        result = await run(session, types.Command(
            title="", command="offpilot.fixTest", arguments=[{"testId":
                                                              "test_stats.py::test_total"}]))
        assert result["status"] == "not_run" and "not trusted" in result["reason"]
        assert result["applied"] is False
        assert not canary.exists()
    finally:
        await stop(session)


async def test_fix_test_runs_the_failing_test_and_offers_only_a_verified_fix(tmp_path: Path):
    from offpilot.features.testgen.core.sandbox import filesystem_isolation

    from tests.unit.features.fix.projects import CALC, calc_project

    if not filesystem_isolation().available:
        pytest.skip("no bubblewrap sandbox on this machine")
    root = calc_project(tmp_path)
    calc = root / "calc.py"
    session = await start(root)
    try:
        result = await run(session, types.Command(
            title="", command="offpilot.fixTest",
            arguments=[{"testId": "tests/test_calc.py::test_add"}]))
        print(f"fixTest: {result['status']} ({result['reason']})")
        assert calc.read_text(encoding="utf-8") == CALC  # never written by the server
        assert result["error"] is not None and result["function"]["name"] == "add"
        assert "".join(session.streamed).strip()  # the explanation streamed
        assert session.progress
        assert result["status"] in ("verified", "no_verified_fix")
        if result["status"] == "verified":
            assert result["applied"] is True and len(session.edits) == 1
            params = session.edits[0]
            assert params.edit.change_annotations is not None
            change = (params.edit.document_changes or [])[0]
            assert isinstance(change, types.TextDocumentEdit)
            assert change.text_document.uri == calc.as_uri()
            fixed = apply_in_memory(CALC, params)
            assert not syntax_problems(fixed) and "def mul(a, b):" in fixed
        else:
            assert session.edits == [] and result["applied"] is False
            assert result["edit"] is None
    finally:
        await stop(session)


@pytest.mark.parametrize("kind", ["node", "cargo"])
async def test_fix_test_of_a_node_file_or_a_cargo_test(kind: str, tmp_path: Path):
    """``offpilot.fixTest`` with a ``node --test`` file and a cargo test name: run in the
    sandbox, the function the test calls found, an edit sent only when verified."""
    import shutil

    from offpilot.features.testgen.core.sandbox import filesystem_isolation

    from tests.unit.features.fix.node_cargo_projects import (
        LIB_RS,
        MATH_JS,
        js_project,
        rust_project,
    )

    if not filesystem_isolation().available:
        pytest.skip("no bubblewrap sandbox on this machine")
    if shutil.which(kind) is None:
        pytest.skip(f"{kind} is not installed")
    if kind == "node":
        root, test_id, source, text = js_project(tmp_path), "test/math.test.js", \
            "src/math.js", MATH_JS
    else:
        root, test_id, source, text = rust_project(tmp_path), "it_adds", "src/lib.rs", LIB_RS
    session = await start(root)
    try:
        result = await run(session, types.Command(
            title="", command="offpilot.fixTest", arguments=[{"testId": test_id}]))
        print(f"fixTest {kind}: {result['status']} ({result['reason']})")
        assert (root / source).read_text(encoding="utf-8") == text  # never written
        assert result["testId"] in ("test/math.test.js::adds", "tests::it_adds")
        assert result["function"]["name"] == "add"
        assert result["status"] in ("verified", "no_verified_fix")
        if result["status"] == "verified":
            assert result["applied"] is True and len(session.edits) == 1
            change = (session.edits[0].edit.document_changes or [])[0]
            assert isinstance(change, types.TextDocumentEdit)
            assert change.text_document.uri == (root / source).resolve().as_uri()
            fixed = apply_in_memory(text, session.edits[0])
            assert fixed != text and fixed.count("fn ") + fixed.count("function ") == \
                text.count("fn ") + text.count("function ")
        else:
            assert session.edits == [] and result["applied"] is False
            assert result["edit"] is None
    finally:
        await stop(session)
