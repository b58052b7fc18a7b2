"""Keep every file path that test generation reads or writes inside the workspace.

Paths come from request arguments (a URI, a symbol) and, for test files, from names derived
from the code; none of them may reach outside the workspace root: no ``..``, no absolute
path where a relative one is expected, no symlink that resolves elsewhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
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


# ------------------------------------------------- paths in the arguments of a call
_DRIVE = re.compile(r"^[A-Za-z]:([\\/]|$)")


def looks_like_path(text: str) -> bool:
    """Whether a string argument names a place outside the working folder: absolute (``/x``,
    ``C:\\x``, ``\\\\host``), in a home (``~``), climbing out (``..``) or a ``file:`` URL."""
    s = text.strip()
    if not s:
        return False
    return (s.startswith(("/", "\\", "~")) or bool(_DRIVE.match(s))
            or s.lower().startswith("file:") or ".." in re.split(r"[\\/]", s))


def inside_folder(path: str, folder: Path) -> bool:
    """Whether ``path`` (absolute or relative to ``folder``) points into ``folder``."""
    if path.startswith(("~", "\\")) or _DRIVE.match(path) or path.lower().startswith("file:"):
        return False
    full = os.path.normpath(os.path.join(str(folder), path))  # an absolute path stays itself
    base = os.path.normpath(str(folder))
    return full == base or full.startswith(base.rstrip("/") + "/")


def outside_values(values: object, inside: Path | None = None, depth: int = 0) -> list[str]:
    """The same for argument values (calls held as Python values, as JavaScript's are): strings
    nested anywhere in lists, tuples and dicts (keys too)."""
    if depth > 8:
        return []
    if isinstance(values, bytes):
        values = values.decode("latin-1")
    if isinstance(values, str):
        bad = looks_like_path(values) and not (inside is not None
                                               and inside_folder(values.strip(), inside))
        return [values] if bad else []
    found: list[str] = []
    items: Iterable[object] = ()
    if isinstance(values, dict):
        items = [*values.keys(), *values.values()]
    elif isinstance(values, list | tuple | set | frozenset):
        items = values
    for item in items:
        found += outside_values(item, inside, depth + 1)
    return found
