"""Whether a process still runs, and is the one it was.

Linux reads ``/proc``; other POSIX systems probe with signal 0; Windows asks the kernel through
``OpenProcess``/``GetExitCodeProcess`` (there ``os.kill(pid, 0)`` is no probe: it ends the
process) and compares the process's creation time from ``GetProcessTimes``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_STILL_ACTIVE = 259  # GetExitCodeProcess: the process has not exited
_QUERY_LIMITED = 0x1000  # PROCESS_QUERY_LIMITED_INFORMATION
_ACCESS_DENIED = 5  # ERROR_ACCESS_DENIED: it exists, as another user's process


def package_env() -> dict[str, str]:
    """This process's environment with this package importable first, however it was
    started: the environment of the model worker and service processes it starts."""
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, env.get("PYTHONPATH")) if p)
    return env


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (Linux), None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()


def _windows_process(pid: int) -> tuple[bool, str | None]:
    """(whether ``pid`` runs, its creation time in 100 ns units since 1601 or None) on
    Windows."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    handle = kernel32.OpenProcess(_QUERY_LIMITED, False, pid)
    if not handle:
        # No such process (ERROR_INVALID_PARAMETER), or one this user may not query.
        return ctypes.get_last_error() == _ACCESS_DENIED, None  # type: ignore[attr-defined]
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True, None
        if code.value != _STILL_ACTIVE:
            return False, None
        times = [wintypes.FILETIME() for _ in range(4)]
        if not kernel32.GetProcessTimes(handle, *(ctypes.byref(t) for t in times)):
            return True, None
        created = times[0]
        return True, str((created.dwHighDateTime << 32) | created.dwLowDateTime)
    finally:
        kernel32.CloseHandle(handle)


def start_time(pid: int) -> str | None:
    """When the process started: clock ticks since boot (Linux), its creation time (Windows);
    None elsewhere or when it is gone."""
    if sys.platform == "win32":
        return _windows_process(pid)[1]
    fields = _proc_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def process_alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` still runs (and, when ``started`` is given, is the same process)."""
    if pid <= 0:
        return False  # (signal 0 to 0 or -1 would probe a process group)
    if sys.platform == "win32":
        alive, created = _windows_process(pid)
        return alive and (started is None or created is None or created == started)
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
