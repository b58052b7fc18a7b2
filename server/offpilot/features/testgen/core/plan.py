"""The test file to write: its full text and the insertions into the original (any language)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FilePlan:
    """The test file after adding tests: full text and the insertions into the original."""

    text: str
    insertions: tuple[tuple[int, str], ...]  # (offset in the original text, inserted text)


def apply_insertions(original: str, insertions: Sequence[tuple[int, str]]) -> str:
    text = original
    for offset, piece in sorted(insertions, key=lambda x: x[0], reverse=True):
        text = text[:offset] + piece + text[offset:]
    return text
