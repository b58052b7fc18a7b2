"""The records and helpers at the bottom of the layers (offpilot.shared)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from offpilot.shared import Snippet, find_root, line_offsets, offset_of, setup_logging, snippet_json


def test_offset_of_counts_characters_from_one_and_clamps():
    text = "ab\ncdé\n"
    assert offset_of(text, 1, 1) == 0
    assert offset_of(text, 2, 3) == 5  # "é" is one character
    assert offset_of(text, 2, 99) == 6  # clamped to the end of the line
    assert offset_of(text, 9, 1) == len(text)  # past the last line: the end
    with pytest.raises(ValueError, match="1-based"):
        offset_of(text, 0, 1)


def test_line_offsets_span_whole_lines():
    assert line_offsets("ab\ncd\nef", 2, 2) == (3, 5)
    assert line_offsets("ab\ncd\nef", 1, 3) == (0, 8)


def test_find_root_is_the_nearest_folder_with_a_project_marker(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "repo" / "pkg" / "pyproject.toml").write_text("")
    assert find_root(tmp_path / "repo" / "pkg" / "sub" / "a.py") == tmp_path / "repo" / "pkg"
    assert find_root(tmp_path / "repo" / "b.py") == tmp_path / "repo"
    # no marker anywhere: the folder the command runs in when the file is under it, else its own
    plain = tmp_path / "plain"
    (plain / "x").mkdir(parents=True)
    monkeypatch.chdir(plain)
    if find_root(plain / "x" / "c.py") != plain:  # a marker above tmp_path (none in a clean /tmp)
        pytest.skip("a project marker above the temporary folder")
    assert find_root(Path("x") / "c.py") == plain
    assert find_root(tmp_path / "elsewhere" / "d.py") == tmp_path / "elsewhere"


def test_snippet_json_is_plain_json():
    s = Snippet("pkg/util.py", 3, 5, "definition", "def f():\n    return 1\n")
    assert json.loads(json.dumps(snippet_json(s))) == {
        "path": "pkg/util.py", "start_line": 3, "end_line": 5, "kind": "definition",
        "text": "def f():\n    return 1\n"}


def test_setup_logging_sets_offpilot_level_and_one_handler(tmp_path: Path):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("offpilot").level)
    try:
        log_file = tmp_path / "offpilot.log"
        setup_logging("debug", str(log_file))
        logging.getLogger("offpilot.test").debug("from offpilot")
        logging.getLogger("other").info("not shown")
        for h in root.handlers:
            h.flush()
        text = log_file.read_text()
        assert "DEBUG offpilot.test: from offpilot" in text and "not shown" not in text
        assert len(root.handlers) == 1
    finally:
        for h in root.handlers:
            h.close()
        root.handlers[:], level, off_level = saved
        root.setLevel(level)
        logging.getLogger("offpilot").setLevel(off_level)
