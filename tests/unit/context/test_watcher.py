"""Files changed on disk outside the editor reach the index (debounced, batched)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from offpilot.config import Settings
from offpilot.context.engine import ContextEngine
from offpilot.context.index import IgnoreRules
from offpilot.context.watcher import Batch, Watcher

WAIT = 15.0  # generous: CI machines are slow, watchers are asynchronous


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OFFPILOT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def eventually(check: Callable[[], object], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def test_file_changed_outside_the_editor_is_reindexed(tmp_path: Path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "a.py").write_text("def old_name():\n    pass\n")
    engine = ContextEngine([root], Settings())
    engine.start()
    try:
        assert engine.wait_ready(30)
        index = engine._roots[0].index
        assert index.definitions("old_name")
        (root / "a.py").write_text("def new_name():\n    pass\n")
        (root / "b.py").write_text("def second():\n    pass\n")
        assert eventually(lambda: index.definitions("new_name") and index.definitions("second"))
        assert not index.definitions("old_name")
        (root / "b.py").unlink()
        assert eventually(lambda: not index.definitions("second"))
    finally:
        engine.stop()


def test_many_changes_arrive_as_one_batch_without_ignored_paths(tmp_path: Path):
    root = tmp_path / "p"
    root.mkdir()
    (root / ".gitignore").write_text("out/\n")
    (root / "out").mkdir()
    batches: list[Batch] = []
    watcher = Watcher({root.resolve(): IgnoreRules(root.resolve())}, batches.append,
                      debounce=0.5, max_delay=10.0)
    if not watcher.start():
        pytest.skip("no file watching on this platform")
    try:
        time.sleep(0.2)
        for i in range(200):
            (root / f"m{i}.py").write_text(f"x = {i}\n")
            (root / "out" / f"gen{i}.py").write_text("y = 1\n")
            (root / f"notes{i}.txt").write_text("text\n")
        assert eventually(lambda: batches)
        time.sleep(1.0)
    finally:
        watcher.stop()
    paths = set().union(*(b.paths for b in batches))
    assert len(batches) <= 2  # a burst is one batch (two if the clock split it)
    assert {p.name for p in paths} == {f"m{i}.py" for i in range(200)}
