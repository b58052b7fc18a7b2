"""``offpilot docs FILE[:SYMBOL] [--style S] [--dry-run] [--json]``: Generate documentation from
the command line, as the server does it.

``FILE`` alone documents every function, method and class of a Python file that has no
docstring; ``FILE:SYMBOL`` one of them (``Class.method`` for a method). The file is rewritten in
place (only docstrings are added) unless ``--dry-run``; ``--json`` prints one object per
docstring. Exit status: 0 done, 1 the model failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from offpilot.config import load_settings
from offpilot.engine.backend import ModelError
from offpilot.engine.manager import CHAT, ModelManager
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


def _as_json(path: Path, result: DocResult) -> dict[str, Any]:
    return {"file": str(path), "symbol": result.definition.name, "line": result.insertion.line + 1,
            "style": result.style, "docstring": result.insertion.text,
            "parameters": [p[0] for p in result.parts.params], "described": result.described,
            "summarized": result.summarized, "seconds": round(result.seconds, 2)}


async def document_file(path: Path, symbol: str, *, style: str, dry_run: bool, as_json: bool,
                        out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    source = path.read_text(encoding="utf-8")
    targets = _targets(source, symbol)
    if not targets:
        print(f"offpilot docs: every definition in {path} has a docstring", file=err)
        return 0
    settings, problems = load_settings()
    for p in problems:
        print(f"offpilot: {p}", file=err)
    chosen = project_style(source, path.resolve(), find_root(path.resolve()),
                           style if style != "auto" else settings.doc_style)
    models = ModelManager(settings)
    results: list[DocResult] = []
    try:
        backend = await models.backend(CHAT)
        for defn in targets:
            print(f"[offpilot] documenting {defn.name} ({chosen} style)", file=err, flush=True)
            results.append(await document(backend, source, defn, chosen))
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
    if path.suffix not in (".py", ".pyi"):
        print(f"offpilot docs: {path}: documentation is generated for Python files",
              file=sys.stderr)
        return 2
    try:
        return asyncio.run(document_file(path, symbol, style=args.style, dry_run=args.dry_run,
                                         as_json=args.json))
    except DocsError as exc:
        print(f"offpilot docs: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"offpilot docs: {exc}", file=sys.stderr)
        return 2


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "docs", help="write docstrings for a Python file or one of its definitions",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="FILE[:SYMBOL]",
                   help="a Python file; :SYMBOL for one function or class (Class.method)")
    p.add_argument("--style", default="auto", choices=["auto", "google", "numpy", "rest"],
                   help="docstring style (default: the one the file or project uses)")
    p.add_argument("--dry-run", action="store_true", help="print the docstrings; change nothing")
    p.add_argument("--json", action="store_true", help="one JSON object per docstring")
    p.add_argument("--log-level", default="warning",
                   choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_docs)
