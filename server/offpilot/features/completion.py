"""Inline completions: from a document and a cursor to the text shown as ghost text.

The pipeline: answer from the completion cache when the user typed into the suggestion on
screen; otherwise choose a cache-friendly prompt window (a stable anchor, see
:class:`~offpilot.engine.backend.InfillRequest`), fetch repository context once per anchor, run
the model with the single- or multi-line stopping rule, and post-process the text.

A newer request for the same document supersedes the one in flight: the old one stops within
a token and answers with no items.

Prefetch: once a suggestion is shown, the next one is computed in the background as if it had
been accepted, and put in the cache under the accepted text. It never delays a real request: a
request at any other place cancels it (its generation stops within a token), a request at
exactly the accepted place waits for it instead of starting a second generation, and the model
runs it (like a warm-up) as background work, after the real completions of every window.

Quick prompts (``short_first``, the editor's server, on backends that keep them apart): the
whole prompt (repository context, ``prefixChars`` before the cursor, ``suffixChars`` after) costs
seconds to evaluate the first time on a CPU, and a request that had to evaluate it would keep the
user waiting that long. So a request whose whole prompt is not in the model's cache yet (the
first one in a document, or one after the cursor moved to a new place) is answered from the
cursor's window alone (``SHORT_PREFIX_CHARS`` before, ``SHORT_SUFFIX_CHARS`` after, no context):
a few hundred tokens, kept in a KV-cache sequence of their own so they never cut the whole
prompt back. The whole prompt is evaluated meanwhile as background work, in small steps a real
completion of any window goes before; once it is in, requests use it and only evaluate what was
typed since. Where the editor says where the cursor settled (``offpilot/cursor``), or the user
paused after an edit, the same two prompts are warmed there before the first request comes.

A document that looks like it holds secrets (``excluded``, see :mod:`offpilot.context.exclude`)
gets no completions, no prefetch and no warm-up: its text never reaches a model.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from offpilot.config import Settings, SettingsHolder, holder_of
from offpilot.engine.backend import Backend, GenerationResult, InfillRequest, Snippet
from offpilot.features.postprocess import postprocess

log = logging.getLogger(__name__)

MAX_TYPED_CHARS = 1200  # past this much text typed since the anchor, a new anchor is taken
CACHE_ENTRIES = 64
WARMUP_DELAY = 0.4  # seconds of pause after an edit or a cursor move before a warm-up starts
CLOSERS = set(")]}>\"'`;:,. \t")
SHORT_PREFIX_CHARS = 600  # a quick prompt's window before the cursor (short_first)
SHORT_SUFFIX_CHARS = 200  # and after it

ContextProvider = Callable[[str, str, int, int], Sequence[Snippet]]
"""(uri, text, offset, budget_chars) -> snippets; may be slow, runs in a thread."""


@dataclass
class Anchor:
    """Where the stable part of the prompt ends, for one document."""

    start: int  # first character of the prefix window
    anchor: int  # end of the stable prefix (a line start)
    head: str  # text[start:anchor] when the anchor was taken
    context: tuple[Snippet, ...] = ()
    fetched: bool = False  # ``context`` was retrieved for it
    ready: bool = False  # its whole prompt went through the model once (it is in the cache)

    def still_valid(self, text: str, offset: int, prefix_chars: int) -> bool:
        return (self.anchor <= offset
                and offset - self.anchor <= MAX_TYPED_CHARS
                and text[self.start:self.anchor] == self.head
                and self.anchor - self.start <= max(prefix_chars, 1) * 2)


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def choose_anchor(text: str, offset: int, prefix_chars: int, previous: Anchor | None) -> Anchor:
    """Keep the previous anchor while the user types forward from it; else take a new one."""
    if previous is not None and previous.still_valid(text, offset, prefix_chars):
        return previous
    anchor = _line_start(text, offset)
    start = max(0, anchor - prefix_chars)
    if start > 0:  # begin the window on a whole line
        nl = text.find("\n", start, anchor)
        start = nl + 1 if nl >= 0 else anchor
    return Anchor(start=start, anchor=anchor, head=text[start:anchor])


def suffix_window(text: str, offset: int, suffix_chars: int) -> str:
    end = min(len(text), offset + suffix_chars)
    if end < len(text):
        nl = text.rfind("\n", offset, end)
        end = nl + 1 if nl > offset else end
    return text[offset:end]


def is_mid_line(text: str, offset: int) -> bool:
    """True when real code follows the cursor on its line (then complete one line only)."""
    nl = text.find("\n", offset)
    rest = text[offset:] if nl < 0 else text[offset:nl]
    return any(ch not in CLOSERS for ch in rest)


@dataclass
class CacheEntry:
    before: str  # text before the cursor when the suggestion was made (tail)
    completion: str


class CompletionCache:
    """Recent suggestions by document, reused when the user types what was suggested."""

    TAIL = 512

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str], CacheEntry] = OrderedDict()

    def put(self, uri: str, before: str, completion: str) -> None:
        if not completion:
            return
        key = (uri, before[-self.TAIL:])
        self._entries[key] = CacheEntry(before[-self.TAIL:], completion)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def get(self, uri: str, before: str) -> str | None:
        """The rest of a cached suggestion whose start the user has typed, or None."""
        tail = before[-self.TAIL:]
        hit = self._entries.get((uri, tail))
        if hit is not None:
            return hit.completion
        # Look back: an older suggestion made a few characters ago that the user typed into.
        for (u, _), entry in reversed(self._entries.items()):
            if u != uri:
                continue
            for back in range(1, min(len(entry.completion), 64) + 1):
                typed = before[-back:]
                if (before[:-back].endswith(entry.before[-(self.TAIL - back):])
                        and entry.completion.startswith(typed)):
                    rest = entry.completion[back:]
                    return rest or None
        return None

    def clear(self, uri: str | None = None) -> None:
        if uri is None:
            self._entries.clear()
        else:
            for k in [k for k in self._entries if k[0] == uri]:
                del self._entries[k]


@dataclass
class CompletionOutcome:
    items: list[str]
    # "model" | "cache" | "superseded" | "disabled" | "excluded" | "error"
    source: str = "model"
    result: GenerationResult | None = None
    context: tuple[Snippet, ...] = ()
    ms: float = 0.0
    request: InfillRequest | None = None
    error: str = ""


@dataclass
class CompletionStats:
    requests: int = 0
    cache_hits: int = 0
    prefetches: int = 0  # background generations started after a suggestion
    prefetch_hits: int = 0  # requests answered by a prefetched suggestion
    warmups: int = 0  # prompts evaluated while idle (no tokens generated)
    short_prompts: int = 0  # requests answered from a quick prompt (the cursor window alone)
    superseded: int = 0
    errors: int = 0
    model_calls: int = 0
    prompt_tokens_evaluated: list[int] = field(default_factory=list)
    prompt_tokens_warmed: list[int] = field(default_factory=list)  # by warm-ups
    # cached tokens moved to new positions instead of evaluated (models whose cache can shift)
    prompt_tokens_shifted: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "cacheHits": self.cache_hits,
                "prefetches": self.prefetches, "prefetchHits": self.prefetch_hits,
                "warmups": self.warmups, "shortPrompts": self.short_prompts,
                "superseded": self.superseded, "errors": self.errors,
                "modelCalls": self.model_calls,
                "promptTokensEvaluated": self.prompt_tokens_evaluated[-1000:],
                "promptTokensWarmed": self.prompt_tokens_warmed[-1000:],
                "promptTokensShifted": self.prompt_tokens_shifted[-1000:],
                "latenciesMs": self.latencies_ms[-1000:]}


@dataclass(frozen=True)
class Stages:
    """Stages of the pipeline that can be switched off, to measure what each one contributes
    (``bench/quality.py``, ``offpilot eval``); the server runs them all."""

    suffix: bool = True  # the code after the cursor goes into the prompt (when the layout has room)
    syntax_cut: bool = True  # a multi-line answer ends where the code stops parsing better
    line_decision: bool = True  # single line when code follows the cursor, else block rules
    context: bool = True  # repository context in the prompt


def trim_to_lines(text: str, max_lines: int) -> str:
    lines = text.split("\n")
    return "\n".join(lines[:max_lines]) if len(lines) > max_lines else text


class Completer:
    """Plain-Python inline completion service (the LSP layer is a thin adapter over it)."""

    def __init__(self, backend: Callable[[], Awaitable[Backend]],
                 settings: Settings | SettingsHolder,
                 context: ContextProvider | None = None,
                 excluded: Callable[[str], bool] | None = None,
                 stages: Stages | None = None, *, short_first: bool = False) -> None:
        self._backend = backend
        self.short_first = short_first  # quick prompts (see the module's docstring)
        self._short_windows: dict[str, Anchor] = {}  # uri -> the quick prompts' window
        # uri -> the anchor whose whole prompt is being evaluated in the background, and that work
        self._whole: dict[str, tuple[Anchor, asyncio.Task[None]]] = {}
        # The anchor whose whole prompt went into the model last: the model keeps one whole
        # prompt per editor window (one KV-cache sequence), so it alone may be ready.
        self._resident: Anchor | None = None
        self._settings = holder_of(settings)  # read on each use: never a stale copy
        self.stages = stages or Stages()
        self._context = context
        # uri -> whether the document looks like it holds secrets (never sent to a model)
        self._excluded = excluded or (lambda uri: False)
        self.cache = CompletionCache()
        self.anchors: dict[str, Anchor] = {}
        self.stats = CompletionStats()
        self._inflight: dict[str, asyncio.Task[CompletionOutcome]] = {}
        # uri -> (text before the cursor once the suggestion is accepted, its generation)
        self._prefetch: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self._warmups: dict[str, asyncio.Task[None]] = {}  # uri -> idle warm-up, pending

    @property
    def settings(self) -> Settings:
        return self._settings.current

    def forget(self, uri: str) -> None:
        if self._resident is not None and self._resident is self.anchors.get(uri):
            self._resident = None
        self.anchors.pop(uri, None)
        self._short_windows.pop(uri, None)
        whole = self._whole.pop(uri, None)
        if whole is not None:
            whole[1].cancel()
        self.cache.clear(uri)
        task = self._inflight.pop(uri, None)
        if task is not None:
            task.cancel()
        self._cancel_prefetch(uri)
        self._cancel_warmup(uri)

    def _cancel_warmup(self, uri: str) -> None:
        task = self._warmups.pop(uri, None)
        if task is not None and not task.done():
            task.cancel()

    def _focus(self, uri: str) -> None:
        """The user is at work in ``uri``: other documents' whole prompts under way are
        stopped. They would hold up this document's prompts (background work runs oldest first)
        and then take the one whole-prompt sequence from it."""
        for other, (_, task) in list(self._whole.items()):
            if other != uri and not task.done():
                task.cancel()

    def _hold(self, anchor: Anchor) -> None:
        """``anchor``'s whole prompt goes into the model, replacing the one there, which is no
        longer ready (the next request there gets a quick prompt and warms it again)."""
        if self._resident is not None and self._resident is not anchor:
            self._resident.ready = False
        self._resident = anchor

    def _cancel_prefetch(self, uri: str) -> None:
        entry = self._prefetch.pop(uri, None)
        if entry is not None and not entry[1].done():
            entry[1].cancel()

    async def complete(self, uri: str, text: str, offset: int, *, language: str = "",
                       path: str = "") -> CompletionOutcome:
        """Complete at ``offset`` of ``text``; supersedes this document's request in flight."""
        self.stats.requests += 1
        if self._excluded(uri):
            self.forget(uri)
            return CompletionOutcome(items=[], source="excluded")
        self._cancel_warmup(uri)  # a real request goes first
        self._focus(uri)
        previous = self._inflight.get(uri)
        if previous is not None and not previous.done():
            previous.cancel()
        task = asyncio.create_task(self._complete(uri, text, offset, language, path))
        self._inflight[uri] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the client cancelled this request
            self.stats.superseded += 1
            return CompletionOutcome(items=[], source="superseded")
        finally:
            if self._inflight.get(uri) is task:
                del self._inflight[uri]

    async def _complete(self, uri: str, text: str, offset: int, language: str,
                        path: str) -> CompletionOutcome:
        t0 = time.perf_counter()
        s = self.settings
        offset = max(0, min(offset, len(text)))
        before = text[:offset]
        prefetched = False
        entry = self._prefetch.get(uri)
        if entry is not None and entry[0] == before and not entry[1].done():
            # The user accepted the suggestion the prefetch started from: wait for it.
            try:
                await asyncio.shield(entry[1])
            except asyncio.CancelledError:
                pass
            except Exception:  # the prefetch failed: this request goes on without it
                log.debug("prefetch failed", exc_info=True)
            prefetched = True
        elif entry is not None:
            prefetched = entry[0] == before
            if not prefetched:
                self._cancel_prefetch(uri)  # the real request goes first
        cached = self.cache.get(uri, before)
        if cached is not None:
            item = self._finish(cached, text, offset, language)
            if item:
                self.stats.cache_hits += 1
                if prefetched:
                    self.stats.prefetch_hits += 1
                    self._prefetch.pop(uri, None)
                    self._start_prefetch(uri, text, offset, item, language, path)
                ms = (time.perf_counter() - t0) * 1000
                self.stats.latencies_ms.append(ms)
                return CompletionOutcome(items=[item], source="cache", ms=ms)
        if s.debounce_ms > 0:
            await asyncio.sleep(s.debounce_ms / 1000)  # a newer keystroke cancels us here
        short = await self._quick(uri, text, offset)
        if short:
            item, result, request, context = await self._generate_short(
                uri, text, offset, language, path)
        else:
            item, result, request, context = await self._generate(
                uri, text, offset, language, path)
        ms = (time.perf_counter() - t0) * 1000
        self.stats.latencies_ms.append(ms)
        if short:
            # No prefetch from a quick prompt: the model's time goes to the whole prompt.
            self._warm_whole_prompt(uri, text, offset, language, path)
        elif item:
            self._start_prefetch(uri, text, offset, item, language, path)
        return CompletionOutcome(items=[item] if item else [], result=result,
                                 context=context, ms=ms, request=request)

    async def _generate(self, uri: str, text: str, offset: int, language: str, path: str,
                        *, background: bool = False
                        ) -> tuple[str, GenerationResult, InfillRequest, tuple[Snippet, ...]]:
        """One model call for the cursor at ``offset``; the item is cached under its position.
        ``background``: speculative (a prefetch), queued behind every real completion."""
        s = self.settings
        anchor = await self._take_anchor(uri, text, offset)
        request = self._whole_request(anchor, text, offset, language, path,
                                      max_tokens=s.max_tokens, temperature=s.temperature,
                                      time_limit=s.time_limit, background=background,
                                      stop_at_newline=(self.stages.line_decision
                                                       and is_mid_line(text, offset)))
        self._hold(anchor)
        item, result = await self._ask(request, uri, text, offset, language)
        if result.stop_reason != "cancelled":
            anchor.ready = True
        return item, result, request, anchor.context

    async def _ask(self, request: InfillRequest, uri: str, text: str, offset: int,
                   language: str) -> tuple[str, GenerationResult]:
        """Run ``request`` on the model; count it; the item is cached under its position."""
        backend = await self._backend()
        self.stats.model_calls += 1
        result = await backend.infill(request)
        self.stats.prompt_tokens_evaluated.append(result.prompt_tokens_evaluated)
        self.stats.prompt_tokens_shifted.append(
            int((result.extra or {}).get("prompt_tokens_shifted", 0)))
        item = self._finish(result.text, text, offset, language)
        if item:
            self.cache.put(uri, text[:offset], item)
        return item, result

    async def _take_anchor(self, uri: str, text: str, offset: int) -> Anchor:
        """The document's anchor for ``offset`` (a new one when the old no longer holds), its
        repository context retrieved."""
        anchor = choose_anchor(text, offset, self.settings.prefix_chars, self.anchors.get(uri))
        self.anchors[uri] = anchor
        await self._fetch_once(anchor, uri, text, offset)
        return anchor

    async def _fetch_once(self, anchor: Anchor, uri: str, text: str, offset: int) -> None:
        """Retrieve ``anchor``'s repository context, once."""
        if not anchor.fetched:
            anchor.fetched = True
            anchor.context = await self._fetch_context(uri, text, offset)

    def _whole_request(self, anchor: Anchor, text: str, offset: int, language: str, path: str,
                       **kw: Any) -> InfillRequest:
        """The whole prompt at ``offset``: ``anchor``'s window and context, the suffix."""
        return InfillRequest(
            prefix=anchor.head, typed=text[anchor.anchor:offset],
            suffix=(suffix_window(text, offset, self.settings.suffix_chars)
                    if self.stages.suffix else ""),
            language=language, path=path, context=anchor.context, **kw)

    async def _quick(self, uri: str, text: str, offset: int) -> bool:
        """Whether a request at ``offset`` is answered from a quick prompt: quick prompts are on,
        the backend keeps them apart, and the whole prompt there is not in the cache yet."""
        if not self.short_first:
            return False
        anchor = choose_anchor(text, offset, self.settings.prefix_chars, self.anchors.get(uri))
        if anchor is self.anchors.get(uri) and anchor.ready:
            return False
        backend = await self._backend()
        return bool(getattr(backend, "quick_prompts", False))

    def _short_request(self, uri: str, text: str, offset: int, language: str, path: str, *,
                       warm_only: bool = False) -> InfillRequest:
        """A quick prompt: the cursor's window alone, no repository context."""
        s = self.settings
        window = choose_anchor(text, offset, min(s.prefix_chars, SHORT_PREFIX_CHARS),
                               self._short_windows.get(uri))
        self._short_windows[uri] = window
        return InfillRequest(
            prefix=window.head, typed=text[window.anchor:offset],
            suffix=(suffix_window(text, offset, min(s.suffix_chars, SHORT_SUFFIX_CHARS))
                    if self.stages.suffix else ""),
            language=language, path=path, max_tokens=s.max_tokens, temperature=s.temperature,
            time_limit=s.time_limit,
            stop_at_newline=self.stages.line_decision and is_mid_line(text, offset),
            short=True, warm_only=warm_only, background=warm_only)

    async def _generate_short(self, uri: str, text: str, offset: int, language: str, path: str
                              ) -> tuple[str, GenerationResult, InfillRequest, tuple[Snippet, ...]]:
        """One model call from a quick prompt (see the module's docstring)."""
        request = self._short_request(uri, text, offset, language, path)
        item, result = await self._ask(request, uri, text, offset, language)
        self.stats.short_prompts += 1
        return item, result, request, ()

    def _warm_whole_prompt(self, uri: str, text: str, offset: int, language: str,
                           path: str) -> None:
        """Evaluate the whole prompt at ``offset`` as background work, unless it is in the cache
        or on its way there; it replaces the document's whole prompt under way for another
        place. Real requests do not cancel it (they go first anyway); closing the document
        does."""
        anchor = choose_anchor(text, offset, self.settings.prefix_chars, self.anchors.get(uri))
        current = self._whole.get(uri)
        if current is not None and not current[1].done():
            if current[0] is anchor:
                return
            current[1].cancel()
        if anchor.ready and anchor is self.anchors.get(uri):
            return
        self.anchors[uri] = anchor

        async def run() -> None:
            try:
                await self._warm_anchor(uri, anchor, text, offset, language, path)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a warm-up failing is no one's problem
                log.debug("warming the whole prompt failed: %s", exc)

        task = asyncio.create_task(run())
        self._whole[uri] = (anchor, task)
        task.add_done_callback(
            lambda t: self._whole.pop(uri, None) if self._whole.get(uri, (None, t))[1] is t
            else None)

    def _start_prefetch(self, uri: str, text: str, offset: int, item: str, language: str,
                        path: str) -> None:
        """Compute, in the background, the suggestion that follows ``item`` once accepted."""
        if not self.settings.prefetch:
            return
        self._cancel_prefetch(uri)
        accepted = text[:offset] + item + text[offset:]
        at = offset + len(item)
        if self.cache.get(uri, accepted[:at]):
            return  # already known

        async def run() -> None:
            try:
                backend = await self._backend()
                if getattr(backend, "queued", 0):
                    return  # the model is busy with other work: do not queue behind it
                await self._generate(uri, accepted, at, language, path, background=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a prefetch failing is no one's problem
                log.debug("prefetch failed: %s", exc)

        self.stats.prefetches += 1
        task = asyncio.create_task(run())
        self._prefetch[uri] = (accepted[:at], task)

    def _finish(self, completion: str, text: str, offset: int, language: str) -> str:
        prefix, suffix = text[:offset], text[offset:]
        out = postprocess(completion, prefix=prefix, suffix=suffix, language=language,
                          max_lines=self.settings.max_lines, syntax=self.stages.syntax_cut,
                          line_decision=self.stages.line_decision)
        if self.stages.line_decision and is_mid_line(text, offset):
            out = out.split("\n", 1)[0]
        out = trim_to_lines(out, self.settings.max_lines)
        return out if out.strip() else ""

    async def _fetch_context(self, uri: str, text: str, offset: int) -> tuple[Snippet, ...]:
        if (self._context is None or self.settings.context_budget <= 0
                or not self.stages.context):
            return ()
        try:
            snippets = await asyncio.to_thread(self._context, uri, text, offset,
                                               self.settings.context_budget)
            return tuple(snippets)
        except Exception:
            log.exception("context retrieval failed; completing without repository context")
            return ()

    def schedule_warmup(self, uri: str, where: Callable[[], tuple[str, int] | None], *,
                        language: str = "", path: str = "",
                        delay: float = WARMUP_DELAY) -> None:
        """Warm the prompt of the place the user is at once they pause for ``delay`` seconds.

        ``where()`` gives the document's text and the cursor offset at that moment (None: the
        document is gone). Nothing happens when the place's prompt head is the one already
        evaluated (typing on in one scope), when a completion for the document is running, or
        when the model is busy: a warm-up only ever uses idle time, and a real request cancels
        it. Outside an event loop (a handler called directly) nothing is scheduled.
        """
        s = self.settings
        if not s.warmup or not s.completions_enabled or language in s.disabled_languages \
                or self._excluded(uri):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop to run the warm-up on
            return
        self._cancel_warmup(uri)

        async def run() -> None:
            await asyncio.sleep(delay)  # a newer edit or cursor move cancels us here
            placed = where()
            inflight = self._inflight.get(uri)
            if placed is None or (inflight is not None and not inflight.done()):
                return
            text, offset = placed
            try:
                backend = await self._backend()
                if getattr(backend, "queued", 0):
                    return
                await self.warm(uri, text, offset, language=language, path=path)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a warm-up failing is no one's problem
                log.debug("warm-up failed: %s", exc)

        task = asyncio.create_task(run())
        self._warmups[uri] = task
        task.add_done_callback(
            lambda t: self._warmups.pop(uri, None) if self._warmups.get(uri) is t else None)

    async def warm(self, uri: str, text: str, offset: int, *, language: str = "",
                   path: str = "") -> bool:
        """Evaluate the prompt for this position into the cache, generating nothing; False when
        the whole prompt there is in the cache already.

        With quick prompts, the quick prompt there is evaluated first (the first request there
        uses it) and the whole prompt follows as background work of its own, which a real
        request does not cancel."""
        if self._excluded(uri):
            return False
        offset = max(0, min(offset, len(text)))
        anchor = choose_anchor(text, offset, self.settings.prefix_chars, self.anchors.get(uri))
        if anchor is self.anchors.get(uri) and anchor.ready:
            return False
        self._focus(uri)
        if await self._quick(uri, text, offset):
            await self._warm_request(
                self._short_request(uri, text, offset, language, path, warm_only=True))
            self._warm_whole_prompt(uri, text, offset, language, path)
            return True
        current = self._whole.get(uri)
        if current is not None and current[0] is anchor and not current[1].done():
            return False  # on its way
        self.anchors[uri] = anchor
        await self._warm_anchor(uri, anchor, text, offset, language, path)
        return True

    async def _warm_anchor(self, uri: str, anchor: Anchor, text: str, offset: int,
                           language: str, path: str) -> None:
        """Evaluate the whole prompt of ``anchor`` at ``offset`` (background work)."""
        await self._fetch_once(anchor, uri, text, offset)
        request = self._whole_request(anchor, text, offset, language, path, warm_only=True,
                                      background=True)
        self._hold(anchor)
        result = await self._warm_request(request)
        if result.stop_reason != "cancelled":
            anchor.ready = True

    async def _warm_request(self, request: InfillRequest) -> GenerationResult:
        """Evaluate a warm-only request into the cache; count it."""
        backend = await self._backend()
        self.stats.warmups += 1
        result = await backend.infill(request)
        self.stats.prompt_tokens_warmed.append(result.prompt_tokens_evaluated)
        return result
