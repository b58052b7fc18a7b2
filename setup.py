"""Builds Offpilot with its data inside the package; everything else is in pyproject.toml.

The tree-sitter queries (``grammars/``) and the example project (``examples/``) live at the top of
the repository. A wheel carries them as ``offpilot/grammars`` and ``offpilot/examples``, where
:mod:`offpilot.shared.resources` finds them through :mod:`importlib.resources`; an editable install
reads the checkout's folders directly.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_DIRS = ("grammars", "examples")


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        package = Path(self.build_lib) / "offpilot"
        for name in DATA_DIRS:
            for src in sorted((ROOT / name).rglob("*")):
                if not src.is_file() or "__pycache__" in src.parts or src.suffix == ".pyc":
                    continue
                dst = package / src.relative_to(ROOT)
                self.mkpath(str(dst.parent))
                self.copy_file(str(src), str(dst))


setup(cmdclass={"build_py": BuildPyWithData})
