"""JavaScript's and TypeScript's :class:`~offpilot.features.testgen.core.registry.LanguageSupport`.

When node is installed (and, for TypeScript, tsx in ``node_modules``): characterization tests,
recorded by running the exported functions in the sandbox and kept only when ``node --test``
(or the project's installed vitest/jest) passes them 3 times (:mod:`.generate`). Otherwise
(no node, JSX, ``offpilot.runGeneratedTests`` off) the tests the JSDoc claims, or a model
draft, delivered UNVERIFIED with the reason.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from offpilot.features.testgen.core.draft import draft_unverified
from offpilot.features.testgen.core.layout import TestLayout
from offpilot.features.testgen.core.paths import confine
from offpilot.features.testgen.core.registry import DraftRules
from offpilot.features.testgen.core.request import TargetError, TestGenRequest
from offpilot.features.testgen.core.result import TestGenResult
from offpilot.features.testgen.javascript import generate as js
from offpilot.features.testgen.javascript import noderun
from offpilot.features.testgen.javascript.drafts import js_outside_uses
from offpilot.features.testgen.javascript.layout import js_layout
from offpilot.features.trust import not_run_reason

_HEADER = "// UNVERIFIED draft by Offpilot: not run. Review before use.\n"
_PRIMERS = {"vitest": "import { describe, it, expect } from 'vitest';\n",
            "node:test": "import test from 'node:test';\n"
                         "import assert from 'node:assert/strict';\n"}


def _primer(layout: TestLayout) -> str:
    return _PRIMERS.get(layout.framework, "")


def _no_own_modules(request: TestGenRequest) -> tuple[str, ...]:
    return ()  # the code under test is imported by a relative path


_RULES = DraftRules(_HEADER, _primer, js_outside_uses, _no_own_modules)


class JavaScriptSupport:
    """JavaScript and TypeScript, run with node in the sandbox."""

    name = "JavaScript and TypeScript"
    languages: Mapping[str, str] = {"javascript": "JavaScript", "typescript": "TypeScript"}
    suffixes: Mapping[str, str] = {
        ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
        ".ts": "typescript", ".tsx": "typescript", ".mts": "typescript"}
    drafts: Mapping[str, DraftRules] = {"javascript": _RULES, "typescript": _RULES}

    def layout(self, root: Path, source: Path, language: str, *, module: str = "",
               import_root: Path | None = None) -> TestLayout:
        return js_layout(root, source, language)

    def can_run(self, language: str) -> bool:
        return shutil.which("node") is not None

    async def generate(self, request: TestGenRequest) -> TestGenResult:
        root, path = request.root, request.path
        layout = self.layout(root, path.resolve(), request.language)
        original = request.original(confine(root, layout.test_path))
        not_run = not_run_reason(request.settings)  # an untrusted workspace runs nothing
        if not_run:
            try:
                mod, targets, _type = js.prepare(request)
            except TargetError:
                return await draft_unverified(request, layout, not_run, original)
            result = await js.unverified_from_claims(request, mod, targets, layout, original,
                                                     not_run=not_run)
            if result.plan is None and request.backend is not None:
                return await draft_unverified(
                    request, layout, not_run + " and no JSDoc example claims a result",
                    original)
            return result
        reason = noderun.cannot_run(root, path, request.language)
        if reason:
            return await draft_unverified(request, layout, reason, original)
        mod, targets, package_type = js.prepare(request)
        runner = noderun.node_runner(root, path, mod, package_type)
        if isinstance(runner, str):
            return await draft_unverified(request, layout, runner, original)
        return await js.generate_js(request, mod, targets, layout, runner, original)
