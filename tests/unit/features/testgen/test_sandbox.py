"""TestSandbox: a throwaway project copy, a timeout that kills the process group, no network."""

from __future__ import annotations

import asyncio
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest
from offpilot.features.testgen.core import sandbox as sandbox_module
from offpilot.features.testgen.core.sandbox import TestSandbox, workspace_python


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("VALUE = 1\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "big.py").write_text("x = 1\n")
    return root


async def _py(sandbox: TestSandbox, code: str, **kw: object):
    return await sandbox.run_python(["-c", textwrap.dedent(code)], **kw)  # type: ignore[arg-type]


async def test_runs_in_a_copy_with_home_and_tmp_inside_the_sandbox(project: Path):
    async with TestSandbox(project, python=sys.executable) as sb:
        result = await _py(sb, """
            import os, tempfile, pathlib
            print(os.getcwd()); print(os.environ["HOME"]); print(tempfile.gettempdir())
            pathlib.Path("written.txt").write_text("x")
            pathlib.Path("~/.config-file").expanduser().write_text("x")
            import pkg.mod; print(pkg.mod.__file__)
        """, pythonpath=[sb.project_dir])
        base = sb.base
        assert result.ok, result.stderr
        cwd, home, tmp, mod_file = result.stdout.split()
        assert base is not None
        for p in (cwd, home, tmp, mod_file):
            assert Path(p).resolve().is_relative_to(base)
        assert Path(cwd) == sb.project_dir
        assert not (sb.project_dir / ".git").exists()  # VCS and virtualenvs are not copied
        assert not (sb.project_dir / ".venv").exists()
    assert not (project / "written.txt").exists()
    assert not base.exists()  # removed on close


async def test_overlay_replaces_files_with_unsaved_text(project: Path):
    async with TestSandbox(project, python=sys.executable,
                           overlay={"pkg/mod.py": "VALUE = 2\n"}) as sb:
        result = await _py(sb, "import pkg.mod; print(pkg.mod.VALUE)",
                           pythonpath=[sb.project_dir])
    assert result.stdout.strip() == "2"
    assert (project / "pkg" / "mod.py").read_text() == "VALUE = 1\n"


async def test_overlay_cannot_escape_the_copy(project: Path):
    with pytest.raises(ValueError):
        async with TestSandbox(project, python=sys.executable,
                               overlay={"../outside.py": "x = 1\n"}):
            pass
    assert not (project.parent / "outside.py").exists()


async def test_timeout_kills_the_whole_process_group(project: Path, tmp_path: Path):
    marker = tmp_path / "grandchild-survived"
    async with TestSandbox(project, python=sys.executable) as sb:
        t0 = time.monotonic()
        result = await _py(sb, f"""
            import subprocess, sys, time
            child = subprocess.Popen([sys.executable, "-c",
                "import time, pathlib; time.sleep(2); pathlib.Path({str(marker)!r}).touch()"])
            print(child.pid, flush=True)
            time.sleep(60)
        """, timeout=1.0)
    assert result.timed_out
    assert time.monotonic() - t0 < 10
    await asyncio.sleep(2.5)
    assert not marker.exists(), "a grandchild outlived the timeout"
    assert not _processes_mentioning(str(marker)), "a grandchild outlived the timeout"


def _processes_mentioning(text: str) -> list[int]:
    """Host processes whose command line contains ``text`` (pids in the sandbox are the
    sandbox's own, so they cannot be looked up directly)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def test_cancelling_kills_the_process(project: Path, tmp_path: Path):
    marker = tmp_path / "still-running"
    async with TestSandbox(project, python=sys.executable) as sb:
        task = asyncio.ensure_future(_py(sb, f"""
            import time, pathlib
            time.sleep(2)
            pathlib.Path({str(marker)!r}).touch()
        """))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await asyncio.sleep(2.5)
    assert not marker.exists()


@pytest.mark.parametrize("isolation", ["best available", "guard"])
async def test_network_is_not_reachable(project: Path, monkeypatch: pytest.MonkeyPatch,
                                        isolation: str):
    allow = False
    if isolation == "guard":  # as on systems without user namespaces, unisolated runs allowed
        monkeypatch.setattr(sandbox_module, "_NETWORK_PREFIX", [])
        monkeypatch.setattr(sandbox_module, "_ISOLATION", sandbox_module.Isolation("", "off"))
        allow = True
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        async with TestSandbox(project, python=sys.executable, allow_unisolated=allow) as sb:
            result = await _py(sb, f"""
                import socket
                try:
                    socket.create_connection(("127.0.0.1", {port}), timeout=3)
                    print("connected")
                except OSError as exc:
                    print("refused", type(exc).__name__)
                try:
                    socket.getaddrinfo("example.com", 80)
                    print("resolved")
                except OSError:
                    print("no dns")
            """)
            used = sb.network_isolation
    finally:
        server.close()
    assert used in (("namespace", "guard") if isolation != "guard" else ("guard",))
    assert "refused" in result.stdout, result.stdout + result.stderr
    assert "no dns" in result.stdout


async def test_memory_is_limited(project: Path):
    async with TestSandbox(project, python=sys.executable, memory_mb=512) as sb:
        result = await _py(sb, """
            try:
                block = bytearray(2 * 1024 ** 3)
                print("allocated")
            except MemoryError:
                print("MemoryError")
        """)
    assert "MemoryError" in result.stdout


async def test_secrets_in_the_environment_are_not_passed_on(project: Path,
                                                           monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OFFPILOT_API_KEY", "secret-value")
    async with TestSandbox(project, python=sys.executable) as sb:
        result = await _py(sb, "import os; print(os.environ.get('OFFPILOT_API_KEY'))")
    assert result.stdout.strip() == "None"


def test_workspace_python_prefers_the_setting_then_the_venv(tmp_path: Path):
    assert workspace_python(tmp_path) == sys.executable
    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("#!/bin/sh\n")
    venv_python.chmod(0o755)
    assert workspace_python(tmp_path) == str(venv_python)
    assert workspace_python(tmp_path, "/opt/py/bin/python3") == "/opt/py/bin/python3"


async def test_a_sandbox_cancelled_while_it_opens_is_removed_once_opened(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The copy runs in a thread, which a cancellation does not stop: what it made is removed
    # once it is done (before, the folder stayed until the server ended, and after).
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    for i in range(300):
        (project / "pkg" / f"m{i}.py").write_text("VALUE = 1\n" * 50)
    entered = asyncio.ensure_future(TestSandbox(project).__aenter__())
    deadline = time.monotonic() + 10
    while not list(temp.glob("offpilot-sandbox-*")) and time.monotonic() < deadline:
        await asyncio.sleep(0.001)  # the copy has begun
    entered.cancel()
    with pytest.raises(asyncio.CancelledError):
        await entered
    while list(temp.glob("offpilot-sandbox-*")) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not list(temp.glob("offpilot-sandbox-*"))
