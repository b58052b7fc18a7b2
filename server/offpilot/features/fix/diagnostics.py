"""Explain and fix an editor diagnostic (Pyright, ruff, tsc, rustc, ...).

:func:`explain_diagnostic` streams an explanation grounded in the message, the code around it and
the definitions the caller passes. :func:`fix_diagnostic` asks the model for a replacement of the
enclosing function (or of the lines around the diagnostic at top level) and offers it as an edit
only when it can be re-checked here: the edited file parses, and the diagnostic is gone with no
new one, by the checks that apply:

- Python syntax errors: the compiler;
- undefined names: the module's symbol tables (:mod:`symtable`), no code run;
- ``ruff`` diagnostics (and the rest, as a second opinion): the workspace's ``ruff`` (its
  ``.venv``, else the one on ``PATH``), run in the sandbox, and only where the workspace is
  trusted (:func:`~offpilot.features.trust.not_run_reason`).

A diagnostic none of these can check gets an UNVERIFIED idea as text, never an edit. The user's
file is never written.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import re
import shutil
import symtable
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from offpilot.config import Settings
from offpilot.engine.backend import Backend, Snippet
from offpilot.features.fix.edits import (
    FixEdit,
    Span,
    check_edit,
    edited_text,
    function_span,
    line_span,
)
from offpilot.features.fix.model import Answer, Prompt, code_prompt, fix_candidate, stream_answer
from offpilot.features.testgen.core.sandbox import IsolationUnavailable, TestSandbox
from offpilot.features.trust import not_run_reason

OnText = Callable[[str], None]
RUFF_CONFIGS = ("pyproject.toml", "ruff.toml", ".ruff.toml")
_UNDEFINED = re.compile(r"undefined name|is not defined|reportUndefinedVariable|\bF821\b",
                        re.IGNORECASE)
_SYNTAX = re.compile(r"syntax|expected|unexpected|unterminated|invalid|was never closed|"
                     r"is not closed|unindent|indent", re.IGNORECASE)
_QUOTED = re.compile(r"[`'\"]([A-Za-z_]\w*)[`'\"]")


@dataclass(frozen=True)
class Problem:
    """One diagnostic a local check found."""

    checker: str  # python | names | ruff
    code: str
    message: str
    line: int  # 1-based

    @property
    def key(self) -> tuple[str, str, str]:
        return self.checker, self.code, self.message


@dataclass(frozen=True)
class DiagnosticRequest:
    """A diagnostic of ``path`` as the editor has it. Lines and characters are 0-based, as LSP
    counts them; ``text`` is the buffer's text (unsaved changes included)."""

    root: Path
    path: Path
    text: str
    start_line: int
    start_character: int
    end_line: int
    end_character: int
    message: str
    source: str = ""  # ruff, Pylance, Pyright, rustc, ...
    code: str = ""  # F821, reportUndefinedVariable, E0425, ...
    language: str = "python"


@dataclass
class DiagnosticFix:
    """``edit`` is set only when ``status`` is ``verified``."""

    status: str  # verified | no_verified_fix | unverifiable
    reason: str = ""
    edit: FixEdit | None = None
    checks: list[str] = field(default_factory=list)  # which checks verified it
    unverified_idea: str = ""
    candidates: list[tuple[str, str]] = field(default_factory=list)  # (code, why rejected)
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {"status": self.status, "reason": self.reason,
                "edit": self.edit.to_json() if self.edit else None, "checks": self.checks,
                "unverifiedIdea": self.unverified_idea,
                "candidates": [{"code": c, "reason": r} for c, r in self.candidates],
                "seconds": round(self.seconds, 3)}


# ----------------------------------------------------------------------------- checks
def syntax_problems(text: str, path: str = "<file>") -> list[Problem]:
    try:
        compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return [Problem("python", "syntax", exc.msg, exc.lineno or 1)]
    except ValueError as exc:
        return [Problem("python", "syntax", str(exc), 1)]
    return []


def undefined_names(text: str) -> list[Problem]:
    """Names read but bound nowhere (module, enclosing scopes, builtins), from the symbol
    tables; [] when the text does not parse or uses ``from x import *``."""
    try:
        tree = ast.parse(text)
        top = symtable.symtable(text, "<file>", "exec")
    except (SyntaxError, ValueError):
        return []
    if any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names)
           for n in ast.walk(tree)):
        return []
    module_names = {s.get_name() for s in top.get_symbols()
                    if s.is_assigned() or s.is_imported() or s.is_namespace()}
    known = module_names | set(dir(builtins)) | {"__file__", "__name__", "__doc__",
                                                 "__builtins__", "__spec__", "__path__"}
    tables: list[symtable.SymbolTable] = []
    stack = [top]
    while stack:
        table = stack.pop()
        tables.append(table)
        stack.extend(table.get_children())
    # ``global g`` then ``g = ...`` in a function binds a module name too
    known |= {s.get_name() for t in tables for s in t.get_symbols()
              if s.is_declared_global() and (s.is_assigned() or s.is_imported())}
    missing: set[str] = set()
    for table in tables:
        for s in table.get_symbols():
            if not s.is_referenced():
                continue
            local = s.is_assigned() or s.is_imported() or s.is_parameter() or s.is_namespace()
            if table is top:
                if not local and s.get_name() not in known:
                    missing.add(s.get_name())
            elif s.is_global() and s.get_name() not in known:
                missing.add(s.get_name())
    found = sorted((node.lineno, node.col_offset, node.id) for node in ast.walk(tree)
                   if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                   and node.id in missing)
    return [Problem("names", "undefined-name", f"undefined name '{name}'", line)
            for line, _col, name in found]


def ruff_program(root: Path) -> str:
    for venv in (".venv", "venv"):
        cand = root / venv / "bin" / "ruff"
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which("ruff") or ""


async def ruff_problems(root: Path, rel: str, text: str, settings: Settings
                        ) -> list[Problem] | None:
    """ruff's diagnostics of ``text`` as the file ``rel``, run in the sandbox; None when ruff
    may not or cannot run here."""
    program = ruff_program(root)
    if not program or not_run_reason(settings):
        return None
    overlay = {rel: text}
    for name in RUFF_CONFIGS:
        cfg = root / name
        if cfg.is_file():
            overlay[name] = cfg.read_text(encoding="utf-8", errors="replace")
    try:
        async with TestSandbox(root, copy_project=False, overlay=overlay, timeout=30,
                               allow_unisolated=settings.allow_unisolated_runs) as sandbox:
            result = await sandbox.run([program, "check", "--no-cache", "--output-format",
                                        "json", "--exit-zero", rel],
                                       env=sandbox.environment())
    except IsolationUnavailable:
        return None
    try:
        items = json.loads(result.stdout or "null")
    except ValueError:
        return None
    if not isinstance(items, list):
        return None
    return [Problem("ruff", str(i.get("code") or ""), str(i.get("message") or ""),
                    int((i.get("location") or {}).get("row") or 1))
            for i in items if isinstance(i, dict)]


@dataclass
class Checked:
    problems: list[Problem]
    checkers: list[str]


async def local_problems(root: Path, rel: str, text: str, settings: Settings,
                         *, use_ruff: bool) -> Checked:
    problems = syntax_problems(text, rel)
    checkers = ["python compile"]
    if not problems:
        problems += undefined_names(text)
        checkers.append("symbol tables")
    if use_ruff:
        ruff = await ruff_problems(root, rel, text, settings)
        if ruff is not None:
            problems += ruff
            checkers.append("ruff")
    return Checked(problems, checkers)


def matches(problem: Problem, request: DiagnosticRequest) -> bool:
    """Whether a local check's ``problem`` is the editor's diagnostic."""
    if problem.checker == "ruff" and request.code and problem.code == request.code:
        return True
    if problem.checker == "names" and _UNDEFINED.search(request.message + " " + request.code):
        wanted = _QUOTED.findall(request.message)
        return not wanted or f"'{wanted[0]}'" in problem.message
    # The compiler's own message (a Python extension may pass it on word for word, e.g.
    # "Missing parentheses in call to 'print'...") or the words syntax errors are said in.
    return problem.checker == "python" and bool(
        _SYNTAX.search(request.message) or "syntax" in request.code.lower()
        or (problem.message and problem.message.lower() in request.message.lower()))


# ----------------------------------------------------------------------------- prompts
def _region(request: DiagnosticRequest) -> Span:
    line = request.start_line + 1
    return function_span(request.path, request.text, line) or line_span(
        request.path, request.text, line, request.end_line + 1, around=1)


def _evidence(request: DiagnosticRequest) -> str:
    source = f"{request.source} " if request.source else ""
    code = f" [{request.code}]" if request.code else ""
    lines = request.text.splitlines()
    shown = lines[request.start_line] if request.start_line < len(lines) else ""
    return (f"The {source}diagnostic{code} at line {request.start_line + 1}: "
            f"{request.message}\n\nThe line: `{shown.strip()}`")


def explain_prompt(request: DiagnosticRequest, context: Sequence[Snippet]) -> Prompt:
    span = _region(request)
    parts = [_evidence(request),
             f"The code around it (lines {span.start_line}-{span.end_line}):\n\n"
             f"```{request.language}\n{span.text.rstrip()}\n```"]
    if context:
        parts.append("Definitions it uses:\n\n" + "\n\n".join(
            f"`{s.path}:{s.start_line}`:\n```\n{s.text.rstrip()}\n```" for s in context))
    evidence = "\n\n".join(parts)
    user = f"{evidence}\n\nExplain briefly what this diagnostic means here and how to fix it."
    return Prompt("You are an expert programmer who explains compiler and linter messages. "
                  "Be accurate and brief.", user,
                  f"{evidence}\n\n## What the diagnostic means\n\n", "This diagnostic")


async def explain_diagnostic(backend: Backend, request: DiagnosticRequest, *,
                             context: Sequence[Snippet] = (), on_text: OnText | None = None,
                             max_tokens: int = 200) -> Answer:
    """Explain the diagnostic, streaming Markdown to ``on_text``; nothing is run."""
    heading = f"## {request.source or 'Diagnostic'}: {request.message.splitlines()[0][:120]}"
    return await stream_answer(backend, explain_prompt(request, context), heading,
                               on_text=on_text, max_tokens=max_tokens)


# ----------------------------------------------------------------------------- fixing
async def fix_diagnostic(request: DiagnosticRequest, *, backend: Backend, settings: Settings,
                         max_candidates: int = 3, budget_s: float = 60.0) -> DiagnosticFix:
    """A verified edit that removes the diagnostic, or why there is none (see the module)."""
    t0 = time.perf_counter()
    result = DiagnosticFix("no_verified_fix")
    try:
        rel = request.path.resolve().relative_to(request.root.resolve()).as_posix()
    except ValueError:
        rel = request.path.name
    python = request.path.suffix in (".py", ".pyi")
    use_ruff = python and (request.source.lower() == "ruff"
                           or bool(re.fullmatch(r"[A-Z]{1,3}\d{3,4}", request.code)))
    before = await local_problems(request.root, rel, request.text, settings,
                                  use_ruff=use_ruff) if python else Checked([], [])
    targets = [p for p in before.problems if matches(p, request)]
    checkable = bool(targets)
    span = _region(request)
    prompt = code_prompt(language=request.language, task="Fix the problem in this code.",
                         code=span.text, evidence=_evidence(request))
    seen: set[str] = set()
    for i in range(max_candidates):
        if time.perf_counter() - t0 > budget_s:
            break
        code, _ = await fix_candidate(backend, prompt, temperature=0.0 if i == 0 else 0.8)
        key = code.strip()
        if not key or key in seen:
            continue
        seen.add(key)
        if not checkable:
            result.candidates.append((code, "the diagnostic cannot be re-checked here"))
            break
        edit, problem = check_edit(request.path, request.text, span, code, rel_label=rel)
        if edit is None:
            result.candidates.append((code, problem))
            continue
        after = await local_problems(request.root, rel, edited_text(request.text, edit),
                                     settings, use_ruff=use_ruff)
        still = [p for p in after.problems if matches(p, request)]
        new = Counter(p.key for p in after.problems) - Counter(p.key for p in before.problems)
        if len(still) >= len(targets):
            result.candidates.append((code, "the diagnostic is still there"))
            continue
        if new:
            message = next(iter(new))[2]
            result.candidates.append((code, f"a new diagnostic appears: {message}"))
            continue
        result.status, result.edit = "verified", edit
        result.checks = after.checkers
        result.reason = ("the diagnostic is gone and no new one appears ("
                         + ", ".join(after.checkers) + ")")
        break
    if result.edit is None:
        if not checkable:
            result.status = "unverifiable"
            result.reason = ("this diagnostic cannot be re-checked here (only Python syntax, "
                             "undefined names and ruff's can)")
        else:
            result.reason = (f"none of {len(result.candidates)} candidate(s) removed the "
                             "diagnostic cleanly" if result.candidates
                             else "the model proposed no change")
        if result.candidates:
            code, why = result.candidates[0]
            result.unverified_idea = ("**UNVERIFIED idea, not applied** (" + why + "):\n\n```"
                                      + request.language + "\n" + code.strip("\n") + "\n```\n")
    result.seconds = time.perf_counter() - t0
    return result
