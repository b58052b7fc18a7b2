"""``offpilot eval [ROOT]``: completion quality on the user's own code.

Positions are sampled deterministically from the indexed source files: the start of a line
(after its indentation), mid-line after an identifier or ``(``, after ``return``, inside a
call's arguments, the first line of a block (the whole block hidden), and cross-file call sites
(``call``: a call whose callee the workspace index resolves, through the file's imports, to a
definition in another file; the callee's name, its arguments and the rest of the line are
hidden, so context on against off shows whether retrieval brings the callee). The rest of the
line (or the block) is hidden, the real completion pipeline runs there, and the answer is compared
with what was hidden: exact line, edit similarity, characters a user would accept (the longest
correct prefix), share of empty answers, latency p50/p95 and prompt tokens evaluated. Each model
(``--models``) runs with repository context on and off, side by side.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from offpilot.config import Settings
from offpilot.engine.backend import ModelError, Snippet
from offpilot.features.completion import Completer

KINDS = ("line", "mid", "return", "args", "block")  # found in a file's text alone
CALL = "call"  # needs the workspace index: see :class:`CallSites`
ALL_KINDS = (*KINDS, CALL)
_IDENT_END = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?=[^A-Za-z0-9_])")
MAX_HIDDEN_LINES = 8  # a block longer than this is not sampled


@dataclass(frozen=True)
class Sample:
    path: str  # relative to the root, forward slashes
    language: str
    kind: str  # one of ALL_KINDS
    line: int  # 1-based line of the cursor
    text: str  # the file with the expected text removed
    offset: int  # the cursor in ``text``
    expected: str  # what was hidden
    callee: str = ""  # ``call`` only: where the callee is defined, "path:line"

    @property
    def key(self) -> str:
        return f"{self.path}:{self.line}:{self.kind}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _stable(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def positions_in(path: str, text: str, language: str) -> list[Sample]:
    """Every candidate position of one file (see the module doc), one per kind and line."""
    lines = text.split("\n")
    starts = [0]
    for ln in lines[:-1]:
        starts.append(starts[-1] + len(ln) + 1)
    out: list[Sample] = []

    def hide_rest(i: int, col: int, kind: str) -> None:
        line = lines[i]
        rest = line[col:]
        if not rest.strip() or len(rest.strip()) < 2:
            return
        at = starts[i] + col
        out.append(Sample(path, language, kind, i + 1, text[:at] + text[at + len(rest):], at,
                          rest))

    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "//", "/*", "*", '"""', "'''")):
            continue
        ind = _indent(line)
        hide_rest(i, ind, "line")
        m = re.search(r"\breturn\s", line)
        if m is not None:
            hide_rest(i, m.end(), "return")
        paren = line.find("(", ind)
        if paren > 0 and line.rstrip().endswith((")", "):", ");", ")]", "),")):
            # inside the arguments: after the first ", " of the call, else right after "("
            comma = line.find(", ", paren)
            hide_rest(i, comma + 2 if comma > 0 else paren + 1, "args")
        mids = [m.end() for m in _IDENT_END.finditer(line, ind + 1)
                if line[m.end():m.end() + 1] in "(.[ =" and m.end() < len(line.rstrip()) - 1]
        if mids:
            hide_rest(i, mids[len(mids) // 2], "mid")
        if stripped.endswith((":", "{")) and i + 1 < len(lines):
            body_ind = _indent(lines[i + 1])
            if body_ind <= ind or not lines[i + 1].strip():
                continue
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) >= body_ind):
                j += 1
            while j > i + 1 and not lines[j - 1].strip():
                j -= 1
            if j - (i + 1) > MAX_HIDDEN_LINES:
                continue
            at = starts[i + 1] + body_ind
            end = starts[j - 1] + len(lines[j - 1])
            hidden = text[at:end]
            out.append(Sample(path, language, "block", i + 2, text[:at] + text[end:], at,
                              hidden))
    return out


class CallSites:
    """Cross-file call sites of a file, resolved with the workspace index's resolver.

    A call counts when its callee is

    - a bare name (``helper(x)``) that :meth:`Resolver.lookup` resolves to a definition in
      another file reached through the file's imports (imported by name, or defined in a
      module the file imports); a name found only by the index-wide fallback does not count;
    - or an attribute of a name bound by an import (``utils.helper(x)``, ``np.mean(x)``) that
      is defined in the file(s) that import resolves to.

    The hidden text runs from the start of the callee's name to the end of the line.
    """

    def __init__(self, index: Any) -> None:
        from offpilot.context.resolve import Resolver

        self.index = index
        self.resolver = Resolver(index)

    def callee(self, path: str, summary: Any, name: str, receiver: str | None) -> Any:
        """The callee's definition in another file, or None."""
        from offpilot.context.model import Import

        r = self.resolver
        if receiver is None:
            defs = r.lookup(path, summary, name, limit=1)
            if not defs or defs[0].path == path:
                return None
            by_name = [imp for imp in summary.imports
                       if any((alias or original) == name for original, alias in imp.names)]
            if by_name:  # imported by name: from a workspace module, not a third-party one
                workspace = any(r.module_files(path, summary.language, imp) for imp in by_name)
                return defs[0] if workspace else None
            if defs[0].path in r.imported_files(path, summary):
                return defs[0]
            return None
        for imp in summary.imports:
            files: tuple[str, ...] = ()
            if imp.alias == receiver or (not imp.names and not imp.alias
                                         and imp.module.split(".")[0] == receiver
                                         and "." not in imp.module):
                files = r.module_files(path, summary.language, imp)
            else:
                for original, alias in imp.names:
                    if (alias or original) == receiver:  # `from pkg import module`
                        sub = Import(module=f"{imp.module}.{original}" if imp.module
                                     else original, level=imp.level)
                        files = r.module_files(path, summary.language, sub)
            for f in files:
                if f != path:
                    defs = r.defs_in_file(f, name)
                    if defs:
                        return defs[0]
        return None

    def positions(self, path: str, text: str, language: str) -> list[Sample]:
        """One sample per line that holds a cross-file call (the first such call on it)."""
        import tree_sitter

        from offpilot.context.extract import parse
        from offpilot.context.languages import for_path

        spec = for_path(path)
        summary = self.index.summary(path)
        query = spec.query("identifiers") if spec is not None else None
        if spec is None or summary is None or query is None:
            return []
        data = text.encode("utf-8", "surrogatepass")
        tree = parse(data, spec)
        if tree is None:
            return []
        nodes = tree_sitter.QueryCursor(query).captures(tree.root_node).get("call", [])
        lines = text.split("\n")
        starts = [0]
        for ln in lines[:-1]:
            starts.append(starts[-1] + len(ln) + 1)
        out: dict[int, Sample] = {}
        for node in sorted(nodes, key=lambda n: n.start_byte):
            row = node.start_point.row
            if row in out or row >= len(lines):
                continue
            parent = node.parent
            if parent is None:
                continue
            receiver: str | None = None
            if parent.child_by_field_name("function") != node \
                    and parent.child_by_field_name("constructor") != node:
                obj = parent.child_by_field_name("object")
                if obj is None or not obj.type.endswith("identifier"):
                    continue
                receiver = data[obj.start_byte:obj.end_byte].decode("utf-8", "replace")
            name = data[node.start_byte:node.end_byte].decode("utf-8", "replace")
            col = len(data[node.start_byte - node.start_point.column:node.start_byte]
                      .decode("utf-8", "replace"))
            line = lines[row]
            rest = line[col:]
            if not rest.startswith(name) or len(rest.strip()) < len(name) + 1:
                continue
            callee = self.callee(path, summary, name, receiver)
            if callee is None:
                continue
            at = starts[row] + col
            out[row] = Sample(path, language, CALL, row + 1, text[:at] + text[at + len(rest):],
                              at, rest, f"{callee.path}:{callee.start_line}")
        return [out[k] for k in sorted(out)]


def sample_positions(root: Path, paths: Sequence[str], count: int, *, seed: str = "",
                     kinds: Sequence[str] = KINDS, max_size: int = 200_000,
                     calls: CallSites | None = None) -> list[Sample]:
    """``count`` positions spread over ``paths`` and kinds, the same ones on every run
    (``call`` positions only with ``calls``, the workspace's resolver)."""
    from offpilot.context.languages import for_path

    by_kind: dict[str, list[Sample]] = {k: [] for k in kinds}
    for rel in sorted(paths):
        spec = for_path(rel)
        if spec is None:
            continue
        try:
            data = (root / rel).read_bytes()
        except OSError:
            continue
        if len(data) > max_size or b"\0" in data:
            continue
        text = data.decode("utf-8", errors="replace")
        found = positions_in(rel, text, spec.language_ids[0])
        if calls is not None and CALL in by_kind:
            found += calls.positions(rel, text, spec.language_ids[0])
        for s in found:
            if s.kind in by_kind:
                by_kind[s.kind].append(s)
    for k in by_kind:
        by_kind[k].sort(key=lambda s: _stable(seed + s.key))
    # Round-robin over the kinds; within a kind, one file at a time, so no file dominates.
    queues = {k: _spread(v) for k, v in by_kind.items()}
    out: list[Sample] = []
    while len(out) < count and any(queues.values()):
        for k in kinds:
            if queues[k] and len(out) < count:
                out.append(queues[k].pop(0))
    return out


def _spread(samples: list[Sample]) -> list[Sample]:
    seen: dict[str, int] = {}
    ranked: list[tuple[int, int, Sample]] = []
    for s in samples:
        n = seen.get(s.path, 0)
        seen[s.path] = n + 1
        ranked.append((n, len(ranked), s))
    return [s for _, _, s in sorted(ranked, key=lambda t: (t[0], t[1]))]


# ----------------------------------------------------------------------------- scoring
def accepted_chars(answer: str, expected: str) -> int:
    """Characters of ``answer`` a user would keep: its longest prefix that is right."""
    n = 0
    for a, b in zip(answer, expected, strict=False):
        if a != b:
            break
        n += 1
    return n


def score(sample: Sample, completion: str) -> dict[str, float]:
    """Exact line, edit similarity and accepted characters of one answer."""
    want = sample.expected.rstrip()
    got = completion.rstrip()
    if sample.kind != "block":  # a line was hidden: its first line is what counts
        got_line = got.split("\n", 1)[0]
        exact = got_line.strip() == want.strip()
        similarity = difflib.SequenceMatcher(None, got_line.strip(), want.strip()).ratio()
    else:
        exact = [ln.rstrip() for ln in got.split("\n")] == [ln.rstrip()
                                                            for ln in want.split("\n")]
        similarity = difflib.SequenceMatcher(None, got, want).ratio()
    accepted = accepted_chars(got, want)
    return {"exact": float(exact), "similarity": similarity if got.strip() else 0.0,
            "accepted": float(accepted), "empty": float(not got.strip())}


@dataclass
class RunResult:
    model: str
    context: bool
    samples: int = 0
    exact: float = 0.0
    similarity: float = 0.0
    accepted_chars: float = 0.0
    empty: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    tokens_evaluated: float = 0.0
    error: str = ""
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    answers: list[dict[str, Any]] = field(default_factory=list)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def summarize(model: str, context: bool, rows: list[dict[str, Any]]) -> RunResult:
    r = RunResult(model=model, context=context, samples=len(rows))
    if not rows:
        return r
    n = len(rows)
    r.exact = sum(x["exact"] for x in rows) / n
    r.similarity = sum(x["similarity"] for x in rows) / n
    r.accepted_chars = sum(x["accepted"] for x in rows) / n
    r.empty = sum(x["empty"] for x in rows) / n
    ms = [x["ms"] for x in rows]
    r.p50_ms, r.p95_ms = _percentile(ms, 0.5), _percentile(ms, 0.95)
    r.tokens_evaluated = statistics.mean(x["tokens"] for x in rows)
    for kind in ALL_KINDS:
        part = [x for x in rows if x["kind"] == kind]
        if part:
            r.by_kind[kind] = {"samples": len(part),
                               "exact": sum(x["exact"] for x in part) / len(part),
                               "similarity": sum(x["similarity"] for x in part) / len(part),
                               "accepted": sum(x["accepted"] for x in part) / len(part),
                               "empty": sum(x["empty"] for x in part) / len(part)}
    r.answers = rows
    return r


# ----------------------------------------------------------------------------- running
Progress = Callable[[str, int, int], None]


async def evaluate_model(model: str, samples: Sequence[Sample], settings: Settings, *,
                         contexts: Sequence[bool], retrieve: RepositoryContext | None,
                         progress: Progress | None = None) -> list[RunResult]:
    """Run the completion pipeline at every sample with ``model``, per context setting."""
    from offpilot.engine.manager import COMPLETION, ModelManager

    s = settings if model == "default" else replace(settings, model=model)
    models = ModelManager(s)
    results = []
    try:
        for ctx in contexts:
            label = f"{model} context {'on' if ctx else 'off'}"
            rows: list[dict[str, Any]] = []
            run_settings = replace(s, context_budget=s.context_budget if ctx else 0)
            completer = Completer(lambda: models.backend(COMPLETION), run_settings,
                                  context=retrieve if ctx else None)
            try:
                for i, sample in enumerate(samples):
                    uri = f"file:///offpilot-eval/{sample.path}"
                    if retrieve is not None:
                        retrieve.open(uri, sample)
                    try:
                        out = await completer.complete(uri, sample.text, sample.offset,
                                                       language=sample.language,
                                                       path=sample.path)
                    finally:
                        completer.forget(uri)
                        if retrieve is not None:
                            retrieve.close(uri)
                    answer = out.items[0] if out.items else ""
                    if out.source == "error":
                        raise ModelError(out.error or "the model failed")
                    row = {"path": sample.path, "line": sample.line, "kind": sample.kind,
                           "expected": sample.expected, "answer": answer, "ms": out.ms,
                           "tokens": out.result.prompt_tokens_evaluated if out.result else 0,
                           **score(sample, answer)}
                    rows.append(row)
                    if progress is not None:
                        progress(label, i + 1, len(samples))
            except ModelError as exc:
                results.append(RunResult(model=model, context=ctx, error=str(exc)))
                break
            results.append(summarize(model, ctx, rows))
    finally:
        await models.close()
    return results


class RepositoryContext:
    """Retrieval from the workspace index, as the server does it; the sampled file's own
    indexed copy (which still holds the hidden text) is never offered as context."""

    def __init__(self, root: Path, settings: Settings) -> None:
        from offpilot.context.engine import ContextEngine

        self.root = root
        self.engine = ContextEngine([root], settings)
        self._current: dict[str, tuple[str, str]] = {}  # uri -> (real uri, path)

    def start(self, timeout: float = 300.0) -> None:
        self.engine.start(watch=False)
        self.engine.wait_ready(timeout)

    def sample(self, count: int, *, seed: str = "", kinds: Sequence[str] = ALL_KINDS,
               max_size: int = 200_000) -> list[Sample]:
        """Positions from the indexed files; ``call`` ones resolved with the index."""
        from offpilot.context.index import Index

        index = Index(self.root, max_file_size=self.engine.settings.max_file_size)
        try:
            index.refresh()
            return sample_positions(self.root, index.paths(), count, seed=seed, kinds=kinds,
                                    max_size=max_size,
                                    calls=CallSites(index) if CALL in kinds else None)
        finally:
            index.close()

    def open(self, uri: str, sample: Sample) -> None:
        real = (self.root / sample.path).as_uri()
        self._current[uri] = (real, sample.path)
        self.engine.documents.open(real, sample.language, 1, sample.text)

    def close(self, uri: str) -> None:
        real, _ = self._current.pop(uri, ("", ""))
        if real:
            self.engine.documents.close(real)

    def __call__(self, uri: str, text: str, offset: int, budget: int) -> list[Snippet]:
        real, path = self._current.get(uri, (uri, ""))
        got = self.engine.retrieve(real, offset, budget).snippets
        return [s for s in got if s.path != path]

    def stop(self) -> None:
        self.engine.stop()


# ----------------------------------------------------------------------------- output
COLUMNS = ("model", "context", "samples", "exact line", "edit sim", "accepted chars", "empty",
           "p50 ms", "p95 ms", "tokens evaluated")


def table(results: Sequence[RunResult]) -> str:
    rows = []
    for r in results:
        if r.error:
            rows.append((r.model, "on" if r.context else "off", "-", f"error: {r.error}",
                         "", "", "", "", "", ""))
            continue
        rows.append((r.model, "on" if r.context else "off", str(r.samples), f"{r.exact:.3f}",
                     f"{r.similarity:.3f}", f"{r.accepted_chars:.1f}", f"{r.empty:.3f}",
                     f"{r.p50_ms:.0f}", f"{r.p95_ms:.0f}", f"{r.tokens_evaluated:.0f}"))
    widths = [max(len(x[i]) for x in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)) for x in rows]
    return "\n".join(lines)


KIND_COLUMNS = ("kind", "model", "samples", "exact on", "exact off", "accepted on",
                "accepted off", "edit sim on", "edit sim off")


def kind_table(results: Sequence[RunResult]) -> str:
    """Per kind and model: context on against off (where both ran)."""
    rows = []
    models = list(dict.fromkeys(r.model for r in results if not r.error))
    for kind in ALL_KINDS:
        for model in models:
            on = next((r.by_kind.get(kind) for r in results
                       if r.model == model and r.context and not r.error), None)
            off = next((r.by_kind.get(kind) for r in results
                        if r.model == model and not r.context and not r.error), None)
            if on is None and off is None:
                continue

            def cell(part: dict[str, float] | None, key: str, fmt: str) -> str:
                return "-" if part is None else format(part[key], fmt)

            n = int((on or off or {}).get("samples", 0))
            rows.append((kind, model, str(n), cell(on, "exact", ".3f"), cell(off, "exact", ".3f"),
                         cell(on, "accepted", ".1f"), cell(off, "accepted", ".1f"),
                         cell(on, "similarity", ".3f"), cell(off, "similarity", ".3f")))
    widths = [max(len(x[i]) for x in [KIND_COLUMNS, *rows]) for i in range(len(KIND_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(KIND_COLUMNS, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)) for x in rows]
    return "\n".join(lines)


class ProgressBar:
    """A one-line bar on a terminal; a line per tenth of the work otherwise."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last = ""

    def __call__(self, label: str, done: int, total: int) -> None:
        if self.tty:
            width = 30
            fill = int(width * done / max(total, 1))
            self.stream.write(f"\r{label}: [{'#' * fill}{'.' * (width - fill)}] {done}/{total}")
            if done == total:
                self.stream.write("\n")
            self.stream.flush()
            return
        step = max(1, total // 10)
        if done % step == 0 or done == total:
            self.stream.write(f"{label}: {done}/{total}\n")
            self.stream.flush()


async def run_eval(root: Path, settings: Settings, *, models: Sequence[str], samples: int,
                   contexts: Sequence[bool], seed: str = "", kinds: Sequence[str] = ALL_KINDS,
                   progress: Progress | None = None) -> tuple[list[Sample], list[RunResult]]:
    root = root.resolve()
    repo = RepositoryContext(root, settings)
    try:
        if any(contexts) and settings.index_enabled:
            repo.start()
        picked = repo.sample(samples, seed=seed, kinds=kinds, max_size=settings.max_file_size)
        results: list[RunResult] = []
        for model in models:
            results += await evaluate_model(
                model, picked, settings, contexts=contexts,
                retrieve=repo if any(contexts) and settings.index_enabled else None,
                progress=progress)
        return picked, results
    finally:
        repo.stop()
