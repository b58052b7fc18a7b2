"""The completion pipeline, driven by a scripted fake backend (not a model: it returns canned
text and records the requests it was given)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from offpilot.config import Settings
from offpilot.engine.backend import GenerationResult, InfillRequest, Snippet
from offpilot.features.completion import (
    Completer,
    CompletionCache,
    choose_anchor,
    is_mid_line,
    suffix_window,
)


class ScriptedBackend:
    """Fake backend: answers every infill with ``answer``; optionally waits ``delay`` first."""

    def __init__(self, answer: str = "", delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.requests: list[InfillRequest] = []
        self.cancelled = 0

    async def infill(self, request: InfillRequest, on_text=None) -> GenerationResult:
        self.requests.append(request)
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return GenerationResult(text=self.answer, stop_reason="stop")


def completer(backend: ScriptedBackend, context=None, **settings) -> Completer:
    settings.setdefault("prefetch", False)  # the prefetch tests turn it on
    s = replace(Settings(), debounce_ms=0, **settings)

    async def get():
        return backend

    return Completer(get, s, context=context)


def test_anchor_stays_while_typing_forward_and_moves_elsewhere():
    text = "a = 1\nb = 2\nc = "
    first = choose_anchor(text, len(text), 2500, None)
    assert first.anchor == text.rfind("\n") + 1
    typed = text + "3\nd = "
    assert choose_anchor(typed, len(typed), 2500, first) is first
    # cursor moved above the anchor: a new anchor
    moved = choose_anchor(typed, 3, 2500, first)
    assert moved is not first and moved.anchor == 0
    # the text before the anchor changed: a new anchor
    edited = "A = 1\n" + typed[6:]
    assert choose_anchor(edited, len(edited), 2500, first) is not first


def test_prefix_window_starts_on_a_line():
    text = "".join(f"line {i}\n" for i in range(1000))
    a = choose_anchor(text, len(text), 100, None)
    assert a.start > 0 and text[a.start - 1] == "\n"
    assert a.anchor - a.start <= 100


def test_suffix_window_and_mid_line():
    text = "x = foo(|)\nnext\nmore\n"
    cur = text.index("|")
    assert is_mid_line("x = foo()", len("x = foo(")) is False  # only closers follow
    assert is_mid_line("x = foo(a, b)", len("x = foo(")) is True
    assert suffix_window(text, cur, 6) == "|)\n"
    assert suffix_window(text, cur, 8) == "|)\nnext\n"


async def test_completion_returns_postprocessed_item_and_request_layout():
    backend = ScriptedBackend("return a + b\n\ndef other():\n    pass")
    c = completer(backend, max_lines=1)
    text = "def add(a, b):\n    "
    out = await c.complete("file:///x.py", text, len(text), language="python", path="x.py")
    assert out.items == ["return a + b"]
    req = backend.requests[0]
    assert req.prefix + req.typed == text
    assert req.path == "x.py" and req.language == "python"


async def test_mid_line_completion_is_single_line_without_the_suffix_tail():
    backend = ScriptedBackend("a, b)\nprint('x')")
    c = completer(backend)
    text = "total = add(a, b)\n"
    cur = text.index("a, b)")
    out = await c.complete("file:///m.py", text, cur, language="python")
    assert backend.requests[0].stop_at_newline is True
    assert out.items == [] or "\n" not in out.items[0]
    assert all(not item.endswith("a, b)") for item in out.items)


async def test_whitespace_only_answers_give_no_item():
    c = completer(ScriptedBackend("   \n\t"))
    out = await c.complete("file:///a.py", "x = ", 4)
    assert out.items == []


async def test_cache_answers_when_the_user_types_the_suggestion():
    backend = ScriptedBackend("print('hello')")
    c = completer(backend)
    text = "if ok:\n    "
    first = await c.complete("file:///c.py", text, len(text))
    assert first.items == ["print('hello')"]
    typed = text + "pri"
    second = await c.complete("file:///c.py", typed, len(typed))
    assert second.source == "cache"
    assert second.items == ["nt('hello')"]
    assert len(backend.requests) == 1


async def test_newer_request_supersedes_the_one_in_flight():
    backend = ScriptedBackend("x", delay=5)
    c = completer(backend)
    old = asyncio.create_task(c.complete("file:///s.py", "a", 1))
    await asyncio.sleep(0.05)
    backend.delay = 0
    new = await c.complete("file:///s.py", "ab", 2)
    assert (await old).source == "superseded"
    assert backend.cancelled == 1
    assert new.items == ["x"]


async def test_client_cancellation_propagates():
    backend = ScriptedBackend("x", delay=5)
    c = completer(backend)
    task = asyncio.create_task(c.complete("file:///s.py", "a", 1))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.cancelled == 1


async def test_context_is_fetched_once_per_anchor():
    calls = []

    def context(uri, text, offset, budget):
        calls.append(offset)
        return [Snippet("b.py", 1, 1, "definition", "def g(): ...")]

    backend = ScriptedBackend("1")
    c = completer(backend, context=context)
    text = "x = "
    await c.complete("file:///a.py", text, len(text))
    await c.complete("file:///a.py", text + "g", len(text) + 1)
    assert len(calls) == 1
    assert [r.context for r in backend.requests] == [backend.requests[0].context] * 2
    assert backend.requests[0].context[0].path == "b.py"


def test_cache_looks_back_over_recent_positions():
    cache = CompletionCache()
    cache.put("u", "abc", "def ghi")
    assert cache.get("u", "abcde") == "f ghi"
    assert cache.get("u", "abcdx") is None
    assert cache.get("other", "abcde") is None


class QueueBackend(ScriptedBackend):
    """Fake backend answering from a list of canned (text, delay) pairs, one per call."""

    def __init__(self, answers: list[tuple[str, float]]) -> None:
        super().__init__("")
        self.answers = list(answers)

    async def infill(self, request: InfillRequest, on_text=None) -> GenerationResult:
        self.answer, self.delay = self.answers.pop(0) if self.answers else ("", 0.0)
        return await super().infill(request, on_text)


async def test_prefetch_answers_the_next_request_after_acceptance():
    backend = QueueBackend([("total = 0", 0.0), ("\n    return total", 0.05)])
    c = completer(backend, prefetch=True)
    text = "def f(xs):\n    "
    first = await c.complete("file:///a.py", text, len(text))
    assert first.items == ["total = 0"]
    accepted = text + "total = 0"
    # the request at the accepted place waits for the prefetch instead of a second model call
    second = await c.complete("file:///a.py", accepted, len(accepted))
    assert second.source == "cache" and second.items
    assert "return total" in second.items[0]
    assert backend.requests[1].typed.endswith("total = 0")  # computed as if accepted
    assert c.stats.prefetch_hits == 1
    assert c.stats.prefetches == 2  # and the one after it is on its way


async def test_prefetch_never_blocks_a_request_elsewhere():
    backend = QueueBackend([("total = 0", 0.0), ("never shown", 5.0), ("return 1", 0.0)])
    c = completer(backend, prefetch=True)
    text = "def f(xs):\n    "
    await c.complete("file:///a.py", text, len(text))
    await asyncio.sleep(0.01)  # the prefetch is now waiting in the (slow) model
    assert c.stats.prefetches == 1
    other = "def g():\n    "
    # somewhere else than the accepted text: the prefetch is stopped, not waited for (were it
    # waited for, this would hang on its 5 s delay and the wait_for would fail)
    outcome = await asyncio.wait_for(c.complete("file:///a.py", other, len(other)), 2.0)
    assert outcome.source == "model" and outcome.items == ["return 1"]
    await asyncio.sleep(0)
    assert backend.cancelled == 1


# ------------------------------------------------------------------ idle warm-up
async def test_warmup_evaluates_a_new_place_once_the_user_pauses():
    backend = ScriptedBackend("x")
    c = completer(backend)
    text = "import os\n\n\ndef f(xs):\n    return len(xs)\n\n\ndef g():\n    "
    c.schedule_warmup("file:///a.py", lambda: (text, len(text)), delay=0.01)
    await asyncio.sleep(0.05)
    assert [r.warm_only for r in backend.requests] == [True]
    assert backend.requests[0].prefix + backend.requests[0].typed == text
    assert c.stats.warmups == 1 and c.stats.model_calls == 0
    # the completion that follows at that place has the same prompt head (the warmed one)
    await c.complete("file:///a.py", text, len(text))
    assert backend.requests[1].prefix == backend.requests[0].prefix
    assert backend.requests[1].context == backend.requests[0].context
    # and pausing there again costs nothing: the head is already evaluated
    c.schedule_warmup("file:///a.py", lambda: (text + "y", len(text) + 1), delay=0.01)
    await asyncio.sleep(0.05)
    assert len(backend.requests) == 2 and c.stats.warmups == 1


async def test_a_request_cancels_a_pending_or_running_warmup():
    backend = ScriptedBackend("x", delay=5.0)  # a slow model
    c = completer(backend)
    text = "def g():\n    "
    c.schedule_warmup("file:///a.py", lambda: (text, len(text)), delay=0.0)
    await asyncio.sleep(0.01)  # the warm-up is now in the model
    assert backend.requests and backend.requests[0].warm_only
    backend.delay = 0.0
    outcome = await asyncio.wait_for(c.complete("file:///a.py", text, len(text)), 2.0)
    assert outcome.items == ["x"] and backend.cancelled == 1
    # pending (not started) warm-ups are dropped too
    c.schedule_warmup("file:///a.py", lambda: ("z = ", 4), delay=0.05)
    await c.complete("file:///a.py", text, len(text))
    await asyncio.sleep(0.1)
    assert c.stats.warmups == 1


async def test_no_warmup_when_the_model_is_busy_or_warmup_is_off():
    backend = ScriptedBackend("x")
    backend.queued = 1  # type: ignore[attr-defined]  # another request is waiting
    c = completer(backend)
    c.schedule_warmup("file:///a.py", lambda: ("a = ", 4), delay=0.0)
    await asyncio.sleep(0.02)
    assert backend.requests == []
    backend.queued = 0  # type: ignore[attr-defined]
    off = completer(backend, warmup=False)
    off.schedule_warmup("file:///a.py", lambda: ("a = ", 4), delay=0.0)
    gone = completer(backend)
    gone.schedule_warmup("file:///a.py", lambda: None, delay=0.0)  # the document closed
    await asyncio.sleep(0.02)
    assert backend.requests == []


# ------------------------------------------------------------------ priorities
async def test_only_real_requests_go_to_the_model_at_completion_priority():
    # A real completion is foreground; its prefetch and an idle warm-up are background work,
    # which the model runs after every waiting real completion (of any window).
    backend = ScriptedBackend(answer="x + 1")
    c = completer(backend, prefetch=True)
    await c.complete("file:///a.py", "y = ", 4)
    await asyncio.sleep(0.01)  # the prefetch reaches the model
    c.schedule_warmup("file:///b.py", lambda: ("a = 1\nb = ", 10), delay=0.0)
    await asyncio.sleep(0.01)
    kinds = [("warm" if r.warm_only else "generate", r.background) for r in backend.requests]
    assert kinds == [("generate", False), ("generate", True), ("warm", True)]
    assert backend.requests[1].prefix + backend.requests[1].typed == "y = x + 1"  # the prefetch


class QuickBackend(ScriptedBackend):
    """Fake backend (as ScriptedBackend) that keeps quick prompts apart, as the local one does;
    its warm-only requests wait until ``gate`` is set."""

    quick_prompts = True

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.gate = asyncio.Event()
        self.gate.set()

    async def infill(self, request: InfillRequest, on_text=None) -> GenerationResult:
        if request.warm_only:
            self.requests.append(request)
            await self.gate.wait()
            return GenerationResult(text="", stop_reason="warm")
        return await super().infill(request, on_text)


def quick_completer(backend: ScriptedBackend, **kw) -> Completer:
    c = completer(backend, **kw)
    c.short_first = True
    return c


BIG = "".join(f"x{i} = {i}\n" for i in range(400)) + "def add(a, b):\n    return "


async def test_a_request_whose_whole_prompt_is_not_in_the_cache_uses_the_cursor_window():
    backend = QuickBackend(answer="a + b")
    snippet = Snippet("util.py", 1, 1, "definition", "def helper(): ...")
    c = quick_completer(backend, context=lambda uri, text, offset, budget: [snippet],
                        prefetch=True)
    first = await c.complete("file:///a.py", BIG, len(BIG), language="python")
    assert first.items == ["a + b"]
    short = backend.requests[0]
    assert short.context == () and not short.background and not short.warm_only
    assert len(short.prefix) <= 800 and BIG.endswith(short.prefix + short.typed)
    assert short.short
    anchor, task = c._whole["file:///a.py"]
    await task  # the whole prompt follows as background work
    whole = backend.requests[1]
    assert whole.warm_only and whole.background and whole.context == (snippet,)
    assert len(whole.prefix) > 2000 and not whole.short and anchor.ready
    assert c.stats.short_prompts == 1 and c.stats.prefetches == 0
    more = BIG + "0 if a else "  # not the suggestion: a new model call, from the whole prompt
    await c.complete("file:///a.py", more, len(more), language="python")
    assert backend.requests[2].prefix == whole.prefix and backend.requests[2].context == (snippet,)
    assert not backend.requests[2].short and c.stats.short_prompts == 1


async def test_without_quick_prompts_every_request_uses_the_whole_prompt():
    # Quick prompts off (the completer's default), and on with a backend that cannot keep
    # them apart (a remote server's one slot): the whole prompt from the first request.
    for quick in (False, True):
        backend = ScriptedBackend(answer="a + b")
        c = completer(backend)
        c.short_first = quick
        await c.complete("file:///a.py", BIG, len(BIG), language="python")
        assert len(backend.requests) == 1 and len(backend.requests[0].prefix) > 2000
        assert not backend.requests[0].short and c.stats.short_prompts == 0


async def test_requests_use_quick_prompts_until_the_whole_prompt_is_evaluated():
    backend = QuickBackend("a + b")
    backend.gate.clear()
    c = quick_completer(backend)
    uri = "file:///a.py"
    await c.complete(uri, BIG, len(BIG))
    for typed in ("0 if a", "0 if a else "):  # typing on while the whole prompt warms
        more = BIG + typed
        await c.complete(uri, more, len(more))
    asked = [r for r in backend.requests if not r.warm_only]
    assert len(asked) == 3 and all(r.short and not r.context for r in asked)
    assert asked[1].prefix == asked[0].prefix  # one window: the quick sequence is reused
    assert len([r for r in backend.requests if r.warm_only]) == 1  # started once
    backend.gate.set()
    await c._whole[uri][1]
    more = BIG + "0 if b else "
    await c.complete(uri, more, len(more))
    last = backend.requests[-1]
    assert not last.short and len(last.prefix) > 2000 and c.stats.short_prompts == 3


async def test_a_new_place_in_the_document_gets_a_quick_prompt_and_its_whole_prompt_warms():
    backend = QuickBackend("a + b")
    c = quick_completer(backend)
    uri = "file:///a.py"
    await c.complete(uri, BIG, len(BIG))
    await c._whole[uri][1]
    at = BIG.index("x100 = 100\n")  # the cursor moves far up: a new anchor
    await c.complete(uri, BIG, at)
    asked = [r for r in backend.requests if not r.warm_only]
    assert [r.short for r in asked] == [True, True]
    assert BIG[:at].endswith(asked[1].prefix + asked[1].typed)
    await c._whole[uri][1]
    warms = [r for r in backend.requests if r.warm_only]
    assert len(warms) == 2 and BIG[:at].endswith(warms[1].prefix + warms[1].typed)
    await c.complete(uri, BIG, at)  # the same place again: the whole prompt is in
    assert not backend.requests[-1].short


async def test_a_warm_up_evaluates_the_quick_prompt_then_the_whole_prompt():
    backend = QuickBackend("a + b")
    c = quick_completer(backend)
    uri = "file:///a.py"
    assert await c.warm(uri, BIG, len(BIG))
    quick, = backend.requests
    assert quick.warm_only and quick.short and quick.background
    await c._whole[uri][1]
    whole = backend.requests[1]
    assert whole.warm_only and not whole.short and len(whole.prefix) > 2000
    assert not await c.warm(uri, BIG, len(BIG))  # in the cache already: nothing to do
    first = await c.complete(uri, BIG, len(BIG))  # the first request uses the whole prompt
    assert first.items == ["a + b"] and not backend.requests[-1].short
    assert len(backend.requests) == 3


async def test_back_in_a_document_whose_whole_prompt_another_replaced_a_quick_prompt_answers():
    # The model keeps one whole prompt per window: after b.py's went in, a.py's is gone, so
    # the next request in a.py is quick (not the whole prompt evaluated while the user waits)
    # and a.py's whole prompt warms again.
    backend = QuickBackend("a + b")
    c = quick_completer(backend)
    a, b = "file:///a.py", "file:///b.py"
    await c.complete(a, BIG, len(BIG))
    await c._whole[a][1]
    assert c.anchors[a].ready
    await c.complete(b, BIG, len(BIG))
    await c._whole[b][1]
    assert c.anchors[b].ready and not c.anchors[a].ready
    more = BIG + "0 if a else "
    await c.complete(a, more, len(more))
    asked = [r for r in backend.requests if not r.warm_only]
    assert [r.short for r in asked] == [True, True, True]
    await c._whole[a][1]
    assert c.anchors[a].ready and not c.anchors[b].ready
    assert len([r for r in backend.requests if r.warm_only]) == 3


async def test_work_in_another_document_stops_the_whole_prompt_under_way():
    # a.py's whole prompt would hold up b.py's prompts (background work runs oldest first),
    # then take the whole-prompt sequence from b.py: the user is in b.py now.
    backend = QuickBackend("a + b")
    backend.gate.clear()
    c = quick_completer(backend)
    a, b = "file:///a.py", "file:///b.py"
    await c.complete(a, BIG, len(BIG))
    _, task = c._whole[a]
    await asyncio.sleep(0)
    await c.complete(b, BIG, len(BIG))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a not in c._whole and not c._whole[b][1].done()
    # a warm-up in a.py (the user went back) stops b.py's in turn
    _, task = c._whole[b]
    warm = asyncio.create_task(c.warm(a, BIG, len(BIG) - 1))
    with pytest.raises(asyncio.CancelledError):
        await task
    backend.gate.set()
    assert await warm


async def test_closing_the_document_stops_its_whole_prompt():
    backend = QuickBackend("a + b")
    backend.gate.clear()
    c = quick_completer(backend)
    uri = "file:///a.py"
    await c.complete(uri, BIG, len(BIG))
    _, task = c._whole[uri]
    await asyncio.sleep(0)
    c.forget(uri)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert uri not in c._whole and uri not in c.anchors
