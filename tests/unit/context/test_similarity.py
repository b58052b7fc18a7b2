"""The ring of recent chunks: windows, near-duplicate eviction, capacity, ranking."""

from __future__ import annotations

from offpilot.context.similarity import ChunkRing, chunk_around, jaccard, tokens


def numbered(n: int, word: str = "line") -> str:
    return "\n".join(f"{word}_{i} = compute_{i}(value)" for i in range(1, n + 1))


def test_chunk_is_a_window_around_the_line_clamped_to_the_file():
    text = numbered(100)
    c = chunk_around("a.py", text, 50, size=20)
    assert (c.start_line, c.end_line) == (40, 59)
    assert c.text.split("\n")[0] == "line_40 = compute_40(value)"
    top = chunk_around("a.py", text, 1, size=20)
    assert (top.start_line, top.end_line) == (1, 20)
    bottom = chunk_around("a.py", text, 100, size=20)
    assert (bottom.start_line, bottom.end_line) == (81, 100)
    assert chunk_around("a.py", "\n\n\n", 1) is None


def test_jaccard_and_tokens():
    assert tokens("a.b_c = foo(x1)") == {"b_c", "foo", "x1"}
    assert jaccard(frozenset({"a", "b"}), frozenset({"b", "c"})) == 1 / 3
    assert jaccard(frozenset(), frozenset({"x"})) == 0.0


def test_near_duplicates_are_evicted_and_capacity_holds():
    ring = ChunkRing(capacity=3, chunk_lines=10)
    text = numbered(40)
    ring.add_text("a.py", text, 5)
    ring.add_text("a.py", text + "\n", 5)  # the same window again: replaces, does not add
    assert len(ring) == 1
    ring.add_text("b.py", numbered(40, "other"), 5)
    ring.add_text("c.py", numbered(40, "third"), 5)
    ring.add_text("d.py", numbered(40, "fourth"), 5)
    assert [c.path for c in ring.chunks()] == ["b.py", "c.py", "d.py"]


def test_query_ranks_by_similarity_and_skips_the_cursor_window():
    ring = ChunkRing(capacity=8, chunk_lines=10)
    ring.add_text("orders.py", "def total(order):\n    return sum(line.price for line in "
                  "order.lines)\n", 1)
    ring.add_text("colors.py", "RED = '#f00'\nGREEN = '#0f0'\n", 1)
    ring.add_text("cur.py", "def total(order):\n    pass\n", 1)
    found = ring.query("def refund(order):\n    amount = sum(line.price for line in",
                       exclude_path="cur.py", exclude_lines=(1, 30))
    assert [c.path for _, c in found] == ["orders.py"]
