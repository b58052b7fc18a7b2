"""Backends that run the model in an existing engine over HTTP.

:class:`LlamaServerBackend` talks to llama.cpp's ``llama-server`` (``/infill`` with repository
context, ``/completion`` with a pinned slot and KV-cache reuse, ``/props``, ``/tokenize``);
:class:`OpenAIBackend` to any OpenAI-compatible endpoint (Ollama, vLLM, LM Studio,
llama-cpp-python's server) through ``/v1/completions`` and ``/v1/chat/completions``.

Both build prompts with :mod:`offpilot.engine.templates`, as the in-process engine does, and
post-process answers the same way. A server that is down, answers garbage or hangs gives a
:class:`ModelError` with a clear message and puts the backend in ``ERROR`` (the language server
stays up; the next request after a short pause tries again). Connection failures and 5xx answers
are retried with backoff; 4xx answers are not. The API key is read from the environment variable
named by the ``apiKeyEnv`` setting at each request and never appears in a message or a log line.

HTTP goes through ``httpx2`` (installed with ``huggingface_hub``; plain ``httpx`` on older
installs): async, so cancelling the awaiting task closes the request at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2 as httpx

from offpilot.engine import templates
from offpilot.engine.backend import (
    BackendState,
    ChatMessage,
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

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0  # seconds to open a connection
INFO_TIMEOUT = 15.0  # seconds for metadata requests (/props, /v1/models, /tokenize)
TIMEOUT_SLACK = 15.0  # seconds a generation may run past its own time limit before we give up
RETRIES = 2  # extra attempts after a connection failure or a 5xx answer
BACKOFF = 0.25  # seconds before the first retry; tripled for each further one
RETRY_AFTER = 2.0  # seconds an endpoint that failed is left alone before it is tried again
ERROR_BODY_CHARS = 300

StateListener = Callable[[BackendState, str], None]


# ------------------------------------------------------------------------------ FIM families
@dataclass(frozen=True)
class FimFamily:
    """FIM control tokens of a model family, as text (remote engines tokenize the prompt)."""

    name: str
    pattern: str  # matched against the model's name or path
    prefix: str
    suffix: str
    middle: str
    file_sep: str = ""


FIM_FAMILIES: tuple[FimFamily, ...] = (
    FimFamily("qwen-coder", r"qwen.*coder|codeqwen", "<|fim_prefix|>", "<|fim_suffix|>",
              "<|fim_middle|>", "<|file_sep|>"),
    FimFamily("codegemma", r"codegemma", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>",
              "<|file_separator|>"),
    FimFamily("starcoder", r"starcoder|stable-?code|granite.*code", "<fim_prefix>",
              "<fim_suffix>", "<fim_middle>", "<file_sep>"),
    FimFamily("deepseek-coder", r"deepseek.*coder", "<｜fim▁begin｜>", "<｜fim▁hole｜>",
              "<｜fim▁end｜>"),
    FimFamily("codestral", r"codestral", "[SUFFIX]", "[PREFIX]", ""),
    FimFamily("codellama", r"code-?llama", "<PRE> ", " <SUF>", " <MID>"),
)
# Distinct placeholder ids: remote engines receive text, templates need ids to place tokens.
_PRE_ID, _SUF_ID, _MID_ID, _SEP_ID = -101, -102, -103, -104


def fim_tokens_for(family: FimFamily) -> FimTokens:
    return FimTokens(prefix=_PRE_ID, suffix=_SUF_ID, middle=_MID_ID,
                     prefix_text=family.prefix, suffix_text=family.suffix,
                     middle_text=family.middle,
                     file_sep=_SEP_ID if family.file_sep else None,
                     file_sep_text=family.file_sep)


def fim_family_for(name: str) -> FimFamily | None:
    """The FIM family a model name suggests (instruct variants excluded: they chat)."""
    low = name.lower()
    for fam in FIM_FAMILIES:
        if re.search(fam.pattern, low) and fam.middle:
            return fam
    return None


def _looks_instruct(name: str) -> bool:
    return bool(re.search(r"instruct|chat|-it\b|-it[-_.:]|assistant|gpt|claude|llama-?3",
                          name.lower()))


# --------------------------------------------------------------------------------- transport
def redact_url(url: str) -> str:
    """The URL without credentials, query or fragment: safe to show and to log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _short_body(body: bytes | str) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            text = str(err["message"])
        elif isinstance(err, str):
            text = err
        elif isinstance(data.get("detail"), str):
            text = data["detail"]
    text = " ".join(text.split())
    return text[:ERROR_BODY_CHARS]


class HttpTransport:
    """JSON and server-sent events over one pooled async HTTP client, with retries."""

    def __init__(self, base_url: str, *, api_key_env: str = "", connect_timeout: float =
                 CONNECT_TIMEOUT, retries: int = RETRIES, backoff: float = BACKOFF) -> None:
        base_url = base_url.strip().rstrip("/")
        parts = urlsplit(base_url) if base_url else None
        if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ModelError(f"the endpoint {redact_url(base_url) or '(empty)'} is not an "
                             "http(s) URL; set offpilot.endpoint, e.g. http://gpu-box:8080")
        self.base_url = base_url
        self.shown = redact_url(base_url)
        self.api_key_env = api_key_env
        self.connect_timeout = connect_timeout
        self.retries = retries
        self.backoff = backoff
        self._client: httpx.AsyncClient | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key.strip()}"
        return headers

    def _client_for_loop(self) -> httpx.AsyncClient:
        if self._client is None:
            # verify=True: TLS certificates are always checked.
            self._client = httpx.AsyncClient(verify=True, follow_redirects=False)
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except (httpx.HTTPError, OSError, RuntimeError) as exc:  # RuntimeError: loop closed
                log.debug("closing the connection to %s failed: %r", self.shown, exc)

    def _timeout(self, read: float) -> httpx.Timeout:
        return httpx.Timeout(read, connect=self.connect_timeout)

    def _error(self, exc: BaseException, read_timeout: float) -> ModelError:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return ModelError(f"the model server at {self.shown} did not answer within "
                              f"{read_timeout:g} s; it may be overloaded or stuck.")
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return ModelError(f"the model server at {self.shown} is not reachable "
                              f"({type(exc).__name__}); completions pause until it is back.")
        return ModelError(f"the connection to the model server at {self.shown} failed "
                          f"({type(exc).__name__}).")

    def _status_error(self, status: int, body: bytes | str) -> ModelError:
        detail = _short_body(body)
        if status in (401, 403):
            return ModelError(f"the model server at {self.shown} refused the request (HTTP "
                              f"{status}): check the API key in the environment variable "
                              f"{self.api_key_env or '(none set)'} named by offpilot.apiKeyEnv.")
        return ModelError(f"the model server at {self.shown} answered HTTP {status}"
                          + (f": {detail}" if detail else ""))

    @contextlib.asynccontextmanager
    async def _open(self, method: str, path: str, payload: Any, read_timeout: float
                    ) -> AsyncIterator[httpx.Response]:
        """An open response with a 2xx status, after retries; raises :class:`ModelError`."""
        client = self._client_for_loop()
        url = self.base_url + path
        last: ModelError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 3 ** (attempt - 1))
            try:
                request = client.build_request(
                    method, url, json=payload, headers=self._headers(),
                    timeout=self._timeout(read_timeout))
                response = await client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = self._error(exc, read_timeout)
                continue
            except httpx.HTTPError as exc:
                raise self._error(exc, read_timeout) from None
            try:
                if response.status_code >= 500:
                    body = await response.aread()
                    last = self._status_error(response.status_code, body)
                    continue
                if response.status_code >= 300:
                    body = await response.aread()
                    raise self._status_error(response.status_code, body)
                yield response
                return
            except httpx.HTTPError as exc:
                raise self._error(exc, read_timeout) from None
            finally:
                await response.aclose()
        assert last is not None
        raise last

    async def json(self, method: str, path: str, payload: Any = None, *,
                   read_timeout: float = INFO_TIMEOUT) -> Any:
        async with self._open(method, path, payload, read_timeout) as response:
            try:
                body = await response.aread()
            except httpx.HTTPError as exc:
                raise self._error(exc, read_timeout) from None
        try:
            return json.loads(body)
        except ValueError:
            raise ModelError(f"the model server at {self.shown} sent an answer that is not "
                             f"JSON for {path}: {_short_body(body)[:80]!r}") from None

    async def events(self, path: str, payload: Any, *, read_timeout: float
                     ) -> AsyncGenerator[dict[str, Any], None]:
        """The JSON objects of a server-sent-event stream, until ``[DONE]`` or its end."""
        async with self._open("POST", path, payload, read_timeout) as response:
            try:
                async for line in response.aiter_lines():
                    line = line.strip()
                    if not line or line.startswith(":") or not line.startswith("data:"):
                        continue  # comments, keep-alives, event names
                    data = line[len("data:"):].strip()
                    if data == "[DONE]":
                        return
                    try:
                        obj = json.loads(data)
                    except ValueError:
                        raise ModelError(f"the model server at {self.shown} sent an event "
                                         f"that is not JSON: {data[:80]!r}") from None
                    if not isinstance(obj, dict):
                        raise ModelError(f"the model server at {self.shown} sent an "
                                         "unexpected event.")
                    if obj.get("error"):
                        raise ModelError(f"the model server at {self.shown} reported an "
                                         f"error: {_short_body(json.dumps(obj))}")
                    yield obj
            except httpx.HTTPError as exc:
                raise self._error(exc, read_timeout) from None


# ------------------------------------------------------------------------------ shared logic
def _strs(value: Sequence[str]) -> list[str]:
    return [s for s in value if isinstance(s, str) and s]


class _RemoteBackend:
    """State handling shared by the HTTP backends (mirrors the local engine's states)."""

    def __init__(self, transport: HttpTransport, *, prompt_mode: str = "auto",
                 timeout_slack: float = TIMEOUT_SLACK, info_timeout: float = INFO_TIMEOUT,
                 on_state: StateListener | None = None) -> None:
        self.http = transport
        self.prompt_mode = prompt_mode
        self.timeout_slack = timeout_slack
        self.info_timeout = info_timeout
        self._on_state = on_state
        self._state = BackendState.NO_MODEL
        self._info: ModelInfo | None = None
        self._last_error = ""
        self._failed_at = 0.0
        self._active = 0
        self._start_lock = asyncio.Lock()

    @property
    def endpoint(self) -> str:
        return self.http.shown

    @property
    def state(self) -> BackendState:
        return self._state

    @property
    def last_error(self) -> str:
        return self._last_error

    def _set_state(self, state: BackendState, message: str = "") -> None:
        if state is self._state and not message:
            return
        self._state = state
        if self._on_state is not None:
            try:
                self._on_state(state, message)
            except Exception:  # the listener's failure is not the backend's
                log.exception("state listener failed (state %s)", state)

    def _failed(self, exc: ModelError) -> None:
        self._last_error = str(exc)
        self._failed_at = time.monotonic()
        self._info = None
        self._set_state(BackendState.ERROR, str(exc))

    async def _fetch_info(self) -> ModelInfo:
        raise NotImplementedError

    async def start(self) -> ModelInfo:
        async with self._start_lock:
            if self._info is not None:
                return self._info
            if self._last_error and time.monotonic() - self._failed_at < RETRY_AFTER:
                raise ModelError(self._last_error)
            self._set_state(BackendState.LOADING, self.endpoint)
            try:
                info = await self._fetch_info()
            except ModelError as exc:
                self._failed(exc)
                raise
            self._info = info
            self._last_error = ""
            self._set_state(BackendState.READY, info.name)
            return info

    async def info(self) -> ModelInfo:
        return await self.start()

    @contextlib.asynccontextmanager
    async def _generating(self) -> AsyncIterator[None]:
        self._active += 1
        if self._active == 1:
            self._set_state(BackendState.GENERATING)
        try:
            yield
        except ModelError as exc:
            self._failed(exc)
            raise
        finally:
            self._active -= 1
            if self._active == 0 and self._state is BackendState.GENERATING:
                self._set_state(BackendState.READY)

    async def close(self) -> None:
        await self.http.close()
        self._info = None
        self._set_state(BackendState.NO_MODEL)

    def _read_timeout(self, time_limit: float) -> float:
        return max(1.0, time_limit) + self.timeout_slack


def _finish_instruct(info: ModelInfo, result: GenerationResult) -> GenerationResult:
    if info.prompt_mode is PromptMode.INSTRUCT:
        result.text = templates.extract_instruct_completion(result.text)
    return result


# --------------------------------------------------------------------------- llama-server
_STOP_TYPES = {"eos": "eos", "word": "stop", "limit": "length"}


class LlamaServerBackend(_RemoteBackend):
    """llama.cpp's ``llama-server``: native FIM with repository context and KV-cache reuse.

    Completions use slot ``completion_slot`` and chat/generation ``chat_slot`` (when the server
    has more than one slot, started with ``--parallel 2`` or more), so typing never evicts the
    cached Explain prompt and the other way round. Start the server with ``--cache-reuse 256``
    so ``n_cache_reuse`` can shift cached chunks after an edit.
    """

    def __init__(self, endpoint: str, *, api_key_env: str = "", prompt_mode: str = "auto",
                 completion_slot: int = 0, chat_slot: int = 1, n_cache_reuse: int = 256,
                 timeout_slack: float = TIMEOUT_SLACK, info_timeout: float = INFO_TIMEOUT,
                 retries: int = RETRIES, on_state: StateListener | None = None) -> None:
        super().__init__(HttpTransport(endpoint, api_key_env=api_key_env, retries=retries),
                         prompt_mode=prompt_mode, timeout_slack=timeout_slack,
                         info_timeout=info_timeout, on_state=on_state)
        self.completion_slot = completion_slot
        self.chat_slot = chat_slot
        self.n_cache_reuse = n_cache_reuse
        self._slots = 1

    async def _single_token(self, text: str) -> int | None:
        data = await self.http.json("POST", "/tokenize", {
            "content": text, "add_special": False, "parse_special": True},
            read_timeout=self.info_timeout)
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if isinstance(tokens, list) and len(tokens) == 1:
            tok = tokens[0]
            tok = tok.get("id") if isinstance(tok, dict) else tok
            return int(tok) if isinstance(tok, int) else None
        return None

    async def _probe_fim(self) -> FimTokens | None:
        """FIM tokens of the served model: the first family whose markers are single tokens."""
        for fam in FIM_FAMILIES:
            if not fam.middle:
                continue
            ids = [await self._single_token(t.strip()) for t in
                   (fam.prefix, fam.suffix, fam.middle)]
            if all(i is not None for i in ids):
                sep = await self._single_token(fam.file_sep) if fam.file_sep else None
                return FimTokens(prefix=ids[0], suffix=ids[1], middle=ids[2],  # type: ignore[arg-type]
                                 prefix_text=fam.prefix.strip(), suffix_text=fam.suffix.strip(),
                                 middle_text=fam.middle.strip(), file_sep=sep,
                                 file_sep_text=fam.file_sep if sep is not None else "")
        return None

    async def _fetch_info(self) -> ModelInfo:
        props = await self.http.json("GET", "/props", read_timeout=self.info_timeout)
        if not isinstance(props, dict) or not isinstance(
                props.get("default_generation_settings", {}), dict):
            raise ModelError(f"{self.endpoint} does not look like a llama-server (/props "
                             "answered something else); for other engines set offpilot.backend "
                             "to openai.")
        settings = props.get("default_generation_settings") or {}
        n_ctx = int(settings.get("n_ctx") or props.get("n_ctx") or 0)
        self._slots = int(props.get("total_slots") or 1)
        model_path = str(props.get("model_path") or props.get("model_alias") or "")
        chat_template = props.get("chat_template") or None
        fim = await self._probe_fim()
        return ModelInfo(
            name=PurePosixPath(model_path.replace("\\", "/")).stem or "llama-server",
            path=model_path, architecture="",
            prompt_mode=templates.detect_prompt_mode(fim, chat_template, self.prompt_mode),
            fim=fim, chat_template=chat_template, n_ctx=n_ctx, n_ctx_train=n_ctx,
            can_shift=True, bos_text=str(props.get("bos_token") or ""),
            eos_text=str(props.get("eos_token") or ""))

    def _slot(self, chat: bool) -> int:
        if chat:
            return self.chat_slot if self._slots > max(self.chat_slot, 0) else -1
        return self.completion_slot if self._slots > max(self.completion_slot, 0) else -1

    def _prompt_text(self, info: ModelInfo, segments: list[dict[str, Any]]) -> str:
        text = templates.segments_to_text(info, segments)
        # The server adds BOS to a text prompt itself; a template that wrote it must not
        # produce a second one.
        if any(s.get("no_bos") for s in segments) and info.bos_text \
                and text.startswith(info.bos_text):
            text = text[len(info.bos_text):]
        return text

    async def _post(self, path: str, body: dict[str, Any], time_limit: float,
                    on_text: OnText | None) -> GenerationResult:
        read_timeout = self._read_timeout(time_limit)
        body = {**body, "t_max_predict_ms": int(time_limit * 1000), "cache_prompt": True}
        async with self._generating():
            if on_text is None:
                data = await self.http.json("POST", path, {**body, "stream": False},
                                            read_timeout=read_timeout)
                if not isinstance(data, dict) or not isinstance(data.get("content"), str):
                    raise ModelError(f"the model server at {self.endpoint} answered {path} "
                                     "without generated text.")
                return self._result(data, data["content"], body["t_max_predict_ms"])
            pieces: list[str] = []
            final: dict[str, Any] | None = None
            events = self.http.events(path, {**body, "stream": True}, read_timeout=read_timeout)
            async with contextlib.aclosing(events):
                async for event in events:
                    piece = event.get("content")
                    if isinstance(piece, str) and piece:
                        pieces.append(piece)
                        try:
                            on_text(piece)
                        except Exception:  # the caller's callback must not end the stream
                            log.exception("on_text callback failed (%s)", path)
                    if event.get("stop"):
                        final = event
                        break
            if final is None:
                raise ModelError(f"the model server at {self.endpoint} ended the stream "
                                 "before the generation finished.")
            return self._result(final, "".join(pieces), body["t_max_predict_ms"])

    @staticmethod
    def _result(data: dict[str, Any], text: str, t_max_ms: int) -> GenerationResult:
        raw_timings = data.get("timings")
        timings: dict[str, Any] = raw_timings if isinstance(raw_timings, dict) else {}
        predicted_ms = float(timings.get("predicted_ms") or 0.0)
        stop = _STOP_TYPES.get(str(data.get("stop_type") or ""), "")
        if not stop:
            stop = "time" if t_max_ms and predicted_ms >= t_max_ms else "stop"
        prompt_n = int(timings.get("prompt_n") or 0)
        cache_n = int(timings.get("cache_n") or 0)
        return GenerationResult(
            text=text, stop_reason=stop,
            prompt_tokens=int(data.get("tokens_evaluated") or prompt_n + cache_n),
            prompt_tokens_evaluated=prompt_n,
            generated_tokens=int(data.get("tokens_predicted") or timings.get("predicted_n")
                                 or 0),
            prompt_ms=float(timings.get("prompt_ms") or 0.0), generate_ms=predicted_ms)

    def _sampling(self, max_tokens: int, temperature: float, stop: list[str],
                  warm_only: bool = False) -> dict[str, Any]:
        return {"n_predict": 0 if warm_only else max_tokens, "temperature": temperature,
                "top_k": 40, "top_p": 0.95, "stop": stop, "n_cache_reuse": self.n_cache_reuse}

    async def infill(self, request: InfillRequest, on_text: OnText | None = None
                     ) -> GenerationResult:
        info = await self.start()
        stop = _strs(request.stop)
        if request.stop_at_newline:
            stop.append("\n")
        if info.prompt_mode is PromptMode.FIM:
            body = {"input_prefix": request.prefix, "input_suffix": request.suffix,
                    "input_extra": [{"filename": s.path, "text": s.text}
                                    for s in request.context],
                    "prompt": request.typed, "id_slot": self._slot(chat=False),
                    **self._sampling(request.max_tokens, request.temperature, stop,
                                     request.warm_only)}
            return await self._post("/infill", body, request.time_limit, on_text)
        if info.prompt_mode is PromptMode.INSTRUCT:
            stop.append(templates.FENCE)
        prompt = self._prompt_text(info, templates.infill_segments(info, request))
        body = {"prompt": prompt, "id_slot": self._slot(chat=False),
                **self._sampling(request.max_tokens, request.temperature, stop,
                                 request.warm_only)}
        result = await self._post("/completion", body, request.time_limit, on_text)
        return _finish_instruct(info, result)

    async def chat(self, request: ChatRequest, on_text: OnText | None = None
                   ) -> GenerationResult:
        info = await self.start()
        prompt = self._prompt_text(info, templates.chat_segments(info, request.messages))
        body = {"prompt": prompt, "id_slot": self._slot(chat=True),
                **self._sampling(request.max_tokens, request.temperature, _strs(request.stop))}
        return await self._post("/completion", body, request.time_limit, on_text)

    async def generate(self, request: TextRequest, on_text: OnText | None = None
                       ) -> GenerationResult:
        await self.start()
        body = {"prompt": request.prompt, "id_slot": self._slot(chat=True),
                **self._sampling(request.max_tokens, request.temperature, _strs(request.stop))}
        return await self._post("/completion", body, request.time_limit, on_text)

    async def count_tokens(self, text: str) -> int:
        await self.start()
        try:
            data = await self.http.json("POST", "/tokenize", {"content": text},
                                        read_timeout=self.info_timeout)
        except ModelError as exc:
            self._failed(exc)
            raise
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list):
            raise ModelError(f"the model server at {self.endpoint} answered /tokenize "
                             "without tokens.")
        return len(tokens)


# -------------------------------------------------------------------------- OpenAI-compatible
class OpenAIBackend(_RemoteBackend):
    """Any OpenAI-compatible endpoint: ``/v1/completions``, ``/v1/chat/completions``.

    FIM models get their native FIM prompt as text through ``/v1/completions``; base models a
    prefix continuation; instruct models an infill request through ``/v1/chat/completions``.
    Generation is always streamed, so the time limit and single-line completions end the
    request as soon as they apply (closing the stream stops the server's generation).
    """

    def __init__(self, endpoint: str, model: str = "", api_key_env: str = "", *,
                 prompt_mode: str = "auto", timeout_slack: float = TIMEOUT_SLACK,
                 info_timeout: float = INFO_TIMEOUT, retries: int = RETRIES,
                 on_state: StateListener | None = None) -> None:
        base = endpoint.strip().rstrip("/")
        if base and not base.endswith("/v1"):
            base += "/v1"
        super().__init__(HttpTransport(base, api_key_env=api_key_env, retries=retries),
                         prompt_mode=prompt_mode, timeout_slack=timeout_slack,
                         info_timeout=info_timeout, on_state=on_state)
        self.model = model.strip()
        self._tokenize_way: int | None = None  # index of the tokenize call that works; -1: none

    def _prompt_mode_for(self, name: str) -> tuple[PromptMode, FimTokens | None]:
        from offpilot.engine.models import profile_for

        family = fim_family_for(name)
        fim = fim_tokens_for(family) if family else None
        want = self.prompt_mode
        if want == "auto":
            profile = profile_for(name)
            if profile is not None:
                want = profile.prompt_mode
            elif fim is not None and not _looks_instruct(name):
                want = "fim"
            elif _looks_instruct(name):
                want = "instruct"
            else:
                want = "prefix"
        if want == "fim" and fim is not None:
            return PromptMode.FIM, fim
        if want == "instruct":
            return PromptMode.INSTRUCT, fim
        return PromptMode.PREFIX, fim

    async def _fetch_info(self) -> ModelInfo:
        data = await self.http.json("GET", "/models", read_timeout=self.info_timeout)
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ModelError(f"{self.endpoint}/models did not list models; is this an "
                             "OpenAI-compatible endpoint?")
        ids = [str(e.get("id")) for e in entries if isinstance(e, dict) and e.get("id")]
        name = self.model
        if not name:
            if not ids:
                raise ModelError(f"{self.endpoint} serves no models.")
            name = ids[0]
        elif ids and name not in ids:
            raise ModelError(f"{self.endpoint} does not serve the model {name!r} (it serves: "
                             f"{', '.join(ids[:10])}); check offpilot.remoteModel.")
        entry = next((e for e in entries if isinstance(e, dict) and e.get("id") == name), {})
        raw_meta = entry.get("meta")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        n_ctx = int(meta.get("n_ctx_train") or entry.get("max_model_len")
                    or entry.get("context_length") or 0)
        self.model = name
        mode, fim = self._prompt_mode_for(name)
        return ModelInfo(name=name, path="", architecture="", prompt_mode=mode, fim=fim,
                         chat_template=None, n_ctx=n_ctx, n_ctx_train=n_ctx)

    async def _stream(self, path: str, body: dict[str, Any], *, chat: bool, time_limit: float,
                      stop_at_newline: bool, on_text: OnText | None) -> GenerationResult:
        started = time.monotonic()
        deadline = started + time_limit
        pieces: list[str] = []
        reason = ""
        usage: dict[str, Any] = {}
        first_at: float | None = None
        async with self._generating():
            stream = self.http.events(path, {**body, "stream": True},
                                      read_timeout=self._read_timeout(time_limit))
            try:
                async for event in stream:
                    if isinstance(event.get("usage"), dict):
                        usage = event["usage"]
                    choices = event.get("choices")
                    if not isinstance(choices, list) or not choices:
                        continue
                    choice = choices[0] if isinstance(choices[0], dict) else {}
                    if chat:
                        delta = choice.get("delta") or choice.get("message") or {}
                        piece = delta.get("content") if isinstance(delta, dict) else None
                    else:
                        piece = choice.get("text")
                    if isinstance(piece, str) and piece:
                        if first_at is None:
                            first_at = time.monotonic()
                        cut = _cut_piece(piece, "".join(pieces), stop_at_newline,
                                         time.monotonic() >= deadline)
                        if cut is not None:
                            piece, reason = cut
                        if piece:
                            pieces.append(piece)
                            if on_text is not None:
                                try:
                                    on_text(piece)
                                except Exception:  # the caller's callback must not end it
                                    log.exception("on_text callback failed (%s)", path)
                        if reason:
                            break
                    if choice.get("finish_reason"):  # usage may still follow; read on
                        reason = "length" if choice["finish_reason"] == "length" else "stop"
            finally:
                await stream.aclose()
        if not reason and not pieces and not usage:
            raise ModelError(f"the model server at {self.endpoint} ended the stream without "
                             "an answer.")
        end = time.monotonic()
        return GenerationResult(
            text="".join(pieces), stop_reason=reason or "stop",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            prompt_tokens_evaluated=int(usage.get("prompt_tokens") or 0),
            generated_tokens=int(usage.get("completion_tokens") or len(pieces)),
            prompt_ms=((first_at or end) - started) * 1000,
            generate_ms=(end - (first_at or end)) * 1000)

    def _body(self, max_tokens: int, temperature: float, stop: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens,
                                "temperature": temperature,
                                "stream_options": {"include_usage": True}}
        if stop:
            body["stop"] = stop[:4]  # the OpenAI API accepts at most four
        return body

    async def infill(self, request: InfillRequest, on_text: OnText | None = None
                     ) -> GenerationResult:
        info = await self.start()
        stop = _strs(request.stop)
        if request.stop_at_newline:
            stop.insert(0, "\n")
        max_tokens = 1 if request.warm_only else request.max_tokens
        if info.prompt_mode is PromptMode.INSTRUCT:
            messages = instruct_infill_messages(request)
            body = {**self._body(max_tokens, request.temperature, stop),
                    "messages": [{"role": m.role, "content": m.content} for m in messages]}
            result = await self._stream("/chat/completions", body, chat=True,
                                        time_limit=request.time_limit,
                                        stop_at_newline=request.stop_at_newline,
                                        on_text=on_text)
            result.text = code_from_answer(result.text)
            return result
        prompt = templates.segments_to_text(info, templates.infill_segments(info, request))
        body = {**self._body(max_tokens, request.temperature, stop), "prompt": prompt}
        if info.prompt_mode is PromptMode.FIM:
            body["echo"] = False
        return await self._stream("/completions", body, chat=False,
                                  time_limit=request.time_limit,
                                  stop_at_newline=request.stop_at_newline, on_text=on_text)

    async def chat(self, request: ChatRequest, on_text: OnText | None = None
                   ) -> GenerationResult:
        await self.start()
        body = {**self._body(request.max_tokens, request.temperature, _strs(request.stop)),
                "messages": [{"role": m.role, "content": m.content} for m in request.messages]}
        return await self._stream("/chat/completions", body, chat=True,
                                  time_limit=request.time_limit, stop_at_newline=False,
                                  on_text=on_text)

    async def generate(self, request: TextRequest, on_text: OnText | None = None
                       ) -> GenerationResult:
        await self.start()
        body = {**self._body(request.max_tokens, request.temperature, _strs(request.stop)),
                "prompt": request.prompt}
        return await self._stream("/completions", body, chat=False,
                                  time_limit=request.time_limit, stop_at_newline=False,
                                  on_text=on_text)

    async def count_tokens(self, text: str) -> int:
        """Exact where the server can tokenize (vLLM, llama.cpp, llama-cpp-python), else an
        estimate; the first way that works is remembered."""
        await self.start()
        root = self.http.base_url.removesuffix("/v1")
        ways = ((root + "/tokenize", {"model": self.model, "prompt": text}),  # vLLM
                (root + "/tokenize", {"content": text}),  # llama-server
                (root + "/extras/tokenize", {"model": self.model, "input": text}))
        order = [self._tokenize_way] if self._tokenize_way is not None else range(len(ways))
        for i in order:
            if i < 0:
                break
            url, payload = ways[i]
            probe = HttpTransport(url, api_key_env=self.http.api_key_env, retries=0)
            try:
                data = await probe.json("POST", "", payload, read_timeout=self.info_timeout)
            except ModelError:
                continue
            finally:
                await probe.close()
            if isinstance(data, dict) and isinstance(data.get("count"), int):
                self._tokenize_way = i
                return int(data["count"])
            if isinstance(data, dict) and isinstance(data.get("tokens"), list):
                self._tokenize_way = i
                return len(data["tokens"])
        if self._tokenize_way is None:
            self._tokenize_way = -1
        return math.ceil(len(text) / 3.5)  # typical for code with BPE vocabularies


def _cut_piece(piece: str, before: str, stop_at_newline: bool, past_deadline: bool
               ) -> tuple[str, str] | None:
    """Where a streamed piece must end: at a newline for single-line or late completions."""
    if stop_at_newline and "\n" in piece:
        return piece[:piece.index("\n")], "stop"
    if past_deadline and "\n" in piece and before:
        return piece[:piece.index("\n")], "time"
    return None


def instruct_infill_messages(req: InfillRequest) -> list[ChatMessage]:
    """The instruct-infill conversation for endpoints that apply the chat template themselves.

    Same wording as :func:`offpilot.engine.templates.infill_segments` in instruct mode; the text
    typed since the anchor is shown before the hole, because an OpenAI-style endpoint cannot be
    asked to continue a started answer.
    """
    lang = req.language or ""
    user = ""
    if req.context:
        user += "Relevant code from the repository:\n" + templates.FENCE + lang + "\n"
        user += templates.render_context(req.context, lang).rstrip() + "\n" + templates.FENCE
        user += "\n\n"
    user += (f"File {req.path or '(untitled)'}:\n{templates.FENCE}{lang}\n"
             f"{req.prefix}{req.typed}{templates.HOLE}{req.suffix}\n{templates.FENCE}")
    return [ChatMessage("system", templates.INFILL_SYSTEM), ChatMessage("user", user)]


def code_from_answer(answer: str) -> str:
    """The code of a chat answer: inside its first fenced block when it has one."""
    start = answer.find(templates.FENCE)
    if start < 0:
        return answer
    body = answer[start + len(templates.FENCE):]
    newline = body.find("\n")
    body = body[newline + 1:] if newline >= 0 else ""
    return templates.extract_instruct_completion(body)
