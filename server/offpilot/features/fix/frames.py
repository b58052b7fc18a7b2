"""Tracebacks and panics as data: the frames, the error, and which of them are workspace files.

:func:`parse_error_text` reads a Python traceback (the interpreter's, or pytest's with
``--tb=native``) or a Rust panic (``thread 'main' panicked at src/lib.rs:4:5:``, with the
``RUST_BACKTRACE`` frames when there are some) or a JavaScript error's stack (node's
``at add (file:///p/math.js:2:10)`` frames). :func:`map_frames` resolves each frame's path
to a file of the workspace: paths under the workspace, paths relative to it, and paths of a
sandbox's copy of the project (``.../offpilot-sandbox-*/project/calc.py``), which name the
workspace file they were copied from.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from urllib.parse import unquote, urlparse

MAX_ERROR_TEXT = 64 * 1024  # characters of a pasted traceback looked at (its end)

_PY_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
_PY_ERROR = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|"
                       r"Iteration|Failed|[A-Z]\w*))(?::\s?(?P<message>.*))?$")
_RUST_PANIC = re.compile(r"thread '(?P<thread>[^']*)'(?: \(\d+\))? panicked at "
                         r"(?:'(?P<old>.*)', )?"
                         r"(?P<path>[^\s:]+\.rs):(?P<line>\d+):(?P<col>\d+):?")
_RUST_AT = re.compile(r"^\s*at (?P<path>[^\s:]+\.rs):(?P<line>\d+):(?P<col>\d+)")
_RUST_FUNC = re.compile(r"^\s*\d+:\s+(?P<func>\S+)")
# a JavaScript stack frame: ``    at add (file:///p/math.js:2:10)`` or ``    at file:///p/x.js:3:1``
_JS_AT = re.compile(r"^\s+at (?:(?P<func>.+?) \()?(?P<path>(?:file://)?/[^()\s]*?|[^()\s:]+\.[cm]?"
                    r"[jt]s):(?P<line>\d+):(?P<col>\d+)\)?\s*$")
_JS_ERROR = re.compile(r"^(?P<type>[A-Za-z_$][\w$.]*)(?: \[[A-Z_]+\])?(?::\s?(?P<message>.*))?$")
_SANDBOX_PROJECT = re.compile(r"/offpilot-sandbox-[^/]+/project/")


@dataclass(frozen=True)
class Frame:
    """One frame of a traceback, outermost first."""

    path: str  # as written in the traceback
    line: int  # 1-based
    function: str = ""
    source_line: str = ""  # the code line the traceback shows, when it shows one
    workspace_path: Path | None = None  # the workspace file, when the frame is in one

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "function": self.function,
                "sourceLine": self.source_line,
                "workspacePath": str(self.workspace_path) if self.workspace_path else None}


@dataclass
class ParsedError:
    """What a traceback or panic says."""

    language: str  # "python" | "rust" | "javascript" | "" (not recognised)
    frames: list[Frame] = field(default_factory=list)
    error_type: str = ""  # ``ZeroDivisionError``; "panic" for Rust
    message: str = ""
    text: str = ""  # the traceback as given (its end, at most MAX_ERROR_TEXT characters)

    @property
    def summary(self) -> str:
        head = f"{self.error_type}: {self.message}" if self.message else self.error_type
        return head or "an error"

    def workspace_frames(self) -> list[Frame]:
        return [f for f in self.frames if f.workspace_path is not None]


def parse_error_text(text: str) -> ParsedError:
    """The frames and the error of a Python traceback, a Rust panic or a JavaScript stack in
    ``text``."""
    text = text[-MAX_ERROR_TEXT:].replace("\r\n", "\n")
    if _RUST_PANIC.search(text):
        return _parse_rust(text)
    if "Traceback (most recent call" not in text and any(
            _JS_AT.match(ln) for ln in text.split("\n")):
        return _parse_js(text)
    return _parse_python(text)


def _file_path(path: str) -> str:
    """A stack frame's path as a file path (node writes ``file://`` URLs for ES modules)."""
    if path.startswith("file://"):
        return unquote(urlparse(path).path)
    return path


def _parse_js(text: str) -> ParsedError:
    """A JavaScript error's stack (node's: the error's first line, then ``at`` frames,
    innermost first); frames of node's own modules (``node:internal/...``) are left out."""
    lines = text.split("\n")
    first = next((i for i, ln in enumerate(lines) if _JS_AT.match(ln)), len(lines))
    head = [ln for ln in lines[:first] if ln.strip()]
    error_type = message = ""
    for i, ln in enumerate(head):
        m = _JS_ERROR.match(ln.strip())
        if m is not None and (m.group("message") is not None or i == len(head) - 1):
            error_type = m.group("type")
            message = "\n".join([(m.group("message") or "").strip(),
                                 *(h.rstrip() for h in head[i + 1:])]).strip()
            break
    if not error_type and head:
        error_type, message = "Error", "\n".join(head).strip()
    frames: list[Frame] = []
    for ln in lines[first:]:
        m = _JS_AT.match(ln)
        if m is None or m.group("path").startswith("node:"):
            continue
        func = (m.group("func") or "").removeprefix("async ").strip()
        frames.append(Frame(_file_path(m.group("path")), int(m.group("line")), func))
    frames.reverse()  # innermost first in a stack; ours is outermost first
    return ParsedError("javascript", frames, error_type, message, text)


def _parse_python(text: str) -> ParsedError:
    lines = text.split("\n")
    # the last traceback in the text: the one that ended the program (chained ones come first)
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call")]
    first = starts[-1] if starts else 0
    frames: list[Frame] = []
    error_type = message = ""
    i = first
    while i < len(lines):
        m = _PY_FRAME.match(lines[i])
        if m is not None:
            source = ""
            if i + 1 < len(lines) and not _PY_FRAME.match(lines[i + 1]) \
                    and lines[i + 1].startswith("    "):
                source = lines[i + 1].strip()
                i += 1
            frames.append(Frame(m.group("path"), int(m.group("line")),
                                (m.group("func") or "").strip(), source))
        elif frames and lines[i] and not lines[i].startswith(" "):
            e = _PY_ERROR.match(lines[i].strip())
            if e is not None and not error_type:
                error_type = e.group("type")
                message = (e.group("message") or "").strip()
                # an assertion's explanation (pytest's ``assert -1 == 5``) goes on below
                rest = [ln for ln in lines[i + 1:i + 8] if ln.strip()
                        and not ln.startswith(("Traceback", "During handling", "The above"))]
                if rest and error_type == "AssertionError":
                    message = "\n".join([message, *(r.rstrip() for r in rest)]).strip()
        i += 1
    return ParsedError("python" if frames or error_type else "", frames, error_type, message,
                       text)


def _parse_rust(text: str) -> ParsedError:
    lines = text.split("\n")
    frames: list[Frame] = []
    message = ""
    panic_at: Frame | None = None
    for i, line in enumerate(lines):
        m = _RUST_PANIC.search(line)
        if m is not None and panic_at is None:
            panic_at = Frame(m.group("path"), int(m.group("line")), m.group("thread"))
            message = m.group("old") or (lines[i + 1].strip() if i + 1 < len(lines) else "")
            continue
        at = _RUST_AT.match(line)
        if at is not None:
            func = ""
            if i > 0:
                f = _RUST_FUNC.match(lines[i - 1])
                func = f.group("func") if f else ""
            frames.append(Frame(at.group("path"), int(at.group("line")), func))
    frames.reverse()  # a backtrace lists the innermost first; ours is outermost first
    if panic_at is not None and not any(
            (f.path.removeprefix("./"), f.line) == (panic_at.path.removeprefix("./"),
                                                    panic_at.line) for f in frames):
        frames.append(panic_at)
    return ParsedError("rust", frames, "panic", message, text)


def workspace_file(path: str, root: Path, *, sandbox_project: Path | None = None
                   ) -> Path | None:
    """The workspace file a traceback's path names, or None (the standard library,
    site-packages, a file that is not there)."""
    root = root.resolve()
    candidates: list[Path] = []
    if sandbox_project is not None:
        with contextlib.suppress(ValueError):
            candidates.append(root / Path(path).relative_to(sandbox_project))
    m = _SANDBOX_PROJECT.search(path)
    if m is not None:
        candidates.append(root / path[m.end():])
    p = Path(path)
    candidates.append(p if p.is_absolute() else root / p)
    for cand in candidates:
        try:
            real = cand.resolve()
        except OSError:
            continue
        parts = PurePath(real).parts
        if "site-packages" in parts or ".venv" in parts or "venv" in parts:
            continue
        if (real == root or root in real.parents) and real.is_file():
            return real
    return None


def map_frames(parsed: ParsedError, root: Path, *, sandbox_project: Path | None = None
               ) -> ParsedError:
    """``parsed`` with each frame's :attr:`Frame.workspace_path` filled in where it has one."""
    frames = [replace(f, workspace_path=workspace_file(f.path, root,
                                                       sandbox_project=sandbox_project))
              for f in parsed.frames]
    return replace(parsed, frames=frames)


_JS_TEST_NAME = re.compile(r"(?:^test[-_.]|[._-](?:test|spec)\.[cm]?[jt]sx?$|^test\.[cm]?[jt]s$)")


def is_test_file(path: Path) -> bool:
    """A test file by its name or folder: pytest's (``test_x.py``, ``x_test.py``,
    ``conftest.py``), node's (``x.test.js``, ``test-x.js``, ``x.spec.mjs``) and anything in a
    ``tests``, ``test`` or ``__tests__`` folder (cargo's integration tests among them)."""
    name = path.name
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py" \
        or bool(_JS_TEST_NAME.search(name)) \
        or any(p in ("tests", "test", "__tests__") for p in path.parts[-3:-1])


def innermost_code_frame(frames: Sequence[Frame]) -> Frame | None:
    """The innermost workspace frame outside the tests: where a fix most likely goes."""
    for f in reversed(frames):
        if f.workspace_path is not None and not is_test_file(f.workspace_path):
            return f
    return None
