"""Records what calls of the code under test do; runs inside the test sandbox, never the server.

Usage: ``python oracle_runner.py SPEC.json``. The spec names the module under test (imported by
its dotted name with the project's import root first on ``sys.path``), the calls to evaluate and,
optionally, mutants of the target functions. One JSON object per line is appended to the spec's
``out`` file as results come, so a run that is killed still leaves what it found:

- ``{"type": "import", "ok": bool, "error": str}``
- ``{"type": "target", "id", "executable": [lines]}``: the lines a test could cover
- ``{"type": "call", "id", "outcome": {...}, "seconds", "lines": [...], "effects": [...]}``:
  ``effects`` names what the call did outside the project copy (files it wrote or removed in
  HOME or the temp dir, processes it left running); ``outcome`` is
  ``{"kind": "value", "repr", "literal", "constructible", "listed", "float", "state",
  "changed"}`` (``state``: the receiver's repr after a method call; ``changed``: it differs
  from before the call),
  ``{"kind": "raises", "type", "module", "bases"}``, ``{"kind": "timeout"}`` or
  ``{"kind": "unrepresentable", "type"}``
- ``{"type": "mutant", "id", "killed_by": [call ids], "error": str}``
- ``{"type": "done"}``

Kept compatible with older interpreters (3.8+): the workspace's Python may not be the server's.
"""

import ast
import asyncio
import contextlib
import dis
import importlib
import inspect
import io
import itertools
import json
import math
import os
import signal
import sys
import time
import types

MAX_REPR = 2000
MAX_LISTED = 200
OBJ = "__offpilot_receiver__"


class CallTimeout(BaseException):
    """A call ran past its time (BaseException: user code catching Exception cannot eat it)."""


def _on_alarm(signum, frame):
    raise CallTimeout()


class Recorder:
    def __init__(self, spec):
        self.spec = spec
        self.out = open(spec["out"], "a", encoding="utf-8")  # noqa: SIM115
        self.module_file = os.path.realpath(spec["module_file"])
        self._real = {}
        self.lines = set()

    def emit(self, record):
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    # -------------------------------------------------------------- tracing
    def _is_module(self, filename):
        real = self._real.get(filename)
        if real is None:
            real = os.path.realpath(filename)
            self._real[filename] = real
        return real == self.module_file

    def _global_trace(self, frame, event, arg):
        if self._is_module(frame.f_code.co_filename):
            return self._local_trace
        return None

    def _local_trace(self, frame, event, arg):
        if event == "line":
            self.lines.add(frame.f_lineno)
        return self._local_trace


def executable_lines(code, first, last):
    """Line numbers with code in ``code`` and the code objects nested in it, in a range."""
    out = set()
    stack = [code]
    while stack:
        c = stack.pop()
        for _offset, line in dis.findlinestarts(c):
            if line is not None and first <= line <= last:
                out.add(line)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return out


def _float_inside(value, depth=0):
    if isinstance(value, float):
        return True
    if depth > 3:
        return False
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_float_inside(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_float_inside(v, depth + 1) for v in value.values())
    return False


def _has_nan(value, depth=0):
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, complex):
        return math.isnan(value.real) or math.isnan(value.imag)
    if depth > 3:
        return False
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_has_nan(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_has_nan(v, depth + 1) for v in value.values())
    return False


def describe(value, namespace, listed=False):
    """A value as source a test can compare with, when there is one."""
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ is the code's business, not ours
        return {"kind": "unrepresentable", "type": type(exc).__name__}
    if len(text) > MAX_REPR or _has_nan(value):
        return {"kind": "unrepresentable", "type": type(value).__name__}
    literal = False
    constructible = False
    try:
        back = ast.literal_eval(text)
        literal = type(back) is type(value) and back == value
    except Exception:
        literal = False
    if not literal:
        try:
            back = eval(text, dict(namespace))
            constructible = type(back).__name__ == type(value).__name__ and bool(back == value)
        except BaseException:
            constructible = False
    if not literal and not constructible:
        return {"kind": "unrepresentable", "type": type(value).__name__}
    return {"kind": "value", "repr": text, "literal": literal, "constructible": constructible,
            "listed": listed, "float": _float_inside(value), "type": type(value).__name__}


def _safe_repr(value):
    try:
        return repr(value)
    except Exception:
        return None


def describe_exception(exc):
    bases = []
    for cls in type(exc).__mro__:
        if cls in (BaseException, object):
            break
        bases.append([cls.__module__, cls.__qualname__])
    return {"kind": "raises", "type": type(exc).__qualname__, "module": type(exc).__module__,
            "bases": bases}


def outcome_key(outcome):
    kind = outcome.get("kind")
    if kind == "value":
        return ("value", outcome.get("repr"), outcome.get("state"))
    if kind == "raises":
        return ("raises", outcome.get("module"), outcome.get("type"))
    return (kind,)


class Call:
    """A call source split into its receiver (for methods) and the call proper."""

    def __init__(self, source):
        tree = ast.parse(source, mode="eval")
        call = tree.body
        self.receiver = None
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                and isinstance(call.func.value, ast.Call):
            self.receiver = compile(ast.Expression(call.func.value), "<receiver>", "eval")
            call.func.value = ast.Name(id=OBJ, ctx=ast.Load())
        ast.fix_missing_locations(tree)
        self.code = compile(tree, "<call>", "eval")


def evaluate(call, namespace, timeout):
    """Run one call; returns (outcome, seconds, receiver)."""
    ns = dict(namespace)
    sink = io.StringIO()
    start = time.perf_counter()
    receiver = None
    signal.setitimer(signal.ITIMER_REAL, max(timeout, 0.001))
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            before = None
            if call.receiver is not None:
                receiver = eval(call.receiver, ns)
                ns[OBJ] = receiver
                before = _safe_repr(receiver)
            value = eval(call.code, ns)
            listed = False
            if inspect.iscoroutine(value):
                value = asyncio.run(value)
            if isinstance(value, types.GeneratorType):
                value = list(itertools.islice(value, MAX_LISTED + 1))
                listed = True
        signal.setitimer(signal.ITIMER_REAL, 0)
        if listed and len(value) > MAX_LISTED:
            outcome = {"kind": "unrepresentable", "type": "generator"}
        else:
            outcome = describe(value, namespace, listed)
            if call.receiver is not None and outcome["kind"] == "value":
                state = describe(receiver, namespace)
                if state["kind"] == "value":
                    outcome["state"] = state["repr"]
                    outcome["changed"] = state["repr"] != before
    except CallTimeout:
        outcome = {"kind": "timeout"}
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: code under test
        signal.setitimer(signal.ITIMER_REAL, 0)
        outcome = describe_exception(exc)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return outcome, time.perf_counter() - start


def build_namespace(spec, module):
    ns = {}
    for mod_name, name in spec.get("imports", []):
        try:
            ns[name] = getattr(importlib.import_module(mod_name), name)
        except BaseException:  # a constructor we cannot get: calls using it will fail
            continue
    for target in spec["targets"]:
        top = target["owner"] or target["name"]
        if hasattr(module, top):
            ns[top] = getattr(module, top)
    return ns


def _scratch_state(folders):
    """(path, size, mtime) of every file under ``folders`` (HOME and the temp dir)."""
    state = set()
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                state.add((path, st.st_size, st.st_mtime_ns))
            if len(state) > 5000:
                return state
    return state


def _others_in_session():
    """Processes of this session other than this one (what a call left running)."""
    me = os.getpid()
    try:
        session = os.getsid(0)
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return set()
    out = set()
    for pid in pids:
        if pid == me:
            continue
        try:
            if os.getsid(pid) == session:
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    if fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z":
                        out.add(pid)
        except OSError:
            continue
    return out


def side_effects(before_files, before_pids, folders):
    """What a call did outside the project copy: that belongs to the machine, not the code,
    and a test that repeats it outside the sandbox would do it to the user's files."""
    effects = []
    changed = sorted(p for p, _size, _mtime in _scratch_state(folders) ^ before_files)
    if changed:
        effects.append("changed " + ", ".join(sorted(set(changed))[:3]))
    left = _others_in_session() - before_pids
    if left:
        effects.append(f"left {len(left)} process(es) running")
    return effects


def main(spec_path):
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    rec = Recorder(spec)
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.path.insert(0, spec["import_root"])
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            module = importlib.import_module(spec["module"])
    except BaseException as exc:
        rec.emit({"type": "import", "ok": False,
                  "error": f"{type(exc).__name__}: {exc}"[:500]})
        rec.emit({"type": "done"})
        return
    rec.emit({"type": "import", "ok": True, "error": ""})
    namespace = build_namespace(spec, module)
    for target in spec["targets"]:
        obj = getattr(module, target["owner"] or target["name"], None)
        if target["owner"] and obj is not None:
            obj = inspect.getattr_static(obj, target["name"], None)
            obj = getattr(obj, "__func__", obj)
        code = getattr(inspect.unwrap(obj), "__code__", None) if callable(obj) else None
        lines = sorted(executable_lines(code, target["first_line"] + 1, target["last_line"])) \
            if code is not None else []
        rec.emit({"type": "target", "id": target["id"], "executable": lines})

    timeout = float(spec.get("per_call_timeout", 2.0))
    scratch = [d for d in {os.path.expanduser("~"), os.environ.get("TMPDIR", "")}
               if d and d != "/" and os.path.isdir(d)]
    trace = bool(spec.get("trace"))
    parsed = {}
    original = {}
    seconds = {}
    for item in spec["calls"]:
        try:
            call = Call(item["source"])
        except (SyntaxError, ValueError) as exc:
            rec.emit({"type": "call", "id": item["id"], "seconds": 0.0, "lines": [],
                      "outcome": {"kind": "unrepresentable", "type": type(exc).__name__}})
            continue
        parsed[item["id"]] = call
        rec.lines = set()
        before_files, before_pids = _scratch_state(scratch), _others_in_session()
        if trace:
            sys.settrace(rec._global_trace)
        try:
            outcome, took = evaluate(call, namespace, timeout)
        finally:
            sys.settrace(None)
        original[item["id"]] = outcome_key(outcome)
        seconds[item["id"]] = took
        rec.emit({"type": "call", "id": item["id"], "outcome": outcome, "seconds": took,
                  "lines": sorted(rec.lines),
                  "effects": side_effects(before_files, before_pids, scratch)})

    cap = float(spec.get("mutant_timeout", 0.5))
    for mutant in spec.get("mutants", []):
        ns = dict(vars(module))
        flags = 0
        if mutant.get("future_annotations"):
            import __future__

            flags = __future__.annotations.compiler_flag
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                exec(compile(mutant["source"], module.__file__ or "<mutant>", "exec",
                             flags=flags, dont_inherit=True), ns)
        except BaseException as exc:
            rec.emit({"type": "mutant", "id": mutant["id"], "killed_by": [],
                      "error": f"{type(exc).__name__}: {exc}"[:200]})
            continue
        mns = dict(namespace)
        for target in spec["targets"]:
            top = target["owner"] or target["name"]
            if top in ns:
                mns[top] = ns[top]
        killed = []
        timeouts = 0
        for item in spec["calls"]:
            if item.get("target") != mutant.get("target") or item["id"] not in parsed:
                continue
            if timeouts >= 3:  # an endless loop: every further call would time out too
                killed.append(item["id"])
                continue
            budget = min(cap, max(0.05, 20 * seconds.get(item["id"], 0.0)))
            outcome, _took = evaluate(parsed[item["id"]], mns, budget)
            if outcome["kind"] == "timeout":
                timeouts += 1
            if outcome_key(outcome) != original[item["id"]]:
                killed.append(item["id"])
        rec.emit({"type": "mutant", "id": mutant["id"], "killed_by": killed, "error": ""})
    rec.emit({"type": "done"})


if __name__ == "__main__":
    main(sys.argv[1])
