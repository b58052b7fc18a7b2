"""1-based line and column positions (as a command line takes them) to ``str`` offsets."""

from __future__ import annotations


def offset_of(text: str, line: int, col: int) -> int:
    """Offset of 1-based ``line``/``col`` (characters), clamped to the text."""
    if line < 1 or col < 1:
        raise ValueError("LINE and COL are 1-based")
    lines = text.split("\n")
    if line > len(lines):
        return len(text)
    start = sum(len(ln) + 1 for ln in lines[: line - 1])
    return start + min(col - 1, len(lines[line - 1]))


def line_offsets(text: str, start_line: int, end_line: int) -> tuple[int, int]:
    """``str`` offsets of the start of ``start_line`` and the end of ``end_line`` (clamped)."""
    lines = text.split("\n")
    first = min(start_line, len(lines)) - 1
    last = min(end_line, len(lines)) - 1
    start = sum(len(ln) + 1 for ln in lines[:first])
    end = sum(len(ln) + 1 for ln in lines[:last]) + len(lines[last])
    return start, end
