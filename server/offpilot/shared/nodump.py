"""Keep other processes of the same user out of this process's memory and environment.

On Linux, ``prctl(PR_SET_DUMPABLE, 0)`` makes the process *non-dumpable*: its
``/proc/<pid>/environ``, ``mem``, ``maps``, ``fd/`` and the like become readable only with
``CAP_SYS_PTRACE``, ptrace attach from the same user is refused, and no core dump is written. A
program run with the user's privileges (the code under test, say) can then no longer read an API
key from the server's environment.

The flag is reset by ``execve``: each Offpilot process started by exec (the server, the model
worker) calls :func:`forbid_dumps` itself. Elsewhere than Linux this does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4


def _prctl() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    return fn


def forbid_dumps() -> bool:
    """Make this process non-dumpable; True when it now is (False off Linux or on failure)."""
    prctl = _prctl()
    if prctl is None:
        return False
    if prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        log.warning("cannot mark the process non-dumpable: %s", os.strerror(err))
        return False
    return dumpable() is False


def dumpable() -> bool | None:
    """Whether this process is dumpable (None where that cannot be asked)."""
    prctl = _prctl()
    if prctl is None:
        return None
    value = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)
    return None if value < 0 else value != 0
