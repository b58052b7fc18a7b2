"""Java: classes, records, interfaces, enums, constructors, constants, Javadoc, imports."""

from __future__ import annotations

from pathlib import Path

from offpilot.context import extract, symbols
from offpilot.context.languages import by_name
from offpilot.context.model import Import

SPEC = by_name("java")
SOURCE = (Path(__file__).parent / "fixtures" / "java" / "Ledger.java").read_bytes()
SUMMARY = extract.summarize(SOURCE, SPEC, "Ledger.java")


def get(name: str, parent: str = ""):
    return next(d for d in SUMMARY.definitions if d.name == name and d.parent == parent)


def test_definitions():
    assert [(d.name, d.kind, d.start_line, d.end_line, d.parent)
            for d in SUMMARY.definitions] == [
        ("Ledger", "class", 12, 42, ""),
        ("MAX_AMOUNT", "constant", 14, 14, "Ledger"),
        ("Ledger", "method", 19, 21, "Ledger"),
        ("transfer", "method", 24, 31, "Ledger"),
        ("Entry", "class", 33, 39, "Ledger"),
        ("doubled", "method", 36, 38, "Entry"),
        ("Total", "class", 41, 41, "Ledger"),
        ("Auditable", "interface", 44, 48, ""),
        ("VERSION", "constant", 45, 45, "Auditable"),
        ("transfer", "method", 47, 47, "Auditable"),
        ("Currency", "enum", 50, 56, ""),
        ("symbol", "method", 53, 55, "Currency"),
    ]
    assert SUMMARY.package == "com.acme.billing" and not SUMMARY.errors


def test_signatures():
    assert get("Ledger").signature == "public class Ledger implements Auditable"
    assert get("Ledger", "Ledger").signature == "public Ledger(Map<String, Long> balances)"
    assert get("MAX_AMOUNT", "Ledger").signature == \
        "public static final long MAX_AMOUNT = 1_000_000L;"
    transfer = get("transfer", "Ledger")  # the annotation is not part of the head
    assert transfer.signature == ("public synchronized void transfer(String from, String to, "
                                  "long amount)\n            throws InsufficientFunds")
    assert transfer.signature_end_line == 26
    assert get("Total", "Ledger").signature == "public record Total(String account, long amount)"
    assert get("transfer", "Auditable").signature == \
        "void transfer(String from, String to, long amount) throws InsufficientFunds;"
    assert get("Currency").signature == "enum Currency"


def test_docs():
    assert get("Ledger").doc == "/**\n * Accounts and their balances.\n */"
    assert get("MAX_AMOUNT", "Ledger").doc == "/** Largest amount one entry may move. */"
    assert get("transfer", "Ledger").doc == \
        "/** Moves {@code amount} from one account to another. */"
    assert get("Ledger", "Ledger").doc == "// A ledger over existing balances."
    assert get("doubled", "Entry").doc == ""


def test_imports():
    assert list(SUMMARY.imports) == [
        Import("java.util.List", (("List", ""),), line=3),
        Import("java.util.Map", (("Map", ""),), line=4),
        Import("java.util.concurrent", line=5, wildcard=True),
        Import("java.util.Objects.requireNonNull", (("requireNonNull", ""),), line=6),
        Import("com.acme.billing.Money", line=7, wildcard=True),
    ]


def test_enclosing_and_names():
    tree = extract.parse(SOURCE, SPEC)
    at = SOURCE.index(b"Math.multiplyExact")
    assert [(d.kind, d.name) for d in symbols.enclosing_definitions(tree, SPEC, SOURCE, at)] == [
        ("class", "Ledger"), ("class", "Entry"), ("method", "doubled")]
    inner = symbols.enclosing_definition(tree, SPEC, SOURCE, at)
    assert inner is not None and inner.parent == "Entry" and inner.signature == "long doubled()"
    at = SOURCE.index(b"return this == EUR")
    assert [(d.kind, d.name) for d in symbols.enclosing_definitions(tree, SPEC, SOURCE, at)] == [
        ("enum", "Currency"), ("method", "symbol")]
    at = SOURCE.index(b"new InsufficientFunds")
    assert "InsufficientFunds" in extract.identifiers_around(tree, SPEC, SOURCE, at, 0)
    start, end = SOURCE.index(b"    /** Moves"), SOURCE.index(b"    static class Entry")
    assert extract.calls_in_range(tree, SPEC, start, end, SOURCE) == [
        "getOrDefault", "InsufficientFunds", "merge", "String"]


def test_annotations_are_left_out_of_signatures_but_not_of_the_range():
    src = b"""class T {
    /** Runs. */
    @Test
    void works() {}

    @SuppressWarnings("x") @Deprecated
    public static final int OLD = 1;
}
"""
    s = extract.summarize(src, SPEC, "T.java")
    assert [(d.name, d.start_line, d.end_line, d.signature, d.signature_end_line, d.doc)
            for d in s.definitions[1:]] == [
        ("works", 3, 4, "void works()", 4, "/** Runs. */"),
        ("OLD", 6, 7, "public static final int OLD = 1;", 7, ""),
    ]
