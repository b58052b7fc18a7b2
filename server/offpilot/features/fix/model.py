"""What the fix features ask the model, for base and chat models alike.

- :func:`stream_answer` — an explanation streamed through a callback, cleaned line by line by
  Explain's :class:`~offpilot.features.explain.AnswerCleaner` (transcript markers, loops and
  junk never reach the user); a base model (no chat template, such as the embedded Gemma)
  continues a document that begins the answer, a chat model answers the chat.
- :func:`fix_candidate` — one candidate replacement of a function or region: the code as the
  model writes it, cut to the first code block (a base model continues the fixed code from its
  first line).

Cancelling the awaiting task stops the generation within one token.
"""

from __future__ import annotations

import asyncio
import logging
import re
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from offpilot.engine.backend import (
    Backend,
    ChatMessage,
    ChatRequest,
    GenerationResult,
    TextRequest,
)
from offpilot.features.explain import (
    STOP_SEQUENCES,
    AnswerCleaner,
    fence_for,
    has_chat_template,
    prompt_prose,
)

log = logging.getLogger(__name__)

OnText = Callable[[str], None]
EXPLAIN_MAX_TOKENS = 200
BASE_EXPLAIN_STOP = ("\n## ", "\n```", "```", "\n\n\n", "<end_of_turn>", "<eos>")
FIX_STOP = ("```", "<end_of_turn>", "<eos>", "\n\n\n\n")
NO_ANSWER = "_The model produced no explanation. A larger chat model explains far better: " \
            "set `offpilot.chatModel` (see `offpilot models list`)._"


@dataclass(frozen=True)
class Prompt:
    """One question for the model: the chat for a chat model, a document for a base model."""

    system: str
    user: str  # the chat's user message
    document: str  # a base model's document, ending where its answer starts
    seed: str = ""  # the answer's beginning, written into the document by us


@dataclass
class Answer:
    markdown: str  # heading + clean answer (or the note that there is none)
    answer: str
    raw: str
    seconds: float
    first_text_seconds: float  # until the first piece of the answer was shown
    generated_tokens: int = 0


async def _run(backend: Backend, prompt: Prompt, *, chat: bool, max_tokens: int,
               temperature: float, stop: Sequence[str], on_piece: OnText,
               ended: asyncio.Event | None = None, seed: int | None = None
               ) -> GenerationResult | None:
    if chat:
        coro = backend.chat(ChatRequest(
            messages=[ChatMessage("system", prompt.system), ChatMessage("user", prompt.user)],
            max_tokens=max_tokens, temperature=temperature, stop=stop), on_text=on_piece)
    else:
        coro = backend.generate(TextRequest(prompt=prompt.document + prompt.seed,
                                            max_tokens=max_tokens, temperature=temperature,
                                            stop=stop), on_text=on_piece)
    task = asyncio.ensure_future(coro)
    waiter = asyncio.ensure_future((ended or asyncio.Event()).wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        return task.result() if task.done() else None
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # an abandoned generation: its failure no longer matters
                log.debug("abandoned generation failed", exc_info=True)


async def stream_answer(backend: Backend, prompt: Prompt, heading: str, *,
                        on_text: OnText | None = None,
                        max_tokens: int = EXPLAIN_MAX_TOKENS) -> Answer:
    """The model's explanation for ``prompt``, streamed clean to ``on_text`` after
    ``heading``; the pieces add up to :attr:`Answer.markdown`. Raises ModelError."""
    t0 = time.perf_counter()
    emit: OnText = on_text or (lambda _t: None)
    head = heading.rstrip() + "\n\n"
    emit(head)
    chat = await has_chat_template(backend)
    cleaner = AnswerCleaner(echo=prompt_prose([ChatMessage("user", prompt.user)]) if chat else ())
    raw: list[str] = []
    first: list[float] = []
    ended = asyncio.Event()
    seeded = not chat and bool(prompt.seed)

    def on_piece(delta: str) -> None:
        nonlocal seeded
        raw.append(delta)
        if seeded:
            seeded = False
            delta = prompt.seed + delta
        shown = cleaner.feed(delta)
        if shown:
            if not first:
                first.append(time.perf_counter() - t0)
            emit(shown)
        if cleaner.stopped:
            ended.set()

    result = await _run(backend, prompt, chat=chat, max_tokens=max_tokens, temperature=0.0,
                        stop=STOP_SEQUENCES if chat else BASE_EXPLAIN_STOP, on_piece=on_piece,
                        ended=ended)
    if result is not None and not raw and result.text:
        shown = cleaner.feed((prompt.seed if not chat else "") + result.text)
        if shown:
            emit(shown)
    rest = cleaner.finish()
    if rest:
        if not first:
            first.append(time.perf_counter() - t0)
        emit(rest)
    answer = cleaner.text
    tail = "" if answer.strip() else NO_ANSWER + "\n"
    if tail:
        emit(tail)
    seconds = time.perf_counter() - t0
    return Answer(head + answer + tail, answer, "".join(raw), seconds,
                  first[0] if first else seconds,
                  result.generated_tokens if result is not None else len(raw))


# ----------------------------------------------------------------------------- fixes
_FENCED = re.compile(r"```[\w+-]*\n(.*?)(?:```|\Z)", re.DOTALL)


def code_prompt(*, language: str, task: str, code: str, evidence: str, seed: str = ""
                ) -> Prompt:
    """Ask for a corrected version of ``code`` (a function or region), given ``evidence``
    (the failing test and its error, or a diagnostic)."""
    fence = fence_for(code + evidence)
    code = textwrap.dedent(code).strip("\n")
    user = (f"{task}\n\n{evidence}\n\nThe code to correct:\n\n{fence}{language}\n{code}\n"
            f"{fence}\n\nReply with the corrected code only, in one {language} code block: "
            "the same definition with the smallest change that fixes the problem.")
    document = (f"{evidence}\n\nThe code with the bug:\n\n{fence}{language}\n{code}\n{fence}\n\n"
                f"The same code with the bug fixed (the smallest change):\n\n{fence}{language}\n")
    return Prompt("You are an expert programmer who fixes bugs with the smallest correct "
                  "change.", user, document, seed)


def extract_code(text: str, *, seed: str = "", chat: bool) -> str:
    """The candidate code in what the model wrote: the first code block of a chat answer; a
    base model's continuation after ``seed`` up to the end of the block."""
    if chat:
        m = _FENCED.search(text)
        return (m.group(1) if m else text).strip("\n")
    body = (seed + text).split("```", 1)[0]
    return _cut_after_definition(body) if is_definition_seed(seed) else body.strip("\n")


def is_definition_seed(seed: str) -> bool:
    """Whether ``seed`` opens a function: a Python ``def`` line, or a line that opens a block
    in braces (``pub fn add(a: i32) -> i32 {``, ``function add(a, b) {``)."""
    first = seed.lstrip().split("\n", 1)[0].rstrip()
    return seed.lstrip().startswith(("def ", "async def ")) or first.endswith("{")


def _cut_after_definition(code: str) -> str:
    """A function's text up to where the model went on to write something else (a line back at
    the ``def``'s indentation or left of it; a closing brace there ends it)."""
    lines = code.split("\n")
    if not lines:
        return code
    base = len(lines[0]) - len(lines[0].lstrip())
    brace = lines[0].rstrip().endswith("{")
    out = [lines[0]]
    for ln in lines[1:]:
        at_base = bool(ln.strip()) and len(ln) - len(ln.lstrip()) <= base
        if at_base and not ln.lstrip().startswith((")", "]", "}")):
            break
        out.append(ln)
        if brace and at_base and ln.lstrip().startswith("}"):
            break
    return "\n".join(out).rstrip()


async def fix_candidate(backend: Backend, prompt: Prompt, *, temperature: float,
                        max_tokens: int = 400) -> tuple[str, float]:
    """One candidate (the code, "" when the model wrote none) and the seconds it took."""
    t0 = time.perf_counter()
    chat = await has_chat_template(backend)
    pieces: list[str] = []
    ended = asyncio.Event()
    is_def = is_definition_seed(prompt.seed)

    def on_piece(delta: str) -> None:
        pieces.append(delta)
        # a base model that has finished the function goes on with something else: stop it
        if not chat and is_def and "\n" in delta:
            body = prompt.seed + "".join(pieces)
            done = body.rsplit("\n", 1)[0]
            if _cut_after_definition(done) != done.rstrip():
                ended.set()

    result = await _run(backend, prompt, chat=chat, max_tokens=max_tokens,
                        temperature=temperature, stop=FIX_STOP if not chat else STOP_SEQUENCES,
                        on_piece=on_piece, ended=ended)
    text = "".join(pieces) or (result.text if result is not None else "")
    return extract_code(text, seed=prompt.seed, chat=chat), time.perf_counter() - t0
