"""The ``offpilot`` command: serve, complete, demo, config, and each component's subcommands.

Every subcommand lives in this package (``offpilot.cli.<name>``) and is thin: it parses its
arguments, calls the plain-Python functions of its layer and prints. Nothing below imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from pathlib import Path

from offpilot import __version__
from offpilot.shared import setup_logging

log = logging.getLogger("offpilot")

SWITCH_INTERVAL = 0.001  # seconds a thread runs before another may take the GIL (5 ms default)

# Modules that add their own subcommands with ``register(subparsers)``.
SUBCOMMAND_MODULES = (
    "offpilot.cli.context",  # index, context
    "offpilot.cli.models",  # models
    "offpilot.cli.explain",  # explain
    "offpilot.cli.eval",  # eval
    "offpilot.cli.tests",  # tests
    "offpilot.cli.docs",  # docs
    "offpilot.cli.fix",  # fix, explain-error
)


def cmd_serve(args: argparse.Namespace) -> int:
    from offpilot.shared.nodump import forbid_dumps

    # First: no other process of the user may read this one's environment or memory.
    forbid_dumps()
    from offpilot.lsp.server import create_server

    setup_logging(args.log_level, args.log_file)
    server = create_server()
    # Background threads (indexing, documentation checks) hold the GIL for long stretches on a
    # large file; the event loop, which answers the editor, waits for a switch each time it
    # needs the GIL again (in turn with each of them): switch more often.
    sys.setswitchinterval(SWITCH_INTERVAL)
    server.own_process = True  # ends when the editor is gone (offpilot.lsp.lifecycle)
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    # The session is over: leave now, with the child processes, without waiting for
    # threads still at work (a download, an index build).
    server.lifeline.exit_now()
    return 0


def cmd_complete(args: argparse.Namespace) -> int:
    from offpilot.cli.complete import complete_file

    setup_logging(args.log_level)
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
    from offpilot.cli.demo import run_demo

    setup_logging(args.log_level)
    return asyncio.run(run_demo(project=Path(args.project) if args.project else None,
                                keep=args.keep, completions_only=args.completions_only))


def cmd_config(args: argparse.Namespace) -> int:
    """Each setting's effective value outside an editor, and where it came from."""
    import json

    from offpilot.config import ENVIRONMENT, env_name, resolve_settings, wire_name

    resolved = resolve_settings()
    values = {wire_name(name): getattr(resolved.settings, name) for name in resolved.sources}
    sources = {wire_name(name): (f"{ENVIRONMENT} ({env_name(name)})" if source == ENVIRONMENT
                                 else source) for name, source in resolved.sources.items()}
    for problem in resolved.problems:
        print(f"offpilot config: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps({"configFile": str(resolved.config_file), "settings": {
            name: {"value": list(v) if isinstance(v, tuple) else v, "source": sources[name]}
            for name, v in values.items()}}, indent=2))
        return 0
    exists = "" if resolved.config_file.is_file() else " (not created yet)"
    print(f"config file: {resolved.config_file}{exists}")
    rows = [("SETTING", "VALUE", "SOURCE")]
    rows += [(name, json.dumps(list(v) if isinstance(v, tuple) else v), sources[name])
             for name, v in values.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for r in rows:
        print(f"{r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2]}")
    print("precedence: default < config file < environment < editor settings "
          "(initializationOptions, then workspace/configuration)")
    return 0


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
    p.add_argument("--completions-only", action="store_true",
                   help="only the ghost text, no Explain or test generation (a quick check)")
    p.add_argument("--log-level", default="warning",
                   choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("config", help="show each setting's value and where it comes from")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_config)

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
