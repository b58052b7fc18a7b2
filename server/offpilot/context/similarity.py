"""Chunks of recently opened and edited files, ranked by similarity to the text before the cursor.

A ring buffer in the manner of llama.vim's extra context: each time a file is opened or edited,
the window of lines around that place becomes a chunk; a chunk nearly equal to a newer one
(Jaccard over identifier tokens above 0.9) is evicted, and past ``capacity`` the oldest goes.
Ranking is Jaccard similarity of identifier tokens with the lines before the cursor.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]+")
DUPLICATE = 0.9


def tokens(text: str) -> frozenset[str]:
    """Identifier-like words of two characters or more."""
    return frozenset(TOKEN.findall(text))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) if inter else 0.0


@dataclass(frozen=True)
class Chunk:
    path: str  # workspace-relative, forward slashes
    start_line: int  # 1-based, inclusive
    end_line: int
    text: str
    tokens: frozenset[str]


def chunk_around(path: str, text: str, line: int, size: int = 24) -> Chunk | None:
    """The ``size``-line window of ``text`` centred on 1-based ``line`` (None when blank)."""
    lines = text.split("\n")
    if not lines:
        return None
    start = max(0, min(line - 1 - size // 2, len(lines) - size))
    end = min(len(lines), start + size)
    body = "\n".join(lines[start:end]).rstrip()
    if not body.strip():
        return None
    return Chunk(path, start + 1, start + body.count("\n") + 1, body, tokens(body))


class ChunkRing:
    """The ring of recent chunks (thread-safe)."""

    def __init__(self, capacity: int = 16, chunk_lines: int = 24) -> None:
        self.capacity = capacity
        self.chunk_lines = chunk_lines
        self._chunks: list[Chunk] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._chunks)

    def chunks(self) -> list[Chunk]:
        return list(self._chunks)

    def add(self, chunk: Chunk) -> None:
        with self._lock:
            kept = [c for c in self._chunks
                    if not (c.path == chunk.path and c.start_line == chunk.start_line)
                    and jaccard(c.tokens, chunk.tokens) <= DUPLICATE]
            kept.append(chunk)
            self._chunks = kept[-self.capacity:]

    def add_text(self, path: str, text: str, line: int) -> None:
        chunk = chunk_around(path, text, line, self.chunk_lines)
        if chunk is not None:
            self.add(chunk)

    def forget(self, path: str) -> None:
        with self._lock:
            self._chunks = [c for c in self._chunks if c.path != path]

    def query(self, text_before: str, *, exclude_path: str = "",
              exclude_lines: tuple[int, int] = (0, 0), limit: int = 4,
              minimum: float = 0.05) -> list[tuple[float, Chunk]]:
        """Chunks most similar to ``text_before``, best first; none that overlaps the
        excluded line range of ``exclude_path`` (the cursor's own window)."""
        query = tokens(text_before)
        lo, hi = exclude_lines
        scored = []
        for c in self._chunks:
            if c.path == exclude_path and c.start_line <= hi and c.end_line >= lo:
                continue
            score = jaccard(query, c.tokens)
            if score >= minimum:
                scored.append((score, c))
        scored.sort(key=lambda sc: (-sc[0], sc[1].path, sc[1].start_line))
        return scored[:limit]
