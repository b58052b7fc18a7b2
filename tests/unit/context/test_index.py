"""The workspace index: which files, persistence across restarts, recovery, parallel build."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from offpilot.context import index as index_module
from offpilot.context.index import IgnoreRules, Index, scan


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("OFFPILOT_CACHE_DIR", str(folder))
    return folder


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def make_project(root: Path, n: int = 6) -> Path:
    for i in range(n):
        write(root, f"pkg/mod{i}.py", f'def func{i}(x):\n    """Doc {i}."""\n    return x + {i}\n')
    write(root, "pkg/__init__.py", "")
    write(root, "main.py", "from pkg.mod0 import func0\n\n\nprint(func0(1))\n")
    return root


def bump(path: Path, text: str) -> None:
    """Rewrite a file so that its (mtime, size) changes even on coarse clocks."""
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_build_finds_definitions_and_imports(tmp_path: Path):
    root = make_project(tmp_path / "p")
    idx = Index(root)
    stats = idx.refresh(workers=1)
    assert stats.files == 8 and stats.parsed == 8
    assert [d.path for d in idx.definitions("func3")] == ["pkg/mod3.py"]
    main = idx.summary("main.py")
    assert main is not None and main.imports and main.imports[0].module == "pkg.mod0"


def test_restart_rereads_only_changed_files(tmp_path: Path):
    root = make_project(tmp_path / "p")
    first = Index(root)
    first.refresh(workers=1)
    first.close()

    second = Index(root)  # loads from SQLite
    assert [d.path for d in second.definitions("func2")] == ["pkg/mod2.py"]
    assert second.refresh(workers=1).parsed == 0
    bump(root / "pkg/mod2.py", "def renamed(x):\n    return x\n")
    (root / "pkg/mod5.py").unlink()
    stats = second.refresh(workers=1)
    assert stats.parsed == 1 and second.parse_count == 1
    assert second.definitions("func2") == [] and second.definitions("func5") == []
    assert [d.path for d in second.definitions("renamed")] == ["pkg/mod2.py"]
    second.close()

    third = Index(root)
    assert third.refresh(workers=1).parsed == 0
    assert [d.path for d in third.definitions("renamed")] == ["pkg/mod2.py"]
    assert not third.has("pkg/mod5.py")


def test_garbage_database_is_detected_and_rebuilt(tmp_path: Path):
    root = make_project(tmp_path / "p")
    idx = Index(root)
    idx.refresh(workers=1)
    idx.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{idx.db_path}{suffix}").unlink(missing_ok=True)
    idx.db_path.write_bytes(b"this is not a database \x00\xff" * 512)

    again = Index(root)
    assert again.rebuilt
    assert again.refresh(workers=1).parsed == 8
    assert again.definitions("func1")
    again.close()
    with sqlite3.connect(again.db_path) as db:
        assert db.execute("SELECT count(*) FROM files").fetchone()[0] == 8


def test_crash_mid_build_leaves_a_usable_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = make_project(tmp_path / "p", n=10)
    real = index_module.summarize_batch
    calls = {"n": 0}

    def crashing(root_: str, rels: list[str], max_size: int):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the process dies here
        return real(root_, rels, max_size)

    monkeypatch.setattr(index_module, "BATCH_FILES", 3)
    monkeypatch.setattr(index_module, "summarize_batch", crashing)
    idx = Index(root)
    with pytest.raises(KeyboardInterrupt):
        idx.refresh(workers=1)
    idx.close()
    monkeypatch.setattr(index_module, "summarize_batch", real)

    after = Index(root)
    assert len(after.paths()) == 6  # two batches were committed
    assert after.refresh(workers=1).parsed == 12 - 6
    assert len(after.paths()) == 12


def test_gitignore_nested_negation_and_default_folders(tmp_path: Path):
    root = tmp_path / "p"
    write(root, ".gitignore", "generated/\n*.gen.py\n")
    write(root, "sub/.gitignore", "local_*.py\n!local_keep.py\n")
    for rel in ["app.py", "x.gen.py", "generated/out.py", "sub/local_tmp.py", "sub/local_keep.py",
                "sub/deeper/local_other.py", "node_modules/lib/index.js", ".venv/lib/site.py",
                "build/lib/copy.py", "dist/pkg.py", "pkg/__pycache__/m.py", ".git/hooks/h.py",
                "notes.txt", "web/app.ts"]:
        write(root, rel, "x = 1\n")
    files, _ = scan(root, IgnoreRules(root), 1_000_000)
    assert sorted(files) == ["app.py", "sub/local_keep.py", "web/app.ts"]
    rules = IgnoreRules(root)
    assert rules.ignored("generated/new.py") and rules.ignored("sub/deeper/local_x.py")
    assert not rules.ignored("sub/local_keep.py")


def test_binary_large_and_unreadable_files_are_skipped(tmp_path: Path):
    root = tmp_path / "p"
    write(root, "ok.py", "def fine():\n    pass\n")
    (root / "blob.py").write_bytes(b"def x():\n    pass\n\x00\x01\x02" * 10)
    write(root, "huge.py", "x = 1\n" * 1000)
    idx = Index(root, max_file_size=2000)
    stats = idx.refresh(workers=1)
    assert idx.summary("ok.py") is not None
    assert idx.summary("blob.py") is None and idx.summary("huge.py") is None
    assert stats.skipped >= 2
    assert idx.refresh(workers=1).parsed == 0  # a binary is not re-read until it changes


def test_directory_symlink_loops_terminate(tmp_path: Path):
    root = tmp_path / "p"
    write(root, "a/mod.py", "def f():\n    pass\n")
    try:
        (root / "a" / "loop").symlink_to(root, target_is_directory=True)
        (root / "self").symlink_to(root / "a", target_is_directory=True)
    except OSError:
        pytest.skip("symlinks unavailable")
    idx = Index(root)
    idx.refresh(workers=1)
    assert idx.paths() == ["a/mod.py"]


def test_update_paths_reindexes_and_removes(tmp_path: Path):
    root = make_project(tmp_path / "p")
    idx = Index(root)
    idx.refresh(workers=1)
    bump(root / "pkg/mod1.py", "def other(y):\n    return y\n")
    (root / "pkg/mod4.py").unlink()
    write(root, "pkg/new.py", "def fresh():\n    pass\n")
    stats = idx.update_paths([root / "pkg/mod1.py", root / "pkg/mod4.py", root / "pkg/new.py",
                              root / "README.md"])
    assert stats.parsed == 2
    assert idx.definitions("func1") == [] and idx.definitions("func4") == []
    assert idx.definitions("other") and idx.definitions("fresh")


def test_overlay_hides_the_stored_summary(tmp_path: Path):
    from offpilot.context.model import Definition, FileSummary

    root = make_project(tmp_path / "p")
    idx = Index(root)
    idx.refresh(workers=1)
    d = Definition("unsaved", "function", "pkg/mod0.py", 1, 2, "def unsaved():")
    idx.set_overlay("pkg/mod0.py", FileSummary("pkg/mod0.py", "python", (d,)))
    assert idx.definitions("func0") == [] and idx.definitions("unsaved") == [d]
    idx.set_overlay("pkg/mod0.py", None)
    assert idx.definitions("func0") and idx.definitions("unsaved") == []


def test_parallel_build_matches_the_serial_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = make_project(tmp_path / "p", n=60)
    monkeypatch.setattr(index_module, "PARALLEL_MIN_FILES", 10)
    parallel = Index(root, db_path=tmp_path / "parallel.sqlite")
    progress: list[float | None] = []
    stats = parallel.refresh(workers=2, on_progress=lambda m, f: progress.append(f))
    serial = Index(root, db_path=tmp_path / "serial.sqlite")
    serial.refresh(workers=1)
    assert stats.parsed == 62
    assert progress and progress[-1] == 1.0
    for path in serial.paths():
        assert parallel.summary(path) == serial.summary(path)


def test_restart_loads_the_same_summaries_and_counts(tmp_path: Path):
    root = make_project(tmp_path / "p")
    write(root, "pkg/both.py", "def func1():\n    pass\n\n\nclass K:\n    def func1(self):\n"
          "        pass\n")
    first = Index(root)
    first.refresh(workers=1)
    expected = {p: first.summary(p) for p in first.paths()}
    stats = first.stats()
    func1 = first.definitions("func1")
    first.close()

    second = Index(root)  # rows stay compact until asked for
    assert second.stats().definitions == stats.definitions
    assert second.stats().imports == stats.imports
    assert second.definitions("func1") == func1 and len(func1) == 3
    assert {p: second.summary(p) for p in second.paths()} == expected
    summary = second.summary("pkg/both.py")
    assert summary is second.summary("pkg/both.py")  # built once, then kept


def test_damaged_stored_rows_are_parsed_again(tmp_path: Path):
    root = make_project(tmp_path / "p")
    first = Index(root)
    first.refresh(workers=1)
    first.close()
    with sqlite3.connect(first.db_path) as db:
        db.execute("UPDATE files SET definitions = 'not json' WHERE path = 'pkg/mod1.py'")
    second = Index(root)
    assert second.summary("pkg/mod1.py") is None
    assert second.definitions("func1") == []
    assert second.refresh(workers=1).parsed == 1
    assert [d.path for d in second.definitions("func1")] == ["pkg/mod1.py"]
    assert second.summary("pkg/mod1.py") is not None


def test_files_generation_changes_only_with_the_set_of_files(tmp_path: Path):
    from offpilot.context.model import FileSummary

    root = make_project(tmp_path / "p")
    idx = Index(root)
    idx.refresh(workers=1)
    files_gen, gen = idx.files_generation, idx.generation
    idx.set_overlay("pkg/mod0.py", FileSummary("pkg/mod0.py", "python"))
    idx.set_overlay("pkg/mod0.py", None)
    bump(root / "pkg/mod1.py", "def other(y):\n    return y\n")
    idx.update_paths([root / "pkg/mod1.py"])
    assert idx.generation > gen and idx.files_generation == files_gen

    write(root, "pkg/new.py", "def fresh():\n    pass\n")
    idx.update_paths([root / "pkg/new.py"])
    assert idx.files_generation > files_gen
    files_gen = idx.files_generation
    (root / "pkg/new.py").unlink()
    idx.update_paths([root / "pkg/new.py"])
    assert idx.files_generation > files_gen
    files_gen = idx.files_generation
    idx.set_overlay("unsaved.py", FileSummary("unsaved.py", "python"))  # not on disk
    assert idx.files_generation > files_gen and idx.has("unsaved.py")


def test_rows_of_one_name_are_found_without_decoding_the_rest():
    from offpilot.context.index import _rows_named, decode_summary, encode_summary
    from offpilot.context.model import Definition, FileSummary

    tricky = Definition("other", "function", "a.py", 1, 2, 'def other(x=["f", 1]):',
                        doc='Looks like a row: ["f", "function"] and \\["f",')
    f = Definition("f", "function", "a.py", 4, 5, "def f():")
    summary = FileSummary("a.py", "python", (tricky, f, f))
    stored = encode_summary(summary)
    assert [r[2] for r in _rows_named(stored.definitions, "f")] == [4, 4]
    assert _rows_named(stored.definitions, "missing") == []
    assert decode_summary("a.py", stored) == summary
