"""The ``offpilot`` command: serve, complete, demo, and the subcommands of each component."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from pathlib import Path

from offpilot import __version__

log = logging.getLogger("offpilot")

# Modules that add their own subcommands with ``register(subparsers)``.
SUBCOMMAND_MODULES = (
    "offpilot.context.commands",  # index, context
    "offpilot.engine.commands",  # models
    "offpilot.features.commands",  # explain
    "offpilot.features.testgen.commands",  # tests
    "offpilot.features.docs.commands",  # docs
)


def _setup_logging(level: str, log_file: str | None = None) -> None:
    handler: logging.Handler = (logging.FileHandler(log_file) if log_file
                                else logging.StreamHandler(sys.stderr))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("offpilot").setLevel(level.upper())


def cmd_serve(args: argparse.Namespace) -> int:
    from offpilot.lsp.server import create_server

    _setup_logging(args.log_level, args.log_file)
    server = create_server()
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return 0


def find_root(path: Path) -> Path:
    """The project folder of ``path``: the nearest parent with a VCS or project marker."""
    markers = (".git", "pyproject.toml", "package.json", "go.mod", "Cargo.toml", "pom.xml",
               "setup.py", ".hg")
    for parent in [path.parent, *path.parent.parents]:
        if any((parent / m).exists() for m in markers):
            return parent
    return path.parent


def cmd_complete(args: argparse.Namespace) -> int:
    from offpilot.features.oneshot import complete_file

    _setup_logging(args.log_level)
    try:
        text = complete_file(Path(args.file), args.line, args.col,
                             use_context=not args.no_context, show_prompt=args.show_prompt)
    except (OSError, ValueError) as exc:
        print(f"offpilot complete: {exc}", file=sys.stderr)
        return 2
    if text is None:
        return 1
    sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from offpilot.demo import run_demo

    _setup_logging(args.log_level)
    return asyncio.run(run_demo(project=Path(args.project) if args.project else None,
                                keep=args.keep))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="offpilot", description="Offline AI pair programmer (a language server).")
    parser.add_argument("--version", action="version", version=f"offpilot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the language server (stdio by default)")
    p.add_argument("--stdio", action="store_true", help="talk LSP over stdio (the default)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead (for debugging)")
    p.add_argument("--log-file", help="write the server log here instead of stderr")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("complete", help="print the inline completion at FILE:LINE:COL")
    p.add_argument("file")
    p.add_argument("line", type=int, help="1-based line")
    p.add_argument("col", type=int, help="1-based column (characters)")
    p.add_argument("--no-context", action="store_true", help="no repository context")
    p.add_argument("--show-prompt", action="store_true",
                   help="print the prompt parts and statistics to stderr")
    p.add_argument("--log-level", default="warning",
                   choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_complete)

    p = sub.add_parser("demo", help="run Offpilot on the example project, as an editor would")
    p.add_argument("--project", help="project folder (default: the bundled example, copied)")
    p.add_argument("--keep", action="store_true", help="keep the temporary copy")
    p.add_argument("--log-level", default="warning",
                   choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_demo)

    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            log.debug("subcommands of %s unavailable: %s", name, exc)
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
