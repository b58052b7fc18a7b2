"""The tests Fix runs: pytest node ids, ``node --test`` files and cargo test names.

:func:`runner_for` reads what the user named (``tests/test_x.py::test_y``, ``test/x.test.js``,
``tests::it_adds``) and returns the :class:`TestRunner` that runs it in a
:class:`~offpilot.features.testgen.core.sandbox.TestSandbox`: pytest with the test generator's
report plugin, ``node --test`` with a reporter that writes each top-level test's outcome and
error stack as JSON, ``cargo test --offline`` read as the Rust test generator reads it (with
``RUST_BACKTRACE=1``, so a panic inside the code names the function it happened in). Each run
gives a :class:`SuiteRun`: the outcome and the failure text of each test, by id
(``file::name`` for pytest and node, the test's path for cargo). The node and cargo machinery
(node's flags for the file's module syntax, ``node_modules`` mounted read-only, cargo's
environment and output) is the test generator's.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from offpilot.config import Settings
from offpilot.features.fix.frames import ParsedError, parse_error_text
from offpilot.features.fix.pytest_runs import run_pytest
from offpilot.features.fix.suite import SuiteRun, normalise_test_id
from offpilot.features.testgen.core.sandbox import TestSandbox, workspace_python
from offpilot.features.testgen.javascript import noderun
from offpilot.features.testgen.rust import generate as rust
from offpilot.shared.files import read_json_records

JS_SUFFIXES = (".js", ".mjs", ".cjs")
MAX_FAILURE_TEXT = 20_000  # characters of one test's failure kept
_RUST_TEST_NAME = re.compile(r"^[A-Za-z_]\w*(?:::[A-Za-z_]\w*)*$")


class RunnerUnavailable(Exception):
    """The tool that runs this kind of test is missing here (node, cargo); nothing ran."""


class TestRunner:
    """Runs one kind of test in a sandbox copy of :attr:`project`."""

    __test__ = False
    kind = ""  # pytest | node | cargo
    language = ""  # the code's language, for prompts and fences

    def __init__(self, project: Path) -> None:
        self.project = project.resolve()  # the folder the sandbox copies; frames are under it

    def sandbox(self, settings: Settings) -> TestSandbox:
        return TestSandbox(self.project, timeout=settings.test_timeout,
                           allow_unisolated=settings.allow_unisolated_runs)

    def prepare(self, sandbox: TestSandbox) -> None:
        """Whatever the runs need in the sandbox besides the copy (installed packages)."""

    def timeout(self, settings: Settings) -> float:
        """Seconds one run of some tests may take."""
        return settings.test_timeout

    async def run(self, sandbox: TestSandbox, ids: Sequence[str] = (), *, timeout: float,
                  name: str = "report") -> SuiteRun:
        """Run ``ids`` (all the project's tests when empty) once in ``sandbox``."""
        raise NotImplementedError

    def parse_error(self, message: str) -> ParsedError:
        return parse_error_text(message)


# ----------------------------------------------------------------------------- pytest
class PytestRunner(TestRunner):
    kind = "pytest"
    language = "python"

    def __init__(self, project: Path, python: str = "") -> None:
        super().__init__(project)
        self.python = python or workspace_python(self.project)

    def sandbox(self, settings: Settings) -> TestSandbox:
        return TestSandbox(self.project, python=self.python, timeout=settings.test_timeout,
                           allow_unisolated=settings.allow_unisolated_runs)

    async def run(self, sandbox: TestSandbox, ids: Sequence[str] = (), *, timeout: float,
                  name: str = "report") -> SuiteRun:
        return await run_pytest(sandbox, ids, timeout=timeout, name=f"{name}.json")


# ----------------------------------------------------------------------------- node --test
NODE_REPORTER = r"""// Offpilot fix: file, outcome and error stack of each top-level test.
export default async function* reporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const data = event.data;
    if (data.nesting !== 0) continue;
    let error = '';
    if (event.type === 'test:fail') {
      const e = data.details?.error;
      const c = e?.cause ?? e;
      error = String(c?.stack ?? c?.message ?? c).slice(0, 6000);
    }
    yield JSON.stringify({ pass: event.type === 'test:pass', skip: Boolean(data.skip || data.todo),
                           name: String(data.name), file: String(data.file ?? ''), error }) + '\n';
  }
}
"""


class NodeTestRunner(TestRunner):
    """``node --test``: all the test files node finds by itself, or the files named."""

    kind = "node"
    language = "javascript"

    def __init__(self, project: Path, test_rel: str, node: str, flags: tuple[str, ...]) -> None:
        super().__init__(project)
        self.test_rel = test_rel
        self.node = node
        self.flags = flags

    def sandbox(self, settings: Settings) -> TestSandbox:
        # no address-space limit: V8 reserves gigabytes; node's heap is capped instead
        return TestSandbox(self.project, timeout=settings.test_timeout, memory_mb=0,
                           allow_unisolated=settings.allow_unisolated_runs)

    def prepare(self, sandbox: TestSandbox) -> None:
        for nm in noderun.node_modules_dirs(self.project, self.project / self.test_rel):
            sandbox.link(nm.relative_to(self.project).as_posix(), nm)

    async def run(self, sandbox: TestSandbox, ids: Sequence[str] = (), *, timeout: float,
                  name: str = "report") -> SuiteRun:
        files = sorted({i.partition("::")[0] for i in ids})
        sandbox.reset_scratch()
        reporter = sandbox.write_support("offpilot_fix_reporter.mjs", NODE_REPORTER)
        dest = sandbox.support_dir / f"{name}.jsonl"
        dest.unlink(missing_ok=True)
        result = await sandbox.run(
            [self.node, *self.flags, "--test", f"--test-reporter={reporter.as_uri()}",
             f"--test-reporter-destination={dest}", *files], timeout=timeout,
            env=noderun.node_environment(sandbox))
        run = SuiteRun(output=(result.stdout + result.stderr)[-4000:],
                       timed_out=result.timed_out)
        project = sandbox.project_dir
        for rec in read_json_records(dest, max_lines=1 << 30, max_line_chars=1 << 30):
            if not isinstance(rec.get("name"), str) or not isinstance(rec.get("pass"), bool):
                continue
            file = str(rec.get("file") or "")
            try:
                rel = Path(file).resolve().relative_to(project).as_posix() if file else ""
            except (ValueError, OSError):
                rel = ""
            if not rel:
                continue
            test_id = f"{rel}::{rec['name']}"
            outcome = "skipped" if rec.get("skip") and rec["pass"] else (
                "passed" if rec["pass"] else "failed")
            if run.outcomes.get(test_id) == "failed":
                continue  # two tests of one name: one failing is a failure
            run.outcomes[test_id] = outcome
            if outcome == "failed":
                run.messages[test_id] = str(rec.get("error", ""))
        dest.unlink(missing_ok=True)
        if result.timed_out:
            run.errors.append(f"node --test timed out after {timeout:.0f} s")
        elif not run.outcomes:
            run.errors.append((result.stderr or result.stdout).strip()[-2000:]
                              or f"node --test exited with status {result.returncode}")
        return run


def node_test_runner(root: Path, test_rel: str) -> NodeTestRunner:
    """The runner for the ``node --test`` file ``test_rel`` (flags for its module syntax, as
    the test generator runs node); RunnerUnavailable when node cannot run it here."""
    from offpilot.features.testgen.javascript.generate import read_module

    path = root / test_rel
    if path.suffix.lower() not in JS_SUFFIXES:
        raise RunnerUnavailable(f"{path.name}: offpilot fix runs JavaScript test files "
                                f"({', '.join(JS_SUFFIXES)}) with node --test")
    reason = noderun.cannot_run(root, path, "javascript")
    if reason:
        raise RunnerUnavailable(reason)
    _pkg_dir, pkg = noderun.package_json(root, path)
    package_type = pkg["type"] if isinstance(pkg.get("type"), str) else ""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {test_rel}: {exc}") from None
    how = noderun.node_runner(root, path, read_module(path, source, "javascript", package_type),
                              package_type)
    if isinstance(how, str):
        raise RunnerUnavailable(how)
    return NodeTestRunner(root, test_rel, how.node, how.flags)


# ----------------------------------------------------------------------------- cargo test
class CargoTestRunner(TestRunner):
    """``cargo test --offline`` in a copy of the crate; tests are named as cargo prints them."""

    kind = "cargo"
    language = "rust"

    def __init__(self, crate: Path, cargo: str) -> None:
        super().__init__(crate)
        self.cargo = cargo

    def sandbox(self, settings: Settings) -> TestSandbox:
        return TestSandbox(self.project, timeout=settings.test_timeout,
                           memory_mb=rust.CARGO_MEMORY_MB,
                           allow_unisolated=settings.allow_unisolated_runs)

    def timeout(self, settings: Settings) -> float:
        return max(settings.test_timeout, rust.CARGO_BUILD_TIMEOUT)  # each run builds

    async def run(self, sandbox: TestSandbox, ids: Sequence[str] = (), *, timeout: float,
                  name: str = "report") -> SuiteRun:
        sandbox.reset_scratch()
        env = {**rust._cargo_env(sandbox), "RUST_BACKTRACE": "1"}
        argv = [self.cargo, "test", "--offline", "--no-fail-fast", "--", "--color", "never",
                *(["--exact", *ids] if ids else [])]
        result = await sandbox.run(argv, timeout=timeout, env=env)
        tests = rust.read_test_output(result)
        run = SuiteRun(output=(result.stdout + result.stderr)[-4000:],
                       timed_out=result.timed_out)
        names = {"ok": "passed", "FAILED": "failed", "ignored": "skipped"}
        run.outcomes = {n: names.get(o, "failed") for n, o in tests.results.items()}
        # each failure whole (the test generator keeps the end only; the panic line and the
        # backtrace's workspace frames are at its start)
        run.messages = {m.group(1): m.group(2).strip()[:MAX_FAILURE_TEXT]
                        for m in rust._FAILURE.finditer(result.stdout)
                        if m.group(1) in run.outcomes}
        if result.timed_out:
            run.errors.append(f"cargo test timed out after {timeout:.0f} s")
        elif not run.outcomes:
            run.errors.append(result.stderr.strip()[-2000:]
                              or f"cargo test exited with status {result.returncode}")
        return run


def cargo_test_runner(root: Path, cwd: Path | None = None) -> CargoTestRunner:
    """The runner for the crate ``cwd`` is in (inside ``root``), else the crate at ``root``."""
    root = root.resolve()
    here = (cwd or root).resolve()
    if here != root and root not in here.parents:
        here = root
    crate = rust.find_crate(root, here / "Cargo.toml")
    if crate is None:
        raise ValueError(f"no such test file, and {here} is not in a cargo crate (a Cargo.toml "
                         "with a [package]) whose test this could name")
    cargo = shutil.which("cargo")
    if cargo is None:
        raise RunnerUnavailable("cargo is not installed")
    return CargoTestRunner(crate, cargo)


# ----------------------------------------------------------------------------- choosing
def runner_for(root: Path, test_id: str, settings: Settings, cwd: Path | None = None
               ) -> tuple[TestRunner, str]:
    """The runner for ``test_id`` and the id as it reports it: a file's path relative to the
    project it runs in. ValueError when the id names nothing here, RunnerUnavailable when
    its tool is missing."""
    root = root.resolve()
    test_id = normalise_test_id(test_id)
    path, sep, rest = test_id.partition("::")
    candidates = [Path(path)] if Path(path).is_absolute() else [(cwd or root) / path,
                                                                 root / path]
    file = next((c.resolve() for c in candidates if path and c.is_file()), None)
    if file is None:
        if _RUST_TEST_NAME.match(test_id) and not test_id.endswith((".py", ".js")):
            runner = cargo_test_runner(root, cwd)
            return runner, test_id
        raise ValueError(f"{path}: no such test file (offpilot fix takes a pytest node id, a "
                         "node --test file or a cargo test name)")
    try:
        rel = file.relative_to(root).as_posix()
    except ValueError:
        raise ValueError(f"{path} is not a file of the workspace {root}") from None
    if file.suffix in (".py", ".pyi"):
        python = workspace_python(root, settings.python_path)
        return PytestRunner(root, python), rel + sep + rest
    if file.suffix.lower() in JS_SUFFIXES:
        return node_test_runner(root, rel), rel + sep + rest
    raise ValueError(f"{path}: offpilot fix runs pytest (.py) and node --test "
                     f"({', '.join(JS_SUFFIXES)}) files, and cargo tests by name")


def pick_target(test_id: str, run: SuiteRun) -> str | None:
    """The test of ``run`` that ``test_id`` names: itself, else the first that failed of a file
    (``tests/x.test.js``) or of a name given without its module path (``it_adds`` for
    ``tests::it_adds``), else the first such test at all."""
    if test_id in run.outcomes:
        return test_id
    named = [t for t in run.outcomes if t.startswith(test_id + "::")
             or t.endswith("::" + test_id)]
    failed = [t for t in named if run.outcomes[t] == "failed"]
    return next(iter(failed or named), None)
