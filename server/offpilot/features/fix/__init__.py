"""Explain this problem, Fix this problem: failing tests, tracebacks and diagnostics.

Plain Python for the server and the command line. Every function streams text through an
``on_text`` callback, is cancelled by cancelling the awaiting task, and never writes the user's
files: a fix is a :class:`FixEdit`, offered only once verified.

- :func:`fix_failing_test` (:class:`FixRequest` -> :class:`FixResult`): run a pytest test, a
  ``node --test`` file or a cargo test in the sandbox (:mod:`.runners`), explain its failure,
  offer a verified fix of the function at fault.
- :func:`explain_traceback` (-> :class:`ErrorExplanation`): a Python traceback, Rust panic or
  JavaScript stack explained with its frames' code.
- :func:`explain_diagnostic` (-> :class:`Answer`) and :func:`fix_diagnostic`
  (:class:`DiagnosticRequest` -> :class:`DiagnosticFix`): an editor diagnostic explained, and
  fixed where it can be re-checked.
- :func:`apply_edit`: write a verified edit (the command line's ``--apply``).
"""

from offpilot.features.fix.diagnostics import (
    DiagnosticFix,
    DiagnosticRequest,
    explain_diagnostic,
    fix_diagnostic,
)
from offpilot.features.fix.edits import EditConflict, FixEdit, apply_edit
from offpilot.features.fix.explain_error import ErrorExplanation, explain_traceback
from offpilot.features.fix.failing_test import (
    Candidate,
    FixRequest,
    FixResult,
    TestFixVerifier,
    fix_failing_test,
)
from offpilot.features.fix.frames import Frame, ParsedError, parse_error_text
from offpilot.features.fix.model import Answer

__all__ = [
    "Answer", "Candidate", "DiagnosticFix", "DiagnosticRequest", "EditConflict", "ErrorExplanation",
    "FixEdit", "FixRequest", "FixResult", "Frame", "ParsedError", "TestFixVerifier",
    "apply_edit", "explain_diagnostic", "explain_traceback", "fix_diagnostic",
    "fix_failing_test", "parse_error_text",
]
