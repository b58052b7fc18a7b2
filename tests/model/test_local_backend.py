"""The in-process engine on the real embedded model (Gemma 3 270M) and crafted copies of it."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
from offpilot.engine.backend import (
    BackendState,
    ChatMessage,
    ChatRequest,
    InfillRequest,
    ModelError,
    PromptMode,
    TextRequest,
)
from offpilot.engine.local import LocalBackend

pytestmark = pytest.mark.model

CODE = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n"


@pytest.fixture
async def gemma(gemma_path: Path):
    backend = LocalBackend(gemma_path, n_threads=2, n_ctx=2048)
    yield backend
    await backend.close()


async def test_base_model_takes_the_prefix_path(gemma: LocalBackend):
    info = await gemma.start()
    assert info.prompt_mode is PromptMode.PREFIX
    assert info.fim is None and info.chat_template is None
    assert info.architecture == "gemma3"
    assert gemma.state is BackendState.READY


async def test_fim_ids_in_metadata_take_the_fim_path(fim_model_path: Path):
    backend = LocalBackend(fim_model_path, n_threads=2, n_ctx=2048)
    try:
        info = await backend.start()
        assert info.prompt_mode is PromptMode.FIM
        assert (info.fim.prefix, info.fim.suffix, info.fim.middle) == (6, 7, 8)
        result = await backend.infill(InfillRequest(prefix=CODE, suffix="\n", max_tokens=8))
        # The copy was never trained for FIM: its text is meaningless, but the prompt was built
        # with the FIM tokens and generation ran.
        assert result.prompt_tokens > 3 and result.generated_tokens >= 1
    finally:
        await backend.close()


async def test_chat_template_takes_the_instruct_path(chat_model_path: Path):
    backend = LocalBackend(chat_model_path, n_threads=2, n_ctx=2048)
    try:
        info = await backend.start()
        assert info.prompt_mode is PromptMode.INSTRUCT
        assert "<start_of_turn>" in (info.chat_template or "")
        res = await backend.chat(ChatRequest([ChatMessage("user", "Say hi.")], max_tokens=8))
        assert res.generated_tokens >= 1 or res.stop_reason == "eos"
    finally:
        await backend.close()


async def test_prompt_mode_setting_overrides_detection(fim_model_path: Path):
    backend = LocalBackend(fim_model_path, n_threads=2, n_ctx=2048, prompt_mode="prefix")
    try:
        assert (await backend.start()).prompt_mode is PromptMode.PREFIX
    finally:
        await backend.close()


async def test_infill_generates_code(gemma: LocalBackend):
    res = await gemma.infill(InfillRequest(prefix=CODE, suffix="", max_tokens=16))
    assert res.text.strip()
    assert res.generated_tokens <= 16


async def test_kv_reuse_gives_the_same_greedy_output_as_a_cold_evaluation(gemma_path: Path):
    warm = LocalBackend(gemma_path, n_threads=2, n_ctx=2048)
    cold = LocalBackend(gemma_path, n_threads=2, n_ctx=2048)
    try:
        base = InfillRequest(prefix=CODE, suffix="", max_tokens=12, time_limit=120)
        await warm.infill(base)
        typed = InfillRequest(prefix=CODE, typed="        return", suffix="", max_tokens=12,
                              time_limit=120)
        reused = await warm.infill(typed)
        fresh = await cold.infill(typed)
        assert reused.prompt_tokens_evaluated < fresh.prompt_tokens_evaluated
        assert reused.prompt_tokens_evaluated <= 4
        assert reused.text == fresh.text
    finally:
        await warm.close()
        await cold.close()


async def test_single_line_mode_stops_at_the_newline(gemma: LocalBackend):
    res = await gemma.infill(InfillRequest(prefix="import os\nimport sys\nimport ", suffix="",
                                           max_tokens=32, stop_at_newline=True))
    assert "\n" not in res.text


async def test_cancel_stops_generation_and_the_next_request_works(gemma: LocalBackend):
    await gemma.start()
    # One request first, so that the bound below measures the cancelled job alone, not the
    # worker's first evaluation (seconds on a loaded machine).
    await gemma.infill(InfillRequest(prefix=CODE, suffix="", max_tokens=1))
    task = asyncio.create_task(gemma.generate(TextRequest("Once upon a time", max_tokens=2000,
                                                          time_limit=600)))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    t0 = time.perf_counter()
    res = await gemma.infill(InfillRequest(prefix=CODE, suffix="", max_tokens=4))
    # The worker gave up the cancelled job at once: the next request did not wait for the
    # remaining ~2000 tokens (which would take tens of seconds here).
    assert time.perf_counter() - t0 < 10
    assert res.generated_tokens >= 1


async def test_completion_is_served_while_a_long_generation_runs(gemma: LocalBackend):
    await gemma.start()
    long = asyncio.create_task(gemma.generate(TextRequest("A history of Rome:", max_tokens=300,
                                                          time_limit=600)))
    await asyncio.sleep(0.3)
    res = await gemma.infill(InfillRequest(prefix=CODE, suffix="", max_tokens=4))
    assert not long.done()  # the completion was interleaved, not queued behind it
    assert res.generated_tokens >= 1
    long.cancel()


async def test_streaming_delivers_text_pieces(gemma: LocalBackend):
    pieces: list[str] = []
    res = await gemma.generate(TextRequest("def add(a, b):\n", max_tokens=12), pieces.append)
    assert "".join(pieces) == res.text
    assert len(pieces) > 1


async def test_worker_crash_is_reported_and_recovered(gemma: LocalBackend):
    await gemma.start()
    pid = gemma.pid
    await gemma.crash_for_test()
    for _ in range(100):
        if gemma.state is BackendState.ERROR:
            break
        await asyncio.sleep(0.05)
    assert gemma.state is BackendState.ERROR
    res = await gemma.infill(InfillRequest(prefix=CODE, suffix="", max_tokens=4))
    assert res.generated_tokens >= 1
    assert gemma.pid != pid


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"GGUF\x03\x00\x00\x00trunc"])
async def test_bad_model_files_give_clear_errors(tmp_path: Path, content: bytes):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    backend = LocalBackend(bad, n_threads=1)
    with pytest.raises(ModelError) as err:
        await backend.start()
    assert str(bad) in str(err.value) or "bad.gguf" in str(err.value)
    assert backend.state is BackendState.ERROR
    await backend.close()


async def test_missing_model_then_fixed_recovers(tmp_path: Path, gemma_path: Path):
    target = tmp_path / "model.gguf"
    backend = LocalBackend(target, n_threads=2, n_ctx=1024)
    with pytest.raises(ModelError, match="not found"):
        await backend.start()
    shutil.copyfile(gemma_path, target)
    info = await backend.start()
    assert info.name
    await backend.close()


async def test_truncated_gguf_is_rejected_by_llama_cpp(tmp_path: Path, gemma_path: Path):
    cut = tmp_path / "cut.gguf"
    with gemma_path.open("rb") as src:
        cut.write_bytes(src.read(1 << 20))
    backend = LocalBackend(cut, n_threads=1)
    with pytest.raises(ModelError, match=r"could not load|stopped"):
        await backend.start()
    await backend.close()


async def test_closing_the_backend_is_no_model_error(gemma_path: Path):
    states: list[tuple[object, ...]] = []
    backend = LocalBackend(gemma_path, n_threads=2, n_ctx=2048,
                           on_state=lambda *args: states.append(args))
    await backend.start()
    await backend.close()
    await asyncio.sleep(0.5)  # the event reader sees the worker's exit
    assert backend.state is BackendState.NO_MODEL
    assert not any(BackendState.ERROR in s for s in states), states
