"""The server's environment (API keys) cannot be read by another process of the same user.

``offpilot serve`` and the model worker mark themselves non-dumpable at start
(:mod:`offpilot.shared.nodump`), so ``/proc/<pid>/environ`` is refused to a process of the same user
without ``CAP_SYS_PTRACE`` (code under test, say). Each test first shows that the same reader
*does* read the environment of an ordinary process started with the same secret.

As root, every process here (the reader, the server, the worker, the ordinary process) runs
without any capability (``setpriv``), as a normal user's processes do: otherwise root's
capabilities would decide, not the non-dumpable mark.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.reliability.rpc import SERVER, RawServer, clean_env

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="non-dumpable processes and /proc are Linux's")

SECRET = "sk-env-canary-29d7c0a1e5b4"
READ = ("import sys\n"
        "try:\n"
        "    data = open(f'/proc/{sys.argv[1]}/environ', 'rb').read()\n"
        "except OSError as exc:\n"
        "    print('DENIED', exc.errno)\n"
        "else:\n"
        "    print('READ', data.hex())\n")


def as_user(command: list[str]) -> list[str]:
    """``command`` run as an ordinary process of this user: as root, without capabilities."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: processes without capabilities cannot "
                    "be started")
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-all", *command]


def read_environ(pid: int) -> str | None:
    """The environment of ``pid`` as another process of this user reads it (None: refused)."""
    command = as_user([sys.executable, "-c", READ, str(pid)])
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    kind, _, value = done.stdout.strip().partition(" ")
    if kind == "DENIED":
        return None
    assert kind == "READ", done.stdout
    return bytes.fromhex(value).decode("utf-8", "replace")


def test_reader_reads_an_ordinary_process_environment():
    proc = subprocess.Popen(as_user([sys.executable, "-c", "import time; time.sleep(60)"]),
                            env=clean_env(OFFPILOT_API_KEY=SECRET))
    try:
        time.sleep(0.3)
        seen = read_environ(proc.pid)
        assert seen is not None and SECRET in seen  # so a refusal below means something
    finally:
        proc.kill()
        proc.wait()


def test_server_environment_is_not_readable(tmp_path):
    server = RawServer(clean_env(OFFPILOT_API_KEY=SECRET, OFFPILOT_CACHE_DIR=str(tmp_path),
                                 OFFPILOT_COMPLETIONS_ENABLED="false"),
                       command=as_user(SERVER))
    try:
        server.initialize(tmp_path)
        assert read_environ(server.proc.pid) is None
        # and it still works
        assert "completion" in server.call("offpilot/stats")
    finally:
        server.close()


def test_model_worker_environment_is_not_readable():
    env = clean_env(OFFPILOT_API_KEY=SECRET)
    proc = subprocess.Popen(as_user([sys.executable, "-m", "offpilot.engine.worker"]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready"
        assert read_environ(proc.pid) is None
        proc.stdin.write(b'{"op": "tokenize", "id": 1, "text": "x"}\n')  # still answers
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        assert answer["id"] == 1
    finally:
        proc.kill()
        proc.wait()
