"""Tests for languages other than Python: run with the toolchain when it is there, else a draft.

- **JavaScript** (and TypeScript with tsx in ``node_modules``), when node is installed:
  characterization tests, recorded by running the exported functions in the sandbox and kept
  only when ``node --test`` (or the project's installed vitest/jest) passes them 3 times
  (:mod:`.javascript`).
- **Rust**, when cargo is installed and the file belongs to a cargo crate with a library:
  characterization tests of its simple public functions and the model's draft of integration
  tests run with ``cargo test --offline`` in a copy of the crate; only the test functions that
  pass 3 runs are delivered (:mod:`.rust`).
- Everything else (Go, Java, TypeScript or JSX without a runner, a missing toolchain, or
  ``offpilot.runGeneratedTests`` off) gets a model draft delivered as **UNVERIFIED**, marked
  so in the file and the summary, with the reason it was not run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from offpilot.config import Settings
from offpilot.engine.backend import Backend
from offpilot.features.testgen import javascript as js
from offpilot.features.testgen import noderun, proposals, rust
from offpilot.features.testgen.drafts import outside_uses
from offpilot.features.testgen.frameworks import TestLayout, layout_for
from offpilot.features.testgen.generate import (
    GeneratedTest,
    ProgressCallback,
    TestGenResult,
    _progress,
)
from offpilot.features.testgen.paths import confine
from offpilot.features.testgen.render import FilePlan
from offpilot.features.testgen.target import TargetError
from offpilot.features.trust import not_run_reason

DRAFT_HEADERS = {
    "go": "// UNVERIFIED draft by Offpilot: not compiled or run. Review before use.\n",
    "rust": "// UNVERIFIED draft by Offpilot: not compiled or run. Review before use.\n",
    "java": "// UNVERIFIED draft by Offpilot: not compiled or run. Review before use.\n",
    "javascript": "// UNVERIFIED draft by Offpilot: not run. Review before use.\n",
    "typescript": "// UNVERIFIED draft by Offpilot: not run. Review before use.\n",
}


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


async def generate_other(root: Path, path: Path, source: str, language: str, *,
                         symbol: str, start_line: int, end_line: int, scope: str,
                         backend: Backend | None, settings: Settings,
                         on_progress: ProgressCallback | None,
                         test_file_text: str | None) -> TestGenResult:
    """Tests for a JavaScript, TypeScript, Go, Rust or Java file (see the module docstring)."""
    layout = layout_for(root, path)
    assert layout is not None
    test_abs = confine(root, layout.test_path)
    original = test_file_text if test_file_text is not None else _read_text(test_abs)

    async def draft(reason: str) -> TestGenResult:
        return await draft_unverified(root, path, source, language, layout, reason=reason,
                                      backend=backend, settings=settings,
                                      on_progress=on_progress, original=original,
                                      start_line=start_line, end_line=end_line, scope=scope)

    not_run = not_run_reason(settings)  # an untrusted workspace runs nothing
    if language in ("javascript", "typescript"):
        if not_run:
            try:
                mod, targets, _type = js.prepare(root, path, source, language, symbol=symbol,
                                                 start_line=start_line, end_line=end_line,
                                                 scope=scope)
            except TargetError:
                return await draft(not_run)
            result = await js.unverified_from_claims(root, path, mod, targets, layout,
                                                     original, backend, on_progress,
                                                     not_run=not_run)
            if result.plan is None and backend is not None:
                return await draft(not_run + " and no JSDoc example claims a result")
            return result
        reason = noderun.cannot_run(root, path, language)
        if reason:
            return await draft(reason)
        mod, targets, package_type = js.prepare(root, path, source, language, symbol=symbol,
                                                start_line=start_line, end_line=end_line,
                                                scope=scope)
        runner = noderun.node_runner(root, path, mod, package_type)
        if isinstance(runner, str):
            return await draft(runner)
        return await js.generate_js(root, path, source, mod, targets, layout, runner,
                                    backend=backend, settings=settings,
                                    on_progress=on_progress, original=original)
    if language == "rust":
        if not_run:
            return await draft(not_run)
        cargo = shutil.which("cargo")
        if cargo is None:
            return await draft("cargo is not installed")
        crate = rust.find_crate(root, path)
        if crate is None:
            return await draft(f"{path.name} is not part of a cargo crate (no Cargo.toml "
                               "with a [package] above it)")
        lib, why = rust.library_name(crate)
        if lib is None:
            return await draft(why)
        return await rust.generate_rust(root, path, source, layout, crate, lib, cargo,
                                        backend=backend, settings=settings,
                                        on_progress=on_progress, original=original,
                                        start_line=start_line, end_line=end_line, scope=scope,
                                        symbol=symbol)
    if not_run:
        return await draft(not_run)
    if layout.toolchain:
        return await draft(f"{Path(layout.toolchain).name} is installed, but Offpilot does not "
                           f"run {layout.framework} yet")
    return await draft(f"{layout.framework} is not available here")


# ---------------------------------------------------------------------- drafts
def draft_prompt(language: str, layout: TestLayout, source: str, rel: str) -> tuple[str, str]:
    """A prompt that continues into the test file, and the start of that file it ends with."""
    js_primers = {"vitest": "import { describe, it, expect } from 'vitest';\n",
                  "node:test": "import test from 'node:test';\n"
                               "import assert from 'node:assert/strict';\n"}
    primers = {"go": "package ", "rust": "use ", "java": "import org.junit.jupiter.api.Test;\n",
               "javascript": js_primers.get(layout.framework, ""),
               "typescript": js_primers.get(layout.framework, "")}
    primer = primers.get(language, "")
    prompt = (f"// File: {rel}\n{source[:3000]}\n\n// File: {layout.test_path.as_posix()} "
              f"({layout.framework} tests for {rel})\n{primer}")
    return prompt, primer


def focus_of(source: str, start_line: int, end_line: int, scope: str) -> str:
    """The lines a request is about (the whole file for scope "file" or an empty range)."""
    lines = source.splitlines()
    if scope != "file" and end_line > start_line:
        return "\n".join(lines[start_line:end_line + 1])
    return source


async def draft_unverified(root: Path, path: Path, source: str, language: str,
                           layout: TestLayout, *, reason: str, backend: Backend | None,
                           settings: Settings, on_progress: ProgressCallback | None,
                           original: str | None, start_line: int, end_line: int,
                           scope: str) -> TestGenResult:
    """The model's draft of the test file, delivered UNVERIFIED; ``reason`` says why."""
    test_abs = confine(root, layout.test_path)
    rel = path.relative_to(root).as_posix()
    result = TestGenResult(root, path, language, framework=layout.framework,
                           test_path=test_abs, original=original, verified=False,
                           targets=[rel])
    result.notes.append(f"{language.capitalize()} tests are a model draft: UNVERIFIED "
                        f"({reason}); review and run them yourself.")
    if backend is None:
        result.notes.append("No model is available, so no draft was written.")
        return result
    prompt, primer = draft_prompt(language, layout, focus_of(source, start_line, end_line,
                                                             scope), rel)
    _progress(on_progress, f"asking the model for a {layout.framework} draft", 20)
    text = await proposals.draft(backend, prompt, settings, result.notes)
    if text is None:
        return result
    draft = (primer + text).strip() + "\n"
    if not parses(path, draft):
        result.notes.append("The model's draft does not parse; nothing was written.")
        return result
    outside = outside_uses(language, draft, own=own_modules(root, path, language, source))
    if outside:
        result.notes.append("The model's draft uses more than the code under test and the test "
                            f"framework ({', '.join(outside[:3])}); nothing was written.")
        return result
    text = DRAFT_HEADERS.get(language, "") + draft
    at = len(original or "")
    sep = "" if not original else ("\n" if original.endswith("\n") else "\n\n")
    result.plan = FilePlan((original or "") + sep + text, ((at, sep + text),))
    result.tests.append(GeneratedTest("draft", rel, "", "model", "unverified", text))
    _progress(on_progress, "draft ready", 98)
    return result


def own_modules(root: Path, path: Path, language: str, source: str) -> tuple[str, ...]:
    """The names a draft may import the project's own code by: the Go module path, the Java
    package, the Rust library."""
    import re

    if language == "go":
        for folder in [path.parent, *path.parent.parents]:
            try:
                text = (folder / "go.mod").read_text(encoding="utf-8")
            except OSError:
                if folder == root:
                    break
                continue
            m = re.search(r"^module\s+(\S+)", text, re.M)
            return (m.group(1),) if m else ()
    if language == "java":
        m = re.search(r"^\s*package\s+([\w.]+)\s*;", source, re.M)
        return (m.group(1),) if m else ()
    if language == "rust":
        crate = rust.find_crate(root, path)
        lib = rust.library_name(crate)[0] if crate is not None else None
        return (lib,) if lib else ()
    return ()


def parses(path: Path, text: str) -> bool:
    try:
        from offpilot.context.languages import for_path

        spec = for_path(path)
        if spec is None:
            return True
        tree = spec.parser().parse(text.encode("utf-8"))
    except Exception:
        return True  # no grammar here: the draft is marked unverified anyway
    return not tree.root_node.has_error
