"""Generate unit tests that pass on the current code.

:func:`generate_tests` is the pipeline (targets, scenarios, oracle, selection, verification);
the command line (``offpilot tests``) and the language server (``offpilot.generateTests``) call
it and write the resulting test file themselves.
"""

from offpilot.features.testgen.generate import (
    GeneratedTest,
    PossibleBug,
    TestGenResult,
    explain_not_run,
    generate_tests,
)
from offpilot.features.testgen.paths import PathOutsideWorkspace, ensure_inside
from offpilot.features.testgen.target import TargetError

__all__ = ["GeneratedTest", "PathOutsideWorkspace", "PossibleBug", "TargetError", "TestGenResult",
           "ensure_inside", "explain_not_run", "generate_tests"]
