"""Explain a traceback or a panic with the code of its frames.

:func:`explain_traceback` parses the text (:mod:`offpilot.features.fix.frames`), maps the frames
to workspace files, and puts the code around the innermost workspace frames (their enclosing
function, the line marked) in the prompt beside the error; the explanation streams through
``on_text``. Nothing is run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from offpilot.engine.backend import Backend, Snippet
from offpilot.features.fix.edits import function_span, line_span, read_source
from offpilot.features.fix.frames import Frame, ParsedError, map_frames, parse_error_text
from offpilot.features.fix.model import Prompt, stream_answer

OnText = Callable[[str], None]
MAX_FRAMES_SHOWN = 3
MAX_FRAME_CODE_CHARS = 2500


@dataclass
class ErrorExplanation:
    error: ParsedError
    markdown: str
    answer: str
    frames_shown: list[Frame] = field(default_factory=list)
    seconds: float = 0.0
    first_text_seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {"language": self.error.language, "type": self.error.error_type,
                "message": self.error.message, "markdown": self.markdown,
                "frames": [f.to_json() for f in self.error.frames],
                "framesShown": [f.to_json() for f in self.frames_shown],
                "seconds": round(self.seconds, 3)}


def frame_code(frame: Frame, root: Path) -> str:
    """The code around ``frame`` (its function, else a few lines), the frame's line marked."""
    path = frame.workspace_path
    if path is None:
        return ""
    try:
        text = read_source(path)
    except (OSError, UnicodeDecodeError):
        return ""
    span = function_span(path, text, frame.line) or line_span(path, text, frame.line,
                                                              frame.line, around=4)
    lines = span.text.splitlines()
    marked = [(">> " if span.start_line + i == frame.line else "   ") + ln
              for i, ln in enumerate(lines)]
    try:
        rel = path.relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = path.name
    code = "\n".join(marked)[:MAX_FRAME_CODE_CHARS]
    return f"`{rel}` lines {span.start_line}-{span.end_line} (>> marks line {frame.line}):\n" \
           f"```\n{code}\n```"


def traceback_prompt(error: ParsedError, root: Path, context: Sequence[Snippet] = ()
                     ) -> tuple[Prompt, list[Frame]]:
    shown = error.workspace_frames()[-MAX_FRAMES_SHOWN:]
    kind = {"rust": "Rust panic", "javascript": "JavaScript error"}.get(error.language,
                                                                       "Python error")
    tail = "\n".join(error.text.strip().splitlines()[-25:])
    parts = [f"A program stopped with this {kind}:\n\n```\n{tail}\n```"]
    codes = [c for c in (frame_code(f, root) for f in reversed(shown)) if c]
    if codes:
        parts.append("The code of the frames in the workspace, innermost first:\n\n"
                     + "\n\n".join(codes))
    if context:
        parts.append("Definitions it uses:\n\n" + "\n\n".join(
            f"`{s.path}:{s.start_line}`:\n```\n{s.text.rstrip()}\n```" for s in context))
    evidence = "\n\n".join(parts)
    user = (f"{evidence}\n\nExplain in a few sentences what went wrong, where (file and line), "
            "and how to fix it. Do not repeat the traceback.")
    document = f"{evidence}\n\n## What went wrong\n\n"
    return Prompt("You are an expert programmer who explains errors. Be accurate and brief; "
                  "say so when unsure.", user, document, "The error"), shown


async def explain_traceback(backend: Backend, text: str, root: Path, *,
                            context: Sequence[Snippet] = (), on_text: OnText | None = None,
                            max_tokens: int = 200) -> ErrorExplanation:
    """Explain the traceback or panic in ``text``, streaming Markdown to ``on_text``.

    ``context``: definitions the caller found for the frames (the server's index), optional.
    Raises ValueError when ``text`` holds no traceback or panic, ModelError when the model
    cannot run; cancelling the awaiting task stops the model.
    """
    error = map_frames(parse_error_text(text), root)
    if not error.language:
        raise ValueError("no Python traceback or Rust panic found in the text")
    prompt, shown = traceback_prompt(error, root, context)
    where = ""
    if shown and shown[-1].workspace_path is not None:
        try:
            rel = shown[-1].workspace_path.relative_to(root.resolve()).as_posix()
        except ValueError:
            rel = shown[-1].workspace_path.name
        where = f" at {rel}:{shown[-1].line}"
    heading = f"## {error.error_type or 'Error'}{where}"
    answer = await stream_answer(backend, prompt, heading.replace("`", ""), on_text=on_text,
                                 max_tokens=max_tokens)
    return ErrorExplanation(error, answer.markdown, answer.answer, shown, answer.seconds,
                            answer.first_text_seconds)
