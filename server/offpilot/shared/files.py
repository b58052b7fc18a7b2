"""Writing files so that a reader never sees half of one; reading the JSON lines a sandboxed
run wrote (untrusted: bounded, malformed lines skipped)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json_records(path: Path, *, max_bytes: int = 8 * 1024 * 1024,
                      max_lines: int = 20_000,
                      max_line_chars: int = 40_000) -> list[dict[str, Any]]:
    """The JSON objects, one per line, in the first ``max_bytes`` of ``path``: lines that are
    too long, not JSON or not an object are skipped; [] when the file cannot be read."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            text = fh.read(max_bytes)
    except OSError:
        return []
    out = []
    for line in text.splitlines()[:max_lines]:
        if len(line) > max_line_chars:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out
