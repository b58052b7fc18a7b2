"""Runs a docstring's examples with :mod:`doctest`; runs inside the test sandbox, never the server.

Usage: ``python doctest_runner.py SPEC.json``. The spec names the module (imported by its
dotted name, the project's import root first on ``sys.path``; its file must be the one in the
project copy), the definition (``name`` or ``Class.name``) and a mode:

- ``messages``: evaluate each of ``calls`` and write the last line doctest would compare for
  the exception it raises (``traceback.format_exception_only``), or ``null``;
- ``check``: run the examples of the definition's ``__doc__`` exactly as ``python -m doctest``
  would (the module's globals, the default option flags) and write, per example, whether it
  passed and what it printed.

Either way an example fails when it tries to do what an example run by a reader must not:
write, remove or rename a file, start a program, signal a process, open a connection (audit
hooks, :data:`EFFECTS`). In the sandbox such an attempt fails or lands in the throwaway copy;
outside it, it would not.

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


# audit events of what an example must not do outside the sandbox: change files, start
# programs, signal processes, reach the network (an attempt counts, even one that failed here)
EFFECTS = frozenset({
    "os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.truncate", "os.chmod", "os.chown",
    "os.link", "os.symlink", "os.utime", "os.chflags", "os.lchflags", "os.setxattr",
    "os.removexattr", "shutil.rmtree", "shutil.move", "shutil.copyfile", "shutil.copytree",
    "shutil.chown", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "os.startfile", "os.kill", "os.killpg", "subprocess.Popen", "pty.spawn",
    "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "ctypes.dlopen",
    "ctypes.call_function", "os.putenv", "os.unsetenv", "os.chdir",
})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Effects:
    """An audit hook that notes what the code does while :attr:`active` (hooks cannot be
    removed, so it is switched on and off around each example)."""

    def __init__(self) -> None:
        self.active = False
        self.seen: list[str] = []
        sys.addaudithook(self.hook)

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event == "open" and len(args) >= 3:
            mode, flags = args[1], args[2]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writes:
                self.seen.append(f"open({str(args[0])[:100]!r}, {mode or flags!r})")
        elif event in EFFECTS:
            self.seen.append(f"{event}({str(args[:1])[1:-2][:100]})")

    def start(self) -> None:
        self.seen = []
        self.active = True

    def stop(self) -> list[str]:
        self.active = False
        return self.seen


class Recorder(doctest.DocTestRunner):
    """A doctest runner that keeps, per example, whether it passed and what it printed; an
    example that did something :class:`Effects` watches for fails."""

    def __init__(self, timeout: float, effects: Effects) -> None:
        doctest.DocTestRunner.__init__(self, verbose=False)
        self.results: dict[int, tuple[bool, str]] = {}
        self.timeout = timeout
        self.effects = effects

    def report_start(self, out: Any, test: Any, example: Any) -> None:
        self.effects.start()
        signal.setitimer(signal.ITIMER_REAL, self.timeout)  # each example has its own time

    def _end(self, example: Any, passed: bool, got: str) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        seen = self.effects.stop()
        if seen:
            passed, got = False, "did " + ", ".join(seen[:3])
        self.results[id(example)] = (passed, got)

    def report_success(self, out: Any, test: Any, example: Any, got: str) -> None:
        self._end(example, True, got)

    def report_failure(self, out: Any, test: Any, example: Any, got: str) -> None:
        self._end(example, False, got)

    def report_unexpected_exception(self, out: Any, test: Any, example: Any,
                                    exc_info: Any) -> None:
        line = traceback.format_exception_only(exc_info[0], exc_info[1])[-1]
        self._end(example, False, "raised " + line)


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
    effects = Effects()
    if spec["mode"] == "messages":
        for item in spec["calls"]:
            line = None
            namespace = dict(vars(module))
            signal.setitimer(signal.ITIMER_REAL, timeout)
            effects.start()
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
                if effects.stop():
                    line = None
            emit({"type": "message", "id": item["id"], "line": line})
    else:
        doc = getattr(target, "__doc__", None) or ""
        test = doctest.DocTestParser().get_doctest(
            doc, dict(vars(module)), spec["qualname"], getattr(module, "__file__", None), 0)
        runner = Recorder(timeout, effects)
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
