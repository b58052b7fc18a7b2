"""Plain records the context engine produces and stores (one file's summary and its parts).

Lines are 1-based and inclusive; paths are workspace-relative with forward slashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Definition:
    name: str
    kind: str  # function | method | class | struct | interface | enum | type | constant | module
    path: str
    start_line: int
    end_line: int
    signature: str  # the declaration's head (up to the body), as written
    doc: str = ""  # doc comment / docstring, as written
    parent: str = ""  # enclosing class/impl/namespace name, "" at top level
    signature_end_line: int = 0  # last line of the signature (0: same as start_line)


@dataclass(frozen=True)
class Import:
    module: str  # as written: "os.path", "./util", "fmt", "crate::a::b", "util.h"
    names: tuple[tuple[str, str], ...] = ()  # (imported name, local alias or "")
    alias: str = ""  # alias of the module itself ("import numpy as np" -> "np")
    level: int = 0  # Python relative-import dots
    line: int = 0
    wildcard: bool = False


@dataclass(frozen=True)
class FileSummary:
    path: str
    language: str
    definitions: tuple[Definition, ...] = ()
    imports: tuple[Import, ...] = ()
    package: str = ""  # Go package / Java package clause, "" where the language has none
    errors: bool = False  # the tree had syntax errors (summary is best effort)


@dataclass(frozen=True)
class IndexStats:
    files: int = 0
    definitions: int = 0
    imports: int = 0
    parsed: int = 0  # files (re)parsed in the last refresh
    skipped: int = 0
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
