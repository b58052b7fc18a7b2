"""Rust's :class:`~offpilot.features.testgen.core.registry.LanguageSupport`.

When cargo is installed and the file belongs to a cargo crate with a library: characterization
tests of its simple public functions and the model's draft of integration tests, run with
``cargo test --offline`` in a copy of the crate; only the test functions that pass 3 runs are
delivered (:mod:`.generate`). Otherwise a model draft, delivered UNVERIFIED with the reason.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from offpilot.features.testgen.core.draft import draft_unverified
from offpilot.features.testgen.core.layout import TestLayout
from offpilot.features.testgen.core.paths import confine
from offpilot.features.testgen.core.registry import DraftRules
from offpilot.features.testgen.core.request import TestGenRequest
from offpilot.features.testgen.core.result import TestGenResult
from offpilot.features.testgen.rust import generate as rust
from offpilot.features.testgen.rust.drafts import rust_outside_uses
from offpilot.features.testgen.rust.layout import rust_layout
from offpilot.features.trust import not_run_reason

_HEADER = "// UNVERIFIED draft by Offpilot: not compiled or run. Review before use.\n"


def _primer(layout: TestLayout) -> str:
    return "use "


def _own_modules(request: TestGenRequest) -> tuple[str, ...]:
    """The crate's library name: the one a draft may ``use`` besides std."""
    crate = rust.find_crate(request.root, request.path)
    lib = rust.library_name(crate)[0] if crate is not None else None
    return (lib,) if lib else ()


class RustSupport:
    """Rust, built and run with cargo in a copy of the crate."""

    name = "Rust"
    languages: Mapping[str, str] = {"rust": "Rust"}
    suffixes: Mapping[str, str] = {".rs": "rust"}
    drafts: Mapping[str, DraftRules] = {
        "rust": DraftRules(_HEADER, _primer, rust_outside_uses, _own_modules)}

    def layout(self, root: Path, source: Path, language: str, *, module: str = "",
               import_root: Path | None = None) -> TestLayout:
        return rust_layout(root, source)

    def can_run(self, language: str) -> bool:
        return shutil.which("cargo") is not None

    async def generate(self, request: TestGenRequest) -> TestGenResult:
        root, path = request.root, request.path
        layout = self.layout(root, path.resolve(), request.language)
        original = request.original(confine(root, layout.test_path))
        not_run = not_run_reason(request.settings)  # an untrusted workspace runs nothing
        if not_run:
            return await draft_unverified(request, layout, not_run, original)
        cargo = shutil.which("cargo")
        if cargo is None:
            return await draft_unverified(request, layout, "cargo is not installed", original)
        crate = rust.find_crate(root, path)
        if crate is None:
            return await draft_unverified(
                request, layout, f"{path.name} is not part of a cargo crate (no Cargo.toml "
                "with a [package] above it)", original)
        lib, why = rust.library_name(crate)
        if lib is None:
            return await draft_unverified(request, layout, why, original)
        return await rust.generate_rust(request, layout, crate, lib, cargo, original)
