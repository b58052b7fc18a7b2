"""The completion pipeline on a real file with the real model, on each prompt path: after
``return `` inside a function that more code follows, the suggestion stays in the function and
never carries the prompt's own structure (context labels, control-token text, fences)."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import jinja2
import pytest
from offpilot.config import Settings
from offpilot.engine import templates
from offpilot.engine.backend import PromptMode, Snippet
from offpilot.engine.local import LocalBackend
from offpilot.features.completion import Completer

pytestmark = [pytest.mark.model, pytest.mark.slow]

PACKAGE = Path(jinja2.__file__).parent  # an installed package: real code nobody wrote for this


def return_hole(source: str) -> tuple[str, int, int]:
    """``source`` without the expression of the first one-line ``return <expr>`` that ends a
    top-level function followed by more code; the cursor offset (after ``return ``) and the
    indentation of that line."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    for node, nxt in zip(tree.body, tree.body[1:], strict=False):
        if not isinstance(node, ast.FunctionDef) or not isinstance(node.body[-1], ast.Return):
            continue
        ret = node.body[-1]
        if ret.value is None or ret.end_lineno != ret.lineno or nxt is None:
            continue
        start = sum(len(x) for x in lines[:ret.lineno - 1])
        line = lines[ret.lineno - 1]
        at = start + line.index("return ") + len("return ")
        end = start + len(line.rstrip("\n"))
        return source[:at] + source[end:], at, len(line) - len(line.lstrip())
    raise AssertionError("no function ending in a one-line return")


def context_snippets() -> list[Snippet]:
    """Two real snippets from other files of the package, labelled with their paths."""
    out = []
    for name in ("filters.py", "nodes.py"):
        text = (PACKAGE / name).read_text(encoding="utf-8")
        body = "\n".join(text.splitlines()[:40]) + "\n"
        out.append(Snippet(path=f"jinja2/{name}", start_line=1, end_line=40, kind="similar",
                           text=body))
    return out


@pytest.mark.parametrize("path_kind", ["plain", "fim", "instruct"])
async def test_after_return_the_suggestion_stays_in_the_function_without_prompt_text(
        path_kind: str, gemma_path: Path, fim_model_path: Path, chat_model_path: Path):
    model = {"plain": gemma_path, "fim": fim_model_path, "instruct": chat_model_path}[path_kind]
    want = {"plain": PromptMode.PREFIX, "fim": PromptMode.FIM,
            "instruct": PromptMode.INSTRUCT}[path_kind]
    source = (PACKAGE / "utils.py").read_text(encoding="utf-8")
    text, at, indent = return_hole(source)
    snippets = context_snippets()
    backend = LocalBackend(model, n_threads=2, n_ctx=4096)
    try:
        info = await backend.start()
        assert info.prompt_mode is want

        async def get():
            return backend

        settings = replace(Settings(), debounce_ms=0, prefetch=False, warmup=False,
                           time_limit=120.0, context_budget=2048, max_tokens=96)
        completer = Completer(get, settings, context=lambda *_: snippets)
        out = await completer.complete("file:///w/jinja2/utils.py", text, at, language="python",
                                       path="jinja2/utils.py")
    finally:
        await backend.close()
    assert out.source == "model" and out.request is not None
    assert out.request.context  # the prompt did carry labelled context
    item = out.items[0] if out.items else ""
    for line in item.split("\n"):
        assert not templates.is_context_label(line), item
        assert not any(m in line for m in templates.PROMPT_MARKERS), item
    for line in item.split("\n")[1:]:
        if line.strip():  # later lines stay inside the function body
            assert len(line) - len(line.lstrip()) >= indent, item
