"""Where Rust tests go: an integration test in the crate's ``tests/`` folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from offpilot.features.testgen.core.layout import TestLayout


def rust_layout(root: Path, source: Path) -> TestLayout:
    crate = next((p for p in [source.parent, *source.parent.parents]
                  if (p / "Cargo.toml").is_file() and (p == root or root in p.parents)), root)
    path = (crate / "tests" / f"{source.stem}.rs").relative_to(root)
    return TestLayout("rust", "cargo test", path,
                      "integration tests in the crate's tests/ folder (unit tests would go in a "
                      "#[cfg(test)] module of the source file, which Offpilot does not edit)",
                      toolchain=shutil.which("cargo"))
