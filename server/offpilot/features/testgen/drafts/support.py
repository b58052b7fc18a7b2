"""Go's and Java's :class:`~offpilot.features.testgen.core.registry.LanguageSupport`: Offpilot
does not run their tests yet, so each request gets a model draft delivered **UNVERIFIED**,
with the reason (:mod:`offpilot.features.testgen.core.draft`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from offpilot.features.testgen.core.draft import draft_unverified
from offpilot.features.testgen.core.layout import TestLayout
from offpilot.features.testgen.core.paths import confine
from offpilot.features.testgen.core.registry import DraftRules
from offpilot.features.testgen.core.request import TestGenRequest
from offpilot.features.testgen.core.result import TestGenResult
from offpilot.features.testgen.drafts.layout import go_layout, java_layout
from offpilot.features.testgen.drafts.rules import go_outside_uses, java_outside_uses
from offpilot.features.trust import not_run_reason

_HEADER = "// UNVERIFIED draft by Offpilot: not compiled or run. Review before use.\n"


def _go_module(request: TestGenRequest) -> tuple[str, ...]:
    """The Go module path (go.mod's ``module``): a draft may import the project by it."""
    for folder in [request.path.parent, *request.path.parent.parents]:
        try:
            text = (folder / "go.mod").read_text(encoding="utf-8")
        except OSError:
            if folder == request.root:
                break
            continue
        m = re.search(r"^module\s+(\S+)", text, re.M)
        return (m.group(1),) if m else ()
    return ()


def _java_package(request: TestGenRequest) -> tuple[str, ...]:
    """The Java package of the file: a draft may import the project's classes from it."""
    m = re.search(r"^\s*package\s+([\w.]+)\s*;", request.source, re.M)
    return (m.group(1),) if m else ()


class DraftSupport:
    """Go and Java: UNVERIFIED model drafts, never run."""

    name = "Go and Java"
    languages: Mapping[str, str] = {"go": "Go", "java": "Java"}
    suffixes: Mapping[str, str] = {".go": "go", ".java": "java"}
    drafts: Mapping[str, DraftRules] = {
        "go": DraftRules(_HEADER, lambda layout: "package ", go_outside_uses, _go_module),
        "java": DraftRules(_HEADER, lambda layout: "import org.junit.jupiter.api.Test;\n",
                           java_outside_uses, _java_package),
    }

    def layout(self, root: Path, source: Path, language: str, *, module: str = "",
               import_root: Path | None = None) -> TestLayout:
        return go_layout(root, source) if language == "go" else java_layout(root, source)

    def can_run(self, language: str) -> bool:
        return False

    async def generate(self, request: TestGenRequest) -> TestGenResult:
        layout = self.layout(request.root, request.path.resolve(), request.language)
        original = request.original(confine(request.root, layout.test_path))
        not_run = not_run_reason(request.settings)  # an untrusted workspace runs nothing
        if not_run:
            reason = not_run
        elif layout.toolchain:
            reason = (f"{Path(layout.toolchain).name} is installed, but Offpilot does not run "
                      f"{layout.framework} yet")
        else:
            reason = f"{layout.framework} is not available here"
        return await draft_unverified(request, layout, reason, original)
