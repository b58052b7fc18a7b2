"""``offpilot eval``: position sampling and scoring (plain functions), and the command itself on
a small repository with the real embedded model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from offpilot.features.evaluate import (
    KINDS,
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
    (root / "pyproject.toml").write_text("[project]\nname = 'shop'\n", encoding="utf-8")
    return root


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
        [sys.executable, "-m", "offpilot", "eval", str(root), "--samples", "5", "--json",
         "--answers", "--time-limit", "60", "--max-tokens", "24", "--threads", "1"],
        capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["samples"] == 5 and sum(out["kinds"].values()) == 5
    assert [x["context"] for x in out["results"]] == [True, False]
    for res in out["results"]:
        assert not res["error"] and res["samples"] == 5
        assert res["p95_ms"] >= res["p50_ms"] > 0 and res["tokens_evaluated"] > 0
        for a in res["answers"]:  # the summary is what the answers say
            s = Sample(a["path"], "python", a["kind"], a["line"], "", 0, a["expected"])
            assert score(s, a["answer"])["accepted"] == a["accepted"]
        assert res["accepted_chars"] == pytest.approx(
            sum(a["accepted"] for a in res["answers"]) / 5)
    assert "context on" in r.stderr and "5/5" in r.stderr  # progress
