"""Go: functions, methods by receiver, struct and interface types, constants, import specs."""

from __future__ import annotations

from pathlib import Path

from offpilot.context import extract, symbols
from offpilot.context.languages import by_name
from offpilot.context.model import Import

SPEC = by_name("go")
SOURCE = (Path(__file__).parent / "fixtures" / "go" / "store.go").read_bytes()
SUMMARY = extract.summarize(SOURCE, SPEC, "store.go")


def get(name: str, parent: str = ""):
    return next(d for d in SUMMARY.definitions if d.name == name and d.parent == parent)


def test_definitions():
    assert [(d.name, d.kind, d.start_line, d.end_line, d.parent)
            for d in SUMMARY.definitions] == [
        ("MaxSessions", "constant", 14, 14, ""),
        ("ID", "type", 17, 17, ""),
        ("Store", "struct", 20, 22, ""),
        ("Getter", "interface", 25, 27, ""),
        ("Get", "method", 26, 26, "Getter"),
        ("NewStore", "function", 30, 32, ""),
        ("Get", "method", 35, 41, "Store"),
        ("Map", "function", 43, 49, ""),
    ]
    assert SUMMARY.package == "store" and not SUMMARY.errors


def test_signatures_and_docs():
    assert get("MaxSessions").signature == "const MaxSessions = 1000"
    assert get("ID").signature == "type ID string"
    assert get("Store").signature == "type Store struct"
    assert get("Getter").signature == "type Getter interface"
    assert get("Get", "Getter").signature == "Get(ctx context.Context, id ID) (*Session, error)"
    assert get("Get", "Store").signature == \
        "func (s *Store) Get(ctx context.Context, id ID) (*Session, error)"
    assert get("Map").signature == \
        "func Map[K comparable, V any](m map[K]V, f func(V) V) map[K]V"
    assert get("Store").doc == "// Store holds sessions by ID."
    assert get("Get", "Store").doc == "// Get returns the session with id."
    assert get("MaxSessions").doc == "// MaxSessions caps the number of live sessions."
    assert get("Map").doc == ""


def test_imports():
    assert list(SUMMARY.imports) == [
        Import("fmt", line=4),
        Import("context", line=7),
        Import("strings", alias="str", line=8),
        Import("example.com/app/internal/assert", line=9, wildcard=True),
        Import("example.com/app/internal/driver", alias="_", line=10),
    ]


GROUPED = b"""package shapes

import m "math"
import `raw/path`

type (
	// Point is a point.
	Point struct{ X, Y float64 }
	Shape interface {
		Area() float64
	}
	Celsius float64
)

type List[T any] struct {
	items []T
}

type Alias = Point

const (
	A = iota
	B
)

func (l *List[T]) Push(v T) {
	l.items = append(l.items, v)
}

func (p Point) Dist() float64 {
	return m.Sqrt(p.X*p.X + p.Y*p.Y)
}
"""


def test_grouped_declarations_generics_and_raw_imports():
    s = extract.summarize(GROUPED, SPEC, "shapes.go")
    assert [(d.name, d.kind, d.start_line, d.parent) for d in s.definitions] == [
        ("Point", "struct", 8, ""), ("Shape", "interface", 9, ""), ("Area", "method", 10, "Shape"),
        ("Celsius", "type", 12, ""), ("List", "struct", 15, ""), ("Alias", "type", 19, ""),
        ("A", "constant", 22, ""), ("B", "constant", 23, ""),
        ("Push", "method", 26, "List"), ("Dist", "method", 30, "Point"),
    ]
    point = s.definitions[0]
    assert point.signature == "Point struct" and point.doc == "// Point is a point."
    assert s.definitions[4].signature == "type List[T any] struct"
    assert s.definitions[8].signature == "func (l *List[T]) Push(v T)"
    assert list(s.imports) == [Import("math", alias="m", line=3), Import("raw/path", line=4)]


def test_enclosing_and_names():
    tree = extract.parse(SOURCE, SPEC)
    at = SOURCE.index(b"str.TrimSpace")
    assert [(d.kind, d.name, d.parent) for d in
            symbols.enclosing_definitions(tree, SPEC, SOURCE, at)] == [("method", "Get", "Store")]
    inner = symbols.enclosing_definition(tree, SPEC, SOURCE, SOURCE.index(b"out[k] = f(v)"))
    assert inner is not None and inner.name == "Map"
    at_field = SOURCE.index(b"items map")
    assert [d.name for d in symbols.enclosing_definitions(tree, SPEC, SOURCE, at_field)] == [
        "Store"]
    names = extract.identifiers_around(tree, SPEC, SOURCE, at, 0)
    assert names[:2] == ["str", "TrimSpace"] and "Errorf" in names
    start, end = SOURCE.index(b"func (s *Store) Get"), SOURCE.index(b"func Map")
    assert extract.calls_in_range(tree, SPEC, start, end, SOURCE) == [
        "Errorf", "TrimSpace", "string", "Store", "Context", "ID", "Session", "error"]
