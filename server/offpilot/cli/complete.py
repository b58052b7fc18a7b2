"""``offpilot complete FILE LINE COL``: one completion from the command line, through the same
pipeline the server uses."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from offpilot.config import Settings, load_settings
from offpilot.context.languages import for_path
from offpilot.engine.backend import ModelError, Snippet
from offpilot.engine.manager import COMPLETION, ModelManager
from offpilot.features.completion import Completer
from offpilot.shared import find_root, offset_of


def language_id_for(path: Path) -> str:
    """The LSP languageId of ``path``, from the language registry; "" when it has none."""
    spec = for_path(path)
    return spec.language_ids[0] if spec is not None else ""


async def complete_async(path: Path, line: int, col: int, *, settings: Settings,
                         use_context: bool = True, show_prompt: bool = False) -> str | None:
    import errno
    import os

    from offpilot.context.exclude import FileGuard

    given = os.path.abspath(path)
    try:
        path = path.resolve()
    except RuntimeError as exc:  # a symlink loop (Python before 3.13 raises this)
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), given) from exc
    root = find_root(path)
    secret = FileGuard([find_root(Path(given))], settings.exclude_files).private(given)
    if secret is not None:
        print(f"offpilot: no completion: {secret}; its text is never sent to a model",
              file=sys.stderr)
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    offset = offset_of(text, line, col)
    models = ModelManager(settings)
    engine = None
    uri = path.as_uri()
    language = language_id_for(path)
    if use_context and settings.index_enabled and settings.context_budget > 0:
        try:
            from offpilot.context.engine import ContextEngine

            engine = ContextEngine([root], settings)
            engine.start()
            deadline = time.monotonic() + 120
            while not engine.ready and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            engine.documents.open(uri, language, 1, text)
        except ImportError:
            engine = None

    def retrieve(u: str, t: str, o: int, budget: int) -> list[Snippet]:
        return list(engine.retrieve(u, o, budget).snippets) if engine is not None else []

    completer = Completer(lambda: models.backend(COMPLETION), settings,
                          context=retrieve if engine is not None else None)
    try:
        outcome = await completer.complete(uri, text, offset, language=language,
                                           path=path.relative_to(root).as_posix())
    except ModelError as exc:
        print(f"offpilot: {exc}", file=sys.stderr)
        return None
    finally:
        await models.close()
        if engine is not None:
            engine.stop()
    if show_prompt and outcome.request is not None:
        r = outcome.request
        info = {"context": [{"path": s.path, "lines": [s.start_line, s.end_line],
                             "kind": s.kind} for s in r.context],
                "prefix_chars": len(r.prefix) + len(r.typed), "suffix_chars": len(r.suffix),
                "single_line": r.stop_at_newline, "ms": round(outcome.ms, 1)}
        if outcome.result is not None:
            info |= {"prompt_tokens": outcome.result.prompt_tokens,
                     "raw": outcome.result.text}
        print(json.dumps(info, indent=1), file=sys.stderr)
    return outcome.items[0] if outcome.items else ""


def complete_file(path: Path, line: int, col: int, *, use_context: bool = True,
                  show_prompt: bool = False) -> str | None:
    settings, problems = load_settings()
    for p in problems:
        print(f"offpilot: {p}", file=sys.stderr)
    # The command line has no editor typing ahead of it: no debounce.
    from dataclasses import replace

    settings = replace(settings, debounce_ms=0)
    return asyncio.run(complete_async(path, line, col, settings=settings,
                                      use_context=use_context, show_prompt=show_prompt))
