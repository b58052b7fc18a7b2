"""Documents: LSP position conversion in every encoding, edits, and incremental re-parsing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from offpilot.context.documents import Documents, column_to_index, index_to_column


def _change(text: str, sl: int | None = None, sc: int = 0, el: int = 0, ec: int = 0):
    if sl is None:
        return SimpleNamespace(text=text)
    pos = SimpleNamespace
    return SimpleNamespace(text=text, range=SimpleNamespace(
        start=pos(line=sl, character=sc), end=pos(line=el, character=ec)))


@pytest.mark.parametrize(("encoding", "column"), [("utf-16", 3), ("utf-8", 6), ("utf-32", 2)])
def test_position_after_an_astral_character(encoding: str, column: int) -> None:
    # "é" is 1 UTF-16 unit / 2 UTF-8 bytes; "😀" is 2 UTF-16 units / 4 UTF-8 bytes.
    line = "é😀x"
    assert column_to_index(line, column, encoding) == 2
    assert index_to_column(line, 2, encoding) == column


def test_offsets_round_trip_and_clamp() -> None:
    docs = Documents()
    doc = docs.open("file:///w/a.py", "python", 1, "héllo\nwörld 😀!\n")
    assert doc.offset_at(1, 8) == len("héllo\nwörld 😀")
    assert doc.position_at(len("héllo\nwörld 😀")) == (1, 8)
    assert doc.offset_at(99, 0) == len(doc.text)
    assert doc.offset_at(-1, 5) == 0
    assert doc.offset_at(0, 999) == len("héllo")
    # a position inside a surrogate pair stays before the character
    assert doc.offset_at(1, 7) == len("héllo\nwörld ")


def test_crlf_line_text_excludes_the_carriage_return() -> None:
    doc = Documents().open("file:///w/a.py", "python", 1, "ab\r\ncd")
    assert doc.offset_at(0, 99) == 2
    assert doc.offset_at(1, 1) == 5


def test_partial_and_whole_changes_apply_in_order() -> None:
    docs = Documents()
    docs.open("file:///w/a.py", "python", 1, "def f():\n    return 1\n")
    docs.apply_changes("file:///w/a.py", 2, [
        _change("2", 1, 11, 1, 12),
        _change("\n\ndef g():\n    pass", 1, 12, 1, 12),
    ])
    doc = docs.get("file:///w/a.py")
    assert doc is not None and doc.version == 2
    assert doc.text == "def f():\n    return 2\n\ndef g():\n    pass\n"
    docs.apply_changes("file:///w/a.py", 3, [_change("x = 1\n")])
    assert doc.text == "x = 1\n"


def test_incremental_parse_matches_a_fresh_parse() -> None:
    docs = Documents()
    doc = docs.open("file:///w/a.py", "python", 1, "def f(a):\n    return a\n")
    assert doc.tree is not None and not doc.tree.root_node.has_error
    docs.apply_changes(doc.uri, 2, [_change("ünïcode_😀 = 'é'\n", 0, 0, 0, 0)])
    docs.apply_changes(doc.uri, 3, [_change("class C:\n    def m(self): ...\n", 3, 0, 3, 0)])
    tree = doc.tree
    assert tree is not None
    fresh = doc.spec.parser().parse(doc.text.encode())  # type: ignore[union-attr]
    assert str(tree.root_node) == str(fresh.root_node)
    kinds = [c.type for c in tree.root_node.children]
    assert kinds == ["expression_statement", "function_definition", "class_definition"]


def test_unknown_language_has_no_tree_and_node_at_is_none() -> None:
    doc = Documents().open("file:///w/notes.txt", "plaintext", 1, "hello")
    assert doc.spec is None and doc.tree is None and doc.node_at(0) is None


def test_extension_decides_when_the_language_id_is_unknown() -> None:
    doc = Documents().open("file:///w/main.rs", "unknown", 1, "fn main() {}\n")
    assert doc.spec is not None and doc.spec.name == "rust"
    node = doc.node_at(3)
    assert node is not None and node.type == "identifier"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60),
       st.sampled_from(["utf-8", "utf-16", "utf-32"]))
def test_every_offset_round_trips(text: str, encoding: str) -> None:
    docs = Documents(position_encoding=encoding)
    doc = docs.open("file:///w/a.py", "python", 1, text)
    for offset in range(len(text) + 1):
        line, col = doc.position_at(offset)
        back = doc.offset_at(line, col)
        # "\r\n" is one line break: an offset between \r and \n maps to the line's end
        assert back == offset or text[back:offset] == "\r"
