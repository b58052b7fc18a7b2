"""Post-processing of a raw model completion before it is shown as ghost text.

Minimal rules: keep one line when code follows the cursor on its line, cap the number of lines,
drop a tail that repeats the text right of the cursor, never return whitespace only.
"""

from __future__ import annotations

from typing import Any


def postprocess(completion: str, *, prefix: str, suffix: str, language: Any = None,
                max_lines: int = 8) -> str:
    """Clean ``completion`` for insertion between ``prefix`` and ``suffix`` ("" if useless)."""
    text = completion.replace("\r\n", "\n")
    line_rest = suffix.split("\n", 1)[0]
    if line_rest.strip():
        text = text.split("\n", 1)[0]
        rest = line_rest.strip()
        # The model often re-types what is already right of the cursor: drop that tail.
        if rest and text.rstrip().endswith(rest):
            text = text.rstrip()[: -len(rest)]
    else:
        lines = text.split("\n")
        text = "\n".join(lines[:max_lines])
        following = [ln for ln in suffix.split("\n")[1:] if ln.strip()]
        if following:
            # Stop where the completion starts repeating the code that follows the cursor.
            out = []
            for ln in text.split("\n"):
                if ln.strip() and ln.strip() == following[0].strip():
                    break
                out.append(ln)
            text = "\n".join(out)
        text = text.rstrip()
    return text if text.strip() else ""
