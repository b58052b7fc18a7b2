"""Every setting changed through ``workspace/didChangeConfiguration`` reaches every consumer.

A real server over stdio with a workspace (so the context engine runs). Each field of
:class:`offpilot.config.Settings` gets a value different from its default (a new field is covered
without editing this test); ``offpilot/stats`` then reports the settings each consumer reads
(the server's, read by Explain, test generation and documentation on each use; the completer's;
the model manager's; the context engine's, and what its indexes and file guards work with).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from offpilot.config import Settings, wire_name
from pygls.lsp.client import LanguageClient

from tests.lsp.helpers import server_env

STATS = "offpilot/stats"


def changed_value(f: dataclasses.Field[Any]) -> Any:
    """A valid value of the setting ``f`` that is not its default (as JSON)."""
    default, meta = f.default, f.metadata
    if isinstance(default, bool):
        return not default
    if isinstance(default, int | float):
        step = 1 if isinstance(default, int) else 0.5
        top = meta.get("maximum")
        return default + step if top is None or default + step <= top else default - step
    if isinstance(default, tuple):
        return [f"changed-{f.name}"]
    choices = [c for c in meta.get("choices") or () if c != default]
    return choices[-1] if choices else f"changed-{f.name}"


def plain(value: Any) -> Any:
    """pygls gives unknown results as dicts or as namedtuple-like objects."""
    if hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


async def stats(client: LanguageClient) -> dict[str, Any]:
    result = await asyncio.wait_for(client.protocol.send_request_async(STATS, None), 30)
    return plain(result)


async def wait_for(client: LanguageClient, ok: Any, what: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        current = await stats(client)
        if ok(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:g} s; last stats: {current}")
        await asyncio.sleep(0.2)


async def test_every_setting_reaches_every_consumer(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "shop.py").write_text("def total(prices):\n    return sum(prices)\n",
                                     encoding="utf-8")
    client = LanguageClient("settings-test", "1")
    for method in ("offpilot/status", "window/showMessage", "window/logMessage",
                   types.WINDOW_WORK_DONE_PROGRESS_CREATE, types.PROGRESS):
        client.feature(method)(lambda params: None)
    await client.start_io(sys.executable, "-m", "offpilot", "serve", "--log-level", "warning",
                          env=server_env(OFFPILOT_COMPLETIONS_ENABLED="false"))
    try:
        await asyncio.wait_for(client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=project.as_uri())), 60)
        client.initialized(types.InitializedParams())
        await wait_for(client, lambda s: s.get("context", {}).get("ready"),
                       "the context engine did not finish its first build")

        fields = dataclasses.fields(Settings)
        expected = {wire_name(f.name): changed_value(f) for f in fields}
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"offpilot": expected}))
        seen = await wait_for(client, lambda s: s["settings"]["server"] == expected,
                              "the server did not take the new settings")

        in_use = seen["settings"]
        assert set(in_use) >= {"server", "completion", "models", "context", "documents"}
        stale = [f"{consumer}.{name}: {values.get(name)!r} (sent {value!r})"
                 for consumer in ("server", "completion", "models", "context")
                 for values in [in_use[consumer]]
                 for name, value in expected.items() if values.get(name) != value]
        assert stale == [], "consumers still read old settings:\n" + "\n".join(stale)
        exclude = expected["excludeFiles"]
        assert in_use["documents"]["excludeFiles"] == exclude
        assert in_use["context"]["guard"]["excludeFiles"] == exclude
        indexes = in_use["context"]["indexes"]
        assert [Path(i["root"]) for i in indexes] == [project.resolve()]
        assert all(i["maxFileSize"] == expected["maxFileSize"] and i["excludeFiles"] == exclude
                   for i in indexes), indexes

        await asyncio.wait_for(client.shutdown_async(None), 60)
        client.exit(None)
    finally:
        await asyncio.wait_for(client.stop(), 30)
