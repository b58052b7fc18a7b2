"""Run pytest in a sandbox and read each test's outcome (the test generator's report plugin).

Tracebacks are asked for in Python's own format (``--tb=native``) so that
:func:`~offpilot.features.fix.frames.parse_error_text` reads them like any other.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from offpilot.features.fix.suite import SuiteRun, normalise_test_id
from offpilot.features.testgen.core.sandbox import TestSandbox
from offpilot.features.testgen.python.verify import PYTEST_PLUGIN, _read_report

PLUGIN_NAME = "offpilot_pytest_report"


PytestRun = SuiteRun  # a pytest session is a run of the suite like any other
normalise_node_id = normalise_test_id


async def run_pytest(sandbox: TestSandbox, node_ids: Sequence[str] = (), *, timeout: float,
                     name: str = "report.json") -> PytestRun:
    """Run ``node_ids`` (all the project's tests when empty) once in ``sandbox``."""
    sandbox.reset_scratch()
    sandbox.write_support(f"{PLUGIN_NAME}.py", PYTEST_PLUGIN)
    env = {"OFFPILOT_REPORT": str(sandbox.support_dir / name)}
    result = await sandbox.run_python(
        ["-m", "pytest", "-q", "--rootdir", ".", "-p", "no:cacheprovider", "-p", PLUGIN_NAME,
         "--tb=native", "-o", "console_output_style=classic", *node_ids],
        timeout=timeout, env=env, pythonpath=[sandbox.project_dir],
        hash_seed=random.randrange(1, 2**31))
    data = _read_report(sandbox, name)
    outcomes = data.get("results") if isinstance(data.get("results"), dict) else {}
    messages = data.get("messages") if isinstance(data.get("messages"), dict) else {}
    errors = data.get("errors") if isinstance(data.get("errors"), list) else []
    run = PytestRun(output=(result.stdout + result.stderr)[-4000:], timed_out=result.timed_out)
    assert isinstance(outcomes, dict) and isinstance(messages, dict) and isinstance(errors, list)
    run.outcomes = {normalise_test_id(str(k)): str(v) for k, v in outcomes.items()}
    run.messages = {normalise_test_id(str(k)): str(v) for k, v in messages.items()}
    run.errors = [str(e) for e in errors]
    if result.timed_out:
        run.errors.append(f"the test run timed out after {timeout:.0f} s")
    elif not data:
        run.errors.append(run.output.strip()[-2000:]
                          or f"pytest did not run (exit status {result.returncode})")
    return run
