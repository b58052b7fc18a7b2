"""Files changed on disk outside the editor: a watchdog observer, debounced and batched.

Events for one root are collected until the tree has been quiet for ``debounce`` seconds (or
``max_delay`` passed), then handed over as one batch: a ``git checkout`` that touches hundreds of
files is one re-index, not hundreds. Paths the index would not take (ignored, not source) are
dropped here with the index's own rules, and so are files kept out of prompts (secret-like
names, paths resolving outside the roots: :mod:`offpilot.context.exclude`); a directory event or
a changed ``.gitignore`` asks for a full rescan instead of a list of paths.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from offpilot.context.exclude import FileGuard
from offpilot.context.index import IgnoreRules, is_source_name

if TYPE_CHECKING:  # watchdog is imported when the watcher starts
    from watchdog.events import FileSystemEvent
    from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)


@dataclass
class Batch:
    root: Path
    paths: set[Path] = field(default_factory=set)
    rescan: bool = False  # directories moved or deleted, or ignore rules changed


BatchCallback = Callable[[Batch], None]


class _Pending:
    def __init__(self, root: Path) -> None:
        self.batch = Batch(root)
        self.first = 0.0
        self.last = 0.0


class Watcher:
    """Watch ``roots`` recursively; call ``on_batch`` from a background thread."""

    def __init__(self, roots: dict[Path, IgnoreRules], on_batch: BatchCallback, *,
                 debounce: float = 0.3, max_delay: float = 2.0,
                 guard: FileGuard | None = None) -> None:
        self.roots = roots
        self.guard = guard if guard is not None else FileGuard(roots)
        self.on_batch = on_batch
        self.debounce = debounce
        self.max_delay = max_delay
        self._pending: dict[Path, _Pending] = {}
        self._cond = threading.Condition()
        self._stopped = False
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None
        self.batches = 0  # batches delivered (for stats and tests)

    def start(self) -> bool:
        """Start watching; False when the platform cannot watch (the index then goes stale)."""
        try:
            from watchdog.observers import Observer
        except ImportError:
            log.warning("watchdog unavailable: files changed outside the editor are not seen")
            return False
        handler = _Handler(self)
        observer = Observer()
        observer.daemon = True
        try:
            for root in self.roots:
                observer.schedule(handler, str(root), recursive=True)
            observer.start()
        except OSError as exc:  # inotify limits, permissions, a root deleted meanwhile
            log.warning("cannot watch the workspace for changes: %s", exc)
            return False
        self._observer = observer
        self._thread = threading.Thread(target=self._run, name="offpilot-watcher", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._observer is not None:
            try:
                self._observer.stop()
                self._observer.join(timeout=2)
            except (OSError, RuntimeError):  # RuntimeError: a thread that never started
                log.debug("stopping the file watcher failed", exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout=2)

    # ------------------------------------------------------------- events
    def _root_of(self, path: Path) -> tuple[Path, str] | None:
        for root in self.roots:
            try:
                return root, path.relative_to(root).as_posix()
            except ValueError:
                continue
        return None

    def note(self, raw_path: str | bytes, is_directory: bool) -> None:
        """Record one event path (called from the observer thread)."""
        if isinstance(raw_path, bytes):
            raw_path = raw_path.decode("utf-8", "surrogateescape")
        if not raw_path:
            return
        path = Path(raw_path)
        found = self._root_of(path)
        if found is None:
            return
        root, rel = found
        if rel in ("", "."):
            return
        name = path.name
        rules = self.roots[root]
        rescan = False
        if name == ".gitignore" or rel.endswith(".git/info/exclude"):
            rules.clear()
            rescan = True
        elif is_directory:
            if rules.ignored(rel, True):
                return
            rescan = True
        elif not is_source_name(name) or rules.ignored(rel) or self.guard.matches(rel) \
                or not self.guard.inside(path):
            return
        now = time.monotonic()
        with self._cond:
            pending = self._pending.get(root)
            if pending is None:
                pending = self._pending[root] = _Pending(root)
                pending.first = now
            pending.last = now
            if rescan:
                pending.batch.rescan = True
            else:
                pending.batch.paths.add(path)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and not self._pending:
                    self._cond.wait()
                if self._stopped:
                    return
                now = time.monotonic()
                ready = [p for p in self._pending.values()
                         if now - p.last >= self.debounce or now - p.first >= self.max_delay]
                if not ready:
                    due = min(min(p.last + self.debounce, p.first + self.max_delay)
                              for p in self._pending.values())
                    self._cond.wait(timeout=max(0.01, due - now))
                    continue
                for p in ready:
                    del self._pending[p.batch.root]
            for p in ready:
                try:
                    self.batches += 1
                    self.on_batch(p.batch)
                except Exception:  # the watcher thread must outlive one failed batch
                    log.exception("re-indexing %d changed paths under %s failed",
                                  len(p.batch.paths), p.batch.root)


def _handler_base() -> type:
    try:
        from watchdog.events import FileSystemEventHandler
    except ImportError:
        return object
    return FileSystemEventHandler


class _Handler(_handler_base()):  # type: ignore[misc]
    def __init__(self, watcher: Watcher) -> None:
        super().__init__()
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = getattr(event, "event_type", "")
        if kind in ("opened", "closed_no_write"):
            return
        if kind == "modified" and event.is_directory:
            return  # a file inside changed; that file has its own event
        self.watcher.note(event.src_path, event.is_directory)
        dest = getattr(event, "dest_path", "")
        if dest:
            self.watcher.note(dest, event.is_directory)
