"""Never outlive the editor: the server ends when its editor is gone, whatever is in flight.

Three signs that the editor is gone, each watched by :class:`Lifeline`:

- **end of input**: stdin reaches EOF (the editor closed the pipe or died). pygls' read loop
  then stops, but ``asyncio.run`` waits for what is left (a model load, a download or an index
  build in a thread), possibly for minutes. :class:`WatchedInput` notices the EOF and the
  process ends within :data:`EXIT_AFTER_EOF` seconds regardless;
- **the editor process**: ``initialize`` gives the editor's ``processId``; it is polled every
  :data:`POLL_EVERY` seconds (``kill(pid, 0)``; on Linux a zombie and a reused pid, seen from
  its start time in ``/proc``, count as dead), and its death ends the server the same way;
- **the exit notification**: a grace period of :data:`~offpilot.lsp.server.EXIT_GRACE` seconds.

Before it leaves, the server kills its child processes (:func:`end_children`): the model
workers and every process group a sandbox started. The children do not rely on this alone:
the model worker asks the kernel for SIGKILL when the server dies (``PR_SET_PDEATHSIG``) and
exits at EOF on its stdin, so even a server killed with SIGKILL leaves no worker behind.

Nothing is lost by ending this way: the index database commits in transactions, downloads
resume from their partial file, and a test file is written in one step (an edit the editor
applies whole, or an atomic rename) only after generation has finished.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from offpilot.shared import leftovers
from offpilot.shared.processes import _proc_stat, process_alive, start_time

log = logging.getLogger(__name__)

EXIT_AFTER_EOF = 1.0  # seconds the server may take to end on its own after stdin EOF
POLL_EVERY = 1.0  # seconds between two checks that the editor process is alive


# ----------------------------------------------------------------------------- processes
def children(pid: int | None = None) -> list[int]:
    """Process ids whose parent is ``pid`` (default: this process); Linux only."""
    parent = str(os.getpid() if pid is None else pid)
    out = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if entry.isdigit():
            fields = _proc_stat(int(entry))
            if fields is not None and len(fields) > 1 and fields[1] == parent:
                out.append(int(entry))
    return out


def end_children() -> list[int]:
    """SIGKILL this process's children, with the whole group of those that lead one (a
    sandbox run starts its own session, so its grandchildren go too). Returns their pids."""
    own_group = os.getpgid(0)
    found = children()
    for pid in found:
        with contextlib.suppress(OSError):
            group = os.getpgid(pid)
            if group == pid and group != own_group:
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return found


# ----------------------------------------------------------------------------- stdin
class WatchedInput:
    """The server's input stream; calls ``on_eof`` when it ends (or fails)."""

    def __init__(self, stream: BinaryIO, on_eof: Callable[[], None]) -> None:
        self._stream = stream
        self._on_eof = on_eof

    def _seen(self, data: bytes) -> bytes:
        if not data:
            self._on_eof()
        return data

    def readline(self) -> bytes:
        try:
            data = self._stream.readline()
        except (OSError, ValueError):
            data = b""
        return self._seen(data)

    def read(self, n: int = -1) -> bytes:
        try:
            data = self._stream.read(n)
        except (OSError, ValueError):
            data = b""
        return self._seen(data)


# ----------------------------------------------------------------------------- lifeline
class Lifeline:
    """Ends the server process when the editor is gone (see the module doc).

    ``exit`` is called with the exit code once everything is stopped; it defaults to
    ``os._exit``, as the server must not wait for threads that are still working.
    """

    def __init__(self, *, exit: Callable[[int], Any] = os._exit,
                 shut_down: Callable[[], bool] = lambda: False) -> None:
        self._exit = exit
        self._shut_down = shut_down
        self._lock = threading.Lock()
        self._ending = False
        self.watched_pid: int | None = None
        self.reason = ""

    def code(self) -> int:
        """0 after a shutdown request, else 1 (as for the exit notification)."""
        return 0 if self._shut_down() else 1

    def editor_gone(self, reason: str, *, grace: float = EXIT_AFTER_EOF) -> None:
        """The editor is gone: end the process within ``grace`` seconds (from any thread)."""
        with self._lock:
            if self._ending:
                return
            self._ending = True
            self.reason = reason
        log.info("%s: ending within %.1f s", reason, grace)
        timer = threading.Timer(grace, self.exit_now)
        timer.daemon = True
        timer.start()

    def exit_now(self, code: int | None = None) -> None:
        """Kill the child processes and end this one."""
        code = self.code() if code is None else code
        # The process must end whatever fails on the way: these handlers stay broad.
        try:
            ended = end_children()
            if ended:
                log.info("stopped child processes %s", ended)
        except Exception:
            log.exception("stopping the child processes failed")
        try:
            removed = leftovers.remove_all()  # the children are gone: nothing uses them
            if removed:
                log.info("removed the folders still in use %s", [str(p) for p in removed])
        except Exception:
            log.exception("removing the folders still in use failed")
        with contextlib.suppress(Exception):  # (nothing is left to log to)
            logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe or file
                stream.flush()
        self._exit(code)

    def watch_process(self, pid: Any) -> bool:
        """Poll the editor's ``processId`` and end when it dies; False when not watched (no
        pid, or one not running now: it may live in another pid namespace)."""
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or pid == os.getpid():
            return False
        started = start_time(pid)
        if not process_alive(pid, started):
            log.warning("the editor's process %d is not visible from here; not watching it", pid)
            return False
        self.watched_pid = pid

        def watch() -> None:
            while process_alive(pid, started):
                time.sleep(POLL_EVERY)
            self.editor_gone(f"the editor's process {pid} has ended", grace=0.0)

        threading.Thread(target=watch, name="offpilot-editor-watch", daemon=True).start()
        return True
