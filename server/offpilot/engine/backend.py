"""The interface every model backend implements, and the plain data that crosses it.

A backend turns a structured request (prefix, suffix, repository context, or chat messages)
into generated text. Prompt layout lives in :mod:`offpilot.engine.templates`, so the in-process
engine and the remote ones send the same prompts.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# Snippet, the record requests carry, lives at the bottom (offpilot.shared); imported from here too
from offpilot.shared.snippet import Snippet


class PromptMode(enum.StrEnum):
    FIM = "fim"  # model-native fill-in-the-middle tokens
    INSTRUCT = "instruct"  # chat model asked to fill the hole
    PREFIX = "prefix"  # plain continuation of the text before the cursor


class BackendState(enum.StrEnum):
    NO_MODEL = "no-model"
    LOADING = "loading"
    READY = "ready"
    GENERATING = "generating"
    ERROR = "error"


@dataclass(frozen=True)
class FimTokens:
    """Token ids (and their text) for fill-in-the-middle, read from the GGUF metadata."""

    prefix: int
    suffix: int
    middle: int
    prefix_text: str = ""
    suffix_text: str = ""
    middle_text: str = ""
    pad: int | None = None
    repo: int | None = None
    file_sep: int | None = None
    file_sep_text: str = ""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    architecture: str
    prompt_mode: PromptMode
    fim: FimTokens | None = None
    chat_template: str | None = None
    n_ctx_train: int = 0
    n_ctx: int = 0
    can_shift: bool = False
    bos_text: str = ""
    eos_text: str = ""


@dataclass(frozen=True)
class InfillRequest:
    """A fill-in-the-middle request.

    The text before the cursor is ``prefix + typed``: ``prefix`` ends at a stable anchor (a line
    boundary that stays put while the user types forward), ``typed`` is what lies between the
    anchor and the cursor. Prompts place ``typed`` last (after the FIM middle token, or at the
    start of the assistant's answer), so each keystroke only appends to the prompt and the
    model's KV cache is reused.
    """

    prefix: str
    suffix: str
    language: str = ""
    path: str = ""
    context: Sequence[Snippet] = ()
    max_tokens: int = 64
    temperature: float = 0.0
    stop: Sequence[str] = ()
    time_limit: float = 5.0  # seconds; generation then ends at the next newline
    stop_at_newline: bool = False  # single-line completion
    warm_only: bool = False  # evaluate the prompt into the cache, generate nothing
    typed: str = ""
    # Speculative work (a prefetch, a warm-up): runs after every waiting real completion,
    # before chat. A warm_only request is background work whatever this says.
    background: bool = False
    # A short first prompt (the cursor's window alone): kept apart from the document's whole
    # prompt (a KV-cache sequence of its own, where the backend has them), so the whole
    # prompt, evaluated meanwhile in the background, is not cut back by it.
    short: bool = False


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class ChatRequest:
    messages: Sequence[ChatMessage]
    max_tokens: int = 512
    temperature: float = 0.0
    stop: Sequence[str] = ()
    time_limit: float = 120.0


@dataclass(frozen=True)
class TextRequest:
    """Plain continuation of a raw prompt (base models, and prompts features lay out themselves)."""

    prompt: str
    max_tokens: int = 256
    temperature: float = 0.0
    stop: Sequence[str] = ()
    time_limit: float = 120.0


@dataclass
class GenerationResult:
    text: str
    stop_reason: str  # "stop" | "length" | "time" | "cancelled" | "eos"
    prompt_tokens: int = 0
    prompt_tokens_evaluated: int = 0  # tokens actually run through the model (cache misses)
    generated_tokens: int = 0
    prompt_ms: float = 0.0
    generate_ms: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


OnText = Callable[[str], None]


class ModelError(Exception):
    """The model cannot be used (missing, corrupt, crashed); the message is for the user."""


class Backend(Protocol):
    """What the features need from a model, wherever it runs.

    ``infill`` and ``chat`` are coroutines; cancelling the awaiting task stops generation
    within one token. ``on_text`` receives text pieces as they are generated.
    """

    @property
    def state(self) -> BackendState: ...

    async def start(self) -> ModelInfo: ...

    async def info(self) -> ModelInfo: ...

    async def infill(self, request: InfillRequest, on_text: OnText | None = None
                     ) -> GenerationResult: ...

    async def chat(self, request: ChatRequest, on_text: OnText | None = None
                   ) -> GenerationResult: ...

    async def generate(self, request: TextRequest, on_text: OnText | None = None
                       ) -> GenerationResult: ...

    async def count_tokens(self, text: str) -> int: ...

    async def close(self) -> None: ...
