"""Explain this code: what to explain, the chat prompt, and a clean answer from the model.

Plain Python, no LSP: the server (:mod:`offpilot.lsp.actions`) and ``offpilot explain``
(:mod:`offpilot.cli.explain`) run the same functions.

- :func:`pick_target` — the selection when there is one, else the function or class around the
  cursor (tree-sitter), else the whole file.
- :func:`build_messages` — the system and user messages: the code with its language and path,
  the definitions it calls from elsewhere in the workspace, and what the answer should cover.
- :func:`answer_language` — the language the code's comments and docstrings are written in,
  when it is not English, so the answer can be written in it.
- :class:`AnswerCleaner` — what the model writes, line by line: transcript markers end it,
  a line repeated a third time ends it, junk around it goes. Small models loop and run on
  into imaginary dialogue; nothing of that reaches the user.
- :func:`explain` — runs the chat on a backend and streams the clean Markdown, which begins with
  a heading we write (``## `cart_total` (shop/pricing.py:19-25)``), never with the model's.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import re
import textwrap
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import tree_sitter

from offpilot.config import Settings
from offpilot.context.extract import COMMENT_TYPES, parse, to_bytes
from offpilot.context.languages import LanguageSpec, for_language_id, for_path
from offpilot.context.symbols import enclosing_definition
from offpilot.engine.backend import (
    Backend,
    ChatMessage,
    ChatRequest,
    GenerationResult,
    OnText,
    Snippet,
    TextRequest,
)
from offpilot.engine.templates import render_context

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 3  # a cautious figure for code
PROMPT_OVERHEAD_TOKENS = 250  # the system message, instructions and labels
MIN_PROMPT_CHARS = 1200
MAX_CODE_CHARS = 12_000
MAX_LINE_CHARS = 2000  # a longer line is a model that never stops
MAX_PROSE_NODES = 400  # comments looked at to guess the language
REPEAT_LIMIT = 3  # the third time a line comes back, the answer ends
MIN_COUNTED_LINE = 6  # shorter lines ("}", "---", "- No") may repeat freely
FENCE = "```"

NO_EXPLANATION = ("_The model produced no explanation for this code. A larger chat model "
                  "explains far better: set `offpilot.chatModel`, e.g. to "
                  "`qwen3-4b-instruct-2507` (see `offpilot models list`)._")

# Where a model trained on chat transcripts goes on with the next turn.
STOP_SEQUENCES = ("<end_of_turn>", "<start_of_turn>", "<|im_end|>", "<|im_start|>",
                  "<|endoftext|>", "<|eot_id|>", "</s>", "\nUser:", "\nHuman:", "\nSystem:")
_TOKEN_MARKER = re.compile(
    r"<\|?(?:end_of_turn|start_of_turn|im_end|im_start|endoftext|eot_id|end|eos|bos)\|?>"
    r"|</s>|\[/?INST\]")
_ROLE_LINE = re.compile(
    r"^\s*(?:\*\*)?(?:User|Human|Assistant|System|AI|Bot)(?:\*\*)?\s*:"
    r"|^\s*#{2,}\s*(?:Instruction|Response|Input)\b", re.IGNORECASE)
_FENCE_LINE = re.compile(r"^\s*(```|~~~)")
_WORD_RUN = re.compile(r"\b([^\W\d_]\w*)(?:[ \t,;]+\1\b){3,}")  # words, not numbers
_PHRASE_RUN = re.compile(r"(.{6,80}?)\1{3,}")

LANGUAGE_NAMES = {
    "python": "Python", "javascript": "JavaScript", "javascriptreact": "JavaScript (JSX)",
    "typescript": "TypeScript", "typescriptreact": "TypeScript (TSX)", "tsx": "TypeScript (TSX)",
    "go": "Go", "rust": "Rust", "java": "Java", "c": "C", "cpp": "C++", "cuda-cpp": "CUDA C++",
    "csharp": "C#", "ruby": "Ruby", "php": "PHP", "shellscript": "shell", "kotlin": "Kotlin",
}


# ----------------------------------------------------------------------------- target
@dataclass(frozen=True)
class ExplainTarget:
    """The code to explain and where it is."""

    path: str  # for labels: workspace-relative, forward slashes
    language: str  # LSP languageId or registry name ("" when unknown)
    code: str  # text[start:end]
    start: int  # str offsets into the file's text
    end: int
    start_line: int  # 1-based, inclusive
    end_line: int
    name: str = ""  # the function, class or file; "" for an anonymous selection
    kind: str = ""  # function | method | class | ... | selection | file
    partial: bool = False  # a selection inside the named definition

    @property
    def label(self) -> str:
        """``shop/pricing.py:19-25``."""
        lines = str(self.start_line) if self.start_line == self.end_line \
            else f"{self.start_line}-{self.end_line}"
        return f"{self.path}:{lines}"

    @property
    def heading(self) -> str:
        """The Markdown heading the explanation starts with (ours, not the model's)."""
        where = self.label.replace("`", "")
        if not self.name:
            return f"## Selected code ({where})"
        name = _inline_code(self.name)
        if self.partial:
            lines = f"Line {self.start_line}" if self.start_line == self.end_line \
                else f"Lines {self.start_line}-{self.end_line}"
            return f"## {lines} of {name} ({where})"
        return f"## {name} ({where})"


def _inline_code(text: str) -> str:
    ticks = "``" if "`" in text else "`"
    return f"{ticks}{text}{ticks}"


def _line_starts(text: str) -> list[int]:
    starts = [0]
    i = text.find("\n")
    while i != -1:
        starts.append(i + 1)
        i = text.find("\n", i + 1)
    return starts


def _line_of(starts: list[int], offset: int) -> int:
    """0-based line of a str offset."""
    return max(0, bisect.bisect_right(starts, offset) - 1)


def _line_end(text: str, starts: list[int], line: int) -> int:
    """Offset of the end of 0-based ``line``, without its line break."""
    end = starts[line + 1] - 1 if line + 1 < len(starts) else len(text)
    if end > starts[line] and text[end - 1:end] == "\r":
        end -= 1
    return end


def _spec_for(language: str, path: str) -> LanguageSpec | None:
    return (for_language_id(language) if language else None) or for_path(path)


def _first_code_column(text: str, starts: list[int], line: int) -> int:
    """Offset of the first non-blank character of 0-based ``line`` (its end when blank)."""
    start, end = starts[line], _line_end(text, starts, line)
    stripped = len(text[start:end]) - len(text[start:end].lstrip())
    return start + stripped


def _definition_at(text: str, spec: LanguageSpec | None, tree: tree_sitter.Tree | None,
                   offset: int) -> tuple[str, str, int, int] | None:
    """(name, kind, first line, last line) — 1-based — of the innermost function or type
    around ``offset``, the name qualified by its class for a method."""
    if spec is None:
        return None
    data = to_bytes(text)
    if tree is None:
        tree = parse(data, spec)
    if tree is None:
        return None
    b = len(text[:offset].encode("utf-8", "surrogatepass"))
    try:
        d = enclosing_definition(tree, spec, data, b)
    except ValueError:  # tree_sitter.QueryError: a query that does not fit this grammar
        log.debug("no enclosing definition: the query does not fit", exc_info=True)
        return None
    if d is None:
        return None
    name = f"{d.parent}.{d.name}" if d.parent and d.kind == "method" else d.name
    return name, d.kind, d.start_line, d.end_line


def _with_decorators(text: str, starts: list[int], first: int) -> int:
    """0-based first line of a definition, moved up over decorators and attributes."""
    while first > 0:
        above = text[starts[first - 1]:_line_end(text, starts, first - 1)].lstrip()
        if not above.startswith(("@", "#[")):
            break
        first -= 1
    return first


def file_target(text: str, *, path: str, language: str = "") -> ExplainTarget:
    """The whole file as the code to explain."""
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    return ExplainTarget(path, language, text, 0, len(text), 1, max(1, lines),
                         PurePosixPath(path).name or path, "file")


def pick_target(text: str, start: int, end: int, *, path: str, language: str = "",
                tree: tree_sitter.Tree | None = None,
                spec: LanguageSpec | None = None) -> ExplainTarget:
    """What to explain for a selection ``text[start:end]`` (offsets are clamped).

    A selection with code in it is taken as it is (whole lines shown in the label; named after
    the definition it covers or lies in). An empty one is a cursor: the function, method or class
    around it, with its decorators; at top level, the whole file. ``tree`` is the file's syntax
    tree when the caller has one (else the text is parsed here).
    """
    start, end = sorted((max(0, min(start, len(text))), max(0, min(end, len(text)))))
    spec = spec or _spec_for(language, path)
    starts = _line_starts(text)
    selected = text[start:end]
    if selected.strip():
        # Blank lines around a selection are not part of it (nor of its label).
        lead = len(selected) - len(selected.lstrip())
        start += selected.rfind("\n", 0, lead) + 1
        end = start + len(text[start:end].rstrip())
        selected = text[start:end]
        first, last = _line_of(starts, start), _line_of(starts, end)
        found = _definition_at(text, spec, tree,
                               max(start, _first_code_column(text, starts, first)))
        name, kind, partial = "", "selection", False
        if found is not None:
            d_name, d_kind, d_first, d_last = found
            if (d_first - 1, d_last - 1) == (first, last):
                name, kind = d_name, d_kind
            elif d_first - 1 <= first and d_last - 1 >= last:
                name, kind, partial = d_name, d_kind, True
        return ExplainTarget(path, language, selected, start, end, first + 1, last + 1,
                             name, kind, partial)
    line = _line_of(starts, start)
    cursor = max(start, _first_code_column(text, starts, line))
    cursor = min(cursor, _line_end(text, starts, line))
    found = _definition_at(text, spec, tree, cursor)
    if found is None:
        return file_target(text, path=path, language=language)
    name, kind, d_first, d_last = found
    first = _with_decorators(text, starts, d_first - 1)
    last = min(d_last - 1, len(starts) - 1)
    s, e = starts[first], _line_end(text, starts, last)
    return ExplainTarget(path, language, text[s:e], s, e, first + 1, last + 1, name, kind)


# ----------------------------------------------------------------------------- language
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOPWORDS: dict[str, frozenset[str]] = {
    "English": _words(
        "the and of to is in that it for with as this are be by on an or if from returns "
        "return not when which was has have its into than then else each all any only"),
    "French": _words(
        "le la les des du une et est pour dans que qui pas sur avec ce cette sont au aux "
        "par retourne renvoie si ou leur selon être son ses entre donné donnée vide"),
    "German": _words(
        "der die das und ist nicht mit für ein eine einen dem den zu von auf wird werden "
        "oder wenn gibt zurück des sich auch als bei nach wert liste leer falls"),
    "Spanish": _words(
        "el los las del y es para por con una un que se lo su al como devuelve retorna "
        "cuando está más entre si valor vacía lista"),
    "Italian": _words(
        "il gli della delle di è per con una che non sono alla restituisce ritorna questo "
        "questa come quando valore vuota lista se"),
    "Portuguese": _words(
        "o os do da dos das é para com uma um não que se em no na retorna devolve quando "
        "são pelo pela valor vazia lista"),
    "Dutch": _words(
        "de het een en van is niet met voor op dat die zijn wordt geeft terug als bij naar "
        "ook waarde lijst leeg"),
}
_SCRIPTS = (  # (prefix of the Unicode name, language), checked in order
    ("HIRAGANA", "Japanese"), ("KATAKANA", "Japanese"), ("HANGUL", "Korean"),
    ("CJK", "Chinese"), ("CYRILLIC", "Russian"), ("GREEK", "Greek"), ("ARABIC", "Arabic"),
    ("HEBREW", "Hebrew"), ("DEVANAGARI", "Hindi"), ("THAI", "Thai"),
)
_WORD = re.compile(r"[^\W\d_]+")


def prose_of(code: str, spec: LanguageSpec | None) -> str:
    """The comments and docstrings of ``code``: tree-sitter nodes where the language is known,
    a few regular expressions otherwise."""
    if spec is not None:
        tree = parse(code, spec, timeout=1.0)
        if tree is not None:
            return _prose_from_tree(tree, to_bytes(code))
    parts = re.findall(r"(?:#|//)(.*)", code)
    parts += re.findall(r"/\*(.*?)\*/", code, re.DOTALL)
    parts += re.findall(r'"""(.*?)"""|\'\'\'(.*?)\'\'\'', code, re.DOTALL)
    return "\n".join(p if isinstance(p, str) else " ".join(p) for p in parts)


def _prose_from_tree(tree: tree_sitter.Tree, data: bytes) -> str:
    out: list[str] = []
    stack = [tree.root_node]
    seen = 0
    while stack and len(out) < MAX_PROSE_NODES:
        node = stack.pop()
        seen += 1
        if seen > 50_000:
            break
        if node.type in COMMENT_TYPES or node.type.endswith("comment"):
            out.append(data[node.start_byte:node.end_byte].decode("utf-8", "replace"))
            continue
        if node.type == "string" and node.parent is not None \
                and node.parent.type == "expression_statement":  # a docstring
            out.append(data[node.start_byte:node.end_byte].decode("utf-8", "replace"))
            continue
        stack.extend(reversed(node.children))
    return "\n".join(out)


def detect_language(prose: str) -> str | None:
    """The natural language of ``prose`` when it is clearly not English, else None.

    Scripts other than Latin decide by their share of the letters; Latin-script text by small
    stopword lists (French, German, Spanish, Italian, Portuguese, Dutch against English).
    """
    letters = [c for c in prose if c.isalpha()]
    if len(letters) < 12:
        return None
    scripts: Counter[str] = Counter()
    for c in letters:
        if c.isascii():
            continue
        name = unicodedata.name(c, "")
        for prefix, language in _SCRIPTS:
            if name.startswith(prefix):
                scripts[language] += 1
                break
    if scripts:
        language, count = scripts.most_common(1)[0]
        if "Japanese" in scripts and language == "Chinese":
            language = "Japanese"  # kanji with kana is Japanese
        if count / len(letters) >= 0.3:
            if language == "Russian" and any(c in prose for c in "іїєґІЇЄҐ"):
                return "Ukrainian"
            return language
    words = [w.lower() for w in _WORD.findall(prose)]
    if len(words) < 4:
        return None
    hits = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    english = hits.pop("English")
    best = max(hits, key=lambda lang: hits[lang])
    score = hits[best]
    if score >= 3 and score > english * 1.5 and score / len(words) >= 0.12:
        return best
    return None


def answer_language(code: str, spec: LanguageSpec | None = None) -> str | None:
    """The language to answer in, from the code's comments and docstrings (None: English)."""
    return detect_language(prose_of(code, spec))


# ----------------------------------------------------------------------------- prompt
SYSTEM = (
    "You are an expert programmer who explains code to a colleague. Be accurate and concise. "
    "Only describe what the code really does; if something is unclear, say so instead of "
    "guessing. Answer in Markdown."
)


def prompt_chars(settings: Settings) -> int:
    """Characters the code and its context may take in the chat prompt."""
    tokens = settings.context_size - settings.chat_max_tokens - PROMPT_OVERHEAD_TOKENS
    return max(MIN_PROMPT_CHARS, tokens * CHARS_PER_TOKEN)


def code_budget(settings: Settings) -> int:
    return min(MAX_CODE_CHARS, prompt_chars(settings) * 3 // 4)


def context_budget(target: ExplainTarget, settings: Settings) -> int:
    """Characters of workspace context that fit beside ``target``'s code."""
    left = prompt_chars(settings) - min(len(target.code), code_budget(settings))
    return max(0, min(settings.context_budget, left))


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _fit(code: str, limit: int) -> tuple[str, bool]:
    if len(code) <= limit:
        return code, False
    cut = code.rfind("\n", 0, limit)
    return code[:cut if cut > 0 else limit], True


def build_messages(target: ExplainTarget, context: Sequence[Snippet] = (), *,
                   answer_in: str | None = None,
                   max_code_chars: int = MAX_CODE_CHARS) -> list[ChatMessage]:
    """The chat for explaining ``target``: a system message and one user message."""
    spec = _spec_for("", target.path)
    lang_id = target.language or (spec.name if spec is not None else "")
    lang_name = LANGUAGE_NAMES.get(lang_id, lang_id.capitalize() if lang_id else "")
    code, truncated = _fit(textwrap.dedent(target.code).strip("\n"), max_code_chars)
    fence = fence_for(code)
    what = f"this {lang_name} code" if lang_name else "this code"
    kind = f" ({target.kind} `{target.name}`)" if target.name and target.kind not in (
        "selection", "file") and not target.partial else ""
    parts = [f"Explain {what} from `{target.path}`, lines {target.start_line}-"
             f"{target.end_line}{kind}:\n\n{fence}{lang_id}\n{code}\n{fence}"]
    if truncated:
        parts.append("(The code is longer; only its beginning is shown.)")
    if context:
        rendered = render_context(context, lang_id)
        cfence = fence_for(rendered)
        parts.append("Definitions it uses, from elsewhere in the workspace (for reference; "
                     f"do not explain them):\n\n{cfence}{lang_id}\n{rendered.rstrip()}\n{cfence}")
    parts.append(
        "Write a short explanation with these three parts:\n"
        "1. **What it does**: its purpose in one or two sentences.\n"
        "2. **Inputs and outputs**: parameters, return value, side effects, errors raised.\n"
        "3. **Edge cases and possible bugs**: unusual inputs and anything that looks wrong.\n"
        "Do not repeat the code. Do not add a title.")
    if answer_in:
        parts.append(f"The code's comments are in {answer_in}: write your answer in "
                     f"{answer_in}.")
    system = SYSTEM + (f" Answer in {answer_in}." if answer_in else "")
    return [ChatMessage("system", system), ChatMessage("user", "\n\n".join(parts))]


def chat_request(target: ExplainTarget, context: Sequence[Snippet], settings: Settings,
                 ) -> ChatRequest:
    """The chat request for ``target`` within the model's context window."""
    spec = _spec_for(target.language, target.path)
    messages = build_messages(target, context, answer_in=answer_language(target.code, spec),
                              max_code_chars=code_budget(settings))
    return ChatRequest(messages=messages, max_tokens=settings.chat_max_tokens,
                       temperature=0.0, stop=STOP_SEQUENCES)


BASE_MAX_TOKENS = 256  # a base model rambles: its first paragraphs are its best
BASE_STOP = ("\n## ", "\n```", "```", "\n\n\n", "<end_of_turn>", "<eos>")


def base_request(target: ExplainTarget, context: Sequence[Snippet], settings: Settings,
                 ) -> tuple[TextRequest, str]:
    """For a model with no chat template (a base model): a document that it continues.

    The document shows the code and then begins its explanation; the model writes the rest.
    Returns the request and that beginning (``seed``), which is the start of the answer.
    """
    spec = _spec_for(target.language, target.path)
    lang_id = target.language or (spec.name if spec is not None else "")
    lang_name = LANGUAGE_NAMES.get(lang_id, lang_id.capitalize() if lang_id else "")
    code, _ = _fit(textwrap.dedent(target.code).strip("\n"), code_budget(settings))
    fence = fence_for(code)
    parts: list[str] = []
    if context:
        rendered = render_context(context, lang_id)
        cfence = fence_for(rendered)
        parts.append(f"Definitions used by the code below:\n\n{cfence}{lang_id}\n"
                     f"{rendered.rstrip()}\n{cfence}")
    named = bool(target.name) and target.kind not in ("selection", "file") \
        and not target.partial
    what = f"{target.kind} `{target.name}`" if named else "code"
    parts.append(f"Here is the {lang_name} {what} from `{target.path}`, followed by a short "
                 "explanation of what it does, its inputs and its outputs.".replace("  ", " "))
    parts.append(f"{fence}{lang_id}\n{code}\n{fence}")
    seed = f"The {target.kind} `{target.name}`" if named else "This code"
    parts.append(f"## Explanation\n\n{seed}")
    request = TextRequest(prompt="\n\n".join(parts),
                          max_tokens=min(settings.chat_max_tokens, BASE_MAX_TOKENS),
                          temperature=0.0, stop=BASE_STOP)
    return request, seed


async def has_chat_template(backend: Backend) -> bool:
    """Whether the model has a chat template (a backend that cannot say is taken as chat)."""
    info = getattr(backend, "info", None)
    if info is None:
        return True
    try:
        return bool((await info()).chat_template)
    except AttributeError:
        return True


# ----------------------------------------------------------------------------- cleaning
def _collapse_repeats(line: str) -> str:
    """``the the the the`` → ``the``; a phrase said four times in a row → once."""
    line = _WORD_RUN.sub(r"\1", line)
    if len(line) <= MAX_LINE_CHARS:
        line = _PHRASE_RUN.sub(_once_if_words, line)
    return line


def _once_if_words(m: re.Match[str]) -> str:
    """A phrase (words and a space) once; digits or dashes stay as they are."""
    unit = m.group(1)
    return unit if " " in unit and any(c.isalpha() for c in unit) else m.group(0)


def _is_junk(line: str) -> bool:
    """Nothing but punctuation or blanks (and not a code fence)."""
    return not any(c.isalnum() for c in line) and not _FENCE_LINE.match(line)


class AnswerCleaner:
    """Turns what the model generates into text fit to show, line by line.

    :meth:`feed` takes the generated pieces and returns the whole clean lines that can be shown
    at once; :meth:`finish` returns the rest. What it returns is final: a later line never
    changes an earlier one, so the stream shown to the user is the final answer.

    - Blank and punctuation-only lines are held back until a real line follows (none at the
      start or the end; runs of blank lines become one).
    - Lines of the prompt said back (``echo``: the instructions) are dropped, and so is a prose
      line said a second time; the third time, the answer ends. In code blocks a line may come
      back; the fourth time ends the answer.
    - The answer also ends (:attr:`stopped`) at a transcript marker (``<end_of_turn>``,
      ``User:``) and at a line that never ends. An open code block is closed.
    """

    def __init__(self, echo: Sequence[str] = ()) -> None:
        self.stopped = False
        self.stop_reason = ""
        self._echo = {_line_key(line) for line in echo if len(_line_key(line)) >= MIN_COUNTED_LINE}
        self._partial = ""
        self._pending: list[str] = []
        self._counts: Counter[str] = Counter()
        self._shown: list[str] = []
        self._in_code = False
        self._started = False  # a line was accepted

    @property
    def text(self) -> str:
        """All the clean text returned so far."""
        return "".join(self._shown)

    def feed(self, delta: str) -> str:
        if self.stopped or not delta:
            return ""
        self._partial += delta
        out: list[str] = []
        while not self.stopped and "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            out += self._line(line)
        if not self.stopped:
            marker = _TOKEN_MARKER.search(self._partial)
            if marker is not None or len(self._partial) > MAX_LINE_CHARS:
                out += self._line(self._partial)
                self._partial = ""
                if not self.stopped:
                    self._stop("runaway line")
        return self._emit(out)

    def finish(self) -> str:
        out: list[str] = []
        if not self.stopped and self._partial:
            out += self._line(self._partial)
        self._partial = ""
        self._pending = []  # trailing blank or junk lines
        if self._in_code:
            out.append(FENCE)
            self._in_code = False
        return self._emit(out)

    def _emit(self, lines: list[str]) -> str:
        text = "".join(line + "\n" for line in lines)
        if text:
            self._shown.append(text)
        return text

    def _stop(self, reason: str) -> None:
        self.stopped = True
        self.stop_reason = reason
        self._pending = []

    def _line(self, line: str) -> list[str]:
        line = line.rstrip()
        marker = _TOKEN_MARKER.search(line)
        if marker is not None:
            head = line[:marker.start()]
            out = self._line(head) if head.strip() else []
            self._stop("transcript marker")
            return out
        if _ROLE_LINE.match(line):
            self._stop("transcript marker")
            return []
        line = line[:MAX_LINE_CHARS]
        fence = _FENCE_LINE.match(line) is not None
        if not self._in_code and not fence:
            line = _collapse_repeats(line)
        if not self._started and not self._in_code:
            if _is_junk(line):
                return []
            line = line.lstrip()
        if not fence and (not line.strip() or _is_junk(line)):
            if line.strip() or not self._pending or self._pending[-1].strip():
                self._pending.append(line)
            return []
        key = _line_key(line)
        if not fence and len(key) >= MIN_COUNTED_LINE:
            if not self._in_code and key in self._echo:
                return []
            self._counts[key] += 1
            seen = self._counts[key]
            if seen >= (REPEAT_LIMIT + 1 if self._in_code else REPEAT_LIMIT):
                self._stop("repetition")
                return []
            if seen > 1 and not self._in_code:
                return []
        if fence:
            self._in_code = not self._in_code
        self._started = True
        out, self._pending = [*self._pending, line], []
        return out


def _line_key(line: str) -> str:
    return " ".join(line.split()).lower()


def prompt_prose(messages: Sequence[ChatMessage]) -> list[str]:
    """The lines of ``messages`` outside code blocks: what a model must not say back."""
    out: list[str] = []
    for m in messages:
        in_code = False
        for line in m.content.splitlines():
            if _FENCE_LINE.match(line):
                in_code = not in_code
            elif not in_code and line.strip():
                out.append(line)
    return out


def clean_answer(text: str, echo: Sequence[str] = ()) -> str:
    """The whole of :class:`AnswerCleaner` on a finished answer."""
    cleaner = AnswerCleaner(echo)
    cleaner.feed(text)
    cleaner.finish()
    return cleaner.text


# ----------------------------------------------------------------------------- running
@dataclass
class Explanation:
    target: ExplainTarget
    markdown: str  # the heading and the answer (or the note that there is none)
    answer: str  # the model's clean text; "" when it produced none
    raw: str  # what the model generated
    stop_reason: str  # the backend's, or why the cleaner ended the answer
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0


async def explain(backend: Backend, target: ExplainTarget, context: Sequence[Snippet] = (), *,
                  settings: Settings, on_text: OnText | None = None,
                  request: ChatRequest | None = None) -> Explanation:
    """Explain ``target`` with ``backend``, streaming the final Markdown to ``on_text``.

    The pieces given to ``on_text`` add up to :attr:`Explanation.markdown`. Generation stops as
    soon as the cleaner ends the answer. Cancelling the awaiting task cancels the generation
    (the backend stops within one token). Raises :class:`~offpilot.engine.backend.ModelError`
    when the model cannot run.
    """
    t0 = time.perf_counter()
    text_request: TextRequest | None = None
    seed = ""
    if request is None and not await has_chat_template(backend):
        text_request, seed = base_request(target, context, settings)
    request = request or chat_request(target, context, settings)
    emit: Callable[[str], None] = on_text or (lambda _text: None)
    head = target.heading + "\n\n"
    emit(head)
    cleaner = AnswerCleaner(echo=() if text_request is not None
                            else prompt_prose(request.messages))
    raw: list[str] = []
    seeded = bool(seed)
    ended = asyncio.Event()

    def on_piece(delta: str) -> None:
        nonlocal seeded
        raw.append(delta)
        if seeded:  # the answer's beginning, written by us into a base model's document
            seeded = False
            delta = seed + delta
        shown = cleaner.feed(delta)
        if shown:
            emit(shown)
        if cleaner.stopped:
            ended.set()

    chat = asyncio.ensure_future(
        backend.generate(text_request, on_text=on_piece) if text_request is not None
        else backend.chat(request, on_text=on_piece))
    waiter = asyncio.ensure_future(ended.wait())
    result: GenerationResult | None = None
    try:
        await asyncio.wait({chat, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if chat.done():
            result = chat.result()  # raises the backend's error
    finally:
        waiter.cancel()
        if not chat.done():
            chat.cancel()
            try:
                await chat
            except asyncio.CancelledError:
                pass
            except Exception:  # an abandoned generation: its error must not replace ours
                log.debug("the abandoned generation failed", exc_info=True)
    if result is not None and not raw and result.text:
        shown = cleaner.feed(seed + result.text)  # a backend that did not stream
        if shown:
            emit(shown)
    rest = cleaner.finish()
    if rest:
        emit(rest)
    answer = cleaner.text
    tail = "" if answer.strip() else NO_EXPLANATION + "\n"
    if tail:
        emit(tail)
    return Explanation(
        target=target, markdown=head + answer + tail, answer=answer,
        raw="".join(raw) or (result.text if result is not None else ""),
        stop_reason=cleaner.stop_reason or (result.stop_reason if result else "stopped"),
        prompt_tokens=result.prompt_tokens if result else 0,
        generated_tokens=result.generated_tokens if result else len(raw),
        seconds=time.perf_counter() - t0)


# ----------------------------------------------------------------------------- saving
def explain_dir() -> Path:
    """Where explanations are written: ``<user cache dir>/offpilot/explain``."""
    from offpilot.context.index import cache_dir

    return cache_dir() / "explain"


def markdown_file_name(target: ExplainTarget) -> str:
    """``pricing-cart_total-19-25.md``: the file, the name and the lines, filesystem-safe."""
    stem = PurePosixPath(target.path).stem or "code"
    name = target.name if target.name and target.kind != "file" else ""
    parts = [re.sub(r"[^A-Za-z0-9_.-]+", "_", p).strip("._")
             for p in (stem, name, f"{target.start_line}-{target.end_line}")]
    return "-".join(p for p in parts if p)[:120] + ".md"


def save_markdown(markdown: str, target: ExplainTarget, folder: Path | None = None) -> Path:
    """Write the explanation to ``folder`` (default :func:`explain_dir`); returns the file."""
    folder = folder if folder is not None else explain_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / markdown_file_name(target)
    path.write_text(markdown, encoding="utf-8")
    return path
