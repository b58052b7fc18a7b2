"""The llama.cpp runtime: one model, one context, token-level generation with KV-cache reuse.

This module runs only inside the model worker process (see :mod:`offpilot.engine.worker`):
llama.cpp is not thread-safe and aborts the whole process on some native errors, so the
language server never imports it.

Each logical stream (completions, chat) owns a sequence of the shared KV cache. A request's
prompt is compared with the tokens already in that sequence; only the part after the common
prefix is evaluated. Generation is a Python generator that yields after every decoded token,
so the worker can interleave streams, stop a superseded request within one token, and honour
time limits.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import llama_cpp as llama

# Tokens per llama_decode call while evaluating a prompt; cancellation is checked between.
PREFILL_CHUNK = 256


class RuntimeError_(Exception):
    """A failure the worker reports to the server as a message."""


@dataclass
class Sequence:
    seq_id: int
    tokens: list[int] = field(default_factory=list)  # what the KV cache holds for this sequence


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


@llama.llama_log_callback
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
        self._batch: Any = None

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
        cparams = llama.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = min(n_batch, n_ctx)
        cparams.n_ubatch = min(n_batch, n_ctx)
        cparams.n_seq_max = n_seq
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

    def _reuse(self, seq: Sequence, tokens: list[int]) -> int:
        """Cut the sequence back to its common prefix with ``tokens``; return the kept length."""
        old = seq.tokens
        n = 0
        limit = min(len(old), len(tokens))
        while n < limit and old[n] == tokens[n]:
            n += 1
        if n == len(tokens) and n > 0:
            n -= 1  # the last prompt token must be evaluated again to get its logits
        if n < len(old):
            if not llama.llama_memory_seq_rm(self.mem, seq.seq_id, n, -1):
                llama.llama_memory_seq_rm(self.mem, seq.seq_id, -1, -1)
                n = 0
            seq.tokens = old[:n]
        return n

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

    def generate(self, p: GenerateParams, cancelled: Any) -> Iterator[Step]:
        """Evaluate the prompt (reusing the cache) and generate; yields once per token.

        ``cancelled()`` is polled between prefill chunks and between tokens.
        """
        if self.ctx is None:
            raise RuntimeError_("no model loaded")
        seq = self.sequences.setdefault(p.seq, Sequence(p.seq))
        t0 = time.perf_counter()
        if cancelled():  # superseded before it started: cost nothing
            yield Step(result=self._result("", "cancelled", [], 0, 0, t0, t0))
            return
        tokens = self.build_tokens(p.segments, p.add_bos)
        if not tokens:
            tokens = self.build_tokens([], True) or [0]
        budget = self.n_ctx - (0 if p.warm_only else max(p.max_tokens, 1))
        if len(tokens) > budget:
            raise RuntimeError_(f"prompt of {len(tokens)} tokens does not fit the context of "
                                f"{self.n_ctx} tokens")
        # Other sequences share the cells of the unified cache: drop them when space runs out.
        others = sum(len(s.tokens) for s in self.sequences.values() if s is not seq)
        if others + len(tokens) + p.max_tokens > self.n_ctx:
            for s in self.sequences.values():
                if s is not seq and s.tokens:
                    llama.llama_memory_seq_rm(self.mem, s.seq_id, -1, -1)
                    s.tokens = []
        reused = self._reuse(seq, tokens)
        todo = tokens[reused:]
        evaluated = len(todo)
        while todo:
            chunk, todo = todo[:PREFILL_CHUNK], todo[PREFILL_CHUNK:]
            self._decode(seq, chunk, want_logits_last=not todo)
            if cancelled():
                yield Step(result=self._result("", "cancelled", tokens, evaluated, 0, t0, t0))
                return
            if todo:
                yield Step()  # let the scheduler look at other work between chunks
        t1 = time.perf_counter()
        if p.warm_only:
            yield Step(result=self._result("", "warm", tokens, evaluated, 0, t0, t1))
            return

        chain = self._sampler(p)
        try:
            yield from self._sample_loop(p, seq, chain, cancelled, tokens, evaluated, t0, t1)
        finally:
            llama.llama_sampler_free(chain)

    def _sample_loop(self, p: GenerateParams, seq: Sequence, chain: Any, cancelled: Any,
                     prompt: list[int], evaluated: int, t0: float, t1: float) -> Iterator[Step]:
        out = bytearray()
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
            if p.stream:
                safe = len(out) - hold
                piece = bytes(out[emitted:max(emitted, safe)]).decode("utf-8", "ignore")
                if piece and len(piece.encode()) == max(0, safe - emitted):
                    emitted = safe
                    yield Step(text=piece)
            if cancelled():
                reason = "cancelled"
                break
            if n_gen >= p.max_tokens:
                break
            if len(seq.tokens) + 1 >= self.n_ctx:
                reason = "length"
                break
            self._decode(seq, [tok], want_logits_last=True)
            if not p.stream:
                yield Step()
        text = out.decode("utf-8", "ignore")
        tail = text.encode()[emitted:].decode("utf-8", "ignore") if p.stream else ""
        yield Step(text=tail, result=self._result(text, reason, prompt, evaluated, n_gen, t0, t1))

    def _result(self, text: str, reason: str, prompt: list[int], evaluated: int, n_gen: int,
                t0: float, t1: float) -> dict[str, Any]:
        t2 = time.perf_counter()
        return {
            "text": text, "stop_reason": reason, "prompt_tokens": len(prompt),
            "prompt_tokens_evaluated": evaluated, "generated_tokens": n_gen,
            "prompt_ms": (t1 - t0) * 1000.0, "generate_ms": (t2 - t1) * 1000.0,
        }
