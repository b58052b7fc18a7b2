"""Checks on a model file before llama.cpp sees it, so that bad files get a clear message."""

from __future__ import annotations

import os
from pathlib import Path

from offpilot.engine.backend import ModelError

GGUF_MAGIC = b"GGUF"
MEMORY_HEADROOM = 0.9  # a model must fit in this share of the memory that is available


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux /proc/meminfo), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_model_file(path: str | os.PathLike[str], *, available: int | None = None) -> None:
    """Raise :class:`ModelError` with a user-facing reason if ``path`` cannot be a usable model."""
    p = Path(path)
    try:
        exists, is_dir, is_file = p.exists(), p.is_dir(), p.is_file()
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long
        raise ModelError(f"invalid model path {str(p)[:200]!r}: {exc}") from None
    if not exists:
        raise ModelError(f"model file not found: {p}. Set offpilot.model to a .gguf file or a "
                         "profile name (see `offpilot models list`).")
    if is_dir:
        raise ModelError(f"model path is a directory, not a .gguf file: {p}")
    if not is_file:  # a FIFO would block the reader forever, a device is no model
        raise ModelError(f"model path is not a regular file: {p}")
    try:
        size = p.stat().st_size
        # O_NONBLOCK: should the path turn into a FIFO after the check, do not wait on it
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelError(f"cannot read model file {p}: {exc.strerror or exc}") from None
    if size == 0:
        raise ModelError(f"model file is empty (0 bytes): {p}. Download it again.")
    if magic != GGUF_MAGIC:
        raise ModelError(f"not a GGUF model file: {p} (it starts with {magic!r}, expected "
                         "b'GGUF'). Offpilot runs quantized GGUF models.")
    avail = available_memory() if available is None else available
    if avail is not None and size > avail * MEMORY_HEADROOM:
        raise ModelError(f"model file {p.name} is {size / 2**30:.1f} GiB but only "
                         f"{avail / 2**30:.1f} GiB of memory is available; choose a smaller "
                         "model or quantization.")
