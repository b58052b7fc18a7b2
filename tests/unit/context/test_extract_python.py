"""Python: definitions, docstrings, imports of every form, scopes and names."""

from __future__ import annotations

from pathlib import Path

import pytest
from offpilot.context import extract, symbols
from offpilot.context.languages import by_name
from offpilot.context.model import Import

FIXTURE = Path(__file__).parent / "fixtures" / "python" / "inventory.py"
SPEC = by_name("python")
SOURCE = FIXTURE.read_bytes()


@pytest.fixture(scope="module")
def summary():
    return extract.summarize(SOURCE, SPEC, "inventory.py")


def rows(summary):
    return [(d.name, d.kind, d.start_line, d.end_line, d.parent) for d in summary.definitions]


def by_name_(summary, name):
    return next(d for d in summary.definitions if d.name == name)


def test_definitions(summary):
    assert rows(summary) == [
        ("MAX_RESERVATION", "constant", 15, 15, ""),
        ("_DEFAULT_TIMEOUT", "constant", 16, 16, ""),
        ("Sku", "type", 18, 18, ""),
        ("OutOfStock", "class", 22, 23, ""),
        ("Inventory", "class", 26, 54, ""),
        ("__init__", "method", 29, 31, "Inventory"),
        ("total", "method", 34, 35, "Inventory"),
        ("reserve", "method", 37, 50, "Inventory"),
        ("Snapshot", "class", 52, 54, "Inventory"),
        ("restore", "method", 53, 54, "Snapshot"),
        ("load", "function", 59, 65, ""),
        ("parse", "function", 60, 61, "load"),
    ]
    assert not summary.errors and summary.package == ""
    assert all(d.path == "inventory.py" for d in summary.definitions)


def test_signatures(summary):
    assert by_name_(summary, "__init__").signature == \
        "def __init__(self, store: db.Store) -> None:"
    assert by_name_(summary, "OutOfStock").signature == "class OutOfStock(Exception):"
    assert by_name_(summary, "load").signature == "async def load(path: str) -> Inventory:"
    assert by_name_(summary, "MAX_RESERVATION").signature == "MAX_RESERVATION = 100"
    reserve = by_name_(summary, "reserve")
    assert reserve.signature == (
        "def reserve(\n        self,\n        sku: Sku,\n        quantity: int = 1,\n"
        "    ) -> Reservation:")
    assert reserve.signature_end_line == 41
    assert by_name_(summary, "total").signature_end_line == 0


def test_docs(summary):
    assert by_name_(summary, "Inventory").doc == '"""Stock levels per SKU."""'
    assert by_name_(summary, "reserve").doc.startswith('"""Reserve ``quantity`` items')
    assert by_name_(summary, "reserve").doc.endswith('not enough.\n        """')
    assert by_name_(summary, "OutOfStock").doc == \
        "# Raised when a reservation asks for more than the stock."
    assert by_name_(summary, "load").doc == \
        "# Load an inventory from a JSON file.\n# The file maps SKUs to levels."
    assert by_name_(summary, "__init__").doc == ""
    assert by_name_(summary, "MAX_RESERVATION").doc == ""


def test_imports(summary):
    assert list(summary.imports) == [
        Import("logging", line=5),
        Import("os.path", alias="osp", line=6),
        Import("json", line=6),
        Import("collections", (("defaultdict", ""),), line=7),
        Import("typing", (("TypeAlias", ""),), line=8),
        Import("core", (("db", ""),), level=2, line=10),
        Import("models", (("Item", "ItemModel"), ("Reservation", "")), level=1, line=11),
        Import("", (("events", ""),), level=1, line=12),
        Import("helpers", level=1, line=13, wildcard=True),
    ]


def test_star_import_and_plain_module():
    s = extract.summarize("from m import *\nimport a.b.c\n", SPEC, "x.py")
    assert list(s.imports) == [Import("m", line=1, wildcard=True), Import("a.b.c", line=2)]


def at(needle: str) -> int:
    return SOURCE.index(needle.encode())


def chain(needle: str) -> list[tuple[str, str]]:
    tree = extract.parse(SOURCE, SPEC)
    return [(d.kind, d.name) for d in
            symbols.enclosing_definitions(tree, SPEC, SOURCE, at(needle))]


def test_enclosing_definitions():
    assert chain("raise OutOfStock") == [("class", "Inventory"), ("method", "reserve")]
    assert chain("inventory.levels.update") == [
        ("class", "Inventory"), ("class", "Snapshot"), ("method", "restore")]
    assert chain("return json.loads(text)") == [("function", "load"), ("function", "parse")]
    assert chain("MAX_RESERVATION = 100") == []
    tree = extract.parse(SOURCE, SPEC)
    inner = symbols.enclosing_definition(tree, SPEC, SOURCE, at("raise OutOfStock"))
    assert inner is not None and inner.name == "reserve" and inner.parent == "Inventory"
    assert inner.signature.startswith("def reserve(") and inner.start_line == 37


def test_enclosing_at_end_of_last_line_of_a_function():
    src = b"def f():\n    x = 1\n    return x"
    tree = extract.parse(src, SPEC)
    assert [d.name for d in symbols.enclosing_definitions(tree, SPEC, src, len(src))] == ["f"]


def test_identifiers_around_nearest_first():
    tree = extract.parse(SOURCE, SPEC)
    names = extract.identifiers_around(tree, SPEC, SOURCE, at("OutOfStock(sku)"), window_lines=0)
    assert names[0] == "OutOfStock"
    assert "sku" in names and "self" not in names


def test_calls_in_range():
    tree = extract.parse(SOURCE, SPEC)
    start, end = at("    def reserve("), at("    class Snapshot")
    assert extract.calls_in_range(tree, SPEC, start, end, SOURCE) == [
        "OutOfStock", "publish", "Reservation", "Sku", "int"]


def test_outline_of_the_file(summary):
    text = symbols.outline(summary, 10_000)
    lines = text.splitlines()
    assert lines[4] == "class Inventory:"
    assert lines[5] == "  def __init__(self, store: db.Store) -> None:"
    assert lines[9] == "    def restore(self, inventory: Inventory) -> None:"
    assert len(symbols.outline(summary, 120)) <= 120
