"""Where Go and Java tests go: beside the code in ``_test.go`` files, under ``src/test/java``."""

from __future__ import annotations

import shutil
from pathlib import Path

from offpilot.features.testgen.core.layout import TestLayout


def go_layout(root: Path, source: Path) -> TestLayout:
    return TestLayout("go", "go test", (source.parent / f"{source.stem}_test.go").relative_to(root),
                      "Go tests live beside the code in _test.go files",
                      toolchain=shutil.which("go"))


def java_layout(root: Path, source: Path) -> TestLayout:
    parts = source.relative_to(root).parts
    if "main" in parts and parts[parts.index("main") - 1:parts.index("main")] == ("src",):
        i = parts.index("main")
        rel = Path(*parts[:i], "test", *parts[i + 1:-1]) / f"{source.stem}Test.java"
    else:
        rel = source.relative_to(root).parent / f"{source.stem}Test.java"
    tool = "mvn" if (root / "pom.xml").is_file() else "gradle"
    return TestLayout("java", "junit", rel, "JUnit tests under src/test/java",
                      toolchain=shutil.which(tool))
