"""``offpilot.generateTests``: LSP arguments in, the test pipeline in the middle, an edit out.

Argument: ``[{"uri", "range": {"start", "end"} | null, "scope": "symbol" | "file"}]``. The
source is the open (possibly unsaved) document or the file on disk. Progress is reported with
``$/progress``; the test file is written through ``workspace/applyEdit`` — created, or the tests
appended at the end of an existing test file (with the open document's version, so the editor
refuses the edit if the user typed in the meantime). Nothing is written before generation has
finished, so cancelling (``$/cancelRequest``) leaves no partial file. The answer is
``{"summary", "testFile", "kept", "failing", "unverified", ...}``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import from_fs_path, to_fs_path

from offpilot.context.documents import index_to_column
from offpilot.engine.backend import Backend, ModelError
from offpilot.engine.manager import CHAT
from offpilot.features.testgen import (
    PathOutsideWorkspace,
    TargetError,
    TestGenResult,
    ensure_inside,
    generate_tests,
    is_inside,
)
from offpilot.lsp.client_requests import ClientRequestFailed, apply_edit
from offpilot.lsp.feature import Feature
from offpilot.lsp.progress import CommandProgress, follow_request_cancellation
from offpilot.lsp.server import OffpilotServer  # (a runtime name: pygls reads the hints)
from offpilot.shared import write_atomically

log = logging.getLogger(__name__)

GENERATE_TESTS = "offpilot.generateTests"


@dataclass(frozen=True)
class TestRequest:
    uri: str
    path: Path
    root: Path
    start_line: int
    end_line: int
    scope: str

    __test__ = False


def _invalid(message: str) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(f"{GENERATE_TESTS}: {message}")


def _line(pos: Any, what: str) -> int:
    if not isinstance(pos, dict):
        raise _invalid(f"range.{what} must be a position {{line, character}}")
    line = pos.get("line")
    if not isinstance(line, int) or isinstance(line, bool) or line < 0:
        raise _invalid(f"range.{what}.line must be a non-negative integer")
    return line


def parse_request(server: OffpilotServer, args: tuple[Any, ...]) -> TestRequest:
    """Check the command's argument; raises InvalidParams with a clear message."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise _invalid('expected one argument {"uri", "range", "scope"}')
    arg = args[0]
    uri = arg.get("uri")
    if not isinstance(uri, str) or not uri.startswith("file:"):
        raise _invalid("uri must be a file: URI")
    fs = to_fs_path(uri)
    if not fs:
        raise _invalid(f"cannot read the path of {uri}")
    path = Path(fs)
    scope = arg.get("scope", None)
    rng = arg.get("range", None)
    if scope is None:
        scope = "symbol" if rng is not None else "file"
    if scope not in ("symbol", "file"):
        raise _invalid('scope must be "symbol" or "file"')
    start = end = 0
    if rng is not None:
        if not isinstance(rng, dict):
            raise _invalid("range must be {start, end} or null")
        start, end = _line(rng.get("start"), "start"), _line(rng.get("end"), "end")
        if end < start:
            start, end = end, start
    elif scope == "symbol":
        scope = "file"
    roots = [r for r in getattr(server, "roots", []) if is_inside(r, path)]
    if roots:
        root = project_root(path, max(roots, key=lambda r: len(r.parts)))
    elif getattr(server, "roots", []):
        raise _invalid(f"{path} is outside the workspace")
    else:
        from offpilot.shared import find_root

        root = find_root(path.resolve())
    try:
        path = ensure_inside(root, path)
    except PathOutsideWorkspace as exc:
        raise _invalid(str(exc)) from None
    private = getattr(getattr(server, "documents", None), "private", None)
    if private is not None and private(uri):
        raise _invalid(f"{server.documents.excluded(uri)}; it is never sent to a model")
    return TestRequest(uri, path, root.resolve(), start, end, scope)


PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "package.json", "go.mod",
                   "Cargo.toml", "pom.xml", "build.gradle")


def project_root(path: Path, workspace: Path) -> Path:
    """The nearest folder with a project file between ``path`` and the workspace root.

    In a workspace holding several projects, a file's tests follow its own project's setup.
    """
    workspace = workspace.resolve()
    for folder in path.resolve().parents:
        if folder != workspace and workspace not in folder.parents:
            break
        if any((folder / m).exists() for m in PROJECT_MARKERS):
            return folder
        if folder == workspace:
            break
    return workspace


def _open_document(server: OffpilotServer, path: Path) -> Any:
    for doc in server.documents:
        try:
            if doc.path and Path(doc.path).resolve() == path:
                return doc
        except OSError:
            continue
    return None


def _position(text: str, offset: int, encoding: str) -> types.Position:
    before = text[:offset]
    line = before.count("\n")
    start = before.rfind("\n") + 1
    line_text = text[start:].split("\n", 1)[0]
    return types.Position(line=line, character=index_to_column(line_text, offset - start,
                                                               encoding))


def build_edit(server: OffpilotServer, result: TestGenResult, uri: str, version: int | None
               ) -> types.WorkspaceEdit:
    """The edit that creates the test file or adds the tests to it (inserts only)."""
    assert result.plan is not None
    caps = server.client_capabilities.workspace
    edit_caps = caps.workspace_edit if caps is not None else None
    document_changes = bool(edit_caps and edit_caps.document_changes)
    can_create = bool(edit_caps and edit_caps.resource_operations
                      and types.ResourceOperationKind.Create in edit_caps.resource_operations)
    encoding = str(getattr(server.documents, "position_encoding", "utf-16"))
    original = result.original or ""
    edits = []
    for offset, text in sorted(result.plan.insertions, key=lambda x: x[0]):
        pos = _position(original, offset, encoding)
        edits.append(types.TextEdit(range=types.Range(start=pos, end=pos), new_text=text))
    if not document_changes:
        return types.WorkspaceEdit(changes={uri: edits})
    changes: list[Any] = []
    if result.original is None and can_create:
        changes.append(types.CreateFile(uri=uri, options=types.CreateFileOptions(
            overwrite=False, ignore_if_exists=True)))
    changes.append(types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
        edits=edits))
    return types.WorkspaceEdit(document_changes=changes)


async def write_tests(server: OffpilotServer, result: TestGenResult, start_version: int | None,
                      test_uri: str) -> str:
    """Write the planned file; "" when written, else why not (for the summary)."""
    assert result.plan is not None and result.test_path is not None
    doc = _open_document(server, result.test_path)
    if doc is not None:
        moved = start_version is not None and doc.version != start_version
        if moved or doc.text != (result.original or ""):
            return f"{result.test_path.name} changed while the tests were generated; " \
                   "nothing was written"
        test_uri = doc.uri
    else:
        try:
            current: str | None = result.test_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != result.original:
            return f"{result.test_path.name} changed while the tests were generated; " \
                   "nothing was written"
    caps = server.client_capabilities.workspace
    edit_caps = caps.workspace_edit if caps is not None else None
    can_create = bool(edit_caps and edit_caps.resource_operations
                      and types.ResourceOperationKind.Create in edit_caps.resource_operations)
    document_changes = bool(edit_caps and edit_caps.document_changes)
    if caps is None or not caps.apply_edit or (
            result.original is None and document_changes and not can_create):
        # a client that cannot apply (or cannot create files): a new file is written here,
        # in one step; an existing one only through the editor
        if result.original is not None and doc is not None:
            return "the editor cannot apply edits; nothing was written"
        write_atomically(ensure_inside(result.root, result.test_path), result.plan.text)
        return ""
    edit = build_edit(server, result, test_uri, doc.version if doc is not None else None)
    try:
        answer = await apply_edit(server, edit, "Offpilot: generated tests")
    except ClientRequestFailed as exc:
        # The edit is one request: the editor applies all of it or none. One that answers
        # late may still apply it; the tests are in the answer either way.
        return f"the editor did not confirm the edit: it gave {exc}"
    if not answer.applied:
        reason = answer.failure_reason or "no reason given"
        return f"the editor did not apply the edit ({reason})"
    return ""


async def run_generate_tests(server: OffpilotServer, args: tuple[Any, ...]) -> dict[str, Any]:
    req = parse_request(server, args)
    await server.settings_settled()  # (workspaceTrusted may come with the client's configuration)
    doc = _open_document(server, req.path)
    if doc is not None:
        source = doc.text
    else:
        try:
            source = req.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _invalid(f"cannot read {req.path.name}: {exc}") from None
    progress = CommandProgress(server, "Offpilot: Generate tests")
    server.set_status("generating", "generating tests")
    try:
        with progress:
            progress.report("starting", 0)
            backend: Backend | None = None
            model_note = ""
            try:
                backend = await server.models.backend(CHAT)
            except ModelError as exc:
                model_note = str(exc)
            # the test file as the editor has it, if open (its version is checked again later)
            try:
                from offpilot.features.testgen import import_root_for, layout_for, module_name_for

                ir = import_root_for(req.path, req.root)
                layout = layout_for(req.root, req.path, module=module_name_for(req.path, ir)
                                    if req.path.suffix == ".py" else "", import_root=ir)
            except (ValueError, OSError):
                layout = None
            test_doc = _open_document(server, (req.root / layout.test_path).resolve()) \
                if layout is not None else None
            start_version = test_doc.version if test_doc is not None else None
            try:
                result = await generate_tests(
                    req.root, req.path, source, start_line=req.start_line,
                    end_line=req.end_line, scope=req.scope, backend=backend,
                    settings=server.settings, on_progress=progress.report,
                    test_file_text=test_doc.text if test_doc is not None else None)
            except (TargetError, PathOutsideWorkspace) as exc:
                raise _invalid(str(exc)) from None
            if model_note:
                result.notes.insert(0, f"(The model was unavailable: {model_note}.)")
            test_uri = ""
            if result.plan is not None and result.test_path is not None:
                uri = from_fs_path(str(result.test_path)) or result.test_path.as_uri()
                progress.report("writing the test file", 99)
                problem = await write_tests(server, result, start_version, uri)
                if problem:
                    result.notes.append(problem[:1].upper() + problem[1:] + ".")
                else:
                    test_uri = uri
            answer = result.to_json(test_uri)
            if result.plan is not None and not test_uri:
                answer["content"] = result.plan.text
            return answer
    finally:
        server.set_status("ready")


class TestgenFeature(Feature):
    """``offpilot.generateTests`` (its code actions are offered by :mod:`offpilot.lsp.actions`)."""

    name = "tests"
    __test__ = False

    def setup(self, server: OffpilotServer) -> None:
        super().setup(server)
        _register(server)


def _register(server: OffpilotServer) -> None:
    @server.command(GENERATE_TESTS)
    async def generate_tests_command(ls: OffpilotServer, *args: Any) -> dict[str, Any]:
        follow_request_cancellation(ls)  # also stops the sandboxed processes
        try:
            return await run_generate_tests(ls, args)
        except JsonRpcInvalidParams:
            raise
        except Exception:
            log.exception("generating tests failed")
            raise
