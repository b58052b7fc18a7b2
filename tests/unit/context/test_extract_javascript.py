"""JavaScript: classes, methods, arrow functions, JSDoc, ES imports, re-exports, require."""

from __future__ import annotations

from pathlib import Path

from offpilot.context import extract, symbols
from offpilot.context.languages import by_name
from offpilot.context.model import Import

SPEC = by_name("javascript")
SOURCE = (Path(__file__).parent / "fixtures" / "javascript" / "cart.js").read_bytes()
SUMMARY = extract.summarize(SOURCE, SPEC, "cart.js")


def get(name: str):
    return next(d for d in SUMMARY.definitions if d.name == name)


def test_definitions():
    assert [(d.name, d.kind, d.start_line, d.end_line, d.parent)
            for d in SUMMARY.definitions] == [
        ("TAX_RATE", "constant", 9, 9, ""),
        ("Cart", "class", 15, 31, ""),
        ("constructor", "method", 18, 20, "Cart"),
        ("add", "method", 23, 26, "Cart"),
        ("total", "method", 28, 30, "Cart"),
        ("loadCart", "function", 34, 37, ""),
        ("emptyCart", "function", 39, 39, ""),
    ]
    assert not SUMMARY.errors


def test_signatures_and_docs():
    assert get("Cart").signature == "class Cart extends Store"
    assert get("Cart").doc == "/**\n * A shopping cart.\n * Totals are computed on demand.\n */"
    assert get("add").signature == "add(item, quantity = 1)"
    assert get("add").doc == "/** Add an item (merging quantities). */"
    assert get("total").signature == "get total()"
    assert get("loadCart").signature == "async function loadCart(file)"
    assert get("loadCart").doc == "// Load a saved cart from disk."
    assert get("emptyCart").signature == "const emptyCart = (owner) =>"
    assert get("TAX_RATE").signature == "const TAX_RATE = 0.2;"
    assert get("constructor").doc == ""


def test_imports():
    assert list(SUMMARY.imports) == [
        Import("./math.js", (("round", "roundTo"), ("sum", "")), alias="Big", line=1),
        Import("../log", alias="log", line=2),
        Import("./polyfills", line=3),
        Import("./format", (("formatPrice", "format"),), line=4),
        Import("./constants", line=5, wildcard=True),
        Import("path", alias="path", line=6),
        Import("fs/promises", (("readFile", ""), ("writeFile", "save")), line=7),
    ]


def test_dynamic_import_and_namespace_reexport():
    s = extract.summarize('export * as util from "./util";\nconst m = await import("./lazy");\n',
                          SPEC, "x.js")
    assert list(s.imports) == [Import("./util", alias="util", line=1), Import("./lazy", line=2)]


def test_enclosing_definitions_and_names():
    tree = extract.parse(SOURCE, SPEC)
    at = SOURCE.index(b"log.info")
    chain = symbols.enclosing_definitions(tree, SPEC, SOURCE, at)
    assert [(d.kind, d.name, d.parent) for d in chain] == [
        ("class", "Cart", ""), ("method", "add", "Cart")]
    assert chain[-1].signature == "add(item, quantity = 1)"
    arrow = symbols.enclosing_definition(tree, SPEC, SOURCE, SOURCE.index(b"new Cart(owner)"))
    assert arrow is not None and arrow.name == "emptyCart"
    names = extract.identifiers_around(tree, SPEC, SOURCE, at, window_lines=0)
    assert names[:2] == ["log", "info"]
    start, end = SOURCE.index(b"export async function"), SOURCE.index(b"export const emptyCart")
    assert extract.calls_in_range(tree, SPEC, start, end, SOURCE) == [
        "readFile", "join", "from", "parse"]
