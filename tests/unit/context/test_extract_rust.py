"""Rust: items, impl blocks and their methods, traits, modules, doc comments, use trees."""

from __future__ import annotations

from pathlib import Path

from offpilot.context import extract, symbols
from offpilot.context.languages import by_name
from offpilot.context.model import Import

SPEC = by_name("rust")
SOURCE = (Path(__file__).parent / "fixtures" / "rust" / "cache.rs").read_bytes()
SUMMARY = extract.summarize(SOURCE, SPEC, "cache.rs")


def get(name: str, parent: str = "", kind: str = ""):
    return next(d for d in SUMMARY.definitions
                if d.name == name and d.parent == parent and (not kind or d.kind == kind))


def test_definitions():
    assert [(d.name, d.kind, d.start_line, d.end_line, d.parent)
            for d in SUMMARY.definitions] == [
        ("stats", "module", 9, 11, ""),
        ("hits", "function", 10, 10, "stats"),
        ("MAX_CAPACITY", "constant", 15, 15, ""),
        ("Cache", "struct", 19, 22, ""),
        ("Eviction", "enum", 25, 28, ""),
        ("Evict", "trait", 30, 33, ""),
        ("pick", "method", 32, 32, "Evict"),
        ("Shared", "type", 35, 35, ""),
        ("Cache", "impl", 37, 49, ""),
        ("new", "method", 39, 41, "Cache"),
        ("get", "method", 43, 48, "Cache"),
        ("Cache", "impl", 51, 55, ""),
        ("fmt", "method", 52, 54, "Cache"),
        ("cache", "function", 57, 59, ""),
    ]
    assert not SUMMARY.errors and SUMMARY.package == ""


def test_signatures():
    assert get("Cache", kind="struct").signature == "pub struct Cache<K, V>"
    assert get("Cache", kind="impl").signature == "impl<K: std::hash::Hash + Eq, V> Cache<K, V>"
    assert get("fmt", "Cache").signature == \
        "fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result"
    assert get("pick", "Evict").signature == "fn pick(&self) -> Option<usize>;"
    assert get("MAX_CAPACITY").signature == "pub const MAX_CAPACITY: usize = 1 << 20;"
    assert get("Shared").signature == "pub type Shared<K, V> = std::sync::Arc<Cache<K, V>>;"
    assert get("cache").signature == "macro_rules! cache"
    getter = get("get", "Cache")
    assert getter.signature == \
        "pub fn get(&mut self, key: &K) -> Option<&V>\n    where\n        K: Clone,"
    assert getter.signature_end_line == 45


def test_doc_comments_skip_attributes():
    assert get("Cache", kind="struct").doc == "/// A least-recently-used cache."
    assert get("MAX_CAPACITY").doc == "/// Largest capacity a cache accepts."
    assert get("Eviction").doc == "/// What to do when the cache is full."
    assert get("pick", "Evict").doc == "/// Pick the key to drop."
    assert get("new", "Cache").doc == "/// A cache holding at most `capacity` entries."
    assert get("Evict").doc == ""


def test_use_trees_modules_and_crates():
    assert list(SUMMARY.imports) == [
        Import("std::collections::HashMap", (("HashMap", ""),), line=3),
        Import("std::fmt", (("self", ""), ("Display", ""), ("Write", "FmtWrite")), line=4),
        Import("crate::clock", (("Clock", ""),), line=5),
        Import("crate::clock::time", (("Instant", ""), ("Duration", "Span")), line=5),
        Import("super::error", line=6, wildcard=True),
        Import("serde::Serialize", (("Serialize", "Ser"),), line=7),
        Import("policy", line=8),
        Import("alloc", line=12),
    ]


def test_enclosing_and_names():
    tree = extract.parse(SOURCE, SPEC)
    at = SOURCE.index(b"self.map.get")
    assert [(d.kind, d.name) for d in symbols.enclosing_definitions(tree, SPEC, SOURCE, at)] == [
        ("impl", "Cache"), ("method", "get")]
    inner = symbols.enclosing_definition(tree, SPEC, SOURCE, at)
    assert inner is not None and inner.name == "get" and inner.parent == "Cache"
    at = SOURCE.index(b"fn pick")
    assert [(d.kind, d.name) for d in symbols.enclosing_definitions(tree, SPEC, SOURCE, at)] == [
        ("trait", "Evict")]
    at = SOURCE.index(b"write!")
    assert extract.identifiers_around(tree, SPEC, SOURCE, at, 0)[0] == "write"
    start, end = SOURCE.index(b"    pub fn new"), SOURCE.index(b"    pub fn get")
    assert extract.calls_in_range(tree, SPEC, start, end, SOURCE) == [
        "Cache", "new", "min", "HashMap"]
