"""Attacks on Fix this problem: a candidate fix (what a model could answer) that deletes and
writes files outside the workspace or reads the server's secrets, wrapped in a right answer.

The candidates are written here, not by a model: the attack is on the verifier and its sandbox.
A candidate that reaches further than the code it fixes is refused before it runs (once applied,
it would run outside any sandbox whenever the user runs the code); the same payloads run as test
code in the sandbox change nothing outside (the canaries: a temp dir, hidden from the sandbox,
and a folder it sees read-only); the user's file is never written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from offpilot.features.fix.edits import function_span, read_source
from offpilot.features.fix.failing_test import TestFixVerifier
from offpilot.features.fix.pytest_runs import run_pytest
from offpilot.features.testgen.core.sandbox import TestSandbox, filesystem_isolation

from tests.security.conftest import SECRET_NAME, Canaries

pytestmark = pytest.mark.skipif(not filesystem_isolation().available,
                                reason="no bubblewrap sandbox on this machine")

CALC = '''\
def add(a, b):
    """The sum of a and b."""
    return a - b
'''
TESTS = '''\
from calc import add


def test_add():
    assert add(2, 3) == 5


def test_add_zero():
    assert add(0, 0) == 0
'''
TARGET = "tests/test_calc.py::test_add"


def hostile(canaries: Canaries) -> list[str]:
    """Right answers with a payload: each would be verified if the payload were harmless."""
    places = [canaries.hidden, canaries.visible]
    payloads = []
    for place in places:
        payloads.append(f"import shutil; shutil.rmtree({str(place)!r}, ignore_errors=True)")
        payloads.append(f"import os; [os.remove(os.path.join({str(place)!r}, n)) "
                        f"for n in os.listdir({str(place)!r}) if n.endswith('.txt')]")
        payloads.append(f"open({str(place / 'victim.txt')!r}, 'w').write('owned')")
    payloads.append(f"import os; open('/tmp/leak.txt', 'w').write(os.environ.get("
                    f"{SECRET_NAME!r}, 'absent'))")
    return [f"def add(a, b):\n    try:\n        {p}\n    except OSError:\n        pass\n"
            "    return a + b\n" for p in payloads]


async def test_candidate_fixes_cannot_reach_outside_the_sandbox(tmp_path: Path,
                                                                canaries: Canaries):
    root = tmp_path / "calc-project"
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'calc'\nversion = '0'\n")
    (root / "calc.py").write_text(CALC, encoding="utf-8")
    (root / "tests" / "test_calc.py").write_text(TESTS, encoding="utf-8")
    path = root / "calc.py"
    text = read_source(path)
    span = function_span(path, text, 3)
    assert span is not None
    async with TestSandbox(root, timeout=60) as sandbox:
        before = await run_pytest(sandbox, timeout=60)
        assert before.outcomes[TARGET] == "failed"
        verifier = TestFixVerifier(sandbox, rel_path="calc.py", text=text, span=span,
                                   target_id=TARGET, passed_before=sorted(before.passed()),
                                   runs=3, timeout=60)
        for candidate in hostile(canaries):
            edit, verdict = await verifier.check(candidate)
            # The payload would run unsandboxed once the fix is in the user's code: never
            # verified, and refused before it runs.
            assert edit is None and verdict.stage == "static", (candidate, verdict)
            canaries.assert_untouched()
        # The same payloads, run in the sandbox (as code under test would run them): nothing
        # outside changes and the secret does not leak.
        for candidate in hostile(canaries):
            payload = candidate.replace("def add(a, b):", "def test_payload():", 1)
            (sandbox.project_dir / "tests" / "test_payload.py").write_text(payload)
            await run_pytest(sandbox, timeout=60)
            canaries.assert_untouched()
        leak = sandbox.project_dir.parent / "leak.txt"
        assert not leak.exists() or canaries.secret not in leak.read_text()
    canaries.assert_untouched()
    assert read_source(path) == text  # the user's file is never written
    assert not Path("/tmp/leak.txt").exists() or \
        canaries.secret not in Path("/tmp/leak.txt").read_text()
