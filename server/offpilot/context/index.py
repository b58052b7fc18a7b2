"""The workspace index: definitions and imports of every source file under one root, in SQLite.

One database per workspace folder, under ``<user cache dir>/offpilot/index/<hash>.sqlite``
(``OFFPILOT_CACHE_DIR`` overrides the cache dir). Rows are keyed by ``(path, mtime_ns, size)``, so
a restart re-reads only the files that changed. Each batch of parsed files is written in one
transaction (WAL mode): a crash mid-build leaves the files written so far, and the rest are read
at the next refresh. A database that cannot be read (garbage bytes, a schema from another
version) is deleted and rebuilt.

The whole index is also kept in memory (summaries by path, definitions by name): retrieval runs
on every completion anchor and must not touch the disk. Open documents add an *overlay*: their
summaries, from the unsaved text, hide the stored ones of the same path.

Which files: the source extensions of the language registry, minus what ``.gitignore`` files
(nested ones too, and ``.git/info/exclude``) and the default list (:data:`IGNORED_DIRS`) exclude,
files above ``max_file_size`` and binaries. Directory symlinks are not followed (no loops, no
files indexed twice).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pathspec

from offpilot.context.languages import for_path, grammars_dir, source_extensions
from offpilot.context.model import Definition, FileSummary, Import, IndexStats

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# Directories never indexed, whatever the .gitignore files say.
IGNORED_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", "build", "dist",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox",
})
SNIFF_BYTES = 8192  # a NUL byte in the first 8 KiB marks a binary file
PARALLEL_MIN_FILES = 48  # fewer changed files than this are parsed in-process
BATCH_FILES = 32

ProgressCallback = Callable[[str, float | None], None]


def cache_dir() -> Path:
    override = os.environ.get("OFFPILOT_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("offpilot"))


def database_path(root: Path) -> Path:
    key = hashlib.sha256(str(root.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return cache_dir() / "index" / f"{key}.sqlite"


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def extractor_fingerprint() -> str:
    """Changes when the queries or the extraction code change: stored summaries are then stale."""
    h = hashlib.sha256(str(SCHEMA_VERSION).encode())
    here = Path(__file__).resolve().parent
    sources = [here / "extract.py", here / "symbols.py", here / "model.py"]
    folder = grammars_dir()
    if folder.is_dir():
        sources += sorted(folder.rglob("*.scm"))
    for path in sources:
        try:
            h.update(path.name.encode())
            h.update(path.read_bytes())
        except OSError:
            continue
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- ignore rules
class IgnoreRules:
    """``.gitignore`` semantics for one root: every directory's file applies below it, the
    deepest match decides, an ignored directory hides everything inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._specs.clear()

    def _spec(self, rel_dir: str) -> pathspec.GitIgnoreSpec | None:
        try:
            return self._specs[rel_dir]
        except KeyError:
            pass
        folder = self.root / rel_dir if rel_dir else self.root
        lines: list[str] = []
        sources = [folder / ".gitignore"]
        if not rel_dir:
            sources.append(self.root / ".git" / "info" / "exclude")
        for source in sources:
            try:
                lines += source.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
        spec = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        with self._lock:
            self._specs[rel_dir] = spec
        return spec

    def _matches(self, parts: list[str], is_dir: bool) -> bool:
        ignored = False
        for i in range(len(parts)):
            spec = self._spec("/".join(parts[:i]))
            if spec is None:
                continue
            sub = "/".join(parts[i:]) + ("/" if is_dir else "")
            result = spec.check_file(sub)
            if result.include is not None:
                ignored = bool(result.include)
        return ignored

    def ignored_entry(self, rel: str, is_dir: bool) -> bool:
        """Whether ``rel`` is ignored, its parent directories being known not to be."""
        parts = rel.split("/")
        if is_dir and parts[-1] in IGNORED_DIRS:
            return True
        return self._matches(parts, is_dir)

    def ignored(self, rel: str, is_dir: bool = False) -> bool:
        """Whether ``rel`` or any directory above it is ignored (for single paths from events)."""
        parts = rel.split("/")
        if any(p in IGNORED_DIRS for p in parts[:-1]):
            return True
        return any(self.ignored_entry("/".join(parts[:i]), True) for i in range(1, len(parts))) \
            or self.ignored_entry(rel, is_dir)


def is_source_name(name: str) -> bool:
    suffix = os.path.splitext(name)[1].lower()
    return suffix in source_extensions()


def scan(root: Path, rules: IgnoreRules, max_size: int) -> tuple[dict[str, tuple[int, int]], int]:
    """Source files under ``root``: ``{relative path: (mtime_ns, size)}`` and a skipped count."""
    files: dict[str, tuple[int, int]] = {}
    skipped = 0
    seen: set[str] = set()
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        folder, rel = stack.pop()
        try:
            real = os.path.realpath(folder)
            if real in seen:
                continue
            seen.add(real)
            entries = list(os.scandir(folder))
        except OSError:
            skipped += 1
            continue
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not rules.ignored_entry(child, True):
                        stack.append((entry.path, child))
                    continue
                if not is_source_name(entry.name) or not entry.is_file():
                    continue
                if rules.ignored_entry(child, False):
                    continue
                st = entry.stat()
            except OSError:
                skipped += 1
                continue
            if st.st_size > max_size:
                skipped += 1
                continue
            files[child] = (st.st_mtime_ns, st.st_size)
    return files, skipped


# ----------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class Parsed:
    path: str
    mtime_ns: int
    size: int
    summary: FileSummary | None  # None: skipped (binary, unreadable, too large, failed)
    status: str  # ok | binary | large | unreadable | error


def summarize_file(root: str, rel: str, max_size: int) -> Parsed:
    """Read and summarize one file (runs in worker processes too)."""
    from offpilot.context import extract

    path = os.path.join(root, rel)
    try:
        st = os.stat(path)
        if st.st_size > max_size:
            return Parsed(rel, st.st_mtime_ns, st.st_size, None, "large")
        with open(path, "rb") as f:
            data = f.read(max_size + 1)
    except OSError:
        return Parsed(rel, 0, 0, None, "unreadable")
    if len(data) > max_size:
        return Parsed(rel, st.st_mtime_ns, st.st_size, None, "large")
    if b"\0" in data[:SNIFF_BYTES]:
        return Parsed(rel, st.st_mtime_ns, st.st_size, None, "binary")
    spec = for_path(rel)
    if spec is None:
        return Parsed(rel, st.st_mtime_ns, st.st_size, None, "error")
    try:
        summary = extract.summarize(data.decode("utf-8", errors="replace"), spec, rel)
    except Exception:  # one odd file must not stop the build
        log.warning("cannot summarize %s", rel, exc_info=True)
        return Parsed(rel, st.st_mtime_ns, st.st_size, None, "error")
    return Parsed(rel, st.st_mtime_ns, st.st_size, summary, "ok")


def summarize_batch(root: str, rels: list[str], max_size: int) -> list[Parsed]:
    return [summarize_file(root, rel, max_size) for rel in rels]


# ----------------------------------------------------------------------------- the index
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,
    status TEXT NOT NULL, language TEXT NOT NULL, package TEXT NOT NULL, errors INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS definitions (
    path TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL, signature TEXT NOT NULL, doc TEXT NOT NULL, parent TEXT NOT NULL,
    signature_end_line INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS definitions_path ON definitions (path);
CREATE TABLE IF NOT EXISTS imports (
    path TEXT NOT NULL, module TEXT NOT NULL, names TEXT NOT NULL, alias TEXT NOT NULL,
    level INTEGER NOT NULL, line INTEGER NOT NULL, wildcard INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS imports_path ON imports (path);
"""


class Index:
    """Definitions and imports of the source files under one root (see the module doc)."""

    def __init__(self, root: Path, *, max_file_size: int = 1_000_000,
                 db_path: Path | None = None) -> None:
        self.root = root.resolve()
        self.max_file_size = max_file_size
        self.db_path = db_path or database_path(self.root)
        self.rules = IgnoreRules(self.root)
        self.generation = 0  # bumped on every change, for caches built on top
        self.last_refresh: float = 0.0  # time.time() of the last completed refresh
        self.last_stats = IndexStats()
        self.parse_count = 0  # files parsed since this object was created
        self.rebuilt = False  # the database was unreadable and has been recreated
        self._lock = threading.RLock()
        self._signatures: dict[str, tuple[int, int]] = {}  # every scanned file, parsed or not
        self._summaries: dict[str, FileSummary] = {}
        self._by_name: dict[str, tuple[Definition, ...]] = {}
        self._by_dir: dict[str, frozenset[str]] = {}
        self._by_basename: dict[str, frozenset[str]] = {}
        self._overlay: dict[str, FileSummary] = {}
        self._configs: dict[str, str | None] = {}
        self._db: sqlite3.Connection | None = None
        self._open_db()
        self._load()

    # ------------------------------------------------------------- database
    def _connect(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            row = db.execute("PRAGMA quick_check").fetchone()
            if not row or row[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {row}")
            db.executescript(_SCHEMA)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            fingerprint = extractor_fingerprint()
            if meta.get("root") not in (None, str(self.root)):
                raise sqlite3.DatabaseError("database of another root")
            if meta.get("schema") not in (None, str(SCHEMA_VERSION)):
                raise sqlite3.DatabaseError("old schema")
            if meta.get("extractor") != fingerprint:
                # the queries changed since these rows were written: parse everything again
                with _transaction(db):
                    db.execute("DELETE FROM files")
                    db.execute("DELETE FROM definitions")
                    db.execute("DELETE FROM imports")
                    db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
                        ("root", str(self.root)), ("schema", str(SCHEMA_VERSION)),
                        ("extractor", fingerprint)])
        except BaseException:
            db.close()
            raise
        return db

    def _open_db(self) -> None:
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            log.warning("index database %s is unusable (%s); rebuilding", self.db_path, exc)
            self._delete_db_files()
            self.rebuilt = True
            self._db = self._connect()

    def _delete_db_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.db_path}{suffix}")

    def _load(self) -> None:
        db = self._db
        assert db is not None
        try:
            files = db.execute(
                "SELECT path, mtime_ns, size, status, language, package, errors FROM files"
            ).fetchall()
            defs: dict[str, list[Definition]] = {}
            for row in db.execute(
                    "SELECT path, name, kind, start_line, end_line, signature, doc, parent, "
                    "signature_end_line FROM definitions ORDER BY rowid"):
                defs.setdefault(row[0], []).append(Definition(
                    name=row[1], kind=row[2], path=row[0], start_line=row[3], end_line=row[4],
                    signature=row[5], doc=row[6], parent=row[7], signature_end_line=row[8]))
            imps: dict[str, list[Import]] = {}
            for row in db.execute("SELECT path, module, names, alias, level, line, wildcard "
                                  "FROM imports ORDER BY rowid"):
                imps.setdefault(row[0], []).append(Import(
                    module=row[1], names=tuple(tuple(n) for n in json.loads(row[2])),
                    alias=row[3], level=row[4], line=row[5], wildcard=bool(row[6])))
        except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
            log.warning("index database %s is unreadable (%s); rebuilding", self.db_path, exc)
            self._reset_db()
            return
        with self._lock:
            for path, mtime_ns, size, status, language, package, errors in files:
                self._signatures[path] = (mtime_ns, size)
                if status == "ok":
                    self._summaries[path] = FileSummary(
                        path=path, language=language, definitions=tuple(defs.get(path, ())),
                        imports=tuple(imps.get(path, ())), package=package, errors=bool(errors))
            self._rebuild_maps()

    def _reset_db(self) -> None:
        with self._lock:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
            self._delete_db_files()
            self.rebuilt = True
            self._db = self._connect()
            self._signatures.clear()
            self._summaries.clear()
            self._rebuild_maps()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                self._db = None

    # ------------------------------------------------------------- in-memory maps
    def _rebuild_maps(self) -> None:
        by_name: dict[str, list[Definition]] = {}
        for summary in self._summaries.values():
            for d in summary.definitions:
                by_name.setdefault(d.name, []).append(d)
        self._by_name = {k: tuple(v) for k, v in by_name.items()}
        by_dir: dict[str, set[str]] = {}
        by_base: dict[str, set[str]] = {}
        for path in self._signatures:
            folder, _, base = path.rpartition("/")
            by_dir.setdefault(folder, set()).add(path)
            by_base.setdefault(base, set()).add(path)
        self._by_dir = {k: frozenset(v) for k, v in by_dir.items()}
        self._by_basename = {k: frozenset(v) for k, v in by_base.items()}
        self.generation += 1

    def _apply(self, parsed: list[Parsed], removed: Iterable[str]) -> None:
        """Write parsed files and removals in one transaction, then update memory."""
        removed = list(removed)
        with self._lock:
            db = self._db
            if db is None:
                return
            try:
                with _transaction(db):
                    for path in [*removed, *(p.path for p in parsed)]:
                        db.execute("DELETE FROM files WHERE path = ?", (path,))
                        db.execute("DELETE FROM definitions WHERE path = ?", (path,))
                        db.execute("DELETE FROM imports WHERE path = ?", (path,))
                    for p in parsed:
                        s = p.summary
                        db.execute("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", (
                            p.path, p.mtime_ns, p.size, p.status, s.language if s else "",
                            s.package if s else "", int(s.errors) if s else 0))
                        if s is None:
                            continue
                        db.executemany("INSERT INTO definitions VALUES (?,?,?,?,?,?,?,?,?)", [
                            (p.path, d.name, d.kind, d.start_line, d.end_line, d.signature,
                             d.doc, d.parent, d.signature_end_line) for d in s.definitions])
                        db.executemany("INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?)", [
                            (p.path, i.module, json.dumps(i.names), i.alias, i.level, i.line,
                             int(i.wildcard)) for i in s.imports])
            except sqlite3.DatabaseError as exc:
                log.warning("index database write failed (%s); rebuilding it", exc)
                self._reset_db()
                return
            changed_names: set[str] = set()
            for path in removed:
                if self._signatures.pop(path, None) is not None:
                    self._forget_path(path)
                old = self._summaries.pop(path, None)
                if old is not None:
                    changed_names.update(d.name for d in old.definitions)
            added: dict[str, list[Definition]] = {}
            for p in parsed:
                if p.path not in self._signatures:
                    self._remember_path(p.path)
                self._signatures[p.path] = (p.mtime_ns, p.size)
                old = self._summaries.pop(p.path, None)
                if old is not None:
                    changed_names.update(d.name for d in old.definitions)
                if p.summary is not None:
                    self._summaries[p.path] = p.summary
                    for d in p.summary.definitions:
                        added.setdefault(d.name, []).append(d)
            changed_names.update(added)
            self.parse_count += len(parsed)
            touched = {p.path for p in parsed} | set(removed)
            for name in changed_names:
                kept = [d for d in self._by_name.get(name, ()) if d.path not in touched]
                kept += added.get(name, ())
                if kept:
                    self._by_name[name] = tuple(kept)
                else:
                    self._by_name.pop(name, None)
            self.generation += 1

    def _remember_path(self, path: str) -> None:
        folder, _, base = path.rpartition("/")
        self._by_dir[folder] = self._by_dir.get(folder, frozenset()) | {path}
        self._by_basename[base] = self._by_basename.get(base, frozenset()) | {path}

    def _forget_path(self, path: str) -> None:
        folder, _, base = path.rpartition("/")
        for table, key in ((self._by_dir, folder), (self._by_basename, base)):
            rest = table.get(key, frozenset()) - {path}
            if rest:
                table[key] = rest
            else:
                table.pop(key, None)

    # ------------------------------------------------------------- building
    def refresh(self, on_progress: ProgressCallback | None = None,
                workers: int | None = None) -> IndexStats:
        """Scan the root and (re)parse what changed since the last refresh; remove the rest."""
        t0 = time.perf_counter()
        if self._db is None:
            return self.last_stats
        files, skipped = scan(self.root, self.rules, self.max_file_size)
        self._configs.clear()
        with self._lock:
            known = dict(self._signatures)
        removed = [p for p in known if p not in files]
        changed = sorted(p for p, sig in files.items() if known.get(p) != sig)
        if removed:
            self._apply([], removed)
        parsed = self._parse(changed, on_progress, workers)
        skipped += sum(1 for p in parsed if p.status != "ok")
        self.last_refresh = time.time()
        self.last_stats = self._stats(parsed=len(parsed), skipped=skipped,
                                      seconds=time.perf_counter() - t0)
        return self.last_stats

    def _parse(self, rels: list[str], on_progress: ProgressCallback | None,
               workers: int | None) -> list[Parsed]:
        total = len(rels)
        if not total:
            return []
        workers = workers if workers is not None else available_cpus()
        out: list[Parsed] = []
        root = str(self.root)

        def report() -> None:
            if on_progress is not None:
                on_progress(f"{len(out)}/{total} files", len(out) / total)

        if workers <= 1 or total < PARALLEL_MIN_FILES:
            for start in range(0, total, BATCH_FILES):
                batch = summarize_batch(root, rels[start:start + BATCH_FILES], self.max_file_size)
                self._apply(batch, ())
                out += batch
                report()
            return out
        size = max(4, min(BATCH_FILES, total // (workers * 4) or 1))
        ctx = multiprocessing.get_context("spawn")  # fork is unsafe in a threaded server
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(summarize_batch, root, rels[i:i + size], self.max_file_size)
                       for i in range(0, total, size)]
            for future in concurrent.futures.as_completed(futures):
                try:
                    batch = future.result()
                except Exception:  # a crashed worker: parse that batch here instead
                    log.warning("index worker failed", exc_info=True)
                    continue
                self._apply(batch, ())
                out += batch
                report()
        done = {p.path for p in out}
        missing = [p for p in rels if p not in done]
        if missing:
            batch = summarize_batch(root, missing, self.max_file_size)
            self._apply(batch, ())
            out += batch
        return out

    def update_paths(self, paths: Iterable[Path | str]) -> IndexStats:
        """Re-index files that changed on disk (watcher events); absent or ignored ones go."""
        t0 = time.perf_counter()
        removed: list[str] = []
        changed: list[str] = []
        for path in paths:
            rel = self.relative(path)
            if rel is None:
                continue
            full = self.root / rel
            try:
                st = full.stat()
                ok = (full.is_file() and is_source_name(full.name)
                      and st.st_size <= self.max_file_size and not self.rules.ignored(rel))
            except OSError:
                ok = False
            with self._lock:
                known = self._signatures.get(rel)
            if not ok:
                if known is not None:
                    removed.append(rel)
            elif known != (st.st_mtime_ns, st.st_size):
                changed.append(rel)
        if removed:
            self._apply([], removed)
        parsed = self._parse(sorted(set(changed)), None, None)
        self.last_refresh = time.time()
        return self._stats(parsed=len(parsed), skipped=0, seconds=time.perf_counter() - t0)

    # ------------------------------------------------------------- overlay (open documents)
    def set_overlay(self, rel: str, summary: FileSummary | None) -> None:
        """The summary of an open document's current text (None: back to the stored one)."""
        with self._lock:
            if summary is None:
                if self._overlay.pop(rel, None) is not None:
                    self.generation += 1
                return
            self._overlay[rel] = summary
            self.generation += 1

    # ------------------------------------------------------------- queries
    def relative(self, path: Path | str) -> str | None:
        """``path`` relative to the root with forward slashes, or None when outside it."""
        p = Path(path)
        if not p.is_absolute():
            return p.as_posix()
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            try:
                return p.resolve().relative_to(self.root).as_posix()
            except (ValueError, OSError):
                return None

    def summary(self, rel: str) -> FileSummary | None:
        return self._overlay.get(rel) or self._summaries.get(rel)

    def has(self, rel: str) -> bool:
        return rel in self._signatures or rel in self._overlay

    def paths(self) -> list[str]:
        return sorted(set(self._signatures) | set(self._overlay))

    def files_in_dir(self, rel_dir: str) -> frozenset[str]:
        return self._by_dir.get(rel_dir, frozenset())

    def dirs(self) -> list[str]:
        return list(self._by_dir)

    def read_config(self, rel: str) -> str | None:
        """Text of a small project file (``go.mod``, ``tsconfig.json``…), None when absent."""
        try:
            return self._configs[rel]
        except KeyError:
            pass
        try:
            path = self.root / rel
            text = path.read_text(encoding="utf-8", errors="replace") \
                if path.is_file() and path.stat().st_size <= 1_000_000 else None
        except OSError:
            text = None
        if len(self._configs) > 10_000:
            self._configs.clear()
        self._configs[rel] = text
        return text

    def files_named(self, basename: str) -> frozenset[str]:
        return self._by_basename.get(basename, frozenset())

    def definitions(self, name: str) -> list[Definition]:
        """Definitions called ``name`` anywhere under the root (open documents' text first)."""
        overlay = self._overlay
        found = [d for d in self._by_name.get(name, ()) if d.path not in overlay]
        for summary in list(overlay.values()):
            found += [d for d in summary.definitions if d.name == name]
        return found

    def _stats(self, *, parsed: int, skipped: int, seconds: float) -> IndexStats:
        with self._lock:
            return IndexStats(
                files=len(self._signatures),
                definitions=sum(len(s.definitions) for s in self._summaries.values()),
                imports=sum(len(s.imports) for s in self._summaries.values()),
                parsed=parsed, skipped=skipped, seconds=seconds)

    def stats(self) -> IndexStats:
        return self._stats(parsed=self.last_stats.parsed, skipped=self.last_stats.skipped,
                           seconds=self.last_stats.seconds)


class _transaction:
    """``with _transaction(db):`` — BEGIN/COMMIT, ROLLBACK on error (autocommit connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
