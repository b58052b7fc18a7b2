"""Prompt layouts: FIM, instruct infill, prefix continuation and chat, as prompt segments.

A prompt is a list of segments: ``{"text": str}`` (tokenized as plain text, so a user's file can
never smuggle in control tokens), ``{"text": str, "special": True}`` (template text whose control
tokens are parsed) and ``{"token": int}`` (a special token id). Every backend receives the same
segments: the local engine tokenizes them, remote engines join them into text.

Layouts keep the start of the prompt byte-identical while the user types: repository context
first, in the order retrieval gave it, then the file around the cursor, and the text typed since
the request's anchor last of all (see :class:`~offpilot.engine.backend.InfillRequest`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from offpilot.context.languages import for_language_id
from offpilot.engine.backend import (
    ChatMessage,
    InfillRequest,
    ModelInfo,
    PromptMode,
    Snippet,
)

log = logging.getLogger(__name__)

Segment = dict[str, Any]

FENCE = "```"
HOLE = "<CURSOR>"

INFILL_SYSTEM = (
    "You are a code completion engine. The user shows a file with one hole marked "
    f"{HOLE}. Reply with only the code that belongs at {HOLE}, inside one fenced code block, "
    "continuing exactly where the text already written in your answer stops. Do not repeat "
    "code that is before or after the hole. No explanations."
)

_COMMENT_BY_LANGUAGE = {
    "python": "#", "ruby": "#", "shellscript": "#", "yaml": "#", "toml": "#", "r": "#",
    "perl": "#", "makefile": "#", "dockerfile": "#", "lua": "--", "sql": "--", "haskell": "--",
}


def comment_prefix(language: str) -> str:
    """The line-comment syntax used to label context snippets."""
    spec = for_language_id(language)
    if spec is not None:
        return spec.comment_prefix
    return _COMMENT_BY_LANGUAGE.get(language, "//")


# Text that only a prompt layout puts in front of the model: control-token spellings, the hole
# marker, the instruct layout's fences and headings. A completion reproducing one has left the
# file it was asked to continue.
PROMPT_MARKERS = (
    HOLE, FENCE, "<|fim_", "<fim_", "<|file_sep|>", "<file_sep>", "<|repo_name|>", "<reponame>",
    "<start_of_turn>", "<end_of_turn>", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
    "<|user|>", "<|assistant|>", "Relevant code from the repository:",
)
_PATH_LABEL = re.compile(
    r"^\s*(?:#|//|--|;)\s*(?:File\s+)?([\w.@+~/\\-]+\.([A-Za-z0-9]{1,10})):?\s*$")
_FILE_HEADING = re.compile(r"^File \S+:\s*$")
_SOURCE_EXTENSIONS = frozenset((
    "py", "pyi", "js", "jsx", "mjs", "cjs", "ts", "tsx", "go", "rs", "java", "kt", "kts", "c",
    "h", "cc", "cpp", "hpp", "cs", "rb", "php", "swift", "scala", "lua", "sh", "bash", "zsh",
    "sql", "r", "m", "mm", "dart", "ex", "exs", "erl", "hs", "ml", "clj", "vue", "svelte",
    "toml", "yaml", "yml", "json", "md", "txt", "cfg", "ini", "html", "css", "scss"))


def is_context_label(line: str) -> bool:
    """True for a line shaped like a context snippet's label (a comment holding only a path,
    as :func:`render_context` writes) or the instruct layout's ``File path:`` heading."""
    if _FILE_HEADING.match(line.strip()):
        return True
    m = _PATH_LABEL.match(line)
    return bool(m and ("/" in m.group(1) or "\\" in m.group(1)
                       or m.group(2).lower() in _SOURCE_EXTENSIONS))


def structure_cut(completion: str) -> str:
    """``completion`` up to the first text that reproduces the prompt's structure: a control
    token's spelling, the hole marker, a fence or heading of the instruct layout, or a context
    snippet's path label. What follows such a line is the model writing another file."""
    cut = len(completion)
    for marker in PROMPT_MARKERS:
        at = completion.find(marker)
        if 0 <= at < cut:
            cut = at
    text = completion[:cut]
    pos = 0
    for line in text.split("\n"):
        if is_context_label(line):
            return text[:pos].rstrip()
        pos += len(line) + 1
    return text


def render_context(snippets: Sequence[Snippet], language: str) -> str:
    """Context snippets as one block of source, each labelled with its path in a comment."""
    c = comment_prefix(language)
    parts = []
    for s in snippets:
        body = s.text if s.text.endswith("\n") else s.text + "\n"
        parts.append(f"{c} {s.path}\n{body}")
    return "\n".join(parts)


def _text(t: str) -> Segment:
    return {"text": t}


def _tok(tok: int) -> Segment:
    return {"token": tok}


def infill_segments(info: ModelInfo, req: InfillRequest, mode: PromptMode | None = None
                    ) -> list[Segment]:
    """The completion prompt for ``req`` in the model's (or the forced) prompt mode."""
    mode = mode or info.prompt_mode
    if mode is PromptMode.FIM and info.fim is not None:
        return _fim_segments(info, req)
    if mode is PromptMode.INSTRUCT and info.chat_template:
        return _instruct_segments(info, req)
    return _prefix_segments(req)


def _fim_segments(info: ModelInfo, req: InfillRequest) -> list[Segment]:
    """PSM layout with the typed text after the middle token, as llama.vscode sends to /infill.

    ``[file_sep path, snippet]... [PRE] prefix [SUF] suffix [MID] typed``: the prefix and suffix
    stay fixed while the user types forward from the anchor, so only ``typed`` is new.
    """
    fim = info.fim
    assert fim is not None
    segs: list[Segment] = []
    if req.context:
        if fim.file_sep is not None:
            for s in req.context:
                segs += [_tok(fim.file_sep), _text(f"{s.path}\n{s.text.rstrip()}\n")]
            segs += [_tok(fim.file_sep), _text(f"{req.path}\n")]
        else:
            segs.append(_text(render_context(req.context, req.language) + "\n"))
    segs += [_tok(fim.prefix), _text(req.prefix), _tok(fim.suffix), _text(req.suffix),
             _tok(fim.middle)]
    if req.typed:
        segs.append(_text(req.typed))
    return segs


def _prefix_segments(req: InfillRequest) -> list[Segment]:
    """Base models: the repository context, then the file up to the cursor, continued.

    The code after the cursor is left out: shown to the embedded base model as a labelled block
    before the file, it changed no HumanEval infilling result (``bench/quality.py``, arm
    ``-suffix``) and cost its tokens on every new anchor."""
    head = ""
    if req.context:
        head = render_context(req.context, req.language) + "\n"
        if req.path:
            head += f"{comment_prefix(req.language)} {req.path}\n"
    segs = [_text(head + req.prefix)] if head or req.prefix else []
    if req.typed:
        segs.append(_text(req.typed))
    return segs


def _instruct_segments(info: ModelInfo, req: InfillRequest) -> list[Segment]:
    """Chat models without FIM training: show the file with a hole, let the answer continue.

    The text typed since the anchor is put at the start of the assistant's answer, inside the
    code fence, so the model continues it and the chat prefix stays cached while typing.
    """
    lang = req.language or ""
    user = ""
    if req.context:
        user += "Relevant code from the repository:\n" + FENCE + lang + "\n"
        user += render_context(req.context, lang).rstrip() + "\n" + FENCE + "\n\n"
    user += f"File {req.path or '(untitled)'}:\n{FENCE}{lang}\n{req.prefix}{HOLE}{req.suffix}\n"
    user += FENCE
    messages = [ChatMessage("system", INFILL_SYSTEM), ChatMessage("user", user)]
    return chat_segments(info, messages, assistant_prefix=f"{FENCE}{lang}\n{req.typed}")


# --------------------------------------------------------------------------- chat templates
@dataclass(frozen=True)
class _Rendered:
    template_parts: list[str]
    contents: list[str]


def _render_template(template: str, messages: Sequence[ChatMessage], bos: str, eos: str) -> str:
    """The model's chat template rendered, or "" when it cannot be (a plain transcript is
    used then). The template comes from the model file: it may be broken, raise on purpose
    (``raise_exception``) or do arithmetic on the wrong types."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        loader=jinja2.BaseLoader())
    try:
        tpl = env.from_string(template)
        return tpl.render(
            messages=[{"role": m.role, "content": m.content} for m in messages],
            bos_token=bos, eos_token=eos, add_generation_prompt=True,
            raise_exception=raise_exception, tools=None, enable_thinking=False,
        )
    except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError,
            RecursionError) as exc:
        log.warning("the model's chat template cannot be rendered (%s: %s); using a plain "
                    "transcript", type(exc).__name__, exc)
        return ""


_MARK = "\x00OFFPILOT{}\x00"
_MARK_RE = re.compile("\x00OFFPILOT(\\d+)\x00")


def chat_segments(info: ModelInfo, messages: Sequence[ChatMessage], *,
                  assistant_prefix: str = "") -> list[Segment]:
    """Render ``messages`` with the model's chat template (or a plain transcript).

    Message contents are rendered as placeholders and put back as plain-text segments, so only
    the template's own text can contain control tokens.
    """
    segs: list[Segment] = []
    if info.chat_template:
        marked = [ChatMessage(m.role, _MARK.format(i)) for i, m in enumerate(messages)]
        rendered = _render_template(info.chat_template, marked, info.bos_text, info.eos_text)
        if rendered:
            pos = 0
            for mark in _MARK_RE.finditer(rendered):
                if mark.start() > pos:
                    segs.append({"text": rendered[pos:mark.start()], "special": True})
                segs.append(_text(messages[int(mark.group(1))].content))
                pos = mark.end()
            if pos < len(rendered):
                segs.append({"text": rendered[pos:], "special": True})
            # The template may emit BOS itself; the engine then must not add another.
            if info.bos_text and rendered.startswith(info.bos_text):
                segs.insert(0, {"no_bos": True})
            if assistant_prefix:
                segs.append(_text(assistant_prefix))
            return segs
    transcript = ""
    for m in messages:
        if m.role == "system":
            transcript += m.content.strip() + "\n\n"
        else:
            transcript += f"{m.role.capitalize()}: {m.content.strip()}\n\n"
    transcript += "Assistant:" + (" " + assistant_prefix if assistant_prefix else "")
    return [_text(transcript)]


def segments_to_text(info: ModelInfo, segments: Sequence[Segment]) -> str:
    """Join segments into one string (for engines that take text prompts)."""
    by_id: dict[int, str] = {}
    if info.fim is not None:
        f = info.fim
        by_id = {f.prefix: f.prefix_text, f.suffix: f.suffix_text, f.middle: f.middle_text}
        if f.file_sep is not None:
            by_id[f.file_sep] = f.file_sep_text
    out = []
    for s in segments:
        if "token" in s:
            out.append(by_id.get(int(s["token"]), ""))
        elif "text" in s:
            out.append(s["text"])
    return "".join(out)


def wants_bos(info: ModelInfo, segments: Sequence[Segment], add_bos_default: bool) -> bool:
    if any(s.get("no_bos") for s in segments):
        return False
    return add_bos_default


def strip_markers(segments: Sequence[Segment]) -> list[Segment]:
    return [s for s in segments if "text" in s or "token" in s]


def extract_instruct_completion(answer: str) -> str:
    """The code of an instruct model's answer: the fenced block's body, without the fence."""
    end = answer.find(FENCE)
    if end >= 0:
        answer = answer[:end]
    return answer


def detect_prompt_mode(fim: object | None, chat_template: str | None, override: str = "auto"
                       ) -> PromptMode:
    """FIM when the vocabulary has FIM tokens, instruct when there is a chat template, else prefix.

    ``override`` (the ``promptMode`` setting) wins when the model can honour it.
    """
    if override == "fim" and fim is not None:
        return PromptMode.FIM
    if override == "instruct" and chat_template:
        return PromptMode.INSTRUCT
    if override == "prefix":
        return PromptMode.PREFIX
    if fim is not None:
        return PromptMode.FIM
    if chat_template:
        return PromptMode.INSTRUCT
    return PromptMode.PREFIX
