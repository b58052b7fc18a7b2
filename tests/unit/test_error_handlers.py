"""Broad error handlers report what they swallow.

A handler of ``Exception`` or ``BaseException`` (or ``contextlib.suppress`` of them) in the
server hides bugs unless it says what it caught: it must log it, re-raise, or use the exception
it bound (send it to the client, print it for the command line). Narrow handlers (``OSError``,
``TimeoutError``) are not checked: they name what they expect.
"""

from __future__ import annotations

import ast
from pathlib import Path

import offpilot

PACKAGE = Path(offpilot.__file__).parent
REPORTING_CALLS = {"debug", "info", "warning", "error", "exception", "critical", "log",
                   "print_exc", "format_exc"}
# Handlers allowed to stay silent, each with its reason.
ALLOWED = {
    # Runs inside the sandbox on the user's code: an exception the code raises is the outcome
    # it records, sent back as data.
    "features/testgen/python/oracle_runner.py": "records the user's code's exceptions",
    # After logging.shutdown() there is nothing left to log to.
    "lsp/lifecycle.py:logging.shutdown": "the last step of exiting",
}


def _broad(node: ast.expr | None) -> bool:
    if node is None:
        return True
    if isinstance(node, ast.Name):
        return node.id in ("Exception", "BaseException")
    if isinstance(node, ast.Tuple):
        return any(_broad(e) for e in node.elts)
    return False


def _reports(handler: ast.ExceptHandler) -> bool:
    for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
        if isinstance(node, ast.Raise):
            return True
        if handler.name and isinstance(node, ast.Name) and node.id == handler.name:
            return True  # the exception is passed on: to the client, the user, a result
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) \
                else ""
            if name in REPORTING_CALLS:
                return True
    return False


def silent_handlers(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in ALLOWED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and _broad(node.type) \
                    and not _reports(node):
                caught = ast.unparse(node.type) if node.type is not None else "(bare)"
                found.append(f"{rel}:{node.lineno}: except {caught}")
            if isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    call = item.context_expr
                    if isinstance(call, ast.Call) and ast.unparse(call.func).endswith("suppress") \
                            and any(_broad(a) for a in call.args):
                        body = ast.unparse(node.body[0]) if node.body else ""
                        if f"{rel}:{body.split('(')[0]}" in ALLOWED:
                            continue
                        found.append(f"{rel}:{node.lineno}: {ast.unparse(call)}")
    return sorted(found, key=lambda s: (s.split(":")[0], int(s.split(":")[1])))


def test_every_broad_handler_reports_what_it_swallows():
    assert silent_handlers(PACKAGE) == []


def test_the_check_finds_a_silent_handler(tmp_path: Path):
    (tmp_path / "quiet.py").write_text(
        "import contextlib\n"
        "def f():\n"
        "    try:\n        g()\n    except Exception:\n        pass\n"
        "    with contextlib.suppress(Exception):\n        g()\n"
        "    try:\n        g()\n    except Exception as exc:\n        log.debug('g: %s', exc)\n"
        "    try:\n        g()\n    except OSError:\n        pass\n", encoding="utf-8")
    assert silent_handlers(tmp_path) == ["quiet.py:5: except Exception",
                                         "quiet.py:7: contextlib.suppress(Exception)"]
