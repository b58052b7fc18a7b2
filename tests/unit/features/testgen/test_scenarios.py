"""Targets read with ast, candidate calls validated and synthesized, mutants built."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from offpilot.features.testgen.python import scenarios as sc
from offpilot.features.testgen.python.mutants import make_mutants
from offpilot.features.testgen.python.target import find_targets, load_module

SOURCE = textwrap.dedent('''\
    from dataclasses import dataclass


    @dataclass
    class Item:
        sku: str
        price_cents: int


    def apply_discount(price_cents: int, percent: float) -> int:
        """Price after a discount.

        >>> apply_discount(1000, 15)
        850
        >>> apply_discount(1000, 101)
        Traceback (most recent call last):
        ValueError: percent must be between 0 and 100

        Also apply_discount(200, 50) ==> 100
        """
        if not 0 <= percent <= 100:
            raise ValueError("percent must be between 0 and 100")
        return round(price_cents * (100 - percent) / 100)


    def label(item: Item, prefix: str = "") -> str:
        return prefix + item.sku
''')


def module(tmp_path: Path):
    path = tmp_path / "shop.py"
    path.write_text(SOURCE)
    return load_module(tmp_path, path, SOURCE)


def test_targets_by_symbol_range_and_file(tmp_path: Path):
    mod = module(tmp_path)
    (t,) = find_targets(mod, symbol="apply_discount")
    assert [p.name for p in t.params] == ["price_cents", "percent"]
    assert 0 in t.literals and 100 in t.literals
    assert find_targets(mod, start_line=t.first_line, end_line=t.first_line)[0].name == \
        "apply_discount"
    assert [x.name for x in find_targets(mod, scope="file")] == ["apply_discount", "label"]
    assert find_targets(mod, symbol="nope") == []


def test_only_literal_calls_of_the_target_are_accepted(tmp_path: Path):
    mod = module(tmp_path)
    (t,) = find_targets(mod, symbol="apply_discount")
    ok = sc.validate_call("apply_discount(1000, 15)", t, mod.classes)
    assert ok == "apply_discount(1000, 15)"
    for bad in ("apply_discount(__import__('os').system('x'), 1)", "os.system('x')",
                "apply_discount(x, 1)", "apply_discount(*[1, 2])", "apply_discount(1)",
                "apply_discount(1, 2, 3)", "apply_discount('a', 2)", "print(1)",
                "apply_discount(1, percent=2, price_cents=3)", "apply_discount(1, [1] * 9)"):
        assert sc.validate_call(bad, t, mod.classes) is None, bad
    (label,) = find_targets(mod, symbol="label")
    assert sc.validate_call("label(Item('a', 1))", label, mod.classes)
    assert sc.validate_call("label(Item('a'))", label, mod.classes) is None  # arity
    assert sc.validate_call("label(Evil('a'))", label, mod.classes) is None


def test_model_text_is_parsed_for_calls_and_claims(tmp_path: Path):
    mod = module(tmp_path)
    (t,) = find_targets(mod, symbol="apply_discount")
    text = ("Sure! Here are tests:\nassert apply_discount(1000, 10) == 900\n"
            "apply_discount(500, 0)\nmy_apply_discount(1, 2)\napply_discount(open('x'), 1)\n"
            "assert apply_discount(1000, 10) == 1")
    found = sc.extract_calls(text, t, mod.classes)
    assert [(s.call, s.expected) for s in found] == [("apply_discount(1000, 10)", "900"),
                                                     ("apply_discount(500, 0)", None)]


def test_docstring_examples_with_results_and_exceptions(tmp_path: Path):
    mod = module(tmp_path)
    (t,) = find_targets(mod, symbol="apply_discount")
    found = sc.docstring_examples(t, mod.classes)
    assert ("apply_discount(1000, 15)", "850", None) in [
        (s.call, s.expected, s.expected_raises) for s in found]
    assert ("apply_discount(1000, 101)", None, "ValueError") in [
        (s.call, s.expected, s.expected_raises) for s in found]
    assert ("apply_discount(200, 50)", "100") in [(s.call, s.expected) for s in found]


def test_synthesized_calls_probe_the_boundaries(tmp_path: Path):
    mod = module(tmp_path)
    (t,) = find_targets(mod, symbol="apply_discount")
    calls = [s.call for s in sc.synthesize(t, mod.classes, base={"price_cents": "1000"})]
    for boundary in ("apply_discount(1000, 0.0)", "apply_discount(1000, 100.0)",
                     "apply_discount(1000, -1.0)", "apply_discount(1000, 101.0)"):
        assert boundary in calls
    (label,) = find_targets(mod, symbol="label")
    assert any(c.startswith("label(Item(") for c in
               (s.call for s in sc.synthesize(label, mod.classes)))


def test_mutants_change_one_thing_and_compile(tmp_path: Path):
    mod = module(tmp_path)
    (t,) = find_targets(mod, symbol="apply_discount")
    mutants = make_mutants(mod, t, "t0", limit=50)
    descriptions = [m.description for m in mutants]
    assert any("<= -> <" in d for d in descriptions)
    assert any("- -> +" in d for d in descriptions)
    assert any("return None" in d for d in descriptions)
    assert not any("percent must be" in d for d in descriptions)  # messages are not checked
    original = ast.unparse(next(n for n in mod.tree.body
                                if getattr(n, "name", "") == "apply_discount"))
    for m in mutants:
        ast.parse(m.source)
        assert m.source != original
    assert len({m.source for m in mutants}) == len(mutants)
    assert len(make_mutants(mod, t, "t0", limit=5)) == 5
