"""``offpilot eval``: position sampling and scoring (plain functions), and the command itself on
a small repository with the real embedded model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from offpilot.context.index import Index
from offpilot.features.evaluate import (
    ALL_KINDS,
    CALL,
    KINDS,
    CallSites,
    Sample,
    accepted_chars,
    positions_in,
    sample_positions,
    score,
)

SOURCE = '''"""Prices."""


def discount(price, percent):
    if percent < 0:
        raise ValueError("percent must be positive")
    return round(price * (100 - percent) / 100)


def total(lines):
    out = 0
    for sku, quantity in lines.items():
        out += discount(quantity, 5)
    return out
'''


def write_repo(root: Path) -> Path:
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "prices.py").write_text(SOURCE, encoding="utf-8")
    (root / "shop" / "cart.py").write_text(
        "from shop.prices import total\n\n\ndef checkout(cart):\n    return total(cart)\n",
        encoding="utf-8")
    (root / "shop" / "report.py").write_text(REPORT, encoding="utf-8")
    (root / "shop" / "paths.py").write_text("def join(a, b):\n    return a + b\n",
                                            encoding="utf-8")
    (root / "pyproject.toml").write_text("[project]\nname = 'shop'\n", encoding="utf-8")
    return root


REPORT = """import json
from os.path import join

from shop import prices
from shop.prices import discount as cut


def report(lines):
    data = json.dumps(lines)
    first = cut(join("a", "b"), 5)
    local(first)
    return prices.total(lines) + len(data)


def local(x):
    return x
"""


def test_every_position_hides_text_that_puts_the_file_back_together():
    found = positions_in("shop/prices.py", SOURCE, "python")
    assert {s.kind for s in found} == set(KINDS)
    for s in found:
        assert s.text[:s.offset] + s.expected + s.text[s.offset:] == SOURCE
        assert s.expected.strip()
    block = next(s for s in found if s.kind == "block" and s.line == 6)
    assert block.expected == 'raise ValueError("percent must be positive")'
    ret = next(s for s in found if s.kind == "return" and s.line == 7)
    assert ret.expected == "round(price * (100 - percent) / 100)"


def test_sampling_is_deterministic_spread_over_kinds_and_changes_with_the_seed(tmp_path: Path):
    root = write_repo(tmp_path)
    paths = ["shop/prices.py", "shop/cart.py", "pyproject.toml"]
    first = sample_positions(root, paths, 10)
    assert [s.key for s in first] == [s.key for s in sample_positions(root, paths, 10)]
    assert len(first) == 10
    assert [s.kind for s in first[:5]] == list(KINDS)  # one of each kind first
    assert {s.path for s in first} <= {"shop/prices.py", "shop/cart.py"}
    other = sample_positions(root, paths, 10, seed="other")
    assert [s.key for s in other] != [s.key for s in first]
    only = sample_positions(root, paths, 3, kinds=("return",))
    assert [s.kind for s in only] == ["return"] * 3


def test_call_positions_are_cross_file_call_sites_resolved_by_the_index(tmp_path: Path):
    root = write_repo(tmp_path / "repo")
    index = Index(root, db_path=tmp_path / "index.db")
    try:
        index.refresh()
        calls = CallSites(index)
        picked = sample_positions(root, index.paths(), 100, kinds=(CALL,), calls=calls)
        found = {(s.path, s.line, s.expected) for s in picked}
        # json.dumps (outside the workspace), join() (imported from os.path, though
        # shop/paths.py defines a join), local() (same file), len() (a builtin) and discount()
        # inside prices.py (defined there) are not cross-file call sites.
        assert found == {("shop/cart.py", 5, "total(cart)"),
                         ("shop/report.py", 10, 'cut(join("a", "b"), 5)'),
                         ("shop/report.py", 12, "total(lines) + len(data)")}
        for s in picked:
            source = (root / s.path).read_text(encoding="utf-8")
            assert s.kind == CALL
            assert s.text[:s.offset] + s.expected + s.text[s.offset:] == source
            summary = index.summary(s.path)
            name = s.expected.split("(", 1)[0]
            receiver = s.text[:s.offset].rsplit(" ", 1)[-1].rstrip(".") \
                if s.text[s.offset - 1] == "." else None
            callee = calls.callee(s.path, summary, name, receiver)
            assert callee is not None and callee.path == "shop/prices.py"
            assert callee.kind == "function" and callee.path != s.path
            assert s.callee == f"{callee.path}:{callee.start_line}"
        assert calls.callee("shop/prices.py", index.summary("shop/prices.py"), "discount",
                            None) is None
        assert calls.callee("shop/report.py", index.summary("shop/report.py"), "join",
                            None) is None
        # every kind, calls included, comes out of the round-robin
        everything = sample_positions(root, index.paths(), 12, kinds=ALL_KINDS, calls=calls)
        assert [s.kind for s in everything[:6]] == list(ALL_KINDS)
    finally:
        index.close()


def test_scores_count_the_right_prefix_and_the_first_line_of_a_line_answer():
    s = Sample("a.py", "python", "return", 7, "", 0, "round(price * 2)")
    assert score(s, "round(price * 2)\n    x = 1")["exact"] == 1.0
    partial = score(s, "round(price * 3)")
    assert partial["exact"] == 0.0 and partial["accepted"] == len("round(price * ")
    assert 0.8 < partial["similarity"] < 1.0
    assert score(s, "")["empty"] == 1.0 and score(s, "")["similarity"] == 0.0
    assert accepted_chars("abc", "abd") == 2


@pytest.mark.model
@pytest.mark.slow
def test_offpilot_eval_on_a_small_repository_with_the_real_model(tmp_path: Path):
    root = write_repo(tmp_path / "repo")
    env = {**os.environ, "OFFPILOT_CACHE_DIR": str(tmp_path / "cache"),
           "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    r = subprocess.run(
        [sys.executable, "-m", "offpilot", "eval", str(root), "--samples", "6", "--json",
         "--answers", "--time-limit", "60", "--max-tokens", "24", "--threads", "1"],
        capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["samples"] == 6 and sum(out["kinds"].values()) == 6
    assert out["kinds"][CALL] == 1  # one of each kind, the cross-file call site included
    assert [x["context"] for x in out["results"]] == [True, False]
    for res in out["results"]:
        assert not res["error"] and res["samples"] == 6
        assert res["by_kind"][CALL]["samples"] == 1
        assert res["p95_ms"] >= res["p50_ms"] > 0 and res["tokens_evaluated"] > 0
        for a in res["answers"]:  # the summary is what the answers say
            s = Sample(a["path"], "python", a["kind"], a["line"], "", 0, a["expected"])
            assert score(s, a["answer"])["accepted"] == a["accepted"]
        assert res["accepted_chars"] == pytest.approx(
            sum(a["accepted"] for a in res["answers"]) / 6)
    assert "context on" in r.stderr and "6/6" in r.stderr  # progress
