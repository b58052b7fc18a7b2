"""The context engine the server talks to: index, watcher, open documents and retrieval.

Everything slow happens in background threads: the first index build (a process pool), the
watcher's re-indexing, the re-summarizing of open documents after edits (debounced). What the
server calls on its event loop (:meth:`note_opened`, :meth:`note_edited`) only records work;
:meth:`retrieve` runs in a worker thread and reads memory only.

Files kept out of prompts (:mod:`offpilot.context.exclude`: secret-like names, paths resolving
outside the roots) are kept out at every step: the index does not read them, an open one is not
summarized nor added to the ring of recent chunks, retrieval at a cursor in one gives nothing,
and their text is never read as a definition's source.
"""

from __future__ import annotations

import functools
import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offpilot.config import Settings, SettingsHolder, holder_of
from offpilot.context.documents import Document, Documents
from offpilot.context.exclude import FileGuard
from offpilot.context.index import Index
from offpilot.context.model import FileSummary
from offpilot.context.resolve import Resolver
from offpilot.context.retrieve import Cursor, Retriever
from offpilot.context.similarity import ChunkRing
from offpilot.context.watcher import Batch, Watcher
from offpilot.shared import Snippet

log = logging.getLogger(__name__)

RESUMMARIZE_DELAY = 0.5  # seconds after the last edit before an open file is summarized again
HOUSEKEEPING = 2.0  # seconds between checks for closed documents

ProgressCallback = Callable[[str, float | None], None]


@dataclass
class Retrieval:
    snippets: list[Snippet] = field(default_factory=list)
    ms: float = 0.0


@dataclass
class _Root:
    index: Index
    resolver: Resolver
    retriever: Retriever


class ContextEngine:
    """Workspace context for the server (see the module doc)."""

    def __init__(self, roots: list[Path], settings: Settings | SettingsHolder,
                 documents: Documents | None = None) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        # Read on each use (prefix and suffix sizes, budget, size limit); a holder shared with
        # the server brings its changes here, and exclusions and the size limit also reach
        # the indexes (see _settings_changed).
        self._settings = holder_of(settings)
        self._unsubscribe = self._settings.subscribe(self._settings_changed)
        self.guard = FileGuard(self.roots, self.settings.exclude_files)
        self.documents = documents if documents is not None else Documents(guard=self.guard)
        self.ring = ChunkRing()
        self._roots: list[_Root] = []
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._due: dict[str, tuple[float, int | None]] = {}  # uri -> (when, edited offset)
        self._overlaid: dict[str, tuple[_Root, str]] = {}  # uri -> where its overlay lives
        self._disk_cache: dict[str, tuple[tuple[int, int], str | None]] = {}
        self._latencies: deque[float] = deque(maxlen=500)
        self._retrievals = 0
        self._last: list[dict[str, Any]] = []
        self._watcher: Watcher | None = None
        self._build_thread: threading.Thread | None = None
        self._worker = threading.Thread(target=self._work, name="offpilot-context", daemon=True)
        self._worker.start()
        self.build_seconds = 0.0
        self.error = ""

    @property
    def settings(self) -> Settings:
        return self._settings.current

    def _settings_changed(self, old: Settings, new: Settings) -> None:
        if new.max_file_size != old.max_file_size:
            for r in list(self._roots):
                r.index.max_file_size = new.max_file_size
            self._disk_cache.clear()
        if new.exclude_files != old.exclude_files:
            self.set_exclude(new.exclude_files)

    def index_settings(self) -> list[dict[str, Any]]:
        """The settings each root's index works with now (for ``offpilot/stats``)."""
        return [{"root": str(r.index.root), "maxFileSize": r.index.max_file_size,
                 "excludeFiles": list(r.index.guard.extra)} for r in list(self._roots)]

    # ------------------------------------------------------------- lifecycle
    @property
    def ready(self) -> bool:
        """The first build is done (retrieval works before, on what is loaded so far)."""
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def start(self, on_progress: ProgressCallback | None = None, *, watch: bool = True) -> None:
        """Open or build the index in the background; ``on_progress(message, fraction)`` is
        called along the way and exactly once with 1.0 at the end."""
        if self._build_thread is not None:
            return
        self._build_thread = threading.Thread(target=self._build, args=(on_progress, watch),
                                              name="offpilot-index", daemon=True)
        self._build_thread.start()

    def _build(self, on_progress: ProgressCallback | None, watch: bool) -> None:
        t0 = time.perf_counter()

        def report(message: str, fraction: float | None) -> None:
            if on_progress is not None:
                try:
                    on_progress(message, fraction)
                except Exception:  # the caller's callback; the index goes on without it
                    log.debug("index progress callback failed", exc_info=True)

        try:
            report("opening the index", 0.0)
            for root in self.roots:
                index = Index(root, max_file_size=self.settings.max_file_size,
                              exclude=self.settings.exclude_files)
                resolver = Resolver(index)
                retriever = Retriever(resolver, functools.partial(self._source_text, root),
                                      self.ring)
                with self._lock:
                    self._roots.append(_Root(index, resolver, retriever))
            self._resummarize_open()
            n = len(self._roots)
            for i, r in enumerate(list(self._roots)):
                if self._stopped.is_set():
                    break

                def part(message: str, fraction: float | None, i: int = i) -> None:
                    done = (i + (fraction or 0.0)) / n
                    report(f"indexing {message}", min(0.99, done))

                r.index.refresh(on_progress=part)
            if watch and not self._stopped.is_set():
                self._watcher = Watcher({r.index.root: r.index.rules for r in self._roots},
                                        self._on_batch, guard=self.guard)
                self._watcher.start()
        except Exception as exc:
            self.error = str(exc)
            log.exception("building the workspace index failed")
        finally:
            self.build_seconds = time.perf_counter() - t0
            self._ready.set()
            stats = self.stats()
            report(f"{stats['files']} files, {stats['definitions']} definitions", 1.0)

    def stop(self) -> None:
        self._unsubscribe()
        self._stopped.set()
        with self._cond:
            self._cond.notify_all()
        if self._watcher is not None:
            self._watcher.stop()
        if self._build_thread is not None:
            self._build_thread.join(timeout=5)
        for r in self._roots:
            r.index.close()

    def set_exclude(self, patterns: tuple[str, ...]) -> None:
        """New ``offpilot.excludeFiles``: open documents it excludes lose their overlay and
        chunks at once, the indexes drop the files it excludes in the background."""
        if patterns == self.guard.extra:
            return
        self.guard = FileGuard(self.roots, patterns)
        if self._watcher is not None:
            self._watcher.guard = self.guard
        with self._lock:
            gone = [(u, self._overlaid.pop(u)) for u in list(self._overlaid)
                    if self._excluded_path(self.documents.path_of(u))]
        for _uri, (root, rel) in gone:
            root.index.set_overlay(rel, None)
            self.ring.forget(rel)
        roots = list(self._roots)
        for r in roots:
            r.index.set_exclude(patterns)
        self._disk_cache.clear()

        def refresh() -> None:
            for r in roots:
                try:
                    r.index.refresh()
                except Exception:
                    log.exception("re-indexing after new exclusions failed")

        threading.Thread(target=refresh, name="offpilot-exclude", daemon=True).start()

    def _excluded_path(self, path: str) -> bool:
        return self.guard.excluded(path)

    def _on_batch(self, batch: Batch) -> None:
        for r in self._roots:
            if r.index.root == batch.root:
                if batch.rescan:
                    r.index.refresh()
                else:
                    r.index.update_paths(batch.paths)

    # ------------------------------------------------------------- documents
    def _locate(self, path: str) -> tuple[_Root, str] | None:
        """The root holding ``path`` (the deepest) and the path relative to it."""
        best: tuple[_Root, str] | None = None
        for r in list(self._roots):
            rel = r.index.relative(path)
            if rel is not None and not rel.startswith("../") and (
                    best is None or len(str(r.index.root)) > len(str(best[0].index.root))):
                best = (r, rel)
        return best

    def note_opened(self, uri: str) -> None:
        doc = self.documents.get(uri)
        if doc is not None:
            self._schedule(uri, None, delay=0.0)

    def note_edited(self, uri: str, offset: int) -> None:
        self._schedule(uri, offset, delay=RESUMMARIZE_DELAY)

    def _schedule(self, uri: str, offset: int | None, delay: float) -> None:
        with self._cond:
            old = self._due.get(uri)
            keep = offset if offset is not None else (old[1] if old else None)
            self._due[uri] = (time.monotonic() + delay, keep)
            self._cond.notify_all()

    def _work(self) -> None:
        last_housekeeping = time.monotonic()
        while not self._stopped.is_set():
            with self._cond:
                now = time.monotonic()
                due = [(u, off) for u, (when, off) in self._due.items() if when <= now]
                for u, _ in due:
                    del self._due[u]
                if not due:
                    wait = min([w for w, _ in self._due.values()] + [now + HOUSEKEEPING]) - now
                    self._cond.wait(timeout=max(0.01, wait))
                    continue
            for uri, offset in due:
                try:
                    self._resummarize(uri, offset)
                except Exception:
                    log.debug("re-summarizing %s failed", uri, exc_info=True)
            if time.monotonic() - last_housekeeping > HOUSEKEEPING:
                last_housekeeping = time.monotonic()
                self._drop_closed()

    def _resummarize(self, uri: str, offset: int | None) -> FileSummary | None:
        doc = self.documents.get(uri)
        if doc is None or doc.spec is None or self._excluded_path(doc.path):
            return None
        found = self._locate(doc.path)
        if found is None:
            return None
        root, rel = found
        text = doc.text
        if len(text) > self.settings.max_file_size:
            return None  # as the index skips such files: no seconds of parsing per pause
        from offpilot.context import extract

        summary = extract.summarize(text, doc.spec, rel)
        root.index.set_overlay(rel, summary)
        with self._lock:
            self._overlaid[uri] = (root, rel)
        line = 1 if offset is None else text.count("\n", 0, max(0, offset)) + 1
        self.ring.add_text(rel, text, line)
        return summary

    def _resummarize_open(self) -> None:
        for doc in self.documents:
            self._schedule(doc.uri, None, delay=0.0)

    def _drop_closed(self) -> None:
        with self._lock:
            closed = [u for u in self._overlaid if self.documents.get(u) is None]
            gone = [self._overlaid.pop(u) for u in closed]
        for root, rel in gone:
            root.index.set_overlay(rel, None)

    def _source_text(self, root: Path, rel: str) -> str | None:
        """An open document's current text, else the file on disk (cached by mtime/size)."""
        full = root / rel
        for doc in self.documents:
            if doc.path and (doc.path == str(full) or Path(doc.path) == full):
                # (a private document is never summarized into the index: its definitions,
                # the only way here, are not asked for)
                return None if self._excluded_path(str(full)) else doc.text
        key = str(full)
        try:
            st = full.stat()
        except OSError:
            return None
        sig = (st.st_mtime_ns, st.st_size)
        cached = self._disk_cache.get(key)
        if cached is not None and cached[0] == sig:
            return cached[1]
        if st.st_size > self.settings.max_file_size:
            return None
        if self._excluded_path(key):  # checked once per version of the file (then cached)
            text: str | None = None
        else:
            try:
                text = full.read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None
        if len(self._disk_cache) > 256:
            self._disk_cache.clear()
        self._disk_cache[key] = (sig, text)
        return text

    # ------------------------------------------------------------- retrieval
    def _document(self, uri: str) -> Document | None:
        """The document at ``uri``: open (None when it looks like it holds secrets), else the
        file on disk (None when it is kept out of prompts)."""
        doc = self.documents.get(uri)
        if doc is not None:
            return None if self.guard.private(doc.path) else doc
        doc = self.documents.load(uri, self.settings.max_file_size)
        if doc is None or self._excluded_path(doc.path):
            return None
        return doc

    def _cursor(self, uri: str, offset: int) -> tuple[Cursor, _Root] | None:
        doc = self._document(uri)
        if doc is None or not self._roots:
            return None
        found = self._locate(doc.path)
        root, rel = found if found is not None else (self._roots[0], Path(doc.path).as_posix())
        text = doc.text
        tree = doc.tree
        summary = root.index.summary(rel) if uri in self._overlaid or \
            self.documents.get(uri) is None else None
        if summary is None and doc.spec is not None:
            if self.documents.get(uri) is not None and found is not None:
                summary = self._resummarize(uri, None)
            else:
                from offpilot.context import extract

                summary = extract.summarize(text, doc.spec, rel)
        offset = max(0, min(offset, len(text)))
        return Cursor(rel, text, offset, doc.spec, tree, summary,
                      self.settings.prefix_chars, self.settings.suffix_chars), root

    def retrieve(self, uri: str, offset: int, budget: int | None = None) -> Retrieval:
        """Context snippets for the cursor at ``offset`` (a str offset) of ``uri``."""
        t0 = time.perf_counter()
        budget = self.settings.context_budget if budget is None else budget
        found = self._cursor(uri, offset)
        snippets: list[Snippet] = []
        if found is not None and budget > 0:
            cur, root = found
            snippets = root.retriever.retrieve(cur, budget)
        ms = (time.perf_counter() - t0) * 1000
        with self._lock:
            self._latencies.append(ms)
            self._retrievals += 1
            self._last = [{"path": s.path, "lines": [s.start_line, s.end_line], "kind": s.kind}
                          for s in snippets]
        return Retrieval(snippets, ms)

    def context_for_range(self, uri: str, start_offset: int, end_offset: int,
                          budget: int | None = None) -> list[Snippet]:
        """Definitions of what ``text[start_offset:end_offset]`` calls or uses, from other
        places of the workspace (for Explain)."""
        budget = self.settings.context_budget if budget is None else budget
        start_offset, end_offset = sorted((start_offset, end_offset))
        found = self._cursor(uri, end_offset)
        if found is None or budget <= 0:
            return []
        cur, root = found
        if cur.tree is None or cur.spec is None:
            return []
        from offpilot.context import extract

        start_b = len(cur.text[:start_offset].encode("utf-8", "surrogatepass"))
        end_b = len(cur.text[:end_offset].encode("utf-8", "surrogatepass"))
        try:
            names = extract.calls_in_range(cur.tree, cur.spec, start_b, end_b)
        except Exception:
            log.debug("calls_in_range failed", exc_info=True)
            return []
        parts: list[str] = []
        for n in names:
            for p in n.replace("::", ".").replace("->", ".").split(".")[-1:]:
                if p and p not in parts:
                    parts.append(p)
        exclude = (cur.line_of(start_offset), cur.line_of(end_offset))
        return root.retriever.definitions_for(cur, parts, exclude, budget)

    # ------------------------------------------------------------- statistics
    def stats(self) -> dict[str, Any]:
        files = definitions = imports = 0
        last_refresh = 0.0
        for r in list(self._roots):
            s = r.index.stats()
            files += s.files
            definitions += s.definitions
            imports += s.imports
            last_refresh = max(last_refresh, r.index.last_refresh)
        with self._lock:
            latencies = list(self._latencies)
            last = list(self._last)
            retrievals = self._retrievals
        return {
            "ready": self.ready,
            "roots": [str(r) for r in self.roots],
            "files": files,
            "definitions": definitions,
            "imports": imports,
            "last_refresh": last_refresh,
            "build_seconds": round(self.build_seconds, 3),
            "retrievals": retrievals,
            "retrieval_ms_p50": round(statistics.median(latencies), 2) if latencies else None,
            "retrieval_ms_max": round(max(latencies), 2) if latencies else None,
            "watcher_batches": self._watcher.batches if self._watcher is not None else 0,
            "similar_chunks": len(self.ring),
            "last_retrieval": last,
            "databases": [str(r.index.db_path) for r in self._roots],
            "error": self.error,
        }
