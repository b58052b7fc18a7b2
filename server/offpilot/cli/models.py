"""``offpilot models ...``: list, pull, use, path and remove models.

Results go to stdout (one path or a table); progress and messages go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from offpilot.config import WIRE_TO_FIELD, env_name
from offpilot.engine import models
from offpilot.engine.backend import ModelError


def _size(n: int | None) -> str:
    if not n:
        return "?"
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


class TerminalProgress:
    """A one-line progress bar on stderr (a plain line per 10% when it is not a terminal)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.first: int | None = None
        self.last_decile = -1
        self.last_draw = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = done
        speed = (done - self.first) / max(now - self.started, 1e-6)
        if total:
            frac = min(done / total, 1.0)
            line = (f"{self.label}: {frac * 100:5.1f}% {_size(done)} / {_size(total)} "
                    f"{speed / 1e6:6.1f} MB/s")
        else:
            frac = 0.0
            line = f"{self.label}: {_size(done)} {speed / 1e6:6.1f} MB/s"
        if self.tty:
            if now - self.last_draw >= 0.1 or (total and done >= total):
                width = 24
                bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
                self.stream.write(f"\r[{bar}] {line}\x1b[K")
                self.stream.flush()
                self.last_draw = now
        else:
            decile = int(frac * 10)
            if decile != self.last_decile:
                self.stream.write(line + "\n")
                self.stream.flush()
                self.last_decile = decile

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def cmd_list(args: argparse.Namespace) -> int:
    rows: list[tuple[str, ...]] = [("NAME", "INSTALLED", "SIZE", "QUANT", "ROLES", "PROMPT",
                                    "LICENSE")]
    for e in models.list_models():
        p = e.profile
        installed = "yes" if e.installed else (f"partial {_size(e.partial)}" if e.partial
                                               else "no")
        rows.append((e.name, installed, _size(e.size), p.quantization if p else "",
                     ",".join(p.roles) if p else "", p.prompt_mode if p else "",
                     p.license if p else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if args.verbose:
        from offpilot.engine.hardware import hardware_summary

        hw: dict[str, Any] = hardware_summary()
        print(f"\nstore: {models.models_dir()}\nconfig: {models.config_path()}")
        print(f"cpu: {hw['physical_cores']} physical cores ({hw['logical_cpus']} logical); "
              f"memory: {_size(hw['total_memory'])} total, {_size(hw['available_memory'])} "
              f"available; GPU offload: {'yes' if hw['gpu_offload'] else 'no'} "
              f"({hw['gpu_detail']})")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    bar = TerminalProgress(args.name)
    try:
        path = models.pull(args.name, progress=bar)
    except ModelError as exc:
        bar.finish()
        print(f"offpilot models pull: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.finish()
        print("offpilot models pull: interrupted; run it again to resume.", file=sys.stderr)
        return 130
    bar.finish()
    print(path)
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    try:
        cfg = models.use(args.name, args.role)
    except ModelError as exc:
        print(f"offpilot models use: {exc}", file=sys.stderr)
        return 1
    print(f"{args.role} model set to {args.name} in {cfg}", file=sys.stderr)
    override = env_name(WIRE_TO_FIELD[models.ROLE_SETTINGS[args.role]])
    if os.environ.get(override, "").strip():
        print(f"note: {override} is set in this environment and takes precedence over the "
              "config file (see `offpilot config`)", file=sys.stderr)
    if not models.is_installed(args.name):
        print(f"it is not downloaded yet: run `offpilot models pull {args.name}`",
              file=sys.stderr)
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    try:
        p = models.path(args.name)
    except ModelError as exc:
        print(f"offpilot models path: {exc}", file=sys.stderr)
        return 1
    print(p)
    if not p.is_file():
        print(f"(not there yet: run `offpilot models pull {args.name}`)", file=sys.stderr)
        return 1
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    try:
        removed = models.remove(args.name)
    except ModelError as exc:
        print(f"offpilot models remove: {exc}", file=sys.stderr)
        return 1
    if not removed:
        print(f"{args.name} was not downloaded; nothing to remove.", file=sys.stderr)
        return 0
    for p in removed:
        print(f"removed {p}", file=sys.stderr)
    return 0


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.0f} MB"


def cmd_status(args: argparse.Namespace) -> int:
    """This installation's model service; the services of other installations are listed
    from their records (see :func:`offpilot.engine.shared.other_services`)."""
    import json

    from offpilot.engine import shared

    if not shared.available():
        print("the shared model service is not available on this platform", file=sys.stderr)
        return 1
    report = shared.service_report()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if report["running"] else 1
    st = report.get("status")
    if not report["running"] or not isinstance(st, dict):
        print(report.get("message", "no shared model service is running"))
    else:
        _print_status(st)
    others = report.get("others") or []
    if others:
        print(f"services of other Offpilot installations ({len(others)}; not asked, as their "
              "records say):")
        for o in others:
            who = f"pid {o['pid']}" if o.get("pid") else o.get("state", "unknown")
            what = ", ".join(x for x in (f"version {o['version']}" if o.get("version") else "",
                                         o.get("package") or "") if x)
            print(f"  {who}  {o['socket']}" + (f"  ({what})" if what else ""))
    return 0 if report["running"] else 1


def _print_status(st: dict[str, Any]) -> None:
    print(f"service: pid {st['pid']}, up {st['uptime_s']:.0f} s, {_mb(st['rss_total'])} in all "
          f"(service {_mb(st['rss'])}), exits {st['idle_exit_s']:.0f} s after the last client")
    inst = st.get("installation") or {}
    if inst:
        print(f"installation: version {inst.get('version', '?')}, {inst.get('package', '?')} "
              f"(Python {inst.get('python', '?')}, {inst.get('prefix', '?')})")
    if st.get("transport") == "tcp":
        print(f"endpoint: {st.get('address', '?')} (loopback TCP; port and token in "
              f"{st['socket']})")
    else:
        print(f"socket: {st['socket']}")
    print(f"models ({len(st['models'])}):")
    for m in st["models"]:
        where = f"worker pid {m['worker_pid']}" if m["worker_pid"] else f"not running {m['error']}"
        print(f"  {Path(m['path']).name}  ctx {m['n_ctx']}, {m['threads']} threads, "
              f"gpu layers {m['gpu_layers']}: {'loaded' if m['loaded'] else 'not loaded'}, "
              f"{where}, {_mb(m['rss'])}, {m['clients']} clients, queue {m['queued']}")
    print(f"clients ({len(st['clients'])}):")
    for c in st["clients"]:
        hit = "-" if c["cache_hit_rate"] is None else f"{c['cache_hit_rate'] * 100:.0f}%"
        print(f"  pid {c['pid']}  slot {c['slot']}  {Path(c['model'] or '?').name}  "
              f"{c['requests']} requests, {c['in_flight']} in flight, cache hits {hit} "
              f"({c['prompt_tokens_evaluated']} of {c['prompt_tokens']} prompt tokens evaluated)")


def register(subparsers: Any) -> None:
    """Add ``models`` and its subcommands to the ``offpilot`` command line."""
    p = subparsers.add_parser("models", help="list, download and choose models")
    sub = p.add_subparsers(dest="models_command", required=True)

    q = sub.add_parser("list", help="known profiles and downloaded models")
    q.add_argument("-v", "--verbose", action="store_true",
                   help="also show the store, config file and hardware")
    q.set_defaults(func=cmd_list)

    q = sub.add_parser("pull", help="download a profile or owner/repo/file.gguf (resumable)")
    q.add_argument("name")
    q.set_defaults(func=cmd_pull)

    q = sub.add_parser("use", help="make a model the default in the user config file")
    q.add_argument("name", help="profile, .gguf path or owner/repo/file.gguf")
    q.add_argument("--role", choices=list(models.ROLE_SETTINGS), default=models.COMPLETION,
                   help="completion (ghost text) or chat (Explain, tests); default completion")
    q.set_defaults(func=cmd_use)

    q = sub.add_parser("path", help="print where a model's file is")
    q.add_argument("name")
    q.set_defaults(func=cmd_path)

    q = sub.add_parser("status", help="the shared model service of this installation: models, "
                       "clients, memory, queue; and other installations' services")
    q.add_argument("--json", action="store_true",
                   help="print the report as JSON (what the editor's status menu shows)")
    q.set_defaults(func=cmd_status)

    q = sub.add_parser("remove", help="delete a downloaded model")
    q.add_argument("name")
    q.set_defaults(func=cmd_remove)
