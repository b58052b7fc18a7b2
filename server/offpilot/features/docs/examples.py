"""Examples sections for Python docstrings: real calls, recorded in the sandbox, checked by doctest.

An example is never written from what the model says. Candidate calls come from the signature
(the test generator's :func:`~offpilot.features.testgen.python.scenarios.synthesize`: typical
values and the boundaries the body's constants suggest) and are screened as generated tests
are: no argument that looks like a path, no call of anything but the function, its class and
the workspace's classes. The calls then run in the test sandbox (a copy of the project, no
network, the filesystem read-only outside the copy) through the test generator's recorder,
twice, with two hash seeds; a call is kept only when:

- its result is a value whose ``repr`` evaluates back to an equal value and is the same in both
  processes, on one line (no object addresses, no set order that depends on the seed), or an
  exception whose class is not the module's own (its printed name depends on how the module is
  imported) and not a result of the machine (``OSError``) or of a badly typed input;
- no call of the function wrote to ``HOME`` or the temp dir or left a process running.

At most three are chosen (the ones that run the most different lines first) and written in the
docstring's style: ``Examples:`` (Google), ``Examples`` / ``--------`` (NumPy) or
``.. rubric:: Examples`` (reST), each followed by ``>>>`` lines. The docstring as it will be
delivered is then inserted into the sandbox's copy of the file and its examples run with
:mod:`doctest` there, twice (two hash seeds); an example that fails either run is dropped and
the rest checked again. When none passes there is no Examples section.

Nothing runs in a workspace the editor does not trust (``offpilot.workspaceTrusted``), with
``offpilot.runGeneratedTests`` off, or where the sandbox cannot isolate the run: the docstring
then has no Examples section and :attr:`DocResult.examples_note` says why.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offpilot.config import Settings
from offpilot.features.docs.generate import DocResult, apply_insertion, insertion
from offpilot.features.docs.styles import Example
from offpilot.features.testgen.core.request import TargetError
from offpilot.features.testgen.core.sandbox import (
    IsolationUnavailable,
    TestSandbox,
    workspace_python,
)
from offpilot.features.testgen.python import scenarios as sc
from offpilot.features.testgen.python.oracle import CallSpec, Recording, record_calls
from offpilot.features.testgen.python.target import PyModule, PyTarget, find_targets, load_module
from offpilot.features.trust import not_run_reason
from offpilot.shared.files import read_json_records

log = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("doctest_runner.py")
MAX_EXAMPLES = 3
CANDIDATES = 16  # calls recorded per function
MAX_CALL_CHARS = 100
MAX_OUTPUT_CHARS = 160
PER_EXAMPLE_SECONDS = 2.0
RECORD_SECONDS = 20.0  # one recording process
CHECK_SECONDS = 15.0  # one doctest process
TOTAL_SECONDS = 90.0  # everything, sandbox copy included
# exceptions that say an input had the wrong shape: they document nothing
ILL_TYPED_ERRORS = frozenset({"TypeError", "AttributeError", "NameError", "RecursionError",
                              "UnboundLocalError"})
TRACEBACK_HEADER = "Traceback (most recent call last):"


@dataclass(frozen=True)
class Candidate:
    """A recorded call that may become an example."""

    call: str  # what the example runs (``list(...)`` around a generator's call)
    output: str  # what doctest expects, "" until an exception's message is known
    raises: str = ""  # the exception's class name, when it raised
    lines: frozenset[int] = frozenset()


def no_examples(result: DocResult, why: str) -> DocResult:
    return dataclasses.replace(result, examples_note=why)


def _safe_text(text: str) -> bool:
    """Text that can sit in a docstring literal and in a doctest example as it is."""
    return '"""' not in text and "\n" not in text and "\r" not in text and "\t" not in text \
        and not text.endswith("\\") and text.strip() == text


def candidate_of(rec: Recording, mod: PyModule) -> Candidate | None:
    """What an example of ``rec`` would say, or None when it cannot be one (see the module
    docstring)."""
    outcome = rec.outcome
    if not rec.deterministic or not outcome.usable or outcome.from_the_machine:
        return None
    call = f"list({rec.call})" if outcome.listed else rec.call
    if len(call) > MAX_CALL_CHARS or not _safe_text(call):
        return None
    if outcome.kind == "value":
        text = outcome.repr
        if text == "None" or len(text) > MAX_OUTPUT_CHARS or not _safe_text(text) \
                or not (outcome.literal or outcome.constructible) \
                or text.startswith(TRACEBACK_HEADER[:9]):
            return None
        return Candidate(call, text, lines=rec.lines)
    if outcome.exc_type in ILL_TYPED_ERRORS or outcome.exc_module in (mod.module, "__main__") \
            or "." in outcome.exc_type or outcome.exc_type in ("SystemExit",
                                                                "KeyboardInterrupt"):
        return None
    return Candidate(call, "", outcome.exc_type, rec.lines)


def choose(cands: Sequence[Candidate], limit: int = MAX_EXAMPLES) -> list[Candidate]:
    """Up to ``limit`` examples: the first (typical) value, then whatever runs the most lines
    not run yet; one exception at most; no two with the same output."""
    pool = list(cands)
    chosen: list[Candidate] = []
    covered: set[int] = set()
    outputs: set[tuple[str, str]] = set()
    values = [c for c in pool if not c.raises]
    if values:
        chosen.append(values[0])
        covered |= values[0].lines
        outputs.add((values[0].output, ""))
        pool.remove(values[0])
    while pool and len(chosen) < limit:
        pool = [c for c in pool if (c.output, c.raises) not in outputs
                and not (c.raises and any(x.raises for x in chosen))]
        if not pool:
            break
        best = max(pool, key=lambda c: (len(c.lines - covered), -len(c.call) - len(c.output)))
        if chosen and not (best.lines - covered) and best.raises == "" \
                and len(chosen) >= 2:
            break
        chosen.append(best)
        covered |= best.lines
        outputs.add((best.output, best.raises))
        pool.remove(best)
    return chosen


def as_example(c: Candidate) -> Example:
    return Example(c.call, c.output)


def exception_output(line: str) -> str | None:
    """The expected output of an example that raises, from the exception's last line as
    doctest prints it (None when it spans lines or is too long)."""
    text = line.rstrip("\n")
    if not text or "\n" in text or len(text) > MAX_OUTPUT_CHARS or not _safe_text(text):
        return None
    return f"{TRACEBACK_HEADER}\n    ...\n{text}"


# ----------------------------------------------------------------------------- target
def target_for(mod: PyModule, result: DocResult) -> PyTarget | None:
    defn = result.definition
    if defn.kind == "class":
        return None
    line = defn.name_line
    for t in find_targets(mod, start_line=line, end_line=line):
        if t.name == defn.name and t.first_line == line + 1:
            return t
    return None


def calls_for(target: PyTarget, mod: PyModule) -> list[str]:
    """Candidate calls from the signature, screened: no paths, nothing else called."""
    allowed = {target.name, *([target.owner] if target.owner else []), *mod.classes}
    out = []
    for s in sc.synthesize(target, mod.classes, limit=CANDIDATES * 2):
        if sc.outside_paths(s.call, None) or sc.foreign_calls(s.call, allowed):
            continue
        out.append(s.call)
        if len(out) >= CANDIDATES:
            break
    return out


# ----------------------------------------------------------------------------- sandbox runs
async def run_doctest_runner(sandbox: TestSandbox, mod: PyModule, qualname: str, mode: str,
                             *, calls: Sequence[tuple[int, str]] = (), hash_seed: int = 0,
                             name: str = "doctest") -> list[dict[str, Any]]:
    """Run :mod:`.doctest_runner` in the sandbox; its records (untrusted: checked by the
    callers). An import that failed gives ``[{"type": "import", "ok": False, ...}]``."""
    runner = sandbox.write_support("doctest_runner.py", RUNNER.read_text(encoding="utf-8"))
    out = sandbox.support_dir / f"{name}.jsonl"
    out.unlink(missing_ok=True)
    rel_root = mod.import_root.resolve().relative_to(sandbox.root)
    rel_file = mod.path.resolve().relative_to(sandbox.root)
    spec = {"import_root": str(sandbox.project_dir / rel_root), "module": mod.module,
            "module_file": str(sandbox.project_dir / rel_file), "qualname": qualname,
            "mode": mode, "calls": [{"id": i, "source": c} for i, c in calls],
            "timeout": PER_EXAMPLE_SECONDS, "out": str(out)}
    spec_path = sandbox.write_support(f"{name}.json", json.dumps(spec))
    result = await sandbox.run_python(["-B", str(runner), str(spec_path)],
                                      timeout=CHECK_SECONDS, hash_seed=hash_seed)
    records = read_json_records(out, max_bytes=4 * 1024 * 1024, max_lines=10_000,
                                max_line_chars=4 * 1024 * 1024)
    if not any(r.get("type") == "done" for r in records):
        reason = "timed out" if result.timed_out else f"exit status {result.returncode}"
        records.append({"type": "import", "ok": False,
                        "error": f"the doctest run failed ({reason})"})
    return records


def _import_error(records: list[dict[str, Any]]) -> str:
    for r in records:
        if r.get("type") == "import" and r.get("ok") is not True:
            error = r.get("error")
            return error[:300] if isinstance(error, str) else "it did not import"
    return ""


async def check_docstring(sandbox: TestSandbox, mod: PyModule, qualname: str, rel: str,
                          text: str, count: int) -> list[str] | str:
    """Write ``text`` (the module with the new docstring) into the copy and run the docstring's
    examples with doctest, with two hash seeds; per example, "" when both runs passed, else
    what it did instead. A string says why the check could not run (or found other examples
    than the ``count`` written)."""
    sandbox.write(rel, text)
    failures = [""] * count
    for seed in (1, 2):
        records = await run_doctest_runner(sandbox, mod, qualname, "check", hash_seed=seed,
                                           name=f"check-{seed}")
        error = _import_error(records)
        if error:
            return error
        found = [r for r in records if r.get("type") == "example"]
        if len(found) != count:
            return f"the docstring holds {len(found)} examples, not the {count} written"
        for r in found:
            i = r.get("index")
            if isinstance(i, int) and 0 <= i < count and r.get("passed") is not True \
                    and not failures[i]:
                got = r.get("got")
                failures[i] = (got if isinstance(got, str) else "")[:200] or "it failed"
    return failures


# ----------------------------------------------------------------------------- pipeline
async def add_examples(result: DocResult, source: str, *, root: Path, path: Path,
                       settings: Settings,
                       on_progress: Callable[[str], None] | None = None) -> DocResult:
    """``result`` with an Examples section of calls recorded and checked in the sandbox, or
    without one and a note saying why (see the module docstring). Bounded by TOTAL_SECONDS;
    cancelling the awaiting task kills the sandboxed processes."""
    t0 = time.perf_counter()
    try:
        out = await asyncio.wait_for(
            _add_examples(result, source, root.resolve(), path.resolve(), settings,
                          on_progress or (lambda _m: None)), TOTAL_SECONDS)
    except TimeoutError:
        out = no_examples(result, f"recording examples took more than {TOTAL_SECONDS:.0f} s")
    return dataclasses.replace(out, examples_seconds=time.perf_counter() - t0)


async def _add_examples(result: DocResult, source: str, root: Path, path: Path,
                        settings: Settings, progress: Callable[[str], None]) -> DocResult:
    defn = result.definition
    if defn.kind == "class":
        return no_examples(result, "classes get no Examples section")
    reason = not_run_reason(settings)
    if reason:
        return no_examples(result, f"no Examples section: {reason}")
    if root not in path.parents:
        root = path.parent
    rel = path.relative_to(root).as_posix()
    try:
        mod = load_module(root, path, source)
    except TargetError as exc:
        return no_examples(result, f"no Examples section: {exc}")
    if not mod.module or not all(p.isidentifier() for p in mod.module.split(".")):
        return no_examples(result, f"no Examples section: {rel} cannot be imported as a module")
    target = target_for(mod, result)
    if target is None:
        return no_examples(result, "only module-level functions and methods of module-level "
                                   "classes get an Examples section")
    if target.is_async:
        return no_examples(result, "coroutines get no Examples section")
    calls = calls_for(target, mod)
    if not calls:
        return no_examples(result, "no call of it could be made from its signature")
    qualname = f"{target.owner}.{target.name}" if target.owner else target.name
    progress(f"recording {len(calls)} calls of {qualname} in the sandbox")
    try:
        async with TestSandbox(root, python=workspace_python(root, settings.python_path),
                               timeout=settings.test_timeout, overlay={rel: source},
                               allow_unisolated=settings.allow_unisolated_runs) as sandbox:
            return await _in_sandbox(sandbox, result, source, mod, target, qualname, rel,
                                     calls, progress)
    except IsolationUnavailable as exc:
        return no_examples(result, f"no Examples section: the sandbox is unavailable ({exc})")
    except OSError as exc:
        return no_examples(result, f"no Examples section: the sandbox failed ({exc})")


async def _in_sandbox(sandbox: TestSandbox, result: DocResult, source: str, mod: PyModule,
                      target: PyTarget, qualname: str, rel: str, calls: list[str],
                      progress: Callable[[str], None]) -> DocResult:
    specs = [CallSpec(i, "t0", c) for i, c in enumerate(calls)]
    report = await record_calls(sandbox, mod, {"t0": target}, specs, (),
                                timeout=RECORD_SECONDS)
    if report.import_error:
        return no_examples(result, f"no Examples section: {mod.module} could not be run "
                                   f"({report.import_error[:200]})")
    recordings = [report.recordings[s.call_id] for s in specs if s.call_id in report.recordings]
    effects = next((r.effects for r in recordings if r.effects), ())
    if effects:  # one call did it: any may (the first call that creates a file hides it)
        return no_examples(result, f"no Examples section: a call {'; '.join(effects)} in the "
                                   "sandbox; outside it an example would do that to this machine")
    cands = [c for c in (candidate_of(r, mod) for r in recordings) if c is not None]
    chosen = choose(cands)
    raising = [(i, c) for i, c in enumerate(chosen) if c.raises]
    if raising:
        records = await run_doctest_runner(sandbox, mod, qualname, "messages",
                                           calls=[(i, c.call) for i, c in raising],
                                           name="messages")
        lines = {r.get("id"): r.get("line") for r in records if r.get("type") == "message"}
        for i, c in raising:
            line = lines.get(i)
            text = exception_output(line) if isinstance(line, str) else None
            ok = text is not None and isinstance(line, str) \
                and line.split(":", 1)[0].strip().rsplit(".", 1)[-1] == c.raises
            chosen[i] = dataclasses.replace(c, output=text) if ok and text else \
                dataclasses.replace(c, raises="-")
        chosen = [c for c in chosen if c.raises != "-"]
    if not chosen:
        return no_examples(result, f"none of the {len(recordings)} recorded calls gave a result "
                                   "an example can show")
    progress(f"checking {len(chosen)} example{'s' if len(chosen) != 1 else ''} with doctest")
    failed = ""
    for _round in range(2):
        parts = dataclasses.replace(result.parts,
                                    examples=tuple(as_example(c) for c in chosen))
        ins = insertion(source, result.definition, parts, result.style)
        checked = await check_docstring(sandbox, mod, qualname, rel,
                                        apply_insertion(source, ins), len(chosen))
        if isinstance(checked, str):
            return no_examples(result, f"no Examples section: the doctest check failed "
                                       f"({checked})")
        if not any(checked):
            return dataclasses.replace(result, parts=parts, insertion=ins,
                                       examples=len(chosen), examples_note="")
        failed = failed or next(f"`{c.call}` {why.strip()}"
                                for c, why in zip(chosen, checked, strict=True) if why)
        chosen = [c for c, why in zip(chosen, checked, strict=True) if not why]
        if not chosen:
            break
    return no_examples(result, f"no Examples section: no recorded example passed doctest "
                               f"({failed[:200]})")
