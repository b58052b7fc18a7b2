"""Generate documentation on real code: documented functions of this machine's standard library,
their docstrings stripped and written again with the chat model (the embedded one by default).

For each function the docstring is removed from its module's source, the pipeline behind
``offpilot docs`` runs on it, and the result is compared with the signature and the original:

- **coverage**: parameters of the signature the delivered docstring lists (target 100%);
- **phantom**: names it lists that the signature does not have (target 0);
- **described**: parameters whose description is the model's (not ``TODO``);
- **got a doc**: functions whose summary is the model's (not ``TODO: summarize.``);
- **s/doc**: seconds per docstring;
- **first sentence**: similarity (difflib ratio, 0-1) of the summary to the original's first
  sentence, a weak quality signal;
- **examples**: the Examples section recorded in the sandbox
  (:mod:`offpilot.features.docs.examples`): the share of functions that got one, and the
  doctest pass rate of the delivered examples (target 100%), measured apart from the pipeline's
  own check: the module with the delivered docstring is copied into a fresh sandbox and the
  function's docstring run with the standard ``doctest.DocTestFinder`` and ``DocTestRunner``.
  Each function runs in a workspace of its own: a standard-library module as a top-level
  module of its own name (``bench_textwrap``), a module of a package installed from PyPI
  (``jinja2``, a dependency of Offpilot) inside a copy of its package.

The baseline arm is the model's draft as it came (parsed in whichever style it wrote), before
the repair: the same coverage and phantom figures.

``--lang`` runs the same measure on doc comments of another language (JSDoc, rustdoc, Go,
Javadoc, Doxygen): functions with a documented parameter list are taken from the source files
under ``--corpus`` (by default the JavaScript of ``editor-client/node_modules``, after ``npm ci``
there), their comment removed and written again; the original's parameter list is not used.

    python bench/docs.py --limit 40
    python bench/docs.py --limit 10 --no-examples
    python bench/docs.py --limit 10 --style numpy --json out.json
    python bench/docs.py --lang javascript --limit 10
    python bench/docs.py --lang go --corpus /usr/share/doc/git/contrib --limit 5
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import importlib.util
import json
import re
import shutil
import sys
import sysconfig
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))

from offpilot.config import load_settings  # noqa: E402
from offpilot.context.languages import by_name  # noqa: E402
from offpilot.engine.manager import CHAT, ModelManager  # noqa: E402
from offpilot.features.docs import comments  # noqa: E402
from offpilot.features.docs.declarations import Declaration, declarations  # noqa: E402
from offpilot.features.docs.examples import add_examples  # noqa: E402
from offpilot.features.docs.generate import apply_insertion, document  # noqa: E402
from offpilot.features.docs.styles import GOOGLE, parse_docstring  # noqa: E402
from offpilot.features.docs.symbols import Definition, definitions  # noqa: E402
from offpilot.features.testgen.core.sandbox import TestSandbox  # noqa: E402

MODULES = ("textwrap", "shlex", "fnmatch", "glob", "csv", "calendar", "difflib", "string",
           "heapq", "bisect", "base64", "colorsys", "filecmp", "fractions", "gettext", "gzip",
           "html/__init__", "imghdr", "ipaddress", "mimetypes", "netrc", "ntpath", "numbers",
           "operator", "optparse", "pprint", "quopri", "random", "sched", "secrets",
           "statistics", "tabnanny", "tempfile", "uu", "zipapp", "json/decoder", "json/encoder",
           "urllib/parse", "email/utils", "logging/handlers")
PYPI_MODULES = ("jinja2/utils", "jinja2/filters")  # a package installed from PyPI
MAX_LINES = 60  # longer functions are left out (the prompt stays small)


@dataclass
class Row:
    name: str
    params: int
    covered: int
    phantom: int
    described: int
    raw_covered: int
    raw_phantom: int
    summarized: bool
    similarity: float
    seconds: float
    tokens: int
    examples: int = 0  # delivered in the docstring
    doctest_attempted: int = 0  # run again apart from the pipeline
    doctest_failed: int = 0
    examples_note: str = ""
    examples_seconds: float = 0.0


def first_sentence(text: str) -> str:
    text = re.sub(r"\s+", " ", text.strip().split("\n\n")[0])
    m = re.search(r"(?<=[.!?])\s", text)
    return text[:m.start()] if m else text


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower().strip(". "), b.lower().strip(". ")).ratio()


def strip_docstring(source: str, defn: Definition) -> str | None:
    """The module without ``defn``'s docstring (None when it shares a line with code)."""
    doc = defn.docstring
    if doc is None:
        return None
    lines = source.split("\n")
    if lines[doc.start_line].strip()[:4].lstrip("rRuU")[:3] not in ('"""', "'''") or \
            not lines[doc.end_line].rstrip().endswith(('"""', "'''")):
        return None
    return "\n".join(lines[:doc.start_line] + lines[doc.end_line + 1:])


def _sources() -> list[tuple[str, Path, Path | None]]:
    """(module label, file, the package folder to copy with it or None): the standard library's
    modules, then the PyPI package's."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    out: list[tuple[str, Path, Path | None]] = [
        (m.replace("/__init__", "").replace("/", "."), stdlib / f"{m}.py", None)
        for m in MODULES]
    for module in PYPI_MODULES:
        top = module.split("/", 1)[0]
        spec = importlib.util.find_spec(top)
        if spec is None or not spec.submodule_search_locations:
            print(f"  ({top} is not installed: its modules are left out)", file=sys.stderr)
            continue
        package = Path(next(iter(spec.submodule_search_locations)))
        # among the first modules, so that a small --limit takes some
        out.insert(min(len(out), 2 + 4 * PYPI_MODULES.index(module)),
                   (module.replace("/", "."), package.parent / f"{module}.py", package))
    return out


def workspace_for(label: str, source: str) -> tuple[Path, Path]:
    """A fresh workspace holding ``source`` as the module of ``label``: (root, file)."""
    module = modules[label]
    root = Path(tempfile.mkdtemp(prefix="offpilot-bench-docs-"))
    package = packages.get(module)
    if package is None:
        path = root / f"bench_{module.replace('.', '_')}.py"
    else:
        shutil.copytree(package, root / package.name,
                        ignore=shutil.ignore_patterns("__pycache__"))
        path = root / Path(*module.split(".")).with_suffix(".py")
    path.write_text(source, encoding="utf-8")
    return root, path


packages: dict[str, Path] = {}  # module label -> package folder, for PyPI modules

DOCTEST = """
import doctest, importlib, json, sys
sys.path.insert(0, sys.argv[1])
module = importlib.import_module(sys.argv[2])
obj = module
for part in sys.argv[3].split("."):
    obj = getattr(obj, part)
runner = doctest.DocTestRunner(verbose=False)
for test in doctest.DocTestFinder(recurse=False).find(obj, sys.argv[3], module=module,
                                                      globs=vars(module)):
    runner.run(test, out=lambda text: None)
failed, attempted = runner.summarize(verbose=False)
print(json.dumps({"failed": failed, "attempted": attempted}))
"""


async def doctest_delivered(root: Path, path: Path, qualname: str) -> tuple[int, int]:
    """(attempted, failed) examples of ``qualname``'s docstring in the module as delivered, run
    by the standard doctest in a fresh sandbox."""
    rel = path.relative_to(root).with_suffix("")
    module = ".".join(rel.parts)
    async with TestSandbox(root, timeout=60) as sandbox:
        result = await sandbox.run_python(["-c", DOCTEST, str(sandbox.project_dir), module,
                                           qualname])
    try:
        out = json.loads(result.stdout.strip().splitlines()[-1])
        return int(out["attempted"]), int(out["failed"])
    except (ValueError, KeyError, IndexError):
        print(f"    doctest did not run: {result.stderr.strip()[-300:]}", file=sys.stderr)
        return 1, 1


def sample(limit: int) -> list[tuple[str, str, Definition]]:
    """(label, stripped module source, the definition in it), spread over the modules."""
    pool: list[list[tuple[str, str, Definition, str]]] = []
    packages.clear()
    for module, path, package in _sources():
        if package is not None:
            packages[module] = package
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        found = []
        for defn in definitions(source):
            if defn.kind == "class" or defn.docstring is None or not defn.params or \
                    defn.name.startswith("_"):
                continue
            if source.count("\n", defn.start_byte, defn.end_byte) > MAX_LINES:
                continue
            stripped = strip_docstring(source, defn)
            if stripped is None:
                continue
            again = [d for d in definitions(stripped)
                     if d.name == defn.name and d.name_line == defn.name_line
                     and d.docstring is None]
            if not again:
                continue
            owner = _owner(source, defn)
            label = f"{module}.{owner}.{defn.name}" if owner else f"{module}.{defn.name}"
            found.append((label, stripped, again[0], defn.docstring.text))
            owners[label] = owner
            modules[label] = module
        if found:
            pool.append(found)
    out: list[tuple[str, str, Definition]] = []
    originals.clear()
    i = 0
    while len(out) < limit and any(pool):  # one per module in turn
        group = pool[i % len(pool)]
        if group:
            label, stripped, defn, original = group.pop(0)
            out.append((label, stripped, defn))
            originals[label] = original
        i += 1
    return out


originals: dict[str, str] = {}
owners: dict[str, str] = {}  # label -> the class a method belongs to ("" for a function)
modules: dict[str, str] = {}  # label -> its module


def _owner(source: str, defn: Definition) -> str:
    classes = [d for d in definitions(source) if d.kind == "class"
               and d.start_byte < defn.start_byte <= d.end_byte]
    return classes[-1].name if classes else ""


async def run(limit: int, style: str, examples: bool = True) -> list[Row]:
    settings, _ = load_settings()
    models = ModelManager(settings)
    rows: list[Row] = []
    try:
        backend = await models.backend(CHAT)
        for label, source, defn in sample(limit):
            t0 = time.perf_counter()
            result = await document(backend, source, defn, style)
            seconds = time.perf_counter() - t0
            attempted = failed = 0
            if examples:
                root, path = workspace_for(label, source)
                try:
                    result = await add_examples(result, source, root=root, path=path,
                                                settings=settings)
                    if result.examples:
                        path.write_text(apply_insertion(source, result.insertion),
                                        encoding="utf-8")
                        owner = owners.get(label, "")
                        attempted, failed = await doctest_delivered(
                            root, path, f"{owner}.{defn.name}" if owner else defn.name)
                        # a delivered example doctest did not find counts as failed
                        failed += max(0, result.examples - attempted)
                        attempted = max(attempted, result.examples)
                finally:
                    shutil.rmtree(root, ignore_errors=True)
            real = {p.name for p in defn.documented_params}
            delivered = parse_docstring(result.insertion.text.strip().strip('r"')).names
            raw = parse_docstring(result.draft).names
            summary = result.parts.summary if result.summarized else ""
            rows.append(Row(
                name=label, params=len(real), covered=len(real & set(delivered)),
                phantom=len(set(delivered) - real), described=result.described,
                raw_covered=len(real & set(raw)), raw_phantom=len(set(raw) - real),
                summarized=result.summarized,
                similarity=similarity(summary, first_sentence(originals[label])) if summary
                else 0.0, seconds=seconds, tokens=result.generated_tokens,
                examples=result.examples, doctest_attempted=attempted, doctest_failed=failed,
                examples_note=result.examples_note, examples_seconds=result.examples_seconds))
            print(f"  {label:<40} {rows[-1].covered}/{rows[-1].params} params, "
                  f"{result.generated_tokens} tokens, {seconds:.1f}s, {result.examples} "
                  f"examples ({attempted - failed}/{attempted} pass doctest) "
                  f"{result.examples_note[:90]}", file=sys.stderr, flush=True)
    finally:
        await models.close()
    return rows


# ----------------------------------------------------------------------------- doc comments
MAX_FILE_BYTES = 200_000


def sample_comments(lang: str, corpus: Path, limit: int
                    ) -> list[tuple[str, str, Declaration]]:
    """(label, source without the comment, the declaration in it): functions whose comment
    documents parameters, at most two per file, files in sorted order."""
    spec = by_name(lang)
    if spec is None:
        raise SystemExit(f"unknown language {lang}")
    out: list[tuple[str, str, Declaration]] = []
    originals.clear()
    files = sorted(p for ext in spec.extensions for p in corpus.rglob(f"*{ext}")
                   if ".min." not in p.name and not p.name.endswith(".d.ts"))
    per_package: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()  # (file name, function): the same code built twice
    for path in files:
        if len(out) >= limit:
            break
        parts = path.relative_to(corpus).parts
        package = parts[0]  # a package, or a scope's packages together
        if per_package.get(package, 0) >= 2:
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        taken = 0
        for decl in declarations(source, spec):
            if len(out) >= limit or taken >= 2 or per_package.get(package, 0) >= 2:
                break
            if (path.name, decl.name) in seen:
                continue
            comment = decl.comment
            if comment is None or decl.kind == "type" or not decl.params or \
                    source.count("\n", decl.start_byte, decl.end_byte) > MAX_LINES:
                continue
            parsed = comments.parse_comment(comments.comment_contents(comment))
            if lang != "go" and not parsed.has_params:
                continue
            lines = source.split("\n")
            stripped = "\n".join(lines[:comment.start_line] + lines[comment.end_line + 1:])
            again = [d for d in declarations(stripped, spec) if d.name == decl.name
                     and d.comment is None and d.params == decl.params]
            if not again:
                continue
            label = f"{path.relative_to(corpus)}:{decl.name}"
            out.append((label, stripped, again[0]))
            originals[label] = parsed.summary
            taken += 1
            seen.add((path.name, decl.name))
            per_package[package] = per_package.get(package, 0) + 1
    return out


async def run_comments(lang: str, corpus: Path, limit: int) -> list[Row]:
    settings, _ = load_settings()
    models = ModelManager(settings)
    rows: list[Row] = []
    try:
        backend = await models.backend(CHAT)
        for label, source, decl in sample_comments(lang, corpus, limit):
            t0 = time.perf_counter()
            result = await comments.document(backend, source, decl)
            seconds = time.perf_counter() - t0
            real = {p.name for p in decl.params}
            text = result.insertion.text.rstrip("\n").split("\n")
            delivered = comments.parse_comment(
                [c for _p, c in comments.split_comment(text)]).names
            raw = comments.parse_comment(
                [c for _p, c in comments.split_comment(result.draft.split("\n"))]).names
            if lang == "go":  # Go doc comments list no parameters: prose names them
                delivered = raw = list(real)
            summary = result.parts.summary if result.summarized else ""
            rows.append(Row(
                name=label, params=len(real), covered=len(real & set(delivered)),
                phantom=len(set(delivered) - real), described=result.described,
                raw_covered=len(real & set(raw)), raw_phantom=len(set(raw) - real),
                summarized=result.summarized,
                similarity=similarity(summary, first_sentence(originals[label])) if summary
                else 0.0, seconds=seconds, tokens=result.generated_tokens))
            print(f"  {label:<50} {rows[-1].covered}/{rows[-1].params} params, "
                  f"{result.generated_tokens} tokens, {seconds:.1f}s", file=sys.stderr,
                  flush=True)
    finally:
        await models.close()
    return rows


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:5.1f}%" if b else "   n/a"


def report(rows: list[Row], model: str, what: str = "standard-library functions") -> None:
    n = len(rows)
    params = sum(r.params for r in rows)
    print(f"\nGenerate documentation on {n} {what} (model: {model})\n")
    head = f"{'arm':<22} {'coverage':>9} {'phantom':>8} {'described':>10}"
    print(head)
    print("-" * len(head))
    print(f"{'model draft (raw)':<22} {_pct(sum(r.raw_covered for r in rows), params):>9} "
          f"{sum(r.raw_phantom for r in rows):>8} {'':>10}")
    print(f"{'Offpilot (repaired)':<22} {_pct(sum(r.covered for r in rows), params):>9} "
          f"{sum(r.phantom for r in rows):>8} "
          f"{_pct(sum(r.described for r in rows), params):>10}")
    got = [r for r in rows if r.summarized]
    secs = sorted(r.seconds for r in rows)
    print(f"\n  parameters in the sample                  {params:>6}")
    print(f"  functions that got a doc (model summary)  {len(got):>3}/{n:<3} {_pct(len(got), n)}")
    if secs:
        print(f"  seconds per doc (mean / median)           {sum(secs) / n:6.1f} / "
              f"{secs[n // 2]:.1f}")
        print(f"  tokens generated per doc (mean)           "
              f"{sum(r.tokens for r in rows) / n:6.1f}")
    if got:
        print(f"  first-sentence similarity (mean, 0-1)     "
              f"{sum(r.similarity for r in got) / len(got):6.2f}")
    if not any(r.examples or r.examples_note for r in rows):
        print("  examples                                  not generated (--no-examples or "
              "doc comments)")
        return
    attempted = sum(r.doctest_attempted for r in rows)
    passed = attempted - sum(r.doctest_failed for r in rows)
    with_examples = [r for r in rows if r.examples]
    print(f"  functions that got examples               {len(with_examples):>3}/{n:<3} "
          f"{_pct(len(with_examples), n)}")
    print(f"  examples delivered                        {sum(r.examples for r in rows):>6}")
    print(f"  doctest pass rate of delivered examples   {passed:>3}/{attempted:<3} "
          f"{_pct(passed, attempted)}")
    print(f"  seconds recording and checking (mean)     "
          f"{sum(r.examples_seconds for r in rows) / n:6.1f}")
    reasons: dict[str, int] = {}
    for r in rows:
        if not r.examples:
            key = re.sub(r"\(.*", "", r.examples_note.replace("no Examples section: ", ""))
            key = re.sub(r"\d+", "N", key)
            reasons[key.strip()[:70]] = reasons.get(key.strip()[:70], 0) + 1
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print(f"    no examples: {reason:<60} {count:>3}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--style", default=GOOGLE, choices=["google", "numpy", "rest"])
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--no-examples", dest="examples", action="store_false",
                        help="Python: record no examples in the sandbox")
    parser.add_argument("--lang", default="python",
                        choices=["python", "javascript", "typescript", "rust", "go", "java", "c",
                                 "cpp"], help="python: docstrings; the others: doc comments")
    parser.add_argument("--corpus", type=Path, default=REPO / "editor-client" / "node_modules",
                        help="where the doc-commented files are read (not for python)")
    args = parser.parse_args()
    settings, _ = load_settings()
    model = settings.chat_model or settings.model or "embedded default"
    if args.lang == "python":
        rows = asyncio.run(run(args.limit, args.style, args.examples))
        report(rows, model, "functions (standard library and jinja2)")
    else:
        if not args.corpus.is_dir():
            print(f"no corpus at {args.corpus} (run `npm ci` in editor-client/)",
                  file=sys.stderr)
            return 2
        rows = asyncio.run(run_comments(args.lang, args.corpus, args.limit))
        report(rows, model, f"{args.lang} functions from {args.corpus}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=1),
                                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
