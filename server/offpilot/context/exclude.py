"""Files kept out of prompts: those that look like they hold secrets, and those outside the
workspace.

The built-in list of secret-like files is data, in ``excluded_files.gitignore`` next to this
module (gitignore syntax: ``.env*``, keys and certificates, ``*credentials*``, ``secrets.*``,
``.netrc``…); the ``offpilot.excludeFiles`` setting adds patterns to it. A path is matched
relative to the workspace root that holds it (a path outside every root: its absolute path), and
so is the file a symlink points to.

A file that matches, or that resolves (symlinks followed) outside every workspace root, is not
indexed, not read for context, not re-indexed by the watcher, and an open document that matches
gets no completions and is never used as context for another file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pathspec

PATTERNS_FILE = Path(__file__).with_name("excluded_files.gitignore")


@cache
def builtin_patterns() -> tuple[str, ...]:
    """The built-in patterns (comments and blank lines left out)."""
    lines = PATTERNS_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(s for s in (line.strip() for line in lines) if s and not s.startswith("#"))


def _combined(spec: pathspec.PathSpec[Any]) -> re.Pattern[str] | None:
    """One regular expression for the whole list when no pattern negates another (one match
    per path instead of one per pattern: the index checks every file); None otherwise."""
    anywhere, anchored = [], []  # patterns matching at any depth share one prefix
    for pattern in spec.patterns:
        include = getattr(pattern, "include", None)
        regex = getattr(pattern, "regex", None)
        if include is None:
            continue
        if include is False or not isinstance(regex, re.Pattern):
            return None
        body = re.sub(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>", "(?:", regex.pattern)
        if body.startswith(_ANY_DEPTH):
            anywhere.append(body[len(_ANY_DEPTH):])
        else:
            anchored.append(body)
    parts = [f"(?:{p})" for p in anchored]
    if anywhere:
        parts.append(_ANY_DEPTH + "(?:" + "|".join(anywhere) + ")")
    try:
        return re.compile("|".join(parts)) if parts else re.compile(r"(?!)")
    except re.error:
        return None


_ANY_DEPTH = "^(?:.+/)?"


def _within(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


class FileGuard:
    """Whether a file may be indexed, read for context or completed in (see the module doc).

    ``roots``: the workspace roots; without any, no path counts as outside.
    ``extra``: patterns added to the built-in list (``offpilot.excludeFiles``).
    """

    def __init__(self, roots: Iterable[Path | str] = (), extra: Sequence[str] = ()) -> None:
        self.roots = tuple(os.path.realpath(r) for r in roots)
        self.extra = tuple(p for p in extra if p.strip())
        self._spec = pathspec.GitIgnoreSpec.from_lines([*builtin_patterns(), *self.extra])
        self._regex = _combined(self._spec)

    def matches(self, rel: str) -> bool:
        """Whether ``rel`` (relative to its root, forward slashes) names a secret-like file."""
        rel = rel.replace(os.sep, "/").lstrip("/")
        if not rel:
            return False
        if self._regex is not None:
            return self._regex.match(rel) is not None
        return self._spec.match_file(rel)

    def relative(self, path: str) -> str:
        """``path`` relative to the deepest root holding it (lexically), else absolute."""
        best = ""
        for root in self.roots:
            if _within(path, root) and len(root) > len(best):
                best = root
        if not best:
            return path
        return os.path.relpath(path, best) if path != best else ""

    def inside(self, path: str | Path) -> bool:
        """Whether ``path``, symlinks resolved, is inside a root (True without roots)."""
        if not self.roots:
            return True
        real = os.path.realpath(path)
        return any(_within(real, root) for root in self.roots)

    def _secret_name(self, full: str, real: str) -> str | None:
        for candidate in dict.fromkeys((full, real)):
            if self.matches(self.relative(candidate)):
                return os.path.basename(candidate) or candidate
        return None

    def _verdict(self, path: str | Path, *, opened: bool) -> str | None:
        full = os.path.abspath(path)
        real = os.path.realpath(full)  # the one costly step: a few lstat calls
        name = self._secret_name(full, real)
        if name is not None:
            return (f"{name} looks like a file with secrets (the built-in list and "
                    "offpilot.excludeFiles)")
        if not self.roots or any(_within(real, root) for root in self.roots):
            return None
        if not opened or any(_within(full, root) for root in self.roots):
            return f"{os.path.basename(full)} resolves outside the workspace"
        return None

    def secret_like(self, path: str | Path) -> str | None:
        """The name by which ``path`` (or the file it links to) looks like a file with secrets,
        or None."""
        full = os.path.abspath(path)
        return self._secret_name(full, os.path.realpath(full))

    def private(self, path: str | Path) -> str | None:
        """Why the text of ``path`` must never reach a model even when the user opens it: it
        looks like a file with secrets, or it lies in the workspace but resolves outside it (a
        symlink planted to show a file of the user's as part of the project). None otherwise:
        a file the user opens from outside the workspace is theirs to complete in."""
        return self._verdict(path, opened=True)

    def reason(self, path: str | Path) -> str | None:
        """Why ``path`` must not be read for context (:meth:`private`, or it resolves outside
        every root), or None when it may be."""
        return self._verdict(path, opened=False)

    def excluded(self, path: str | Path) -> bool:
        return self.reason(path) is not None
