"""``offpilot demo``: Offpilot's main job on the example project, exactly as an editor does it.

Starts ``offpilot serve`` as a subprocess, speaks LSP to it over stdio, types into files of the
example project, and prints what the user would see: ghost-text completions, an explanation and
generated tests. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from offpilot.shared.resources import demo_project_dir


@dataclass(frozen=True)
class TypingScenario:
    """Open ``path`` with everything after ``marker`` (up to ``resume``) not yet typed."""

    path: str
    marker: str  # the cursor goes right after this text
    resume: str  # the text from here on stays after the cursor (the suffix)
    title: str


SCENARIOS = (
    TypingScenario("shop/pricing.py", "    for sku, quantity in cart.lines.items():\n        ",
                   "    return total\n", "finish a loop body"),
    TypingScenario("shop/text.py", "    if len(text) <= limit:\n        return ",
                   "    return text[: limit - 1]", "complete a return value"),
    TypingScenario("shop/models.py", "    def count(self) -> int:\n        ", "",
                   "write a method body"),
)


def _color(code: str) -> Callable[[str], str]:
    use = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return (lambda s: f"\x1b[{code}m{s}\x1b[0m") if use else (lambda s: s)


dim, ghost, bold = _color("2"), _color("36"), _color("1")


def say(message: str) -> None:
    print(f"[offpilot demo] {message}", file=sys.stderr, flush=True)


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP text edits (UTF-16 positions) to ``text``."""
    lines = text.split("\n")

    def offset(pos: types.Position) -> int:
        line = min(pos.line, len(lines) - 1)
        base = sum(len(ln) + 1 for ln in lines[:line])
        units = lines[line].encode("utf-16-le")[: pos.character * 2].decode("utf-16-le",
                                                                             "ignore")
        return base + len(units)

    spans = sorted(((offset(e.range.start), offset(e.range.end), e.new_text) for e in edits),
                   reverse=True)
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


class DemoClient(LanguageClient):
    def __init__(self) -> None:
        super().__init__("offpilot-demo", "1")
        self.streams: dict[str, list[str]] = {}
        self.on_delta: Callable[[str], None] | None = None
        self.messages: list[str] = []


def make_client(root: Path) -> DemoClient:
    client = DemoClient()

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def configuration(params: types.ConfigurationParams) -> list[Any]:
        return [{} for _ in params.items]

    @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def progress_create(params: types.WorkDoneProgressCreateParams) -> None:
        return None

    @client.feature(types.PROGRESS)
    def progress(params: types.ProgressParams) -> None:
        value = params.value
        message = getattr(value, "message", None) or (
            value.get("message") if isinstance(value, dict) else None)
        title = getattr(value, "title", None) or (
            value.get("title") if isinstance(value, dict) else None)
        if title or message:
            say(" ".join(x for x in (title, message) if x))

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def show_message(params: types.ShowMessageParams) -> None:
        client.messages.append(params.message)
        say(f"server says: {params.message}")

    @client.feature("offpilot/stream")
    def stream(params: Any) -> None:
        delta = getattr(params, "delta", None)
        if delta is None and isinstance(params, dict):
            delta = params.get("delta")
        if delta and client.on_delta is not None:
            client.on_delta(delta)

    @client.feature("offpilot/status")
    def status(params: Any) -> None:
        return None

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        try:
            apply_workspace_edit(root, params.edit)
        except Exception as exc:  # report, as an editor would
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason=str(exc))
        return types.ApplyWorkspaceEditResult(applied=True)

    return client


def _uri_path(root: Path, uri: str) -> Path:
    from pygls.uris import to_fs_path

    path = Path(to_fs_path(uri) or "").resolve()
    if root.resolve() not in path.parents and path != root.resolve():
        raise ValueError(f"edit outside the project refused: {path}")
    return path


def apply_workspace_edit(root: Path, edit: types.WorkspaceEdit) -> None:
    """Write a workspace edit to disk inside ``root`` (what an editor does with applyEdit)."""
    for change in edit.document_changes or []:
        if isinstance(change, types.CreateFile):
            p = _uri_path(root, change.uri)
            p.parent.mkdir(parents=True, exist_ok=True)
            if not p.exists():
                p.write_text("", encoding="utf-8")
        elif isinstance(change, types.TextDocumentEdit):
            p = _uri_path(root, change.text_document.uri)
            text = p.read_text(encoding="utf-8") if p.exists() else ""
            edits = [e for e in change.edits if isinstance(e, types.TextEdit)]
            p.write_text(apply_text_edits(text, edits), encoding="utf-8")
    for uri, uri_edits in (edit.changes or {}).items():
        p = _uri_path(root, uri)
        text = p.read_text(encoding="utf-8") if p.exists() else ""
        p.write_text(apply_text_edits(text, list(uri_edits)), encoding="utf-8")


def _position(text: str, offset: int) -> types.Position:
    before = text[:offset]
    line = before.count("\n")
    col = len(before[before.rfind("\n") + 1:].encode("utf-16-le")) // 2
    return types.Position(line=line, character=col)


async def _drain(stream: asyncio.StreamReader | None, keep: list[str]) -> None:
    if stream is None:
        return
    while True:
        line = await stream.readline()
        if not line:
            return
        keep.append(line.decode("utf-8", "replace").rstrip())
        del keep[:-40]
        if os.environ.get("OFFPILOT_DEMO_VERBOSE"):
            print(keep[-1], file=sys.stderr)


async def _complete(client: DemoClient, root: Path, sc: TypingScenario) -> bool:
    full = (root / sc.path).read_text(encoding="utf-8")
    cut = full.find(sc.marker)
    if cut < 0:
        say(f"scenario {sc.title}: marker not found, skipped")
        return False
    cursor = cut + len(sc.marker)
    rest = full.find(sc.resume, cursor) if sc.resume else len(full)
    text = full[:cursor] + (full[rest:] if rest >= 0 else "")
    uri = (root / sc.path).as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                             text=text)))
    pos = _position(text, cursor)
    t0 = time.perf_counter()
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=pos,
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
    ms = (time.perf_counter() - t0) * 1000
    items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
    print(bold(f"\n== Inline completion: {sc.title} ({sc.path}:{pos.line + 1}:"
               f"{pos.character + 1}, {ms:.0f} ms) =="))
    head = text[:cursor].split("\n")
    print(dim("\n".join(head[-4:-1])))
    suggestion = str(items[0].insert_text) if items else ""
    last = head[-1]
    print(dim(last) + ghost(suggestion or "(no suggestion)"))
    tail = text[cursor:].split("\n")[1:3]
    if tail:
        print(dim("\n".join(tail)))
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    return bool(suggestion)


def _function_range(text: str, name: str) -> types.Range | None:
    start = text.find(f"def {name}(")
    if start < 0:
        return None
    start = text.rfind("\n", 0, start) + 1
    nxt = text.find("\n\n\n", start)
    end = len(text.rstrip("\n")) if nxt < 0 else nxt
    return types.Range(start=_position(text, start), end=_position(text, end))


async def _explain(client: DemoClient, root: Path, path: str, name: str) -> bool:
    text = (root / path).read_text(encoding="utf-8")
    rng = _function_range(text, name)
    uri = (root / path).as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                             text=text)))
    print(bold(f"\n== Explain this code: {name} ({path}) =="))
    streamed: list[str] = []

    def on_delta(delta: str) -> None:
        streamed.append(delta)
        sys.stdout.write(delta)
        sys.stdout.flush()

    client.on_delta = on_delta
    try:
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="offpilot.explain", arguments=[{"uri": uri, "range": _to_json(rng)}],
            work_done_token="demo-explain"))
    finally:
        client.on_delta = None
    markdown = _get(result, "markdown") or ""
    if not streamed:
        print(markdown)
    print()
    return bool(markdown.strip())


async def _tests(client: DemoClient, root: Path, path: str, name: str) -> bool:
    text = (root / path).read_text(encoding="utf-8")
    rng = _function_range(text, name)
    uri = (root / path).as_uri()
    print(bold(f"\n== Generate unit tests: {name} ({path}) =="))
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="offpilot.generateTests",
        arguments=[{"uri": uri, "range": _to_json(rng), "scope": "symbol"}],
        work_done_token="demo-tests"))
    print(_get(result, "summary") or "")
    test_uri = _get(result, "testFile")
    if test_uri:
        p = _uri_path(root, test_uri)
        if p.exists():
            print(bold(f"-- {p.relative_to(root)} --"))
            print(p.read_text(encoding="utf-8"))
    return bool(_get(result, "kept"))


def _to_json(rng: types.Range | None) -> Any:
    if rng is None:
        return None
    return {"start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character}}


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


async def run_demo(project: Path | None = None, keep: bool = False,
                   completions_only: bool = False) -> int:
    tmp = None
    if project is None:
        tmp = Path(tempfile.mkdtemp(prefix="offpilot-demo-"))
        project = tmp / "demo-project"
        shutil.copytree(demo_project_dir(), project,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    root = project.resolve()
    say(f"project: {root}")
    say("starting `offpilot serve` (the language server) over stdio")
    client = make_client(root)
    server_log: list[str] = []
    await client.start_io(sys.executable, "-m", "offpilot", "serve")
    drain = asyncio.create_task(_drain(client._server.stderr if client._server else None,
                                       server_log))
    ok = True
    try:
        init = await client.initialize_async(types.InitializeParams(
            process_id=os.getpid(), root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=True),
                workspace=types.WorkspaceClientCapabilities(
                    apply_edit=True, configuration=True,
                    workspace_edit=types.WorkspaceEditClientCapabilities(
                        document_changes=True,
                        resource_operations=[types.ResourceOperationKind.Create])))))
        client.initialized(types.InitializedParams())
        caps = init.capabilities
        commands = set(caps.execute_command_provider.commands
                       if caps.execute_command_provider else [])
        say(f"server {init.server_info.name if init.server_info else ''} ready; "
            f"inline completions: {'yes' if caps.inline_completion_provider else 'no'}; "
            f"commands: {', '.join(sorted(commands)) or 'none'}")
        say("loading the model (first request)")
        completed = [await _complete(client, root, sc) for sc in SCENARIOS]
        ok = any(completed)
        if completions_only:
            commands = set()
        if "offpilot.explain" in commands:
            ok = await _explain(client, root, "shop/pricing.py", "cart_total") and ok
        if "offpilot.generateTests" in commands:
            ok = await _tests(client, root, "shop/text.py", "slugify") and ok
        await client.shutdown_async(None)
        client.exit(None)
    except Exception as exc:
        ok = False
        say(f"failed: {exc}")
        if server_log:
            say("last server log lines:\n" + "\n".join(server_log[-20:]))
    finally:
        try:
            await asyncio.wait_for(client.stop(), timeout=10)
        except Exception as exc:  # the server may already be gone; the demo's result stands
            say(f"stopping the server: {type(exc).__name__}: {exc}")
        drain.cancel()
        if tmp is not None and not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None:
            say(f"kept {root}")
    say("done" if ok else "finished with problems")
    return 0 if ok else 1
