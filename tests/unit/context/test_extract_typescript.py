"""TypeScript (and TSX, which shares its queries): interfaces, types, enums, namespaces."""

from __future__ import annotations

from pathlib import Path

from offpilot.context import extract, symbols
from offpilot.context.languages import by_name
from offpilot.context.model import Import

SPEC = by_name("typescript")
TSX = by_name("tsx")
SOURCE = (Path(__file__).parent / "fixtures" / "typescript" / "repository.ts").read_bytes()
SUMMARY = extract.summarize(SOURCE, SPEC, "repository.ts")


def get(name: str, parent: str = ""):
    return next(d for d in SUMMARY.definitions if d.name == name and d.parent == parent)


def test_definitions():
    assert [(d.name, d.kind, d.start_line, d.end_line, d.parent)
            for d in SUMMARY.definitions] == [
        ("Repository", "interface", 6, 9, ""),
        ("find", "method", 7, 7, "Repository"),
        ("save", "method", 8, 8, "Repository"),
        ("Filter", "type", 11, 11, ""),
        ("Order", "enum", 13, 16, ""),
        ("SqlRepository", "class", 19, 30, ""),
        ("constructor", "method", 20, 20, "SqlRepository"),
        ("find", "method", 22, 25, "SqlRepository"),
        ("save", "method", 27, 29, "SqlRepository"),
        ("Repositories", "namespace", 32, 36, ""),
        ("inMemory", "function", 33, 35, "Repositories"),
        ("byId", "function", 38, 40, ""),
    ]


def test_signatures_and_docs():
    assert get("Repository").signature == "interface Repository<T extends Entity>"
    assert get("Repository").doc == "/** Where entities are kept. */"
    assert get("SqlRepository").signature == \
        "class SqlRepository<T extends Entity> implements Repository<T>"
    assert get("SqlRepository").doc == "// Keeps entities in a table."
    assert get("find", "SqlRepository").signature == \
        "async find(id: Id): Promise<T | undefined>"
    assert get("find", "Repository").signature == "find(id: Id): Promise<T | undefined>"
    assert get("Filter").signature == "type Filter<T> = (entity: T) => boolean;"
    byid = get("byId")
    assert byid.signature == "const byId =\n  <T extends Entity>(id: Id): Filter<T> =>"
    assert byid.signature_end_line == 39


def test_imports():
    assert list(SUMMARY.imports) == [
        Import("./entity", (("Entity", ""), ("Id", "")), line=1),
        Import("@app/db", (("Database", "Db"),), line=2),
        Import("./legacy", alias="legacy", line=3),
    ]


def test_enclosing_and_names():
    tree = extract.parse(SOURCE, SPEC)
    at = SOURCE.index(b"legacy.serialize")
    chain = symbols.enclosing_definitions(tree, SPEC, SOURCE, at)
    assert [(d.kind, d.name) for d in chain] == [("class", "SqlRepository"), ("method", "save")]
    at = SOURCE.index(b"new MemoryRepository")
    chain = symbols.enclosing_definitions(tree, SPEC, SOURCE, at)
    assert [(d.kind, d.name) for d in chain] == [
        ("namespace", "Repositories"), ("function", "inMemory")]
    assert "MemoryRepository" in extract.identifiers_around(tree, SPEC, SOURCE, at, 0)
    start, end = SOURCE.index(b"  async find"), SOURCE.index(b"  async save")
    assert extract.calls_in_range(tree, SPEC, start, end, SOURCE) == [
        "query", "Id", "Promise", "T"]


def test_tsx_component():
    src = b"""import React from "react";
import { Button } from "./Button";

/** Greets the user. */
export function Greeting({ name }: Props): JSX.Element {
  return <Button onClick={() => alert(name)}>Hello {name}</Button>;
}

export const Badge = ({ count }: { count: number }) => <span>{count}</span>;

interface Props { name: string }
"""
    s = extract.summarize(src, TSX, "Greeting.tsx")
    assert not s.errors
    assert [(d.name, d.kind, d.start_line) for d in s.definitions] == [
        ("Greeting", "function", 5), ("Badge", "function", 9), ("Props", "interface", 11)]
    assert s.definitions[0].doc == "/** Greets the user. */"
    assert s.definitions[0].signature == \
        "function Greeting({ name }: Props): JSX.Element"
    assert list(s.imports) == [Import("react", alias="React", line=1),
                               Import("./Button", (("Button", ""),), line=2)]
    tree = extract.parse(src, TSX)
    names = extract.calls_in_range(tree, TSX, 0, len(src), src)
    assert "alert" in names and "Props" in names
