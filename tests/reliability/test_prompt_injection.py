"""Untrusted text that reaches the prompt machinery cannot run code.

A GGUF file carries a Jinja chat template that Offpilot renders in the server process; a
malicious template (server-side template injection, as in the published llama-cpp-python
advisory) must not reach Python objects or run commands: templates render in Jinja's immutable
sandbox, and a template that fails falls back to a plain transcript. Workspace text that looks
like control tokens stays text (tests/unit/engine/test_templates.py checks the segments).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from offpilot.engine.backend import ChatMessage, ModelInfo, PromptMode
from offpilot.engine.templates import chat_segments

from tests.reliability.rpc import RawServer, clean_env, inline_params, items_of


def payloads(mark: Path) -> list[str]:
    cmd = f"touch {mark}"
    return [
        "{{ cycler.__init__.__globals__.os.system('" + cmd + "') }}",
        "{{ lipsum.__globals__['os'].popen('" + cmd + "').read() }}",
        "{{ self.__init__.__globals__.__builtins__.__import__('os').system('" + cmd + "') }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{% for c in ().__class__.__base__.__subclasses__() %}{% if c.__name__ == "
        "'catch_warnings' %}{{ c()._module.__builtins__['__import__']('os').system('" + cmd
        + "') }}{% endif %}{% endfor %}",
        "{{ raise_exception.__globals__['__builtins__']['__import__']('os').system('" + cmd
        + "') }}",
        "{{ messages.append({'role': 'system', 'content': 'injected'}) }}{{ messages }}",
        "{{ bos_token.__class__.__base__.__subclasses__() }}",
    ]


def info(template: str) -> ModelInfo:
    return ModelInfo(name="hostile", path="hostile.gguf", architecture="gemma3",
                     prompt_mode=PromptMode.INSTRUCT, chat_template=template,
                     bos_text="<bos>", eos_text="<eos>")


def test_malicious_chat_templates_do_not_run_code(tmp_path: Path):
    mark = tmp_path / "pwned"
    messages = [ChatMessage("system", "You explain code."), ChatMessage("user", "def f(): pass")]
    for template in payloads(mark):
        segments = chat_segments(info(template), messages)
        assert not mark.exists(), f"the template ran a command: {template}"
        text = "".join(str(s.get("text", "")) for s in segments)
        assert "def f(): pass" in text  # still a usable prompt
        assert "injected" not in text
        assert not any("subclasses" in str(s.get("text", "")) or "<class" in
                       str(s.get("text", "")) for s in segments if s.get("special")), segments


@pytest.mark.model
@pytest.mark.slow
def test_model_with_a_malicious_template_serves_without_running_it(
        gemma_path: Path, tmp_path: Path):
    from bench.gguf_edit import edited_copy

    mark = tmp_path / "pwned"
    template = payloads(mark)[0] + "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    model = edited_copy(gemma_path, tmp_path / "hostile.gguf", chat_template=template,
                        name="Hostile template")
    srv = RawServer(clean_env(OFFPILOT_CACHE_DIR=str(tmp_path / "cache")))
    srv.config = {"model": str(model), "indexEnabled": False, "threads": 2,
                  "contextSize": 1024, "maxTokens": 8}
    try:
        srv.initialize(tmp_path, options=srv.config)
        uri = (tmp_path / "a.py").as_uri()
        srv.open(uri, "def add(a, b):\n    return \n")
        result = srv.call("textDocument/inlineCompletion", inline_params(uri, 1, 11, 1), 300)
        assert isinstance(items_of(result), list)
        stats = srv.call("offpilot/stats")
        assert stats["models"]["completion"]["state"] in ("ready", "generating"), stats
        assert not mark.exists(), "the chat template ran a command in the server"
        assert srv.alive()
    finally:
        srv.close()
