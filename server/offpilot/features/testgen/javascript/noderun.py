"""Running JavaScript in the sandbox: the harness that records calls, and the test runners.

:func:`record_calls` writes a small ES module next to the project copy that imports the module
under test (by file URL) and runs each call, built from literal values only
(:mod:`.jsvalues`), writing one JSON line per call: the result as literal source, or the thrown
error's name and message. Everything read back is untrusted (the code under test can write to
the same file): each record is type-checked and its value parsed again as a literal. A call that
blocks the process is found by the ``start`` line it left without a result; it is recorded as a
timeout and the harness starts again for the calls left.

:func:`run_node_tests` runs a test file with ``node --test`` and a reporter that writes each
test's outcome as JSON; :func:`run_project_tests` does the same with the project's vitest or
jest (``--json``). :func:`node_runner` says how node runs a module (flags for ES module syntax
in a ``.js`` file, tsx for TypeScript) or why it cannot.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from offpilot.features.testgen.core.outcome import Outcome
from offpilot.features.testgen.core.result import RUNS
from offpilot.features.testgen.core.sandbox import DEFAULT_MEMORY_MB, RunResult, TestSandbox
from offpilot.features.testgen.javascript.jsvalues import LiteralError, parse_literal, to_js
from offpilot.features.testgen.javascript.records import JsModule, JsScenario, JsTarget
from offpilot.shared.files import read_json_records

CALL_TIMEOUT_MS = 2000  # an awaited promise that takes longer is a timeout
MAX_RESTARTS = 4  # harness runs after one ended early (a call hung or exited the process)
NODE_HEAP_MB = DEFAULT_MEMORY_MB


# ------------------------------------------------------------------------- oracle
@dataclass(frozen=True)
class JsOutcome:
    """What one call did."""

    kind: str  # "value" | "raises" | "timeout" | "exited" | "unrepresentable" | "missing"
    value: Any = None
    source: str = ""  # the value as canonical source
    error_name: str = ""
    error_class: str = ""
    message: str = ""
    is_async: bool = False

    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.source, self.error_name, self.message, self.is_async)

    @property
    def usable(self) -> bool:
        return self.kind in ("value", "raises")

    def summary(self) -> str:
        if self.kind == "value":
            return self.source if len(self.source) <= 80 else self.source[:77] + "..."
        if self.kind == "raises":
            what = self.error_class if self.error_class not in ("", self.error_name) else ""
            shown = f"{self.error_name}{f' ({what})' if what else ''}"
            return f"throws {shown}" + (f": {self.message[:80]}" if self.message else "")
        return {"timeout": "a timeout", "exited": "the process exiting"}.get(self.kind,
                                                                             self.kind)

    def as_outcome(self) -> Outcome:
        if self.kind == "raises":
            return Outcome("raises", exc_type=self.error_name)
        return Outcome(self.kind if self.kind == "value" else "unrepresentable",
                       repr=self.source)


HARNESS = r"""// Offpilot test sandbox: runs calls of the code under test, writes what each one did.
import { openSync, writeSync } from 'node:fs';

const out = openSync(process.env.OFFPILOT_REPORT, 'a');
const skip = new Set((process.env.OFFPILOT_SKIP || '').split(',').filter(Boolean).map(Number));
const emit = (record) => writeSync(out, JSON.stringify(record) + '\n');
const UNREPRESENTABLE = Symbol('unrepresentable');
const TIMEOUT = Symbol('timeout');

function source(value, depth, budget) {
  if (depth > 8 || budget.left-- <= 0) throw UNREPRESENTABLE;
  switch (typeof value) {
    case 'undefined': return 'undefined';
    case 'boolean': return String(value);
    case 'number': return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint': return value.toString() + 'n';
    case 'string':
      if (value.length > 4000) throw UNREPRESENTABLE;
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      const proto = Object.getPrototypeOf(value);
      if (Object.getOwnPropertySymbols(value).length) throw UNREPRESENTABLE;
      if (Array.isArray(value)) {
        if (proto !== Array.prototype || Object.keys(value).length !== value.length
            || value.length > 200) throw UNREPRESENTABLE;
        return '[' + value.map((v) => source(v, depth + 1, budget)).join(', ') + ']';
      }
      if (proto !== Object.prototype) throw UNREPRESENTABLE;
      const keys = Object.keys(value);
      if (keys.length > 100) throw UNREPRESENTABLE;
      return '{' + keys.map((k) => JSON.stringify(k) + ': '
        + source(value[k], depth + 1, budget)).join(', ') + '}';
    }
    default: throw UNREPRESENTABLE;
  }
}

function describe(error) {
  if (error === null || (typeof error !== 'object' && typeof error !== 'function')) return null;
  try {
    const name = String(error.name ?? '');
    const cls = String(error.constructor?.name ?? '');
    const message = typeof error.message === 'string' ? error.message : '';
    return { name: name.slice(0, 200), cls: cls.slice(0, 200), message: message.slice(0, 1000) };
  } catch {
    return null;
  }
}

let mod;
try {
  mod = await import(__MODULE_URL__);
} catch (error) {
  emit({ importError: String(error?.stack ?? error).slice(0, 3000) });
  process.exit(0);
}

function pick(name) {
  if (name === 'module') return mod.default;
  if (name === 'default') return mod.default;
  if (Object.prototype.hasOwnProperty.call(mod, name)) return mod[name];
  const whole = mod.default;
  return whole !== null && (typeof whole === 'object' || typeof whole === 'function')
    ? whole[name] : undefined;
}

const targets = {};
for (const [id, name] of __TARGETS__) targets[id] = pick(name);

const calls = [
__CALLS__
];

for (const [id, target, call] of calls) {
  if (skip.has(id)) continue;
  const f = targets[target];
  if (typeof f !== 'function') { emit({ id, kind: 'missing' }); continue; }
  emit({ id, start: true });
  let result;
  let isAsync = false;
  try {
    result = call(f);
    if (result !== null && (typeof result === 'object' || typeof result === 'function')
        && typeof result.then === 'function') {
      isAsync = true;
      let timer;
      const limit = new Promise((_, reject) => {
        timer = setTimeout(() => reject(TIMEOUT), __CALL_MS__);
      });
      try { result = await Promise.race([result, limit]); } finally { clearTimeout(timer); }
    }
  } catch (error) {
    if (error === TIMEOUT) { emit({ id, kind: 'timeout' }); continue; }
    const e = describe(error);
    emit(e ? { id, kind: 'raises', async: isAsync, ...e }
           : { id, kind: 'unrepresentable', async: isAsync });
    continue;
  }
  let text;
  try { text = source(result, 0, { left: 2000 }); } catch {
    emit({ id, kind: 'unrepresentable', async: isAsync });
    continue;
  }
  emit({ id, kind: 'value', async: isAsync, source: text });
}
process.exit(0);
"""


def node_environment(sandbox: TestSandbox, extra: dict[str, str] | None = None
                     ) -> dict[str, str]:
    """The sandbox's environment for node, its heap capped (inherited by child processes)."""
    return sandbox.environment(extra={"NODE_OPTIONS": f"--max-old-space-size={NODE_HEAP_MB}",
                                      **(extra or {})})


@dataclass
class Recording:
    outcomes: dict[int, JsOutcome] = field(default_factory=dict)
    import_error: str = ""
    timed_out: int = 0  # harness runs cut off by the timeout
    runs: int = 0


def _harness(module_path: Path, targets: Sequence[JsTarget],
             calls: Sequence[tuple[int, JsScenario]]) -> str:
    tids = {t.name: i for i, t in enumerate(targets)}
    rows = ",\n".join(f"  [{cid}, {tids[s.target]}, (f) => {s.call('f')}]" for cid, s in calls)
    return (HARNESS.replace("__MODULE_URL__", json.dumps(module_path.as_uri()))
            .replace("__TARGETS__", json.dumps([[i, t.export] for i, t in enumerate(targets)]))
            .replace("__CALLS__", rows).replace("__CALL_MS__", str(CALL_TIMEOUT_MS)))


def _outcome_of(rec: dict[str, Any]) -> JsOutcome | None:
    """A record the harness wrote, checked (the code under test could have written it)."""
    kind = rec.get("kind")
    is_async = rec.get("async") is True
    if kind == "value":
        text = rec.get("source")
        if not isinstance(text, str):
            return None
        try:
            value = parse_literal(text)
        except (LiteralError, RecursionError):
            return JsOutcome("unrepresentable", is_async=is_async)
        return JsOutcome("value", value, to_js(value), is_async=is_async)
    if kind == "raises":
        fields = [rec.get(k) for k in ("name", "cls", "message")]
        if not all(isinstance(f, str) for f in fields):
            return None
        name, cls, message = (str(f) for f in fields)
        if not re.fullmatch(r"[A-Za-z_$][\w$]*", name):
            return JsOutcome("unrepresentable", is_async=is_async)
        return JsOutcome("raises", error_name=name, error_class=cls[:200],
                         message=message[:1000], is_async=is_async)
    if kind in ("timeout", "unrepresentable", "missing"):
        return JsOutcome(str(kind), is_async=is_async)
    return None


async def record_calls(sandbox: TestSandbox, runner: NodeRunner, module_rel: str,
                       targets: Sequence[JsTarget], calls: Sequence[tuple[int, JsScenario]],
                       timeout: float) -> Recording:
    """Run ``calls`` in one node process (more when one hangs or ends the process)."""
    rec = Recording()
    script = sandbox.write_support("offpilot_oracle.mjs", _harness(
        sandbox.project_dir / module_rel, targets, calls))
    ids = {cid for cid, _s in calls}
    for _attempt in range(MAX_RESTARTS + 1):
        report = sandbox.support_dir / "oracle-report.jsonl"
        report.unlink(missing_ok=True)
        sandbox.reset_scratch()
        skip = ",".join(str(i) for i in sorted(rec.outcomes))
        result = await sandbox.run(
            [runner.node, *runner.flags, str(script)], timeout=timeout,
            env=node_environment(sandbox, {"OFFPILOT_REPORT": str(report),
                                           "OFFPILOT_SKIP": skip}))
        rec.runs += 1
        last_started: int | None = None
        for raw in read_json_records(report):
            if "importError" in raw and not rec.outcomes:
                rec.import_error = str(raw["importError"])[:3000]
                return rec
            cid = raw.get("id")
            if not isinstance(cid, int) or isinstance(cid, bool) or cid not in ids \
                    or cid in rec.outcomes:
                continue
            if raw.get("start") is True:
                last_started = cid
                continue
            outcome = _outcome_of(raw)
            if outcome is not None:
                rec.outcomes[cid] = outcome
        report.unlink(missing_ok=True)
        if result.timed_out:
            rec.timed_out += 1
        missing = ids - rec.outcomes.keys()
        if not missing:
            break
        if last_started is None or last_started in rec.outcomes:
            if not rec.outcomes and result.timed_out:
                rec.import_error = f"loading it did not finish within {timeout:.0f} s"
            elif not rec.outcomes and not result.ok:
                rec.import_error = (result.stderr or result.stdout).strip()[-2000:] or \
                    f"node exited with status {result.returncode}"
            break  # nothing ran (or the rest was skipped): another run would do the same
        rec.outcomes[last_started] = JsOutcome("timeout" if result.timed_out else "exited")
    return rec


# ------------------------------------------------------------------------- verify
REPORTER = r"""// Offpilot test sandbox: writes each test's outcome as a JSON line.
export default async function* reporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const data = event.data;
    if (data.nesting !== 0) continue;
    let error = '';
    if (event.type === 'test:fail') {
      const e = data.details?.error;
      error = String(e?.cause?.stack ?? e?.cause ?? e?.message ?? e).slice(0, 1500);
    }
    yield JSON.stringify({ pass: event.type === 'test:pass', name: data.name, error }) + '\n';
  }
}
"""


@dataclass
class NodeRunReport:
    passed_all: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False

    def count_run(self, result: RunResult, label: str, timeout: float, passes: dict[str, int],
                  seen: dict[str, tuple[bool, str]], *, reported: bool, fallback: str) -> bool:
        """Add one run's outcomes (``seen``: title -> (passed, error)) to ``passes``; False
        when another run is pointless (it timed out, or ``reported`` is False: no report)."""
        if result.timed_out:
            self.timed_out = True
            self.errors.append(f"{label} timed out after {timeout:.0f} s")
        elif not reported:
            self.errors.append((result.stderr or result.stdout).strip()[-2000:]
                               or f"{label} exited with status {result.returncode}")
        for title in passes:
            ok, error = seen.get(title, (False, ""))
            if ok:
                passes[title] += 1
            elif title not in self.failed:
                self.failed[title] = error or fallback or "not run"
        return not (self.timed_out or not seen)

    def finish(self, passes: dict[str, int], runs: int) -> NodeRunReport:
        self.passed_all = {t for t, n in passes.items() if n == runs}
        for t in self.passed_all:
            self.failed.pop(t, None)
        return self


async def run_node_tests(sandbox: TestSandbox, runner: NodeRunner, test_rel: str,
                         titles: Sequence[str], *, runs: int = RUNS,
                         timeout: float = 30.0) -> NodeRunReport:
    """Run the test file ``runs`` times with ``node --test``; which of ``titles`` passed each."""
    report = NodeRunReport()
    passes = dict.fromkeys(titles, 0)
    reporter = sandbox.write_support("offpilot_node_reporter.mjs", REPORTER)
    for _ in range(runs):
        sandbox.reset_scratch()
        dest = sandbox.support_dir / "node-test-report.jsonl"
        dest.unlink(missing_ok=True)
        result = await sandbox.run(
            [runner.node, *runner.flags, "--test", f"--test-reporter={reporter.as_uri()}",
             f"--test-reporter-destination={dest}", test_rel], timeout=timeout,
            env=node_environment(sandbox))
        seen: dict[str, tuple[bool, str]] = {}
        for raw in read_json_records(dest):
            name, ok, error = raw.get("name"), raw.get("pass"), raw.get("error", "")
            if isinstance(name, str) and isinstance(ok, bool):
                prev = seen.get(name)
                seen[name] = (ok and (prev is None or prev[0]), str(error) or (
                    prev[1] if prev else ""))
        dest.unlink(missing_ok=True)
        loading = [e for n, (ok, e) in seen.items() if not ok and n not in passes]
        if not report.count_run(result, "node --test", timeout, passes, seen,
                                reported=bool(seen), fallback=loading[0] if loading else ""):
            break
    return report.finish(passes, runs)


@dataclass(frozen=True)
class ProjectRunner:
    """The test runner the project uses, when it is installed: vitest or jest (else node:test,
    built into node)."""

    framework: str = "node:test"  # "node:test" | "vitest" | "jest"
    script: Path | None = None  # the runner's command-line script, in node_modules
    package_dir: Path | None = None  # where it runs: the folder with package.json


def project_runner(root: Path, path: Path, framework: str) -> ProjectRunner | None:
    """vitest/jest from node_modules, None when the project names one that is not installed."""
    if framework not in ("vitest", "jest"):
        return ProjectRunner()
    package = installed_package(root, path, framework)
    pkg_dir, _data = package_json(root, path)
    if package is None or pkg_dir is None:
        return None
    try:
        meta = json.loads((package / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    bin_field = meta.get("bin") if isinstance(meta, dict) else None
    script = bin_field.get(framework) if isinstance(bin_field, dict) else bin_field
    if not isinstance(script, str) or not (package / script).is_file():
        return None
    return ProjectRunner(framework, package / script, pkg_dir)


def _json_report(path: Path) -> tuple[dict[str, tuple[bool, str]], list[str]]:
    """Per-test outcomes from a jest/vitest ``--json`` report, and file-level errors."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            data = json.loads(fh.read(16 * 1024 * 1024))
    except (OSError, ValueError):
        return {}, []
    seen: dict[str, tuple[bool, str]] = {}
    errors: list[str] = []
    files = data.get("testResults") if isinstance(data, dict) else None
    for f in files if isinstance(files, list) else []:
        if not isinstance(f, dict):
            continue
        cases = f.get("assertionResults")
        cases = cases if isinstance(cases, list) else []
        if not cases and isinstance(f.get("message"), str) and f["message"].strip():
            errors.append(f["message"][-2000:])
        for a in cases:
            ancestors = a.get("ancestorTitles") if isinstance(a, dict) else None
            if not isinstance(a, dict) or (isinstance(ancestors, list) and any(ancestors)):
                continue  # inside a describe block: not one of ours
            title, status = a.get("title"), a.get("status")
            if not isinstance(title, str):
                continue
            messages = a.get("failureMessages")
            message = "\n".join(str(m) for m in messages) if isinstance(messages, list) else ""
            ok = status == "passed" and seen.get(title, (True, ""))[0]
            seen[title] = (ok, message[-1500:] or seen.get(title, (True, ""))[1])
    return seen, errors


async def run_project_tests(sandbox: TestSandbox, runner: NodeRunner, project: ProjectRunner,
                            test_rel: str, titles: Sequence[str], *, esm: bool,
                            runs: int = RUNS, timeout: float = 30.0) -> NodeRunReport:
    """Run the test file ``runs`` times with vitest or jest; which of ``titles`` passed each."""
    assert project.script is not None and project.package_dir is not None
    root = sandbox.root
    cwd = project.package_dir.relative_to(root).as_posix() if project.package_dir != root \
        else ""
    script = sandbox.project_dir / project.script.relative_to(root)
    in_package = (sandbox.project_dir / test_rel).relative_to(sandbox.project_dir / cwd
                                                              ).as_posix()
    report = NodeRunReport()
    passes = dict.fromkeys(titles, 0)
    for _ in range(runs):
        sandbox.reset_scratch()
        dest = sandbox.support_dir / "runner-report.json"
        dest.unlink(missing_ok=True)
        if project.framework == "vitest":
            argv = [runner.node, str(script), "run", in_package, "--reporter=json",
                    f"--outputFile={dest}", "--cache=false", "--watch=false"]
        else:
            argv = [runner.node, *(["--experimental-vm-modules"] if esm else []), str(script),
                    "--ci", "--json", f"--outputFile={dest}", "--watchman=false",
                    "--cache=false", "--runTestsByPath", in_package]
        result = await sandbox.run(argv, timeout=timeout, env=node_environment(
            sandbox, {"CI": "1", "FORCE_COLOR": "0"}), cwd=cwd)
        seen, errors = _json_report(dest)
        dest.unlink(missing_ok=True)
        report.errors += errors[:3]
        if not report.count_run(result, project.framework, timeout, passes, seen,
                                reported=bool(seen or errors),
                                fallback=errors[0] if errors else ""):
            break
    return report.finish(passes, runs)


# ------------------------------------------------------------------------- runner
@dataclass(frozen=True)
class NodeRunner:
    """How to run the module and its tests: node and the flags it needs."""

    node: str
    version: tuple[int, int, int]
    flags: tuple[str, ...] = ()
    note: str = ""

    @property
    def label(self) -> str:
        return "node v" + ".".join(map(str, self.version))


@cache
def node_version(node: str) -> tuple[int, int, int] | None:
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"v(\d+)\.(\d+)\.(\d+)", done.stdout.strip())
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def package_json(root: Path, source: Path) -> tuple[Path | None, dict[str, Any]]:
    """The nearest package.json at or above the source (up to the root) and its content."""
    for folder in [source.parent, *source.parent.parents]:
        path = folder / "package.json"
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
            except (OSError, ValueError):
                data = {}
            return folder, data if isinstance(data, dict) else {}
        if folder == root:
            break
    return None, {}


def node_modules_dirs(root: Path, source: Path) -> list[Path]:
    """``node_modules`` folders a module at ``source`` resolves packages from (inside root)."""
    out = []
    for folder in [source.parent, *source.parent.parents]:
        if (folder / "node_modules").is_dir():
            out.append(folder / "node_modules")
        if folder == root:
            break
    return out


def installed_package(root: Path, source: Path, name: str) -> Path | None:
    for nm in node_modules_dirs(root, source):
        if (nm / name / "package.json").is_file():
            return nm / name
    return None


def cannot_run(root: Path, path: Path, language: str) -> str:
    """Why node cannot run this file here ("" when it can)."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed"
    if path.suffix.lower() in (".jsx", ".tsx"):
        return f"node cannot run {path.suffix} files without a build step"
    if language == "typescript" and installed_package(root, path, "tsx") is None:
        return ("node cannot run TypeScript by itself and no TypeScript runner (tsx) is "
                "installed in node_modules")
    return ""


def node_runner(root: Path, path: Path, mod: JsModule, package_type: str) -> NodeRunner | str:
    """The way node runs this module, or why it cannot (the reason, for the note)."""
    node = shutil.which("node")
    version = node_version(node) if node is not None else None
    if node is None or version is None:
        return "node is not installed" if node is None else f"{node} --version did not answer"
    if mod.language == "typescript":
        if version < (20, 6, 0):
            return "running TypeScript through tsx needs node 20.6 or later (--import)"
        return NodeRunner(node, version, ("--import", "tsx"),
                          "TypeScript ran through tsx from node_modules (run the tests with "
                          "node --import tsx --test).")
    if mod.kind == "esm" and path.suffix.lower() == ".js" and package_type != "module":
        if package_type == "commonjs":
            return ('the file uses ES module syntax but package.json says "type": "commonjs", '
                    "so node cannot load it")
        if (20, 10, 0) <= version < (21, 0, 0) or (21, 1, 0) <= version < (22, 7, 0):
            return NodeRunner(node, version, ("--experimental-detect-module",),
                              "The file uses ES module syntax without \"type\": \"module\" in "
                              "package.json: it ran with node --experimental-detect-module "
                              "(run the tests the same way).")
        if version < (22, 7, 0):
            return ("the file uses ES module syntax without \"type\": \"module\" in "
                    "package.json, which this node version cannot load")
    return NodeRunner(node, version)
