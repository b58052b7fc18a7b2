"""Code actions (Explain, Generate tests) and the ``offpilot.explain`` command.

- ``textDocument/codeAction``: on a selection, or on the function or class around the cursor,
  offers "Explain this code" (``offpilot.explain``), "Generate unit tests" and "Generate tests for
  this file" (``offpilot.generateTests``, scope ``symbol`` / ``file``). Only tree-sitter runs
  here, never the model; bad input (an unknown document, positions out of range) gets ``[]``.
- ``offpilot.explain`` with ``[{"uri", "range"}]``: resolves the target
  (:func:`offpilot.features.explain.pick_target`), adds the definitions it calls from the
  workspace, streams the Markdown as ``offpilot/stream`` notifications with work-done progress,
  writes it to ``<cache>/explain/<name>.md`` and answers ``{"markdown", "path"}``. Clients other
  than VS Code (whose extension has its own panel) are also asked to show that file.

The work happens in :mod:`offpilot.features.explain`; this module converts LSP types.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from offpilot.context.documents import Document
from offpilot.engine.backend import ModelError
from offpilot.engine.manager import CHAT
from offpilot.features.explain import (
    ExplainTarget,
    context_budget,
    explain,
    file_target,
    pick_target,
    save_markdown,
)
from offpilot.features.testgen import language_of, runs_tests_in
from offpilot.lsp.client_requests import ClientRequestFailed, show_document
from offpilot.lsp.feature import Feature
from offpilot.lsp.progress import CommandProgress
from offpilot.lsp.server import OffpilotServer

log = logging.getLogger(__name__)

EXPLAIN_COMMAND = "offpilot.explain"
GENERATE_TESTS_COMMAND = "offpilot.generateTests"
EXPLAIN_TITLE = "Offpilot: Explain this code"
TESTS_TITLE = "Offpilot: Generate unit tests"
FILE_TESTS_TITLE = "Offpilot: Generate tests for this file"
DRAFT_SUFFIX = " (UNVERIFIED draft)"  # test generation cannot run this language's tests here
CONTEXT_WAIT = 3.0  # seconds an explanation waits for the first index build
# Clients with their own Explain view (the Offpilot VS Code extension): no extra editor tab.
OWN_PANEL_CLIENTS = ("visual studio code", "vscodium", "code - oss", "code-server", "cursor",
                     "windsurf")
REQUEST_FAILED = int(types.LSPErrorCodes.RequestFailed)
_CODE_ACTION_TAG = getattr(types, "CodeActionTag", None)  # LSP 3.18, lsprotocol >= 2025


class ExplainFeature(Feature):
    """``offpilot.explain`` and ``textDocument/codeAction``, which offers Explain and Generate
    tests and gathers every feature's own actions (:meth:`Feature.code_actions`)."""

    name = "explain"

    def setup(self, server: OffpilotServer) -> None:
        super().setup(server)
        _register(server)


def _register(server: OffpilotServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.Refactor,
                           types.CodeActionKind.RefactorRewrite, types.CodeActionKind.Source]))
    def code_action(ls: OffpilotServer, params: types.CodeActionParams
                    ) -> list[types.CodeAction | types.Command]:
        try:
            return code_actions(ls, params)
        except Exception:  # a code action must never fail the editor's request: logged
            log.exception("code actions failed for %s", params.text_document.uri)
            return []

    @server.command(EXPLAIN_COMMAND)
    async def explain_command(ls: OffpilotServer, *args: Any) -> dict[str, Any]:
        return await run_explain(ls, args)


# ----------------------------------------------------------------------------- documents
def load_document(ls: OffpilotServer, uri: str) -> Document | None:
    """The open document, else the file on disk (read-only), else None."""
    if not isinstance(uri, str):
        return None
    doc = ls.documents.get(uri)
    if doc is not None or not uri.startswith("file:"):
        return doc
    try:
        return ls.documents.load(uri, ls.settings.max_file_size)
    except ValueError:  # a file: URI that names no path
        return None


def target_in(ls: OffpilotServer, doc: Document, rng: types.Range | None,
              scope: str = "symbol") -> ExplainTarget:
    """What a range of ``doc`` means: the selection, the definition at the cursor or the file."""
    path = ls.document_path(doc.uri)
    if rng is None or scope == "file":
        return file_target(doc.text, path=path, language=doc.language_id)
    start = doc.offset_at(rng.start.line, rng.start.character)
    end = doc.offset_at(rng.end.line, rng.end.character)
    return pick_target(doc.text, start, end, path=path, language=doc.language_id,
                       tree=doc.tree, spec=doc.spec)


def range_json(rng: types.Range) -> dict[str, Any]:
    return {"start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character}}


def _position(value: Any) -> types.Position:
    if not isinstance(value, dict):
        raise ValueError("a position is {line, character}")
    line, character = value.get("line"), value.get("character")
    if not isinstance(line, int) or not isinstance(character, int) \
            or isinstance(line, bool) or isinstance(character, bool):
        raise ValueError("line and character must be integers")
    return types.Position(line=max(0, line), character=max(0, character))


def read_target_argument(args: Any) -> tuple[str, types.Range | None, str]:
    """``[{"uri", "range", "scope"?}]`` → (uri, range or None, scope); ValueError otherwise."""
    if not args or not isinstance(args[0], dict):
        raise ValueError('expected the arguments [{"uri": ..., "range": {...}}]')
    arg = args[0]
    uri = arg.get("uri")
    if not isinstance(uri, str) or not uri:
        raise ValueError('"uri" must be a document URI')
    raw = arg.get("range")
    rng = None
    if raw is not None:
        if not isinstance(raw, dict):
            raise ValueError('"range" must be {start, end}')
        rng = types.Range(start=_position(raw.get("start")), end=_position(raw.get("end")))
    scope = arg.get("scope") if arg.get("scope") in ("symbol", "file") else "symbol"
    return uri, rng, str(scope)


# ----------------------------------------------------------------------------- code actions
def code_actions(ls: OffpilotServer, params: types.CodeActionParams
                 ) -> list[types.CodeAction | types.Command]:
    doc = load_document(ls, params.text_document.uri)
    if doc is None or ls.documents.private(doc.uri):
        return []  # nothing of a file that looks like it holds secrets goes to a model
    target = target_in(ls, doc, params.range)
    uri = doc.uri
    arg = {"uri": uri, "range": range_json(params.range)}
    offers: list[tuple[str, str, list[Any], str]] = []  # title, command, arguments, kind
    if target.kind != "file":  # a selection or a definition: not the top level of a file
        offers.append((EXPLAIN_TITLE, EXPLAIN_COMMAND, [arg], types.CodeActionKind.Refactor))
    language = language_of(Path(doc.path or ls.documents.path_of(uri)))
    tests = GENERATE_TESTS_COMMAND in ls.protocol.fm.commands and language is not None
    draft = "" if language is None or runs_tests_in(language) else DRAFT_SUFFIX
    if tests and target.kind != "file":
        offers.append((TESTS_TITLE + draft, GENERATE_TESTS_COMMAND,
                       [{**arg, "scope": "symbol"}], types.CodeActionKind.Refactor))
    if tests:
        offers.append((FILE_TESTS_TITLE + draft, GENERATE_TESTS_COMMAND,
                       [{**arg, "scope": "file"}], types.CodeActionKind.Source))
    only = (params.context.only if params.context is not None else None) or []
    offers = [o for o in offers if not only or any(_kind_matches(o[3], k) for k in only)]
    extra = ls.feature_code_actions(params, doc)  # the features' own (documentation)
    extra = [a for a in extra if not only or any(_kind_matches(a.kind, k) for k in only)]
    caps = _code_action_caps(ls)
    if caps is None or caps.code_action_literal_support is None:
        # A client without CodeAction literals takes plain commands.
        commands: list[types.CodeAction | types.Command] = [
            types.Command(title=t, command=c, arguments=a) for t, c, a, _ in offers]
        return commands + [a.command for a in extra if a.command is not None and a.edit is None]
    tags = _llm_tags(caps)
    for action in extra:
        if action.command is not None and action.edit is None and tags:
            action.tags = tags  # the command runs the model
    actions: list[types.CodeAction | types.Command] = [
        a for a in extra if a.kind == types.CodeActionKind.QuickFix]
    return actions + [
        types.CodeAction(title=t, kind=k, command=types.Command(title=t, command=c,
                                                                arguments=a), tags=tags)
        for t, c, a, k in offers] + [
        a for a in extra if a.kind != types.CodeActionKind.QuickFix]


def _kind_matches(kind: Any, wanted: Any) -> bool:
    """``refactor.rewrite`` is a ``refactor``; kinds are hierarchical."""
    kind, wanted = str(getattr(kind, "value", kind)), str(getattr(wanted, "value", wanted))
    return kind == wanted or kind.startswith(wanted + ".")


def _code_action_caps(ls: OffpilotServer) -> types.CodeActionClientCapabilities | None:
    text_document = ls.client_capabilities.text_document
    return text_document.code_action if text_document is not None else None


def _llm_tags(caps: types.CodeActionClientCapabilities) -> list[Any] | None:
    """``[CodeActionTag.LlmGenerated]`` where the client says it knows the tag."""
    support = getattr(caps, "tag_support", None)
    if _CODE_ACTION_TAG is None or support is None:
        return None
    llm = _CODE_ACTION_TAG.LlmGenerated
    return [llm] if any(int(v) == int(llm) for v in support.value_set or ()) else None


# ----------------------------------------------------------------------------- explain
async def run_explain(ls: OffpilotServer, args: Any) -> dict[str, Any]:
    """The ``offpilot.explain`` command (see the module doc)."""
    try:
        uri, rng, scope = read_target_argument(args)
    except ValueError as exc:
        raise JsonRpcInvalidParams(f"offpilot.explain: {exc}") from None
    if ls.documents.private(uri):
        raise JsonRpcInvalidParams(
            f"offpilot.explain: {ls.documents.excluded(uri)}; it is never sent to a model")
    doc = load_document(ls, uri)
    if doc is None:
        raise JsonRpcInvalidParams(
            f"offpilot.explain: cannot read {uri}: it is not open in the editor and not a "
            "readable file")
    target = await asyncio.to_thread(target_in, ls, doc, rng, scope)
    with CommandProgress(ls, "Offpilot: Explain") as progress:
        ls.set_status("generating", f"explaining {target.label}")
        try:
            result = await _generate(ls, doc, target, progress)
        finally:
            if ls.status.get("state") == "generating":
                ls.set_status("ready")
    log.info("explained %s: %d tokens in %.1fs (%s)", target.label, result.generated_tokens,
             result.seconds, result.stop_reason)
    path = ""
    try:
        path = str(save_markdown(result.markdown, target))
    except OSError as exc:
        log.warning("could not write the explanation: %s", exc)
    if path and client_shows_documents(ls):
        _show_document(ls, path)
    return {"markdown": result.markdown, "path": path}


async def _generate(ls: OffpilotServer, doc: Document, target: ExplainTarget,
                    progress: CommandProgress) -> Any:
    progress.report(f"{target.label}: reading the definitions it uses")
    snippets = await _context(ls, doc, target)
    progress.report("loading the model")
    try:
        backend = await ls.models.backend(CHAT)
    except ModelError as exc:
        raise _model_unavailable(exc) from None
    progress.report("writing")
    lines = -target.heading.count("\n") - 2  # the heading and its blank line come first

    def on_text(delta: str) -> None:
        nonlocal lines
        progress.stream(delta)
        if "\n" in delta:
            lines += delta.count("\n")
            if lines > 0:
                progress.report(f"writing ({lines} lines)")

    try:
        return await explain(backend, target, snippets, settings=ls.settings, on_text=on_text)
    except ModelError as exc:
        raise _model_unavailable(exc) from None


async def _context(ls: OffpilotServer, doc: Document, target: ExplainTarget) -> list[Any]:
    engine = ls.context_engine
    budget = context_budget(target, ls.settings)
    if engine is None or budget <= 0:
        return []
    try:
        if not engine.ready:
            await asyncio.to_thread(engine.wait_ready, CONTEXT_WAIT)
        return list(await asyncio.to_thread(engine.context_for_range, doc.uri, target.start,
                                            target.end, budget))
    except Exception:  # context is a help, not a requirement
        log.warning("no workspace context for %s", target.label, exc_info=True)
        return []


def _model_unavailable(exc: ModelError) -> JsonRpcException:
    message = (f"Offpilot cannot explain code: the chat model is unavailable ({exc}). Set "
               "offpilot.chatModel (or offpilot.model) to a .gguf file or a profile from "
               "`offpilot models list` (download one with `offpilot models pull NAME`), or "
               "leave both empty for the embedded default.")
    return JsonRpcException(message=message, code=REQUEST_FAILED)


# ----------------------------------------------------------------------------- showDocument
def client_shows_documents(ls: OffpilotServer) -> bool:
    """Ask the client to open the explanation: it can (window/showDocument) and has no Explain
    view of its own."""
    window = ls.client_capabilities.window
    show = window.show_document if window is not None else None
    if show is None or not show.support:
        return False
    experimental = ls.client_capabilities.experimental
    offpilot = experimental.get("offpilot") if isinstance(experimental, dict) else None
    if isinstance(offpilot, dict) and offpilot.get("explainPanel"):
        return False  # the Offpilot extension shows the explanation in its own panel
    name = ls.client_name.lower()
    return not any(n in name for n in OWN_PANEL_CLIENTS)


def _show_document(ls: OffpilotServer, path: str) -> None:
    """Ask the editor to open the explanation, in the background (the command has its
    answer already; a client that answers late, badly or never delays nothing)."""
    params = types.ShowDocumentParams(uri=Path(path).as_uri(), take_focus=False)

    async def show() -> None:
        try:
            if not await show_document(ls, params):
                log.info("window/showDocument: the editor did not show %s", path)
        except ClientRequestFailed as exc:
            log.info("window/showDocument: the editor gave %s", exc)

    ls.spawn(show())
