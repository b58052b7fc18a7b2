"""A scripted stand-in for `offpilot serve`, for the client-side end-to-end test.

It speaks the same protocol as the real server (offpilot/status, offpilot/stream with work-done
progress, offpilot.explain, offpilot.generateTests writing the test file through
workspace/applyEdit, offpilot.fixProblem sending its edit for confirmation, code actions,
offpilot/stats) with fixed text and timing, so the extension's Explain panel, Cancel, test
generation and fix preview UI are tested independently of the model. With FAKE_FIX_PROBLEM=1
(the VS Code e2e) it also offers Fix this problem, whose "fix" is scripted, not checked: ":"
appended to the diagnostic's line (that e2e's "expected ':'" fixture).
Run: python fake_server.py  (LSP over stdio; needs pygls and lsprotocol).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import from_fs_path, to_fs_path

EXPLAIN = "offpilot.explain"
GENERATE_TESTS = "offpilot.generateTests"
FIX_PROBLEM = "offpilot.fixProblem"
FIX_ANNOTATION = "offpilot.verifiedFix"
STREAM_DELAY = float(os.environ.get("FAKE_STREAM_DELAY", "0.15"))
FIXES = os.environ.get("FAKE_FIX_PROBLEM") == "1"
EXPLANATION = [
    "## `apply_discount`\n\n", "Returns the price ", "after a **percentage discount**, ",
    "rounded to the nearest cent.\n\n", "- `price_cents`: the price in cents\n",
    "- `percent`: between 0 and 100, else `ValueError`\n\n", "```python\n",
    "apply_discount(1000, 15)  # 850\n", "```\n", "<b>not bold</b> ",
    "![leak](http://127.0.0.1:9/leak.png) [docs](https://example.com/docs) ", "FAKE-EXPLAIN-END\n",
]
TESTS = '''from shop.pricing import apply_discount


def test_apply_discount_fifteen_percent():
    assert apply_discount(1000, 15) == 850
'''


class FakeProtocol(LanguageServerProtocol):
    """Remembers the work-done token of each command (pygls passes commands only arguments)."""

    def _handle_request(self, msg_id: Any, method_name: str, params: Any) -> Any:
        if method_name == types.WORKSPACE_EXECUTE_COMMAND:
            self._server.tokens[params.command] = params.work_done_token  # type: ignore[attr-defined]
        return super()._handle_request(msg_id, method_name, params)


class FakeServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("offpilot-fake", "0.0.1", protocol_cls=FakeProtocol)
        self.tokens: dict[str, Any] = {}
        self.requests = 0
        self.init_options: Any = None
        self.config: Any = None

    def status(self, state: str, message: str = "") -> None:
        self.protocol.notify("offpilot/status", {"state": state, "model": "fake-model",
                                                 "message": message})


server = FakeServer()


@server.feature(types.INITIALIZE)
def initialize(ls: FakeServer, params: types.InitializeParams) -> None:
    ls.init_options = params.initialization_options


async def pull_configuration(ls: FakeServer) -> None:
    result = await ls.workspace_configuration_async(types.ConfigurationParams(
        items=[types.ConfigurationItem(section="offpilot")]))
    ls.config = result[0] if result else None


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(ls: FakeServer,
                                   params: types.DidChangeConfigurationParams) -> None:
    await pull_configuration(ls)


@server.feature(types.INITIALIZED)
async def initialized(ls: FakeServer, params: types.InitializedParams) -> None:
    pid_file = os.environ.get("FAKE_PID_FILE")
    if pid_file:  # lets the test kill this process to check the client restarts it
        Path(pid_file).write_text(str(os.getpid()))
    ls.status("loading")
    await pull_configuration(ls)
    await asyncio.sleep(0.3)
    ls.status("ready")


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
def inline(ls: FakeServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    ls.requests += 1
    return types.InlineCompletionList(items=[types.InlineCompletionItem(
        insert_text="return FAKE_GHOST", range=types.Range(params.position, params.position))])


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION)
def code_action(ls: FakeServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    rng = ls.protocol._converter.unstructure(params.range)
    arg = {"uri": params.text_document.uri, "range": rng}
    actions = [
        types.CodeAction(title="Offpilot: Explain this code", kind=types.CodeActionKind.Refactor,
                         command=types.Command(title="Explain", command=EXPLAIN, arguments=[arg])),
        types.CodeAction(title="Offpilot: Generate unit tests", kind=types.CodeActionKind.Refactor,
                         command=types.Command(title="Generate tests", command=GENERATE_TESTS,
                                               arguments=[{**arg, "scope": "symbol"}])),
    ]
    only = params.context.only or []
    if not FIXES or (only and not any(k.startswith(types.CodeActionKind.QuickFix) for k in only)):
        return actions
    fixes: list[types.CodeAction] = []
    for d in params.context.diagnostics:
        problem = {"uri": params.text_document.uri,
                   "diagnostic": {"range": ls.protocol._converter.unstructure(d.range),
                                  "message": d.message, "source": d.source or ""}}
        fixes.append(types.CodeAction(
            title="Offpilot: Fix this problem", kind=types.CodeActionKind.QuickFix,
            diagnostics=[d], command=types.Command(title="Fix this problem", command=FIX_PROBLEM,
                                                   arguments=[problem])))
    return fixes + actions


@server.feature("offpilot/stats")
def stats(ls: FakeServer, params: Any = None) -> dict[str, Any]:
    return {"completion": {"requests": ls.requests, "modelCalls": ls.requests}, "fake": True,
            "initializationOptions": ls.init_options, "configuration": ls.config}


@server.command(EXPLAIN)
async def explain(ls: FakeServer, *args: Any) -> dict[str, Any]:
    token = ls.tokens.get(EXPLAIN)
    if token is not None:
        ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title="Explaining"))
    text = ""
    try:
        for i, piece in enumerate(EXPLANATION):
            await asyncio.sleep(STREAM_DELAY)
            text += piece
            ls.protocol.notify("offpilot/stream", {"token": token, "delta": piece})
            if token is not None:
                ls.work_done_progress.report(token, types.WorkDoneProgressReport(
                    message=f"writing ({i + 1}/{len(EXPLANATION)})"))
    finally:
        if token is not None:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
    root = Path(ls.workspace.root_path or ".")
    path = root / ".offpilot-explain.md"
    path.write_text(text)
    return {"markdown": text, "path": str(path)}


@server.command(GENERATE_TESTS)
async def generate_tests(ls: FakeServer, *args: Any) -> dict[str, Any]:
    token = ls.tokens.get(GENERATE_TESTS)
    target = args[0] if args else {}
    source = Path(to_fs_path(target["uri"]) or "")
    test_file = source.parent.parent / "tests" / f"test_{source.stem}_generated.py"
    steps = ["writing scenarios", "running 3 tests", "keeping 1 passing test"]
    if token is not None:
        ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title="Generating tests",
                                                                       percentage=0))
    for i, step in enumerate(steps):
        await asyncio.sleep(0.4)
        if token is not None:
            ls.work_done_progress.report(token, types.WorkDoneProgressReport(
                message=step, percentage=int(100 * (i + 1) / len(steps))))
    uri = from_fs_path(str(test_file)) or ""
    edit = types.WorkspaceEdit(document_changes=[
        types.CreateFile(uri=uri, options=types.CreateFileOptions(overwrite=True)),
        types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=None),
            edits=[types.TextEdit(range=types.Range(types.Position(0, 0), types.Position(0, 0)),
                                  new_text=TESTS)]),
    ])
    await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit,
                                                                       label="Offpilot tests"))
    if token is not None:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
    return {"summary": f"FAKE: kept 1 test in {test_file.name}", "testFile": uri, "kept": 1,
            "failing": 0, "unverified": 0}


async def fix_problem(ls: FakeServer, *args: Any) -> dict[str, Any]:
    """Scripted: ":" appended to the diagnostic's line, sent for confirmation as the real server
    sends a verified fix (an annotated edit, needsConfirmation: the editor previews it)."""
    token = ls.tokens.get(FIX_PROBLEM)
    target = args[0] if args else {}
    uri = target["uri"]
    line = target["diagnostic"]["range"]["start"]["line"]
    doc = ls.workspace.get_text_document(uri)
    old = doc.lines[line].rstrip("\r\n")
    if token is not None:
        ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title="Fixing"))
    try:
        await asyncio.sleep(0.4)
        edit = types.WorkspaceEdit(
            document_changes=[types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri,
                                                                            version=doc.version),
                edits=[types.AnnotatedTextEdit(
                    range=types.Range(types.Position(line, 0), types.Position(line, len(old))),
                    new_text=old + ":", annotation_id=FIX_ANNOTATION)])],
            change_annotations={FIX_ANNOTATION: types.ChangeAnnotation(
                label="Offpilot: verified fix", needs_confirmation=True,
                description="FAKE: scripted")})
        result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
            edit=edit, label="Offpilot: verified fix"))
        markdown = f"## Verified fix\n\nFAKE: scripted fix of line {line + 1}.\n"
        ls.protocol.notify("offpilot/stream", {"token": token, "delta": markdown})
    finally:
        if token is not None:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
    return {"status": "verified", "applied": result.applied, "markdown": markdown}


if FIXES:
    server.command(FIX_PROBLEM)(fix_problem)


if __name__ == "__main__":
    server.start_io()
