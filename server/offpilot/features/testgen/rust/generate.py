"""Rust tests with cargo: recorded calls and the model's draft, run in a copy of the crate.

Two sources of tests go into one integration-test file (``tests/<stem>.rs``, importing the
crate's library with ``use <crate>::<module>::{self, *}``): characterization tests of the
public functions (:mod:`.rustcalls`: calls built from the parameter types, their results
recorded by running them in the sandbox) and the model's draft, cut to the items that parse.
The file is built with ``cargo test --offline --no-run --test <stem>`` on a copy of the crate
(without ``target/``, with unsaved buffers laid over it) and the test binary runs on its own, so
a build may take minutes (``CARGO_BUILD_TIMEOUT``) while a test run gets
``offpilot.testTimeout``. A test function that does not compile, fails, is ignored or does not
finish is removed and the file is built and run again; what is delivered is a file whose every
test passed 3 consecutive runs. Nothing passing: nothing is written.

cargo needs its own caches and toolchains, so ``CARGO_HOME`` and ``RUSTUP_HOME`` point where
they are (read from the environment, else ``~/.cargo`` and ``~/.rustup``); ``--offline`` keeps
it from fetching anything: a crate whose dependencies are not in the local cache does not build.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offpilot.engine.backend import Backend
from offpilot.features.testgen.core import proposals
from offpilot.features.testgen.core.layout import TestLayout
from offpilot.features.testgen.core.paths import confine
from offpilot.features.testgen.core.plan import FilePlan
from offpilot.features.testgen.core.request import TestGenRequest
from offpilot.features.testgen.core.result import (
    RUNS,
    GeneratedTest,
    ProgressCallback,
    TestGenResult,
    progress,
)
from offpilot.features.testgen.core.sandbox import RunResult, TestSandbox
from offpilot.features.testgen.rust import calls as rc
from offpilot.features.testgen.rust.drafts import rust_outside_uses

CARGO_BUILD_TIMEOUT = 300.0  # seconds a build may take (the first compiles the whole crate)
CARGO_MEMORY_MB = 4096  # rustc and the linker need more than a test process
MAX_CARGO_RUNS = 10  # builds and test runs together
MAX_RECORD_RESTARTS = 4  # harness runs after one ended early (a call hung or aborted)
_TEST_ATTR = re.compile(r"^#\[\s*(?:\w+::)*test\s*(?:\(|\])")


def find_crate(root: Path, path: Path) -> Path | None:
    """The nearest folder at or above ``path`` (inside root) with a Cargo.toml [package]."""
    for folder in [path.parent, *path.parent.parents]:
        manifest = folder / "Cargo.toml"
        if manifest.is_file() and "package" in _manifest(manifest):
            return folder
        if folder == root:
            break
    return None


def _manifest(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, tomllib.TOMLDecodeError, ValueError):
        return {}


def library_name(crate: Path) -> tuple[str | None, str]:
    """The crate's library name as tests ``use`` it, or None and why there is none."""
    data = _manifest(crate / "Cargo.toml")
    package = data.get("package") if isinstance(data.get("package"), dict) else {}
    lib = data.get("lib") if isinstance(data.get("lib"), dict) else {}
    assert isinstance(package, dict) and isinstance(lib, dict)
    lib_path = str(lib.get("path") or "src/lib.rs")
    if not (crate / lib_path).is_file():
        return None, ("the crate has no library target (src/lib.rs), so tests in tests/ cannot "
                      "reach its code")
    name = str(lib.get("name") or package.get("name") or crate.name)
    return name.replace("-", "_"), ""


def module_path(crate: Path, path: Path) -> str:
    """``src/shapes/circle.rs`` -> ``shapes::circle``; the crate root (lib.rs) -> ""."""
    try:
        rel = path.relative_to(crate / "src")
    except ValueError:
        return ""
    parts = list(rel.with_suffix("").parts)
    if parts and parts[-1] == "mod":
        parts.pop()
    if parts in (["lib"], ["main"]):
        return ""
    return "::".join(parts) if all(p.isidentifier() for p in parts) else ""


# ------------------------------------------------------------------------ parsing
@dataclass(frozen=True)
class RustTestFn:
    name: str  # as cargo test prints it: ``it_works`` or ``tests::it_works``
    start: int  # byte range in the draft, with its attributes and doc comments
    end: int
    first_line: int  # 0-based lines of the function itself in the draft
    last_line: int


def _parser() -> Any:
    from offpilot.context.languages import by_name

    spec = by_name("rust")
    assert spec is not None
    return spec.parser()


_ITEM_KINDS = frozenset({
    "use_declaration", "function_item", "mod_item", "const_item", "static_item",
    "struct_item", "enum_item", "impl_item", "trait_item", "type_item", "macro_definition",
    "extern_crate_declaration",
})


def salvage(draft: str) -> str:
    """The draft's complete items: what does not parse (a cut-off last function) and what is
    no item (statements a small model writes at the top level) is left out; test functions
    named by a number (``fn 1()``) get a name."""
    draft = re.sub(r"(#\[test\]\s*(?:#\[[^\]]*\]\s*)*fn\s+)(\d)", r"\1test_\2", draft)
    data = draft.encode("utf-8")
    root = _parser().parse(data).root_node
    keep: list[tuple[int, int]] = []
    pending: list[Any] = []  # attributes and comments waiting for their item
    for child in root.children:
        if child.type in ("attribute_item", "line_comment", "block_comment"):
            pending.append(child)
            continue
        if child.type in _ITEM_KINDS and not child.has_error and not child.is_missing:
            start = pending[0].start_byte if pending else child.start_byte
            keep.append((start, child.end_byte))
        pending = []
    text = "\n\n".join(data[a:b].decode("utf-8", "replace") for a, b in keep)
    return text + "\n" if text else ""


@dataclass(frozen=True)
class RustItem:
    kind: str
    start: int  # byte range, with attributes and comments before it
    end: int
    first_line: int  # 0-based
    last_line: int


def top_level_items(draft: str) -> list[RustItem]:
    data = draft.encode("utf-8")
    root = _parser().parse(data).root_node
    out: list[RustItem] = []
    pending: list[Any] = []
    for child in root.named_children:
        if child.type in ("attribute_item", "line_comment", "block_comment"):
            pending.append(child)
            continue
        first = pending[0] if pending else child
        end = child.end_byte + (1 if data[child.end_byte:child.end_byte + 1] == b"\n" else 0)
        out.append(RustItem(child.type, first.start_byte, end, first.start_point[0],
                            child.end_point[0]))
        pending = []
    return out


def rust_test_functions(draft: str) -> list[RustTestFn]:
    """The ``#[test]`` functions of a draft, top level or in (nested) modules."""
    data = draft.encode("utf-8")
    root = _parser().parse(data).root_node
    out: list[RustTestFn] = []

    def walk(container: Any, prefix: str) -> None:
        pending: list[Any] = []
        for child in container.named_children:
            if child.type in ("attribute_item", "line_comment", "block_comment"):
                pending.append(child)
                continue
            if child.type == "function_item":
                attrs = [a for a in pending if a.type == "attribute_item"]
                name = child.child_by_field_name("name")
                if name is not None and any(_TEST_ATTR.match(a.text.decode("utf-8", "replace"))
                                            for a in attrs):
                    start = pending[0].start_byte if pending else child.start_byte
                    end = child.end_byte
                    if data[end:end + 1] == b"\n":
                        end += 1
                    out.append(RustTestFn(prefix + name.text.decode("utf-8", "replace"),
                                          start, end, child.start_point[0],
                                          child.end_point[0]))
            elif child.type == "mod_item":
                body = child.child_by_field_name("body")
                name = child.child_by_field_name("name")
                if body is not None and name is not None:
                    walk(body, f"{prefix}{name.text.decode('utf-8', 'replace')}::")
            pending = []

    walk(root, "")
    return out


def cut(draft: str, ranges: Sequence[tuple[int, int]]) -> str:
    """The draft without the byte ranges (test functions, items)."""
    data = draft.encode("utf-8")
    for start, end in sorted(set(ranges), reverse=True):
        data = data[:start] + data[end:]
    return re.sub(r"\n{3,}", "\n\n", data.decode("utf-8", "replace"))


def without(draft: str, fns: Sequence[RustTestFn]) -> str:
    """The draft with ``fns`` cut out."""
    return cut(draft, [(f.start, f.end) for f in fns])


_RESULT_LINE = re.compile(r"^test (\S+)(?: - should panic)? \.\.\. (ok|FAILED|ignored)\b",
                          re.M)
_FAILURE = re.compile(r"^---- (\S+) stdout ----\n(.*?)(?=^---- |^failures:|^test result:|\Z)",
                      re.M | re.S)


@dataclass
class CargoBuild:
    """What ``cargo test --no-run --message-format=json`` said."""

    executable: str  # the test binary ("" when it did not build)
    errors: list[tuple[str, str, int]]  # (message, file, 1-based line) of each error
    result: RunResult


def read_build(result: RunResult, stem: str) -> CargoBuild:
    executable = ""
    errors: list[tuple[str, str, int]] = []
    for line in result.stdout.splitlines()[:50_000]:
        if not line.startswith("{"):
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if not isinstance(msg, dict):
            continue
        if msg.get("reason") == "compiler-artifact":
            target = msg.get("target") if isinstance(msg.get("target"), dict) else {}
            exe = msg.get("executable")
            if isinstance(exe, str) and isinstance(target, dict) and target.get("name") == stem:
                executable = exe
        elif msg.get("reason") == "compiler-message":
            m = msg.get("message") if isinstance(msg.get("message"), dict) else {}
            if not isinstance(m, dict) or m.get("level") != "error":
                continue
            spans = [sp for sp in m.get("spans") or [] if isinstance(sp, dict)]
            primary = next((sp for sp in spans if sp.get("is_primary")), spans[0] if spans
                           else {})
            errors.append((str(m.get("message", "error"))[:300],
                           str(primary.get("file_name", "")),
                           int(primary.get("line_start", 0) or 0)))
    return CargoBuild(executable, errors, result)


@dataclass
class TestRun:
    results: dict[str, str]  # name -> "ok" | "FAILED" | "ignored"
    failures: dict[str, str]
    result: RunResult

    __test__ = False


def read_test_output(result: RunResult) -> TestRun:
    out = result.stdout
    return TestRun({m.group(1): m.group(2) for m in _RESULT_LINE.finditer(out)},
                   {m.group(1): m.group(2).strip()[-1500:] for m in _FAILURE.finditer(out)},
                   result)


# ----------------------------------------------------------------------- pipeline
def _cargo_env(sandbox: TestSandbox) -> dict[str, str]:
    home = Path.home()
    extra = {
        "CARGO_HOME": os.environ.get("CARGO_HOME") or str(home / ".cargo"),
        "RUSTUP_HOME": os.environ.get("RUSTUP_HOME") or str(home / ".rustup"),
        "CARGO_TERM_COLOR": "never",
        "CARGO_NET_OFFLINE": "true",
        "RUST_BACKTRACE": "0",
    }
    if os.environ.get("RUSTUP_TOOLCHAIN"):
        extra["RUSTUP_TOOLCHAIN"] = os.environ["RUSTUP_TOOLCHAIN"]
    return sandbox.environment(extra=extra)


FEW_SHOT = """// File: src/ranges.rs
/// The value limited to the range from low to high.
pub fn clamp(value: i32, low: i32, high: i32) -> i32 {
    value.max(low).min(high)
}

// File: tests/ranges.rs (cargo test integration tests for src/ranges.rs)
use numbers::ranges::{self, *};

#[test]
fn clamp_keeps_a_value_inside() {
    assert_eq!(clamp(5, 0, 10), 5);
}

#[test]
fn clamp_raises_a_value_below() {
    assert_eq!(ranges::clamp(-3, 0, 10), 0);
}

"""
_PUB_FN = re.compile(r"\bpub\s+(?:const\s+|async\s+|unsafe\s+)*fn\s+([A-Za-z_]\w*)")


def rust_prompt(source: str, rel: str, test_rel: str, use_line: str) -> tuple[str, str]:
    """A few-shot prompt that continues into the test file, and the start of that file (it
    names the first test after the first public function, so a small model goes on from a
    name instead of making up a number)."""
    m = _PUB_FN.search(source)
    primer = f"{use_line}\n\n#[test]\nfn {m.group(1) + '_' if m else 'test_'}"
    prompt = (f"{FEW_SHOT}// File: {rel}\n{source[:3000]}\n\n// File: {test_rel} (cargo test "
              f"integration tests for {rel})\n{primer}")
    return prompt, primer


def _select_targets(targets: list[rc.RustTarget], *, symbol: str, start_line: int,
                    end_line: int, scope: str) -> list[rc.RustTarget]:
    if scope == "file":
        return targets
    if symbol:
        return [t for t in targets if t.name == symbol.rsplit("::", 1)[-1]]
    return [t for t in targets if t.first_line <= end_line and t.last_line >= start_line]


async def _model_draft(backend: Backend, request: TestGenRequest, result: TestGenResult,
                       prompt: str, primer: str, use_line: str, lib: str) -> str:
    """The model's test functions (and helpers), without the ``use`` line they start with."""
    request.progress("asking the model for cargo tests", 10)
    text = await proposals.draft(backend, prompt, request.settings, result.notes)
    if text is None:
        return ""
    draft = salvage(primer + text)
    if draft.startswith(use_line):
        draft = draft[len(use_line):].lstrip("\n")
    if not rust_test_functions(draft):
        result.notes.append("The model's draft has no complete #[test] function.")
        return ""
    outside = rust_outside_uses(draft, (lib,))
    if outside:
        result.notes.append("The model's draft uses more than the crate and the test "
                            f"framework ({', '.join(outside[:3])}); it was not run or "
                            "written.")
        return ""
    return draft


@dataclass(frozen=True)
class _CargoJob:
    """What the cargo steps of one Rust request share."""

    cargo: str  # the cargo program
    use_line: str  # ``use lib::module::{self, *};``
    original: str | None  # the test file's text when generation started
    test_in_crate: str  # the test file, relative to the crate
    build_timeout: float
    test_timeout: float
    on_progress: ProgressCallback | None


async def generate_rust(request: TestGenRequest, layout: TestLayout, crate: Path, lib: str,
                        cargo: str, original: str | None) -> TestGenResult:
    """Characterization tests of the public functions and the model's draft, run with cargo;
    only the test functions that pass are kept."""
    root, path, source = request.root, request.path, request.source
    settings, on_progress, backend = request.settings, request.on_progress, request.backend
    rel = request.rel
    test_abs = confine(root, layout.test_path)
    targets = _select_targets(rc.rust_targets(source), symbol=request.symbol,
                              start_line=request.start_line, end_line=request.end_line,
                              scope=request.scope)
    result = TestGenResult(root, path, "rust", framework="cargo test", test_path=test_abs,
                           original=original, targets=[t.name for t in targets] or [rel])
    module = module_path(crate, path)
    # the module itself too: a model often writes ``geometry::area(...)``
    use_line = f"use {lib}::{module}::{{self, *}};" if module else f"use {lib}::*;"
    test_in_crate = test_abs.relative_to(crate.resolve()).as_posix()
    draft = ""
    if backend is not None:
        prompt, primer = rust_prompt(request.focus(), rel, layout.test_path.as_posix(),
                                     use_line)
        draft = await _model_draft(backend, request, result, prompt, primer, use_line, lib)
    else:
        result.notes.append("No model was used; the tests come from calls of the public "
                            "functions only.")
    if not targets:
        result.notes.append("No public function with simple parameter and result types "
                            "(numbers, bool, char, strings, Vec, Option, tuples) to call.")
        if not draft:
            result.notes.append("Nothing to run, so nothing was written.")
            return result
    overlay: dict[str, str] = {}
    try:
        if path.read_text(encoding="utf-8") != source:
            overlay[path.relative_to(crate.resolve()).as_posix()] = source
    except OSError:
        overlay[path.relative_to(crate.resolve()).as_posix()] = source
    build_timeout = max(settings.test_timeout, CARGO_BUILD_TIMEOUT)
    job = _CargoJob(cargo, use_line, original, test_in_crate, build_timeout,
                    settings.test_timeout, on_progress)
    progress(on_progress, "copying the crate into a sandbox", 30)
    async with TestSandbox(crate, timeout=settings.test_timeout, overlay=overlay,
                           memory_mb=CARGO_MEMORY_MB,
                           allow_unisolated=settings.allow_unisolated_runs) as sandbox:
        recorded, calls_of = await _characterize(sandbox, job, targets, result) \
            if targets else ("", {})
        # an existing file that has the line already (an earlier run) would import twice
        head = "" if use_line in (original or "").splitlines() else f"{use_line}\n\n"
        combined = f"{head}{recorded}{draft}"
        fns = rust_test_functions(combined)
        if not fns:
            result.notes.append("No new test to run, so nothing was written.")
            return result
        final, kept, failed, problem = await _run_until_stable(sandbox, job, combined)
    recorded_names = set(calls_of)
    data = combined.encode("utf-8")
    for f in fns:
        code = data[f.start:f.end].decode("utf-8", "replace").strip()
        status = "kept" if f.name in kept else "failing"
        origin = "signature" if f.name in recorded_names else "model"
        result.tests.append(GeneratedTest(f.name, rel, calls_of.get(f.name, ""), origin,
                                          status, code, None, f.name,
                                          message=failed.get(f.name, "")))
    n_model = len(fns) - len(recorded_names)
    parts = [f"{len(recorded_names)} recorded" if recorded_names else "",
             f"{n_model} from the model" if n_model else ""]
    result.notes.append(f"Built {len(fns)} test function{'s' if len(fns) != 1 else ''} ("
                        + ", ".join(p for p in parts if p) + ") with cargo test --offline in "
                        f"a copy of the crate and ran them 3 times (each test run limited to "
                        f"{settings.test_timeout:.0f} s, a build to {build_timeout:.0f} s).")
    if problem:
        result.notes.append(problem)
    if failed:
        reasons = "; ".join(f"{n}: {_first_line(m)}" for n, m in list(failed.items())[:3])
        result.notes.append(f"Removed {len(failed)} test function"
                            f"{'s' if len(failed) != 1 else ''} that did not pass: {reasons}"
                            + (" ..." if len(failed) > 3 else "") + ".")
    if kept:
        text = _file_text(original, final.rstrip() + "\n", rel)
        at = len(original or "")
        result.plan = FilePlan((original or "") + text, ((at, text),))
    else:
        result.notes.append("No test passed, so nothing was written.")
    progress(on_progress, f"kept {len(kept)} of {len(fns)} tests", 98)
    return result


ORACLE_TEST = "offpilot_oracle"  # the harness's integration-test name in the crate copy


async def _characterize(sandbox: TestSandbox, job: _CargoJob,
                        targets: Sequence[rc.RustTarget], result: TestGenResult
                        ) -> tuple[str, dict[str, str]]:
    """Tests from recorded calls of ``targets``: the source of ``#[test]`` functions (or "")
    and the call each one makes, by name. Names the existing test file uses are avoided, and
    what it asserts already is left out."""
    cargo, use_line, on_progress = job.cargo, job.use_line, job.on_progress
    build_timeout, test_timeout, original = job.build_timeout, job.test_timeout, job.original or ""
    calls = [(t, c) for t in targets for c in rc.target_calls(t)]
    result.scenarios += len(calls)
    sandbox.write(f"tests/{ORACLE_TEST}.rs", rc.harness(use_line, [c for _t, c in calls]))
    env = _cargo_env(sandbox)
    progress(on_progress, f"building {len(calls)} calls of {len(targets)} function"
                           f"{'s' if len(targets) != 1 else ''}", 32)
    build = read_build(await sandbox.run(
        [cargo, "test", "--offline", "--no-run", "--test", ORACLE_TEST,
         "--message-format=json"], timeout=build_timeout, env=env), ORACLE_TEST)
    sandbox.remove(f"tests/{ORACLE_TEST}.rs")
    if not build.executable:
        why = build.errors[0][0] if build.errors else (
            f"no build within {build_timeout:.0f} s" if build.result.timed_out
            else _tail(build.result))
        result.notes.append(f"The calls of the public functions could not be built ({why}); "
                            f"is the module public from the crate root?")
        return "", {}
    ids = set(range(len(calls)))
    runs: list[dict[int, rc.RustOutcome]] = []
    hung = 0
    for label in ("recording", "recording again"):
        progress(on_progress, f"{label} what {len(calls)} calls do", 36)
        outcomes: dict[int, rc.RustOutcome] = {} if not runs else {
            i: o for i, o in runs[0].items() if o.kind in ("timeout", "exited")}
        for _attempt in range(MAX_RECORD_RESTARTS + 1):
            report = sandbox.support_dir / "rust-oracle.jsonl"
            report.unlink(missing_ok=True)
            sandbox.reset_scratch()
            run = await sandbox.run([build.executable, "--color", "never", "--test-threads",
                                     "1"], timeout=test_timeout, env={
                **env, "CARGO_MANIFEST_DIR": str(sandbox.project_dir),
                "OFFPILOT_REPORT": str(report),
                "OFFPILOT_SKIP": ",".join(str(i) for i in sorted(outcomes))})
            try:
                text = report.read_text(encoding="utf-8", errors="replace")[:8_000_000]
            except OSError:
                text = ""
            got, last = rc.read_records(text, ids)
            for i, o in got.items():
                outcomes.setdefault(i, o)
            if ids <= outcomes.keys() or last is None or last in outcomes:
                break
            outcomes[last] = rc.RustOutcome("timeout" if run.timed_out else "exited")
        runs.append(outcomes)
    first, second = runs
    per_target: dict[str, list[tuple[str, rc.RustOutcome]]] = {t.name: [] for t in targets}
    unstable = 0
    for i, (t, call) in enumerate(calls):
        got_first = first.get(i)
        if got_first is None:
            continue
        if got_first.kind in ("timeout", "exited"):
            hung += 1
            continue
        if second.get(i) != got_first:
            unstable += 1
            continue
        result.usable_calls += 1
        per_target[t.name].append((call, got_first))
    result.notes.append(f"Ran {len(calls)} calls of the public functions in the sandbox "
                        "(twice) to record what they return or whether they panic.")
    if hung:
        result.notes.append(f"{hung} call{'s' if hung != 1 else ''} hung or ended the process "
                            "and became no test.")
    if unstable:
        result.notes.append(f"{unstable} call{'s' if unstable != 1 else ''} gave different "
                            "results in the two runs and became no test.")
    taken = set(re.findall(r"\bfn\s+([A-Za-z_]\w*)", original))
    by_name = {t.name: t for t in targets}
    pieces: list[str] = []
    calls_of: dict[str, str] = {}
    there = 0
    for name, cands in per_target.items():
        for call, o in rc.select(cands):
            rendered = rc.render_test(by_name[name], call, o, taken)
            if rendered is None:
                continue
            if rc.squeezed(rendered[1]).split("{", 1)[-1] in rc.squeezed(original):
                there += 1
                continue
            calls_of[rendered[0]] = call
            pieces.append(rendered[1])
    if there:
        result.notes.append(f"Left out {there} recorded test{'s' if there != 1 else ''} that "
                            "the test file already has (from an earlier run).")
    return "\n".join(pieces) + ("\n" if pieces else ""), calls_of


def _file_text(original: str | None, draft: str, rel: str) -> str:
    """What is appended to the test file (all of it, for a new file)."""
    if not original or not original.strip():
        return f"// Tests for {rel}.\n\n{draft}"
    return ("\n" if original.endswith("\n") else "\n\n") + draft


def _first_line(message: str) -> str:
    """The gist of a test's failure: the assertion with its values, or the panic message."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("assertion"):
            values = [v for v in lines[i + 1:i + 3] if v.startswith(("left:", "right:"))]
            return (line + (f" ({', '.join(values)})" if values else ""))[:200]
    for i, line in enumerate(lines):
        if "panicked at" in line and i + 1 < len(lines):
            return lines[i + 1][:200]
    return lines[0][:200] if lines else "failed"


def _removal_for_errors(current: str, lines: dict[int, str], failed: dict[str, str]
                        ) -> list[tuple[int, int]] | None:
    """Byte ranges to cut for compile errors at ``lines`` (0-based in ``current``): the test
    functions they are in, else the top-level items (helpers, modules); None when one is in
    the ``use`` line the file starts with, which nothing can do without."""
    fns = rust_test_functions(current)
    ranges: list[tuple[int, int]] = []
    for line, message in lines.items():
        fn = next((f for f in fns if f.first_line <= line <= f.last_line), None)
        if fn is not None:
            failed.setdefault(fn.name, f"does not compile: {message}")
            ranges.append((fn.start, fn.end))
            continue
        items = top_level_items(current)
        item = next((i for i in items if i.first_line <= line <= i.last_line), None)
        if item is None or item is items[0]:
            return None
        for f in fns:
            if item.start <= f.start and f.end <= item.end:
                failed.setdefault(f.name, f"does not compile: {message}")
        ranges.append((item.start, item.end))
    return ranges


async def _run_until_stable(sandbox: TestSandbox, job: _CargoJob, draft: str
                            ) -> tuple[str, set[str], dict[str, str], str]:
    """Build and run until the remaining tests passed RUNS consecutive runs of one file.

    A test function that does not compile, fails, is ignored or does not finish in time is cut
    out (and an item with a compile error outside the tests), and the count starts again.
    Returns (the final draft, kept names, why each removed test was removed, a problem that
    stopped it all or "").
    """
    cargo, original, on_progress = job.cargo, job.original, job.on_progress
    test_rel = job.test_in_crate
    stem, build_timeout, test_timeout = Path(test_rel).stem, job.build_timeout, job.test_timeout
    current = draft
    failed: dict[str, str] = {}
    streak = 0
    executable = ""
    env = _cargo_env(sandbox)
    prefix = "" if not original or not original.strip() else (
        original + ("\n" if original.endswith("\n") else "\n\n"))
    offset = prefix.count("\n")
    for i in range(MAX_CARGO_RUNS):
        fns = rust_test_functions(current)
        if not fns:
            return current, set(), failed, ""
        pct = 40 + min(50, 6 * i)
        if not executable:
            sandbox.write(test_rel, prefix + current)
            progress(on_progress, f"building the tests with cargo ({len(fns)} test "
                                   f"function{'s' if len(fns) != 1 else ''})", pct)
            build = read_build(await sandbox.run(
                [cargo, "test", "--offline", "--no-run", "--test", stem,
                 "--message-format=json"], timeout=build_timeout, env=env), stem)
            if build.result.timed_out:
                return current, set(), failed, (f"cargo did not finish building within "
                                                f"{build_timeout:.0f} s.")
            if not build.executable:
                lines = {line - offset - 1: msg for msg, file, line in build.errors
                         if file.replace("\\", "/").endswith(test_rel)}
                ranges = _removal_for_errors(current, lines, failed) if lines else None
                if not ranges:
                    first = build.errors[0] if build.errors else None
                    where = f" ({first[1]}:{first[2]})" if first and first[1] else ""
                    why = first[0] if first else _tail(build.result)
                    for f in fns:
                        failed.setdefault(f.name, f"does not compile: {why}")
                    return current, set(), failed, (
                        f"cargo could not build the tests{where}: {why}")
                current, streak = cut(current, ranges), 0
                continue
            executable = build.executable
        progress(on_progress, f"running the tests, run {streak + 1} of {RUNS}", pct)
        sandbox.reset_scratch()
        run = read_test_output(await sandbox.run(
            [executable, "--color", "never"], timeout=test_timeout,
            env={**env, "CARGO_MANIFEST_DIR": str(sandbox.project_dir)}))
        bad: list[RustTestFn] = []
        for f in fns:
            outcome = run.results.get(f.name)
            if outcome == "ok":
                continue
            if run.result.timed_out and outcome is None:
                failed[f.name] = f"did not finish within {test_timeout:.0f} s"
            elif outcome == "ignored":
                failed[f.name] = "ignored (#[ignore]), so it was not run"
            else:
                failed[f.name] = run.failures.get(f.name) or (
                    "failed" if outcome else "not run")
            bad.append(f)
        if bad:
            current, executable, streak = without(current, bad), "", 0
            continue
        if run.result.timed_out:
            return current, set(), failed, f"The tests timed out after {test_timeout:.0f} s."
        streak += 1
        if streak >= RUNS:
            return current, {f.name for f in fns}, failed, ""
    fns = rust_test_functions(current)
    for f in fns:
        failed.setdefault(f.name, "did not pass enough runs in a row")
    return current, set(), failed, (f"The tests did not pass {RUNS} runs in a row within "
                                    f"{MAX_CARGO_RUNS} cargo runs.")


def _tail(result: RunResult) -> str:
    text = (result.stderr or result.stdout).strip()
    return text[-600:] if text else f"cargo exited with status {result.returncode}"
