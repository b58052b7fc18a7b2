"""``offpilot docs FILE[:SYMBOL] [--style S] [--no-examples] [--dry-run] [--json]``: Generate
documentation from the command line, as the server does it.

``FILE`` alone documents every function, method and class of a file that has no
documentation; ``FILE:SYMBOL`` one of them (``Class.method`` for a method). Python gets
docstrings; JavaScript and TypeScript JSDoc, Rust ``///`` comments, Go doc comments, Java
Javadoc, C and C++ Doxygen comments. The file is rewritten in place (only documentation is
added) unless ``--dry-run``; ``--json`` prints one object per docstring or comment. A Python
docstring gets an Examples section of calls recorded in the test sandbox and checked there with
doctest (not with ``--no-examples`` or ``offpilot.docExamples`` off, not in an untrusted
workspace; ``--dry-run`` runs nothing, so it shows none). Exit status: 0 done, 1 the model
failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from offpilot.config import load_settings
from offpilot.context.languages import LanguageSpec, for_path
from offpilot.engine.backend import ModelError
from offpilot.engine.manager import CHAT, ModelManager
from offpilot.features.docs import comments
from offpilot.features.docs.declarations import LANGUAGES as COMMENT_LANGUAGES
from offpilot.features.docs.declarations import Declaration, declarations
from offpilot.features.docs.examples import add_examples, no_examples
from offpilot.features.docs.generate import (
    DocResult,
    DocsError,
    apply_insertion,
    document,
    find_symbol,
    project_style,
)
from offpilot.features.docs.symbols import Definition, definitions
from offpilot.shared import find_root, setup_logging

DESCRIPTION = __doc__.split("\n\n", 1)[1] if __doc__ else ""


def parse_target(arg: str) -> tuple[Path, str]:
    """``FILE`` or ``FILE:SYMBOL``."""
    path = Path(arg)
    if path.exists() or ":" not in arg:
        return path, ""
    file, _, symbol = arg.rpartition(":")
    return Path(file), symbol


def _targets(source: str, symbol: str) -> list[Definition]:
    if symbol:
        defn = find_symbol(source, symbol)
        if defn.docstring is not None:
            raise DocsError(f"{symbol} already has a docstring")
        return [defn]
    todo = [d for d in definitions(source) if d.docstring is None and d.body_line >= 0
            and not d.body_on_header]
    # a class documents its constructor's parameters; its __init__ then needs no docstring
    classes = [c for c in todo if c.kind == "class" and c.init_params]
    return [d for d in todo if not (d.name == "__init__" and any(
        c.start_byte < d.start_byte <= c.end_byte for c in classes))]


def _comment_targets(source: str, spec: LanguageSpec, symbol: str) -> list[Declaration]:
    if symbol:
        decl = comments.find_symbol(source, spec, symbol)
        if decl.comment is not None:
            raise DocsError(f"{symbol} already has a doc comment")
        return [decl]
    return [d for d in declarations(source, spec) if d.comment is None]


def _as_json(path: Path, result: DocResult | comments.CommentResult) -> dict[str, Any]:
    return {"file": str(path), "symbol": result.definition.name, "line": result.insertion.line + 1,
            "style": result.style, "docstring": result.insertion.text,
            "parameters": [p[0] for p in result.parts.params], "described": result.described,
            "summarized": result.summarized, "seconds": round(result.seconds, 2),
            "examples": getattr(result, "examples", 0),
            "notes": [note] if (note := getattr(result, "examples_note", "")) else []}


async def document_file(path: Path, symbol: str, *, style: str, dry_run: bool, as_json: bool,
                        examples: bool = True, out: TextIO = sys.stdout,
                        err: TextIO = sys.stderr) -> int:
    source = path.read_text(encoding="utf-8")
    spec = for_path(path, source)
    commented = spec is not None and spec.name in COMMENT_LANGUAGES
    targets: list[Any] = _comment_targets(source, spec, symbol) \
        if commented and spec is not None else _targets(source, symbol)
    if commented and spec is not None and style not in ("auto", comments.STYLE_OF[spec.name]):
        raise DocsError(f"{spec.name} is documented in the {comments.STYLE_OF[spec.name]} "
                        f"style, not {style}")
    if not commented and style in comments.COMMENT_STYLES:
        raise DocsError(f"Python is documented with docstrings, not {style}")
    if not targets:
        print(f"offpilot docs: every definition in {path} is documented", file=err)
        return 0
    settings, problems = load_settings()
    for p in problems:
        print(f"offpilot: {p}", file=err)
    root = find_root(path.resolve())
    if commented and spec is not None:
        chosen = comments.STYLE_OF[spec.name]
    else:
        chosen = project_style(source, path.resolve(), root,
                               style if style != "auto" else settings.doc_style)
    examples = examples and settings.doc_examples
    models = ModelManager(settings)
    results: list[DocResult | comments.CommentResult] = []
    try:
        backend = await models.backend(CHAT)
        for defn in targets:
            print(f"[offpilot] documenting {defn.name} ({chosen} style)", file=err, flush=True)
            if commented:
                results.append(await comments.document(backend, source, defn, chosen))
            else:
                result: Any = await document(backend, source, defn, chosen)
                if dry_run and examples:
                    result = no_examples(result, "no Examples section: --dry-run runs nothing")
                elif examples:
                    print(f"[offpilot] recording examples of {defn.name} in the sandbox",
                          file=err, flush=True)
                    result = await add_examples(result, source, root=root, path=path,
                                                settings=settings)
                if result.examples_note:
                    print(f"[offpilot] {defn.name}: {result.examples_note}", file=err)
                results.append(result)
    except ModelError as exc:
        print(f"offpilot docs: {exc}", file=err)
        return 1
    finally:
        await models.close()
    text = source
    for result in sorted(results, key=lambda r: r.insertion.line, reverse=True):
        text = apply_insertion(text, result.insertion)
    if as_json:
        for result in results:
            out.write(json.dumps(_as_json(path, result)) + "\n")
    elif dry_run:
        for result in results:
            out.write(f"# {path}:{result.insertion.line + 1} {result.definition.name}\n"
                      f"{result.insertion.text}\n")
    if not dry_run:
        path.write_text(text, encoding="utf-8")
        print(f"[offpilot] {len(results)} docstring(s) written to {path}", file=err)
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    path, symbol = parse_target(args.target)
    if not path.is_file():
        print(f"offpilot docs: {path}: no such file", file=sys.stderr)
        return 2
    spec = for_path(path)
    if spec is None or (spec.name != "python" and spec.name not in COMMENT_LANGUAGES):
        print(f"offpilot docs: {path}: documentation is generated for Python, JavaScript, "
              "TypeScript, Rust, Go, Java, C and C++ files", file=sys.stderr)
        return 2
    try:
        return asyncio.run(document_file(path, symbol, style=args.style, dry_run=args.dry_run,
                                         as_json=args.json, examples=args.examples))
    except DocsError as exc:
        print(f"offpilot docs: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"offpilot docs: {exc}", file=sys.stderr)
        return 2


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "docs", help="write docstrings or doc comments for a file or one of its definitions",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="FILE[:SYMBOL]",
                   help="a source file; :SYMBOL for one function or class (Class.method)")
    p.add_argument("--style", default="auto",
                   choices=["auto", "google", "numpy", "rest", *comments.COMMENT_STYLES],
                   help="docstring style for Python (default: the one the file or project "
                   "uses); the other languages have one each: jsdoc (JavaScript, TypeScript), "
                   "rustdoc, godoc, javadoc, doxygen (C, C++)")
    p.add_argument("--no-examples", dest="examples", action="store_false",
                   help="no Examples section (Python): record no calls in the sandbox")
    p.add_argument("--dry-run", action="store_true",
                   help="print the docstrings; change nothing and run nothing (no examples)")
    p.add_argument("--json", action="store_true", help="one JSON object per docstring")
    p.add_argument("--log-level", default="warning",
                   choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_docs)
