"""Small projects with a failing pytest test, written into a temporary folder."""

from __future__ import annotations

from pathlib import Path

CALC = '''\
def add(a, b):
    """The sum of a and b."""
    return a - b


def mul(a, b):
    return a * b
'''

TESTS = '''\
from calc import add, mul


def test_add():
    assert add(2, 3) == 5


def test_add_zero():
    assert add(0, 0) == 0


def test_add_negative_zero():
    assert add(7, 0) == 7


def test_mul():
    assert mul(2, 3) == 6
'''


def calc_project(tmp: Path) -> Path:
    """``calc.add`` subtracts; ``tests/test_calc.py::test_add`` fails, the rest pass."""
    root = tmp / "calc-project"
    (root / "tests").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'calc'\nversion = '0'\n")
    (root / "calc.py").write_text(CALC, encoding="utf-8")
    (root / "tests" / "test_calc.py").write_text(TESTS, encoding="utf-8")
    return root
