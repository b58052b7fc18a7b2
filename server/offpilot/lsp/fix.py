"""Explain this problem, Fix this problem: quick fixes on diagnostics, tracebacks, failing tests.

- ``textDocument/codeAction``: for each diagnostic in ``params.context.diagnostics`` (Pyright,
  ruff, tsc, rustc, ... any source but Offpilot's own), offers "Offpilot: Explain this problem"
  (``offpilot.explainProblem``) and "Offpilot: Fix this problem" (``offpilot.fixProblem``), kind
  ``quickfix``. They carry a command: the model never runs while actions are computed.
- ``offpilot.explainProblem`` ``[{"uri", "diagnostic"}]``: the explanation streamed as
  ``offpilot/stream`` with work-done progress (as ``offpilot.explain``); answers
  ``{"markdown", "path"}``.
- ``offpilot.fixProblem`` ``[{"uri", "diagnostic"}]``: :func:`~offpilot.features.fix.fix_diagnostic`
  with progress; a verified fix only is sent through ``workspace/applyEdit``, annotated with
  ``needsConfirmation`` where the client supports change annotations (a preview). Otherwise the
  explanation is streamed and the answer says there is no verified fix. Answers
  ``{"status", "applied", "reason", "markdown", "edit", "unverifiedIdea", ...}``.
- ``offpilot.explainError`` ``[{"text", "uri"?}]``: a traceback or panic explained with its
  frames' code; answers ``{"markdown", "path", "error"}``.
- ``offpilot.fixTest`` ``[{"testId", "uri"?}]``: a failing test (a pytest node id, a
  ``node --test`` file or a cargo test name, relative to the workspace) run in the sandbox,
  explained and fixed (:func:`~offpilot.features.fix.fix_failing_test`); a verified edit is sent
  as above. Nothing runs in an untrusted workspace.

The server never writes the user's files; the editor applies (or the user declines) the edit.
The work happens in :mod:`offpilot.features.fix`; this module converts LSP types.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.uris import to_fs_path

from offpilot.context.documents import Document
from offpilot.engine.backend import Backend, ModelError
from offpilot.engine.manager import CHAT
from offpilot.features.explain import explain_dir
from offpilot.features.fix import (
    DiagnosticRequest,
    FixEdit,
    FixRequest,
    explain_diagnostic,
    explain_traceback,
    fix_diagnostic,
    fix_failing_test,
    parse_error_text,
)
from offpilot.features.trust import not_run_reason
from offpilot.lsp.actions import client_shows_documents, load_document
from offpilot.lsp.client_requests import ClientRequestFailed, apply_edit, show_document
from offpilot.lsp.feature import Feature
from offpilot.lsp.progress import CommandProgress
from offpilot.lsp.server import OffpilotServer  # (a runtime name: pygls reads the hints)
from offpilot.shared import find_root

log = logging.getLogger(__name__)

EXPLAIN_PROBLEM = "offpilot.explainProblem"
FIX_PROBLEM = "offpilot.fixProblem"
EXPLAIN_ERROR = "offpilot.explainError"
FIX_TEST = "offpilot.fixTest"
EXPLAIN_TITLE = "Offpilot: Explain this problem"
FIX_TITLE = "Offpilot: Fix this problem"
ANNOTATION_ID = "offpilot.verifiedFix"
OWN_SOURCE = "offpilot"  # the documentation diagnostics have their own quick fix
MAX_DIAGNOSTICS = 5  # diagnostics offered per request (a line full of errors stays readable)
MAX_ERROR_TEXT = 200_000  # characters of a traceback the command reads
REQUEST_FAILED = int(types.LSPErrorCodes.RequestFailed)


class FixFeature(Feature):
    """Quick fixes on diagnostics and the traceback / failing test commands (module doc)."""

    name = "fix"

    def setup(self, server: OffpilotServer) -> None:
        super().setup(server)

        @server.command(EXPLAIN_PROBLEM)
        async def explain_problem(ls: OffpilotServer, *args: Any) -> dict[str, Any]:
            return await run_explain_problem(ls, args)

        @server.command(FIX_PROBLEM)
        async def fix_problem(ls: OffpilotServer, *args: Any) -> dict[str, Any]:
            return await run_fix_problem(ls, args)

        @server.command(EXPLAIN_ERROR)
        async def explain_error(ls: OffpilotServer, *args: Any) -> dict[str, Any]:
            return await run_explain_error(ls, args)

        @server.command(FIX_TEST)
        async def fix_test(ls: OffpilotServer, *args: Any) -> dict[str, Any]:
            return await run_fix_test(ls, args)

    def code_actions(self, params: types.CodeActionParams, doc: Document
                     ) -> list[types.CodeAction]:
        return problem_actions(params, doc)


# ----------------------------------------------------------------------------- code actions
def diagnostic_json(diagnostic: types.Diagnostic) -> dict[str, Any]:
    rng = diagnostic.range
    code = diagnostic.code
    return {"range": {"start": {"line": rng.start.line, "character": rng.start.character},
                      "end": {"line": rng.end.line, "character": rng.end.character}},
            "message": diagnostic.message, "source": diagnostic.source or "",
            "code": "" if code is None else str(code)}


def problem_actions(params: types.CodeActionParams, doc: Document) -> list[types.CodeAction]:
    """Explain and Fix for each diagnostic the editor sent; no model runs here."""
    context = params.context
    diagnostics = [d for d in (context.diagnostics if context is not None else []) or []
                   if (d.source or "").lower() != OWN_SOURCE and d.message.strip()]
    actions: list[types.CodeAction] = []
    for diagnostic in diagnostics[:MAX_DIAGNOSTICS]:
        arg = {"uri": doc.uri, "diagnostic": diagnostic_json(diagnostic)}
        short = diagnostic.message.strip().splitlines()[0][:60]
        suffix = f" ({short})" if len(diagnostics) > 1 else ""
        for title, command in ((FIX_TITLE, FIX_PROBLEM), (EXPLAIN_TITLE, EXPLAIN_PROBLEM)):
            actions.append(types.CodeAction(
                title=title + suffix, kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                command=types.Command(title=title, command=command, arguments=[arg])))
    return actions


# ----------------------------------------------------------------------------- arguments
def _invalid(command: str, message: str) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(f"{command}: {message}")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_problem(ls: OffpilotServer, command: str, args: Any
                 ) -> tuple[Document, DiagnosticRequest]:
    """``[{"uri", "diagnostic": {range, message, source?, code?}}]`` → the document and the
    request; JsonRpcInvalidParams with what is wrong otherwise."""
    if not args or not isinstance(args[0], dict):
        raise _invalid(command, 'expected the arguments [{"uri": ..., "diagnostic": {...}}]')
    uri, diag = args[0].get("uri"), args[0].get("diagnostic")
    if not isinstance(uri, str) or not uri:
        raise _invalid(command, '"uri" must be a document URI')
    if not isinstance(diag, dict) or not isinstance(diag.get("message"), str):
        raise _invalid(command, '"diagnostic" must be {range, message, source?, code?}')
    rng = _dict(diag.get("range"))
    start = _dict(rng.get("start"))
    end = _dict(rng.get("end")) or start
    sl, sc = _int(start.get("line")), _int(start.get("character"))
    el, ec = _int(end.get("line")), _int(end.get("character"))
    if sl is None or sc is None or el is None or ec is None:
        raise _invalid(command, '"diagnostic.range" must be {start, end} of {line, character}')
    if ls.documents.private(uri):
        raise _invalid(command, f"{ls.documents.excluded(uri)}; it is never sent to a model")
    doc = load_document(ls, uri)
    if doc is None:
        raise _invalid(command, f"cannot read {uri}: it is not open in the editor and not a "
                                "readable file")
    path = Path(doc.path or to_fs_path(uri) or uri)
    lines = max(1, doc.text.count("\n") + 1)
    sl, el = min(max(0, sl), lines - 1), min(max(0, el), lines - 1)
    if el < sl:
        sl, el = el, sl
    code = diag.get("code")
    request = DiagnosticRequest(
        root=root_for(ls, path), path=path, text=doc.text, start_line=sl,
        start_character=max(0, sc), end_line=el, end_character=max(0, ec),
        message=diag["message"], source=str(diag.get("source") or ""),
        code="" if code is None else str(code), language=doc.language_id or "text")
    return doc, request


def root_for(ls: OffpilotServer, path: Path | None) -> Path:
    """The deepest workspace folder holding ``path``; else the first one; else the project
    around ``path``; else the current directory."""
    roots = [r.resolve() for r in ls.roots]
    if path is not None:
        resolved = path.resolve()
        inside = [r for r in roots if r == resolved or r in resolved.parents]
        if inside:
            return max(inside, key=lambda r: len(r.parts))
    if roots:
        return roots[0]
    if path is not None:
        return find_root(path.resolve())
    return Path.cwd()


# ----------------------------------------------------------------------------- model
def _model_unavailable(what: str, exc: ModelError) -> JsonRpcException:
    return JsonRpcException(
        message=f"Offpilot cannot {what}: the chat model is unavailable ({exc}). Set "
                "offpilot.chatModel (or offpilot.model) to a .gguf file or a profile from "
                "`offpilot models list`, or leave both empty for the embedded default.",
        code=REQUEST_FAILED)


async def _backend(ls: OffpilotServer, what: str, progress: CommandProgress) -> Backend:
    progress.report("loading the model")
    try:
        return await ls.models.backend(CHAT)
    except ModelError as exc:
        raise _model_unavailable(what, exc) from None


def _save(ls: OffpilotServer, markdown: str, name: str) -> str:
    """Write the explanation to the cache (shown by editors without an Explain view)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:100] or "problem"
    try:
        folder = explain_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}.md"
        path.write_text(markdown, encoding="utf-8")
    except OSError as exc:
        log.warning("could not write the explanation: %s", exc)
        return ""
    if client_shows_documents(ls):
        params = types.ShowDocumentParams(uri=path.as_uri(), take_focus=False)

        async def show() -> None:
            try:
                await show_document(ls, params)
            except ClientRequestFailed as exc:
                log.info("window/showDocument: the editor gave %s", exc)

        ls.spawn(show())
    return str(path)


async def _explain_problem(ls: OffpilotServer, request: DiagnosticRequest,
                           progress: CommandProgress) -> str:
    backend = await _backend(ls, "explain this problem", progress)
    progress.report("writing")
    try:
        answer = await explain_diagnostic(backend, request, on_text=progress.stream)
    except ModelError as exc:
        raise _model_unavailable("explain this problem", exc) from None
    return answer.markdown


def _label(request: DiagnosticRequest) -> str:
    return f"{request.path.stem}-problem-{request.start_line + 1}"


# ----------------------------------------------------------------------------- commands
async def run_explain_problem(ls: OffpilotServer, args: Any) -> dict[str, Any]:
    _doc, request = read_problem(ls, EXPLAIN_PROBLEM, args)
    with CommandProgress(ls, "Offpilot: Explain this problem") as progress:
        ls.set_status("generating", f"explaining {request.path.name}:{request.start_line + 1}")
        try:
            markdown = await _explain_problem(ls, request, progress)
        finally:
            if ls.status.get("state") == "generating":
                ls.set_status("ready")
    return {"markdown": markdown, "path": _save(ls, markdown, _label(request))}


async def run_fix_problem(ls: OffpilotServer, args: Any) -> dict[str, Any]:
    doc, request = read_problem(ls, FIX_PROBLEM, args)
    version = doc.version if ls.documents.get(doc.uri) is not None else None
    settings = ls.settings
    notes: list[str] = []
    reason = not_run_reason(settings)
    if reason:
        notes.append(f"{reason} (only checks that run no code verified the fix)")
    with CommandProgress(ls, "Offpilot: Fix this problem") as progress:
        ls.set_status("generating", f"fixing {request.path.name}:{request.start_line + 1}")
        try:
            backend = await _backend(ls, "fix this problem", progress)
            progress.report("looking for a verified fix")
            try:
                fix = await fix_diagnostic(request, backend=backend, settings=settings)
            except ModelError as exc:
                raise _model_unavailable("fix this problem", exc) from None
            answer: dict[str, Any] = {**fix.to_json(), "applied": False, "notes": notes,
                                      "markdown": ""}
            if fix.edit is not None:
                progress.report("applying the verified fix")
                answer["applied"], why = await send_edit(ls, doc.uri, version, request.text,
                                                         fix.edit, fix.reason)
                if why:
                    answer["notes"].append(why)
                markdown = (f"## Verified fix\n\n{fix.reason}.\n\n```diff\n{fix.edit.diff}```\n")
                progress.stream(markdown)
                answer["markdown"] = markdown
                return answer
            progress.report("no verified fix: explaining the problem")
            head = (f"**No verified fix**: {fix.reason}. Nothing was applied.\n\n")
            progress.stream(head)
            explanation = await _explain_problem(ls, request, progress)
            tail = f"\n\n{fix.unverified_idea}" if fix.unverified_idea else ""
            progress.stream(tail)
            answer["markdown"] = head + explanation + tail
            answer["path"] = _save(ls, answer["markdown"], _label(request))
            return answer
        finally:
            if ls.status.get("state") == "generating":
                ls.set_status("ready")


async def run_explain_error(ls: OffpilotServer, args: Any) -> dict[str, Any]:
    arg = args[0] if args else None
    if isinstance(arg, str):
        arg = {"text": arg}
    if not isinstance(arg, dict) or not isinstance(arg.get("text"), str) \
            or not arg["text"].strip():
        raise _invalid(EXPLAIN_ERROR, 'expected the arguments [{"text": "<traceback>", '
                                      '"uri"?: ...}]')
    text = arg["text"][-MAX_ERROR_TEXT:]
    uri = arg.get("uri")
    path = Path(to_fs_path(uri) or uri) if isinstance(uri, str) and uri.startswith("file:") \
        else None
    root = root_for(ls, path)
    if not parse_error_text(text).language:  # before the model loads: bad input says so
        raise _invalid(EXPLAIN_ERROR, "no Python traceback or Rust panic found in the text")
    with CommandProgress(ls, "Offpilot: Explain this error") as progress:
        ls.set_status("generating", "explaining an error")
        try:
            backend = await _backend(ls, "explain this error", progress)
            progress.report("writing")
            try:
                result = await explain_traceback(backend, text, root, on_text=progress.stream)
            except ValueError as exc:
                raise _invalid(EXPLAIN_ERROR, str(exc)) from None
            except ModelError as exc:
                raise _model_unavailable("explain this error", exc) from None
        finally:
            if ls.status.get("state") == "generating":
                ls.set_status("ready")
    error = result.error
    return {"markdown": result.markdown,
            "path": _save(ls, result.markdown, f"error-{error.error_type or 'error'}"),
            "error": {"type": error.error_type, "message": error.message,
                      "language": error.language,
                      "frames": [f.to_json() for f in error.frames]},
            "framesShown": [f.to_json() for f in result.frames_shown]}


async def run_fix_test(ls: OffpilotServer, args: Any) -> dict[str, Any]:
    arg = args[0] if args else None
    if isinstance(arg, str):
        arg = {"testId": arg}
    if not isinstance(arg, dict) or not isinstance(arg.get("testId"), str) \
            or not arg["testId"].strip():
        raise _invalid(FIX_TEST, 'expected the arguments [{"testId": "tests/x.py::test_y", '
                                 '"uri"?: ...}]')
    uri = arg.get("uri")
    path = Path(to_fs_path(uri) or uri) if isinstance(uri, str) and uri.startswith("file:") \
        else None
    root = root_for(ls, path)
    # a cargo test name belongs to the crate of ``uri`` when one is given
    request = FixRequest(root=root, test_id=arg["testId"].strip(),
                         cwd=path.parent if path is not None else None)
    settings = ls.settings
    with CommandProgress(ls, "Offpilot: Fix this test") as progress:
        ls.set_status("generating", f"fixing {request.test_id}")
        try:
            backend: Backend | None = None
            if not not_run_reason(settings):
                backend = await _backend(ls, "fix this test", progress)
            try:
                result = await fix_failing_test(request, backend=backend, settings=settings,
                                                on_text=progress.stream,
                                                on_progress=progress.report)
            except ModelError as exc:
                raise _model_unavailable("fix this test", exc) from None
        finally:
            if ls.status.get("state") == "generating":
                ls.set_status("ready")
    answer: dict[str, Any] = {**result.to_json(), "applied": False, "notes": []}
    if result.edit is not None:
        edit = result.edit
        uri_of = edit.path.as_uri()
        doc = ls.documents.get(uri_of)
        try:
            current = doc.text if doc is not None else edit.path.read_text(encoding="utf-8")
        except OSError as exc:
            answer["notes"].append(f"the fix was not applied: cannot read {edit.path} ({exc})")
            return answer
        answer["applied"], why = await send_edit(
            ls, uri_of, doc.version if doc is not None else None, current, edit, result.reason)
        if why:
            answer["notes"].append(why)
    return answer


# ----------------------------------------------------------------------------- the edit
def supports_annotations(ls: OffpilotServer) -> bool:
    workspace = ls.client_capabilities.workspace
    edit = workspace.workspace_edit if workspace is not None else None
    return bool(edit is not None and edit.document_changes
                and edit.change_annotation_support is not None)


def workspace_edit(ls: OffpilotServer, uri: str, version: int | None, edit: FixEdit,
                   reason: str) -> types.WorkspaceEdit:
    """One text edit replacing the function; annotated for confirmation where the client can
    preview it."""
    (sl, sc), (el, ec) = edit.lsp_range()
    if ec and str(ls.documents.position_encoding) == types.PositionEncodingKind.Utf8:
        last = edit.old_text.rsplit("\n", 1)[-1]
        ec = len(last.encode("utf-8"))
    rng = types.Range(start=types.Position(line=sl, character=sc),
                      end=types.Position(line=el, character=ec))
    if supports_annotations(ls):
        return types.WorkspaceEdit(
            document_changes=[types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri,
                                                                            version=version),
                edits=[types.AnnotatedTextEdit(range=rng, new_text=edit.new_text,
                                               annotation_id=ANNOTATION_ID)])],
            change_annotations={ANNOTATION_ID: types.ChangeAnnotation(
                label="Offpilot: verified fix", needs_confirmation=True,
                description=reason[:200])})
    return types.WorkspaceEdit(changes={uri: [types.TextEdit(range=rng,
                                                             new_text=edit.new_text)]})


async def send_edit(ls: OffpilotServer, uri: str, version: int | None, text_before: str,
                    edit: FixEdit, reason: str) -> tuple[bool, str]:
    """Ask the editor to apply ``edit``; (applied, why not). Refused when the document changed
    since the fix was made (the edit would land on other lines)."""
    doc = ls.documents.get(uri)
    try:
        current = doc.text if doc is not None else edit.path.read_text(encoding="utf-8")
    except OSError as exc:
        return False, f"the fix was not applied: cannot read {edit.path} ({exc})"
    if current != text_before:
        return False, "the fix was not applied: the document changed while it was made"
    try:
        result = await apply_edit(ls, workspace_edit(ls, uri, version, edit, reason),
                                  "Offpilot: verified fix")
    except ClientRequestFailed as exc:
        return False, f"the fix was not applied: the editor gave {exc}"
    if not result.applied:
        return False, ("the editor did not apply the fix"
                       + (f" ({result.failure_reason})" if result.failure_reason else ""))
    return True, ""


__all__ = ["EXPLAIN_ERROR", "EXPLAIN_PROBLEM", "EXPLAIN_TITLE", "FIX_PROBLEM", "FIX_TEST",
           "FIX_TITLE", "FixFeature"]
