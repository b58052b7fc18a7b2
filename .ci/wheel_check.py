"""Checks an installed Offpilot from outside its checkout, the way a user's machine runs it.

Run by .ci/test-wheel with the installed environment's Python (it has pygls and lsprotocol):

    wheel_check.py context OFFPILOT REFERENCE FIXTURES  # same snippets JSON as the checkout's
    wheel_check.py serve OFFPILOT MODEL                  # an inline completion over stdio, by MODEL

Each check prints what it saw and exits non-zero on the first difference.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# (file in the fixture repository, text the cursor goes right after): a call of a definition
# that lives in another file, one per language.
CONTEXT_CASES = (
    ("python/app/main.py", "return shout("),
    ("typescript/src/app.ts", "return clamp("),
    ("javascript/src/index.js", "formatPrice("),
    ("go/main.go", "mathx.Add("),
    ("rust/src/main.rs", "area("),
    ("c/src/main.c", "gcd("),
    ("cpp/src/main.cpp", "geo::circle_area("),
    ("java/src/main/java/com/acme/App.java", "Strings.repeat("),
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFPILOT_")}
    env.update(extra)
    return env


def line_col(text: str, marker: str) -> tuple[int, int]:
    """1-based line and column right after ``marker``."""
    i = text.index(marker) + len(marker)
    before = text[:i]
    return before.count("\n") + 1, i - (before.rfind("\n") + 1) + 1


def context_json(offpilot: str, path: Path, marker: str, root: Path, cache: Path
                 ) -> dict[str, Any]:
    line, col = line_col(path.read_text(encoding="utf-8"), marker)
    out = subprocess.run([offpilot, "context", str(path), str(line), str(col), "--budget",
                          "2048", "--root", str(root), "--json"], capture_output=True,
                         text=True, timeout=300, env=clean_env(XDG_CACHE_HOME=str(cache)))
    if out.returncode != 0:
        sys.exit(f"{offpilot} context {path} failed ({out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout)


def check_context(offpilot: str, reference: str, fixtures: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for rel, marker in CONTEXT_CASES:
            language = rel.split("/")[0]
            root, path, caches = fixtures / language, fixtures / rel, Path(tmp) / language
            # separate index caches: a shared one would hide queries missing from the wheel
            got = context_json(offpilot, path, marker, root, caches / "installed")["snippets"]
            want = context_json(reference, path, marker, root, caches / "checkout")["snippets"]
            if not want:
                sys.exit(f"{rel}: the checkout gives no context here; pick another place")
            if got != want:
                sys.exit(f"{rel}: the installed Offpilot's context differs from the checkout's:"
                         f"\ninstalled: {json.dumps(got, indent=1)}\n"
                         f"checkout:  {json.dumps(want, indent=1)}")
            print(f"context {rel}: {len(got)} snippets, same as the checkout "
                  f"({', '.join(s['path'] for s in got)})")


async def check_serve(offpilot: str, model: str) -> None:
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("wheel-check", "1")
    for method in ("offpilot/status", "window/showMessage", "window/logMessage",
                   types.WINDOW_WORK_DONE_PROGRESS_CREATE, types.PROGRESS):
        client.feature(method)(lambda params: None)
    text = ('def area_of_square(side: float) -> float:\n'
            '    """Area of a square."""\n    return \n')
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        doc = root / "shapes.py"
        doc.write_text(text, encoding="utf-8")
        await client.start_io(offpilot, "serve", env=clean_env(OFFPILOT_THREADS="2",
                                                               OFFPILOT_CONTEXT_SIZE="1024"))
        try:
            await asyncio.wait_for(client.initialize_async(types.InitializeParams(
                capabilities=types.ClientCapabilities(), root_uri=root.as_uri())), 60)
            client.initialized(types.InitializedParams())
            client.text_document_did_open(types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=doc.as_uri(), language_id="python",
                                                     version=1, text=text)))
            line, col = line_col(text, "    return ")
            result = await asyncio.wait_for(client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=doc.as_uri()),
                    position=types.Position(line=line - 1, character=col - 1),
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Invoked))), 240)
            items = result.items if result is not None else []
            if not items or not str(items[0].insert_text).strip():
                sys.exit(f"serve: no inline completion ({result!r})")
            stats: Any = await client.protocol.send_request_async("offpilot/stats", None)
            completion = stats["models"]["completion"] if isinstance(stats, dict) else \
                stats.models.completion
            path = completion["path"] if isinstance(completion, dict) else completion.path
            if Path(path) != Path(model):
                sys.exit(f"serve: completed with {path}, not the configured {model}")
            print(f"serve: inline completion {items[0].insert_text!r} by {path}")
            await client.shutdown_async(None)
            client.exit(None)
        finally:
            await client.stop()


def main(argv: list[str]) -> None:
    if len(argv) == 4 and argv[0] == "context":
        check_context(argv[1], argv[2], Path(argv[3]).resolve())
    elif len(argv) == 3 and argv[0] == "serve":
        asyncio.run(check_serve(argv[1], argv[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
