"""Which backend serves which role (completions, chat), created lazily from the settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offpilot.config import Settings
from offpilot.engine.backend import Backend, BackendState, ModelError
from offpilot.engine.hardware import physical_cores
from offpilot.engine.local import LocalBackend
from offpilot.engine.models import resolve_model

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


class ModelManager:
    def __init__(self, settings: Settings, on_state: RoleStateListener | None = None) -> None:
        self.settings = settings
        self._on_state = on_state
        self._backends: dict[BackendKey, Backend] = {}
        self._lock = asyncio.Lock()

    def key_for(self, role: str) -> BackendKey:
        s = self.settings
        model = s.chat_model if role == CHAT and s.chat_model else s.model
        return BackendKey(kind=s.backend, model=model, n_ctx=s.context_size,
                          threads=s.threads or physical_cores(), gpu_layers=s.gpu_layers,
                          prompt_mode=s.prompt_mode, endpoint=s.endpoint)

    def update_settings(self, settings: Settings) -> list[Backend]:
        """Adopt new settings; returns backends no longer needed (the caller closes them)."""
        self.settings = settings
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

        if key.kind == "local":
            path = resolve_model(key.model)
            return LocalBackend(path, n_ctx=key.n_ctx, n_threads=key.threads,
                                n_gpu_layers=key.gpu_layers, prompt_mode=key.prompt_mode,
                                on_state=on_state)
        raise ModelError(f"backend {key.kind!r} is not available in this build")

    async def backend(self, role: str) -> Backend:
        """The started backend for ``role``; raises :class:`ModelError` if it cannot run."""
        key = self.key_for(role)
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
        await backend.start()
        return backend

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for role in ROLES:
            b = self._backends.get(self.key_for(role))
            out[role] = {"model": self.key_for(role).model or "(embedded default)",
                         "state": str(b.state) if b is not None else str(BackendState.NO_MODEL)}
        return out

    async def close(self) -> None:
        backends, self._backends = list(self._backends.values()), {}
        for b in backends:
            try:
                await b.close()
            except Exception:
                log.exception("closing a backend failed")
