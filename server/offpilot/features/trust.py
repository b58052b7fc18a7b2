"""What Offpilot may do in a workspace the editor does not trust: read it, never run it.

The editor says whether it trusts the workspace (``offpilot.workspaceTrusted``, sent by VS
Code from Workspace Trust; other editors set it in ``initializationOptions``, the
``offpilot`` configuration section or ``OFFPILOT_WORKSPACE_TRUSTED``). When it does not, no
generated test, fix or other code of the workspace is run, and so neither are its own
interpreters (``.venv``, ``venv``) nor its build scripts and runners: the pipelines check
:func:`not_run_reason` before anything that runs (the only place a workspace interpreter is
chosen comes after it). Generate tests then delivers UNVERIFIED tests built from what the
docstrings and the model claim, and says how to enable the rest.
"""

from __future__ import annotations

from offpilot.config import Settings

UNTRUSTED_REASON = "the workspace is not trusted, so nothing was run"
RUNNING_OFF_REASON = "offpilot.runGeneratedTests is off, so nothing was run"
UNTRUSTED_NOTE = ("This workspace is not trusted, so Offpilot ran none of its code: any test "
                  "it wrote is UNVERIFIED. Trust the workspace to let Offpilot run the tests in "
                  "its sandbox and keep only those that pass.")


def not_run_reason(settings: Settings) -> str:
    """Why generated tests are not run, for the result's notes ("" when they may run)."""
    if not settings.workspace_trusted:
        return UNTRUSTED_REASON
    if not settings.run_generated_tests:
        return RUNNING_OFF_REASON
    return ""
