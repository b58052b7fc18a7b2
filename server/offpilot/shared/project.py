"""The project folder a file belongs to."""

from __future__ import annotations

from pathlib import Path

MARKERS = (".git", "pyproject.toml", "package.json", "go.mod", "Cargo.toml", "pom.xml",
           "setup.py", ".hg")


def find_root(path: Path) -> Path:
    """The project folder of ``path``: the nearest parent with a VCS or project marker."""
    for parent in [path.parent, *path.parent.parents]:
        if any((parent / m).exists() for m in MARKERS):
            return parent
    # No marker: the folder the command runs in, when the file is in it (``linkdir/x.py`` where
    # ``linkdir`` links elsewhere stays a path outside that folder, and is treated as one)
    cwd = Path.cwd()
    absolute = path if path.is_absolute() else cwd / path
    if absolute.parent == cwd or cwd in absolute.parents:
        return cwd
    return path.parent
