"""Generate unit tests that pass on the current code: the pipeline behind ``offpilot tests``.

For Python:

1. **Targets**: the function or method at a range, a class's public methods, or every public
   function of a file (:mod:`.target`, read with :mod:`ast`; nothing is imported here).
2. **Scenarios**: candidate calls from the docstring's examples, from the model (a few-shot
   prompt a small base model can continue with ``name(...)`` lines, or a chat prompt asking for
   ``assert`` lines) and from the signature (types, defaults, constants in the body). Model text
   is untrusted: only calls with literal arguments survive (:mod:`.scenarios`).
3. **Oracle**: every call runs in the sandbox; its result (or exception) is recorded, twice, in
   two processes (:mod:`.oracle`). A docstring or model claim that differs from the recorded
   result is not turned into a test: it is reported as a possible bug or wrong expectation.
4. **Selection**: tests are kept for what they add: mutants killed (:mod:`.mutants`) and lines
   covered; a test that adds nothing over the others is dropped.
5. **Verification**: the assembled file runs with pytest (or unittest) 3 times in the sandbox;
   only tests that pass every run are kept. Failing ones get one repair round (rebuilt from a
   fresh recording) and are dropped if they still fail.

With ``offpilot.runGeneratedTests`` off nothing is executed at all: only claims from the
docstring or the model become tests, marked unverified. The other languages are their own
packages beside this one; :mod:`offpilot.features.testgen.core.dispatch` picks the package.
"""

from __future__ import annotations

import ast
import builtins
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offpilot.engine.backend import Backend, ChatMessage, ChatRequest, ModelError
from offpilot.features.testgen.core.layout import TestLayout
from offpilot.features.testgen.core.outcome import Outcome
from offpilot.features.testgen.core.paths import confine
from offpilot.features.testgen.core.plan import FilePlan, apply_insertions
from offpilot.features.testgen.core.proposals import calls_one_at_a_time, prefers_chat
from offpilot.features.testgen.core.request import TargetError, TestGenRequest, read_text
from offpilot.features.testgen.core.result import (
    NOT_RUN_FOREIGN,
    NOT_RUN_PATH,
    RUNS,
    CallRecord,
    GeneratedTest,
    PossibleBug,
    TestGenResult,
    progress,
)
from offpilot.features.testgen.core.sandbox import TestSandbox, workspace_python
from offpilot.features.testgen.python import scenarios as sc
from offpilot.features.testgen.python.layout import python_layout
from offpilot.features.testgen.python.mutants import Mutant, make_mutants
from offpilot.features.testgen.python.oracle import CallSpec, OracleReport, record_calls
from offpilot.features.testgen.python.render import (
    RenderedTest,
    Style,
    defined_names,
    describe_call,
    plan_file,
    render_test,
    unique_name,
)
from offpilot.features.testgen.python.target import PyModule, PyTarget, find_targets, load_module
from offpilot.features.testgen.python.verify import run_tests
from offpilot.features.trust import not_run_reason

log = logging.getLogger(__name__)

MAX_TARGETS = 40
MAX_SCENARIOS_PER_TARGET = 48
MAX_TESTS_PER_TARGET = 8
MAX_MUTANTS_TOTAL = 80
MODEL_MAX_TOKENS = 200
MODEL_ATTEMPTS = 10  # one-call requests to a base model
MODEL_CALLS = 6  # distinct calls wanted from it
MODEL_SECONDS = 20.0  # per target
MODEL_SECONDS_TOTAL = 60.0  # per request
ORIGIN_RANK = {"docstring": 0, "model": 1, "signature": 2}
# exceptions that say an input had the wrong shape; unclaimed, they make no useful test
ILL_TYPED_ERRORS = frozenset({"TypeError", "AttributeError", "NameError", "RecursionError",
                              "UnboundLocalError"})


# ------------------------------------------------------------------------- model
FEW_SHOT = '''# Example calls of Python functions: typical inputs, edge cases, invalid inputs.

def clamp(value: int, low: int, high: int) -> int:
    """Limit value to the range from low to high."""
    return max(low, min(value, high))

clamp(5, 0, 10)
clamp(-3, 0, 10)
clamp(15, 0, 10)
clamp(0, 0, 0)

def initials(full_name: str) -> str:
    """First letter of each word, upper case."""
    return "".join(word[0].upper() for word in full_name.split())

initials("Ada Lovelace")
initials("")
initials("grace brewster murray hopper")
initials("  x  ")

'''

CHAT_SYSTEM = ("You propose unit test cases for Python code. Answer only with lines of "
               "Python, no explanations.")


def call_head(target: PyTarget, mod: PyModule) -> str:
    """``slugify`` or, for a method, ``Cart().add``: what a candidate call starts with."""
    if not target.owner:
        return target.name
    ctor = sc.values_for(target.owner, None, "", (), mod.classes)[0]
    return f"{ctor}.{target.name}"


def target_source(target: PyTarget, mod: PyModule, max_chars: int = 2500) -> str:
    lines = mod.source.splitlines()
    text = "\n".join(lines[target.first_line - 1:target.last_line])
    if target.owner:
        info = mod.classes.get(target.owner)
        params = ", ".join(p.name if p.default is None else f"{p.name}={p.default}"
                           for p in (info.params if info else ()))
        text = f"class {target.owner}:  # {target.owner}({params})\n" + text
    return text[:max_chars]


def base_prompt(target: PyTarget, mod: PyModule) -> str:
    """A few-shot prompt a base model continues with calls of the target."""
    import textwrap

    source = textwrap.dedent(target_source(target, mod))
    return f"{FEW_SHOT}{source}\n\n{call_head(target, mod)}("


def chat_messages(target: PyTarget, mod: PyModule, n: int = 8) -> list[ChatMessage]:
    head = call_head(target, mod)
    user = (f"```python\n{target_source(target, mod)}\n```\n"
            f"Write {n} different calls of `{head}` that unit tests should check: typical "
            "inputs, edge cases and invalid inputs. One per line, in the form\n"
            f"assert {head}(...) == expected_result\n"
            "Use only literal arguments (numbers, strings, lists, dicts).")
    return [ChatMessage("system", CHAT_SYSTEM), ChatMessage("user", user)]


async def model_scenarios(backend: Backend, target: PyTarget, mod: PyModule,
                          max_tokens: int = MODEL_MAX_TOKENS) -> list[sc.Scenario]:
    """Calls the model proposes for ``target`` (validated; the text itself is not trusted).

    A chat model answers one request with ``assert`` lines. A small base model repeats itself
    when asked for many lines at once, so it is asked for one call at a time, each accepted call
    added to the prompt (whose start stays the same, so the KV cache is reused) and the
    temperature raised a little per attempt, until it has proposed enough distinct calls.
    """
    if await prefers_chat(backend):
        result = await backend.chat(ChatRequest(chat_messages(target, mod),
                                                max_tokens=max_tokens * 2, temperature=0.0,
                                                time_limit=90.0))
        return sc.extract_calls(result.text, target, mod.classes, origin="model")[:16]
    head = f"{call_head(target, mod)}("
    return await calls_one_at_a_time(
        backend, base_prompt(target, mod)[:-len(head)], head,
        lambda text: sc.extract_calls(text, target, mod.classes, origin="model"),
        key=lambda s: s.call, line=lambda s: s.call, attempts=MODEL_ATTEMPTS,
        wanted=MODEL_CALLS, seconds=MODEL_SECONDS)


# --------------------------------------------------------------------- helpers
def _literal(text: str) -> Any:
    return ast.literal_eval(text)


def claim_matches(s: sc.Scenario, outcome: Outcome) -> bool | None:
    """Whether the recorded outcome fulfils the scenario's claim (None: nothing claimed)."""
    if s.expected_raises:
        if outcome.kind != "raises":
            return False
        names = {outcome.exc_type.rsplit(".", 1)[-1]} | {
            q.rsplit(".", 1)[-1] for _m, q in outcome.exc_bases}
        return s.expected_raises in names
    if s.expected is None:
        return None
    if outcome.kind != "value":
        return False
    try:
        want, got = _literal(s.expected), _literal(outcome.repr)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ast.unparse(ast.parse(s.expected, mode="eval")) == outcome.repr
    if outcome.listed and isinstance(want, tuple | list):
        want = list(want)
    if isinstance(want, float) or isinstance(got, float):
        if isinstance(want, bool) or isinstance(got, bool) or not isinstance(
                want, int | float) or not isinstance(got, int | float):
            return False
        return math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-12)
    return type(want) is type(got) and want == got


def _claimed_text(s: sc.Scenario) -> str:
    return f"raises {s.expected_raises}" if s.expected_raises else str(s.expected)


@dataclass
class _Candidate:
    target_id: str
    scenario: sc.Scenario
    call_id: int
    outcome: Outcome
    lines: frozenset[int]
    kills: frozenset[int]


def select_tests(cands: Sequence[_Candidate], limit: int = MAX_TESTS_PER_TARGET
                 ) -> list[_Candidate]:
    """Greedy: each next test kills the most new mutants, then covers the most new lines.

    A documented example (from the docstring) goes first; a test that adds nothing new over
    the chosen ones is dropped, except that a call raising an exception type not yet
    asserted counts as new behaviour. Among equals, a method call that changes its object
    beats one that does not, the docstring and the model beat the signature, short beats long.
    """
    pool = list(cands)
    chosen: list[_Candidate] = []
    killed: set[int] = set()
    covered: set[int] = set()
    kinds: set[tuple[str, str]] = set()

    def kind(c: _Candidate) -> tuple[str, str]:
        return ("raises", c.outcome.exc_type) if c.outcome.kind == "raises" else ("value", "")

    def take(c: _Candidate) -> None:
        chosen.append(c)
        pool.remove(c)
        killed.update(c.kills)
        covered.update(c.lines)
        kinds.add(kind(c))

    docs = [c for c in pool if c.scenario.origin == "docstring"]
    if docs:
        take(max(docs, key=lambda c: (len(c.kills), len(c.lines))))
    while pool and len(chosen) < limit:
        def gain(c: _Candidate) -> tuple[int, int, int, int, int, int]:
            return (len(c.kills - killed), len(c.lines - covered), int(kind(c) not in kinds),
                    int(c.outcome.changed_state), -ORIGIN_RANK.get(c.scenario.origin, 3),
                    -len(c.scenario.call))

        best = max(pool, key=gain)
        g = gain(best)
        if chosen and g[0] == 0 and g[1] == 0 and g[2] == 0:
            break
        take(best)
    return chosen


# ---------------------------------------------------------------------- pipeline
@dataclass
class _Job:
    """One Python request once its module is read: what the pipeline's steps share."""

    request: TestGenRequest
    mod: PyModule
    layout: TestLayout
    tids: dict[str, PyTarget]  # "t0", "t1"... -> target
    result: TestGenResult
    original: str | None  # the test file's text when generation started
    per_target: dict[str, list[sc.Scenario]] = field(default_factory=dict)


async def generate_python(request: TestGenRequest) -> TestGenResult:
    """Tests for a Python file (see the module docstring)."""
    job = _read_targets(request)
    await _propose(job)
    not_run = not_run_reason(request.settings)
    if not_run:  # (an untrusted workspace: its .venv and its code are never run)
        return _unverified_python(job, not_run)
    root, settings = request.root, request.settings
    overlay: dict[str, str] = {}
    if read_text(request.path) != request.source:
        overlay[request.rel] = request.source
    python = workspace_python(root, settings.python_path)
    request.progress("copying the project into a sandbox", 36)
    async with TestSandbox(root, python=python, timeout=settings.test_timeout,
                           overlay=overlay,
                           allow_unisolated=settings.allow_unisolated_runs) as sandbox:
        return await _verify_python(sandbox, job)


def _read_targets(request: TestGenRequest) -> _Job:
    root, path = request.root, request.path
    request.progress("reading the code under test", 2)
    mod = load_module(root, path, request.source)
    if not mod.module or not all(part.isidentifier() for part in mod.module.split(".")):
        raise TargetError(f"{path.relative_to(root)} cannot be imported as a Python module "
                          f"({mod.module or 'no module name'}), so its tests could not import it")
    targets = find_targets(mod, symbol=request.symbol, start_line=request.start_line,
                           end_line=request.end_line, scope=request.scope)
    if not targets:
        raise TargetError(f"no public function or method to test at {request.where()} of "
                          f"{path.name}")
    targets = targets[:MAX_TARGETS]
    layout = python_layout(root, path.resolve(), mod.module, mod.import_root)
    test_abs = confine(root, layout.test_path)
    original = request.original(test_abs)
    result = TestGenResult(root, path, "python", framework=layout.framework,
                           test_path=test_abs, original=original,
                           targets=[t.qualname for t in targets])
    tids = {f"t{i}": t for i, t in enumerate(targets)}
    return _Job(request, mod, layout, tids, result, original)


async def _propose(job: _Job) -> None:
    """Candidate calls of each target: the docstring's, the model's, the signature's."""
    request, mod, result = job.request, job.mod, job.result
    backend = request.backend
    model_failed = ""
    model_deadline = time.monotonic() + MODEL_SECONDS_TOTAL
    for i, (tid, t) in enumerate(job.tids.items()):
        docs = sc.docstring_examples(t, mod.classes)
        proposed: list[sc.Scenario] = []
        if backend is not None and not model_failed and time.monotonic() < model_deadline:
            request.progress(f"asking the model for test cases of {t.qualname}",
                             5 + int(30 * i / len(job.tids)))
            try:
                proposed = await model_scenarios(backend, t, mod)
            except ModelError as exc:
                model_failed = str(exc)
            except Exception as exc:  # a model fault is not a reason to give up; logged
                log.warning("the model failed proposing test cases", exc_info=True)
                model_failed = f"{type(exc).__name__}: {exc}"
        base = sc.base_from_examples(t, [*docs, *proposed])
        synthesized = sc.synthesize(t, mod.classes, base=base)
        merged = sc.merge(docs, proposed, synthesized)[:MAX_SCENARIOS_PER_TARGET]
        job.per_target[tid] = merged
        result.model_scenarios += sum(s.origin == "model" for s in merged)
    result.scenarios = sum(len(v) for v in job.per_target.values())
    if model_failed:
        result.notes.append(f"The model was not available ({model_failed}); test cases came "
                            "from the docstring and the signature.")
    elif backend is None:
        result.notes.append("No model was used; test cases came from the docstring and the "
                            "signature.")


def screen_call(result: TestGenResult, target: PyTarget, s: sc.Scenario, mod: PyModule,
                inside: Path | None) -> CallRecord | None:
    """List the call in ``result``; the record when it may run (and be written as a test),
    None when it passes a path outside ``inside`` (the sandbox's copy) or calls anything
    but the target and the workspace's classes."""
    record = CallRecord(target.qualname, s.call, s.origin)
    result.calls.append(record)
    outside = sc.outside_paths(s.call, inside)
    if outside:
        record.reason = f"{NOT_RUN_PATH} ({outside[0][:80]!r})"
        return None
    allowed = {target.name, *([target.owner] if target.owner else []), *mod.classes}
    foreign = sc.foreign_calls(s.call, allowed)
    if foreign:
        record.reason = f"{NOT_RUN_FOREIGN} ({foreign[0][:80]})"
        return None
    return record


async def _record(sandbox: TestSandbox, job: _Job
                  ) -> tuple[dict[str, list[_Candidate]], set[int]] | None:
    """Run every call that may run (and the mutants) in the sandbox; the calls a test may
    assert, per target, and the target's executable lines. None when the module cannot run."""
    result, mod, tids = job.result, job.mod, job.tids
    settings, on_progress = job.request.settings, job.request.on_progress
    # --- oracle: every call that may run, each listed in the result
    calls: list[CallSpec] = []
    scenario_of: dict[int, sc.Scenario] = {}
    record_of: dict[int, CallRecord] = {}
    for tid, scenarios in job.per_target.items():
        for s in scenarios:
            record = screen_call(result, tids[tid], s, mod, sandbox.project_dir)
            if record is None:
                continue
            scenario_of[len(calls)] = s
            record_of[len(calls)] = record
            record.ran = True
            calls.append(CallSpec(len(calls), tid, s.call))
    blocked = sum(not c.ran for c in result.calls)
    if blocked:
        progress(on_progress, f"{blocked} call{'s' if blocked != 1 else ''} not run (paths "
                               "outside the sandbox's copy, or code outside the workspace)", 38)
    per_target_mutants = max(6, MAX_MUTANTS_TOTAL // max(1, len(tids)))
    mutants: list[Mutant] = []
    for tid, t in tids.items():
        mutants += make_mutants(mod, t, tid, start_id=len(mutants), limit=per_target_mutants)
    progress(on_progress, f"recording what {len(calls)} calls do (and {len(mutants)} mutants)",
              40)
    report = await record_calls(sandbox, mod, tids, calls, mutants,
                                timeout=max(30.0, 2 * settings.test_timeout))
    if report.import_error:
        result.notes.append(f"{mod.module} could not be run: {report.import_error}")
        return None
    if report.timed_out:
        result.notes.append("Recording the calls timed out; tests use the calls recorded "
                            "before that.")
    result.mutants_total = len([m for m in mutants if m.id not in report.broken_mutants])
    lines_total: set[int] = set()
    for tid in tids:
        lines_total |= set(report.executable.get(tid, ()))
    result.lines_total = len(lines_total)

    candidates: dict[str, list[_Candidate]] = {tid: [] for tid in tids}
    # A target one of whose calls wrote HOME or the temp dir, or left a process running, may do
    # it in any call (the first call that creates a file hides it from the next ones).
    effects_of: dict[str, tuple[str, ...]] = {}
    for spec in calls:
        rec = report.recordings.get(spec.call_id)
        if rec is not None and rec.effects:
            effects_of.setdefault(spec.target_id, rec.effects)
    for spec in calls:
        rec = report.recordings.get(spec.call_id)
        s = scenario_of[spec.call_id]
        record = record_of[spec.call_id]
        if rec is None:
            record.reason = "no result was recorded"
            continue
        record.result = rec.outcome.summary()
        t = tids[spec.target_id]
        if spec.target_id in effects_of:
            effects = rec.effects or effects_of[spec.target_id]
            record.reason = (f"it {'; '.join(effects)} in the sandbox: outside it, a test "
                             "would do that to this machine")
            continue
        if rec.outcome.from_the_machine:
            record.reason = (f"it raised {rec.outcome.exc_type} in the sandbox: a result of "
                             "the machine's files, not of the code")
            continue
        claim = claim_matches(s, rec.outcome) if rec.outcome.kind != "unrepresentable" \
            else None
        if claim is False and (rec.outcome.usable or rec.outcome.kind == "timeout"):
            result.possible_bugs.append(PossibleBug(
                t.qualname, s.call, s.origin, _claimed_text(s),
                "a timeout" if rec.outcome.kind == "timeout" else rec.outcome.summary()))
            record.reason = "its claimed result differs: a possible bug"
            continue
        if not rec.outcome.usable or not rec.deterministic:
            record.reason = "its result cannot be asserted" if not rec.outcome.usable \
                else "its result differs between runs"
            continue
        if rec.outcome.kind == "raises" and claim is None \
                and rec.outcome.exc_type in ILL_TYPED_ERRORS:
            record.reason = "an input of the wrong shape"
            continue  # a crash on a made-up input of the wrong shape, not behaviour
        record.reason = "adds nothing over the kept tests"
        executable = report.executable.get(spec.target_id, frozenset())
        lines = frozenset(rec.lines & executable) if executable else frozenset(
            n for n in rec.lines if t.first_line <= n <= t.last_line)
        kills = frozenset(m for m, by in report.killed_by.items() if spec.call_id in by)
        result.usable_calls += 1
        candidates[spec.target_id].append(
            _Candidate(spec.target_id, s, spec.call_id, rec.outcome, lines, kills))

    return candidates, lines_total


async def _verify_python(sandbox: TestSandbox, job: _Job) -> TestGenResult:
    """Record the calls, render a test per selected call, keep those that pass every run."""
    result, mod, tids, layout, original = job.result, job.mod, job.tids, job.layout, job.original
    settings, on_progress = job.request.settings, job.request.on_progress
    recorded = await _record(sandbox, job)
    if recorded is None:
        return result
    candidates, lines_total = recorded
    # --- selection and rendering
    runner = "pytest" if await sandbox.has_module("pytest") else "unittest"
    framework = layout.framework
    if framework == "pytest" and runner == "unittest":
        framework = "unittest"
        result.notes.append(f"pytest is not installed in {sandbox.python}; the tests use "
                            "unittest (pytest runs them too).")
    result.framework = framework
    style = Style(framework, layout.import_style, mod.classes, mod.module)
    try:
        existing_tree = ast.parse(original or "")
    except SyntaxError:
        existing_tree = ast.Module(body=[], type_ignores=[])
    taken = defined_names(existing_tree)
    tests: list[GeneratedTest] = []
    for tid, t in tids.items():
        for c in select_tests(candidates[tid]):
            base = f"test_{t.label}_{describe_call(c.scenario.call, c.outcome, mod.classes)}"
            name = unique_name(base, taken)
            rendered = render_test(name, t, c.scenario.call, c.outcome, style)
            if rendered is None:
                continue
            if rendered.owner_class and rendered.owner_class in defined_names(existing_tree):
                rendered.owner_class += "Generated"
            tests.append(_as_test(rendered, t, c))
    if not tests:
        result.notes.append("None of the recorded calls gave a result a test can assert.")
        return result
    rendered_by_name = {t.name: t.rendered for t in tests if t.rendered is not None}

    # --- verification, 3 runs
    test_rel = result.relative_test_path
    pythonpath = [sandbox.project_dir / mod.import_root.resolve().relative_to(sandbox.root)]

    async def run(batch: list[GeneratedTest], pct: int, label: str) -> set[str]:
        rendered = [rendered_by_name[t.name] for t in batch]
        plan = plan_file(original, rendered, framework, mod.module)
        sandbox.write(test_rel, plan.text)
        progress(on_progress, f"{label} {len(batch)} test{'s' if len(batch) != 1 else ''} "
                               f"{RUNS} times", pct)
        rep = await run_tests(sandbox, test_rel, [t.key for t in batch], runner=runner,
                              runs=RUNS, timeout=settings.test_timeout, pythonpath=pythonpath)
        for t in batch:
            t.message = rep.failed.get(t.key, "")
        if rep.errors and not rep.passed_all:
            result.notes.append("The test run failed: " + rep.errors[0].strip()[-400:])
        return rep.passed_all

    passed = await run(tests, 70, "running")
    failing = [t for t in tests if t.key not in passed]
    if failing:
        repaired = await _repair(sandbox, mod, tids, failing, style, rendered_by_name)
        if repaired:
            batch = [t for t in tests if t.key in passed] + repaired
            passed = await run(batch, 88, "re-running")
    records = {(r.target, r.call): r for r in result.calls}
    for test in tests:
        test.status = "kept" if test.key in passed else "failing"
        record = records.get((test.target, test.call))
        if record is not None:
            record.test = test.name
            record.reason = "" if test.status == "kept" else "its test failed and was dropped"
    kept = [t for t in tests if t.status == "kept"]
    if kept:
        result.plan = plan_file(original, [rendered_by_name[t.name] for t in kept], framework,
                                mod.module)
    result.tests = tests
    killed: set[int] = set()
    covered: set[int] = set()
    for test in kept:
        killed |= test.kills
        covered |= test.lines
    result.mutants_killed = len(killed)
    result.lines_covered = len(covered & lines_total) if lines_total else len(covered)
    progress(on_progress, f"kept {len(kept)} of {len(tests)} tests", 98)
    return result


def _as_test(rendered: RenderedTest, t: PyTarget, c: _Candidate) -> GeneratedTest:
    key = f"{rendered.owner_class}::{rendered.name}" if rendered.owner_class else rendered.name
    return GeneratedTest(rendered.name, t.qualname, c.scenario.call, c.scenario.origin,
                         "unverified", rendered.code, c.outcome, key, c.lines, c.kills,
                         rendered=rendered)


async def _repair(sandbox: TestSandbox, mod: PyModule, tids: dict[str, PyTarget],
                  failing: list[GeneratedTest], style: Style,
                  rendered_by_name: dict[str, RenderedTest]) -> list[GeneratedTest]:
    """Rebuild failing tests from a fresh recording; those that cannot be rebuilt are dropped.

    A test fails on unchanged code when what it asserts was not what a test run sees (state
    left by another test, a value that differs between processes). A fresh recording that
    agrees with itself but not with the test gives a new assertion; anything else is dropped.
    """
    by_target = {t.qualname: tid for tid, t in tids.items()}
    calls = [CallSpec(i, by_target[t.target], t.call) for i, t in enumerate(failing)]
    report: OracleReport = await record_calls(sandbox, mod, tids, calls, ())
    repaired = []
    for i, test in enumerate(failing):
        rec = report.recordings.get(i)
        if rec is None or not rec.outcome.usable or not rec.deterministic or \
                test.outcome is None or rec.outcome.key() == test.outcome.key():
            continue
        t = tids[by_target[test.target]]
        rendered = render_test(test.name, t, test.call, rec.outcome, style)
        if rendered is None:
            continue
        rendered.owner_class = rendered_by_name[test.name].owner_class
        rendered_by_name[test.name] = rendered
        test.code = rendered.code
        test.outcome = rec.outcome
        test.rendered = rendered
        repaired.append(test)
    return repaired


def _claim_outcome(s: sc.Scenario) -> Outcome | None:
    """The outcome a docstring or the model claimed, as if it had been recorded."""
    if s.expected_raises:
        if not isinstance(getattr(builtins, s.expected_raises, None), type):
            return None
        return Outcome("raises", exc_type=s.expected_raises, exc_module="builtins")
    if s.expected is None:
        return None
    try:
        value = ast.literal_eval(s.expected)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return Outcome("value", repr=s.expected, literal=True, has_float=_has_float(value),
                   value_type=type(value).__name__)


def _has_float(value: Any, depth: int = 0) -> bool:
    if isinstance(value, float):
        return True
    if depth > 3:
        return False
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_float(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_has_float(v, depth + 1) for v in value.values())
    return False


def _unverified_python(job: _Job, not_run: str) -> TestGenResult:
    """Tests from claims only, nothing executed; ``not_run`` says why (for the notes)."""
    result, mod, layout, original = job.result, job.mod, job.layout, job.original
    result.verified = False
    style = Style(layout.framework, layout.import_style, mod.classes, mod.module)
    try:
        taken = defined_names(ast.parse(original or ""))
    except SyntaxError:
        taken = set()
    rendered: list[RenderedTest] = []
    for tid, t in job.tids.items():
        for s in job.per_target[tid]:
            record = screen_call(result, t, s, mod, None)
            if record is None:
                continue
            record.reason = "nothing was run"
            outcome = _claim_outcome(s)
            if outcome is None:
                continue
            name = unique_name(f"test_{t.label}_{describe_call(s.call, outcome, mod.classes)}",
                               taken)
            r = render_test(name, t, s.call, outcome, style)
            if r is None:
                continue
            rendered.append(r)
            result.tests.append(GeneratedTest(name, t.qualname, s.call, s.origin, "unverified",
                                              r.code, outcome, name))
            record.test = name
    result.notes.append(f"{not_run[:1].upper()}{not_run[1:]}: only the results claimed by the "
                        "docstring or the model became tests.")
    if rendered:
        plan = plan_file(original, rendered, layout.framework, mod.module)
        note = "# UNVERIFIED: written by Offpilot without running them; check before relying.\n"
        result.plan = _mark_unverified(plan, note, original)
    return result


def _mark_unverified(plan: FilePlan, note: str, original: str | None) -> FilePlan:
    """Put a comment at the start of the appended tests (the last insertion)."""
    *head, (offset, text) = plan.insertions
    stripped = text.lstrip("\n")
    marked = text[:len(text) - len(stripped)] + note + stripped
    insertions = (*head, (offset, marked))
    return FilePlan(apply_insertions(original or "", insertions), insertions)
