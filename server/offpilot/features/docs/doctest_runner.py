"""Runs a docstring's examples with :mod:`doctest`; runs inside the test sandbox, never the server.

Usage: ``python doctest_runner.py SPEC.json``. The spec names the module (imported by its
dotted name, the project's import root first on ``sys.path``; its file must be the one in the
project copy), the definition (``name`` or ``Class.name``) and a mode:

- ``messages``: evaluate each of ``calls`` and write the last line doctest would compare for
  the exception it raises (``traceback.format_exception_only``), or ``null``;
- ``check``: run the examples of the definition's ``__doc__`` exactly as ``python -m doctest``
  would (the module's globals, the default option flags) and write, per example, whether it
  passed and what it printed.

One JSON object per line is appended to the spec's ``out`` file:
``{"type": "import", "ok", "error"}``, ``{"type": "message", "id", "line"}``,
``{"type": "example", "index", "source", "passed", "got"}``, ``{"type": "done"}``.

Kept compatible with older interpreters (3.8+): the workspace's Python may not be the server's.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import json
import os
import signal
import sys
import traceback
from types import FrameType
from typing import Any


class ExampleTimeout(BaseException):
    """An example ran past its time (BaseException: user code catching Exception cannot eat
    it)."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise ExampleTimeout()


class Recorder(doctest.DocTestRunner):
    """A doctest runner that keeps, per example, whether it passed and what it printed."""

    def __init__(self, timeout: float) -> None:
        doctest.DocTestRunner.__init__(self, verbose=False)
        self.results: dict[int, tuple[bool, str]] = {}
        self.timeout = timeout

    def report_start(self, out: Any, test: Any, example: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, self.timeout)  # each example has its own time

    def report_success(self, out: Any, test: Any, example: Any, got: str) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        self.results[id(example)] = (True, got)

    def report_failure(self, out: Any, test: Any, example: Any, got: str) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        self.results[id(example)] = (False, got)

    def report_unexpected_exception(self, out: Any, test: Any, example: Any,
                                    exc_info: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        line = traceback.format_exception_only(exc_info[0], exc_info[1])[-1]
        self.results[id(example)] = (False, "raised " + line)


def _lookup(module: Any, qualname: str) -> Any:
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def main(spec_path: str) -> None:
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    out = open(spec["out"], "a", encoding="utf-8")  # noqa: SIM115

    def emit(record: dict[str, Any]) -> None:
        out.write(json.dumps(record) + "\n")
        out.flush()

    signal.signal(signal.SIGALRM, _on_alarm)
    sys.path.insert(0, spec["import_root"])
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            module = importlib.import_module(spec["module"])
        found = os.path.realpath(getattr(module, "__file__", "") or "")
        if found != os.path.realpath(spec["module_file"]):
            raise ImportError(f"{spec['module']} was imported from {found}, not the project")
        target = _lookup(module, spec["qualname"])
    except BaseException as exc:
        emit({"type": "import", "ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]})
        emit({"type": "done"})
        return
    emit({"type": "import", "ok": True, "error": ""})
    timeout = float(spec.get("timeout", 2.0))
    if spec["mode"] == "messages":
        for item in spec["calls"]:
            line = None
            namespace = dict(vars(module))
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    eval(compile(item["source"], "<example>", "eval"), namespace)
            except ExampleTimeout:
                line = None
            except BaseException as raised:
                signal.setitimer(signal.ITIMER_REAL, 0)
                line = traceback.format_exception_only(type(raised), raised)[-1]
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            emit({"type": "message", "id": item["id"], "line": line})
    else:
        doc = getattr(target, "__doc__", None) or ""
        test = doctest.DocTestParser().get_doctest(
            doc, dict(vars(module)), spec["qualname"], getattr(module, "__file__", None), 0)
        runner = Recorder(timeout)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                runner.run(test, out=sink.write, clear_globs=True)
        except ExampleTimeout:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for i, example in enumerate(test.examples):
            passed, got = runner.results.get(id(example), (False, "did not run"))
            emit({"type": "example", "index": i, "source": example.source, "passed": passed,
                  "got": got[:2000]})
    emit({"type": "done"})


if __name__ == "__main__":
    main(sys.argv[1])
