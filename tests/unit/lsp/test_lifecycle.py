"""offpilot.lsp.lifecycle on real processes: liveness (zombies, reused pids), the stdin watch,
ending the children with their process groups. (The whole server is in
tests/reliability/test_editor_gone.py.)"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from offpilot.lsp.lifecycle import (
    Lifeline,
    WatchedInput,
    children,
    process_alive,
    start_time,
)

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_watched_input_reports_the_end_once_data_runs_out():
    ends: list[int] = []
    stream = WatchedInput(io.BytesIO(b"Content-Length: 2\r\n\r\n{}"), lambda: ends.append(1))
    assert stream.readline() == b"Content-Length: 2\r\n"
    assert stream.readline() == b"\r\n"
    assert stream.read(2) == b"{}"
    assert not ends
    assert stream.readline() == b""
    assert ends == [1]


def test_watched_input_treats_a_closed_stream_as_the_end():
    ends: list[int] = []
    raw = io.BytesIO(b"x")
    raw.close()
    assert WatchedInput(raw, lambda: ends.append(1)).read(1) == b""
    assert ends == [1]


@linux
def test_a_zombie_and_a_reused_pid_count_as_dead():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        started = start_time(proc.pid)
        assert started is not None
        assert process_alive(proc.pid, started)
        assert not process_alive(proc.pid, str(int(started) + 1))  # another process, same pid
        proc.kill()
        deadline = time.monotonic() + 5
        while process_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(proc.pid)  # not reaped yet: a zombie
        assert proc.poll() is not None
        assert not process_alive(proc.pid)  # reaped: gone
    finally:
        proc.kill()
        proc.wait()


@linux
def test_editor_gone_ends_the_children_and_their_groups():
    """In a child Python process (end_children kills the caller's children): a plain child
    and the grandchild of a child that leads its own session must all be gone."""
    script = r"""
import os, subprocess, sys, time
from offpilot.lsp.lifecycle import Lifeline
plain = subprocess.Popen(["sleep", "60"])
leader = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE,
                          start_new_session=True)
grandchild = int(leader.stdout.readline())
print(plain.pid, leader.pid, grandchild, flush=True)
Lifeline(exit=lambda code: os._exit(code)).editor_gone("test", grace=0.1)
time.sleep(30)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=20, check=False)
    assert proc.returncode == 1, proc.stderr  # no shutdown request: exit code 1
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 3
    deadline = time.monotonic() + 5
    while any(process_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if process_alive(p)]


def test_editor_gone_removes_the_folders_still_in_use(tmp_path: Path):
    """In a child Python process that ends with os._exit (no ``finally`` runs): a folder
    registered by an open sandbox goes with it; one its owner kept stays."""
    script = r"""
import os, sys, time
from pathlib import Path
from offpilot.lsp.lifecycle import Lifeline
from offpilot.shared import leftovers
open_one, kept = Path(sys.argv[1]) / "open", Path(sys.argv[1]) / "kept"
for folder in (open_one, kept):
    (folder / "project").mkdir(parents=True)
    (folder / "project" / "a.py").write_text("x = 1\n")
    leftovers.remove_at_exit(folder)
leftovers.keep(kept)
Lifeline(exit=lambda code: os._exit(code)).editor_gone("test", grace=0.1)
time.sleep(30)
"""
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                          text=True, timeout=20, check=False)
    assert proc.returncode == 1, proc.stderr
    assert not (tmp_path / "open").exists() and (tmp_path / "kept" / "project" / "a.py").exists()


@linux
def test_children_lists_only_direct_children():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        assert proc.pid in children()
        assert os.getpid() not in children()
    finally:
        proc.kill()
        proc.wait()


def test_watch_process_ignores_pids_it_cannot_watch():
    lifeline = Lifeline(exit=lambda code: None)
    assert not lifeline.watch_process(None)
    assert not lifeline.watch_process(True)
    assert not lifeline.watch_process(os.getpid())
    assert not lifeline.watch_process(2**22 + 12345)  # no such process
