"""The Offpilot language server: shared state, lifecycle, settings and document sync.

Features are plug-ins (:class:`offpilot.lsp.feature.Feature`), listed in :data:`FEATURES`: each
registers its handlers and follows the lifecycle through hooks that this module dispatches to.
Handlers convert LSP types at the edge and call plain Python in :mod:`offpilot.features` and
:mod:`offpilot.context`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from offpilot import __version__
from offpilot.config import Settings, SettingsHolder, load_settings, wire_values
from offpilot.context.documents import Document, Documents
from offpilot.context.exclude import FileGuard
from offpilot.engine.backend import BackendState, ModelError, Snippet
from offpilot.engine.manager import COMPLETION, ModelManager
from offpilot.features.completion import WARMUP_DELAY, Completer
from offpilot.lsp import client_requests
from offpilot.lsp.client_requests import ClientRequestFailed
from offpilot.lsp.feature import Edit, Feature
from offpilot.lsp.lifecycle import Lifeline, WatchedInput
from offpilot.lsp.protocol import OffpilotProtocol, answer_unparsable

if TYPE_CHECKING:
    from offpilot.context.engine import ContextEngine

log = logging.getLogger(__name__)

EXIT_GRACE = 5.0  # seconds the process may take to end after `exit`
SETTLE_TIMEOUT = 10.0  # seconds a command waits for the client's first configuration answer
STATUS_NOTIFICATION = "offpilot/status"
STATS_REQUEST = "offpilot/stats"

# The features, each ``"module:FeatureClass"``; one whose module cannot be imported is skipped.
FEATURES = (
    "offpilot.lsp.completion:CompletionFeature",  # textDocument/inlineCompletion, warm-up
    "offpilot.lsp.actions:ExplainFeature",  # code actions, offpilot.explain
    "offpilot.lsp.testgen:TestgenFeature",  # offpilot.generateTests
    "offpilot.lsp.models:ModelsFeature",  # offpilot.pullModel
    "offpilot.lsp.docs:DocsFeature",  # documentation: diagnostics, quick fix, generateDocs
    "offpilot.lsp.fix:FixFeature",  # quick fixes on diagnostics, explainError, fixTest
    "offpilot.lsp.context:ContextFeature",  # workspace index, offpilot/context
)


class OffpilotServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("offpilot", __version__, protocol_cls=OffpilotProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        settings, problems = load_settings()
        # The one settings object: consumers keep the holder and read it on each use.
        self.settings_holder = SettingsHolder(settings)
        self._startup_problems = problems
        self._init_options: object = None
        self._client_config: dict[str, Any] | None = None
        self.documents = Documents()
        self.features: list[Feature] = []
        self.models = ModelManager(self.settings_holder, on_state=self._on_model_state)
        self.context_engine: ContextEngine | None = None  # set by the context feature
        self.completer = Completer(lambda: self.models.backend(COMPLETION), self.settings_holder,
                                   context=self._retrieve, excluded=self.documents.private,
                                   short_first=True)
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
        self.settings_holder.subscribe(self._settings_changed)

    @property
    def settings(self) -> Settings:
        """The settings in force (read on each use; never keep a copy)."""
        return self.settings_holder.current

    # ------------------------------------------------------------- features
    def register(self, feature: Feature) -> None:
        """Set up ``feature`` and call its hooks from now on."""
        feature.setup(self)
        self.features.append(feature)

    def dispatch(self, hook: str, call: Callable[[Feature], object]) -> None:
        """``call(feature)`` for every feature; one that fails is logged and skipped."""
        for feature in list(self.features):
            try:
                call(feature)
            except Exception:  # one feature's bug must not stop the others or document sync
                log.exception("the %s feature failed in %s", feature.name, hook)

    async def dispatch_async(self, hook: str,
                             call: Callable[[Feature], Awaitable[object]]) -> None:
        for feature in list(self.features):
            try:
                await call(feature)
            except Exception:  # as in dispatch
                log.exception("the %s feature failed in %s", feature.name, hook)

    def feature_code_actions(self, params: types.CodeActionParams, doc: Document
                             ) -> list[types.CodeAction]:
        """Every feature's code actions for ``params`` on ``doc``."""
        found: list[types.CodeAction] = []
        self.dispatch("code_actions", lambda f: found.extend(f.code_actions(params, doc)))
        return found

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
    def schedule_warmup(self, doc: Document, offset: int, *,
                        delay: float = WARMUP_DELAY) -> None:
        """Evaluate the prompt at ``offset`` of ``doc`` once the user pauses there (``delay``
        seconds), if the document is still at this version then."""
        version = doc.version

        def where() -> tuple[str, int] | None:
            current = self.documents.get(doc.uri)
            if current is not doc or current.version != version:
                return None
            return current.text, offset

        self.completer.schedule_warmup(doc.uri, where, language=doc.language_id,
                                       path=self.document_path(doc.uri), delay=delay)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
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
        try:
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))
        except OSError as exc:  # the editor is gone (pygls logged the failed write)
            log.debug("window/showMessage not sent: %s", exc)

    def set_status(self, state: str, message: str = "", model: str | None = None) -> None:
        self.status = {"state": state, "model": model if model is not None
                       else self.status.get("model", ""), "message": message}
        try:
            self.protocol.notify(STATUS_NOTIFICATION, self.status)
        except OSError as exc:  # the editor is gone (pygls logged the failed write)
            log.debug("%s not sent: %s", STATUS_NOTIFICATION, exc)

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
        except (TypeError, ValueError):
            return uri
        for root in self.roots:
            try:
                return fs.relative_to(root).as_posix()
            except ValueError:
                continue
        return fs.name

    def _retrieve(self, uri: str, text: str, offset: int, budget: int) -> list[Snippet]:
        engine = self.context_engine
        if engine is None:
            return []
        return list(engine.retrieve(uri, offset, budget).snippets)

    # ------------------------------------------------------------- settings
    def apply_settings(self) -> None:
        """Resolve the settings from every layer and put them in force."""
        settings, problems = load_settings(self._init_options, self._client_config)
        problems = self._startup_problems + problems
        self._startup_problems = []
        if problems:
            self.show("Offpilot settings: " + "; ".join(str(p) for p in problems),
                      types.MessageType.Warning)
        # (also when the settings did not change: initialize sets the roots first)
        self.documents.guard = FileGuard(self.roots, settings.exclude_files)
        logging.getLogger("offpilot").setLevel(settings.log_level.upper())
        self.settings_holder.set(settings)  # tells the listeners, then the features

    def _settings_changed(self, old: Settings, new: Settings) -> None:
        for backend in self.models.drop_stale():
            self.spawn(backend.close())
        self.dispatch("settings_changed", lambda f: f.settings_changed(old, new))

    def settings_in_use(self) -> dict[str, Any]:
        """The settings each consumer reads now, for ``offpilot/stats``."""
        out: dict[str, Any] = {"server": wire_values(self.settings),
                               "completion": wire_values(self.completer.settings),
                               "models": wire_values(self.models.settings),
                               "documents": {"excludeFiles": list(self.documents.guard.extra)}}
        engine = self.context_engine
        if engine is not None:
            out["context"] = {**wire_values(engine.settings),
                              "guard": {"excludeFiles": list(engine.guard.extra)},
                              "indexes": engine.index_settings()}
        return out

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
        try:
            await self.models.backend(COMPLETION)
        except ModelError as exc:  # reported through the state listener
            log.debug("preload: %s", exc)


def create_server() -> OffpilotServer:
    server = OffpilotServer()
    _register_lifecycle(server)
    for entry in FEATURES:
        module_name, _, class_name = entry.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            log.warning("feature %s unavailable: %s", module_name, exc)
            continue
        server.register(getattr(module, class_name)())
    return server


def _roots(params: types.InitializeParams) -> list[Path]:
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
    return [r.resolve() for r in roots if r.is_dir()]


def _last_edit(doc: Document, changes: Sequence[types.TextDocumentContentChangeEvent]
               ) -> Edit | None:
    change = changes[-1] if changes else None
    rng = getattr(change, "range", None)
    if rng is None:
        return None
    start = doc.offset_at(rng.start.line, rng.start.character)
    return Edit(start=start, end=start + len(getattr(change, "text", "")))


def _register_lifecycle(server: OffpilotServer) -> None:
    """The server's own handlers: initialization, settings, document sync, shutdown, each
    dispatching to the features' hooks."""

    @server.feature(types.INITIALIZE)
    def initialize(ls: OffpilotServer, params: types.InitializeParams) -> None:
        ls._init_options = params.initialization_options
        ls.client_name = params.client_info.name if params.client_info else ""
        if ls.own_process:
            ls.lifeline.watch_process(params.process_id)
        ls.roots = _roots(params)
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
        ls.dispatch("initialized", lambda f: f.initialized())

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
        doc = ls.documents.get(d.uri)
        if doc is not None:
            ls.dispatch("document_opened", lambda f: f.document_opened(doc))

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: OffpilotServer, params: types.DidChangeTextDocumentParams) -> None:
        d = params.text_document
        if ls.documents.get(d.uri) is None:
            log.warning("didChange for a document that is not open: %s", d.uri)
            return
        ls.documents.apply_changes(d.uri, d.version, params.content_changes)
        doc = ls.documents.get(d.uri)
        if doc is not None:
            edit = _last_edit(doc, params.content_changes)
            ls.dispatch("document_changed", lambda f: f.document_changed(doc, edit))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: OffpilotServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.documents.close(uri)
        ls.dispatch("document_closed", lambda f: f.document_closed(uri))

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: OffpilotServer, params: None = None) -> None:
        await ls.dispatch_async("shutdown", lambda f: f.shutdown())
        await ls.models.close()

    @server.feature(types.EXIT)
    def exit_(ls: OffpilotServer, params: None = None) -> None:
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
    def stats(ls: OffpilotServer, params: object = None) -> dict[str, Any]:
        out: dict[str, Any] = {"completion": ls.completer.stats.as_dict(),
                               "models": ls.models.status(), "status": ls.status,
                               "tasks": len(asyncio.all_tasks()),  # work in progress
                               "settings": ls.settings_in_use()}
        ls.dispatch("stats", lambda f: out.update(f.stats()))
        return out
