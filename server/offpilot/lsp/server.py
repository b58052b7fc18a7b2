"""The Offpilot language server: shared state, lifecycle, settings and document sync.

Features register themselves from their own modules (``setup(server)``); handlers convert LSP
types at the edge and call plain Python in :mod:`offpilot.features` and :mod:`offpilot.context`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from offpilot import __version__
from offpilot.config import load_settings
from offpilot.context.documents import Document, Documents
from offpilot.context.exclude import FileGuard
from offpilot.engine.backend import BackendState, ModelError
from offpilot.engine.manager import COMPLETION, ModelManager
from offpilot.features.completion import Completer
from offpilot.lsp import client_requests
from offpilot.lsp.client_requests import ClientRequestFailed
from offpilot.lsp.lifecycle import Lifeline, WatchedInput
from offpilot.lsp.protocol import OffpilotProtocol, answer_unparsable

log = logging.getLogger(__name__)

EXIT_GRACE = 5.0  # seconds the process may take to end after `exit`
SETTLE_TIMEOUT = 10.0  # seconds a command waits for the client's first configuration answer
STATUS_NOTIFICATION = "offpilot/status"
STATS_REQUEST = "offpilot/stats"
MODEL_SERVICE_REQUEST = "offpilot/modelService"  # what `offpilot models status` shows


class OffpilotServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("offpilot", __version__, protocol_cls=OffpilotProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.settings, problems = load_settings()
        self._startup_problems = problems
        self._init_options: Any = None
        self._client_config: Any = None
        self.documents = Documents()
        self.models = ModelManager(self.settings, on_state=self._on_model_state)
        self.context_engine: Any = None
        self.completer = Completer(lambda: self.models.backend(COMPLETION), self.settings,
                                   context=self._retrieve, excluded=self.documents.private)
        self.roots: list[Path] = []
        self.client_name = ""  # clientInfo.name from initialize
        self.status: dict[str, Any] = {"state": str(BackendState.NO_MODEL), "model": "",
                                       "message": ""}
        self._model_error_shown = ""
        self._background: set[asyncio.Task[Any]] = set()
        self._configured = asyncio.Event()  # the first workspace/configuration is applied
        # The process is the server's own (``offpilot serve``): it ends when the editor is
        # gone. Off for a server object run inside another program (tests).
        self.own_process = False
        self.lifeline = Lifeline(shut_down=self.is_shut_down)
        # Features that follow documents (called with the URI after open, change and close) and
        # that add code actions (called by offpilot.lsp.actions with the params and document).
        self.document_listeners: list[Callable[[str], None]] = []
        self.code_action_providers: list[Callable[[Any, Any, Document], list[Any]]] = []

    def documents_changed(self, uri: str) -> None:
        for listener in self.document_listeners:
            try:
                listener(uri)
            except Exception:  # one feature's failure must not stop document sync
                log.exception("document listener failed for %s", uri)

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        def on_eof() -> None:
            if self.own_process:
                self.lifeline.editor_gone("the editor closed the connection (end of input)")

        super().start_io(WatchedInput(stdin or sys.stdin.buffer, on_eof), stdout)  # type: ignore[arg-type]

    def is_shut_down(self) -> bool:
        return bool(getattr(self.protocol, "_shutdown", False))

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log out-of-band errors; a malformed message must not pop up dialogs in the editor."""
        if answer_unparsable(self.protocol, error):
            return
        log.error("server error (%s): %s", getattr(source, "__name__", source), error)

    # ------------------------------------------------------------- helpers
    def schedule_warmup(self, doc: Document, offset: int) -> None:
        """Evaluate the prompt at ``offset`` of ``doc`` once the user pauses there, if the
        document is still at this version then."""
        version = doc.version

        def where() -> tuple[str, int] | None:
            current = self.documents.get(doc.uri)
            if current is not doc or current.version != version:
                return None
            return current.text, offset

        self.completer.schedule_warmup(doc.uri, where, language=doc.language_id,
                                       path=self.document_path(doc.uri))

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` in the background; keep a reference and log failures."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task failed", exc_info=t.exception())

        task.add_done_callback(done)
        return task

    def show(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        log.log(logging.ERROR if kind == types.MessageType.Error else logging.INFO, message)
        with contextlib.suppress(Exception):
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def set_status(self, state: str, message: str = "", model: str | None = None) -> None:
        self.status = {"state": state, "model": model if model is not None
                       else self.status.get("model", ""), "message": message}
        with contextlib.suppress(Exception):
            self.protocol.notify(STATUS_NOTIFICATION, self.status)

    def _on_model_state(self, role: str, state: BackendState, message: str) -> None:
        if role != COMPLETION and state is not BackendState.ERROR:
            return
        model = self.status.get("model", "")
        if state is BackendState.READY and message:
            model = message
        self.set_status(str(state), message if state is BackendState.ERROR else "", model)
        if state is BackendState.ERROR and message != self._model_error_shown:
            self._model_error_shown = message
            self.show(f"Offpilot: the {role} model is unavailable: {message}",
                      types.MessageType.Error)
        elif state is BackendState.READY:
            self._model_error_shown = ""

    def document_path(self, uri: str) -> str:
        """Workspace-relative path for labels (the absolute path outside the workspace)."""
        try:
            fs = Path(to_fs_path(uri) or uri)
        except Exception:
            return uri
        for root in self.roots:
            with contextlib.suppress(ValueError):
                return fs.relative_to(root).as_posix()
        return fs.name

    def _retrieve(self, uri: str, text: str, offset: int, budget: int) -> list[Any]:
        engine = self.context_engine
        if engine is None:
            return []
        return list(engine.retrieve(uri, offset, budget).snippets)

    # ------------------------------------------------------------- settings
    def apply_settings(self) -> None:
        settings, problems = load_settings(self._init_options, self._client_config)
        problems = self._startup_problems + problems
        self._startup_problems = []
        if problems:
            self.show("Offpilot settings: " + "; ".join(str(p) for p in problems),
                      types.MessageType.Warning)
        old = self.settings
        self.settings = settings
        self.completer.settings = settings
        self.documents.guard = FileGuard(self.roots, settings.exclude_files)
        if self.context_engine is not None and old.exclude_files != settings.exclude_files:
            self.context_engine.set_exclude(settings.exclude_files)
        logging.getLogger("offpilot").setLevel(settings.log_level.upper())
        for backend in self.models.update_settings(settings):
            self.spawn(backend.close())
        if (old.model, old.backend, old.prompt_mode) != (
                settings.model, settings.backend, settings.prompt_mode):
            self.completer.anchors.clear()
            self.completer.cache.clear()
            self.spawn(self.preload())

    async def pull_configuration(self) -> None:
        caps = self.client_capabilities.workspace
        if caps is None or not caps.configuration:
            return
        try:
            result = await client_requests.configuration(
                self, [types.ConfigurationItem(section="offpilot")])
        except ClientRequestFailed as exc:
            log.warning("workspace/configuration: the editor gave %s; using the settings "
                        "it sent before", exc)
            return
        if result and isinstance(result[0], dict):
            self._client_config = result[0]

    async def settings_settled(self) -> None:
        """Wait until the settings pulled after ``initialized`` are applied (or a timeout).

        A command sent right after ``initialized`` must not run before the client's own
        configuration arrives: it may say the workspace is not trusted. A client that never
        answers costs one wait; after it the settings known so far are used.
        """
        try:
            await asyncio.wait_for(self._configured.wait(), SETTLE_TIMEOUT)
        except TimeoutError:
            log.warning("no answer to workspace/configuration after %.0f s; using the settings "
                        "known so far", SETTLE_TIMEOUT)
            self._configured.set()

    async def preload(self) -> None:
        """Load the completion model in the background so the first keystroke is fast."""
        if not self.settings.completions_enabled:
            return
        with contextlib.suppress(ModelError):  # reported through the state listener
            await self.models.backend(COMPLETION)

    # ------------------------------------------------------------- context
    def start_context(self) -> None:
        if not self.settings.index_enabled or not self.roots:
            return
        try:
            from offpilot.context.engine import ContextEngine
        except ImportError:
            log.warning("workspace context engine unavailable")
            return
        engine = ContextEngine(self.roots, self.settings, documents=self.documents)
        self.context_engine = engine
        loop = asyncio.get_running_loop()
        token = f"offpilot-index-{time.monotonic_ns()}"
        state = {"started": False}

        def on_progress(message: str, fraction: float | None) -> None:
            loop.call_soon_threadsafe(self._index_progress, token, state, message, fraction)

        self.spawn(self._create_progress(token, state))
        engine.start(on_progress=on_progress)

    async def _create_progress(self, token: str, state: dict[str, bool]) -> None:
        caps = self.client_capabilities.window
        if caps is None or not caps.work_done_progress:
            return
        try:
            await client_requests.create_progress(self, token)
        except ClientRequestFailed as exc:
            state["refused"] = True  # no $/progress on a token the editor did not take
            log.info("window/workDoneProgress/create: the editor gave %s", exc)

    def _index_progress(self, token: str, state: dict[str, bool], message: str,
                        fraction: float | None) -> None:
        caps = self.client_capabilities.window
        # (a progress already begun is ended even if the token was refused after all)
        use_progress = caps is not None and bool(caps.work_done_progress) \
            and (state["started"] or not state.get("refused"))
        pct = None if fraction is None else max(0, min(100, int(fraction * 100)))
        done = fraction is not None and fraction >= 1.0
        try:
            if use_progress and not state["started"]:
                state["started"] = True
                self.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                    title="Offpilot: indexing", message=message, percentage=pct))
            elif use_progress and done:
                self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
            elif use_progress:
                self.work_done_progress.report(token, types.WorkDoneProgressReport(
                    message=message, percentage=pct))
        except Exception:
            log.debug("progress report failed", exc_info=True)
        if done:
            if self.status["state"] == "indexing":
                self.set_status("ready")
        elif self.status["state"] in ("ready", "no-model"):
            self.set_status("indexing", message)


# Feature modules, each with ``setup(server)``; one that cannot be imported is skipped.
FEATURE_MODULES = (
    "offpilot.lsp.completion",  # textDocument/inlineCompletion
    "offpilot.lsp.actions",  # code actions, offpilot.explain
    "offpilot.lsp.testgen",  # offpilot.generateTests
    "offpilot.lsp.models",  # offpilot.pullModel
    "offpilot.lsp.docs",  # documentation: diagnostics, quick fix, offpilot.generateDocs
    "offpilot.context.lsp",  # offpilot/context
)


def create_server() -> OffpilotServer:
    import importlib

    server = OffpilotServer()
    _register_lifecycle(server)
    for name in FEATURE_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            log.warning("feature %s unavailable: %s", name, exc)
            continue
        module.setup(server)
    return server


def _register_lifecycle(server: OffpilotServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: OffpilotServer, params: types.InitializeParams) -> None:
        ls._init_options = params.initialization_options
        ls.client_name = params.client_info.name if params.client_info else ""
        if ls.own_process:
            ls.lifeline.watch_process(params.process_id)
        roots: list[Path] = []
        for folder in params.workspace_folders or []:
            path = to_fs_path(folder.uri)
            if path:
                roots.append(Path(path))
        if not roots and params.root_uri:
            path = to_fs_path(params.root_uri)
            if path:
                roots.append(Path(path))
        elif not roots and params.root_path:
            roots.append(Path(params.root_path))
        ls.roots = [r.resolve() for r in roots if r.is_dir()]
        ls.documents.position_encoding = str(ls.workspace.position_encoding or "utf-16")
        ls.apply_settings()

    @server.feature(types.INITIALIZED)
    async def initialized(ls: OffpilotServer, params: types.InitializedParams) -> None:
        try:
            await ls.pull_configuration()
            if ls._client_config is not None:
                ls.apply_settings()
        finally:
            ls._configured.set()
        if ls.status["state"] == str(BackendState.NO_MODEL):
            # (requests handled during the configuration pull may have set a state already,
            # an error for instance, which "loading" must not hide)
            ls.set_status("loading" if ls.settings.completions_enabled else "ready", "",
                          ls.settings.model or "embedded default")
        ls.start_context()
        ls.spawn(ls.preload())

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: OffpilotServer,
                                       params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict) and settings:
            ls._client_config = settings
        await ls.pull_configuration()
        ls.apply_settings()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: OffpilotServer, params: types.DidOpenTextDocumentParams) -> None:
        d = params.text_document
        ls.documents.open(d.uri, d.language_id, d.version, d.text)
        if ls.context_engine is not None:
            ls.context_engine.note_opened(d.uri)
        ls.documents_changed(d.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: OffpilotServer, params: types.DidChangeTextDocumentParams) -> None:
        d = params.text_document
        if ls.documents.get(d.uri) is None:
            log.warning("didChange for a document that is not open: %s", d.uri)
            return
        ls.documents.apply_changes(d.uri, d.version, params.content_changes)
        ls.documents_changed(d.uri)
        doc = ls.documents.get(d.uri)
        if doc is None or not params.content_changes:
            return
        change = params.content_changes[-1]
        rng = getattr(change, "range", None)
        if rng is None:
            return
        start = doc.offset_at(rng.start.line, rng.start.character)
        if ls.context_engine is not None:
            ls.context_engine.note_edited(d.uri, start)
        ls.schedule_warmup(doc, start + len(getattr(change, "text", "")))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: OffpilotServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.documents.close(params.text_document.uri)
        ls.completer.forget(params.text_document.uri)
        ls.documents_changed(params.text_document.uri)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: OffpilotServer, params: Any = None) -> None:
        if ls.context_engine is not None:
            with contextlib.suppress(Exception):
                ls.context_engine.stop()
        await ls.models.close()

    @server.feature(types.EXIT)
    def exit_(ls: OffpilotServer, params: Any = None) -> None:
        # pygls exits once this returns; asyncio then cancels what is left and waits for it.
        # Work that outlives the session (a load racing the shutdown, a sandbox) must not keep
        # the process alive: stop it now, and leave for good after a grace period regardless.
        for task in list(ls._background):
            task.cancel()
        timer = threading.Timer(EXIT_GRACE, ls.lifeline.exit_now,
                                args=(ls.lifeline.code(),))
        timer.daemon = True
        timer.start()

    @server.feature(STATS_REQUEST)
    def stats(ls: OffpilotServer, params: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = {"completion": ls.completer.stats.as_dict(),
                               "models": ls.models.status(), "status": ls.status,
                               "tasks": len(asyncio.all_tasks())}  # work in progress
        if ls.context_engine is not None:
            with contextlib.suppress(Exception):
                out["context"] = ls.context_engine.stats()
        return out

    @server.feature(MODEL_SERVICE_REQUEST)
    async def model_service(ls: OffpilotServer, params: Any = None) -> dict[str, Any]:
        from offpilot.engine import shared

        return await asyncio.to_thread(shared.service_report)
