"""C: functions and prototypes, structs, unions, enums, typedefs, macros, includes."""

from __future__ import annotations

from pathlib import Path

from offpilot.context import extract, symbols
from offpilot.context.languages import by_name
from offpilot.context.model import Import

SPEC = by_name("c")
SOURCE = (Path(__file__).parent / "fixtures" / "c" / "ring.c").read_bytes()
SUMMARY = extract.summarize(SOURCE, SPEC, "ring.c")


def get(name: str):
    return next(d for d in SUMMARY.definitions if d.name == name)


def test_definitions():
    assert [(d.name, d.kind, d.start_line, d.end_line, d.parent)
            for d in SUMMARY.definitions] == [
        ("RING_MAX", "constant", 7, 7, ""),
        ("RING_MASK", "function", 8, 8, ""),
        ("item_t", "type", 11, 11, ""),
        ("ring", "struct", 14, 17, ""),
        ("ring_t", "type", 19, 19, ""),
        ("ring_error", "struct", 21, 24, ""),
        ("value", "struct", 26, 29, ""),
        ("ring_state", "enum", 31, 31, ""),
        ("ring_cb", "type", 33, 33, ""),
        ("ring_version", "constant", 35, 35, ""),
        ("ring_len", "function", 37, 37, ""),
        ("ring_push", "function", 40, 48, ""),
        ("ring_head", "function", 50, 53, ""),
    ]
    assert not SUMMARY.errors and SUMMARY.package == ""


def test_signatures_and_docs():
    assert get("RING_MAX").signature == "#define RING_MAX 4096"
    assert get("RING_MASK").signature == "#define RING_MASK(r) ((r)->size - 1)"
    assert get("ring").signature == "struct ring"
    assert get("ring_error").signature == "typedef struct {…} ring_error;"
    assert get("ring_cb").signature == "typedef int (*ring_cb)(ring_t *ring, void *user);"
    assert get("ring_len").signature == "size_t ring_len(const ring_t *r);"
    assert get("ring_push").signature == "int ring_push(ring_t *r, item_t item)"
    head = get("ring_head")
    assert head.signature == "static inline size_t *\nring_head(ring_t *r)"
    assert head.signature_end_line == 51
    assert get("ring").doc == "/* A ring of items. */"
    assert get("item_t").doc == "/* Items are bytes. */"
    assert get("ring_push").doc == "// Push one item; returns 0 when the ring is full."
    assert get("ring_head").doc == ""


def test_includes_are_imports():
    assert list(SUMMARY.imports) == [
        Import("stddef.h", line=2), Import("string.h", line=3), Import("ring.h", line=4),
        Import("util/log.h", line=5)]


HEADER = b"""#ifndef LIST_H
#define LIST_H

/* A singly linked list. */
typedef struct list {
    struct list *next;
} list_t;

typedef enum { LEFT, RIGHT } side_t;

/* Names of the sides. */
extern const char *const SIDE_NAMES[];
static const int LIST_MAX = 64;

#define LIST_FOR_EACH(it, head) \\
    for ((it) = (head); (it); (it) = (it)->next)

/* Length of the list. */
size_t list_len(const list_t *head);
char **list_names(const list_t *head);

#endif
"""


def test_header_guard_typedef_struct_and_multi_line_macro():
    s = extract.summarize(HEADER, SPEC, "list.h")
    assert not s.errors
    assert [(d.name, d.kind, d.start_line, d.parent) for d in s.definitions] == [
        ("list_t", "type", 5, ""), ("list", "struct", 5, ""), ("side_t", "enum", 9, ""),
        ("LIST_MAX", "constant", 13, ""), ("LIST_FOR_EACH", "function", 15, ""),
        ("list_len", "function", 19, ""), ("list_names", "function", 20, ""),
    ]
    by = {d.name: d for d in s.definitions}
    assert by["list_t"].signature == "typedef struct list {…} list_t;"
    assert by["list_t"].doc == "/* A singly linked list. */"
    assert by["side_t"].signature == "typedef enum {…} side_t;"
    assert by["LIST_FOR_EACH"].signature == "#define LIST_FOR_EACH(it, head)"
    assert by["LIST_FOR_EACH"].end_line == 16
    assert by["list_len"].doc == "/* Length of the list. */"
    assert by["list_names"].signature == "char **list_names(const list_t *head);"


def test_enclosing_and_names():
    tree = extract.parse(SOURCE, SPEC)
    at = SOURCE.index(b'log_warn("ring full")')
    assert [(d.kind, d.name) for d in symbols.enclosing_definitions(tree, SPEC, SOURCE, at)] == [
        ("function", "ring_push")]
    at = SOURCE.index(b"size_t head, tail")
    assert [(d.kind, d.name) for d in symbols.enclosing_definitions(tree, SPEC, SOURCE, at)] == [
        ("struct", "ring")]
    at = SOURCE.index(b"const char *message")
    assert [(d.kind, d.name) for d in symbols.enclosing_definitions(tree, SPEC, SOURCE, at)] == [
        ("struct", "ring_error")]
    at = SOURCE.index(b"RING_MASK(r)] = item")
    names = extract.identifiers_around(tree, SPEC, SOURCE, at, 0)
    assert names[0] == "RING_MASK" and "head" in names and "item" in names
    start, end = SOURCE.index(b"int ring_push"), SOURCE.index(b"static inline")
    assert extract.calls_in_range(tree, SPEC, start, end, SOURCE) == [
        "ring_len", "log_warn", "RING_MASK", "ring_t", "item_t"]
