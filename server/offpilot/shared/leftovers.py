"""Folders to remove if the process ends abruptly (``os._exit`` runs no ``finally``): the
language server ends that way once the editor is gone, possibly while a sandbox is open."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

_lock = threading.Lock()
_folders: set[Path] = set()


def remove_at_exit(folder: Path) -> None:
    """``folder`` goes if the process ends before :func:`keep` is called for it."""
    with _lock:
        _folders.add(folder)


def keep(folder: Path) -> None:
    """Its owner removes ``folder`` (or keeps it): nothing to do at exit."""
    with _lock:
        _folders.discard(folder)


def remove_all() -> list[Path]:
    """Remove every folder still registered (the process is ending); returns them."""
    with _lock:
        folders = sorted(_folders)
        _folders.clear()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return folders
