"""Fix a failing test: run it in the sandbox, find the function at fault, explain, and offer
only a verified edit.

The test is a pytest node id (``tests/test_x.py::test_y``), a ``node --test`` file
(``test/x.test.js``, its first failing test; ``test/x.test.js::name`` for another) or a cargo
test name (``tests::it_adds``); :mod:`.runners` runs each kind.
:func:`fix_failing_test` runs the project's tests once in a :class:`TestSandbox` copy (so it
knows which pass), maps the failing test's traceback, stack or panic to workspace files
(tree-sitter finds the enclosing function; one inside a test, such as a Rust ``#[test]`` in
``mod tests``, is passed over for the function the test calls), streams an explanation
of the failure, then asks the model for candidate replacements of the function at fault, within
a time budget. :class:`TestFixVerifier` checks each candidate in the same sandbox: the edited
file parses, the edit replaces the enclosing function only, the failing test passes and every
test that passed before still passes, in each of three runs. The first candidate that passes
is offered as a :class:`~offpilot.features.fix.edits.FixEdit`; when none does, the result says
so and shows the model's idea as clearly marked text. The user's file is never written here.
An untrusted workspace (:func:`~offpilot.features.trust.not_run_reason`) runs nothing.
"""

from __future__ import annotations

import ast
import os
import re
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from offpilot.config import Settings
from offpilot.context.extract import parse, to_bytes
from offpilot.context.languages import for_path
from offpilot.context.symbols import enclosing_definitions
from offpilot.engine.backend import Backend
from offpilot.features.fix.edits import (
    FixEdit,
    Span,
    check_edit,
    edited_text,
    function_span,
    read_source,
)
from offpilot.features.fix.frames import (
    Frame,
    ParsedError,
    is_test_file,
    map_frames,
)
from offpilot.features.fix.model import Prompt, code_prompt, fix_candidate, stream_answer
from offpilot.features.fix.runners import (
    PytestRunner,
    RunnerUnavailable,
    TestRunner,
    pick_target,
    runner_for,
)
from offpilot.features.fix.suite import SuiteRun
from offpilot.features.testgen.core.sandbox import (
    IGNORED_DIRS,
    IsolationUnavailable,
    TestSandbox,
)
from offpilot.features.trust import not_run_reason

OnText = Callable[[str], None]
OnProgress = Callable[[str], None]
TEMPERATURES = (0.0, 0.7, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0)
MAX_SCANNED_FILES = 3000

VERIFIED = "verified"
NO_VERIFIED_FIX = "no_verified_fix"
NOT_RUN = "not_run"
PASSES = "passes"  # the test does not fail: nothing to fix
ERROR = "error"  # the test could not be run or found


@dataclass
class Verdict:
    verified: bool
    reason: str
    stage: str  # static | target | regression | verified


@dataclass
class Candidate:
    """One candidate the model proposed, and what verification made of it."""

    code: str
    temperature: float
    verified: bool
    reason: str
    stage: str
    seconds: float  # generating and checking it

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "temperature": self.temperature, "verified": self.verified,
                "reason": self.reason, "stage": self.stage, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class FixRequest:
    """Fix the failing test ``test_id`` of ``root``: a pytest node id
    (``tests/test_x.py::test_y``), a ``node --test`` file or a cargo test name. A file's path
    is relative to ``root`` or to ``cwd``; a cargo test belongs to the crate ``cwd`` is in,
    else to the crate at ``root``."""

    root: Path
    test_id: str
    cwd: Path | None = None
    max_candidates: int = 4
    budget_s: float = 120.0  # for the candidates: none starts after this
    runs: int = 3  # verification runs of the failing test and the tests that passed
    explain: bool = True
    explain_max_tokens: int = 200


@dataclass
class FixResult:
    """What :func:`fix_failing_test` found. ``edit`` is set only when ``status`` is
    ``verified``; ``unverified_idea`` is text for the user, never to be applied."""

    status: str  # verified | no_verified_fix | not_run | passes | error
    test_id: str
    reason: str = ""
    edit: FixEdit | None = None
    explanation: str = ""  # Markdown, as streamed
    unverified_idea: str = ""
    error: ParsedError | None = None
    span: Span | None = None
    candidates: list[Candidate] = field(default_factory=list)
    passed_before: list[str] = field(default_factory=list)
    seconds: float = 0.0
    seconds_to_fix: float | None = None  # from the start to the verified edit
    explanation_seconds: float | None = None
    explanation_first_text_seconds: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.status, "testId": self.test_id, "reason": self.reason,
            "edit": self.edit.to_json() if self.edit else None,
            "explanation": self.explanation, "unverifiedIdea": self.unverified_idea,
            "error": None if self.error is None else {
                "type": self.error.error_type, "message": self.error.message,
                "frames": [f.to_json() for f in self.error.frames]},
            "function": None if self.span is None else {
                "path": str(self.span.path), "name": self.span.name,
                "startLine": self.span.start_line, "endLine": self.span.end_line},
            "candidates": [c.to_json() for c in self.candidates],
            "passedBefore": self.passed_before, "seconds": round(self.seconds, 3),
            "secondsToFix": None if self.seconds_to_fix is None else round(self.seconds_to_fix, 3),
            "explanationSeconds": None if self.explanation_seconds is None
            else round(self.explanation_seconds, 3),
        }


# ----------------------------------------------------------------------------- verifier
class TestFixVerifier:
    """Checks candidate replacements of ``span`` against a failing test, in one sandbox.

    A candidate is verified when the edited file parses, the edit replaces the enclosing
    function only, and in each of ``runs`` runs the failing test and every test that passed
    before pass. The sandbox's copy of the file is put back after each check.
    """

    __test__ = False

    def __init__(self, sandbox: TestSandbox, *, rel_path: str, text: str, span: Span,
                 target_id: str, passed_before: list[str], runs: int = 3,
                 timeout: float = 30.0, runner: TestRunner | None = None) -> None:
        self.sandbox = sandbox
        self.runner = runner or PytestRunner(sandbox.root, sandbox.python)
        self.rel_path = rel_path
        self.text = text
        self.span = span
        self.target_id = target_id
        self.passed_before = [t for t in passed_before if t != target_id]
        self.runs = runs
        self.timeout = timeout

    async def check(self, candidate: str) -> tuple[FixEdit | None, Verdict]:
        edit, problem = check_edit(self.span.path, self.text, self.span, candidate,
                                   rel_label=self.rel_path)
        if edit is None:
            return None, Verdict(False, problem, "static")
        self.sandbox.write(self.rel_path, edited_text(self.text, edit))
        try:
            first = await self.runner.run(self.sandbox, [self.target_id], timeout=self.timeout)
            if first.outcomes.get(self.target_id) != "passed":
                return None, Verdict(False, "the failing test still fails"
                                     + _why(first, self.target_id, self.runner), "target")
            everyone = [self.target_id, *self.passed_before]
            for i in range(self.runs):
                run = await self.runner.run(self.sandbox, everyone, timeout=self.timeout,
                                            name=f"report-{i}")
                broken = [t for t in everyone if run.outcomes.get(t) != "passed"]
                if broken:
                    which = "the failing test" if broken[0] == self.target_id \
                        else f"{broken[0]}, which passed before,"
                    return None, Verdict(False, f"run {i + 1} of {self.runs}: {which} does not "
                                         f"pass" + _why(run, broken[0], self.runner), "regression")
            return edit, Verdict(True, f"the failing test and the {len(self.passed_before)} "
                                 f"test(s) that passed before pass in {self.runs} runs",
                                 "verified")
        finally:
            self.sandbox.write(self.rel_path, self.text)


def _why(run: SuiteRun, node_id: str, runner: TestRunner | None = None) -> str:
    message = run.messages.get(node_id, "")
    if message and runner is not None and runner.language != "python":
        error = runner.parse_error(message)  # a stack or panic: its error comes first
        message = error.summary.split("\n", 1)[0] if error.error_type else message
    if not message and run.errors:
        message = run.errors[0]
    last = [ln for ln in message.strip().splitlines() if ln.strip()][-1:] if message else []
    return f" ({last[0].strip()[:200]})" if last else ""


# ----------------------------------------------------------------------------- locating
_ASSERTIONS = frozenset({
    "assert", "equal", "strictEqual", "deepEqual", "deepStrictEqual", "notEqual",
    "notStrictEqual", "ok", "throws", "rejects", "doesNotThrow", "match", "expect", "toBe",
    "toEqual", "toStrictEqual", "test", "it", "describe", "Some", "Ok", "Err", "vec", "from",
    "new", "to_string", "unwrap", "len", "push", "String", "Vec", "if", "for", "while",
    "switch", "return", "function", "catch", "typeof"})


def _called_names(line: str, language: str = "python") -> list[str]:
    if language != "python":
        return [n for n in re.findall(r"([A-Za-z_$][\w$]*)\s*\(", line)
                if n not in _ASSERTIONS]
    try:
        tree = ast.parse(line.strip().removeprefix("assert ").strip() or "None")
    except SyntaxError:
        return re.findall(r"([A-Za-z_]\w*)\s*\(", line)
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                names.append(f.id)
            elif isinstance(f, ast.Attribute):
                names.append(f.attr)
    return names


_SUFFIXES = {"python": (".py",), "javascript": (".js", ".mjs", ".cjs"), "rust": (".rs",)}


def _source_files(root: Path, language: str = "python") -> list[Path]:
    suffixes = _SUFFIXES.get(language, (".py",))
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        out += [Path(dirpath) / n for n in sorted(filenames) if n.endswith(suffixes)]
        if len(out) > MAX_SCANNED_FILES:
            break
    return out


def _definition_pattern(name: str, language: str) -> str:
    n = re.escape(name)
    if language == "javascript":
        return (rf"^[ \t]*(?:export[ \t]+)?(?:default[ \t]+)?(?:async[ \t]+)?(?:function[ \t]*\*?"
                rf"[ \t]*{n}[ \t]*\(|(?:const|let|var)[ \t]+{n}[ \t]*=|{n}[ \t]*\([^)\n]*\)"
                rf"[ \t]*\{{)")
    if language == "rust":
        return rf"^[ \t]*(?:pub(?:\([^)]*\))?[ \t]+)?(?:const[ \t]+)?(?:async[ \t]+)?" \
               rf"(?:unsafe[ \t]+)?fn[ \t]+{n}\b"
    return rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{n}[ \t]*\("


def _line_at(frame: Frame) -> str:
    if frame.source_line or frame.workspace_path is None:
        return frame.source_line
    try:
        lines = read_source(frame.workspace_path).splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    return lines[frame.line - 1] if 1 <= frame.line <= len(lines) else ""


def in_test_code(path: Path, text: str, span: Span | None) -> bool:
    """Whether ``span`` of ``path`` is test code: a test file, or (Rust) a ``#[test]``
    function or anything in a ``mod tests``."""
    if is_test_file(path):
        return True
    if span is None or path.suffix != ".rs":
        return False
    lines = text.splitlines()
    i = span.start_line - 2
    while i >= 0 and lines[i].lstrip().startswith(("#[", "///", "//")):
        if re.match(r"\s*#\[\s*(?:\w+::)*test\b", lines[i]):
            return True
        i -= 1
    spec = for_path(path, text)
    if spec is None:
        return False
    data = to_bytes(text)
    offset = len(to_bytes("\n".join(lines[:span.start_line - 1]))) + 1
    chain = enclosing_definitions(parse(data, spec), spec, data, offset)
    return any(d.kind == "module" and d.name in ("tests", "test") for d in chain)


def called_function(root: Path, test_frame: Frame, language: str = "python") -> Span | None:
    """The workspace function that the failing test line calls (an assertion that fails in
    the test itself points at what it called), searched outside the tests."""
    aliases: dict[str, str] = {}  # ``from solution import add as candidate``
    if test_frame.workspace_path is not None and language == "python":
        try:
            tree = ast.parse(read_source(test_frame.workspace_path))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            tree = None
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.ImportFrom):
                aliases.update({a.asname: a.name for a in node.names if a.asname})
    names = [aliases.get(n, n) for n in _called_names(_line_at(test_frame), language)
             if not n.startswith(("assert", "_"))]
    if not names:
        return None
    for name in names:
        pattern = re.compile(_definition_pattern(name, language), re.MULTILINE)
        for path in _source_files(root, language):
            if is_test_file(path):
                continue
            try:
                text = read_source(path)
            except (OSError, UnicodeDecodeError):
                continue
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                # the line itself may start outside the definition's node (``export``)
                for at in (line, line + 1):
                    span = function_span(path, text, at)
                    if span is not None and span.name == name and span.start_line <= line \
                            and not in_test_code(path, text, span):
                        return span
    return None


def _workspace_frames(error: ParsedError) -> Iterator[tuple[Frame, bool, Span | None]]:
    """The traceback's workspace frames, innermost first, each with whether it is test code
    and the function around its line (frames whose file cannot be read are skipped)."""
    for frame in reversed(error.frames):
        if frame.workspace_path is None:
            continue
        try:
            text = read_source(frame.workspace_path)
        except (OSError, UnicodeDecodeError):
            continue
        span = function_span(frame.workspace_path, text, frame.line)
        yield frame, in_test_code(frame.workspace_path, text, span), span


def suspect_span(root: Path, error: ParsedError, language: str = "python") -> Span | None:
    """The function a fix should replace: the innermost workspace frame outside the tests,
    else the function the innermost test frame's line calls."""
    tests: list[Frame] = []
    for frame, is_test, span in _workspace_frames(error):
        if is_test:
            tests.append(frame)
        elif span is not None:
            return span
        else:
            return None  # module-level code: not a function to replace
    return called_function(root, tests[0], language) if tests else None


# ----------------------------------------------------------------------------- prompts
def _test_code(error: ParsedError) -> str:
    for frame, is_test, span in _workspace_frames(error):
        if is_test:
            return span.text if span is not None else _line_at(frame)
    return ""


def evidence_text(test_id: str, error: ParsedError, test_code: str,
                  language: str = "python") -> str:
    parts = [f"The test `{test_id}` fails."]
    if test_code:
        parts.append(f"The test:\n\n```{language}\n{textwrap.dedent(test_code).strip()}\n```")
    parts.append(f"The error:\n\n```\n{error.summary[:1500]}\n```")
    return "\n\n".join(parts)


def explain_prompt(test_id: str, error: ParsedError, span: Span | None, test_code: str,
                   language: str = "python") -> Prompt:
    code = f"\n\nThe function under test (`{span.label}`):\n\n```{language}\n" \
           f"{textwrap.dedent(span.text).rstrip()}\n```" if span is not None else ""
    evidence = evidence_text(test_id, error, test_code, language) + code
    user = (f"{evidence}\n\nExplain in a few sentences why the test fails: what the code does, "
            "what the test expects, and which line is wrong. Do not rewrite the code.")
    document = f"{evidence}\n\n## Why the test fails\n\n"
    return Prompt("You are an expert programmer who explains why tests fail. Be accurate and "
                  "brief; say so when unsure.", user, document, "The test fails because")


def _seed(span: Span) -> str:
    """The candidate's beginning, written for the model: the ``def`` line, and the docstring
    (not part of a fix; a small model otherwise spends its tokens copying it); for a language
    with braces, the line that opens the function's block."""
    code = textwrap.dedent(span.text).strip("\n")
    if span.path.suffix not in (".py", ".pyi"):
        first_line = code.split("\n", 1)[0].rstrip()
        return first_line + "\n" if first_line.endswith("{") and "\n" in code else ""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        tree = None
    func = tree.body[0] if tree is not None and tree.body else None
    if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef) and func.body:
        first = func.body[0]
        head = first.end_lineno if isinstance(first, ast.Expr) and isinstance(
            first.value, ast.Constant) and isinstance(first.value.value, str) \
            and len(func.body) > 1 else first.lineno - 1
        if head and head >= func.lineno:
            return "\n".join(code.split("\n")[:head]) + "\n"
    first_line = code.split("\n", 1)[0].strip()
    return first_line + "\n" if first_line.endswith(":") else ""


def candidate_tokens(span: Span, seed: str) -> int:
    """Tokens a candidate may take: the rest of the function, with room to change it."""
    rest = max(0, len(span.text) - len(seed))
    return max(64, min(400, rest // 2 + 48))


def unverified_text(code: str, why: str, language: str = "python") -> str:
    """An idea that could not be verified, marked so that nobody takes it for a fix."""
    return (f"**UNVERIFIED idea, not applied** ({why}):\n\n```{language}\n"
            + code.strip("\n") + "\n```\n")


# ----------------------------------------------------------------------------- pipeline
async def fix_failing_test(request: FixRequest, *, backend: Backend | None, settings: Settings,
                           on_text: OnText | None = None, on_progress: OnProgress | None = None
                           ) -> FixResult:
    """Run, explain and fix the failing test of ``request``; never writes the user's files.

    ``on_text`` receives the Markdown (the explanation, then the outcome) as it is written;
    ``on_progress`` short progress messages. Cancelling the awaiting task stops the model and
    kills the sandboxed runs. Raises ModelError when the model cannot run.
    """
    t0 = time.perf_counter()
    root = request.root.resolve()
    emit: OnText = on_text or (lambda _t: None)
    say: OnProgress = on_progress or (lambda _m: None)
    result = FixResult(ERROR, request.test_id)
    reason = not_run_reason(settings)
    if reason:
        result.status, result.reason = NOT_RUN, reason
        return result
    try:
        runner, result.test_id = runner_for(root, request.test_id, settings, request.cwd)
    except RunnerUnavailable as exc:
        result.status, result.reason = NOT_RUN, str(exc)
        return result
    except ValueError as exc:
        result.reason = str(exc)
        return result
    say("copying the project into a sandbox")
    try:
        async with runner.sandbox(settings) as sandbox:
            runner.prepare(sandbox)
            await _fix_in(sandbox, runner, request, result, backend, settings, emit, say, t0)
    except IsolationUnavailable as exc:
        result.status, result.reason = NOT_RUN, str(exc)
    result.seconds = time.perf_counter() - t0
    return result


async def _fix_in(sandbox: TestSandbox, runner: TestRunner, request: FixRequest,
                  result: FixResult, backend: Backend | None, settings: Settings, emit: OnText,
                  say: OnProgress, t0: float) -> None:
    project = runner.project
    language = runner.language
    timeout = runner.timeout(settings)
    say("running the tests")
    before = await runner.run(sandbox, timeout=timeout * 4)
    test_id = pick_target(result.test_id, before)
    if test_id is None:  # deselected, not found by default, or a collection error elsewhere
        before.merge(await runner.run(sandbox, [result.test_id], timeout=timeout))
        test_id = pick_target(result.test_id, before)
    outcome = before.outcomes.get(test_id) if test_id is not None else None
    if test_id is None or outcome is None:
        result.reason = "the test was not found or could not be run: " + (
            before.errors[0][-600:] if before.errors else before.output[-600:])
        return
    result.test_id = test_id
    if outcome == "passed":
        result.status, result.reason = PASSES, "the test passes: nothing to fix"
        return
    if outcome == "skipped":
        result.reason = "the test is skipped"
        return
    result.passed_before = sorted(before.passed())
    error = map_frames(runner.parse_error(before.messages.get(test_id, "")), project,
                       sandbox_project=sandbox.project_dir)
    result.error = error
    span = suspect_span(project, error, language)
    result.span = span
    test_code = _test_code(error)
    if backend is not None and request.explain:
        say("explaining the failure")
        answer = await stream_answer(backend, explain_prompt(test_id, error, span, test_code,
                                                             language),
                                     f"## Why `{test_id}` fails", on_text=emit,
                                     max_tokens=request.explain_max_tokens)
        result.explanation = answer.markdown
        result.explanation_seconds = answer.seconds
        result.explanation_first_text_seconds = answer.first_text_seconds
    result.status = NO_VERIFIED_FIX
    if span is None:
        result.reason = "no workspace function to fix was found in the traceback"
        emit(f"\n**No verified fix**: {result.reason}.\n")
        return
    if backend is None:
        result.reason = "no model to propose a fix"
        emit(f"\n**No verified fix**: {result.reason}.\n")
        return
    text = read_source(span.path)
    rel = span.path.relative_to(project).as_posix()
    verifier = TestFixVerifier(sandbox, rel_path=rel, text=text, span=span, target_id=test_id,
                               passed_before=result.passed_before, runs=request.runs,
                               timeout=timeout, runner=runner)
    prompt = code_prompt(language=language, task="Fix the bug in this function.",
                         code=span.text,
                         evidence=evidence_text(test_id, error, test_code, language),
                         seed=_seed(span))
    seen: set[str] = set()
    started = time.perf_counter()
    for i in range(request.max_candidates):
        if time.perf_counter() - started > request.budget_s:
            break
        temperature = TEMPERATURES[min(i, len(TEMPERATURES) - 1)]
        say(f"candidate {i + 1} of {request.max_candidates}")
        c0 = time.perf_counter()
        code, _ = await fix_candidate(backend, prompt, temperature=temperature,
                                      max_tokens=candidate_tokens(span, prompt.seed))
        key = "\n".join(ln.rstrip() for ln in code.strip().splitlines())
        if not key or key in seen:
            result.candidates.append(Candidate(code, temperature, False,
                                               "empty" if not key else "a repeat", "static",
                                               time.perf_counter() - c0))
            continue
        seen.add(key)
        say(f"verifying candidate {i + 1}")
        edit, verdict = await verifier.check(code)
        result.candidates.append(Candidate(code, temperature, verdict.verified, verdict.reason,
                                           verdict.stage, time.perf_counter() - c0))
        if edit is not None:
            result.status, result.edit, result.reason = VERIFIED, edit, verdict.reason
            result.seconds_to_fix = time.perf_counter() - t0
            emit(f"\n### Verified fix of `{span.name}` ({span.label})\n\n{verdict.reason}.\n\n"
                 f"```diff\n{edit.diff}```\n")
            return
    tried = [c for c in result.candidates if c.stage != "static" or c.reason not in (
        "empty", "a repeat", "the candidate is the code as it is")]
    result.reason = (f"none of {len(result.candidates)} candidate(s) passed verification"
                     if result.candidates else "no candidate within the time budget")
    emit(f"\n**No verified fix**: {result.reason}.\n")
    idea = next((c for c in tried if c.stage != "static"), tried[0] if tried else None)
    if idea is not None:
        result.unverified_idea = unverified_text(idea.code, idea.reason, language)
        emit("\n" + result.unverified_idea)
