"""Diagnostic fixes: the local re-checks, and the pipeline with HAND-WRITTEN candidates.

``ScriptedModel`` below is a fake backend that returns candidates written here (a unit test of
the pipeline, labelled as such): it checks that a fix is offered only when the diagnostic is
gone and no new one appears. The real model's runs are in ``test_fix_model.py``.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from offpilot.config import Settings
from offpilot.engine.backend import GenerationResult, ModelInfo, PromptMode, TextRequest
from offpilot.features.fix.diagnostics import (
    DiagnosticRequest,
    fix_diagnostic,
    matches,
    ruff_problems,
    syntax_problems,
    undefined_names,
)
from offpilot.features.fix.edits import EditConflict, apply_edit, edited_text
from offpilot.features.testgen.core.sandbox import filesystem_isolation


class ScriptedModel:
    """FAKE backend for a pipeline unit test: answers each request with the next scripted
    candidate (a base model: no chat template)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    async def info(self) -> ModelInfo:
        return ModelInfo("scripted", "", "none", PromptMode.FIM)

    async def generate(self, request: TextRequest, on_text=None) -> GenerationResult:
        self.prompts.append(request.prompt)
        text = (self.answers.pop(0) if self.answers else "") + "```\n"
        if on_text is not None:
            on_text(text)
        return GenerationResult(text, "stop")


BROKEN = '''\
import os


def total(items):
    result = 0
    for item in items
        result += item
    return result
'''
FIXED_BODY = '''\
def total(items):
    result = 0
    for item in items:
        result += item
    return result
'''


def syntax_request(tmp_path: Path) -> DiagnosticRequest:
    path = tmp_path / "m.py"
    path.write_text(BROKEN, encoding="utf-8")
    return DiagnosticRequest(tmp_path, path, BROKEN, 5, 4, 5, 21, "Expected ':'",
                             source="Pylance")


def test_local_checks():
    assert syntax_problems(BROKEN)[0].line == 6
    assert syntax_problems(FIXED_BODY) == []
    names = undefined_names("import os\n\ndef f(x):\n    return os.sep + y + x + len(z)\n")
    assert [(p.message, p.line) for p in names] == [("undefined name 'y'", 4),
                                                     ("undefined name 'z'", 4)]
    assert undefined_names("def f():\n    global g\n    g = 1\n    return g\n") == []
    assert undefined_names("class A:\n    x = 1\n    def m(self):\n        return A.x\n") == []


async def test_a_syntax_fix_is_offered_only_once_it_compiles_cleanly(tmp_path: Path):
    request = syntax_request(tmp_path)
    model = ScriptedModel([
        FIXED_BODY.replace("items:", "items").replace("= 0", "= 0  # zero"),  # still broken
        FIXED_BODY.replace("result += item", "result += itme"),  # a new undefined name
        FIXED_BODY,  # right
    ])
    fix = await fix_diagnostic(request, backend=model, settings=Settings(), max_candidates=3)
    assert fix.status == "verified", fix
    assert [why for _, why in fix.candidates] == [
        "the candidate does not parse: expected ':' (line 3)",
        "a new diagnostic appears: undefined name 'itme'"]
    assert fix.edit is not None and (fix.edit.start_line, fix.edit.end_line) == (4, 8)
    assert edited_text(BROKEN, fix.edit) == BROKEN.replace("in items\n", "in items:\n")
    assert "Expected ':'" in model.prompts[0] and "for item in items" in model.prompts[0]
    assert (tmp_path / "m.py").read_text() == BROKEN  # never written
    apply_edit(fix.edit)
    assert (tmp_path / "m.py").read_text() == BROKEN.replace("in items\n", "in items:\n")
    with pytest.raises(EditConflict):
        apply_edit(fix.edit)  # the file is no longer the one the edit was made against


async def test_no_verified_fix_shows_the_idea_as_marked_text(tmp_path: Path):
    request = syntax_request(tmp_path)
    model = ScriptedModel(["def total(items):\n    return sum(items\n"])
    fix = await fix_diagnostic(request, backend=model, settings=Settings(), max_candidates=1)
    assert fix.status == "no_verified_fix" and fix.edit is None
    assert fix.unverified_idea.startswith("**UNVERIFIED idea, not applied**")


async def test_a_diagnostic_that_cannot_be_rechecked_gets_no_edit(tmp_path: Path):
    text = "def f(x: int) -> str:\n    return x\n"
    path = tmp_path / "t.py"
    path.write_text(text)
    request = DiagnosticRequest(tmp_path, path, text, 1, 11, 1, 12,
                                'Type "int" is not assignable to return type "str"',
                                source="Pyright", code="reportReturnType")
    model = ScriptedModel(["def f(x: int) -> str:\n    return str(x)\n"])
    fix = await fix_diagnostic(request, backend=model, settings=Settings())
    assert fix.status == "unverifiable" and fix.edit is None
    assert "return str(x)" in fix.unverified_idea


RUFF = shutil.which("ruff")


@pytest.mark.skipif(RUFF is None or not filesystem_isolation().available,
                    reason="needs ruff and the bubblewrap sandbox")
async def test_ruff_runs_in_the_sandbox_only_in_a_trusted_workspace(tmp_path: Path):
    text = "import os\n\n\ndef f():\n    return 1\n"
    trusted = await ruff_problems(tmp_path, "m.py", text, Settings())
    assert trusted is not None and [(p.code, p.line) for p in trusted] == [("F401", 1)]
    untrusted = await ruff_problems(tmp_path, "m.py", text,
                                    replace(Settings(), workspace_trusted=False))
    assert untrusted is None


def test_the_compilers_own_message_is_recognised_as_a_syntax_error(tmp_path: Path):
    """A Python extension may pass the compiler's message on word for word; one that uses none
    of the usual words (syntax, expected, invalid...) is still the error compile() finds."""
    text = "print 'hello'\n"
    found = syntax_problems(text)
    assert found and "print" in found[0].message
    request = DiagnosticRequest(tmp_path, tmp_path / "p.py", text, 0, 0, 0, 5,
                                found[0].message, source="Python")
    assert matches(found[0], request)
    other = DiagnosticRequest(tmp_path, tmp_path / "p.py", text, 0, 0, 0, 5,
                              'Type "int" is not assignable to "str"', source="Pyright")
    assert not matches(found[0], other)
