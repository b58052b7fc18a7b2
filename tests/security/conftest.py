"""Canaries for the attack suite: files outside the workspace that no run may touch, and a fake
secret in the environment that no run may see.

Canaries lie in two places: a temp dir (hidden from sandboxed runs under an empty tmpfs) and a
folder that sandboxed runs see read-only: the repository's ignored ``build/``, or, when the
checkout itself lies in a hidden place (a clone under /tmp), a folder under /var/cache. Neither
is the sandbox or the workspace under test.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from offpilot.features.testgen.core import sandbox as sandbox_module

REPO = Path(__file__).resolve().parents[2]
VISIBLE_PLACES = (REPO / "build", Path("/var/cache/offpilot-test-canaries"),
                  Path("/var/lib/offpilot-test-canaries"))
SECRET_NAME = "OFFPILOT_TEST_CANARY_SECRET"


@dataclass
class Canaries:
    """Canary files and directories, and a way to check none of them changed."""

    dirs: list[Path]
    secret: str
    _state: dict[Path, str]

    @property
    def hidden(self) -> Path:
        """The canary folder in a temp dir (sandboxed runs do not see it)."""
        return self.dirs[0]

    @property
    def visible(self) -> Path:
        """The canary folder outside homes and temp dirs (sandboxed runs see it read-only)."""
        return self.dirs[1]

    def snapshot(self) -> dict[Path, str]:
        state: dict[Path, str] = {}
        for d in self.dirs:
            for path in sorted(d.rglob("*")):
                state[path] = hashlib.sha256(path.read_bytes()).hexdigest() \
                    if path.is_file() else "dir"
        return state

    def assert_untouched(self) -> None:
        now = self.snapshot()
        assert now == self._state, {
            "missing": sorted(str(p) for p in self._state.keys() - now.keys()),
            "new": sorted(str(p) for p in now.keys() - self._state.keys()),
            "changed": sorted(str(p) for p in now.keys() & self._state.keys()
                              if now[p] != self._state[p])}

    def assert_secret_absent(self, *texts: str) -> None:
        for text in texts:
            assert self.secret not in text


def _fill(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name in ("victim.txt", "victim2.txt", "victim3.txt", "victim4.txt"):
        (folder / name).write_text(f"canary {name}\n")
    (folder / "victimdir").mkdir()
    (folder / "victimdir" / "inner.txt").write_text("canary inner\n")


def visible_place() -> Path:
    """A writable folder that the sandbox shows read-only (outside homes and temp dirs)."""
    hidden = sandbox_module._hidden_dirs()
    for place in VISIBLE_PLACES:
        real = str(place.resolve())
        if any(real == h or real.startswith(h.rstrip("/") + "/") for h in hidden):
            continue
        try:
            place.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        return place
    raise RuntimeError(f"none of {[str(p) for p in VISIBLE_PLACES]} is writable and outside "
                       "the folders the sandbox hides")


@pytest.fixture
def canaries(monkeypatch: pytest.MonkeyPatch) -> Iterator[Canaries]:
    # a short path, like an attacker's ("/tmp/x/victim3.txt"): constants of up to 30
    # characters quoted in a docstring become arguments
    hidden = Path(tempfile.mkdtemp(prefix="oc", dir="/tmp")) / "x"
    visible = visible_place() / f"canaries-{uuid.uuid4().hex[:8]}" / "x"
    _fill(hidden)
    _fill(visible)
    secret = f"canary-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv(SECRET_NAME, secret)
    c = Canaries([hidden, visible], secret, {})
    c._state = c.snapshot()
    try:
        yield c
    finally:
        shutil.rmtree(visible.parent, ignore_errors=True)
        shutil.rmtree(hidden.parent, ignore_errors=True)


@pytest.fixture
def no_isolation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As on a machine where bubblewrap cannot run: the probe finds no working bwrap."""
    monkeypatch.setenv(sandbox_module.BWRAP_ENV, "")
    monkeypatch.setattr(sandbox_module, "_ISOLATION", None)
    yield
    monkeypatch.setattr(sandbox_module, "_ISOLATION", None)


def needs_isolation() -> pytest.MarkDecorator:
    works = sandbox_module.filesystem_isolation().available
    return pytest.mark.skipif(not works, reason="bubblewrap cannot run on this machine")
