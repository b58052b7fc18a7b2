"""Generate unit tests that pass on the current code.

:func:`generate_tests` is the entry point (:mod:`.core.dispatch`); it hands the request to the
language package registered for the file. The command line (``offpilot tests``) and the
language server (``offpilot.generateTests``) call it and write the resulting test file
themselves.

``core`` knows no language. Each language package (``python``, ``javascript``, ``rust``,
``drafts`` for Go and Java) implements :class:`~.core.registry.LanguageSupport` and registers
itself when imported; importing this package imports them all.
"""

from offpilot.features.testgen import drafts, javascript, python, rust  # noqa: F401 (register)
from offpilot.features.testgen.core.dispatch import explain_not_run, generate_tests
from offpilot.features.testgen.core.layout import TestLayout
from offpilot.features.testgen.core.paths import PathOutsideWorkspace, ensure_inside, is_inside
from offpilot.features.testgen.core.plan import FilePlan, apply_insertions
from offpilot.features.testgen.core.registry import (
    LanguageSupport,
    language_of,
    layout_for,
    register,
    runs_tests_in,
)
from offpilot.features.testgen.core.request import TargetError, TestGenRequest
from offpilot.features.testgen.core.result import (
    CallRecord,
    GeneratedTest,
    PossibleBug,
    ProgressCallback,
    TestGenResult,
)
from offpilot.features.testgen.python.target import import_root_for, module_name_for

__all__ = [
    "CallRecord",
    "FilePlan",
    "GeneratedTest",
    "LanguageSupport",
    "PathOutsideWorkspace",
    "PossibleBug",
    "ProgressCallback",
    "TargetError",
    "TestGenRequest",
    "TestGenResult",
    "TestLayout",
    "apply_insertions",
    "ensure_inside",
    "explain_not_run",
    "generate_tests",
    "import_root_for",
    "is_inside",
    "language_of",
    "layout_for",
    "module_name_for",
    "register",
    "runs_tests_in",
]
