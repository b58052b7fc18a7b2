"""Docstrings whose documented parameters differ from the signature, and their fix.

No model: tree-sitter reads the signature (:mod:`.symbols`), :mod:`.styles` reads the docstring.
A docstring without a parameter section is not checked (it documents no parameters). Variadic
parameters (``*args``, ``**kwargs``) that are left undocumented are not reported, and a function
that takes ``**kwargs`` may document names its signature does not have (its keyword arguments).

The fix rewrites only the parameter section: entries in signature order, the existing entries
word for word, a ``TODO`` entry for each missing parameter, the phantom ones dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter

from offpilot.features.docs.styles import (
    GOOGLE,
    NUMPY,
    REST,
    ParsedDoc,
    param_entry,
    parse_docstring,
)
from offpilot.features.docs.symbols import Definition, Param, definitions

TODO = "TODO: describe."


@dataclass(frozen=True)
class Mismatch:
    definition: Definition
    parsed: ParsedDoc
    missing: tuple[Param, ...]
    phantom: tuple[str, ...]

    @property
    def message(self) -> str:
        parts = []
        if self.missing:
            names = ", ".join(f"`{p.name}`" for p in self.missing)
            parts.append(f"does not document {names}")
        if self.phantom:
            names = ", ".join(f"`{n}`" for n in self.phantom)
            what = "is not a parameter" if len(self.phantom) == 1 else "are not parameters"
            parts.append(f"documents {names}, which {what}")
        return f"The docstring of `{self.definition.name}` " + " and ".join(parts) + "."


def check(defn: Definition) -> Mismatch | None:
    """The mismatch between ``defn``'s docstring and its signature, or None."""
    if defn.docstring is None:
        return None
    parsed = parse_docstring(defn.docstring.text)
    if parsed.section is None:
        return None
    params = defn.documented_params
    if defn.kind == "class" and defn.init_documented:
        return None
    documented = set(parsed.names)
    real = {p.name for p in params}
    missing = tuple(p for p in params if p.name not in documented and not p.stars)
    phantom: tuple[str, ...] = ()
    if not any(p.stars == "**" for p in params):
        phantom = tuple(dict.fromkeys(n for n in parsed.names if n not in real))
    if not missing and not phantom:
        return None
    return Mismatch(defn, parsed, missing, phantom)


def check_source(source: str | bytes, tree: tree_sitter.Tree | None = None) -> list[Mismatch]:
    return [m for m in (check(d) for d in definitions(source, tree)) if m is not None]


@dataclass(frozen=True)
class LineEdit:
    """Replace the file's lines ``start``..``end`` (0-based, end exclusive) with ``lines``."""

    start: int
    end: int
    lines: tuple[str, ...]


def _rest_chunks(lines: list[str], section: tuple[int, int]) -> list[tuple[str, str, list[str]]]:
    """(kind, name, lines) for each field of a reST parameter section."""
    from offpilot.features.docs.styles import _REST_FIELD, _REST_PARAM, _block

    chunks: list[tuple[str, str, list[str]]] = []
    i, stop = section
    while i < stop:
        line = lines[i]
        fm = _REST_FIELD.match(line)
        end = _block(lines, i, stop, len(line) - len(line.lstrip())) if fm else i + 1
        pm = _REST_PARAM.match(line)
        if pm is not None:
            chunks.append(("param", pm.group(4).lstrip("*"), lines[i:end]))
        elif fm is not None and fm.group(1) == "type":
            chunks.append(("type", (fm.group(2) or "").strip().lstrip("*"), lines[i:end]))
        else:
            chunks.append(("other", "", lines[i:end]))
        i = end
    return chunks


def fix(mismatch: Mismatch) -> LineEdit | None:
    """The edit that makes the parameter section agree with the signature; None when the
    docstring is laid out in a way this cannot rewrite safely."""
    doc = mismatch.definition.docstring
    parsed = mismatch.parsed
    if doc is None or parsed.section is None or parsed.section[0] == 0:
        return None
    lines = doc.text.split("\n")
    start, end = parsed.section
    params = mismatch.definition.documented_params
    phantom = set(mismatch.phantom)
    indent = parsed.entry_indent
    out: list[str] = []
    if parsed.style == REST:
        chunks = _rest_chunks(lines, (start, end))
        for p in params:
            found = [c for c in chunks if c[0] == "param" and c[1] == p.name]
            if found:
                out += found[0][2]
            elif not p.stars:
                out += param_entry(REST, p.display, "", TODO, indent)
            out += [ln for c in chunks if c[0] == "type" and c[1] == p.name for ln in c[2]]
        out += [ln for c in chunks if c[0] == "other" or
                (c[0] == "param" and c[1] not in phantom and c[1] not in
                 {p.name for p in params})
                for ln in c[2]]
    else:
        head = 2 if parsed.style == NUMPY else 1
        out += lines[start:start + head]
        inside = [e for e in parsed.params if start <= e.start < end]
        # new entries show types only where the existing ones do
        typed = any(("(" in lines[e.start].split(":", 1)[0]) if parsed.style == GOOGLE
                    else (":" in lines[e.start]) for e in inside)
        emitted: set[int] = set()
        for p in params:
            entry = next((e for e in inside if e.name == p.name), None)
            if entry is not None:
                if entry.start not in emitted:
                    emitted.add(entry.start)
                    out += lines[entry.start:entry.end]
            elif p in mismatch.missing:
                style = NUMPY if parsed.style == NUMPY else GOOGLE
                out += param_entry(style, p.display, p.annotation if typed else "", TODO,
                                   indent)
        for e in inside:  # other names that are kept (keyword arguments of **kwargs)
            if e.start not in emitted and e.name not in phantom:
                emitted.add(e.start)
                out += lines[e.start:e.end]
    first = doc.start_line
    return LineEdit(first + start, first + end, tuple(out))
