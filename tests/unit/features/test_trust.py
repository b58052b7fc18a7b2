"""An untrusted workspace (``workspaceTrusted`` false): Generate tests runs none of its code.

The workspace holds canaries: a module whose import writes a file outside the project, a
``.venv/bin/python`` and a ``node_modules/.bin`` runner that write one when run. The controls
run them directly, to show that each canary fires when run; the pipeline must fire none. No
model is used (tests come from the docstrings' claims).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from offpilot.config import Settings
from offpilot.features.testgen import generate_tests
from offpilot.features.trust import (
    RUNNING_OFF_REASON,
    UNTRUSTED_NOTE,
    UNTRUSTED_REASON,
    not_run_reason,
)

UNTRUSTED = replace(Settings(), workspace_trusted=False, test_timeout=60.0)

SHOUT = '''\
def shout(text: str) -> str:
    """Upper case with an exclamation mark.

    >>> shout("hi")
    'HI!'
    """
    return text.upper() + "!"
'''

ADD_JS = '''\
/**
 * Add two numbers.
 * @example
 * add(1, 2) // => 3
 */
export function add(a, b) {
  return a + b;
}
'''


def _executable(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)


def malicious_project(tmp: Path) -> tuple[Path, dict[str, Path]]:
    """A project whose code, interpreter and runner each write a canary when run."""
    canaries = {name: tmp / f"{name}.canary" for name in ("import", "venv", "node", "runner")}
    root = tmp / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "words.py").write_text(
        f"import pathlib\npathlib.Path({str(canaries['import'])!r}).write_text('ran')\n\n\n"
        + SHOUT)
    (root / "package.json").write_text('{"type": "module", "devDependencies": {"vitest": "1"}}')
    (root / "src").mkdir()
    (root / "src" / "add.js").write_text(
        f"import {{ writeFileSync }} from 'node:fs';\n"
        f"writeFileSync({str(canaries['node'])!r}, 'ran');\n\n" + ADD_JS)
    for venv in (".venv", "venv"):
        _executable(root / venv / "bin" / "python",
                    f"echo ran > '{canaries['venv']}'\nexec {sys.executable} \"$@\"")
    _executable(root / "node_modules" / ".bin" / "vitest", f"echo ran > '{canaries['runner']}'")
    return root, canaries


def test_the_canaries_fire_when_run(tmp_path: Path):
    """The control: run directly, each canary writes its file."""
    root, canaries = malicious_project(tmp_path)
    subprocess.run([sys.executable, "-c", "import pkg.words"], cwd=root, check=True,
                   timeout=60)
    subprocess.run([str(root / ".venv" / "bin" / "python"), "-c", "pass"], check=True,
                   timeout=60)
    subprocess.run([str(root / "node_modules" / ".bin" / "vitest")], check=True, timeout=60)
    assert canaries["import"].exists() and canaries["venv"].exists()
    assert canaries["runner"].exists()


async def test_python_in_an_untrusted_workspace_runs_nothing(tmp_path: Path):
    root, canaries = malicious_project(tmp_path)
    # even an interpreter chosen by a setting is not run
    settings = replace(UNTRUSTED, python_path=str(root / ".venv" / "bin" / "python"))
    result = await generate_tests(root, root / "pkg" / "words.py", symbol="shout",
                                  settings=settings)
    assert [name for name, path in canaries.items() if path.exists()] == []
    assert not result.verified and not result.workspace_trusted
    assert result.kept == 0 and result.unverified == 1
    assert result.plan is not None and "UNVERIFIED" in result.plan.text
    assert "assert shout('hi') == 'HI!'" in result.plan.text  # the docstring's claim
    answer = result.to_json()
    assert answer["workspaceTrusted"] is False
    assert answer["notes"][0] == UNTRUSTED_NOTE
    assert UNTRUSTED_NOTE in result.summary and "Trust the workspace" in result.summary
    assert "The workspace is not trusted, so nothing was run" in result.summary
    assert "runGeneratedTests is off" not in result.summary


async def test_javascript_in_an_untrusted_workspace_runs_nothing(tmp_path: Path):
    root, canaries = malicious_project(tmp_path)
    result = await generate_tests(root, root / "src" / "add.js", scope="file",
                                  settings=UNTRUSTED)
    assert [name for name, path in canaries.items() if path.exists()] == []
    assert not result.verified and not result.workspace_trusted and result.kept == 0
    assert result.notes[0] == UNTRUSTED_NOTE
    assert "The workspace is not trusted, so nothing was run" in result.summary


@pytest.mark.parametrize("language_file", ["main.go", "src/lib.rs", "src/Main.java"])
async def test_other_languages_in_an_untrusted_workspace_are_not_built(tmp_path: Path,
                                                                       language_file: str):
    root = tmp_path / "repo"
    path = root / language_file
    path.parent.mkdir(parents=True)
    path.write_text({"main.go": "package main\n\nfunc One() int { return 1 }\n",
                     "src/lib.rs": "pub fn one() -> i32 { 1 }\n",
                     "src/Main.java": "class Main { static int one() { return 1; } }\n",
                     }[language_file])
    if language_file.endswith(".rs"):
        (root / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\n')
        (root / "build.rs").write_text(f'fn main() {{ std::fs::write({str(tmp_path / "b")!r},'
                                       ' "ran").unwrap(); }\n')
    result = await generate_tests(root, path, scope="file", settings=UNTRUSTED)
    assert not (tmp_path / "b").exists()
    assert not result.workspace_trusted and result.kept == 0
    assert "the workspace is not trusted, so nothing was run" in result.summary


def test_the_decision():
    trusted, off = Settings(), replace(Settings(), run_generated_tests=False)
    untrusted = replace(Settings(), workspace_trusted=False)
    assert not_run_reason(trusted) == ""
    assert not_run_reason(off) == RUNNING_OFF_REASON
    assert not_run_reason(untrusted) == UNTRUSTED_REASON
    both = replace(untrusted, run_generated_tests=False)
    assert not_run_reason(both) == UNTRUSTED_REASON  # the reason the user can act on
