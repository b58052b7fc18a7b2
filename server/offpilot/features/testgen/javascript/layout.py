"""Where JavaScript and TypeScript tests go and which framework runs them: vitest or jest when
package.json names one, else node:test (built into node)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from offpilot.features.testgen.core.layout import TestLayout, read_text_limited


def _package_json(root: Path, source: Path) -> dict[str, object]:
    for folder in [source.parent, *source.parent.parents]:
        path = folder / "package.json"
        if path.is_file():
            try:
                data = json.loads(read_text_limited(path))
            except ValueError:
                return {}
            return data if isinstance(data, dict) else {}
        if folder == root:
            break
    return {}


def js_layout(root: Path, source: Path, language: str) -> TestLayout:
    pkg = _package_json(root, source)
    deps: dict[str, object] = {}
    for key in ("dependencies", "devDependencies"):
        value = pkg.get(key)
        if isinstance(value, dict):
            deps.update(value)
    scripts = pkg.get("scripts")
    test_script = str(scripts.get("test", "")) if isinstance(scripts, dict) else ""
    if "vitest" in deps or "vitest" in test_script:
        framework, reason = "vitest", "vitest is in package.json"
    elif "jest" in deps or "jest" in test_script:
        framework, reason = "jest", "jest is in package.json"
    else:
        framework, reason = "node:test", "no test framework in package.json; node:test is built in"
    ext = source.suffix
    name = f"{source.stem}.test{ext}"
    tests_dir = next((root / d for d in ("__tests__", "test", "tests") if (root / d).is_dir()),
                     None)
    path = (tests_dir / name) if tests_dir is not None and framework != "node:test" \
        else source.parent / name
    tool = "npx" if framework in ("vitest", "jest") else "node"
    return TestLayout(language, framework, path.relative_to(root), reason,
                      toolchain=shutil.which(tool))
