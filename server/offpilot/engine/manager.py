"""Which backend serves which role (completions, chat), created lazily from the settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offpilot.config import Settings, SettingsHolder, holder_of
from offpilot.engine import shared
from offpilot.engine.backend import Backend, BackendState, ModelError
from offpilot.engine.hardware import physical_cores
from offpilot.engine.local import LocalBackend
from offpilot.engine.modelfile import MEMORY_HEADROOM, available_memory
from offpilot.engine.models import resolve_model
from offpilot.engine.remote import LlamaServerBackend, OpenAIBackend, redact_url

log = logging.getLogger(__name__)

COMPLETION = "completion"
CHAT = "chat"
ROLES = (COMPLETION, CHAT)

RoleStateListener = Callable[[str, BackendState, str], None]


@dataclass(frozen=True)
class BackendKey:
    """Everything that decides which backend object a role needs; equal keys share one."""

    kind: str
    model: str
    n_ctx: int
    threads: int
    gpu_layers: int
    prompt_mode: str
    endpoint: str = ""
    api_key_env: str = ""
    shared: bool = False  # a local model in the per-user service (engine/shared.py)


class ModelManager:
    def __init__(self, settings: Settings | SettingsHolder,
                 on_state: RoleStateListener | None = None) -> None:
        self._settings = holder_of(settings)  # read on each use: never a stale copy
        self._on_state = on_state
        self._backends: dict[BackendKey, Backend] = {}
        self._lock = asyncio.Lock()
        self._unloaded: dict[str, str] = {}  # role -> why its model was unloaded
        self.closed = False

    @property
    def settings(self) -> Settings:
        return self._settings.current

    def key_for(self, role: str) -> BackendKey:
        s = self.settings
        if s.backend == "llama-server":
            # The server decides the model; both roles share one backend (separate slots).
            return BackendKey(kind=s.backend, model="", n_ctx=0, threads=0, gpu_layers=0,
                              prompt_mode=s.prompt_mode, endpoint=s.endpoint,
                              api_key_env=s.api_key_env)
        if s.backend == "openai":
            model = s.chat_model if role == CHAT and s.chat_model else s.remote_model
            return BackendKey(kind=s.backend, model=model, n_ctx=0, threads=0, gpu_layers=0,
                              prompt_mode=s.prompt_mode, endpoint=s.endpoint,
                              api_key_env=s.api_key_env)
        model = s.chat_model if role == CHAT and s.chat_model else s.model
        return BackendKey(kind=s.backend, model=model, n_ctx=s.context_size,
                          threads=s.threads or physical_cores(), gpu_layers=s.gpu_layers,
                          prompt_mode=s.prompt_mode, endpoint=s.endpoint,
                          shared=s.shared_model and shared.available())

    def update_settings(self, settings: Settings) -> list[Backend]:
        """Adopt new settings; returns backends no longer needed (the caller closes them)."""
        self._settings.set(settings)
        return self.drop_stale()

    def drop_stale(self) -> list[Backend]:
        """Forget the backends the settings in force no longer ask for; returns them (the
        caller closes them)."""
        wanted = {self.key_for(r) for r in ROLES}
        stale = [k for k in self._backends if k not in wanted]
        return [self._backends.pop(k) for k in stale]

    def _roles_of(self, key: BackendKey) -> list[str]:
        return [r for r in ROLES if self.key_for(r) == key]

    def _make(self, key: BackendKey) -> Backend:
        def on_state(state: BackendState, message: str) -> None:
            if self._on_state is not None:
                for role in self._roles_of(key) or [COMPLETION]:
                    self._on_state(role, state, message)

        if key.kind == "local" and key.shared:
            return shared.SharedBackend(
                resolve_model(key.model), n_ctx=key.n_ctx, n_threads=key.threads,
                n_gpu_layers=key.gpu_layers, prompt_mode=key.prompt_mode, on_state=on_state,
                idle_exit=self.settings.shared_model_idle_exit)
        if key.kind == "local":
            path = resolve_model(key.model)
            return LocalBackend(path, n_ctx=key.n_ctx, n_threads=key.threads,
                                n_gpu_layers=key.gpu_layers, prompt_mode=key.prompt_mode,
                                on_state=on_state)
        if key.kind in ("llama-server", "openai") and not key.endpoint.strip():
            raise ModelError(f"offpilot.backend is {key.kind!r} but offpilot.endpoint is empty; "
                             "set it to the server's URL, e.g. http://gpu-box:8080")
        if key.kind == "llama-server":
            return LlamaServerBackend(key.endpoint, api_key_env=key.api_key_env,
                                      prompt_mode=key.prompt_mode, on_state=on_state)
        if key.kind == "openai":
            return OpenAIBackend(key.endpoint, key.model, key.api_key_env,
                                 prompt_mode=key.prompt_mode, on_state=on_state)
        raise ModelError(f"backend {key.kind!r} is not available in this build")

    @staticmethod
    def _model_bytes(key: BackendKey) -> int:
        try:
            return resolve_model(key.model).stat().st_size
        except (ModelError, OSError, ValueError):
            return 0

    async def _make_room(self, role: str, key: BackendKey) -> None:
        """Unload an idle local model of the other role when both would not fit in memory."""
        need = self._model_bytes(key)
        avail = available_memory()
        if not need or avail is None or need <= avail * MEMORY_HEADROOM:
            return
        for other_key, other in list(self._backends.items()):
            if other_key == key or other_key.kind != "local":
                continue
            if other.state is not BackendState.READY:  # busy or not loaded: leave it
                continue
            others = self._roles_of(other_key)
            log.info("unloading %s to make room for %s", other_key.model or "the default model",
                     key.model or "the default model")
            self._backends.pop(other_key, None)
            try:
                await other.close()
            except Exception:
                log.exception("closing a backend failed")
            for r in others:
                self._unloaded[r] = (f"unloaded to free memory for the {role} model; it "
                                     "loads again when needed")
            return

    async def backend(self, role: str) -> Backend:
        """The started backend for ``role``; raises :class:`ModelError` if it cannot run."""
        key = self.key_for(role)
        if self.closed:
            raise ModelError("the server is shutting down")
        async with self._lock:
            backend = self._backends.get(key)
            if backend is None:
                try:
                    backend = self._make(key)
                except ModelError as exc:
                    if self._on_state is not None:
                        self._on_state(role, BackendState.ERROR, str(exc))
                    raise
                self._backends[key] = backend
            if key.kind == "local" and backend.state in (BackendState.NO_MODEL,
                                                         BackendState.ERROR):
                await self._make_room(role, key)
        self._unloaded.pop(role, None)
        await backend.start()
        if self.closed:  # closed while this one was starting: it was not in the list
            await backend.close()
            raise ModelError("the server is shutting down")
        return backend

    def status(self) -> dict[str, Any]:
        """Per role: which model, where it runs, its state, and whether it is in memory."""
        out: dict[str, Any] = {}
        for role in ROLES:
            key = self.key_for(role)
            b = self._backends.get(key)
            state = b.state if b is not None else BackendState.NO_MODEL
            entry: dict[str, Any] = {
                "model": key.model or ("(served by the endpoint)" if key.kind != "local"
                                       else "(embedded default)"),
                "backend": key.kind,
                "state": str(state),
                "loaded": state in (BackendState.READY, BackendState.GENERATING),
            }
            if key.kind != "local":
                entry["endpoint"] = redact_url(key.endpoint)
            # (what only some kinds of backend have: the model file, the worker process, the
            # shared service, the queue)
            path, pid = getattr(b, "model_path", None), getattr(b, "pid", None)
            if key.kind == "local" and path:
                entry["path"] = str(path)
            if pid:
                entry["pid"] = pid
            if getattr(b, "service", None):
                entry["service"] = getattr(b, "service", None)
            if hasattr(b, "queued"):
                entry["queued"] = getattr(b, "queued", 0)
                entry["queuedMax"] = getattr(b, "queued_max", 0)
            error = getattr(b, "last_error", "") if b is not None else ""
            if error:
                entry["error"] = error
            if role in self._unloaded:
                entry["note"] = self._unloaded[role]
            out[role] = entry
        return out

    async def close(self) -> None:
        self.closed = True  # a load still in flight must not start a new worker afterwards
        backends, self._backends = list(self._backends.values()), {}
        for b in backends:
            try:
                await b.close()
            except Exception:
                log.exception("closing a backend failed")
