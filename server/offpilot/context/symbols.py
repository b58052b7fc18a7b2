"""Where a position is (the chain of enclosing definitions) and a file at a glance (outline).

Built on :mod:`offpilot.context.extract`: scopes come from ``grammars/<lang>/scopes.scm``, the
outline from a :class:`FileSummary`'s definitions.
"""

from __future__ import annotations

import tree_sitter

from offpilot.context.extract import GROUP_KINDS, scopes_at
from offpilot.context.languages import LanguageSpec
from offpilot.context.model import Definition, FileSummary

INDENT = "  "


def enclosing_definitions(tree: tree_sitter.Tree | None, spec: LanguageSpec,
                          source_bytes: bytes, byte_offset: int) -> list[Definition]:
    """The named scopes around ``byte_offset``, outermost first, innermost last (e.g. the
    class, then the method). Definitions carry no path: the caller knows the file."""
    if tree is None:
        return []
    return scopes_at(tree, spec, source_bytes, byte_offset)


def enclosing_definition(tree: tree_sitter.Tree | None, spec: LanguageSpec,
                         source_bytes: bytes, byte_offset: int) -> Definition | None:
    """The innermost function, method or type around ``byte_offset`` (namespaces and modules
    are skipped), or None at top level."""
    for d in reversed(enclosing_definitions(tree, spec, source_bytes, byte_offset)):
        if d.kind not in GROUP_KINDS:
            return d
    return None


def outline(summary: FileSummary, max_chars: int) -> str:
    """Signatures of the file's definitions in file order, one per line, indented by nesting
    (a method under its class), cut at a line boundary to fit ``max_chars``."""
    lines: list[str] = []
    used = 0
    stack: list[int] = []  # end lines of the enclosing definitions
    for d in sorted(summary.definitions, key=lambda d: (d.start_line, -d.end_line)):
        while stack and stack[-1] < d.start_line:
            stack.pop()
        depth = len(stack)
        head = " ".join(d.signature.split()) or f"{d.kind} {d.name}"
        line = INDENT * depth + head
        if used + len(line) + (1 if lines else 0) > max_chars:
            break
        used += len(line) + (1 if lines else 0)
        lines.append(line)
        stack.append(d.end_line)
    return "\n".join(lines)
