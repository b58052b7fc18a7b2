"""Run a test file in the sandbox several times and report each test's outcome per run.

pytest runs with a small plugin (``offpilot_pytest_report``, written next to the project copy)
that writes every test's outcome to a JSON file; without pytest in the interpreter, a unittest
runner does the same for ``TestCase`` classes. Only the tests named are run, so a user's
existing tests in the same file neither slow this down nor decide what is kept.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from offpilot.features.testgen.core.sandbox import TestSandbox

PYTEST_PLUGIN = '''\
"""Writes each test's outcome to $OFFPILOT_REPORT (Offpilot test sandbox)."""
import json
import os

_results = {}
_messages = {}
_errors = []


def pytest_runtest_logreport(report):
    state = _results.get(report.nodeid, "passed")
    if report.failed:
        state = "failed"
        _messages.setdefault(report.nodeid, str(report.longrepr)[-1500:])
    elif report.skipped and state == "passed":
        state = "skipped"
    _results[report.nodeid] = state


def pytest_collectreport(report):
    if report.failed:
        _errors.append(str(report.longrepr)[-3000:])


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("OFFPILOT_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"results": _results, "messages": _messages, "errors": _errors}, fh)
'''

UNITTEST_RUNNER = '''\
"""Runs unittest tests by name and writes their outcomes as JSON (Offpilot test sandbox)."""
import importlib.util
import json
import os
import sys
import unittest


def main(path, names):
    out = {"results": {}, "messages": {}, "errors": []}
    try:
        spec = importlib.util.spec_from_file_location("offpilot_test_module", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["offpilot_test_module"] = module
        spec.loader.exec_module(module)
    except BaseException as exc:
        out["errors"].append("%s: %s" % (type(exc).__name__, exc))
        names = []
    for name in names:
        key = "file::" + name  # the shape of a pytest node id
        cls_name, _, method = name.partition("::")
        try:
            case = getattr(module, cls_name)(method)
        except BaseException as exc:
            out["results"][key] = "failed"
            out["messages"][key] = "%s: %s" % (type(exc).__name__, exc)
            continue
        result = unittest.TestResult()
        case.run(result)
        problems = result.failures + result.errors
        if problems:
            out["results"][key] = "failed"
            out["messages"][key] = problems[0][1][-1500:]
        elif result.skipped:
            out["results"][key] = "skipped"
        else:
            out["results"][key] = "passed"
    with open(os.environ["OFFPILOT_REPORT"], "w", encoding="utf-8") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
'''


@dataclass
class RunReport:
    """Outcomes of the named tests over all runs."""

    passed_all: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # test key -> first failure message
    errors: list[str] = field(default_factory=list)  # collection/import errors
    runs: int = 0
    timed_out: bool = False


def _read_report(sandbox: TestSandbox, name: str) -> dict[str, object]:
    path = sandbox.support_dir / name
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            data = json.loads(fh.read(16 * 1024 * 1024))
    except (OSError, ValueError):
        return {}
    finally:
        path.unlink(missing_ok=True)
    return data if isinstance(data, dict) else {}


def _key_of(nodeid: str) -> str:
    """``tests/test_x.py::TestA::test_b`` -> ``TestA::test_b``; ``...::test_b`` -> ``test_b``."""
    parts = nodeid.split("::")
    return "::".join(parts[1:]) if len(parts) > 1 else nodeid


async def run_tests(sandbox: TestSandbox, test_path: str, keys: Sequence[str], *,
                    runner: str = "pytest", runs: int = 3, timeout: float = 30.0,
                    pythonpath: Sequence[Path] = ()) -> RunReport:
    """Run the tests ``keys`` (``name`` or ``Class::name``) of ``test_path`` ``runs`` times."""
    report = RunReport()
    if not keys:
        return report
    passes: dict[str, int] = dict.fromkeys(keys, 0)
    # pytest's plugin autoloading can take seconds; the first runs go without it, the last
    # with the project's full setup. If a run without plugins fails, plugins it is throughout.
    fast = runner == "pytest"
    failed_without_plugins: set[str] = set()
    i = 0
    while i < runs:
        sandbox.reset_scratch()
        name = f"report-{i}.json"
        env = {"OFFPILOT_REPORT": str(sandbox.support_dir / name)}
        if fast and i < runs - 1:
            env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        if runner == "pytest":
            sandbox.write_support("offpilot_pytest_report.py", PYTEST_PLUGIN)
            args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                    "offpilot_pytest_report", *[f"{test_path}::{k}" for k in keys]]
        else:
            script = sandbox.write_support("offpilot_unittest_runner.py", UNITTEST_RUNNER)
            args = [str(script), str(sandbox.project_dir / test_path), *keys]
        result = await sandbox.run_python(args, timeout=timeout, env=env,
                                          pythonpath=pythonpath,
                                          hash_seed=random.randrange(1, 2**31))
        data = _read_report(sandbox, name)
        results = data.get("results") if isinstance(data.get("results"), dict) else {}
        messages = data.get("messages") if isinstance(data.get("messages"), dict) else {}
        errors = data.get("errors") if isinstance(data.get("errors"), list) else []
        assert isinstance(results, dict) and isinstance(messages, dict)
        assert isinstance(errors, list)
        by_key = {_key_of(str(k)): str(v) for k, v in results.items()}
        not_passed = {k for k in keys if by_key.get(k) != "passed"}
        if "PYTEST_DISABLE_PLUGIN_AUTOLOAD" in env and (errors or not data or not_passed):
            fast = False  # maybe the project needs a plugin: the next runs load them
            if errors or not data:
                continue  # this run says nothing about the tests: do it again with plugins
            failed_without_plugins |= not_passed
        elif failed_without_plugins and failed_without_plugins - not_passed:
            # a test that failed without plugins passes with them: count from scratch
            failed_without_plugins = set()
            passes = dict.fromkeys(keys, 0)
            report.failed.clear()
            i = 0
            continue
        report.runs += 1
        report.errors += [str(e)[:3000] for e in errors[:5]]
        if result.timed_out:
            report.timed_out = True
            report.errors.append(f"the test run timed out after {timeout:.0f} s")
        elif not data:
            report.errors.append((result.stderr or result.stdout).strip()[-2000:]
                                 or f"the test run failed (exit status {result.returncode})")
        msg_by_key = {_key_of(str(k)): str(v) for k, v in messages.items()}
        for k in keys:
            if by_key.get(k) == "passed":
                passes[k] += 1
            elif k not in report.failed:
                report.failed[k] = msg_by_key.get(k) or by_key.get(k, "not run")
        if report.timed_out or not data:
            break  # the same would happen again
        i += 1
    report.passed_all = {k for k, n in passes.items() if n == runs}
    for k in report.passed_all:
        report.failed.pop(k, None)
    return report
