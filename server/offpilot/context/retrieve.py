"""Repository context for one cursor, packed into a character budget.

Candidates, in priority order:

1. **definitions** of the identifiers around the cursor (nearest first), resolved through the
   file's imports (:mod:`offpilot.context.resolve`): signature and doc first, the whole body
   when room is left; a class as its header and its methods' signatures;
2. **scope**: the signatures of the enclosing definitions whose head is above the prompt's
   prefix window, and an **outline** of the rest of the current file outside that window;
3. **similar** chunks of recently opened and edited files (:mod:`offpilot.context.similarity`).

They are packed greedily in that priority; nothing the prompt already carries (the cursor's own
window) is repeated. The result is sorted by kind, path and line, not by score, so the same
candidates always come out in the same order with the same text: the prompt's head stays
byte-identical and the model's KV cache is reused.

The ranking point is the end of the cursor's line, so every position on one line gets the same
context.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import tree_sitter

from offpilot.context.languages import LanguageSpec
from offpilot.context.model import Definition, FileSummary
from offpilot.context.resolve import Resolver
from offpilot.context.similarity import ChunkRing
from offpilot.shared import Snippet

log = logging.getLogger(__name__)

KIND_ORDER = {"outline": 0, "definition": 1, "scope": 2, "similar": 3}
MAX_NAMES = 24  # identifiers around the cursor considered
# What a tree or a summary of an unusual file can raise here (tree_sitter.QueryError is a
# ValueError); context is then left out. Anything else is a bug, and the completion pipeline
# logs it and completes without context.
_ODD_SOURCE = (ValueError, LookupError, RecursionError)
DEFS_PER_NAME = 2
SNIPPET_OVERHEAD = 6  # the path label and blank line render_context adds per snippet
SCOPE_SHARE = 0.25  # at most this part of the budget for scope + outline
SIMILAR_LIMIT = 3
CLASS_KINDS = frozenset({"class", "struct", "interface", "enum", "trait", "impl", "type"})


@dataclass(frozen=True)
class Cursor:
    """Where retrieval is asked for: one file's current text and a position in it."""

    path: str  # workspace-relative
    text: str
    offset: int  # str offset of the cursor
    spec: LanguageSpec | None
    tree: tree_sitter.Tree | None
    summary: FileSummary | None
    prefix_chars: int = 2500
    suffix_chars: int = 1500
    line_starts: Sequence[int] = field(default=(), repr=False)

    def line_of(self, offset: int) -> int:
        """1-based line of a str offset."""
        starts = self.line_starts or _line_starts(self.text)
        return bisect.bisect_right(starts, max(0, offset)) - 1 + 1

    def window(self) -> tuple[int, int]:
        """1-based lines the prompt already shows around the cursor."""
        lo = max(0, self.offset - self.prefix_chars)
        hi = min(len(self.text), self.offset + self.suffix_chars)
        return self.line_of(lo), self.line_of(hi)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    i = text.find("\n")
    while i != -1:
        starts.append(i + 1)
        i = text.find("\n", i + 1)
    return starts


@dataclass
class _Candidate:
    kind: str
    path: str
    start_line: int
    end_line: int
    forms: list[str]  # text variants, shortest first
    chosen: int = -1  # index into forms, -1 while not taken

    def snippet(self) -> Snippet:
        return Snippet(self.path, self.start_line, self.end_line, self.kind,
                       self.forms[self.chosen])


def cost(path: str, text: str) -> int:
    """Characters a snippet takes in the prompt (its text and its path label)."""
    return len(text) + len(path) + SNIPPET_OVERHEAD


class Retriever:
    """Retrieval over one root: a resolver, file text, and the ring of recent chunks."""

    def __init__(self, resolver: Resolver, source_text: Callable[[str], str | None],
                 ring: ChunkRing | None = None) -> None:
        self.resolver = resolver
        self.source_text = source_text
        self.ring = ring
        self._lines_cache: dict[str, tuple[str, list[str]]] = {}

    # ------------------------------------------------------------- text of definitions
    def _lines(self, path: str) -> list[str]:
        text = self.source_text(path)
        if text is None:
            return []
        cached = self._lines_cache.get(path)
        if cached is not None and cached[0] is text:
            return cached[1]
        lines = text.split("\n")
        if len(self._lines_cache) > 256:
            self._lines_cache.clear()
        self._lines_cache[path] = (text, lines)
        return lines

    def definition_forms(self, d: Definition, *, with_body: bool = True) -> list[str]:
        """Text variants of a definition, shortest first: the head (signature and doc), then
        for classes the member signatures, then the whole body."""
        lines = self._lines(d.path)
        if not lines or d.start_line < 1 or d.start_line > len(lines):
            return [d.signature] if d.signature else []
        end = min(max(d.end_line, d.start_line), len(lines))
        doc_start, head_end = _head_lines(lines, d)
        head = "\n".join(lines[doc_start - 1:head_end]).rstrip()
        full = "\n".join(lines[doc_start - 1:end]).rstrip()
        forms = []
        sig_end = min(max(d.signature_end_line or d.start_line, d.start_line), end)
        if doc_start < d.start_line or head_end > sig_end:  # the signature alone, doc left out
            signature = "\n".join(lines[d.start_line - 1:sig_end]).rstrip()
            forms.append(signature + (_elision(lines, d, sig_end, end) if sig_end < end else ""))
        if head_end < end:
            forms.append(head + _elision(lines, d, head_end, end))
        if d.kind in CLASS_KINDS:
            members = self._member_heads(d, lines, head_end, end)
            if members:
                forms.append(head + "\n" + members)
        if with_body or not forms:
            forms.append(full)
        return list(dict.fromkeys(f for f in forms if f.strip()))

    def _member_heads(self, cls: Definition, lines: list[str], head_end: int, end: int) -> str:
        summary = self.resolver.source.summary(cls.path)
        if summary is None:
            return ""
        parts = []
        for m in summary.definitions:
            if m.parent != cls.name or not (cls.start_line < m.start_line <= end) \
                    or m.start_line <= head_end:
                continue
            _doc_start, m_head_end = _head_lines(lines, m)
            text = "\n".join(lines[m.start_line - 1:m_head_end]).rstrip()
            if m_head_end < m.end_line:
                text += _elision(lines, m, m_head_end, m.end_line)
            parts.append(text)
        return "\n".join(parts)

    # ------------------------------------------------------------- candidates
    def _definition_candidates(self, cur: Cursor, names: list[str],
                               window: tuple[int, int]) -> list[_Candidate]:
        out: list[_Candidate] = []
        seen: set[tuple[str, int]] = set()
        for name in names[:MAX_NAMES]:
            try:
                defs = self.resolver.lookup(cur.path, cur.summary, name, limit=DEFS_PER_NAME)
            except _ODD_SOURCE:
                log.debug("lookup of %r from %s failed", name, cur.path, exc_info=True)
                continue
            for d in defs:
                if d.kind == "module" or (d.path, d.start_line) in seen:
                    continue
                if d.path == cur.path and d.start_line <= window[1] and d.end_line >= window[0]:
                    continue  # the prompt shows it already
                seen.add((d.path, d.start_line))
                forms = self.definition_forms(d)
                if forms:
                    doc_start, _ = _head_lines(self._lines(d.path), d) \
                        if self._lines(d.path) else (d.start_line, d.start_line)
                    out.append(_Candidate("definition", d.path, min(doc_start, d.start_line),
                                          max(d.end_line, d.start_line), forms))
        return out

    def _scope_candidates(self, cur: Cursor, window: tuple[int, int]) -> list[_Candidate]:
        out: list[_Candidate] = []
        if cur.tree is None or cur.spec is None:
            return out
        from offpilot.context import symbols

        source = cur.text.encode("utf-8", "surrogatepass")
        byte_offset = len(cur.text[:cur.offset].encode("utf-8", "surrogatepass"))
        try:
            chain = symbols.enclosing_definitions(cur.tree, cur.spec, source, byte_offset)
        except _ODD_SOURCE:
            log.debug("enclosing definitions in %s failed", cur.path, exc_info=True)
            chain = []
        lines = cur.text.split("\n")
        for d in chain:
            sig_end = d.signature_end_line or d.start_line
            if d.start_line >= window[0]:
                continue  # the head is in the prompt already
            text = "\n".join(lines[d.start_line - 1:min(sig_end, window[0] - 1)]).rstrip()
            if text.strip():
                out.append(_Candidate("scope", cur.path, d.start_line,
                                      min(sig_end, window[0] - 1), [text]))
        if cur.summary is not None and cur.summary.definitions:
            outside = tuple(d for d in cur.summary.definitions
                            if d.end_line < window[0] or d.start_line > window[1])
            if outside:
                try:
                    text = symbols.outline(replace(cur.summary, definitions=outside), 1200)
                except _ODD_SOURCE:
                    log.debug("outline of %s failed", cur.path, exc_info=True)
                    text = ""
                if text.strip():
                    out.append(_Candidate("outline", cur.path, 1,
                                          max(d.end_line for d in outside), [text.rstrip()]))
        return out

    def _similar_candidates(self, cur: Cursor, window: tuple[int, int]) -> list[_Candidate]:
        if self.ring is None or not len(self.ring):
            return []
        line_end = cur.text.find("\n", cur.offset)
        line_end = len(cur.text) if line_end == -1 else line_end
        before = cur.text[max(0, line_end - 1500):line_end]
        return [_Candidate("similar", c.path, c.start_line, c.end_line, [c.text])
                for _score, c in self.ring.query(before, exclude_path=cur.path,
                                                 exclude_lines=window, limit=SIMILAR_LIMIT)]

    # ------------------------------------------------------------- the whole thing
    def names_at(self, cur: Cursor) -> list[str]:
        """Identifiers around the end of the cursor's line, nearest first."""
        if cur.tree is None or cur.spec is None:
            return []
        from offpilot.context import extract

        line_end = cur.text.find("\n", cur.offset)
        line_end = len(cur.text) if line_end == -1 else line_end
        source = cur.text.encode("utf-8", "surrogatepass")
        byte_offset = len(cur.text[:line_end].encode("utf-8", "surrogatepass"))
        try:
            names = extract.identifiers_around(cur.tree, cur.spec, source, byte_offset)
        except _ODD_SOURCE:
            log.debug("identifiers around the cursor in %s failed", cur.path, exc_info=True)
            return []
        out: list[str] = []
        for n in names:
            for part in reversed(n.replace("::", ".").replace("->", ".").split(".")):
                if part and part not in out:
                    out.append(part)
        return out

    def retrieve(self, cur: Cursor, budget: int) -> list[Snippet]:
        if budget <= 0:
            return []
        window = cur.window()
        defs = self._definition_candidates(cur, self.names_at(cur), window)
        scope = self._scope_candidates(cur, window)
        similar = self._similar_candidates(cur, window)
        taken = _pack(defs, scope, similar, budget)
        return _ordered(taken)

    def definitions_for(self, cur: Cursor, names: list[str], exclude: tuple[int, int],
                        budget: int) -> list[Snippet]:
        """Definitions of ``names`` (whole bodies where they fit), for a selected range."""
        cands = self._definition_candidates(cur, names, exclude)
        left = budget
        taken = []
        for c in cands:
            for i in range(len(c.forms) - 1, -1, -1):
                if cost(c.path, c.forms[i]) <= left:
                    c.chosen = i
                    left -= cost(c.path, c.forms[i])
                    taken.append(c)
                    break
        return _ordered(taken)


def _pack(defs: list[_Candidate], scope: list[_Candidate], similar: list[_Candidate],
          budget: int) -> list[_Candidate]:
    left = budget
    taken: list[_Candidate] = []

    def take(c: _Candidate, i: int) -> bool:
        nonlocal left
        extra = cost(c.path, c.forms[i]) - (cost(c.path, c.forms[c.chosen]) if c.chosen >= 0
                                            else 0)
        if extra > left:
            return False
        left -= extra
        if c.chosen < 0:
            taken.append(c)
        c.chosen = i
        return True

    # 1) every definition's head, nearest identifier first
    for c in defs:
        take(c, 0)
    # 2) scope chain and outline, within their share
    share = int(budget * SCOPE_SHARE)
    for c in scope:
        if cost(c.path, c.forms[0]) <= min(share, left):
            share -= cost(c.path, c.forms[0])
            take(c, 0)
    # then richer forms of the definitions taken (bodies), in the same order
    for c in defs:
        if c.chosen < 0:
            continue
        for i in range(len(c.forms) - 1, c.chosen, -1):
            if take(c, i):
                break
    # 3) similar chunks that add lines not shown already
    for c in similar:
        if not any(t.path == c.path and t.start_line <= c.end_line and t.end_line >= c.start_line
                   for t in taken):
            take(c, 0)
    return taken


def _ordered(taken: list[_Candidate]) -> list[Snippet]:
    snippets = [c.snippet() for c in taken]
    snippets.sort(key=lambda s: (KIND_ORDER.get(s.kind, 9), s.path, s.start_line, s.end_line))
    out: list[Snippet] = []
    for s in snippets:
        if any(o.path == s.path and s.text in o.text for o in out):
            continue  # a method already inside its class's text
        out.append(s)
    return out


def _head_lines(lines: list[str], d: Definition) -> tuple[int, int]:
    """(first line of the doc comment above or the definition, last line of signature + doc
    below it) — 1-based, inclusive."""
    start = d.start_line
    sig_end = max(d.signature_end_line or d.start_line, d.start_line)
    end = min(max(d.end_line, start), len(lines))
    sig_end = min(sig_end, end)
    doc = d.doc.strip()
    if not doc:
        return start, sig_end
    first = doc.split("\n", 1)[0].strip()
    n = doc.count("\n") + 1
    below = "\n".join(lines[sig_end:min(end, sig_end + n)])
    if first and first in below:
        return start, min(end, sig_end + n)
    above_start = max(1, start - n)
    above = "\n".join(lines[above_start - 1:start - 1])
    if first and first in above:
        return above_start, sig_end
    return start, sig_end


def _elision(lines: list[str], d: Definition, head_end: int, end: int) -> str:
    """A line standing for the body left out, indented like the body."""
    body = next((ln for ln in lines[head_end:end] if ln.strip()), "")
    indent = body[:len(body) - len(body.lstrip())]
    closing = lines[end - 1] if end - 1 < len(lines) else ""
    if d.path.endswith((".py", ".pyi")):
        return f"\n{indent}..."
    close = closing.strip()
    if close in ("}", "};", "end"):
        return f"\n{indent}// ...\n{closing.rstrip()}"
    return f"\n{indent}// ..."
