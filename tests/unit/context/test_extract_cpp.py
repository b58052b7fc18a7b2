"""C++: namespaces, classes and their methods (in and out of class), templates, aliases."""

from __future__ import annotations

from pathlib import Path

import pytest
from offpilot.context import extract, symbols
from offpilot.context.languages import by_name, for_path
from offpilot.context.model import Import

SPEC = by_name("cpp")
SOURCE = (Path(__file__).parent / "fixtures" / "cpp" / "shapes.cpp").read_bytes()
SUMMARY = extract.summarize(SOURCE, SPEC, "shapes.cpp")


def get(name: str, parent: str = ""):
    return next(d for d in SUMMARY.definitions if d.name == name and d.parent == parent)


def test_definitions():
    assert [(d.name, d.kind, d.start_line, d.end_line, d.parent)
            for d in SUMMARY.definitions] == [
        ("SHAPES_VERSION", "constant", 6, 6, ""),
        ("SQUARE", "function", 7, 7, ""),
        ("geo", "namespace", 9, 52, ""),
        ("Shape", "class", 12, 18, "geo"),
        ("~Shape", "method", 14, 14, "Shape"),
        ("area", "method", 16, 16, "Shape"),
        ("Circle", "struct", 20, 24, "geo"),
        ("Circle", "method", 21, 21, "Circle"),
        ("area", "method", 22, 22, "Circle"),
        ("Color", "enum", 26, 26, "geo"),
        ("Shapes", "type", 28, 28, "geo"),
        ("real", "type", 30, 30, "geo"),
        ("total_area", "function", 34, 38, "geo"),
        ("Grid", "class", 41, 46, "geo"),
        ("at", "method", 43, 43, "Grid"),
        ("detail", "namespace", 48, 50, "geo"),
        ("clamp", "function", 49, 49, "detail"),
        ("diameter", "method", 55, 57, "Circle"),
        ("operator==", "function", 59, 61, ""),
        ("main", "function", 63, 68, ""),
    ]
    assert not SUMMARY.errors


def test_signatures_and_docs():
    assert get("Shape", "geo").signature == "class Shape"
    assert get("Shape", "geo").doc == "/// Anything with an area."
    assert get("area", "Shape").signature == "virtual double area() const = 0;"
    assert get("area", "Shape").doc == "/// The area in square units."
    assert get("Circle", "geo").signature == "struct Circle : public Shape"
    assert get("Circle", "Circle").signature == "explicit Circle(double r) : radius(r)"
    assert get("area", "Circle").signature == "double area() const override"
    assert get("Color", "geo").signature == "enum class Color"
    assert get("Shapes", "geo").signature == "using Shapes = std::vector<std::unique_ptr<Shape>>;"
    assert get("total_area", "geo").signature == "real total_area(It first, It last)"
    assert get("total_area", "geo").doc == "/// Sum of the areas."  # above `template <…>`
    assert get("at", "Grid").signature == "T& at(int x, int y);"
    assert get("diameter", "Circle").signature == "double geo::Circle::diameter() const"
    assert get("diameter", "Circle").doc == "// Out of line."
    assert get("SQUARE").signature == "#define SQUARE(x) ((x) * (x))"


def test_includes_are_imports():
    assert list(SUMMARY.imports) == [
        Import("vector", line=2), Import("memory", line=3),
        Import("geometry/point.hpp", line=4)]


MEMBERS = b"""class Node {
  Node(int id);
  ~Node();
  bool operator==(const Node&) const;
  static Node* make();
};
constexpr int LIMIT = 10;
template <typename T> T& Grid<T>::at(int x, int y) { return cells[x]; }
Node::Node(int id) {}
Node::~Node() {}
extern "C" {
int c_api(void);
}
template <typename T>
concept Number = true;
namespace a::b { int f(); }
"""


def test_member_declarations_and_out_of_class_definitions():
    s = extract.summarize(MEMBERS, SPEC, "node.cpp")
    assert [(d.name, d.kind, d.start_line, d.parent) for d in s.definitions] == [
        ("Node", "class", 1, ""), ("Node", "method", 2, "Node"), ("~Node", "method", 3, "Node"),
        ("operator==", "method", 4, "Node"), ("make", "method", 5, "Node"),
        ("LIMIT", "constant", 7, ""), ("at", "method", 8, "Grid"),
        ("Node", "method", 9, "Node"), ("~Node", "method", 10, "Node"),
        ("c_api", "function", 12, ""), ("Number", "type", 15, ""),
        ("b", "namespace", 16, "a"), ("f", "function", 16, "b"),
    ]
    by_line = {d.start_line: d for d in s.definitions}
    assert by_line[8].signature == "T& Grid<T>::at(int x, int y)"
    assert by_line[5].signature == "static Node* make();"
    assert by_line[7].signature == "constexpr int LIMIT = 10;"


def test_enclosing_and_names():
    tree = extract.parse(SOURCE, SPEC)

    def chain(needle: bytes) -> list[tuple[str, str]]:
        at = SOURCE.index(needle)
        return [(d.kind, d.name) for d in symbols.enclosing_definitions(tree, SPEC, SOURCE, at)]

    assert chain(b"3.14159") == [("namespace", "geo"), ("struct", "Circle"), ("method", "area")]
    assert chain(b"v < 0") == [
        ("namespace", "geo"), ("namespace", "detail"), ("function", "clamp")]
    assert chain(b"return 2 * radius") == [("method", "diameter")]
    inner = symbols.enclosing_definition(tree, SPEC, SOURCE, SOURCE.index(b"return 2 * radius"))
    assert inner is not None and inner.parent == "Circle"
    inner = symbols.enclosing_definition(tree, SPEC, SOURCE, SOURCE.index(b"real sum = 0"))
    assert inner is not None and inner.name == "total_area"
    at = SOURCE.index(b"geo::total_area(")
    names = extract.identifiers_around(tree, SPEC, SOURCE, at, 0)
    assert names[0] == "geo" and "total_area" in names and "shapes" in names
    start = SOURCE.index(b"int main()")
    assert extract.calls_in_range(tree, SPEC, start, len(SOURCE), SOURCE) == [
        "make_unique", "push_back", "move", "static_cast", "total_area", "begin", "end",
        "Circle", "Shapes"]


def test_registry_maps_cpp_extensions():
    for path in ("a.cc", "a.cpp", "a.hpp", "a.hh", "a.cxx"):
        spec = for_path(path)
        assert spec is not None and spec.name == "cpp", path
    spec = for_path("a.h")
    assert spec is not None and spec.name == "c"


@pytest.mark.parametrize("header", [
    "#pragma once\nnamespace geo {\nint f();\n}\n",
    "class Widget {\n public:\n  void draw();\n};\n",
    "template <typename T>\nT twice(T x) { return x + x; }\n",
])
def test_a_cpp_header_with_the_h_extension_is_parsed_as_cpp(header: str):
    spec = for_path("include/widget.h", header)
    assert spec is not None and spec.name == "cpp"
    assert not extract.summarize(header, spec, "widget.h").errors


def test_a_c_header_stays_c():
    header = ("#ifndef LIST_H\n#define LIST_H\n/* a class of lists */\n"
              "#ifdef __cplusplus\nextern \"C\" {\n#endif\n"
              "typedef struct list { int n; } list_t;\nint list_len(const list_t *l);\n#endif\n")
    spec = for_path("list.h", header)
    assert spec is not None and spec.name == "c"


def test_a_function_defined_out_of_its_namespace_is_a_function_not_a_method():
    source = ("namespace geo { double area(double r); }\nstruct Circle { double r; "
              "double area() const; };\n"
              "double geo::area(double r) { return 3.14 * r * r; }\n"
              "double Circle::area() const { return geo::area(r); }\n")
    s = extract.summarize(source, SPEC, "geo.cpp")
    assert [(d.name, d.kind, d.parent, d.start_line) for d in s.definitions
            if d.start_line >= 3] == [("area", "function", "geo", 3),
                                      ("area", "method", "Circle", 4)]
