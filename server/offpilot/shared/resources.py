"""Data files shipped with Offpilot: the tree-sitter queries and the example project.

In the repository they live at the top (``grammars/``, ``examples/``); a wheel or sdist carries
them inside the package as ``offpilot/grammars`` and ``offpilot/examples`` (the ``package-dir``
mapping in ``pyproject.toml``). The installed copy is looked up through :mod:`importlib.resources`
first; a source checkout (an editable install has no copy) falls back to the top-level folders.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[3]  # server/offpilot/shared/ -> the repository


def _data_dir(name: str) -> Path:
    packaged = resources.files("offpilot") / name
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return _CHECKOUT / name


def grammars_dir() -> Path:
    """The folder of ``<language>/<kind>.scm`` queries."""
    return _data_dir("grammars")


def demo_project_dir() -> Path:
    """The example project ``offpilot demo`` copies and works on."""
    return _data_dir("examples") / "demo-project"
