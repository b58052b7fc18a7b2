"""An editor that dies in the middle of a feature: scenarios and process checks.

Each scenario drives a real server (a :class:`~tests.reliability.rpc.RawServer`) to a point in
the middle of one feature and returns there, with the work in flight:

- ``completion``: an inline completion sent at once, its model worker started and loading;
- ``explain``: Explain is streaming its answer (the first ``offpilot/stream`` arrived);
- ``tests``: Generate tests is running the code under test in a sandbox process;
- ``download``: ``offpilot.pullModel`` has reported its first percentage (a slow hub);
- ``fix-problem``: Fix this problem (``offpilot.fixProblem`` on a ruff diagnostic) is looking
  for a verified fix: the model writing a candidate, or the sandboxed re-check;
- ``fix-test-run``: ``offpilot.fixTest`` is running the project's tests in a sandbox (a slow
  failing test);
- ``fix-test-model``: ``offpilot.fixTest`` has run the tests and the model is explaining the
  failure (the first ``offpilot/stream`` arrived).

The fix scenarios add ``shop/fixme.py`` and ``tests/test_fixme.py`` to the project (before the
server starts, see :func:`prepare`); neither the server nor its sandbox may change them.

The tests then end the editor, either by closing the server's stdin or, through this module run
as a program (``python -m tests.reliability.editor_process SCENARIO PROJECT``: the editor
process, the server's parent), by SIGKILLing it. The program prints one JSON line,
``{"server": pid, "pending": bool}``, once the point is reached, and waits to be killed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from tests.reliability.rpc import RawServer, children_of, cmdline, model_worker_pids, running

SCENARIOS = ("completion", "explain", "tests", "download", "fix-problem", "fix-test-run",
             "fix-test-model")
FIX_SCENARIOS = ("fix-problem", "fix-test-run", "fix-test-model")
FIXME = "def add(a, b):\n    return a - b\n\n\ndef total(xs):\n    return sum(x for x in xz)\n"
FIXME_TEST = "from shop.fixme import add\n\n\ndef test_add():\n{wait}    assert add(2, 3) == 5\n"
REACH_WITHIN = 180.0  # seconds to reach the point on a busy machine
MARK = "OFFPILOT_LIFECYCLE_TEST"  # an environment variable naming this test's processes
HUB_REPO = "test-org/gemma-3-270m-GGUF"
HUB_FILE = "slow.gguf"


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children_of(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def marked(mark: str) -> list[int]:
    """Running processes whose environment holds ``MARK=mark`` (this test's servers and
    workers; sandboxed runs get a clean environment and are found as descendants)."""
    needle = f"{MARK}={mark}".encode()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if needle in env and running(int(entry)):
            out.append(int(entry))
    return out


def _until(what: str, check: Any, srv: RawServer, timeout: float = REACH_WITHIN) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if not srv.alive():
            raise AssertionError(f"the server ended before {what}")
        time.sleep(0.02)
    raise AssertionError(f"{what}: not reached within {timeout:.0f} s")


def _slugify_range(project: Path) -> tuple[str, dict[str, Any]]:
    source = project / "shop" / "text.py"
    text = source.read_text(encoding="utf-8")
    line = next(i for i, ln in enumerate(text.splitlines()) if ln.startswith("def slugify("))
    return source.as_uri(), {"start": {"line": line, "character": 4},
                             "end": {"line": line, "character": 4}}


def prepare(scenario: str, project: Path) -> None:
    """Write the files a fix scenario works on into ``project``."""
    if scenario not in FIX_SCENARIOS:
        return
    (project / "shop" / "fixme.py").write_text(FIXME, encoding="utf-8")
    wait = "    import time\n    time.sleep(300)\n" if scenario == "fix-test-run" else ""
    (project / "tests" / "test_fixme.py").write_text(FIXME_TEST.format(wait=wait),
                                                     encoding="utf-8")


def project_digest(project: Path) -> dict[str, str]:
    """Each file of the project and its bytes' SHA-256 (what the editor's user has on disk)."""
    import hashlib

    return {p.relative_to(project).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(project.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
            and ".offpilot" not in p.parts}


def sandboxed_runs(server: int) -> list[int]:
    """The server's sandboxed runs: each leads its own process group (the model worker too,
    which is left out)."""
    out = []
    for p in descendants(server):
        try:
            if os.getpgid(p) == p and "offpilot.engine.worker" not in cmdline(p):
                out.append(p)
        except OSError:
            continue
    return out


def drive(srv: RawServer, scenario: str, project: Path) -> bool:
    """Bring ``srv`` to the middle of ``scenario``; True if the feature's request is still
    unanswered there."""
    # The server's own model worker: the shared model service outlives a server by design
    # (tests/reliability/test_shared_model.py).
    settings: dict[str, Any] = {"threads": 2, "contextSize": 2048, "indexEnabled": False,
                                "debounceMs": 0, "completionsEnabled": scenario == "completion",
                                "sharedModel": False}
    srv.config = dict(settings)
    prepare(scenario, project)
    srv.initialize(project, options=settings)
    uri, rng = _slugify_range(project)
    srv.open(uri, (project / "shop" / "text.py").read_text(encoding="utf-8"))
    server = srv.proc.pid
    if scenario == "completion":
        msg_id = srv.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": rng["start"],
            "context": {"triggerKind": 1}})
        _until("a model worker", lambda: model_worker_pids(server), srv)
    elif scenario == "explain":
        msg_id = srv.request("workspace/executeCommand", {
            "command": "offpilot.explain", "arguments": [{"uri": uri, "range": rng}],
            "workDoneToken": "explain"})
        _until("the first streamed text", lambda: srv.wait_notification(
            lambda n: n.get("method") == "offpilot/stream", 0.1), srv)
    elif scenario == "tests":
        msg_id = srv.request("workspace/executeCommand", {
            "command": "offpilot.generateTests",
            "arguments": [{"uri": uri, "range": rng, "scope": "symbol"}],
            "workDoneToken": "tests"})
        _until("a sandboxed run", lambda: sandboxed_runs(server), srv)
    elif scenario == "download":
        msg_id = srv.request("workspace/executeCommand", {
            "command": "offpilot.pullModel", "arguments": [{"name": f"{HUB_REPO}/{HUB_FILE}"}],
            "workDoneToken": "download"})

        def part_way(n: dict[str, Any]) -> bool:
            value = (n.get("params") or {}).get("value") or {}
            return n.get("method") == "$/progress" and value.get("kind") == "report" \
                and 0 < (value.get("percentage") or 0) < 100

        _until("a download part way", lambda: srv.wait_notification(part_way, 0.1), srv)
    elif scenario == "fix-problem":
        fixme = project / "shop" / "fixme.py"
        srv.open(fixme.as_uri(), fixme.read_text(encoding="utf-8"))
        msg_id = srv.request("workspace/executeCommand", {
            "command": "offpilot.fixProblem", "arguments": [{
                "uri": fixme.as_uri(), "diagnostic": {
                    "range": {"start": {"line": 5, "character": 26},
                              "end": {"line": 5, "character": 28}},
                    "message": "Undefined name `xz`", "source": "ruff", "code": "F821",
                    "severity": 1}}], "workDoneToken": "fix-problem"})

        def looking(n: dict[str, Any]) -> bool:
            value = (n.get("params") or {}).get("value") or {}
            return n.get("method") == "$/progress" \
                and "looking for a verified fix" in str(value.get("message", ""))

        _until("the search for a fix", lambda: srv.wait_notification(looking, 0.1), srv)
        _until("a model worker", lambda: model_worker_pids(server), srv)
    elif scenario in ("fix-test-run", "fix-test-model"):
        msg_id = srv.request("workspace/executeCommand", {
            "command": "offpilot.fixTest",
            "arguments": [{"testId": "tests/test_fixme.py::test_add"}],
            "workDoneToken": scenario})
        if scenario == "fix-test-run":
            _until("a sandboxed test run", lambda: sandboxed_runs(server), srv)
        else:
            _until("the streamed explanation", lambda: srv.wait_notification(
                lambda n: n.get("method") == "offpilot/stream", 0.1), srv)
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    return msg_id not in srv.replies


def main() -> None:
    scenario, project = sys.argv[1], Path(sys.argv[2])
    srv = RawServer(dict(os.environ), stderr=sys.stderr)
    pending = drive(srv, scenario, project)
    sys.stdout.write(json.dumps({"server": srv.proc.pid, "pending": pending}) + "\n")
    sys.stdout.flush()
    while True:  # the editor, busy, until it is killed
        time.sleep(60)


if __name__ == "__main__":
    main()
