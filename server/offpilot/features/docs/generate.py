"""Generate documentation: the model drafts a docstring, the facts come from the code.

The draft is read (in whatever style the model wrote it) only for prose: the summary and the
descriptions of parameters, the return value and exceptions. What the docstring claims is
decided here, from tree-sitter: every parameter of the signature is listed and no other; a
Returns section only when the function's own body returns a value; Raises only for exceptions
its own ``raise`` statements name. A description the model did not give is written
``TODO: describe.`` (marked, never invented); an exception's description is the message of its
``raise`` when that is a string literal. The model writes no examples: an Examples section is
added afterwards from calls recorded in the sandbox (:mod:`offpilot.features.docs.examples`).

Plain Python, no LSP: the server (:mod:`offpilot.lsp.docs`) and ``offpilot docs`` use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from offpilot.engine.backend import Backend, GenerationResult, TextRequest
from offpilot.features.docs.checks import TODO
from offpilot.features.docs.styles import (
    GOOGLE,
    NUMPY,
    REST,
    STYLES,
    DocParts,
    detect_style,
    parse_docstring,
    render,
)
from offpilot.features.docs.symbols import Definition, definition_at, definitions

MAX_TOKENS = 200
MAX_CODE_CHARS = 6000
MAX_DESCRIPTION = 240
PROJECT_FILES = 40  # Python files read to learn the project's style
PROJECT_FILE_BYTES = 200_000
PROJECT_DIRS = 60  # folders looked into for them
SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "build", "dist"})
STOP = ('"""', "```", "\ndef ", "\nclass ", "<end_of_turn>", "<eos>")
NO_SUMMARY = "TODO: summarize."

_EXAMPLES = {
    GOOGLE: '''def scale(values, factor=2):
    """Multiply every value by a factor.

    Args:
        values: The numbers to scale.
        factor: What each number is multiplied by.

    Returns:
        The scaled numbers, in the same order.
    """''',
    NUMPY: '''def scale(values, factor=2):
    """Multiply every value by a factor.

    Parameters
    ----------
    values
        The numbers to scale.
    factor
        What each number is multiplied by.

    Returns
    -------
    list
        The scaled numbers, in the same order.
    """''',
    REST: '''def scale(values, factor=2):
    """Multiply every value by a factor.

    :param values: The numbers to scale.
    :param factor: What each number is multiplied by.
    :returns: The scaled numbers, in the same order.
    """''',
}


class DocsError(ValueError):
    """The target cannot be documented (said in the message)."""


# ----------------------------------------------------------------------------- target, style
def undocumented_at(source: str, byte: int) -> Definition | None:
    """The innermost definition around ``byte`` that has no docstring yet and can take one."""
    defn = definition_at(definitions(source), byte)
    if defn is None or defn.docstring is not None or defn.body_line < 0 or defn.body_on_header:
        return None
    return defn


def find_symbol(source: str, name: str) -> Definition:
    """A definition by name (``Class.method`` for a method); DocsError when there is none."""
    defs = definitions(source)
    wanted = name.rsplit(".", 1)[-1]
    found = [d for d in defs if d.name == wanted]
    if "." in name:
        owner = name.rsplit(".", 1)[0].rsplit(".", 1)[-1]
        classes = [c for c in defs if c.kind == "class" and c.name == owner]
        found = [d for d in found if any(c.start_byte < d.start_byte <= c.end_byte
                                         for c in classes)]
    if not found:
        raise DocsError(f"no function or class named {name!r}")
    return found[0]


def project_style(source: str, path: Path | None = None, root: Path | None = None,
                  setting: str = "auto") -> str:
    """The style to write: the setting, else the file's docstrings, else the project's, else
    Google."""
    if setting in STYLES:
        return setting
    found = detect_style(d.docstring.text for d in definitions(source) if d.docstring)
    if found is None and path is not None:
        texts: list[str] = []
        for other in _project_files(path, root):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                if other.stat().st_size <= PROJECT_FILE_BYTES:
                    text = other.read_text(encoding="utf-8")
                    texts += [d.docstring.text for d in definitions(text) if d.docstring]
        found = detect_style(texts)
    return found or GOOGLE


def _project_files(path: Path, root: Path | None) -> list[Path]:
    """Up to PROJECT_FILES Python files near ``path``: its folder first, then the project's,
    breadth first, hidden and environment folders skipped, PROJECT_DIRS folders at most."""
    found: list[Path] = []
    queue = [path.parent] + ([root] if root is not None and root != path.parent else [])
    seen: set[Path] = set()
    while queue and len(found) < PROJECT_FILES and len(seen) < PROJECT_DIRS:
        folder = queue.pop(0)
        if folder in seen:
            continue
        seen.add(folder)
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name in SKIP_DIRS:
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir() and not entry.is_symlink():
                    queue.append(entry)
                elif entry.suffix == ".py" and entry != path and entry.is_file():
                    found.append(entry)
            if len(found) >= PROJECT_FILES:
                break
    return found


# ----------------------------------------------------------------------------- prompt
def _definition_code(source: str, defn: Definition) -> str:
    data = source.encode("utf-8")
    code = data[defn.start_byte:defn.end_byte].decode("utf-8", errors="replace")
    column = defn.name_column
    lines = code.split("\n")
    # the definition's first line starts at its column; the rest carry the file's indentation
    lines = [lines[0]] + [ln[column:] if ln[:column].strip() == "" else ln for ln in lines[1:]]
    code = "\n".join(lines)
    return code[:MAX_CODE_CHARS]


def _header(source: str, code: str, defn: Definition) -> str:
    """The definition's lines (decorators included) up to its body."""
    first_line = source.encode("utf-8")[:defn.start_byte].count(b"\n")
    body_at = defn.body_line - first_line
    lines = code.split("\n")
    return "\n".join(lines[:max(1, body_at)])


def build_request(source: str, defn: Definition, style: str) -> TextRequest:
    """A document the model continues with the docstring (works for base and chat models)."""
    code = _definition_code(source, defn)
    header = _header(source, code, defn)
    names = {GOOGLE: "Google", NUMPY: "NumPy", REST: "reST (Sphinx)"}
    prompt = (
        f"Python code with {names[style]}-style docstrings.\n\n"
        f"```python\n{_EXAMPLES[style]}\n    return [v * factor for v in values]\n```\n\n"
        f"```python\n{code}\n```\n\n"
        f"The same {defn.kind} with its docstring:\n\n"
        f"```python\n{header}\n    \"\"\"")
    return TextRequest(prompt=prompt, max_tokens=MAX_TOKENS, temperature=0.0, stop=STOP)


# ----------------------------------------------------------------------------- repair
def _sentence(text: str, name: str = "") -> str:
    """One clean description: whitespace collapsed, quotes and code fences out, capped; "" when
    it says nothing."""
    text = re.sub(r"\s+", " ", text.replace('"""', "").replace("```", "")).strip()
    text = text.strip("'\"` ")
    if len(text) > MAX_DESCRIPTION:
        cut = text[:MAX_DESCRIPTION]
        end = cut.rfind(". ")
        text = cut[:end + 1] if end > 40 else cut.rsplit(" ", 1)[0] + "..."
    if not re.search(r"[^\W\d_]{2,}", text) or text.lower().strip(".") == name.lower():
        return ""
    if text.upper().startswith("TODO"):
        return ""
    if text[0].isalpha() and text[0].islower():
        text = text[0].upper() + text[1:]
    if text[-1] not in ".!?":
        text += "."
    return text


@dataclass(frozen=True)
class Repaired:
    parts: DocParts
    described: int  # parameters the model described
    summarized: bool  # the summary is the model's


def _first_sentence(text: str) -> str:
    m = re.search(r"(?<=[a-z0-9)`'\"][.!?])\s+(?=[A-Z])", text)
    return text[:m.start()] if m else text


def _from_example(text: str) -> bool:
    """Text the model copied from the prompt's example rather than wrote for this code."""
    core = text.strip().rstrip(".").lower()
    return len(core) >= 12 and any(core in example.lower() for example in _EXAMPLES.values())


def repair(draft: str, defn: Definition) -> Repaired:
    """Build what the docstring says from the definition, taking only prose from ``draft``."""
    parsed = parse_docstring(draft)
    descriptions = {e.name: e.description for e in parsed.params
                    if not _from_example(e.description)}
    if _from_example(parsed.returns):
        parsed.returns = ""
    summary = _sentence(_first_sentence(parsed.summary.strip()), defn.name)
    if _from_example(summary):
        summary = ""
    if re.match(r"^(def|class|return|import|from)\b", parsed.summary.strip()):
        summary = ""
    params = []
    described = 0
    for p in defn.documented_params:
        desc = _sentence(descriptions.get(p.name, ""), p.name)
        described += bool(desc)
        params.append((p.display, p.annotation, desc or TODO))
    returns = None
    if defn.returns_value and not defn.is_generator:
        returns = (defn.return_annotation, _sentence(parsed.returns) or TODO)
    raises = []
    for exc in defn.raises:
        short = exc.rsplit(".", 1)[-1]
        message = re.sub(r"\s+", " ", defn.raise_messages.get(exc, "")).strip()
        desc = (f"{message[:MAX_DESCRIPTION]}." if message and message[-1] not in ".!?"
                else message[:MAX_DESCRIPTION]) or \
            _sentence(parsed.raises.get(exc, "") or parsed.raises.get(short, "")) or TODO
        raises.append((exc, desc))
    return Repaired(DocParts(summary or NO_SUMMARY, tuple(params), returns, tuple(raises)),
                    described, bool(summary))


# ----------------------------------------------------------------------------- insertion
def docstring_text(parts: DocParts, style: str, indent: str) -> str:
    """The docstring literal, indented, with a newline: ready to insert before the body."""
    lines = render(parts, style, indent)
    body = "\n".join(lines)
    prefix = "r" if "\\" in body else ""
    if len(lines) == 1:
        return f'{indent}{prefix}"""{lines[0]}"""\n'
    return f'{indent}{prefix}"""{body}\n{indent}"""\n'


@dataclass(frozen=True)
class Insertion:
    line: int  # 0-based: the text goes at the start of this line
    text: str


def insertion(source: str, defn: Definition, parts: DocParts, style: str) -> Insertion:
    if defn.body_line < 0 or defn.body_on_header:
        raise DocsError(f"`{defn.name}` has its body on the line of its `def`; there is no "
                        "place for a docstring without changing the code")
    line = source.split("\n")[defn.body_line]
    indent = line[:len(line) - len(line.lstrip())]
    return Insertion(defn.body_line, docstring_text(parts, style, indent))


def apply_insertion(source: str, ins: Insertion) -> str:
    lines = source.split("\n")
    head = "\n".join(lines[:ins.line])
    return (head + "\n" if ins.line else "") + ins.text + "\n".join(lines[ins.line:])


# ----------------------------------------------------------------------------- running
@dataclass
class DocResult:
    definition: Definition
    style: str
    parts: DocParts
    insertion: Insertion
    draft: str  # what the model wrote
    described: int
    summarized: bool
    seconds: float
    stop_reason: str
    generated_tokens: int = 0
    examples: int = 0  # doctest examples in the docstring (see :mod:`.examples`)
    examples_note: str = ""  # why there are none, when examples were wanted
    examples_seconds: float = 0.0


async def document(backend: Backend, source: str, defn: Definition, style: str, *,
                   on_text: Callable[[str], None] | None = None) -> DocResult:
    """Draft with ``backend``, repair, and place the docstring. Cancelling the awaiting task
    stops the generation; raises :class:`~offpilot.engine.backend.ModelError` when the model
    cannot run and :class:`DocsError` when the definition cannot take a docstring."""
    if defn.body_line < 0 or defn.body_on_header:
        insertion(source, defn, DocParts(""), style)  # raises the explanation
    t0 = time.perf_counter()
    request = build_request(source, defn, style)
    pieces: list[str] = []

    def on_piece(delta: str) -> None:
        pieces.append(delta)
        if on_text is not None:
            on_text(delta)

    task = asyncio.ensure_future(backend.generate(request, on_text=on_piece))
    try:
        result: GenerationResult = await task
    finally:
        if not task.done():
            task.cancel()
    draft = "".join(pieces) or result.text
    for stop in STOP:
        draft = draft.split(stop, 1)[0]
    fixed = repair(draft, defn)
    return DocResult(defn, style, fixed.parts, insertion(source, defn, fixed.parts, style),
                     draft, fixed.described, fixed.summarized, time.perf_counter() - t0,
                     result.stop_reason, result.generated_tokens)
