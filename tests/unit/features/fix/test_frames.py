"""Tracebacks and panics read into frames, and frames mapped to workspace files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from offpilot.features.fix.frames import (
    innermost_code_frame,
    map_frames,
    parse_error_text,
    workspace_file,
)

SCRIPT = '''\
def ratio(a, b):
    return a / b


def main():
    try:
        {}["missing"]
    except KeyError:
        print(ratio(1, 0))


main()
'''


def real_traceback(root: Path) -> str:
    (root / "pkg").mkdir()
    (root / "pkg" / "boom.py").write_text(SCRIPT, encoding="utf-8")
    done = subprocess.run([sys.executable, "pkg/boom.py"], cwd=root, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 1
    return done.stderr


def test_a_chained_python_traceback_gives_the_last_error_and_its_frames(tmp_path: Path):
    text = real_traceback(tmp_path)
    assert "During handling" in text  # the KeyError's traceback comes first
    error = map_frames(parse_error_text(text), tmp_path)
    assert error.language == "python"
    assert (error.error_type, error.message) == ("ZeroDivisionError", "division by zero")
    assert [(f.function, f.line) for f in error.frames] == [
        ("<module>", 12), ("main", 9), ("ratio", 2)]
    assert error.frames[-1].source_line == "return a / b"
    boom = (tmp_path / "pkg" / "boom.py").resolve()
    assert all(f.workspace_path == boom for f in error.frames)
    assert innermost_code_frame(error.frames) == error.frames[-1]


def test_frames_outside_the_workspace_are_not_mapped(tmp_path: Path):
    text = ('Traceback (most recent call last):\n'
            f'  File "{tmp_path}/app.py", line 1, in <module>\n'
            '    import json; json.loads("{")\n'
            f'  File "{Path(sys.executable).parent.parent}/lib/python3/site-packages/x.py", '
            'line 3, in loads\n'
            '    raise ValueError("bad")\n'
            'ValueError: bad\n')
    (tmp_path / "app.py").write_text("x = 1\n")
    error = map_frames(parse_error_text(text), tmp_path)
    assert [f.workspace_path for f in error.frames] == [(tmp_path / "app.py").resolve(), None]


def test_a_sandbox_copy_path_names_the_workspace_file(tmp_path: Path):
    (tmp_path / "calc.py").write_text("x = 1\n")
    copied = "/tmp/offpilot-sandbox-abc123/project/calc.py"
    assert workspace_file(copied, tmp_path) == (tmp_path / "calc.py").resolve()
    assert workspace_file("/tmp/offpilot-sandbox-abc123/project/gone.py", tmp_path) is None


def test_a_rust_panic_with_a_backtrace(tmp_path: Path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "lib.rs").write_text("fn f() {}\n" * 20)
    # the format rustc 1.73+ prints, as text
    text = ("thread 'tests::divides' panicked at src/lib.rs:4:5:\n"
            "attempt to divide by zero\n"
            "stack backtrace:\n"
            "   0: rust_begin_unwind\n"
            "             at /rustc/abc/library/std/src/panicking.rs:597:5\n"
            "   1: demo::divide\n"
            "             at ./src/lib.rs:4:5\n"
            "   2: demo::tests::divides\n"
            "             at ./src/lib.rs:12:9\n")
    error = map_frames(parse_error_text(text), tmp_path)
    assert (error.language, error.error_type) == ("rust", "panic")
    assert error.message == "attempt to divide by zero"
    mapped = [(f.function, f.line) for f in error.frames if f.workspace_path is not None]
    assert mapped == [("demo::tests::divides", 12), ("demo::divide", 4)]


def test_text_without_a_traceback_is_not_recognised():
    assert parse_error_text("everything is fine\n").language == ""
