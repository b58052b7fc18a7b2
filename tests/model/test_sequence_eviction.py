"""Sequences share one unified KV cache; when it is full, the least recently used go first.

The shared model service gives each client two sequences of one worker, so three windows typing
keep their own cached prompts as long as they fit, and the window idle the longest loses its
cache first. Runs the real runtime on the tiny random Llama of ``tests/model/tiny_llama.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.model.test_kv_shift import _params, generate, never
from tests.model.tiny_llama import write_tiny_llama

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama.gguf", seed=0)


@pytest.fixture
def rt(tiny_path: Path) -> Iterator[Any]:
    from offpilot.engine.runtime import LlamaRuntime

    runtime = LlamaRuntime()
    runtime.load(str(tiny_path), n_ctx=512, n_threads=2, n_seq=4)
    yield runtime
    runtime.unload()


def prompt(seed: int, n: int = 150) -> list[int]:
    return [1000 + seed * 200 + i for i in range(n)]


def test_the_least_recently_used_sequence_is_dropped_first(rt: Any):
    for seq in (0, 1, 2):  # 3 x ~158 cells of 512
        generate(rt, prompt(seq), seq=seq)
    assert all(rt.sequences[s].tokens for s in (0, 1, 2))
    generate(rt, prompt(0), seq=0)  # sequence 0 used again: 1 is now the least recent
    result, _ = generate(rt, prompt(3), seq=3)  # does not fit beside all three
    assert result["prompt_tokens_evaluated"] == 150
    assert rt.sequences[1].tokens == []  # dropped
    assert rt.sequences[0].tokens and rt.sequences[2].tokens  # kept
    # What was kept is still reused: only the last prompt token is evaluated again.
    result, _ = generate(rt, prompt(2), seq=2)
    assert result["prompt_tokens_evaluated"] == 1


def test_only_as_many_sequences_as_needed_are_dropped(rt: Any):
    generate(rt, prompt(0, 100), seq=0)
    generate(rt, prompt(1, 100), seq=1)
    generate(rt, prompt(2, 100), seq=2)
    generate(rt, prompt(3, 150), seq=3)  # 3 x 108 + 158 = 482 cells: all fit
    assert all(rt.sequences[s].tokens for s in (0, 1, 2, 3))
    generate(rt, prompt(4, 200), seq=0)  # 0 grows past the cache: 1, the oldest, goes
    assert rt.sequences[1].tokens == []
    assert rt.sequences[2].tokens and rt.sequences[3].tokens


# A job pauses between prefill chunks and between tokens while the worker runs another job;
# what that job does to the paused one's sequence must not change what the paused one writes.
def alone(rt: Any, tokens: list[int], max_tokens: int = 12) -> tuple[str, list[int]]:
    for s in rt.sequences.values():
        rt._forget(s)
    result, gen = generate(rt, tokens, seq=0, max_tokens=max_tokens)
    for s in rt.sequences.values():
        rt._forget(s)
    return result["text"], gen


def paused(rt: Any, tokens: list[int], steps: int, max_tokens: int = 12,
           cancelled: Any = never) -> Iterator[Any]:
    job = rt.generate(_params(tokens, seq=0, max_tokens=max_tokens), cancelled)
    for _ in range(steps):
        assert next(job).result is None
    return job


def finish(rt: Any, job: Iterator[Any], n_prompt: int) -> tuple[dict[str, Any], list[int]]:
    result = list(job)[-1].result
    return result, rt.sequences[0].tokens[n_prompt:]


def test_a_job_whose_sequence_is_dropped_while_it_samples_goes_on_from_its_own_text(rt: Any):
    a = prompt(0, 300)
    text, gen = alone(rt, a)
    job = paused(rt, a, steps=4)  # one prefill chunk, then sampling
    generate(rt, prompt(1, 300), seq=1, max_tokens=12)  # room for it: sequence 0 goes
    result, after = finish(rt, job, len(a))
    assert (result["text"], after) == (text, gen)
    assert rt.sequences[0].tokens[:len(a)] == a


def test_a_job_whose_sequence_is_taken_over_during_its_prefill_evaluates_its_own_prompt(
        rt: Any):
    a = prompt(0, 300)
    text, gen = alone(rt, a)
    job = paused(rt, a, steps=1)  # 256 of 300 prompt tokens evaluated
    generate(rt, prompt(2, 100), seq=0)  # a request of the same stream, run meanwhile
    result, after = finish(rt, job, len(a))
    assert (result["text"], after) == (text, gen)
    assert rt.sequences[0].tokens[:len(a)] == a


def test_an_idle_sequence_is_dropped_before_that_of_a_paused_job(rt: Any):
    job = paused(rt, prompt(0, 300), steps=1)  # the least recently used, but under way
    generate(rt, prompt(3, 150), seq=2)
    generate(rt, prompt(1, 150), seq=1)  # does not fit beside both
    assert rt.sequences[2].tokens == []
    assert len(rt.sequences[0].tokens) == 256  # the paused job's work is kept
    result, _ = finish(rt, job, 300)
    assert result["prompt_tokens_evaluated"] == 300


def test_a_cancelled_paused_job_evaluates_nothing_more(rt: Any):
    stop = False
    job = paused(rt, prompt(0, 300), steps=1, cancelled=lambda: stop)
    stop = True
    result = list(job)[-1].result
    assert result["stop_reason"] == "cancelled"
    assert result["prompt_tokens_evaluated"] == 256
