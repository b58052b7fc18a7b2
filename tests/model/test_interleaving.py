"""The model worker interleaving jobs on the real embedded model (Gemma 3 270M).

The worker runs in this process and is stepped by hand, exactly as its main loop steps it:
one token (or one prefill chunk) of the most urgent job at a time.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from offpilot.engine import wire
from offpilot.engine.worker import Worker

pytestmark = pytest.mark.model

STORY = "Once upon a time, in a small village by the sea, there lived an old fisherman who"
CODE = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n"


class Stepped:
    """A worker fed requests and stepped by hand; its events are read back from its output."""

    def __init__(self, path: Path) -> None:
        self.out = io.StringIO()
        self.worker = Worker(self.out)
        self.worker.handle(wire.Load(str(path), id="load", n_ctx=2048, n_threads=2))
        self.read = 0
        assert isinstance(self.events()[-1], wire.Done)  # loaded

    def events(self) -> list[Any]:
        text = self.out.getvalue()
        lines, self.read = text[self.read:].splitlines(), len(text)
        return [wire.decode_event(line) for line in lines if line.strip()]

    def run(self) -> None:
        while self.worker.jobs:
            self.worker.step()

    def close(self) -> None:
        self.worker.runtime.unload()


@pytest.fixture
def fresh(gemma_path: Path) -> Iterator[Any]:
    workers: list[Stepped] = []

    def make() -> Stepped:
        workers.append(Stepped(gemma_path))
        return workers[-1]

    yield make
    for w in workers:
        w.close()


def generate(text: str, id: str, **kw: Any) -> wire.Generate:
    return wire.Generate(segments=[{"text": text}], id=id, time_limit=0, **kw)


def test_a_preempted_generate_keeps_its_own_tokens(fresh: Any):
    long_job = generate(STORY, "gen", priority=wire.PRIORITY_CHAT, seq=1, max_tokens=24)
    alone = fresh()
    alone.worker.handle(long_job)
    alone.run()
    [expected] = [e.result for e in alone.events() if isinstance(e, wire.Done) and e.id == "gen"]

    mixed = fresh()
    mixed.worker.handle(long_job)
    for _ in range(4):  # the prompt, then a few tokens, not streamed
        mixed.worker.step()
    mixed.worker.handle(generate(CODE, "completion", priority=wire.PRIORITY_COMPLETION, seq=0,
                                 max_tokens=12))
    mixed.run()
    done = [e for e in mixed.events() if isinstance(e, wire.Done)]
    # The completion ran in the middle of the generate, which then went on sampling.
    assert [e.id for e in done] == ["completion", "gen"]
    results = {e.id: e.result for e in done}
    assert results["completion"]["generated_tokens"] >= 1
    assert expected["generated_tokens"] > 4
    assert results["gen"]["text"] == expected["text"]
    assert results["gen"]["generated_tokens"] == expected["generated_tokens"]


def test_background_work_runs_after_completions_and_before_chat(fresh: Any):
    w = fresh()
    w.worker.handle(generate(STORY, "chat", priority=wire.PRIORITY_CHAT, seq=1, max_tokens=8))
    w.worker.step()  # the chat has started
    w.worker.handle(generate(CODE, "warm-up", priority=wire.PRIORITY_BACKGROUND, seq=0,
                             warm_only=True))
    w.worker.handle(generate(CODE + "        return n\n", "prefetch",
                             priority=wire.PRIORITY_BACKGROUND, seq=0, max_tokens=4))
    w.worker.handle(generate(CODE, "completion", priority=wire.PRIORITY_COMPLETION, seq=0,
                             max_tokens=4))
    w.run()
    done = [e.id for e in w.events() if isinstance(e, wire.Done)]
    assert done == ["completion", "warm-up", "prefetch", "chat"]


def test_background_prompts_go_in_small_steps_a_completion_runs_between(fresh: Any):
    from offpilot.engine.runtime import BACKGROUND_PREFILL_CHUNK, PREFILL_CHUNK

    long_prompt = CODE * 40  # well over PREFILL_CHUNK tokens
    w = fresh()
    w.worker.handle(generate(long_prompt, "whole", priority=wire.PRIORITY_BACKGROUND, seq=0,
                             warm_only=True))
    w.worker.step()
    held = w.worker.runtime.sequences[0].tokens
    # One step of background work evaluated one small chunk: a completion arriving now waits
    # for no more than that.
    assert 0 < len(held) <= BACKGROUND_PREFILL_CHUNK < PREFILL_CHUNK
    w.worker.handle(generate(CODE, "completion", priority=wire.PRIORITY_COMPLETION, seq=1,
                             max_tokens=4))
    w.worker.step()
    assert len(w.worker.runtime.sequences[0].tokens) == len(held)  # the completion went next
    w.run()
    done = {e.id: e.result for e in w.events() if isinstance(e, wire.Done)}
    assert list(done) == ["completion", "whole"]
    whole = done["whole"]
    assert whole["stop_reason"] == "warm"
    assert whole["prompt_tokens_evaluated"] == whole["prompt_tokens"] > PREFILL_CHUNK
