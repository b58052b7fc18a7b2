"""The workspace index: definitions and imports of every source file under one root, in SQLite.

One database per workspace folder, under ``<user cache dir>/offpilot/index/<hash>.sqlite``
(``OFFPILOT_CACHE_DIR`` overrides the cache dir). Rows are keyed by ``(path, mtime_ns, size)``, so
a restart re-reads only the files that changed. Each batch of parsed files is written in one
transaction (WAL mode): a crash mid-build leaves the files written so far, and the rest are read
at the next refresh. A database that cannot be read (garbage bytes, a schema from another
version) is deleted and rebuilt.

One row per file: its definitions and imports are stored as compact JSON rows next to the
distinct definition names. The whole index is also kept in memory, in that compact form:
retrieval runs on every completion anchor and must not touch the disk, and a restart must not
spend its time building objects nobody asks for. A file's :class:`FileSummary` is built from its
rows when first asked for, the definitions called ``name`` when that name is first looked up
(name → files is a map built at load); both are cached until the file changes. Open documents
add an *overlay*: their summaries, from the unsaved text, hide the stored ones of the same path.

Which files: the source extensions of the language registry, minus what ``.gitignore`` files
(nested ones too, and ``.git/info/exclude``) and the default list (:data:`IGNORED_DIRS`) exclude,
files above ``max_file_size`` and binaries. Directory symlinks are not followed (no loops, no
files indexed twice). Files that look like they hold secrets, and file symlinks that resolve
outside the root, are never read (:mod:`offpilot.context.exclude`); a file that becomes excluded
is deleted from the database with SQLite's ``secure_delete`` (its bytes overwritten) and the
write-ahead log truncated, so no copy of it stays on disk.
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec

from offpilot.context.exclude import FileGuard
from offpilot.context.languages import for_path, grammars_dir, source_extensions
from offpilot.context.model import Definition, FileSummary, Import, IndexStats

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
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
    sources = [here / "extract.py", here / "symbols.py", here / "model.py",
               here / "languages.py"]
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


def admitted(guard: FileGuard, rel: str, path: str, is_link: bool) -> bool:
    """Whether the file ``rel`` (at ``path``) may be read: not secret-like by its name, and for
    a symlink, a target inside the root that is not secret-like either."""
    if guard.matches(rel):
        return False
    if not is_link:
        return True
    real = os.path.realpath(path)
    if not guard.inside(real):
        return False
    return not guard.matches(guard.relative(real))


def scan(root: Path, rules: IgnoreRules, max_size: int, guard: FileGuard | None = None
         ) -> tuple[dict[str, tuple[int, int]], int]:
    """Source files under ``root``: ``{relative path: (mtime_ns, size)}`` and a skipped count.
    Files ``guard`` does not admit (:func:`admitted`) are left out like ignored ones."""
    guard = guard if guard is not None else FileGuard([root])
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
                if rules.ignored_entry(child, False) or \
                        not admitted(guard, child, entry.path, entry.is_symlink()):
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


# ----------------------------------------------------------------------------- stored form
@dataclass(frozen=True, slots=True)
class StoredFile:
    """One file's summary as stored: JSON rows, turned into objects on demand."""

    language: str
    package: str
    errors: bool
    names: tuple[str, ...]  # distinct definition names, in order of first appearance
    definitions: str  # [[name, kind, start, end, signature, doc, parent, signature_end], ...]
    imports: str  # [[module, [[name, alias], ...], alias, level, line, wildcard], ...]
    n_definitions: int
    n_imports: int


def _dumps(rows: object) -> str:
    return json.dumps(rows, separators=(",", ":"))


def encode_summary(summary: FileSummary) -> StoredFile:
    return StoredFile(
        language=summary.language, package=summary.package, errors=summary.errors,
        names=tuple(dict.fromkeys(d.name for d in summary.definitions)),
        definitions=_dumps([[d.name, d.kind, d.start_line, d.end_line, d.signature, d.doc,
                             d.parent, d.signature_end_line] for d in summary.definitions]),
        imports=_dumps([[i.module, i.names, i.alias, i.level, i.line, i.wildcard]
                        for i in summary.imports]),
        n_definitions=len(summary.definitions), n_imports=len(summary.imports))


def _definition(path: str, row: list[Any]) -> Definition:
    return Definition(row[0], row[1], path, row[2], row[3], row[4], row[5], row[6], row[7])


_DECODER = json.JSONDecoder()


def _rows_named(definitions: str, name: str) -> list[list[Any]]:
    """The rows of ``definitions`` (a :attr:`StoredFile.definitions`) called ``name``, without
    decoding the others. ``["name",`` can only occur where such a row starts: inside a JSON
    string every quote is escaped."""
    needle = "[" + json.dumps(name) + ","
    rows: list[list[Any]] = []
    at = definitions.find(needle)
    while at != -1:
        row, end = _DECODER.raw_decode(definitions, at)
        if isinstance(row, list) and row and row[0] == name:
            rows.append(row)
        at = definitions.find(needle, end)
    return rows


def decode_summary(path: str, stored: StoredFile) -> FileSummary:
    """The summary ``stored`` holds (ValueError, TypeError, IndexError when it is damaged)."""
    return FileSummary(
        path=path, language=stored.language,
        definitions=tuple(_definition(path, r) for r in json.loads(stored.definitions)),
        imports=tuple(Import(module=r[0], names=tuple(tuple(n) for n in r[1]), alias=r[2],
                             level=r[3], line=r[4], wildcard=bool(r[5]))
                      for r in json.loads(stored.imports)),
        package=stored.package, errors=stored.errors)


# ----------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class Parsed:
    path: str
    mtime_ns: int
    size: int
    # summary and stored both None: skipped (binary, unreadable, too large, failed); worker
    # processes send only the stored form (cheaper to pass back than the objects)
    summary: FileSummary | None
    status: str  # ok | binary | large | unreadable | error
    stored: StoredFile | None = None

    def stored_form(self) -> StoredFile | None:
        if self.stored is not None:
            return self.stored
        return encode_summary(self.summary) if self.summary is not None else None


def _open_no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))


def summarize_file(root: str, rel: str, max_size: int) -> Parsed:
    """Read and summarize one file (runs in worker processes too). A symlink is read only when
    it resolves inside ``root``; a regular file is opened without following a link that took
    its place since the scan."""
    from offpilot.context import extract

    path = os.path.join(root, rel)
    try:
        if os.path.islink(path):
            real = os.path.realpath(path)
            if not FileGuard([root]).inside(real):
                return Parsed(rel, 0, 0, None, "unreadable")
            path = real
        st = os.stat(path)
        if st.st_size > max_size:
            return Parsed(rel, st.st_mtime_ns, st.st_size, None, "large")
        with open(path, "rb", opener=_open_no_follow) as f:
            data = f.read(max_size + 1)
    except OSError:
        return Parsed(rel, 0, 0, None, "unreadable")
    if len(data) > max_size:
        return Parsed(rel, st.st_mtime_ns, st.st_size, None, "large")
    if b"\0" in data[:SNIFF_BYTES]:
        return Parsed(rel, st.st_mtime_ns, st.st_size, None, "binary")
    spec = for_path(rel, data)
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


def summarize_batch_stored(root: str, rels: list[str], max_size: int) -> list[Parsed]:
    """:func:`summarize_batch` for worker processes: summaries in their stored form only."""
    out = []
    for p in summarize_batch(root, rels, max_size):
        if p.summary is not None:
            p = Parsed(p.path, p.mtime_ns, p.size, None, p.status, encode_summary(p.summary))
        out.append(p)
    return out


# ----------------------------------------------------------------------------- the index
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,
    status TEXT NOT NULL, language TEXT NOT NULL, package TEXT NOT NULL, errors INTEGER NOT NULL,
    names TEXT NOT NULL, definitions TEXT NOT NULL, imports TEXT NOT NULL,
    n_definitions INTEGER NOT NULL, n_imports INTEGER NOT NULL);
"""
_COLUMNS = ("path, mtime_ns, size, status, language, package, errors, names, definitions, "
            "imports, n_definitions, n_imports")


class Index:
    """Definitions and imports of the source files under one root (see the module doc)."""

    def __init__(self, root: Path, *, max_file_size: int = 1_000_000,
                 db_path: Path | None = None, exclude: Sequence[str] = ()) -> None:
        self.root = root.resolve()
        self.max_file_size = max_file_size
        self.guard = FileGuard([self.root], exclude)
        self.db_path = db_path or database_path(self.root)
        self.rules = IgnoreRules(self.root)
        self.generation = 0  # bumped on every change, for caches built on top
        # bumped only when the set of files changes (added, removed, an overlay of a path not
        # on disk) or project files may have (a full refresh): for caches of the layout
        self.files_generation = 0
        self.last_refresh: float = 0.0  # time.time() of the last completed refresh
        self.last_stats = IndexStats()
        self.parse_count = 0  # files parsed since this object was created
        self.rebuilt = False  # the database was unreadable and has been recreated
        self._lock = threading.RLock()  # writers (database and memory)
        # Readers take no lock. Writers replace or mutate containers in single steps; what
        # readers cache is checked against _mem_generation under _mem_lock before it is kept.
        self._mem_lock = threading.Lock()
        self._mem_generation = 0  # bumped by every change of the stored files in memory
        self._signatures: dict[str, tuple[int, int]] = {}  # every scanned file, parsed or not
        self._stored: dict[str, StoredFile] = {}  # files with a summary, compact
        self._decoded: dict[str, tuple[StoredFile, FileSummary]] = {}  # built on demand
        self._name_files: dict[str, list[str]] = {}  # definition name -> files defining it
        self._by_name: dict[str, tuple[Definition, ...]] = {}  # built on demand
        self._bad: set[str] = set()  # stored rows that could not be decoded: parse again
        self._n_definitions = 0
        self._n_imports = 0
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
            db.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not left
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
        signatures: dict[str, tuple[int, int]] = {}
        stored: dict[str, StoredFile] = {}
        try:
            for (path, mtime_ns, size, status, language, package, errors, names, definitions,
                 imports, n_definitions, n_imports) in db.execute(
                    f"SELECT {_COLUMNS} FROM files ORDER BY rowid"):
                signatures[path] = (mtime_ns, size)
                if status == "ok":
                    decoded_names = json.loads(names)
                    if not isinstance(decoded_names, list) or not all(
                            isinstance(n, str) for n in decoded_names):
                        raise ValueError(f"bad names of {path}")
                    stored[path] = StoredFile(language, package, bool(errors),
                                              tuple(decoded_names), definitions, imports,
                                              int(n_definitions), int(n_imports))
        except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
            log.warning("index database %s is unreadable (%s); rebuilding", self.db_path, exc)
            self._reset_db()
            return
        with self._lock:
            self._signatures = signatures
            self._stored = stored
            self._rebuild_maps()

    def _reset_db(self) -> None:
        with self._lock:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
            self._delete_db_files()
            self.rebuilt = True
            self._db = self._connect()
            self._signatures = {}
            self._stored = {}
            self._rebuild_maps()

    def set_exclude(self, exclude: Sequence[str]) -> None:
        """New extra exclusion patterns; files they exclude go at the next refresh."""
        self.guard = FileGuard([self.root], exclude)

    def _truncate_wal(self) -> None:
        with self._lock:
            if self._db is not None:
                try:
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:
                    log.debug("WAL checkpoint failed: %s", exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                self._db = None

    # ------------------------------------------------------------- in-memory maps
    def _rebuild_maps(self) -> None:
        name_files: dict[str, list[str]] = {}
        n_definitions = n_imports = 0
        for path, s in self._stored.items():
            for name in s.names:
                files = name_files.get(name)
                if files is None:
                    name_files[name] = [path]
                else:
                    files.append(path)
            n_definitions += s.n_definitions
            n_imports += s.n_imports
        by_dir: dict[str, set[str]] = {}
        by_base: dict[str, set[str]] = {}
        for path in self._signatures:
            folder, _, base = path.rpartition("/")
            by_dir.setdefault(folder, set()).add(path)
            by_base.setdefault(base, set()).add(path)
        with self._mem_lock:
            self._name_files = name_files
            self._by_name = {}
            self._decoded = {}
            self._bad = set()
            self._n_definitions, self._n_imports = n_definitions, n_imports
            self._by_dir = {k: frozenset(v) for k, v in by_dir.items()}
            self._by_basename = {k: frozenset(v) for k, v in by_base.items()}
            self._mem_generation += 1
        self.generation += 1
        self.files_generation += 1

    def _apply(self, parsed: list[Parsed], removed: Iterable[str]) -> None:
        """Write parsed files and removals in one transaction, then update memory."""
        removed = list(removed)
        forms = [p.stored_form() for p in parsed]
        with self._lock:
            db = self._db
            if db is None:
                return
            try:
                with _transaction(db):
                    db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in removed])
                    db.executemany(
                        "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", [
                            (p.path, p.mtime_ns, p.size, p.status,
                             s.language if s else "", s.package if s else "",
                             int(s.errors) if s else 0, _dumps(s.names) if s else "[]",
                             s.definitions if s else "[]", s.imports if s else "[]",
                             s.n_definitions if s else 0, s.n_imports if s else 0)
                            for p, s in zip(parsed, forms, strict=True)])
            except sqlite3.DatabaseError as exc:
                log.warning("index database write failed (%s); rebuilding it", exc)
                self._reset_db()
                return
            files_changed = False
            with self._mem_lock:
                for path in removed:
                    if self._signatures.pop(path, None) is not None:
                        self._forget_path(path)
                        files_changed = True
                    self._unstore(path)
                for p, s in zip(parsed, forms, strict=True):
                    if p.path not in self._signatures:
                        self._remember_path(p.path)
                        files_changed = True
                    self._signatures[p.path] = (p.mtime_ns, p.size)
                    self._unstore(p.path)
                    if s is not None:
                        self._store(p.path, s, p.summary)
                self._mem_generation += 1
            self.parse_count += len(parsed)
            self.generation += 1
            if files_changed:
                self.files_generation += 1

    def _store(self, path: str, s: StoredFile, summary: FileSummary | None) -> None:
        """Memory maps gain ``path``'s stored summary (``_mem_lock`` held)."""
        self._stored[path] = s
        if summary is not None:
            self._decoded[path] = (s, summary)
        for name in s.names:
            files = self._name_files.get(name)
            if files is None:
                self._name_files[name] = [path]
            else:
                files.append(path)
            self._by_name.pop(name, None)
        self._n_definitions += s.n_definitions
        self._n_imports += s.n_imports

    def _unstore(self, path: str) -> None:
        """Memory maps lose ``path``'s stored summary, if any (``_mem_lock`` held)."""
        self._decoded.pop(path, None)
        self._bad.discard(path)
        s = self._stored.pop(path, None)
        if s is None:
            return
        for name in s.names:
            files = self._name_files.get(name)
            if files is not None:
                with contextlib.suppress(ValueError):
                    files.remove(path)
                if not files:
                    del self._name_files[name]
            self._by_name.pop(name, None)
        self._n_definitions -= s.n_definitions
        self._n_imports -= s.n_imports

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
        files, skipped = scan(self.root, self.rules, self.max_file_size, self.guard)
        self._configs.clear()
        self.files_generation += 1  # project files (go.mod, tsconfig.json…) are read again
        with self._lock:
            known = dict(self._signatures)
            bad = set(self._bad)
        removed = [p for p in known if p not in files]
        changed = sorted(p for p, sig in files.items() if known.get(p) != sig or p in bad)
        if removed:
            self._apply([], removed)
            self._truncate_wal()  # no old copy of a removed file's rows left in the log
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
            futures = [pool.submit(summarize_batch_stored, root, rels[i:i + size],
                                   self.max_file_size)
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
                      and st.st_size <= self.max_file_size and not self.rules.ignored(rel)
                      and self.guard.inside(full)
                      and admitted(self.guard, rel, str(full), full.is_symlink()))
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
                    if rel not in self._signatures:
                        self.files_generation += 1
                return
            if rel not in self._overlay and rel not in self._signatures:
                self.files_generation += 1
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
        found = self._overlay.get(rel)
        if found is not None:
            return found
        stored = self._stored.get(rel)
        if stored is None:
            return None
        decoded = self._decoded.get(rel)
        if decoded is not None and decoded[0] is stored:
            return decoded[1]
        try:
            summary = decode_summary(rel, stored)
        except (ValueError, TypeError, IndexError):
            log.warning("stored summary of %s is damaged; it is parsed again at the next "
                        "refresh", rel)
            self._bad.add(rel)
            return None
        with self._mem_lock:
            if self._stored.get(rel) is stored:  # else it changed meanwhile: do not keep it
                self._decoded[rel] = (stored, summary)
        return summary

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
                if path.is_file() and path.stat().st_size <= 1_000_000 \
                and not self.guard.excluded(path) else None
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
        found = [d for d in self._stored_definitions(name) if d.path not in overlay]
        for summary in list(overlay.values()):
            found += [d for d in summary.definitions if d.name == name]
        return found

    def _stored_definitions(self, name: str) -> tuple[Definition, ...]:
        """The stored files' definitions called ``name``, in file order (built once per name
        and kept until a file defining it changes)."""
        cached = self._by_name.get(name)
        if cached is not None:
            return cached
        generation = self._mem_generation
        found: list[Definition] = []
        for path in tuple(self._name_files.get(name, ())):
            stored = self._stored.get(path)
            if stored is None:
                continue
            decoded = self._decoded.get(path)
            if decoded is not None and decoded[0] is stored:
                found += [d for d in decoded[1].definitions if d.name == name]
                continue
            try:  # only this name's rows are decoded; the file's summary waits
                found += [_definition(path, r) for r in _rows_named(stored.definitions, name)]
            except (ValueError, TypeError, IndexError):
                log.warning("stored summary of %s is damaged; it is parsed again at the next "
                            "refresh", path)
                self._bad.add(path)
        result = tuple(found)
        with self._mem_lock:
            if self._mem_generation == generation:
                self._by_name[name] = result
        return result

    def _stats(self, *, parsed: int, skipped: int, seconds: float) -> IndexStats:
        with self._mem_lock:
            return IndexStats(
                files=len(self._signatures), definitions=self._n_definitions,
                imports=self._n_imports, parsed=parsed, skipped=skipped, seconds=seconds)

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
