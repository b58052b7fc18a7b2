"""Doc comments for JavaScript/TypeScript (JSDoc), Rust (rustdoc ``///``), Go, Java (Javadoc)
and C/C++ (Doxygen): reading them, writing them, checking them against the code and repairing
the model's draft.

The same guarantees as Python docstrings (:mod:`.generate`): the model's draft gives prose only;
the claims come from tree-sitter (:mod:`.declarations`). Every parameter is documented and no
other; a return section only when the declaration returns a value; ``@throws`` only for what
its own ``throw`` statements or its ``throws`` clause name; rustdoc's ``# Errors`` only when it
returns a ``Result`` and its body has ``Err(`` or ``?``, ``# Panics`` only when its body has
``panic!``, ``assert!`` and the like. A description the model did not give is ``TODO:
describe.``; nothing else is invented. Go doc comments describe parameters in prose, so they
have no parameter list: a Go comment only has to start with the declared name.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import tree_sitter

from offpilot.context.languages import LanguageSpec
from offpilot.engine.backend import Backend, GenerationResult, TextRequest
from offpilot.features.docs.checks import TODO, LineEdit
from offpilot.features.docs.declarations import Comment, Declaration, declaration_at, declarations
from offpilot.features.docs.generate import (
    MAX_CODE_CHARS,
    MAX_TOKENS,
    NO_SUMMARY,
    DocsError,
    Insertion,
    _first_sentence,
    _from_example,
    _sentence,
)
from offpilot.features.docs.styles import _wrap
from offpilot.features.docs.symbols import Param

JSDOC, RUSTDOC, GODOC, JAVADOC, DOXYGEN = "jsdoc", "rustdoc", "godoc", "javadoc", "doxygen"
STYLE_OF = {"javascript": JSDOC, "typescript": JSDOC, "tsx": JSDOC, "rust": RUSTDOC,
            "go": GODOC, "java": JAVADOC, "c": DOXYGEN, "cpp": DOXYGEN}
COMMENT_STYLES = (JSDOC, RUSTDOC, GODOC, JAVADOC, DOXYGEN)
_FENCE = {"javascript": "javascript", "typescript": "typescript", "tsx": "tsx", "rust": "rust",
          "go": "go", "java": "java", "c": "c", "cpp": "cpp"}
STOP = ("*/", "```", "<end_of_turn>", "<eos>", "\n\n\n")

# Prose of the examples is the Python examples' (so text copied from them is recognised).
_EXAMPLES = {
    JSDOC: """/**
 * Multiply every value by a factor.
 *
 * @param {number[]} values - The numbers to scale.
 * @param {number} factor - What each number is multiplied by.
 * @returns {number[]} The scaled numbers, in the same order.
 */
function scale(values, factor = 2) {
  return values.map((v) => v * factor);
}""",
    RUSTDOC: """/// Multiply every value by a factor.
///
/// # Arguments
///
/// * `values` - The numbers to scale.
/// * `factor` - What each number is multiplied by.
///
/// # Returns
///
/// The scaled numbers, in the same order.
pub fn scale(values: &[f64], factor: f64) -> Vec<f64> {
    values.iter().map(|v| v * factor).collect()
}""",
    GODOC: """// Scale multiplies every value by a factor and returns the scaled numbers, in the
// same order.
func Scale(values []float64, factor float64) []float64 {
	out := make([]float64, len(values))
	for i, v := range values {
		out[i] = v * factor
	}
	return out
}""",
    JAVADOC: """/**
 * Multiply every value by a factor.
 *
 * @param values The numbers to scale.
 * @param factor What each number is multiplied by.
 * @return The scaled numbers, in the same order.
 */
static double[] scale(double[] values, double factor) {
    return java.util.Arrays.stream(values).map(v -> v * factor).toArray();
}""",
    DOXYGEN: """/**
 * @brief Multiply every value by a factor.
 *
 * @param values The numbers to scale.
 * @param n How many numbers there are.
 * @param factor What each number is multiplied by.
 * @return The sum of the scaled numbers.
 */
double scale(double *values, size_t n, double factor) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += values[i] *= factor;
    return sum;
}""",
}


# ----------------------------------------------------------------------------- reading
_PREFIX = re.compile(r"^(\s*(?:/\*\*+|\*(?!/)|///?!?|//)?\s?)")
_PARAM_TAG = re.compile(
    r"^[@\\](?:param|arg|argument)(?:\[[^\]]*\])?\s+(?:\{[^}]*\}\s*)?"
    r"(\[[^\]]*\]|\.{3}[\w$]+|[\w$.<>]+)\s*(?:-\s+|:\s+)?(.*)$")
_RETURN_TAG = re.compile(r"^[@\\](?:returns?|result)\b\s*(?:\{[^}]*\}\s*)?(.*)$")
_THROWS_TAG = re.compile(r"^[@\\](?:throws|throw|exception)\s+(?:\{([^}]*)\}|([\w$.:<>]+))"
                         r"\s*(?:-\s+)?(.*)$")
_TAG = re.compile(r"^[@\\]\w+")
_HEADING = re.compile(r"^#+\s*(\w[\w ]*?)\s*$")
_RUST_ITEM = re.compile(r"^[*-]\s+`?([\w$]+)`?\s*(?:[-:\u2013]\s*)?(.*)$")


@dataclass(frozen=True)
class Entry:
    name: str
    description: str
    start: int  # index into the comment's lines
    end: int  # one past its last line


@dataclass
class ParsedComment:
    summary: str = ""
    params: tuple[Entry, ...] = ()
    has_params: bool = False  # a parameter section or tag is there
    returns: str = ""
    throws: dict[str, str] = field(default_factory=dict)
    errors: str = ""
    panics: str = ""

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.params]


def split_comment(raw: list[str]) -> list[tuple[str, str]]:
    """(prefix, content) of each line of a comment as written: ``/**``, `` * ``, ``///``,
    ``//`` and one space are the prefix; a closing ``*/`` is dropped from the content."""
    out: list[tuple[str, str]] = []
    for line in raw:
        m = _PREFIX.match(line)
        prefix = m.group(1) if m else ""
        content = line[len(prefix):]
        if content.rstrip().endswith("*/"):
            content = content.rstrip()[:-2]
            if content.strip() == "*":
                content = ""
        out.append((prefix, content.rstrip()))
    return out


def _entry_end(contents: list[str], i: int) -> int:
    j = i + 1
    while j < len(contents):
        text = contents[j].strip()
        if not text or _TAG.match(text) or _HEADING.match(text) or _RUST_ITEM.match(text):
            break
        j += 1
    return j


def _clean_name(raw: str) -> str:
    name = raw.strip("[]").split("=", 1)[0].strip()
    return name[3:] if name.startswith("...") else name


def parse_comment(contents: list[str]) -> ParsedComment:
    """Read a comment's content lines (prefixes removed) in any of the styles."""
    doc = ParsedComment()
    summary: list[str] = []
    params: list[Entry] = []
    heading = ""
    i = 0
    while i < len(contents):
        text = contents[i].strip()
        if text.startswith(("@brief", "\\brief")):
            text = text[6:].strip()
        hm = _HEADING.match(text)
        if hm is not None:
            heading = hm.group(1).lower()
            doc.has_params = doc.has_params or heading in ("arguments", "parameters", "params")
            i += 1
            continue
        end = _entry_end(contents, i)
        more = " ".join(t.strip() for t in contents[i + 1:end] if t.strip())
        pm = _PARAM_TAG.match(text)
        if pm is not None:
            doc.has_params = True
            params.append(Entry(_clean_name(pm.group(1)), (pm.group(2) + " " + more).strip(),
                                i, end))
            i = end
            continue
        rm = _RETURN_TAG.match(text)
        tm = _THROWS_TAG.match(text)
        if rm is not None:
            doc.returns = (rm.group(1) + " " + more).strip()
        elif tm is not None:
            doc.throws[(tm.group(1) or tm.group(2) or "").strip()] = \
                (tm.group(3) + " " + more).strip()
        elif heading in ("arguments", "parameters", "params") and _RUST_ITEM.match(text):
            im = _RUST_ITEM.match(text)
            assert im is not None
            params.append(Entry(im.group(1), (im.group(2) + " " + more).strip(), i, end))
        elif heading in ("returns", "return") and text:
            doc.returns = (doc.returns + " " + text).strip()
        elif heading == "errors" and text:
            doc.errors = (doc.errors + " " + text).strip()
        elif heading == "panics" and text:
            doc.panics = (doc.panics + " " + text).strip()
        elif not heading and not _TAG.match(text) and (text or not summary) and \
                not any(p for p in params):
            if text and (not summary or summary[-1]):
                summary.append(text)
            elif summary:
                summary.append("")
        i = end if (rm or tm) else i + 1
    lead: list[str] = []
    for s in summary:
        if not s:
            break
        lead.append(s)
    doc.summary = " ".join(lead)
    doc.params = tuple(params)
    return doc


def comment_contents(comment: Comment) -> list[str]:
    return [c for _p, c in split_comment(list(comment.raw))]


# ----------------------------------------------------------------------------- checking
@dataclass(frozen=True)
class CommentMismatch:
    definition: Declaration
    parsed: ParsedComment
    missing: tuple[Param, ...]
    phantom: tuple[str, ...]
    renamed: str = ""  # Go: the identifier the comment starts with instead of the name

    @property
    def message(self) -> str:
        name = self.definition.name
        if self.renamed:
            return (f"The doc comment of `{name}` starts with `{self.renamed}`; a Go doc "
                    "comment starts with the name it documents.")
        parts = []
        if self.missing:
            parts.append("does not document " + ", ".join(f"`{p.name}`" for p in self.missing))
        if self.phantom:
            what = "is not a parameter" if len(self.phantom) == 1 else "are not parameters"
            parts.append("documents " + ", ".join(f"`{n}`" for n in self.phantom) +
                         f", which {what}")
        return f"The doc comment of `{name}` " + " and ".join(parts) + "."


_GO_IDENT = re.compile(r"^([A-Za-z_]\w*)\b")


def check(decl: Declaration) -> CommentMismatch | None:
    """The mismatch between ``decl``'s doc comment and its signature, or None."""
    if decl.comment is None:
        return None
    contents = comment_contents(decl.comment)
    parsed = parse_comment(contents)
    if decl.language == "go":
        first = next((c.strip() for c in contents if c.strip()), "")
        m = _GO_IDENT.match(first)
        word = m.group(1) if m else ""
        # only an unmistakable identifier (mixed case, digits or underscores): a renamed one
        looks_like_code = bool(word) and (re.search(r"[a-z][A-Z]|_|\d", word) is not None)
        if looks_like_code and word != decl.name and not first.startswith("Deprecated"):
            return CommentMismatch(decl, parsed, (), (), renamed=word)
        return None
    if not parsed.has_params or decl.kind == "type":
        return None
    documented = set(parsed.names)
    real = {p.name for p in decl.params}
    missing = tuple(p for p in decl.params if p.name not in documented and not p.stars)
    phantom = tuple(dict.fromkeys(
        n for n in parsed.names
        if n not in real and n.split(".", 1)[0] not in real and not n.startswith("<")))
    if not missing and not phantom:
        return None
    return CommentMismatch(decl, parsed, missing, phantom)


def check_source(source: str | bytes, spec: LanguageSpec,
                 tree: tree_sitter.Tree | None = None) -> list[CommentMismatch]:
    return [m for m in (check(d) for d in declarations(source, spec, tree)) if m is not None]


def _new_entry(style: str, param: Param, sample: str) -> str:
    """A ``TODO`` entry for ``param``, laid out like the existing entry ``sample``."""
    if style == RUSTDOC or _RUST_ITEM.match(sample.strip()):
        bullet = sample.strip()[:1] if sample.strip()[:1] in "*-" else "*"
        return f"{bullet} `{param.name}` - {TODO}"
    tag = "\\param" if sample.strip().startswith("\\") else "@param"
    typed = "{" in sample.split(None, 2)[1] if len(sample.split()) > 1 else False
    dash = " - " if re.search(r"\s-\s", sample) else " "
    kind = f"{{{param.annotation}}} " if typed and param.annotation else ""
    return f"{tag} {kind}{param.name}{dash}{TODO}"


def fix(mismatch: CommentMismatch) -> LineEdit | None:
    """The edit that makes the comment's parameters agree with the signature (for Go: that
    makes it start with the name); None when it is laid out in a way this cannot rewrite."""
    decl = mismatch.definition
    comment = decl.comment
    if comment is None:
        return None
    split = split_comment(list(comment.raw))
    if mismatch.renamed:
        for i, (prefix, content) in enumerate(split):
            if content.strip():
                at = content.index(mismatch.renamed)
                new = prefix + content[:at] + decl.name + content[at + len(mismatch.renamed):]
                return LineEdit(comment.start_line + i, comment.start_line + i + 1, (new,))
        return None
    entries = mismatch.parsed.params
    if not entries:
        return None
    if comment.start_line == comment.end_line and len(split) == 1:
        return None  # a one-line comment: rewriting it would change its layout
    start = min(e.start for e in entries)
    end = max(e.end for e in entries)
    closing = comment.raw[-1].rstrip().endswith("*/") and bool(split[-1][1].strip())
    if start == 0 or (closing and end >= len(split)):
        return None  # an entry on the opening or closing line
    style = STYLE_OF.get(decl.language, JSDOC)
    sample_prefix = split[entries[0].start][0]
    sample = split[entries[0].start][1]
    phantom = set(mismatch.phantom)
    out: list[str] = []
    used: set[int] = set()
    for p in decl.params:
        entry = next((e for e in entries if e.name == p.name), None)
        if entry is not None:
            if entry.start not in used:
                used.add(entry.start)
                out += comment.raw[entry.start:entry.end]
        elif p in mismatch.missing:
            out.append(sample_prefix + _new_entry(style, p, sample))
    for e in entries:  # kept names that are not parameters (`options.key`)
        if e.start not in used and e.name not in phantom:
            used.add(e.start)
            out += comment.raw[e.start:e.end]
    covered = {i for e in entries for i in range(e.start, e.end)}
    out += [comment.raw[i] for i in range(start, end) if i not in covered]
    first = comment.start_line
    return LineEdit(first + start, first + end, tuple(out))


# ----------------------------------------------------------------------------- writing
@dataclass(frozen=True)
class CommentParts:
    summary: str
    params: tuple[tuple[str, str, str], ...] = ()  # (display name, type, description)
    returns: tuple[str, str] | None = None  # (type, description)
    raises: tuple[tuple[str, str], ...] = ()  # (exception, description)
    errors: str | None = None  # rustdoc # Errors
    panics: str | None = None  # rustdoc # Panics


def _para(text: str, width: int = 80) -> list[str]:
    return _wrap(text, "", width)


def render_lines(parts: CommentParts, style: str, name: str) -> list[str]:
    """The comment's content lines, without the comment markers."""
    if style == GODOC:
        summary = parts.summary
        if summary == NO_SUMMARY:
            summary = f"{name} {TODO.replace('describe', 'summarize')}"
        elif not re.match(rf"^(?:(?:A|An|The)\s+)?{re.escape(name)}\b", summary):
            summary = f"{name} {summary[:1].lower()}{summary[1:]}"
        return _para(summary)
    head = parts.summary if style != DOXYGEN else f"@brief {parts.summary}"
    out = _para(head)
    if style == RUSTDOC:
        sections: list[tuple[str, list[str]]] = []
        if parts.params:
            sections.append(("Arguments", [f"* `{n.lstrip('.')}` - {d}"
                                           for n, _t, d in parts.params]))
        if parts.returns is not None:
            sections.append(("Returns", _para(parts.returns[1])))
        if parts.errors is not None:
            sections.append(("Errors", _para(parts.errors)))
        if parts.panics is not None:
            sections.append(("Panics", _para(parts.panics)))
        for title, body in sections:
            out += ["", f"# {title}", "", *body]
        return out
    tags: list[str] = []
    for n, t, d in parts.params:
        if style == JSDOC:
            kind = f"{{{t}}} " if t else ""
            tags.append(f"@param {kind}{n} - {d}")
        else:
            tags.append(f"@param {n.lstrip('.')} {d}")
    if parts.returns is not None:
        t, d = parts.returns
        if style == JSDOC:
            tags.append(f"@returns {{{t}}} {d}" if t else f"@returns {d}")
        else:
            tags.append(f"@return {d}")
    for exc, d in parts.raises:
        tags.append(f"@throws {{{exc}}} {d}" if style == JSDOC else f"@throws {exc} {d}")
    if tags:
        out += ["", *tags]
    return out


def comment_text(parts: CommentParts, style: str, name: str, indent: str) -> str:
    """The whole comment, indented, each line ended: ready to insert above the declaration."""
    lines = render_lines(parts, style, name)
    if style in (RUSTDOC, GODOC):
        marker = "///" if style == RUSTDOC else "//"
        return "".join(f"{indent}{marker} {ln}".rstrip() + "\n" for ln in lines)
    if len(lines) == 1 and style != DOXYGEN:
        return f"{indent}/** {lines[0]} */\n"
    body = "".join(f"{indent} * {ln}".rstrip() + "\n" for ln in lines)
    return f"{indent}/**\n{body}{indent} */\n"


# ----------------------------------------------------------------------------- repair
@dataclass(frozen=True)
class Repaired:
    parts: CommentParts
    described: int
    summarized: bool


def repair(draft: str, decl: Declaration) -> Repaired:
    """Build what the comment says from the declaration, taking only prose from ``draft``
    (the model's comment, markers and all)."""
    contents = [c for _p, c in split_comment(draft.split("\n"))]
    parsed = parse_comment(contents)
    descriptions = {e.name: e.description for e in parsed.params
                    if not _from_example(e.description)}
    raw_summary = parsed.summary.strip()
    if decl.language == "go" and raw_summary.startswith(decl.name + " "):
        raw_summary = raw_summary[len(decl.name) + 1:]  # the prompt's; put back when written
    summary = _sentence(_first_sentence(raw_summary), decl.name)
    if re.search(r"\S{41,}", summary):  # a run of digits or symbols, not prose
        summary = ""
    if _from_example(summary) or re.match(
            r"^(function|fn|func|def|class|return|import|pub|public|static|@)\b", raw_summary):
        summary = ""
    params = []
    described = 0
    for p in decl.params:
        desc = _sentence(descriptions.get(p.name, ""), p.name)
        described += bool(desc)
        params.append((p.stars + p.name if p.stars == "..." and decl.language in (
            "javascript", "typescript", "tsx") else p.name, p.annotation, desc or TODO))
    returns = None
    if decl.returns_value:
        returns = (decl.return_type if decl.language in ("typescript", "tsx") else "",
                   _sentence(parsed.returns) if not _from_example(parsed.returns) else "")
        returns = (returns[0], returns[1] or TODO)
    raises = []
    for exc in decl.throws:
        short = exc.replace("::", ".").rsplit(".", 1)[-1]
        message = re.sub(r"\s+", " ", decl.throw_messages.get(exc, "")).strip()
        told = parsed.throws.get(exc, "") or parsed.throws.get(short, "")
        desc = (f"{message}." if message and message[-1] not in ".!?" else message) or \
            _sentence(told) or TODO
        raises.append((exc, desc))
    errors = (_sentence(parsed.errors) or TODO) if decl.errors else None
    panic = decl.panic_message
    panics = None
    if decl.panics:
        panics = (f"When {panic}." if panic and panic[-1] not in ".!?" else panic) if panic \
            else (_sentence(parsed.panics) or TODO)
    return Repaired(CommentParts(summary or NO_SUMMARY, tuple(params), returns, tuple(raises),
                                 errors, panics), described, bool(summary))


# ----------------------------------------------------------------------------- the model
def _opener(style: str, name: str) -> str:
    return {RUSTDOC: "/// ", GODOC: f"// {name} ", DOXYGEN: "/**\n * @brief "}.get(
        style, "/**\n * ")


def build_request(source: str, decl: Declaration, style: str) -> TextRequest:
    data = source.encode("utf-8")
    line_start = data.rfind(b"\n", 0, decl.start_byte) + 1
    code = data[line_start:decl.end_byte].decode("utf-8", errors="replace")
    lines = code.split("\n")
    cut = len(decl.indent)
    code = "\n".join(ln[cut:] if ln[:cut].strip() == "" else ln for ln in lines)
    code = code[:MAX_CODE_CHARS]
    fence = _FENCE.get(decl.language, "")
    what = {"type": "type", "method": "method"}.get(decl.kind, "function")
    prompt = (f"{fence} code with {style} doc comments.\n\n```{fence}\n{_EXAMPLES[style]}\n```\n\n"
              f"```{fence}\n{code}\n```\n\nThe same {what} with its doc comment:\n\n"
              f"```{fence}\n{_opener(style, decl.name)}")
    return TextRequest(prompt=prompt, max_tokens=MAX_TOKENS, temperature=0.0, stop=STOP)


def _draft(style: str, name: str, text: str) -> str:
    """The model's comment: the opener it continued, up to the first line that is not
    comment (for ``//`` styles)."""
    full = _opener(style, name) + text
    if style not in (RUSTDOC, GODOC):
        return full
    marker = "///" if style == RUSTDOC else "//"
    kept = []
    for i, line in enumerate(full.split("\n")):
        if i and not line.lstrip().startswith(marker):
            break
        kept.append(line)
    return "\n".join(kept)


def undocumented_at(source: str, spec: LanguageSpec, byte: int) -> Declaration | None:
    decl = declaration_at(declarations(source, spec), byte)
    return decl if decl is not None and decl.comment is None else None


def find_symbol(source: str, spec: LanguageSpec, name: str) -> Declaration:
    """A declaration by name (``Type.method`` for a method: the part after the last dot)."""
    wanted = name.replace("::", ".").rsplit(".", 1)[-1]
    found = [d for d in declarations(source, spec) if d.name == wanted]
    if not found:
        raise DocsError(f"no function, method or type named {name!r}")
    return found[0]


def insertion(decl: Declaration, parts: CommentParts, style: str) -> Insertion:
    return Insertion(decl.insert_line, comment_text(parts, style, decl.name, decl.indent))


@dataclass
class CommentResult:
    definition: Declaration
    style: str
    parts: CommentParts
    insertion: Insertion
    draft: str
    described: int
    summarized: bool
    seconds: float
    stop_reason: str
    generated_tokens: int = 0


async def document(backend: Backend, source: str, decl: Declaration, style: str = "", *,
                   on_text: Callable[[str], None] | None = None) -> CommentResult:
    """Draft with ``backend``, repair, and place the comment; cancelling stops the model."""
    style = style or STYLE_OF[decl.language]
    if style != STYLE_OF[decl.language]:
        raise DocsError(f"{decl.language} is documented in the {STYLE_OF[decl.language]} "
                        f"style, not {style}")
    t0 = time.perf_counter()
    pieces: list[str] = []

    def on_piece(delta: str) -> None:
        pieces.append(delta)
        if on_text is not None:
            on_text(delta)

    task = asyncio.ensure_future(backend.generate(build_request(source, decl, style),
                                                  on_text=on_piece))
    try:
        result: GenerationResult = await task
    finally:
        if not task.done():
            task.cancel()
    text = "".join(pieces) or result.text
    for stop in STOP:
        text = text.split(stop, 1)[0]
    draft = _draft(style, decl.name, text)
    fixed = repair(draft, decl)
    return CommentResult(decl, style, fixed.parts, insertion(decl, fixed.parts, style), draft,
                         fixed.described, fixed.summarized, time.perf_counter() - t0,
                         result.stop_reason, result.generated_tokens)
