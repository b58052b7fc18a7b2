"""``offpilot.pullModel``: download a model from the editor, with ``$/progress``.

Arguments: ``[{"name": "qwen2.5-coder-1.5b"}]`` (a profile name or an ``owner/repo/file.gguf``
reference). The download runs in a thread (:func:`offpilot.engine.models.pull`: resumable,
checksummed, atomic); its progress goes to the client as work-done progress with a percentage.
The result is ``{"name", "path"}``. A failure (unknown name, hub unreachable, disk full) is a
JSON-RPC error whose message says what to do; a cancelled download stays resumable.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from offpilot.engine import models
from offpilot.engine.backend import ModelError
from offpilot.lsp.feature import Feature
from offpilot.lsp.progress import CommandProgress, follow_request_cancellation
from offpilot.lsp.server import OffpilotServer  # (a runtime name: pygls reads the hints)

log = logging.getLogger(__name__)

PULL_MODEL = "offpilot.pullModel"
MODEL_SERVICE_REQUEST = "offpilot/modelService"  # what `offpilot models status` shows
REPORT_EVERY = 0.25  # seconds between progress reports


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


def read_name(args: tuple[Any, ...]) -> str:
    arg = args[0] if args else None
    name = arg.get("name") if isinstance(arg, dict) else arg
    if not isinstance(name, str) or not name.strip() or len(name) > 1000:
        raise ValueError('expected [{"name": "<profile or owner/repo/file.gguf>"}]')
    return name.strip()


class ModelsFeature(Feature):
    """``offpilot.pullModel`` and ``offpilot/modelService`` (the model manager itself is the
    server's)."""

    name = "models"

    def setup(self, server: OffpilotServer) -> None:
        super().setup(server)
        _register(server)


def _register(server: OffpilotServer) -> None:
    @server.feature(MODEL_SERVICE_REQUEST)
    async def model_service(ls: OffpilotServer, params: Any = None) -> dict[str, Any]:
        from offpilot.engine import shared

        return await asyncio.to_thread(shared.service_report)

    @server.command(PULL_MODEL)
    async def pull_model(ls: OffpilotServer, *args: Any) -> dict[str, Any]:
        follow_request_cancellation(ls)
        try:
            name = read_name(args)
        except ValueError as exc:
            raise JsonRpcInvalidParams(f"{PULL_MODEL}: {exc}") from None
        loop = asyncio.get_running_loop()
        last = {"at": 0.0}
        progress = CommandProgress(ls, f"Offpilot: downloading {name}")

        def on_progress(done: int, total: int | None) -> None:  # in the download thread
            now = loop.time()
            if now - last["at"] < REPORT_EVERY and (total is None or done < total):
                return
            last["at"] = now
            pct = int(100 * done / total) if total else None
            message = f"{_mb(done)} of {_mb(total)}" if total else _mb(done)
            loop.call_soon_threadsafe(progress.report, message, pct)

        with progress:
            progress.begin("starting", 0)
            try:
                path = await asyncio.to_thread(models.pull, name, progress=on_progress)
            except ModelError as exc:
                raise JsonRpcException(message=str(exc),
                                       code=int(types.LSPErrorCodes.RequestFailed)) from None
        log.info("model %s downloaded to %s", name, path)
        return {"name": name, "path": str(path)}
