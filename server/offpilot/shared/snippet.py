"""A piece of repository context: found by the context layer, put in prompts by the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Snippet:
    """A piece of repository context shown to the model."""

    path: str  # relative to the workspace root, forward slashes
    start_line: int  # 1-based, inclusive
    end_line: int  # 1-based, inclusive
    kind: str  # "definition" | "scope" | "outline" | "similar" | ...
    text: str


def snippet_json(s: Snippet) -> dict[str, Any]:
    """``s`` as the JSON object ``offpilot context --json`` and ``offpilot.showContext`` give."""
    return {"path": s.path, "start_line": s.start_line, "end_line": s.end_line, "kind": s.kind,
            "text": s.text}
