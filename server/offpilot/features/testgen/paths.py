"""Keep every file path that test generation reads or writes inside the workspace.

Paths come from request arguments (a URI, a symbol) and, for test files, from names derived
from the code; none of them may reach outside the workspace root: no ``..``, no absolute
path where a relative one is expected, no symlink that resolves elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


class PathOutsideWorkspace(ValueError):
    """A path that would leave the workspace; the message is for the user."""


def confine(root: Path, relative: str | os.PathLike[str]) -> Path:
    """``root / relative``, resolved, after checking it stays inside ``root``.

    ``relative`` must be relative, without ``..`` parts; once resolved (symlinks followed, for
    the parts that exist) it must still lie inside ``root``.
    """
    text = os.fspath(relative)
    if not text or "\x00" in text:
        raise PathOutsideWorkspace("empty or invalid path")
    pure = PurePosixPath(text.replace("\\", "/"))
    if pure.is_absolute() or text.startswith(("/", "\\")) or (len(text) > 1 and text[1] == ":"):
        raise PathOutsideWorkspace(f"absolute path refused: {text}")
    if any(part == ".." for part in pure.parts):
        raise PathOutsideWorkspace(f"path with '..' refused: {text}")
    base = root.resolve()
    return ensure_inside(base, base.joinpath(*pure.parts))


def ensure_inside(root: Path, path: Path) -> Path:
    """``path`` resolved (symlinks followed), if it lies inside ``root``; else raise."""
    base = root.resolve()
    resolved = path.resolve()
    if resolved != base and base not in resolved.parents:
        raise PathOutsideWorkspace(f"{path} is outside the workspace {base}")
    return resolved


def is_inside(root: Path, path: Path) -> bool:
    try:
        ensure_inside(root, path)
    except (PathOutsideWorkspace, OSError, RuntimeError):
        return False
    return True
