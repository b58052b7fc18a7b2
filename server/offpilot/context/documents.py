"""Open documents: their text, LSP position conversion and an incrementally re-parsed tree.

Offsets inside Offpilot are indexes into the Python ``str`` (code points). LSP positions count
characters in the negotiated encoding: UTF-16 code units by default, UTF-8 bytes or UTF-32 code
points when the client offered them. Out-of-range positions are clamped, never an error: an
editor that is one keystroke ahead must not crash anything.

Each change is applied to the tree with ``Tree.edit`` at once (cheap); the re-parse that reuses
the old tree happens lazily, the first time somebody asks for the tree.
"""

from __future__ import annotations

import bisect
import os
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import tree_sitter

from offpilot.context.exclude import FileGuard
from offpilot.context.index import SNIFF_BYTES
from offpilot.context.languages import LanguageSpec, for_document, for_path

# Files above this size get no syntax tree (a 10 MB minified bundle would cost seconds).
MAX_PARSE_BYTES = 2_000_000


def _units(ch: str, encoding: str) -> int:
    cp = ord(ch)
    if encoding == "utf-8":
        return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    if encoding == "utf-16":
        return 2 if cp > 0xFFFF else 1
    return 1


def column_to_index(line: str, character: int, encoding: str) -> int:
    """Index into ``line`` (without its line break) of an LSP character offset, clamped."""
    if character <= 0:
        return 0
    if encoding == "utf-32" or line.isascii():
        return min(character, len(line))
    units = 0
    for i, ch in enumerate(line):
        if units >= character:
            return i
        units += _units(ch, encoding)
        if units > character:  # inside a surrogate pair / multi-byte char: stay before it
            return i
    return len(line)


def index_to_column(line: str, index: int, encoding: str) -> int:
    prefix = line[:max(0, index)]
    if encoding == "utf-32" or prefix.isascii():
        return len(prefix)
    if encoding == "utf-8":
        return len(prefix.encode("utf-8", "surrogatepass"))
    return len(prefix.encode("utf-16-le", "surrogatepass")) // 2


def _line_starts(text: str) -> list[int]:
    starts = [0]
    i = text.find("\n")
    while i != -1:
        starts.append(i + 1)
        i = text.find("\n", i + 1)
    return starts


def _point(text: str, line_starts: list[int], offset: int) -> tuple[int, int]:
    """tree-sitter point (row, byte column) of a str offset."""
    row = bisect.bisect_right(line_starts, offset) - 1
    return row, len(text[line_starts[row]:offset].encode("utf-8", "surrogatepass"))


@dataclass
class Document:
    uri: str
    language_id: str
    version: int
    text: str
    encoding: str = "utf-16"
    path: str = ""
    spec: LanguageSpec | None = None
    edited_at: float = field(default_factory=time.monotonic)
    _line_starts: list[int] | None = field(default=None, repr=False)
    _tree: tree_sitter.Tree | None = field(default=None, repr=False)
    _tree_stale: bool = field(default=True, repr=False)
    _parser: tree_sitter.Parser | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------- positions
    @property
    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            self._line_starts = _line_starts(self.text)
        return self._line_starts

    def line_text(self, line: int) -> str:
        starts = self.line_starts
        if line < 0 or line >= len(starts):
            return ""
        end = starts[line + 1] - 1 if line + 1 < len(starts) else len(self.text)
        text = self.text[starts[line]:end]
        return text[:-1] if text.endswith("\r") else text

    def offset_at(self, line: int, character: int) -> int:
        """``str`` offset of an LSP position (clamped into the document)."""
        starts = self.line_starts
        if line < 0:
            return 0
        if line >= len(starts):
            return len(self.text)
        return starts[line] + column_to_index(self.line_text(line), character, self.encoding)

    def position_at(self, offset: int) -> tuple[int, int]:
        """LSP (line, character) of a ``str`` offset (clamped)."""
        offset = max(0, min(offset, len(self.text)))
        starts = self.line_starts
        line = bisect.bisect_right(starts, offset) - 1
        return line, index_to_column(self.line_text(line), offset - starts[line], self.encoding)

    # ------------------------------------------------------------- edits
    def replace(self, start: int, end: int, new: str) -> None:
        """Replace ``text[start:end]`` by ``new`` and record the edit on the tree."""
        old = self.text
        start = max(0, min(start, len(old)))
        end = max(start, min(end, len(old)))
        with self._lock:
            if self._tree is not None:
                starts = self.line_starts
                start_point = _point(old, starts, start)
                old_end_point = _point(old, starts, end)
                start_byte = len(old[:start].encode("utf-8", "surrogatepass"))
                old_end_byte = start_byte + len(old[start:end].encode("utf-8", "surrogatepass"))
                new_bytes = new.encode("utf-8", "surrogatepass")
                nl = new.count("\n")
                if nl:
                    tail = new[new.rfind("\n") + 1:]
                    tail_bytes = len(tail.encode("utf-8", "surrogatepass"))
                    new_end_point = (start_point[0] + nl, tail_bytes)
                else:
                    new_end_point = (start_point[0], start_point[1] + len(new_bytes))
                self._tree.edit(start_byte, old_end_byte, start_byte + len(new_bytes),
                                start_point, old_end_point, new_end_point)
            self.text = old[:start] + new + old[end:]
            self._line_starts = None
            self._tree_stale = True
            self.edited_at = time.monotonic()

    def set_text(self, text: str) -> None:
        with self._lock:
            self.text = text
            self._line_starts = None
            self._tree = None
            self._tree_stale = True
            self.edited_at = time.monotonic()

    # ------------------------------------------------------------- syntax tree
    @property
    def tree(self) -> tree_sitter.Tree | None:
        """The syntax tree of the current text (re-parsed incrementally), or None."""
        if self.spec is None:
            return None
        with self._lock:
            if not self._tree_stale:
                return self._tree
            data = self.text.encode("utf-8", "surrogatepass")
            if len(data) > MAX_PARSE_BYTES:
                self._tree, self._tree_stale = None, False
                return None
            if self._parser is None:
                self._parser = self.spec.parser()
            old = self._tree
            self._tree = self._parser.parse(data, old) if old is not None else \
                self._parser.parse(data)
            self._tree_stale = False
            return self._tree

    def byte_offset(self, offset: int) -> int:
        return len(self.text[:max(0, offset)].encode("utf-8", "surrogatepass"))

    def node_at(self, offset: int) -> tree_sitter.Node | None:
        tree = self.tree
        if tree is None:
            return None
        b = self.byte_offset(offset)
        return tree.root_node.descendant_for_byte_range(b, b)


def read_source(path: str, max_size: int) -> str | None:
    """The text of a regular, non-binary file of at most ``max_size`` bytes, else None.

    A path from a request may name anything: a FIFO (reading it would block), a device, a
    directory, a huge file. None of those is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_size:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > max_size or b"\0" in data[:SNIFF_BYTES]:
        return None
    return data.decode("utf-8", errors="replace")


class _Position(Protocol):
    @property
    def line(self) -> int: ...
    @property
    def character(self) -> int: ...


class _Range(Protocol):
    @property
    def start(self) -> _Position: ...
    @property
    def end(self) -> _Position: ...


def _change_range(change: object) -> _Range | None:
    """The range an LSP content change replaces; None for a whole-document change."""
    return getattr(change, "range", None)


class Documents:
    """The documents the editor has open, keyed by URI; thread-safe for readers."""

    def __init__(self, position_encoding: str = "utf-16", guard: FileGuard | None = None
                 ) -> None:
        self.position_encoding = position_encoding
        # which files are kept out of prompts (offpilot.context.exclude); set by the server
        self.guard = guard if guard is not None else FileGuard()
        self._docs: dict[str, Document] = {}
        self._lock = threading.Lock()

    @staticmethod
    def path_of(uri: str) -> str:
        from pygls.uris import to_fs_path

        try:
            return (to_fs_path(uri) or uri) if uri.startswith("file:") else uri
        except ValueError:  # a file: URI that names no path
            return uri

    def excluded(self, uri: str) -> str | None:
        """Why the file of ``uri`` must not be read for context (secret-like, or outside the
        workspace), or None."""
        return self.guard.reason(self.path_of(uri))

    def private(self, uri: str) -> bool:
        """Whether the text of ``uri`` must never reach a model, even open in the editor
        (:meth:`FileGuard.private`): no completions in it, never context, sent nowhere."""
        return self.guard.private(self.path_of(uri)) is not None

    def open(self, uri: str, language_id: str, version: int, text: str) -> Document:
        from pygls.uris import to_fs_path

        path = to_fs_path(uri) or uri
        doc = Document(uri=uri, language_id=language_id, version=version, text=text,
                       encoding=self.position_encoding, path=path,
                       spec=for_document(language_id, path, text))
        with self._lock:
            self._docs[uri] = doc
        return doc

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def load(self, uri: str, max_size: int) -> Document | None:
        """The open document, else a read-only one of the file on disk when it is a readable
        source file (:func:`read_source`) that is not excluded (:meth:`excluded`: it looks
        like it holds secrets, or resolves outside the workspace), else None. Not kept: it is
        not open."""
        doc = self._docs.get(uri)
        if doc is not None:
            return doc
        path = self.path_of(uri)
        if self.guard.excluded(path):
            return None
        text = read_source(path, max_size)
        if text is None:
            return None
        spec = for_path(path, text)
        return Document(uri=uri, language_id=spec.language_ids[0] if spec else "", version=0,
                        text=text, encoding=self.position_encoding, path=path, spec=spec)

    def close(self, uri: str) -> None:
        with self._lock:
            self._docs.pop(uri, None)

    def __iter__(self) -> Iterator[Document]:
        with self._lock:
            return iter(list(self._docs.values()))

    def __len__(self) -> int:
        return len(self._docs)

    def recent(self, limit: int = 10) -> list[Document]:
        """Open documents, most recently edited first."""
        return sorted(self, key=lambda d: d.edited_at, reverse=True)[:limit]

    def apply_changes(self, uri: str, version: int, changes: Sequence[object]
                      ) -> Document | None:
        """Apply LSP content changes (partial or whole-document) in order."""
        doc = self._docs.get(uri)
        if doc is None:
            return None
        for change in changes:
            rng = _change_range(change)
            text = getattr(change, "text", "")
            if rng is None:
                doc.set_text(text)
                continue
            start = doc.offset_at(rng.start.line, rng.start.character)
            end = doc.offset_at(rng.end.line, rng.end.character)
            if end < start:
                start, end = end, start
            doc.replace(start, end, text)
        doc.version = version
        return doc
