"""Whether a process still runs, and is the one it was (Linux /proc; signal 0 elsewhere)."""

from __future__ import annotations

import os


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (Linux), None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), None elsewhere."""
    fields = _proc_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def process_alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` still runs (and, when ``started`` is given, is the same process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    except OSError:
        return False
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc (macOS): kill() said it exists
    if fields[0] in ("Z", "X"):  # a zombie has ended; its parent has not reaped it yet
        return False
    return started is None or len(fields) <= 19 or fields[19] == started
