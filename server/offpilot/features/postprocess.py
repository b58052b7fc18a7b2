"""Post-processing of a raw model completion before it is shown as ghost text.

Text rules: end before anything that reproduces the prompt's structure (a context label, a
control token's spelling), keep one line when code follows the cursor on its line, cap the
number of lines, drop a tail that repeats the text right of the cursor, stay inside the
cursor's block, never return whitespace only.

Syntax rules (:func:`syntax_cut`, with the language's tree-sitter grammar): a multi-line
completion is cut after the last line at which the code around the cursor parses no worse than
it did without the completion. That ends it at the end of the block it opened, drops a half
statement the token limit cut off, and leaves out closers the suffix already has; a string it
opened and never closed (a docstring cut off by the limit) is closed when that parses.
"""

from __future__ import annotations

import logging

import tree_sitter

from offpilot.engine.templates import structure_cut

log = logging.getLogger(__name__)

WINDOW_BEFORE = 3000  # characters of code before the cursor that the syntax check parses
WINDOW_AFTER = 2000  # and after it
MAX_CHECK_LINES = 16


def _window(prefix: str, suffix: str) -> tuple[str, str]:
    """The text around the cursor, cut at line boundaries."""
    before = prefix[-WINDOW_BEFORE:]
    if len(before) < len(prefix):
        cut = before.find("\n")
        before = before[cut + 1:] if cut >= 0 else before
    after = suffix[:WINDOW_AFTER]
    if len(after) < len(suffix):
        cut = after.rfind("\n")
        after = after[:cut + 1] if cut >= 0 else after
    return before, after


def _errors(parser: tree_sitter.Parser, text: str) -> int:
    """ERROR and MISSING nodes in the parse of ``text``."""
    tree = parser.parse(text.encode("utf-8", "surrogatepass"))
    if not tree.root_node.has_error:
        return 0
    count = 0
    cursor = tree.walk()
    visited = False
    while True:
        node = cursor.node
        if not visited:
            if node is not None and (node.is_error or node.is_missing):
                count += 1
                visited = True  # do not descend into an error
            elif node is not None and node.has_error and cursor.goto_first_child():
                continue
            else:
                visited = True
        if cursor.goto_next_sibling():
            visited = False
            continue
        if not cursor.goto_parent():
            return count


def _closing_variants(lines: list[str], prefix: str) -> list[str]:
    """The completion with a string it left open closed (Python triple quotes)."""
    text = "\n".join(lines)
    out = []
    for quote in ('"""', "'''"):
        if text.count(quote) % 2 == 1:
            at = next((i for i, ln in enumerate(lines) if quote in ln), 0)
            opener = lines[at] if at else prefix.rsplit("\n", 1)[-1] + lines[0]
            indent = opener[:len(opener) - len(opener.lstrip())]
            out.append(f"{text.rstrip()}\n{indent}{quote}")
    return out


def syntax_cut(completion: str, *, prefix: str, suffix: str, language: str) -> str:
    """The longest line-prefix of a multi-line ``completion`` that keeps the code around the
    cursor parsing no worse than it does without it (``completion`` unchanged if no grammar)."""
    if "\n" not in completion.strip("\n"):
        return completion
    from offpilot.context.languages import for_language_id

    spec = for_language_id(language) if language else None
    if spec is None:
        return completion
    try:
        parser = spec.parser()
        before, after = _window(prefix, suffix)
        base = _errors(parser, before + after)
        lines = completion.split("\n")[:MAX_CHECK_LINES]
        for variant in _closing_variants(lines, before):
            if _errors(parser, before + variant + after) <= base:
                lines = variant.split("\n")
                break
        for n in range(len(lines), 0, -1):
            candidate = "\n".join(lines[:n])
            if not candidate.strip():
                continue
            if _errors(parser, before + candidate + after) <= base:
                return candidate
        return lines[0]  # nothing parses better: the first line, as a single-line answer would
    except (ValueError, LookupError, RecursionError):  # a grammar problem: keep the completion
        log.debug("syntax check failed", exc_info=True)
        return completion


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def block_cut(completion: str, *, prefix: str, suffix: str) -> str:
    """Keep a multi-line ``completion`` inside the block the cursor is in.

    The block's indentation is that of the cursor's line (or, at the start of an empty line, of
    the completion's first line). When code follows the cursor, the completion ends before its
    first line indented less than that: the code after the cursor already continues from there.
    At the end of a file it ends only where it leaves the block past a blank line (a new
    definition after the one being written).
    """
    lines = completion.split("\n")
    before = prefix.rsplit("\n", 1)[-1]
    if before.strip():
        block = _indent(before)
    else:
        first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
        if first is None:
            return completion
        block = _indent(lines[first]) + (len(before) if first == 0 else 0)
    continues = any(ln.strip() for ln in suffix.split("\n")[1:]) or bool(
        suffix.split("\n", 1)[0].strip())
    blank = False
    for i, ln in enumerate(lines[1:], 1):
        if not ln.strip():
            blank = True
            continue
        if _indent(ln) < block and (continues or blank):
            return "\n".join(lines[:i]).rstrip()
        blank = False
    return completion


def body_follows(completion: str, *, prefix: str, suffix: str) -> str:
    """A completion whose first line opens a block (``:`` or ``{`` at its end) while the code
    after the cursor already goes on one level deeper: that code is the block's body, so the
    completion is the opening line alone."""
    lines = completion.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    following = next((ln for ln in suffix.split("\n")[1:] if ln.strip()), None)
    if first is None or following is None or suffix.split("\n", 1)[0].strip():
        return completion
    opener = lines[first]
    before = prefix.rsplit("\n", 1)[-1]
    column = _indent(opener) + (len(before) if first == 0 and not before.strip() else 0)
    if before.strip() and first == 0:
        column = _indent(before)
    if opener.rstrip().endswith((":", "{")) and _indent(following) > column:
        return "\n".join(lines[:first + 1])
    return completion


def _is_comment(line: str, comment: str) -> bool:
    return bool(comment) and line.lstrip().startswith(comment)


def one_statement(completion: str, *, prefix: str, suffix: str, comment: str = "") -> str:
    """When the code after the cursor goes on in the cursor's block, the completion is one
    statement: its first line, with the lines indented deeper that belong to it (a block it
    opens, a bracket it leaves open). At the end of a block it is left alone.

    Comment lines (``comment``: the language's line-comment start) that open the completion
    are no statement: they are kept with the statement they introduce.

    The model reads only what is before the cursor; past one statement it writes its own
    version of the code that already follows, which the user would have to delete."""
    following = next((ln for ln in suffix.split("\n")[1:] if ln.strip()), None)
    if following is None:
        return completion
    lines = completion.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        return completion
    before = prefix.rsplit("\n", 1)[-1]

    def column(i: int) -> int:  # the indentation of the completion's line i in the file
        return _indent(lines[i]) + (len(before) if i == 0 else 0)

    if before.strip():
        block = _indent(before)
    else:
        block = column(first)
        at = first
        while _is_comment(lines[at], comment):
            nxt = next((i for i in range(at + 1, len(lines)) if lines[i].strip()), None)
            if nxt is None or column(nxt) != column(at):
                break  # comments and no statement after them at their level
            at = nxt
        if not _is_comment(lines[at], comment):
            first = at  # the statement the comments introduce
    if _indent(following) < block:
        return completion
    head = lines[first].rstrip()
    out = lines[:first + 1]
    if head.endswith((":", "{", "(", "[", ",", "\\")):
        for ln in lines[first + 1:]:
            if ln.strip() and _indent(ln) <= block and not ln.strip().startswith((")", "]", "}")):
                break
            out.append(ln)
    return "\n".join(out).rstrip()


def _comment(language: str | None) -> str:
    """The language's line-comment start ("" when unknown)."""
    if not language:
        return ""
    from offpilot.context.languages import for_language_id

    spec = for_language_id(language)
    return spec.comment_prefix if spec is not None else ""


def postprocess(completion: str, *, prefix: str, suffix: str, language: str | None = None,
                max_lines: int = 8, syntax: bool = True, line_decision: bool = True) -> str:
    """Clean ``completion`` for insertion between ``prefix`` and ``suffix`` ("" if useless).

    ``syntax`` switches off the syntax cut, ``line_decision`` the rules that decide how many
    lines to keep (one when code follows on the cursor's line; up to the code after the cursor,
    never out of the cursor's block; and unless the completion reached the code after the
    cursor, whose lines before it are then all the gap's filling: an opening line alone when
    its body follows, one statement when code follows the cursor), to measure what they
    contribute. The prompt-structure cut always applies."""
    text = structure_cut(completion.replace("\r\n", "\n"))
    line_rest = suffix.split("\n", 1)[0]
    if line_rest.strip() and line_decision:
        text = text.split("\n", 1)[0]
        rest = line_rest.strip()
        # The model often re-types what is already right of the cursor: drop that tail.
        if rest and text.rstrip().endswith(rest):
            text = text.rstrip()[: -len(rest)]
    else:
        lines = text.split("\n")
        text = "\n".join(lines[:max_lines])
        following = [ln for ln in suffix.split("\n")[1:] if ln.strip()]
        bridged = False
        if following and line_decision:
            # Stop where the completion starts repeating the code that follows the cursor.
            out: list[str] = []
            for ln in text.split("\n"):
                # the same line at the same indentation (a closer of an inner block is not)
                if ln.strip() and ln.rstrip() == following[0].rstrip():
                    bridged = any(o.strip() for o in out)
                    break
                out.append(ln)
            text = "\n".join(out)
        if line_decision:
            if not bridged:
                # The model did not reach the code after the cursor: where its text would join
                # that code is unknown, so keep the part that surely belongs at the cursor.
                text = body_follows(text, prefix=prefix, suffix=suffix)
                text = one_statement(text, prefix=prefix, suffix=suffix,
                                     comment=_comment(language))
            text = block_cut(text, prefix=prefix, suffix=suffix)
        text = text.rstrip()
        if syntax and language:
            text = syntax_cut(text, prefix=prefix, suffix=suffix, language=language).rstrip()
    return text if text.strip() else ""
