"""The entry point of test generation: check the request, decide whether anything may run,
and hand it to the language package registered for the file (:mod:`.registry`).

With ``offpilot.runGeneratedTests`` off, in an untrusted workspace, or where the sandbox
cannot isolate a run, nothing is executed: the languages deliver UNVERIFIED tests and the
notes say why.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

from offpilot.config import Settings
from offpilot.engine.backend import Backend
from offpilot.features.testgen.core import registry
from offpilot.features.testgen.core.paths import ensure_inside
from offpilot.features.testgen.core.request import TargetError, TestGenRequest, read_text
from offpilot.features.testgen.core.result import ProgressCallback, TestGenResult, progress
from offpilot.features.testgen.core.sandbox import isolation_problem
from offpilot.features.trust import RUNNING_OFF_REASON, UNTRUSTED_NOTE

RUNNING_OFF_NOTE = re.compile(re.escape(RUNNING_OFF_REASON), re.IGNORECASE)


async def generate_tests(root: Path, path: Path, source: str | None = None, *,
                         symbol: str = "", start_line: int = 0, end_line: int = 0,
                         scope: str = "symbol", backend: Backend | None = None,
                         settings: Settings | None = None,
                         on_progress: ProgressCallback | None = None,
                         test_file_text: str | None = None) -> TestGenResult:
    """Generate tests for the target in ``path`` (lines are 0-based, like LSP's).

    ``source`` is the file's current text (an unsaved editor buffer; default: read from disk);
    ``test_file_text`` the test file's, when it is open in the editor. Nothing is written here:
    the result's ``plan`` holds the test file to write. Cancelling the awaiting task stops the
    model and kills sandboxed processes.
    """
    settings = settings or Settings()
    root = root.resolve()
    path = ensure_inside(root, path if path.is_absolute() else root / path)
    if source is None:
        text = read_text(path)
        if text is None:
            raise TargetError(f"{path.name} does not exist")
        source = text
    language = registry.language_of(path)
    support = registry.support_for(language) if language else None
    if language is None or support is None:
        raise TargetError(f"{path.name}: Offpilot generates tests for {_known_languages()} "
                          "files")
    unisolated = ""
    if settings.run_generated_tests and settings.workspace_trusted:
        # no run without filesystem isolation, unless the user accepted the risk
        unisolated = await asyncio.to_thread(isolation_problem, settings.allow_unisolated_runs)
        if unisolated:
            settings = replace(settings, run_generated_tests=False)
            progress(on_progress, "test runs cannot be isolated here: nothing will be run", 1)
    request = TestGenRequest(root, path, source, language, symbol=symbol,
                             start_line=start_line, end_line=end_line, scope=scope,
                             backend=backend, settings=settings, on_progress=on_progress,
                             test_file_text=test_file_text)
    result = await support.generate(request)
    if not settings.workspace_trusted:
        result.workspace_trusted = False
        result.notes.insert(0, UNTRUSTED_NOTE)
    if unisolated:
        explain_not_run(result, "the sandbox cannot isolate test runs here",
                        f"Nothing was run: {unisolated}")
    return result


def explain_not_run(result: TestGenResult, why: str, detail: str = "") -> None:
    """Say why nothing was run when that was not ``offpilot.runGeneratedTests``."""
    result.notes = [RUNNING_OFF_NOTE.sub(f"Nothing was run ({why})", n) for n in result.notes]
    if detail:
        result.notes.insert(0, detail)


def _known_languages() -> str:
    """"Go, Java, JavaScript...": every registered language, in alphabetical order."""
    names = sorted(name for s in registry.supports() for name in s.languages.values())
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)
