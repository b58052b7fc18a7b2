"""Docstring styles: reading Google, NumPy and reST docstrings, detecting which one a project
uses, and writing one.

Reading is line based and forgiving: it finds the parameter section and its entries (with the
lines each covers, so a fix can rewrite just that section), the summary, and the descriptions of
returns and raised exceptions.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

GOOGLE, NUMPY, REST = "google", "numpy", "rest"
STYLES = (GOOGLE, NUMPY, REST)

_GOOGLE_PARAMS = re.compile(
    r"^(\s*)(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|"
    r"Other Parameters)\s*:\s*$")
_GOOGLE_ENTRY = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:(.*)$")
_GOOGLE_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters|"
    r"Returns?|Yields?|Raises|Examples?|Notes?|Attributes|Warnings?|See Also|Todo|References)"
    r"\s*:\s*$")
_NUMPY_HEADER = re.compile(r"^(\s*)(Parameters|Other Parameters|Returns|Yields|Raises|"
                           r"Examples?|Notes|Attributes|See Also|Warns|Warnings|References|"
                           r"Methods)\s*$")
_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_NUMPY_ENTRY = re.compile(r"^\s*(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?::(.*))?$")
_REST_PARAM = re.compile(
    r"^(\s*):(param|parameter|arg|argument|key|keyword)\s+(?:([^:]*?)\s+)?(\*{0,2}\w+)\s*:(.*)$")
_REST_FIELD = re.compile(r"^\s*:(\w+)(?:\s+([^:]*))?:(.*)$")


@dataclass(frozen=True)
class Entry:
    name: str  # without stars
    description: str
    start: int  # first line (index into the docstring's lines)
    end: int  # one past the last line


@dataclass
class ParsedDoc:
    style: str | None  # the style its parameter section is written in; None without one
    summary: str = ""
    params: list[Entry] = field(default_factory=list)
    section: tuple[int, int] | None = None  # lines of the parameter section, header included
    entry_indent: str = ""  # the indentation of the section's entries
    returns: str = ""
    raises: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.params]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _summary(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if out:
                break
            continue
        if _GOOGLE_SECTION.match(line) or _REST_FIELD.match(line) or _NUMPY_HEADER.match(line):
            break
        out.append(stripped)
    return " ".join(out)


def _block(lines: list[str], start: int, stop: int, base: int) -> int:
    """One past the last line of the block that begins after ``start`` and is indented more
    than ``base`` (blank lines inside it are part of it)."""
    end = start + 1
    i = start + 1
    while i < stop:
        line = lines[i]
        if line.strip() and _indent(line) <= base:
            break
        i += 1
        if line.strip():
            end = i
    return end


def _google(lines: list[str], doc: ParsedDoc) -> bool:
    for i, line in enumerate(lines):
        m = _GOOGLE_PARAMS.match(line)
        if m is None:
            continue
        base = len(m.group(1))
        end = _block(lines, i, len(lines), base)
        entries: list[Entry] = []
        entry_indent = None
        for j in range(i + 1, end):
            text = lines[j]
            if not text.strip():
                continue
            if entry_indent is None:
                entry_indent = _indent(text)
            if _indent(text) != entry_indent:
                continue
            em = _GOOGLE_ENTRY.match(text)
            if em is None:
                continue
            entry_end = _block(lines, j, end, entry_indent)
            more = " ".join(t.strip() for t in lines[j + 1:entry_end] if t.strip())
            entries.append(Entry(em.group(1).lstrip("*"),
                                 (em.group(3).strip() + " " + more).strip(), j, entry_end))
        doc.params.extend(entries)
        if doc.section is None:
            doc.section = (i, end)
            doc.entry_indent = " " * (entry_indent if entry_indent is not None else base + 4)
    if doc.section is None:
        return False
    doc.style = GOOGLE
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)(Returns?|Raises)\s*:\s*$", line)
        if m is None:
            continue
        end = _block(lines, i, len(lines), len(m.group(1)))
        body = [t.strip() for t in lines[i + 1:end] if t.strip()]
        if m.group(2).startswith("Return"):
            text = " ".join(body)
            doc.returns = text.split(":", 1)[1].strip() if re.match(r"^[\w.\[\], |]+:", text) \
                else text
        else:
            for b in body:
                em = _GOOGLE_ENTRY.match(b)
                if em is not None:
                    doc.raises[em.group(1)] = em.group(3).strip()
    return True


def _numpy_sections(lines: list[str]) -> list[tuple[str, int, int, int]]:
    """(name, header line, first line after the underline, end) of each NumPy section."""
    heads: list[tuple[str, int, int]] = []
    for i in range(len(lines) - 1):
        m = _NUMPY_HEADER.match(lines[i])
        if m is not None and _UNDERLINE.match(lines[i + 1]):
            heads.append((m.group(2), i, len(m.group(1))))
    out = []
    for k, (name, i, _base) in enumerate(heads):
        end = heads[k + 1][1] if k + 1 < len(heads) else len(lines)
        while end > i + 2 and not lines[end - 1].strip():
            end -= 1
        out.append((name, i, i + 2, end))
    return out


def _numpy(lines: list[str], doc: ParsedDoc) -> bool:
    sections = _numpy_sections(lines)
    found = False
    for name, header, first, end in sections:
        base = _indent(lines[header])
        items: list[tuple[str, str, int, int]] = []  # head, description, start, end
        for j in range(first, end):
            text = lines[j]
            if not text.strip() or _indent(text) != base:
                continue
            stop = _block(lines, j, end, base)
            desc = " ".join(t.strip() for t in lines[j + 1:stop] if t.strip())
            items.append((text.strip(), desc, j, stop))
        if name in ("Parameters", "Other Parameters"):
            found = True
            for head, desc, start, stop in items:
                m = _NUMPY_ENTRY.match(head)
                if m is None:
                    continue
                for n in m.group(1).split(","):
                    doc.params.append(Entry(n.strip().lstrip("*"), desc, start, stop))
            if doc.section is None:
                doc.section = (header, end)
                doc.entry_indent = " " * base
        elif name == "Returns" and items:
            doc.returns = items[0][1] or items[0][0]
        elif name == "Raises":
            for head, desc, _s, _e in items:
                doc.raises[head] = desc
    if found:
        doc.style = NUMPY
    return found


def _rest(lines: list[str], doc: ParsedDoc) -> bool:
    first = last = -1
    indent = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _REST_PARAM.match(line)
        fm = _REST_FIELD.match(line)
        if fm is None:
            i += 1
            continue
        stop = _block(lines, i, len(lines), _indent(line))
        more = " ".join(t.strip() for t in lines[i + 1:stop] if t.strip())
        if m is not None:
            doc.params.append(Entry(m.group(4).lstrip("*"), (m.group(5).strip() + " " + more)
                                    .strip(), i, stop))
            indent = m.group(1)
        kind = fm.group(1)
        if m is not None or kind == "type":
            first = i if first < 0 else first
            last = stop
        elif kind in ("return", "returns"):
            doc.returns = (fm.group(3).strip() + " " + more).strip()
        elif kind in ("raises", "raise", "except", "exception") and fm.group(2):
            doc.raises[fm.group(2).strip()] = (fm.group(3).strip() + " " + more).strip()
        i = stop
    if not doc.params:
        return False
    doc.style = REST
    doc.section = (first, last)
    doc.entry_indent = indent
    return True


def parse_docstring(text: str) -> ParsedDoc:
    """Read a docstring's content (without its quotes) in whichever style it is written."""
    lines = text.split("\n")
    doc = ParsedDoc(style=None, summary=_summary(lines))
    for reader in (_numpy, _google, _rest):
        if reader(lines, doc):
            break
        doc.params.clear()
        doc.section = None
    if doc.style is None:  # no parameters: the style may still show in other sections
        doc.style = style_of(text)
    return doc


def style_of(text: str) -> str | None:
    """The style a docstring is written in, from any of its sections; None for plain prose."""
    lines = text.split("\n")
    if _numpy_sections(lines):
        return NUMPY
    if any(_GOOGLE_SECTION.match(line) for line in lines):
        return GOOGLE
    if any(_REST_FIELD.match(line) for line in lines):
        return REST
    return None


def detect_style(docstrings: Iterable[str]) -> str | None:
    """The style most of ``docstrings`` use; None when none of them shows one."""
    counts = Counter(s for s in (style_of(d) for d in docstrings) if s is not None)
    if not counts:
        return None
    return counts.most_common(1)[0][0]


# ----------------------------------------------------------------------------- writing
@dataclass(frozen=True)
class DocParts:
    """What a docstring says, ready to be written in a style."""

    summary: str
    params: tuple[tuple[str, str, str], ...] = ()  # (display name, annotation, description)
    returns: tuple[str, str] | None = None  # (annotation, description)
    raises: tuple[tuple[str, str], ...] = ()  # (exception, description)
    examples: tuple[Example, ...] = ()


@dataclass(frozen=True)
class Example:
    """One doctest example: a call and what doctest expects it to print ("" for nothing)."""

    call: str
    output: str = ""

    def lines(self) -> list[str]:
        return [f">>> {self.call}", *(self.output.split("\n") if self.output else ())]


def _wrap(text: str, indent: str, width: int = 88) -> list[str]:
    return textwrap.wrap(text, width=max(40, width - len(indent)), break_long_words=False,
                         break_on_hyphens=False) or [""]


def param_entry(style: str, name: str, annotation: str, description: str, indent: str
                ) -> list[str]:
    """The lines of one parameter entry (``indent`` is the entry's own indentation)."""
    if style == NUMPY:
        head = f"{indent}{name} : {annotation}" if annotation else f"{indent}{name}"
        return [head] + [f"{indent}    {t}" for t in _wrap(description, indent + "    ")]
    if style == REST:
        first, *rest = _wrap(f":param {name.lstrip('*')}: {description}", indent)
        return [indent + first] + [f"{indent}    {t}" for t in rest]
    head = f"{name} ({annotation}): " if annotation else f"{name}: "
    first, *rest = _wrap(head + description, indent)
    return [indent + first] + [f"{indent}    {t}" for t in rest]


def render(parts: DocParts, style: str, indent: str) -> list[str]:
    """The docstring's content lines (without quotes); the first is the summary, unindented;
    the others carry ``indent``."""
    summary = _wrap(parts.summary, indent)
    out = [summary[0]] + [indent + t for t in summary[1:]]
    if not (parts.params or parts.returns or parts.raises or parts.examples):
        return out
    sections: list[list[str]] = []
    if style == REST:
        block: list[str] = []
        for name, annotation, desc in parts.params:
            block += param_entry(REST, name, annotation, desc, indent)
            if annotation:
                block.append(f"{indent}:type {name.lstrip('*')}: {annotation}")
        if parts.returns is not None:
            block += [indent + t for t in _wrap(f":returns: {parts.returns[1]}", indent)]
            if parts.returns[0]:
                block.append(f"{indent}:rtype: {parts.returns[0]}")
        for exc, desc in parts.raises:
            block += [indent + t for t in _wrap(f":raises {exc}: {desc}", indent)]
        sections.append(block)
    elif style == NUMPY:
        if parts.params:
            block = [f"{indent}Parameters", f"{indent}----------"]
            for name, annotation, desc in parts.params:
                block += param_entry(NUMPY, name, annotation, desc, indent)
            sections.append(block)
        if parts.returns is not None:
            annotation, desc = parts.returns
            sections.append([f"{indent}Returns", f"{indent}-------",
                             f"{indent}{annotation or 'object'}"]
                            + [f"{indent}    {t}" for t in _wrap(desc, indent + "    ")])
        if parts.raises:
            block = [f"{indent}Raises", f"{indent}------"]
            for exc, desc in parts.raises:
                block += [f"{indent}{exc}"] + [f"{indent}    {t}"
                                                for t in _wrap(desc, indent + "    ")]
            sections.append(block)
    else:
        inner = indent + "    "
        if parts.params:
            block = [f"{indent}Args:"]
            for name, annotation, desc in parts.params:
                block += param_entry(GOOGLE, name, annotation, desc, inner)
            sections.append(block)
        if parts.returns is not None:
            annotation, desc = parts.returns
            text = f"{annotation}: {desc}" if annotation else desc
            sections.append([f"{indent}Returns:"] + [inner + t for t in _wrap(text, inner)])
        if parts.raises:
            block = [f"{indent}Raises:"]
            for exc, desc in parts.raises:
                block += [inner + t for t in _wrap(f"{exc}: {desc}", inner)]
            sections.append(block)
    if parts.examples:
        sections.append(examples_section(parts.examples, style, indent))
    for block in sections:
        out += ["", *block]
    return out


def examples_section(examples: Iterable[Example], style: str, indent: str) -> list[str]:
    """An Examples section that doctest runs and Sphinx shows: Google's ``Examples:`` with the
    examples indented under it, NumPy's underlined heading, a reST rubric then a doctest
    block."""
    if style == NUMPY:
        head, inner = [f"{indent}Examples", f"{indent}--------"], indent
    elif style == REST:
        head, inner = [f"{indent}.. rubric:: Examples", ""], indent
    else:
        head, inner = [f"{indent}Examples:"], indent + "    "
    return head + [inner + line for e in examples for line in e.lines()]
