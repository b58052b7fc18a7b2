"""The llama.cpp runtime: one model, one context, token-level generation with KV-cache reuse.

This module runs only inside the model worker process (see :mod:`offpilot.engine.worker`):
llama.cpp is not thread-safe and aborts the whole process on some native errors, so the
language server never imports it.

Each logical stream (completions, chat) owns a sequence of the shared KV cache. A request's
prompt is compared with the tokens already in that sequence: the common prefix is kept, and on
models whose cache can shift, runs of cached tokens that reappear further on (the suffix after
an edit, context after a changed chunk) are moved to their new positions instead of being
evaluated again (:func:`plan_reuse`, as llama.cpp's server does with ``--cache-reuse``).
Generation is a Python generator that yields once per generated token, so the worker can
interleave streams, stop a superseded request within one token, and honour time limits. It
never yields between decoding a token and sampling from its logits: the context holds only the
logits of its last decode, which may be another job's once this one has yielded.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import llama_cpp as llama

# Tokens per llama_decode call while evaluating a prompt; cancellation is checked between.
PREFILL_CHUNK = 256
# The same for background work (prefetch, warm-ups): the scheduler switches jobs only between
# chunks, so a completion arriving meanwhile waits for at most this many tokens.
BACKGROUND_PREFILL_CHUNK = 32
# Shortest run of cached tokens moved to a new position rather than evaluated again (0: never).
CACHE_REUSE_MIN_CHUNK = 32
# Bounds on the work of planning reuse on repetitive text, where one run of tokens occurs many
# times: cached positions looked at per run, runs weighed against each other.
_MAX_CANDIDATES = 16
_MAX_RUNS = 256


class RuntimeError_(Exception):
    """A failure the worker reports to the server as a message."""


@dataclass
class Sequence:
    seq_id: int
    tokens: list[int] = field(default_factory=list)  # what the KV cache holds for this sequence
    epoch: int = 0  # bumped whenever the cached tokens are planned afresh or dropped
    staged: int = -1  # epoch whose chunks wait in the scratch sequence to be moved in; -1: none
    used: int = 0  # when a request last used it (a counter): the least recent is dropped first
    busy: int = 0  # jobs under way on it (started, not finished): dropped only as a last resort


@dataclass(frozen=True)
class Chunk:
    """Cached tokens ``old[src:src + n]`` that reappear as ``new[dst:dst + n]``."""

    src: int
    dst: int
    n: int


def common_prefix(old: list[int], new: list[int]) -> int:
    n = 0
    limit = min(len(old), len(new))
    while n < limit and old[n] == new[n]:
        n += 1
    return n


def plan_reuse(old: list[int], new: list[int], start: int, min_chunk: int) -> list[Chunk]:
    """Runs of ``old[start:]`` that reappear in order in ``new[start:]`` (each found from
    ``min_chunk`` matching tokens up), chosen to cover as many tokens of ``new`` as possible.

    Tokens of ``new`` between the runs are new (typed text, changed context) and are evaluated;
    cached tokens between the runs are dropped. Both sides may skip, so a run can move to an
    earlier position (text before it was deleted) or a later one (text was inserted). The last
    token of ``new`` is never part of a run: its logits are needed.
    """
    if min_chunk <= 0:
        return []
    k = min_chunk
    end = len(new) - 1  # runs cover new[:end] at most
    index: dict[tuple[int, ...], list[int]] = {}
    for i in range(start, len(old) - k + 1):
        index.setdefault(tuple(old[i:i + k]), []).append(i)
    if not index:
        return []
    # Every maximal run shared by both sides (the same run is met again one token later:
    # skip it there), within a budget of comparisons for text that repeats itself.
    runs: list[Chunk] = []
    budget = 4 * (len(old) + len(new))
    for p in range(start, end - k + 1):
        for src in index.get(tuple(new[p:p + k]), ())[:_MAX_CANDIDATES]:
            if p > start and src > start and old[src - 1] == new[p - 1]:
                continue
            n = k
            while src + n < len(old) and p + n < end and old[src + n] == new[p + n]:
                n += 1
            runs.append(Chunk(src, p, n))
            budget -= n
        if budget <= 0:
            break
    if len(runs) > _MAX_RUNS:
        runs = sorted(runs, key=lambda c: -c.n)[:_MAX_RUNS]
    # The heaviest chain of runs in order on both sides (a weighted longest increasing
    # subsequence; a greedy left-to-right pick could take a short run and lose a long one).
    # A run that overlaps the one before it is cut at its start: runs found independently
    # often share a token at their seam (a newline both sides of an edit, say).
    runs.sort(key=lambda c: (c.dst, c.src))
    best = [c.n for c in runs]
    prev = [-1] * len(runs)
    cut = [0] * len(runs)
    for i, c in enumerate(runs):
        for j in range(i):
            b = runs[j]
            over = max(0, b.src + b.n - c.src, b.dst + b.n - c.dst)
            if over < c.n and b.dst < c.dst and b.src < c.src and best[j] + c.n - over > best[i]:
                best[i], prev[i], cut[i] = best[j] + c.n - over, j, over
    chain: list[Chunk] = []
    i = max(range(len(runs)), key=best.__getitem__, default=-1)
    while i >= 0:
        c = runs[i]
        chain.append(Chunk(c.src + cut[i], c.dst + cut[i], c.n - cut[i]))
        i = prev[i]
    return chain[::-1]


@dataclass
class GenerateParams:
    segments: list[dict[str, Any]]
    seq: int = 0
    add_bos: bool = True
    max_tokens: int = 64
    temperature: float = 0.0
    top_k: int = 40
    top_p: float = 0.95
    seed: int = 0
    stop: list[str] = field(default_factory=list)
    stop_at_newline: bool = False
    time_limit: float = 5.0
    warm_only: bool = False
    infill_sampler: bool = False
    stream: bool = False
    cache_reuse: int = CACHE_REUSE_MIN_CHUNK  # shortest chunk moved in the cache; 0: prefix only


@dataclass
class _Prefill:
    """How a prompt got into the cache, past the kept prefix."""

    evaluated: int = 0  # tokens run through the model
    shifted: int = 0  # cached tokens moved to new positions instead


@dataclass
class Step:
    """What a generation step produced: new text (may be empty) and, at the end, the result."""

    text: str = ""
    result: dict[str, Any] | None = None


def _read_meta(model: llama.llama_model_p) -> dict[str, str]:
    meta: dict[str, str] = {}
    buf = ctypes.create_string_buffer(1 << 16)
    for i in range(llama.llama_model_meta_count(model)):
        n = llama.llama_model_meta_key_by_index(model, i, buf, len(buf))
        if n < 0:
            continue
        key = buf.value.decode("utf-8", "replace")
        n = llama.llama_model_meta_val_str_by_index(model, i, buf, len(buf))
        if n < 0:
            continue
        if n >= len(buf):  # chat templates can be long
            big = ctypes.create_string_buffer(n + 1)
            llama.llama_model_meta_val_str_by_index(model, i, big, len(big))
            meta[key] = big.value.decode("utf-8", "replace")
        else:
            meta[key] = buf.value.decode("utf-8", "replace")
    return meta


_LOG_WARN = 3  # ggml_log_level: 0 none, 1 debug, 2 info, 3 warn, 4 error, 5 cont


@llama.llama_log_callback  # type: ignore[untyped-decorator]  # a ctypes CFUNCTYPE
def _quiet_log(level: int, text: bytes, user_data: Any) -> None:
    # llama.cpp is chatty on load; keep warnings and errors only.
    if level in (_LOG_WARN, _LOG_WARN + 1):
        sys.stderr.write(text.decode("utf-8", "replace"))


class LlamaRuntime:
    def __init__(self) -> None:
        if not os.environ.get("OFFPILOT_LLAMA_VERBOSE"):
            llama.llama_log_set(_quiet_log, ctypes.c_void_p(0))
        llama.llama_backend_init()
        self.model: llama.llama_model_p | None = None
        self.ctx: llama.llama_context_p | None = None
        self.vocab: llama.llama_vocab_p | None = None
        self.mem: Any = None
        self.n_ctx = 0
        self.n_batch = 0
        self.path = ""
        self.meta: dict[str, str] = {}
        self.sequences: dict[int, Sequence] = {}
        self.shift_reuse = False  # cached chunks are moved to new positions (see plan_reuse)
        self._scratch_base = 0  # sequence ``i`` stages chunks in ``_scratch_base + i``
        self._batch: Any = None
        self._uses = 0

    # ----------------------------------------------------------------- loading
    def load(self, path: str, *, n_ctx: int = 4096, n_threads: int = 0, n_gpu_layers: int = 0,
             n_batch: int = 512, n_seq: int = 2) -> dict[str, Any]:
        self.unload()
        if not os.path.isfile(path):
            raise RuntimeError_(f"model file not found: {path}")
        mparams = llama.llama_model_default_params()
        mparams.n_gpu_layers = n_gpu_layers if n_gpu_layers >= 0 else 999
        model = llama.llama_model_load_from_file(path.encode(), mparams)
        if not model:
            raise RuntimeError_(f"llama.cpp could not load {path}: not a valid GGUF model "
                                "(truncated, corrupt or an unsupported architecture)")
        self.model = model
        self.meta = _read_meta(model)
        n_ctx_train = llama.llama_model_n_ctx_train(model)
        if n_ctx_train > 0:
            n_ctx = min(n_ctx, n_ctx_train)
        threads = n_threads or max(1, (os.cpu_count() or 2))
        # Moving cached chunks (plan_reuse) needs a cache that can shift and a scratch sequence
        # per stream. Sliding-window models (Gemma 3) keep prefix-only reuse: llama.cpp calls
        # their cache shiftable only because it is kept full size (swa_full below), and whether
        # moved chunks (an approximation on a trained model: they keep what they saw before the
        # edit) are good enough for them is not settled, so the default model stays as it was.
        may_shift = (llama.llama_model_n_swa(model) == 0
                     and not llama.llama_model_is_recurrent(model)
                     and not llama.llama_model_is_hybrid(model))
        cparams = llama.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = min(n_batch, n_ctx)
        cparams.n_ubatch = min(n_batch, n_ctx)
        cparams.n_seq_max = 2 * n_seq if may_shift else n_seq
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        cparams.no_perf = True
        # Keep the whole window for sliding-window layers too, so a sequence can be cut back
        # anywhere and re-extended (KV reuse across keystrokes) instead of being re-evaluated.
        cparams.swa_full = True
        cparams.kv_unified = True
        ctx = llama.llama_init_from_model(model, cparams)
        if not ctx:
            self.unload()
            raise RuntimeError_(f"could not create a llama.cpp context of {n_ctx} tokens "
                                "(out of memory?)")
        self.ctx = ctx
        self.vocab = llama.llama_model_get_vocab(model)
        self.mem = llama.llama_get_memory(ctx)
        self.n_ctx = llama.llama_n_ctx(ctx)
        self.n_batch = cparams.n_batch
        self.path = path
        self.sequences = {i: Sequence(i) for i in range(n_seq)}
        self.shift_reuse = may_shift and bool(llama.llama_memory_can_shift(self.mem))
        self._scratch_base = n_seq
        self._batch = llama.llama_batch_init(max(self.n_batch, 1), 0, 1)
        return self.describe()

    def unload(self) -> None:
        if self._batch is not None:
            llama.llama_batch_free(self._batch)
            self._batch = None
        if self.ctx:
            llama.llama_free(self.ctx)
            self.ctx = None
        if self.model:
            llama.llama_model_free(self.model)
            self.model = None
        self.vocab = None
        self.mem = None
        self.sequences = {}
        self.shift_reuse = False

    def describe(self) -> dict[str, Any]:
        assert self.model is not None and self.vocab is not None
        v = self.vocab

        def tok(fn: Any) -> int | None:
            t = fn(v)
            return None if t is None or t < 0 else int(t)

        fim = {
            "pre": tok(llama.llama_vocab_fim_pre), "suf": tok(llama.llama_vocab_fim_suf),
            "mid": tok(llama.llama_vocab_fim_mid), "pad": tok(llama.llama_vocab_fim_pad),
            "rep": tok(llama.llama_vocab_fim_rep), "sep": tok(llama.llama_vocab_fim_sep),
        }
        fim_text = {k: (self.piece(t, special=True) if t is not None else "")
                    for k, t in fim.items()}
        bos = tok(llama.llama_vocab_bos)
        eos = tok(llama.llama_vocab_eos)
        desc = ctypes.create_string_buffer(256)
        llama.llama_model_desc(self.model, desc, len(desc))
        return {
            "path": self.path,
            "name": self.meta.get("general.name") or os.path.basename(self.path),
            "architecture": self.meta.get("general.architecture", ""),
            "description": desc.value.decode("utf-8", "replace"),
            "chat_template": self.meta.get("tokenizer.chat_template"),
            "n_ctx_train": int(llama.llama_model_n_ctx_train(self.model)),
            "n_ctx": self.n_ctx,
            "n_vocab": int(llama.llama_vocab_n_tokens(v)),
            "add_bos": bool(llama.llama_vocab_get_add_bos(v)),
            "bos": bos, "eos": eos,
            "bos_text": self.piece(bos, special=True) if bos is not None else "",
            "eos_text": self.piece(eos, special=True) if eos is not None else "",
            "fim": fim, "fim_text": fim_text,
            "can_shift": bool(llama.llama_memory_can_shift(self.mem)),
            "shift_reuse": self.shift_reuse,
            "size_bytes": os.path.getsize(self.path),
        }

    # ------------------------------------------------------------- tokenizing
    def tokenize(self, text: str, *, parse_special: bool = False) -> list[int]:
        assert self.vocab is not None
        data = text.encode("utf-8", "replace")
        cap = len(data) + 16
        arr = (llama.llama_token * cap)()
        n = llama.llama_tokenize(self.vocab, data, len(data), arr, cap, False, parse_special)
        if n < 0:
            cap = -n
            arr = (llama.llama_token * cap)()
            n = llama.llama_tokenize(self.vocab, data, len(data), arr, cap, False, parse_special)
        return list(arr[:n])

    def piece_bytes(self, token: int, *, special: bool = False) -> bytes:
        assert self.vocab is not None
        buf = ctypes.create_string_buffer(64)
        n = llama.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def piece(self, token: int, *, special: bool = False) -> str:
        return self.piece_bytes(token, special=special).decode("utf-8", "replace")

    def build_tokens(self, segments: list[dict[str, Any]], add_bos: bool) -> list[int]:
        """Turn prompt segments into tokens: text is tokenized, specials are kept as ids.

        Text from the user's files is tokenized with parse_special off, so a file that contains
        "<|fim_prefix|>" cannot inject control tokens; only template text may (``special``).
        """
        out: list[int] = []
        if add_bos:
            bos = llama.llama_vocab_bos(self.vocab)
            if bos is not None and bos >= 0:
                out.append(int(bos))
        for seg in segments:
            if "token" in seg:
                out.append(int(seg["token"]))
            else:
                out.extend(self.tokenize(seg.get("text", ""),
                                         parse_special=bool(seg.get("special"))))
        return out

    # ------------------------------------------------------------- evaluation
    def _decode(self, seq: Sequence, tokens: list[int], want_logits_last: bool) -> None:
        assert self.ctx is not None
        b = self._batch
        start = len(seq.tokens)
        b.n_tokens = len(tokens)
        for i, t in enumerate(tokens):
            b.token[i] = t
            b.pos[i] = start + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq.seq_id
            b.logits[i] = want_logits_last and i == len(tokens) - 1
        rc = llama.llama_decode(self.ctx, b)
        if rc != 0:
            # The cache may be partly written; forget this sequence so the next call starts clean.
            llama.llama_memory_seq_rm(self.mem, seq.seq_id, -1, -1)
            seq.tokens = []
            raise RuntimeError_(f"llama_decode failed ({rc}): context full or out of memory")
        seq.tokens.extend(tokens)

    def _scratch(self, seq: Sequence) -> int:
        return self._scratch_base + seq.seq_id

    def _forget(self, seq: Sequence) -> None:
        """Drop everything the cache holds for ``seq``, staged chunks included."""
        llama.llama_memory_seq_rm(self.mem, seq.seq_id, -1, -1)
        self._unstage(seq)
        seq.tokens = []
        seq.epoch += 1

    def _unstage(self, seq: Sequence) -> None:
        if seq.staged >= 0:
            llama.llama_memory_seq_rm(self.mem, self._scratch(seq), -1, -1)
            seq.staged = -1

    def _reuse(self, seq: Sequence, tokens: list[int], min_chunk: int) -> tuple[int, list[Chunk]]:
        """Cut the sequence back to its common prefix with ``tokens``; return the kept length
        and the cached chunks that move to later positions of ``tokens`` (see plan_reuse).

        The chunks wait in the sequence's scratch sequence: the tokens between them must be
        evaluated first, and llama.cpp appends to a sequence only after its last position.
        """
        old = seq.tokens
        n = common_prefix(old, tokens)
        if n == len(tokens) and n > 0:
            n -= 1  # the last prompt token must be evaluated again to get its logits
        seq.epoch += 1
        self._unstage(seq)
        chunks = plan_reuse(old, tokens, n, min_chunk) if self.shift_reuse else []
        if chunks:
            scratch = self._scratch(seq)
            for c in chunks:
                llama.llama_memory_seq_cp(self.mem, seq.seq_id, scratch, c.src, c.src + c.n)
            seq.staged = seq.epoch
        if n < len(old):
            if not llama.llama_memory_seq_rm(self.mem, seq.seq_id, n, -1):
                self._forget(seq)
                return 0, []
            seq.tokens = old[:n]
        return n, chunks

    def _move_in(self, seq: Sequence, c: Chunk, tokens: list[int]) -> None:
        """Move staged chunk ``c`` from the scratch sequence to its new place in ``seq``.

        It passes through positions past the context size, where neither sequence holds
        anything, so the moves never catch other cells; llama.cpp adds the shifts up and
        re-rotates the keys once, by ``dst - src``, before the next decode.
        """
        scratch, far = self._scratch(seq), self.n_ctx
        lo, hi = c.src + far, c.src + far + c.n
        llama.llama_memory_seq_add(self.mem, scratch, c.src, c.src + c.n, far)
        llama.llama_memory_seq_cp(self.mem, scratch, seq.seq_id, lo, hi)
        llama.llama_memory_seq_rm(self.mem, scratch, lo, hi)
        llama.llama_memory_seq_add(self.mem, seq.seq_id, lo, hi, c.dst - lo)
        seq.tokens.extend(tokens[c.dst:c.dst + c.n])

    def _sampler(self, p: GenerateParams) -> Any:
        sparams = llama.llama_sampler_chain_default_params()
        chain = llama.llama_sampler_chain_init(sparams)
        if p.temperature <= 0:
            if p.infill_sampler:
                llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_top_k(p.top_k))
                llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_infill(self.vocab))
            llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_greedy())
        else:
            llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_top_k(p.top_k))
            llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_top_p(p.top_p, 1))
            if p.infill_sampler:
                llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_infill(self.vocab))
            llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_temp(p.temperature))
            llama.llama_sampler_chain_add(chain, llama.llama_sampler_init_dist(p.seed))
        return chain

    def generate(self, p: GenerateParams, cancelled: Callable[[], bool], *,
                 prefill_chunk: int = PREFILL_CHUNK) -> Generator[Step, None, None]:
        """Evaluate the prompt (reusing the cache) and generate; yields once per token and
        once per ``prefill_chunk`` prompt tokens.

        ``cancelled()`` is polled between prefill chunks and between tokens.
        """
        if self.ctx is None:
            raise RuntimeError_("no model loaded")
        seq = self.sequences.setdefault(p.seq, Sequence(p.seq))
        t0 = time.perf_counter()
        if cancelled():  # superseded before it started: cost nothing
            yield Step(result=self._result("", "cancelled", [], _Prefill(), 0, t0, t0))
            return
        tokens = self.build_tokens(p.segments, p.add_bos)
        if not tokens:
            tokens = self.build_tokens([], True) or [0]
        budget = self.n_ctx - (0 if p.warm_only else max(p.max_tokens, 1))
        if len(tokens) > budget:
            raise RuntimeError_(f"prompt of {len(tokens)} tokens does not fit the context of "
                                f"{self.n_ctx} tokens")
        self._uses += 1
        seq.used = self._uses
        seq.busy += 1
        try:
            yield from self._generate(p, seq, tokens, cancelled, t0, max(prefill_chunk, 1))
        finally:
            seq.busy -= 1

    def _make_room(self, seq: Sequence, need: int) -> None:
        """Other sequences share the cells of the unified cache: when space runs out, drop
        them until ``need`` tokens of ``seq`` fit: idle ones first, the least recently used
        first; one whose job is under way (paused for another job) only when nothing else
        frees enough (that job evaluates its tokens again when it resumes)."""
        others = sum(len(s.tokens) for s in self.sequences.values() if s is not seq)
        for s in sorted(self.sequences.values(), key=lambda s: (s.busy > 0, s.used)):
            if others + need <= self.n_ctx:
                break
            if s is not seq and (s.tokens or s.staged >= 0):
                others -= len(s.tokens)
                self._forget(s)

    def _resync(self, seq: Sequence, tokens: list[int], max_tokens: int) -> None:
        """Put ``tokens`` (a paused job's prompt and what it generated) back into ``seq``
        after another job dropped it or took it over, keeping the common prefix; no logits."""
        self._make_room(seq, len(tokens) + max_tokens)
        n, _ = self._reuse(seq, tokens, 0)
        for at in range(n, len(tokens), PREFILL_CHUNK):
            self._decode(seq, tokens[at:at + PREFILL_CHUNK], want_logits_last=False)

    def _generate(self, p: GenerateParams, seq: Sequence, tokens: list[int],
                  cancelled: Callable[[], bool], t0: float, prefill_chunk: int
                  ) -> Generator[Step, None, None]:
        self._make_room(seq, len(tokens) + p.max_tokens)
        _kept, chunks = self._reuse(seq, tokens, p.cache_reuse)
        epoch = seq.epoch
        pending = list(chunks)
        done = _Prefill()
        try:
            while True:
                if cancelled():  # checked before each chunk: a paused job stops at no cost
                    yield Step(result=self._result("", "cancelled", tokens, done, 0, t0, t0))
                    return
                if seq.epoch != epoch:
                    # While this job was paused, another one dropped its sequence (to make
                    # room) or took it over (a request of the same stream): plan again from
                    # what the sequence holds now.
                    self._make_room(seq, len(tokens) + p.max_tokens)
                    _kept, chunks = self._reuse(seq, tokens, p.cache_reuse)
                    epoch = seq.epoch
                    pending = list(chunks)
                if pending and seq.staged != epoch:
                    pending = []  # another request took this sequence over: evaluate instead
                at = len(seq.tokens)
                if pending and pending[0].dst == at:
                    c = pending.pop(0)
                    self._move_in(seq, c, tokens)
                    done.shifted += c.n
                    continue
                target = pending[0].dst if pending else len(tokens)
                if at >= target:
                    break
                piece = tokens[at:min(target, at + prefill_chunk)]
                last = not pending and at + len(piece) == len(tokens)
                self._decode(seq, piece, want_logits_last=last)
                done.evaluated += len(piece)
                if not last:
                    yield Step()  # let the scheduler look at other work between chunks
        finally:
            if seq.staged == epoch:
                self._unstage(seq)
        t1 = time.perf_counter()
        if p.warm_only:
            yield Step(result=self._result("", "warm", tokens, done, 0, t0, t1))
            return

        chain = self._sampler(p)
        try:
            yield from self._sample_loop(p, seq, chain, cancelled, tokens, done, t0, t1, epoch)
        finally:
            llama.llama_sampler_free(chain)

    def _sample_loop(self, p: GenerateParams, seq: Sequence, chain: Any,
                     cancelled: Callable[[], bool],
                     prompt: list[int], done: _Prefill, t0: float, t1: float, epoch: int
                     ) -> Iterator[Step]:
        out = bytearray()
        held = list(prompt)  # what this job's sequence holds: the prompt, the tokens decoded
        emitted = 0  # bytes of ``out`` already streamed
        n_gen = 0
        reason = "length"
        stops = [s for s in p.stop if s]
        hold = max((len(s.encode()) for s in stops), default=1) - 1
        deadline = t1 + p.time_limit if p.time_limit > 0 else None
        late_from: int | None = None  # text length when the time limit passed
        while n_gen < p.max_tokens:
            tok = llama.llama_sampler_sample(chain, self.ctx, -1)
            if llama.llama_vocab_is_eog(self.vocab, tok):
                reason = "eos"
                break
            n_gen += 1
            out += self.piece_bytes(tok)
            text = out.decode("utf-8", "ignore")
            cut, why = None, "stop"
            for s in stops:
                i = text.find(s)
                if i >= 0 and (cut is None or i < cut):
                    cut = i
            if p.stop_at_newline:
                i = text.find("\n")
                if i >= 0 and (cut is None or i < cut):
                    cut = i
            if late_from is not None:
                # Past the time limit: end at the next line boundary, never mid-line.
                i = text.find("\n", late_from)
                if i >= 0 and (cut is None or i < cut):
                    cut, why = i, "time"
            if cut is not None:
                out = bytearray(text[:cut].encode())
                reason = why
                break
            if late_from is None and deadline is not None and time.perf_counter() > deadline:
                late_from = len(text)
            # The one place a job yields while sampling: before its token is decoded, never
            # between that decode and the next sample. The context's logits are those of the
            # last decode of whichever job ran, so sampling must follow this job's own decode.
            if p.stream:
                safe = len(out) - hold
                piece = bytes(out[emitted:max(emitted, safe)]).decode("utf-8", "ignore")
                if piece and len(piece.encode()) == max(0, safe - emitted):
                    emitted = safe
                    yield Step(text=piece)
            else:
                yield Step()
            if cancelled():
                reason = "cancelled"
                break
            if n_gen >= p.max_tokens:
                break
            if seq.epoch != epoch:
                # Dropped or taken over while this job was paused: evaluate what it held
                # again, so the next token follows this job's own text.
                self._resync(seq, held, p.max_tokens - n_gen)
                epoch = seq.epoch
            if len(seq.tokens) + 1 >= self.n_ctx:
                reason = "length"
                break
            self._decode(seq, [tok], want_logits_last=True)
            held.append(tok)
        text = out.decode("utf-8", "ignore")
        tail = text.encode()[emitted:].decode("utf-8", "ignore") if p.stream else ""
        yield Step(text=tail, result=self._result(text, reason, prompt, done, n_gen, t0, t1))

    def _result(self, text: str, reason: str, prompt: list[int], done: _Prefill, n_gen: int,
                t0: float, t1: float) -> dict[str, Any]:
        t2 = time.perf_counter()
        return {
            "text": text, "stop_reason": reason, "prompt_tokens": len(prompt),
            "prompt_tokens_evaluated": done.evaluated, "prompt_tokens_shifted": done.shifted,
            "generated_tokens": n_gen,
            "prompt_ms": (t1 - t0) * 1000.0, "generate_ms": (t2 - t1) * 1000.0,
        }
