"""Documentation in the editor: a diagnostic, its quick fix, and Generate documentation.

- Diagnostics (``offpilot.docDiagnostics``): after a document opens or changes, every
  docstring or doc comment whose documented parameters differ from the signature (a Go doc
  comment: that starts with another identifier than the name) gets an Information diagnostic
  (source ``offpilot``, code ``doc-params``) on its first line. No model runs; the check runs in
  a thread, off the event loop, and a result for a text the document no longer has is dropped.
  Python, and the
  languages of :mod:`offpilot.features.docs.comments` (JSDoc, rustdoc, Go, Javadoc, Doxygen).
- Code actions: ``Offpilot: Update documentation`` (``quickfix``), an edit that rewrites the
  parameter section to match the signature; ``Offpilot: Generate documentation``
  (``refactor.rewrite``) on a function, method or class without a docstring, which runs
  ``offpilot.generateDocs`` only when chosen.
- ``offpilot.generateDocs`` with ``[{"uri", "position"|"range", "style"?}]``: the model drafts,
  :mod:`offpilot.features.docs.generate` repairs it from the code, and the docstring is inserted
  with ``workspace/applyEdit`` (on the open document's version, so an edit typed meanwhile makes
  the editor refuse it). The draft streams as ``offpilot/stream``, progress as ``$/progress``;
  ``$/cancelRequest`` stops the model (or the sandboxed runs) and writes nothing. For Python,
  with ``offpilot.docExamples`` on, the docstring gets an Examples section of calls recorded and
  checked with doctest in the test sandbox (:mod:`offpilot.features.docs.examples`; never in an
  untrusted workspace). The answer is ``{"docstring", "style", "line", "applied",
  "parameters", "described", "summarized", "examples", "notes"}`` (``notes``: why there is no
  Examples section, when there is none).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.uris import to_fs_path

from offpilot.config import Settings
from offpilot.context.documents import Document, index_to_column
from offpilot.engine.backend import ModelError
from offpilot.engine.manager import CHAT
from offpilot.features.docs import comments
from offpilot.features.docs.checks import LineEdit, Mismatch, check_source, fix
from offpilot.features.docs.declarations import LANGUAGES as COMMENT_LANGUAGES
from offpilot.features.docs.examples import add_examples, no_examples
from offpilot.features.docs.generate import (
    DocResult,
    DocsError,
    document,
    project_style,
    undocumented_at,
)
from offpilot.lsp.actions import load_document, read_target_argument
from offpilot.lsp.feature import Edit, Feature
from offpilot.lsp.progress import CommandProgress
from offpilot.lsp.server import OffpilotServer

log = logging.getLogger(__name__)

GENERATE_DOCS = "offpilot.generateDocs"
GENERATE_TITLE = "Offpilot: Generate documentation"
UPDATE_TITLE = "Offpilot: Update documentation"
DIAGNOSTIC_CODE = "doc-params"
SOURCE = "offpilot"
DEBOUNCE = 0.3  # seconds after the last change before a document is checked
REQUEST_FAILED = int(types.LSPErrorCodes.RequestFailed)


class DocsFeature(Feature):
    """Documentation diagnostics (debounced after each change), their quick fix, Generate
    documentation."""

    name = "docs"

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._published: set[str] = set()
        self._running: dict[str, asyncio.Task[None]] = {}  # a check in its thread, per document
        self._again: set[str] = set()  # documents that changed while their check ran

    def setup(self, server: OffpilotServer) -> None:
        super().setup(server)

        @server.command(GENERATE_DOCS)
        async def generate_docs(ls: OffpilotServer, *args: Any) -> dict[str, Any]:
            return await run_generate_docs(ls, args)

    def _later(self, uri: str) -> None:
        old = self._pending.pop(uri, None)
        if old is not None:
            old.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._pending[uri] = loop.call_later(DEBOUNCE, self._publish, uri)

    def _publish(self, uri: str) -> None:
        """Start the check of ``uri`` in a thread (one at a time per document: a change during
        a check runs it again once that one ends)."""
        self._pending.pop(uri, None)
        if uri in self._running:
            self._again.add(uri)
            return
        task = asyncio.ensure_future(publish(self.server, uri, self._published))
        self._running[uri] = task
        task.add_done_callback(lambda _t: self._checked(uri))

    def _checked(self, uri: str) -> None:
        self._running.pop(uri, None)
        if uri in self._again:
            self._again.discard(uri)
            self._publish(uri)

    def document_opened(self, doc: Document) -> None:
        self._later(doc.uri)

    def document_changed(self, doc: Document, edit: Edit | None) -> None:
        self._later(doc.uri)

    def document_closed(self, uri: str) -> None:
        self._later(uri)

    def settings_changed(self, old: Settings, new: Settings) -> None:
        if old.doc_diagnostics != new.doc_diagnostics:
            for doc in list(self.server.documents):
                self._later(doc.uri)

    def code_actions(self, params: types.CodeActionParams, doc: Document
                     ) -> list[types.CodeAction]:
        return code_actions(self.server, params, doc)


def is_python(doc: Document) -> bool:
    return (doc.spec is not None and doc.spec.name == "python") or doc.language_id == "python"


def has_comments(doc: Document) -> bool:
    """A language documented with doc comments (JSDoc, rustdoc, ...), not docstrings."""
    return doc.spec is not None and doc.spec.name in COMMENT_LANGUAGES and not is_python(doc)


def documented(doc: Document) -> bool:
    return is_python(doc) or has_comments(doc)


def _undocumented_at(doc: Document, text: str, byte: int) -> Any:
    if has_comments(doc) and doc.spec is not None:
        return comments.undocumented_at(text, doc.spec, byte)
    return undocumented_at(text, byte)


def _fix(mismatch: Mismatch | comments.CommentMismatch) -> LineEdit | None:
    if isinstance(mismatch, comments.CommentMismatch):
        return comments.fix(mismatch)
    return fix(mismatch)


# ----------------------------------------------------------------------------- diagnostics
def _line_range(doc: Document, line: int) -> types.Range:
    text = doc.line_text(line)
    start = len(text) - len(text.lstrip())
    enc = doc.encoding
    return types.Range(
        start=types.Position(line=line, character=index_to_column(text, start, enc)),
        end=types.Position(line=line, character=index_to_column(text, len(text), enc)))


def mismatches(doc: Document, text: str | None = None
               ) -> list[Mismatch | comments.CommentMismatch]:
    """The documentation that disagrees with the code. With ``text`` (a snapshot of the
    document's text), the document's tree is not used: it is parsed again, so that the check
    can run in a thread while the event loop edits the document."""
    tree = doc.tree if text is None else None
    text = doc.text if text is None else text
    if has_comments(doc) and doc.spec is not None:
        return list(comments.check_source(text, doc.spec, tree))
    if not is_python(doc):
        return []
    return list(check_source(text, tree))


def diagnostic(doc: Document, mismatch: Mismatch | comments.CommentMismatch
               ) -> types.Diagnostic:
    line = mismatch.definition.docstring.start_line if mismatch.definition.docstring else \
        mismatch.definition.name_line
    return types.Diagnostic(range=_line_range(doc, line), message=mismatch.message,
                            severity=types.DiagnosticSeverity.Information, source=SOURCE,
                            code=DIAGNOSTIC_CODE)


def checked(ls: OffpilotServer, doc: Document) -> bool:
    """Whether ``doc`` gets documentation checks: not a file larger than ``maxFileSize`` (a
    minified bundle), whose check would hold up the editing session for seconds."""
    return documented(doc) and len(doc.text) <= ls.settings.max_file_size


async def publish(ls: OffpilotServer, uri: str, published: set[str]) -> None:
    """Check ``uri`` in a thread (seconds on a large file: never on the event loop) and publish
    what it finds; a result for a text the document no longer has is dropped (the change that
    replaced it scheduled a check of its own)."""
    doc = ls.documents.get(uri)
    found: list[types.Diagnostic] = []
    if doc is not None and ls.settings.doc_diagnostics and checked(ls, doc):
        text, version = doc.text, doc.version
        try:
            found_mismatches = await asyncio.to_thread(mismatches, doc, text)
        except Exception:  # a check must never break the editing session
            log.exception("documentation check failed for %s", uri)
            return
        current = ls.documents.get(uri)
        if current is None or current.version != version or current.text != text:
            return
        found = [diagnostic(current, m) for m in found_mismatches]
    if not found and uri not in published:
        return
    if found:
        published.add(uri)
    else:
        published.discard(uri)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
        uri=uri, diagnostics=found, version=doc.version if doc is not None else None))


# ----------------------------------------------------------------------------- code actions
def _overlaps(rng: types.Range, first_line: int, last_line: int) -> bool:
    return rng.start.line <= last_line and rng.end.line >= first_line


def _text_edit(doc: Document, edit: LineEdit) -> types.TextEdit:
    text = "".join(line + "\n" for line in edit.lines)
    return types.TextEdit(range=types.Range(start=types.Position(line=edit.start, character=0),
                                            end=types.Position(line=edit.end, character=0)),
                          new_text=text)


def code_actions(ls: OffpilotServer, params: types.CodeActionParams, doc: Document
                 ) -> list[types.CodeAction]:
    if not checked(ls, doc):
        return []
    out: list[types.CodeAction] = []
    rng = params.range
    context = params.context.diagnostics if params.context is not None else []
    for m in mismatches(doc):
        d = m.definition
        # a docstring follows its `def`, a doc comment comes before the declaration
        first = min(d.name_line, d.docstring.start_line) if d.docstring else d.name_line
        last = max(d.name_line, d.docstring.end_line) if d.docstring else d.name_line
        if not _overlaps(rng, first, last):
            continue
        edit = _fix(m)
        if edit is None:
            continue
        ours = [x for x in context or [] if x.source == SOURCE and x.code == DIAGNOSTIC_CODE
                and _overlaps(x.range, first, last)]
        out.append(types.CodeAction(
            title=UPDATE_TITLE, kind=types.CodeActionKind.QuickFix,
            diagnostics=ours or [diagnostic(doc, m)], is_preferred=True,
            edit=types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=doc.uri, version=doc.version),
                edits=[_text_edit(doc, edit)])])))
    offset = doc.offset_at(rng.start.line, rng.start.character)
    target = _undocumented_at(doc, doc.text, doc.byte_offset(offset))
    if target is not None and GENERATE_DOCS in ls.protocol.fm.commands:
        arg = {"uri": doc.uri, "position": {"line": rng.start.line,
                                            "character": rng.start.character}}
        out.append(types.CodeAction(
            title=GENERATE_TITLE, kind=types.CodeActionKind.RefactorRewrite,
            command=types.Command(title=GENERATE_TITLE, command=GENERATE_DOCS,
                                  arguments=[arg])))
    return out


# ----------------------------------------------------------------------------- command
def _invalid(message: str) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(f"{GENERATE_DOCS}: {message}")


def _read_args(args: Any) -> tuple[str, types.Position, str]:
    if args and isinstance(args[0], dict) and "position" in args[0] and "range" not in args[0]:
        arg = dict(args[0])
        arg["range"] = {"start": arg["position"], "end": arg["position"]}
        args = [arg]
    uri, rng, _scope = read_target_argument(args)
    if rng is None:
        raise ValueError('"position" or "range" is required')
    style = args[0].get("style", "auto")
    if style not in ("auto", "google", "numpy", "rest", *comments.COMMENT_STYLES):
        raise ValueError('"style" must be auto, google, numpy, rest, '
                         + ", ".join(comments.COMMENT_STYLES))
    return uri, rng.start, str(style)


async def run_generate_docs(ls: OffpilotServer, args: Any) -> dict[str, Any]:
    try:
        uri, position, style = _read_args(args)
    except ValueError as exc:
        raise _invalid(str(exc)) from None
    if ls.documents.private(uri):
        raise _invalid(f"{ls.documents.excluded(uri)}; it is never sent to a model")
    doc = load_document(ls, uri)
    if doc is None:
        raise _invalid(f"cannot read {uri}: it is not open in the editor and not a readable file")
    if not documented(doc):
        raise _invalid("documentation is generated for Python, JavaScript, TypeScript, Rust, "
                       "Go, Java, C and C++ files")
    text, version = doc.text, doc.version
    offset = doc.offset_at(position.line, position.character)
    target = _undocumented_at(doc, text, doc.byte_offset(offset))
    if target is None:
        raise _invalid("there is no function, method or class without documentation here")
    path: Path | None = None
    root: Path | None = None
    if has_comments(doc) and doc.spec is not None:
        chosen = comments.STYLE_OF[doc.spec.name]  # each of these languages has one style
        if style not in ("auto", chosen):
            raise _invalid(f"{doc.spec.name} is documented in the {chosen} style, not {style}")
    else:
        if style in comments.COMMENT_STYLES:
            raise _invalid(f"Python is documented with docstrings, not {style}")
        fs = to_fs_path(uri)
        path = Path(fs) if fs else None
        root = next((r for r in ls.roots if path is not None and r in path.parents), None)
        chosen = await asyncio.to_thread(project_style, text, path, root,
                                         style if style != "auto" else ls.settings.doc_style)
    with CommandProgress(ls, "Offpilot: Generate documentation") as progress:
        ls.set_status("generating", f"documenting {target.name}")
        try:
            progress.report("loading the model")
            backend = await ls.models.backend(CHAT)
            progress.report(f"writing the docstring of {target.name} ({chosen} style)")
            if has_comments(doc):
                result: Any = await comments.document(backend, text, target, chosen,
                                                      on_text=progress.stream)
            else:
                result = await document(backend, text, target, chosen, on_text=progress.stream)
                result = await _examples(ls, result, text, path, root, progress)
        except ModelError as exc:
            raise JsonRpcException(message=f"Offpilot cannot write documentation: the chat "
                                   f"model is unavailable ({exc})", code=REQUEST_FAILED) from None
        except DocsError as exc:
            raise _invalid(str(exc)) from None
        finally:
            if ls.status.get("state") == "generating":
                ls.set_status("ready")
        progress.report("inserting")
        applied, reason = await _apply(ls, doc, text, version, result.insertion)
    log.info("documented %s in %.1fs (%s)", target.name, result.seconds, result.stop_reason)
    return {"docstring": result.insertion.text, "style": result.style,
            "line": result.insertion.line, "applied": applied, "reason": reason,
            "parameters": [p[0] for p in result.parts.params],
            "described": result.described, "summarized": result.summarized,
            "examples": getattr(result, "examples", 0),
            "notes": [note] if (note := getattr(result, "examples_note", "")) else []}


async def _examples(ls: OffpilotServer, result: DocResult, text: str, path: Path | None,
                    root: Path | None, progress: CommandProgress) -> DocResult:
    """The docstring with an Examples section recorded in the sandbox, when
    ``offpilot.docExamples`` is on (never in an untrusted workspace: see
    :mod:`offpilot.features.docs.examples`)."""
    await ls.settings_settled()  # (workspaceTrusted may come with the client's configuration)
    if not ls.settings.doc_examples:
        return result
    if path is None:
        return no_examples(result, "no Examples section: the document is not a file")
    progress.report("recording examples in the sandbox")
    out = await add_examples(result, text, root=root or path.parent, path=path,
                             settings=ls.settings, on_progress=progress.report)
    if out.examples_note:
        log.info("%s: %s", result.definition.name, out.examples_note)
    return out


async def _apply(ls: OffpilotServer, doc: Document, text: str, version: int | None,
                 ins: Any) -> tuple[bool, str]:
    current = ls.documents.get(doc.uri)
    if current is not None and current.text != text:
        return False, "the document changed while the documentation was written"
    caps = ls.client_capabilities.workspace
    if caps is None or not caps.apply_edit:
        return False, "the editor cannot apply edits"
    edit = types.TextEdit(range=types.Range(start=types.Position(line=ins.line, character=0),
                                            end=types.Position(line=ins.line, character=0)),
                          new_text=ins.text)
    opened = ls.documents.get(doc.uri) is not None
    workspace_edit = types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(
            uri=doc.uri, version=version if opened else None), edits=[edit])])
    answer = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
        edit=workspace_edit, label=GENERATE_TITLE))
    if answer is None or not answer.applied:
        return False, getattr(answer, "failure_reason", None) or "the editor refused the edit"
    return True, ""
