"""``offpilot docs`` argument handling and the choice of definitions, without a model."""

from __future__ import annotations

from pathlib import Path

import pytest
from offpilot.cli import build_parser
from offpilot.cli.docs import _targets, cmd_docs, parse_target
from offpilot.features.docs.generate import DocsError

SOURCE = '''class Box:
    def __init__(self, size):
        self.size = size

    def grow(self, by):
        """Grow."""
        self.size += by


def area(w, h): return w * h


def volume(w, h, d):
    return w * h * d
'''


def test_targets_in_a_file_and_by_symbol():
    assert [d.name for d in _targets(SOURCE, "")] == ["Box", "volume"]  # not __init__, area
    assert [d.name for d in _targets(SOURCE, "Box.__init__")] == ["__init__"]
    with pytest.raises(DocsError, match="already has a docstring"):
        _targets(SOURCE, "Box.grow")
    with pytest.raises(DocsError, match="no function or class"):
        _targets(SOURCE, "nothing")


def test_parse_target(tmp_path: Path):
    f = tmp_path / "m.py"
    f.write_text(SOURCE, encoding="utf-8")
    assert parse_target(str(f)) == (f, "")
    assert parse_target(f"{f}:Box.grow") == (f, "Box.grow")


def test_bad_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    parser = build_parser()
    assert cmd_docs(parser.parse_args(["docs", str(tmp_path / "none.py")])) == 2
    assert "no such file" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("x", encoding="utf-8")
    assert cmd_docs(parser.parse_args(["docs", str(notes)])) == 2
    assert "generated for Python" in capsys.readouterr().err
    f = tmp_path / "m.py"
    f.write_text(SOURCE, encoding="utf-8")
    assert cmd_docs(parser.parse_args(["docs", f"{f}:Box.grow", "--dry-run"])) == 2
    assert "already has a docstring" in capsys.readouterr().err
    assert f.read_text(encoding="utf-8") == SOURCE


def test_targets_in_other_languages(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from offpilot.cli.docs import _comment_targets
    from offpilot.context.languages import by_name

    rust = by_name("rust")
    assert rust is not None
    src = "/// Documented.\nfn a(x: u8) {}\n\nfn b(y: u8) -> u8 { y }\n"
    assert [d.name for d in _comment_targets(src, rust, "")] == ["b"]
    with pytest.raises(DocsError, match="already has a doc comment"):
        _comment_targets(src, rust, "a")
    f = tmp_path / "m.rs"
    f.write_text(src, encoding="utf-8")
    parser = build_parser()
    assert cmd_docs(parser.parse_args(["docs", str(f), "--style", "google"])) == 2
    assert "rustdoc style, not google" in capsys.readouterr().err
    assert f.read_text(encoding="utf-8") == src
