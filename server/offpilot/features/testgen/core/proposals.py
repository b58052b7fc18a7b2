"""What the model is asked for when generating tests, for every language's pipeline.

Model text is never trusted: callers parse what comes back (literal calls only, or a draft
that must parse) before anything of it reaches a file or a sandbox.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

from offpilot.config import Settings
from offpilot.engine.backend import Backend, ModelError, TextRequest

T = TypeVar("T")
log = logging.getLogger(__name__)

ATTEMPTS = 10  # one-call requests to a base model, per target
CALLS = 6  # distinct calls wanted from it
SECONDS = 20.0  # per target


async def prefers_chat(backend: Backend) -> bool:
    """Whether the model is better asked in chat form (it has a chat template)."""
    try:
        info = await backend.info()
    except ModelError:
        return False  # not started: the base-model way works with any model
    except Exception:  # a backend's own fault: logged, and asked the base-model way
        log.warning("the model could not say whether it has a chat template", exc_info=True)
        return False
    return bool(info.chat_template) or type(backend).__name__ == "OpenAIBackend"


async def calls_one_at_a_time(backend: Backend, base: str, head: str,
                              parse: Callable[[str], list[T]], key: Callable[[T], Hashable],
                              line: Callable[[T], str], *, attempts: int = ATTEMPTS,
                              wanted: int = CALLS, seconds: float = SECONDS) -> list[T]:
    """Calls a base model proposes, asked for one at a time.

    A small base model repeats itself when asked for many lines at once. So each request is
    ``base`` + the calls accepted so far (one per line, as ``line`` writes them) + ``head``
    (the start of a call): the prompt's start stays the same, so the KV cache is reused, and
    the temperature rises a little per attempt. ``parse`` reads the first call out of
    ``head`` + the model's line; calls with a ``key`` seen before are dropped.
    """
    accepted: list[str] = []
    found: list[T] = []
    seen: set[Hashable] = set()
    deadline = time.monotonic() + seconds
    for attempt in range(attempts):
        if time.monotonic() > deadline:
            break
        prompt = base + "".join(f"{text}\n" for text in accepted) + head
        result = await backend.generate(TextRequest(
            prompt, max_tokens=32, temperature=0.5 + 0.15 * attempt, stop=("\n",),
            time_limit=10.0))
        for call in parse(head + result.text)[:1]:
            if key(call) not in seen:
                seen.add(key(call))
                found.append(call)
                accepted.append(line(call))
        if len(found) >= wanted:
            break
    return found


async def draft(backend: Backend, prompt: str, settings: Settings, notes: list[str]) -> str | None:
    """The model's continuation of a test file ``prompt`` (greedy, up to the next file), or
    None with the reason added to ``notes`` when the model is not available."""
    try:
        gen = await backend.generate(TextRequest(prompt, max_tokens=settings.chat_max_tokens,
                                                 temperature=0.0, stop=("// File:",),
                                                 time_limit=120.0))
    except ModelError as exc:
        notes.append(f"The model was not available: {exc}")
        return None
    return gen.text
