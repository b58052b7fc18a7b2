"""Python's :class:`~offpilot.features.testgen.core.registry.LanguageSupport`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from offpilot.features.testgen.core.layout import TestLayout
from offpilot.features.testgen.core.registry import DraftRules
from offpilot.features.testgen.core.request import TestGenRequest
from offpilot.features.testgen.core.result import TestGenResult
from offpilot.features.testgen.python.generate import generate_python
from offpilot.features.testgen.python.layout import python_layout


class PythonSupport:
    """Python: targets read with :mod:`ast`, calls recorded in the sandbox, pytest/unittest."""

    name = "Python"
    languages: Mapping[str, str] = {"python": "Python"}
    suffixes: Mapping[str, str] = {".py": "python"}
    drafts: Mapping[str, DraftRules] = {}  # Python tests are always recorded, never drafted

    def layout(self, root: Path, source: Path, language: str, *, module: str = "",
               import_root: Path | None = None) -> TestLayout:
        return python_layout(root, source, module or source.stem, import_root or source.parent)

    def can_run(self, language: str) -> bool:
        return True  # the sandbox runs the workspace's (or this) interpreter

    async def generate(self, request: TestGenRequest) -> TestGenResult:
        return await generate_python(request)
