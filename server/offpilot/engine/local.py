"""The in-process engine: llama-cpp-python in a child worker process, driven asynchronously.

The language server never loads llama.cpp itself. A worker that dies (a native abort, an
out-of-memory kill) fails the requests in flight with a :class:`ModelError`; the next request
starts a new worker, so the server recovers as soon as the model is usable again. The worker
dies with the process that started it (``--parent``: a parent-death signal on Linux, and EOF on
its stdin everywhere), so a server that ends abruptly leaves no model in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offpilot.engine import templates, wire
from offpilot.engine.backend import (
    BackendState,
    ChatRequest,
    FimTokens,
    GenerationResult,
    InfillRequest,
    ModelError,
    ModelInfo,
    OnText,
    PromptMode,
    TextRequest,
)
from offpilot.engine.modelfile import check_model_file
from offpilot.shared.processes import package_env

log = logging.getLogger(__name__)

PRIORITY_COMPLETION = wire.PRIORITY_COMPLETION
PRIORITY_CHAT = wire.PRIORITY_CHAT
PRIORITY_WARM = wire.PRIORITY_WARM
PRIORITY_BACKGROUND = wire.PRIORITY_BACKGROUND
SEQ_COMPLETION = 0
SEQ_CHAT = 1
SEQ_SHORT = 2  # short first prompts (InfillRequest.short)
SEQUENCES = 3
RETRY_AFTER = 2.0  # seconds between attempts to bring a failed model back

StateListener = Callable[[BackendState, str], None]


def info_from_worker(desc: dict[str, Any], prompt_mode: str = "auto") -> ModelInfo:
    """Build :class:`ModelInfo` from what the worker read out of the GGUF."""
    f, ft = desc.get("fim") or {}, desc.get("fim_text") or {}
    fim = None
    if f.get("pre") is not None and f.get("suf") is not None and f.get("mid") is not None:
        fim = FimTokens(prefix=f["pre"], suffix=f["suf"], middle=f["mid"],
                        prefix_text=ft.get("pre", ""), suffix_text=ft.get("suf", ""),
                        middle_text=ft.get("mid", ""), pad=f.get("pad"), repo=f.get("rep"),
                        file_sep=f.get("sep"), file_sep_text=ft.get("sep", ""))
    chat_template = desc.get("chat_template") or None
    return ModelInfo(
        name=desc.get("name") or Path(desc.get("path", "")).stem,
        path=desc.get("path", ""),
        architecture=desc.get("architecture", ""),
        prompt_mode=templates.detect_prompt_mode(fim, chat_template, prompt_mode),
        fim=fim, chat_template=chat_template,
        n_ctx_train=int(desc.get("n_ctx_train", 0)), n_ctx=int(desc.get("n_ctx", 0)),
        can_shift=bool(desc.get("can_shift")), bos_text=desc.get("bos_text", ""),
        eos_text=desc.get("eos_text", ""),
    )


class _Pending:
    def __init__(self, on_text: OnText | None) -> None:
        self.future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.on_text = on_text


class LocalBackend:
    """Runs one GGUF model in a worker process (``python -m offpilot.engine.worker``)."""

    # Quick prompts (InfillRequest.short) have a KV-cache sequence of their own here, so they
    # never cut back the whole prompt that is evaluated meanwhile.
    quick_prompts = True

    def __init__(self, model_path: str | Path, *, n_ctx: int = 4096, n_threads: int = 0,
                 n_gpu_layers: int = 0, n_batch: int = 512, prompt_mode: str = "auto",
                 on_state: StateListener | None = None, cache_reuse: int | None = None) -> None:
        self.model_path = str(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_gpu_layers = n_gpu_layers
        self.n_batch = n_batch
        self.prompt_mode = prompt_mode
        # Shortest run of cached tokens moved past an edit (0: common prefix only); None: the
        # runtime's default. Only models whose cache can shift move anything.
        self.cache_reuse = cache_reuse
        self._on_state = on_state
        self._state = BackendState.NO_MODEL
        self._info: ModelInfo | None = None
        self._add_bos = True
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping: asyncio.subprocess.Process | None = None  # the worker close() stops
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[Any]] = []
        self._start_lock = asyncio.Lock()
        self._last_error = ""
        self._last_attempt = 0.0
        self._file_key: tuple[int, int] | None = None
        self._load_failed = False
        self._active = 0
        self.queued_max = 0  # most requests ever waiting on the worker at once

    # ----------------------------------------------------------------- state
    @property
    def state(self) -> BackendState:
        return self._state

    @property
    def last_error(self) -> str:
        return self._last_error

    @property
    def queued(self) -> int:
        """Requests sent to the worker and not answered yet (cancelled ones are not counted)."""
        return len(self._pending)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    def _set_state(self, state: BackendState, message: str = "") -> None:
        self._state = state
        if self._on_state is not None:
            try:
                self._on_state(state, message)
            except Exception:
                log.exception("state listener failed")

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.model_path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> ModelInfo:
        async with self._start_lock:
            if self._info is not None and self._alive():
                return self._info
            if self._load_failed:
                # Loading failed before: retry only after a pause or once the file changed.
                stamp = self._file_stamp()
                recent = time.monotonic() - self._last_attempt < RETRY_AFTER
                if recent and stamp == self._file_key:
                    raise ModelError(self._last_error)
            self._last_attempt = time.monotonic()
            self._file_key = self._file_stamp()
            self._set_state(BackendState.LOADING, Path(self.model_path).name)
            try:
                check_model_file(self.model_path)
                await self._spawn()
                desc = await self._call(wire.Load(
                    path=self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                    n_gpu_layers=self.n_gpu_layers, n_batch=self.n_batch, n_seq=SEQUENCES))
            except ModelError as exc:
                await self._kill()
                self._load_failed = True
                self._last_error = str(exc)
                self._set_state(BackendState.ERROR, str(exc))
                raise
            self._info = info_from_worker(desc, self.prompt_mode)
            self._add_bos = bool(desc.get("add_bos", True))
            self._last_error = ""
            self._load_failed = False
            self._set_state(BackendState.READY, self._info.name)
            return self._info

    async def info(self) -> ModelInfo:
        return await self.start()

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def _spawn(self) -> None:
        await self._kill()
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "offpilot.engine.worker", "--parent", str(os.getpid()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=package_env(), limit=1 << 24)
        proc = self._proc
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tasks = [asyncio.create_task(self._read_events(proc, ready)),
                       asyncio.create_task(self._read_stderr(proc))]
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout=60)
        except (TimeoutError, ModelError) as exc:
            raise ModelError(f"the model worker did not start: {exc}") from None

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), timeout=5)
        for t in self._tasks:
            t.cancel()
        self._tasks = []
        self._info = None

    async def close(self) -> None:
        proc = self._proc
        self._stopping = proc  # its exit is what was asked for, not a fault to report
        if proc is not None and proc.returncode is None and proc.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError, TimeoutError):  # it is gone already
                proc.stdin.write(wire.encode(wire.Shutdown()))
                await proc.stdin.drain()
                await asyncio.wait_for(proc.wait(), timeout=3)
        await self._kill()
        self._fail_all(ModelError("the model was closed"))
        self._set_state(BackendState.NO_MODEL)

    def _fail_all(self, exc: Exception) -> None:
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(exc)

    async def _read_events(self, proc: asyncio.subprocess.Process,
                           ready: asyncio.Future[None]) -> None:
        assert proc.stdout is not None
        try:
            while True:
                line = await proc.stdout.readline()
                if not line:
                    break
                try:
                    msg = wire.decode_event(line)
                except wire.ProtocolError as exc:
                    log.warning("model worker: unreadable line %r: %s", line[:200], exc)
                    continue
                if isinstance(msg, wire.Ready):
                    if not ready.done():
                        ready.set_result(None)
                    continue
                self._dispatch(msg)
        finally:
            code = await proc.wait()
            if proc is self._stopping:
                if not ready.done():
                    ready.set_exception(ModelError("the model was closed"))
            elif proc is self._proc or self._proc is None:
                reason = f"the model worker stopped (exit code {code})"
                if not ready.done():
                    ready.set_exception(ModelError(reason))
                if self._pending:
                    log.error("%s with %d requests in flight", reason, len(self._pending))
                self._fail_all(ModelError(reason))
                if proc is self._proc:
                    self._info = None
                    self._last_error = reason
                    self._set_state(BackendState.ERROR, reason)

    def _dispatch(self, msg: wire.Event) -> None:
        """Hand one worker event (text, done, error) to the request it belongs to."""
        if isinstance(msg, wire.Ready):
            return
        if isinstance(msg, wire.Error) and msg.id is None:
            log.warning("model worker: %s", msg.message)  # a line it could not read
            return
        if not isinstance(msg.id, int):
            return
        pending = self._pending.get(msg.id)
        if pending is None:
            return
        if isinstance(msg, wire.Text):
            if pending.on_text is not None:
                try:
                    pending.on_text(msg.text)
                except Exception:
                    log.exception("on_text callback failed")
        elif isinstance(msg, wire.Done):
            self._pending.pop(msg.id, None)
            if not pending.future.done():
                pending.future.set_result(msg.result)
        else:
            self._pending.pop(msg.id, None)
            if not pending.future.done():
                pending.future.set_exception(ModelError(msg.message))

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while True:
            line = await proc.stderr.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                log.info("model: %s", text)

    async def _call(self, msg: wire.Load | wire.Generate | wire.Tokenize,
                    on_text: OnText | None = None) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.returncode is not None or proc.stdin is None:
            raise ModelError(self._last_error or "the model worker is not running")
        req_id = next(self._ids)
        pending = _Pending(on_text)
        self._pending[req_id] = pending
        self.queued_max = max(self.queued_max, len(self._pending))
        msg.id = req_id
        data = wire.encode(msg)
        try:
            proc.stdin.write(data)
            await proc.stdin.drain()
            return await pending.future
        except asyncio.CancelledError:
            # Tell the worker at once; it stops within one token.
            self._pending.pop(req_id, None)
            if proc.returncode is None and proc.stdin is not None:
                with contextlib.suppress(OSError, RuntimeError):  # it is gone already
                    proc.stdin.write(wire.encode(wire.Cancel(req_id)))
            raise
        except (BrokenPipeError, ConnectionResetError) as exc:
            self._pending.pop(req_id, None)
            raise ModelError(f"the model worker stopped: {exc}") from None

    # ------------------------------------------------------------- requests
    async def _run(self, segments: list[dict[str, Any]], *, seq: int, priority: int,
                   max_tokens: int, temperature: float, stop: list[str], time_limit: float,
                   stop_at_newline: bool = False, warm_only: bool = False,
                   infill_sampler: bool = False, on_text: OnText | None = None
                   ) -> GenerationResult:
        await self.start()
        self._active += 1
        if self._active == 1:
            self._set_state(BackendState.GENERATING)
        try:
            res = await self._call(wire.Generate(
                priority=priority, seq=seq, cache_reuse=self.cache_reuse,
                segments=templates.strip_markers(segments),
                add_bos=templates.wants_bos(self._info_or_raise(), segments, self._add_bos),
                max_tokens=max_tokens, temperature=temperature, stop=stop,
                time_limit=time_limit, stop_at_newline=stop_at_newline,
                warm_only=warm_only, infill_sampler=infill_sampler,
                stream=on_text is not None), on_text)
        finally:
            self._active -= 1
            if self._active == 0 and self._state is BackendState.GENERATING:
                self._set_state(BackendState.READY)
        return GenerationResult(
            text=res.get("text", ""), stop_reason=res.get("stop_reason", ""),
            prompt_tokens=int(res.get("prompt_tokens", 0)),
            prompt_tokens_evaluated=int(res.get("prompt_tokens_evaluated", 0)),
            generated_tokens=int(res.get("generated_tokens", 0)),
            prompt_ms=float(res.get("prompt_ms", 0.0)),
            generate_ms=float(res.get("generate_ms", 0.0)),
            # cached tokens moved to new positions instead of being evaluated again
            extra={"prompt_tokens_shifted": int(res.get("prompt_tokens_shifted", 0))})

    def _info_or_raise(self) -> ModelInfo:
        if self._info is None:
            raise ModelError(self._last_error or "no model loaded")
        return self._info

    async def infill(self, request: InfillRequest, on_text: OnText | None = None
                     ) -> GenerationResult:
        info = await self.start()
        segments = templates.infill_segments(info, request)
        stop = list(request.stop)
        if info.prompt_mode is PromptMode.INSTRUCT:
            stop.append(templates.FENCE)
        result = await self._run(
            segments, seq=SEQ_SHORT if request.short else SEQ_COMPLETION,
            priority=(PRIORITY_BACKGROUND if request.background or request.warm_only
                      else PRIORITY_COMPLETION),
            max_tokens=request.max_tokens, temperature=request.temperature, stop=stop,
            time_limit=request.time_limit, stop_at_newline=request.stop_at_newline,
            warm_only=request.warm_only,
            infill_sampler=info.prompt_mode is PromptMode.FIM, on_text=on_text)
        if info.prompt_mode is PromptMode.INSTRUCT:
            result.text = templates.extract_instruct_completion(result.text)
        return result

    async def chat(self, request: ChatRequest, on_text: OnText | None = None
                   ) -> GenerationResult:
        info = await self.start()
        segments = templates.chat_segments(info, request.messages)
        return await self._run(segments, seq=SEQ_CHAT, priority=PRIORITY_CHAT,
                               max_tokens=request.max_tokens, temperature=request.temperature,
                               stop=list(request.stop), time_limit=request.time_limit,
                               on_text=on_text)

    async def generate(self, request: TextRequest, on_text: OnText | None = None
                       ) -> GenerationResult:
        await self.start()
        return await self._run([{"text": request.prompt}], seq=SEQ_CHAT, priority=PRIORITY_CHAT,
                               max_tokens=request.max_tokens, temperature=request.temperature,
                               stop=list(request.stop), time_limit=request.time_limit,
                               on_text=on_text)

    async def count_tokens(self, text: str) -> int:
        await self.start()
        res = await self._call(wire.Tokenize(text=text))
        return int(res.get("tokens", 0))

    async def crash_for_test(self) -> None:
        """Make the worker abort as native code would (used by the reliability tests)."""
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            proc.stdin.write(wire.encode(wire.Crash(0)))
            await proc.stdin.drain()
