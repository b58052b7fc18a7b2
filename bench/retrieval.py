"""Retrieval recall: is the definition of the function called at the cursor in the context?

On real repositories (a PyPI sdist and an npm tarball, downloaded once into bench/.cache, or a
copy of this interpreter's standard library), sample call sites of functions defined in exactly
one *other* file of the repository, put the cursor right after the call's "(" (the rest of that
line removed, as when typing it), and count how often the callee's definition is among the
snippets that:

- ``ContextEngine.retrieve`` returns within each ``--budget`` characters (default 1,024, 2,048
  and 4,096), and
- a CrossCodeEval-style BM25 baseline returns within ``--baseline-budget`` (default 4,096):
  20-line windows (stride 10) of the other files, queried with the 20 lines before the cursor,
  best windows packed greedily.

    .venv/bin/python bench/retrieval.py                  # django + date-fns, 300 sites each
    .venv/bin/python bench/retrieval.py --corpus stdlib  # no download
    .venv/bin/python bench/retrieval.py --corpus django --samples 1000 --budget 2048

Prints one table row per corpus and budget: sites, recall of both, retrieval latency, context
chars.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
sys.path.insert(0, str(HERE.parent / "server"))

# name -> (download command, archive name, language, file suffixes sampled); no command: a
# local copy (the standard library of the interpreter running this)
CORPORA: dict[str, tuple[list[str] | None, str, str, tuple[str, ...]]] = {
    "stdlib": (None, "", "python", (".py",)),
    "django": (["pip", "download", "--no-deps", "--no-binary", ":all:", "django==5.1.4"],
               "Django-5.1.4.tar.gz", "python", (".py",)),
    "requests": (["pip", "download", "--no-deps", "--no-binary", ":all:", "requests==2.32.3"],
                 "requests-2.32.3.tar.gz", "python", (".py",)),
    "date-fns": (["npm", "pack", "date-fns@3.6.0"], "date-fns-3.6.0.tgz", "javascript",
                 (".mjs",)),
}
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def fetch(name: str) -> Path:
    """The unpacked corpus folder (downloaded and unpacked at most once)."""
    cmd, archive, _, _ = CORPORA[name]
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / "src" / name
    if target.is_dir():
        return target
    if cmd is None:
        copy_stdlib(target)
        return target
    if not (CACHE / archive).is_file():
        if cmd[0] == "pip":
            cmd = [sys.executable, "-m", *cmd, "-d", str(CACHE)]
        subprocess.run(cmd, cwd=CACHE, check=True)
    tmp = Path(tempfile.mkdtemp(dir=CACHE))
    with tarfile.open(CACHE / archive) as tar:
        tar.extractall(tmp, filter="data")
    (inner,) = list(tmp.iterdir())
    target.parent.mkdir(parents=True, exist_ok=True)
    inner.rename(target)
    tmp.rmdir()
    return target


def copy_stdlib(target: Path) -> None:
    """The standard library's Python files (not site-packages) copied to ``target``: the index
    benchmark edits files of its corpus."""
    source = Path(sysconfig.get_paths()["stdlib"])
    tmp = Path(tempfile.mkdtemp(dir=CACHE))
    shutil.copytree(source, tmp / "stdlib", ignore=lambda folder, names: [
        n for n in names
        if n in ("site-packages", "__pycache__")
        or (not n.endswith(".py") and not (Path(folder) / n).is_dir())])
    target.parent.mkdir(parents=True, exist_ok=True)
    (tmp / "stdlib").rename(target)
    tmp.rmdir()


# ----------------------------------------------------------------------------- call sites
@dataclass(frozen=True)
class Site:
    path: str  # caller, relative
    offset: int  # str offset right after "("
    name: str
    def_path: str
    def_line: int


CALL_TYPES = {"python": ("call", "function", ("attribute", "attribute")),
              "javascript": ("call_expression", "function", ("member_expression", "property"))}


def call_sites(root: Path, rel: str, language: str, unique: dict[str, tuple[str, int]]
               ) -> list[Site]:
    from offpilot.context.languages import by_name

    spec = by_name(language)
    assert spec is not None
    data = (root / rel).read_bytes()
    tree = spec.parser().parse(data)
    call_type, field, (member_type, member_field) = CALL_TYPES[language]
    out: list[Site] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type != call_type:
            continue
        fn = node.child_by_field_name(field)
        if fn is None:
            continue
        if fn.type == member_type:
            fn = fn.child_by_field_name(member_field)
        if fn is None or fn.type not in ("identifier", "property_identifier"):
            continue
        name = fn.text.decode()
        target = unique.get(name)
        if target is None or target[0] == rel:
            continue
        args = node.child_by_field_name("arguments")
        if args is None or not args.text.startswith(b"("):
            continue
        offset = len(data[:args.start_byte + 1].decode("utf-8", errors="replace"))
        out.append(Site(rel, offset, name, target[0], target[1]))
    return out


def typing_text(text: str, offset: int) -> str:
    """The file as while typing the call: the rest of the cursor's line is not there yet."""
    end = text.find("\n", offset)
    return text[:offset] + (text[end:] if end != -1 else "")


# ----------------------------------------------------------------------------- BM25 baseline
class Bm25:
    """BM25 over 20-line windows (stride 10) of every file (CrossCodeEval's sparse baseline)."""

    def __init__(self, root: Path, paths: list[str], window: int = 20, stride: int = 10) -> None:
        self.windows: list[tuple[str, int, int, str]] = []
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths: list[int] = []
        for rel in paths:
            try:
                lines = (root / rel).read_text(encoding="utf-8", errors="replace").split("\n")
            except OSError:
                continue
            for start in range(0, max(1, len(lines) - window + stride), stride):
                chunk = "\n".join(lines[start:start + window])
                toks = TOKEN.findall(chunk)
                i = len(self.windows)
                self.windows.append((rel, start + 1, min(len(lines), start + window), chunk))
                lengths.append(len(toks))
                for tok, tf in Counter(toks).items():
                    postings[tok].append((i, tf))
        self.postings = postings
        self.lengths = lengths
        self.avg = statistics.mean(lengths) if lengths else 1.0
        n = len(self.windows)
        self.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5))
                    for t, p in postings.items()}

    def search(self, query: str, exclude: str, budget: int,
               k1: float = 1.2, b: float = 0.75) -> list[tuple[str, int, int]]:
        scores: dict[int, float] = defaultdict(float)
        for tok in set(TOKEN.findall(query)):
            idf = self.idf.get(tok)
            if idf is None:
                continue
            for i, tf in self.postings[tok]:
                norm = tf * (k1 + 1) / (tf + k1 * (1 - b + b * self.lengths[i] / self.avg))
                scores[i] += idf * norm
        out: list[tuple[str, int, int]] = []
        left = budget
        for i in sorted(scores, key=lambda i: -scores[i]):
            path, lo, hi, text = self.windows[i]
            if path == exclude:
                continue
            if len(text) + len(path) + 6 <= left:
                left -= len(text) + len(path) + 6
                out.append((path, lo, hi))
            if left < 200:
                break
        return out


# ----------------------------------------------------------------------------- the run
def run(corpus: str, samples: int, budgets: list[int], baseline_budget: int,
        seed: int) -> list[dict]:
    os.environ.setdefault("OFFPILOT_CACHE_DIR", tempfile.mkdtemp(prefix="offpilot-bench-"))
    from offpilot.config import Settings
    from offpilot.context.documents import Documents
    from offpilot.context.engine import ContextEngine

    root = fetch(corpus)
    _, _, language, suffixes = CORPORA[corpus]
    docs = Documents()
    engine = ContextEngine([root], replace(Settings(), context_budget=max(budgets)), docs)
    t0 = time.perf_counter()
    engine.start(watch=False)
    engine.wait_ready()
    build_s = time.perf_counter() - t0
    index = engine._roots[0].index
    names: dict[str, list[tuple[str, int]]] = defaultdict(list)
    # defined once among the sampled files (date-fns ships each function as .js, .mjs, .d.ts)
    for rel in index.paths():
        summary = index.summary(rel) if rel.endswith(suffixes) else None
        for d in summary.definitions if summary else ():
            names[d.name].append((d.path, d.start_line))
    unique = {n: v[0] for n, v in names.items()
              if len(v) == 1 and not n.startswith("__") and len(n) > 2}
    sampled = [p for p in index.paths() if p.endswith(suffixes)]
    sites = [s for rel in sampled for s in call_sites(root, rel, language, unique)]
    random.Random(seed).shuffle(sites)
    sites = sites[:samples]
    bm25 = Bm25(root, index.paths())

    base = 0
    ours = dict.fromkeys(budgets, 0)
    ms: dict[int, list[float]] = {b: [] for b in budgets}
    chars: dict[int, list[int]] = {b: [] for b in budgets}
    for site in sites:
        full = (root / site.path).read_text(encoding="utf-8", errors="replace")
        text = typing_text(full, site.offset)
        uri = (root / site.path).as_uri()
        for budget in budgets:  # each as if the file had just been opened
            docs.open(uri, language, 1, text)
            engine._resummarize(uri, site.offset)  # what note_opened does in the background
            result = engine.retrieve(uri, site.offset, budget)
            docs.close(uri)
            index.set_overlay(site.path, None)
            ms[budget].append(result.ms)
            chars[budget].append(sum(len(s.text) for s in result.snippets))
            if any(s.path == site.def_path and s.start_line <= site.def_line <= s.end_line
                   for s in result.snippets):
                ours[budget] += 1
        before = text[:site.offset].split("\n")
        query = "\n".join(before[-20:])
        if any(p == site.def_path and lo <= site.def_line <= hi
               for p, lo, hi in bm25.search(query, site.path, baseline_budget)):
            base += 1
    engine.stop()
    n = max(1, len(sites))
    rows = []
    for budget in budgets:
        times = sorted(ms[budget])
        rows.append({
            "corpus": corpus, "language": language, "files": len(index.paths()),
            "sites": len(sites), "budget": budget, "ours": ours[budget] / n, "bm25": base / n,
            "build_s": build_s, "p50_ms": statistics.median(times) if times else 0.0,
            "p95_ms": times[int(0.95 * (len(times) - 1))] if times else 0.0,
            "chars": statistics.mean(chars[budget]) if chars[budget] else 0.0})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA))
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--budget", type=int, action="append",
                        help="context characters (repeatable; default 1024, 2048 and 4096)")
    parser.add_argument("--baseline-budget", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    budgets = args.budget or [1024, 2048, 4096]
    rows = [r for c in (args.corpus or ["django", "date-fns"])
            for r in run(c, args.samples, budgets, args.baseline_budget, args.seed)]
    print(f"\n{'corpus':<10} {'language':<11} {'files':>6} {'sites':>6} {'budget':>7} "
          f"{'ours':>7} {'bm25@' + str(args.baseline_budget):>10} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'chars':>6} {'build s':>8}")
    for r in rows:
        print(f"{r['corpus']:<10} {r['language']:<11} {r['files']:>6} {r['sites']:>6} "
              f"{r['budget']:>7} {r['ours']:>7.1%} {r['bm25']:>10.1%} {r['p50_ms']:>7.1f} "
              f"{r['p95_ms']:>7.1f} {r['chars']:>6.0f} {r['build_s']:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
