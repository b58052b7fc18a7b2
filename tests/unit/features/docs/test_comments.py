"""Doc comments for JavaScript/TypeScript, Rust, Go, Java and C/C++ without a model: what
tree-sitter reads from real grammars, the stale-comment check and its fix, and the repair of a
draft. The drafts below are written by hand, standing in for the model's (a fake input to the
repair step, labelled as such); the model itself runs in tests/lsp/test_docs_languages.py."""

from __future__ import annotations

import pytest
from offpilot.context.languages import by_name
from offpilot.features.docs import comments as C
from offpilot.features.docs.declarations import Declaration, declarations
from offpilot.features.docs.generate import apply_insertion

JS = '''import x from "y";

/**
 * Add two numbers.
 * @param {number} a - First.
 * @param {number} c - Gone.
 */
export function add(a, b = 2) {
  if (a < 0) throw new RangeError("a must be positive");
  const inner = () => { return 3; };
  return a + b;
}

class Cart {
  constructor(items) { this.items = items; }
  total(tax, ...extra) {
    return this.items.length * tax;
  }
  clear() { this.items = []; }
}

const double = (n) => n * 2;
'''
TS = '''export class Store {
  @memo()
  get(key: string, fallback?: number): number | undefined {
    return undefined;
  }
  put(key: string, value: number): void {
    if (!key) { throw new Error("empty key"); }
  }
}
export async function load({ a, b }: Opts, retries = 3): Promise<void> {}
'''
RS = '''use std::fmt;

/// Parse a port.
///
/// # Arguments
///
/// * `text` - The text.
/// * `radix` - Gone.
#[inline]
pub fn parse_port(text: &str) -> Result<u16, String> {
    let n: u16 = text.parse().map_err(|_| "bad".to_string())?;
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

impl Pool {
    #[must_use]
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        if n > 64 {
            panic!("at most 64 bytes");
        }
        vec![]
    }

    fn reset(&mut self) {}
}
'''
GO = '''package pool

// SumAll adds numbers.
func Sum(a, b int) int { return a + b }

func (p *Pool) Take(n int, names ...string) ([]byte, error) {
	return nil, nil
}
'''
JAVA = '''package p;

public class Cart {
    /**
     * Add an item.
     * @param sku the sku
     * @param qty the quantity
     * @return the count
     */
    @Override
    public int add(String sku) throws java.io.IOException {
        if (sku == null) throw new IllegalArgumentException("sku is null");
        return 1;
    }

    void clear(String reason) {}
}
'''
CPP = '''#include <string>

namespace shop {
/**
 * @brief Scale a value.
 * @param value The value.
 */
template <typename T>
T scale(T value, double factor) {
    if (factor < 0) throw std::invalid_argument("negative factor");
    return value * factor;
}

static const char *name(int id, const std::string &prefix);
void reset(int *buf, size_t n) {}
}
'''
C_SRC = '''#include <stdio.h>

/** Print it.
 * @param s the text
 * @param count how many times
 */
void print(const char *s, int n) { printf("%s", s); }

int add(int a, int b)
{
    return a + b;
}
'''


def decls(lang: str, source: str) -> dict[str, Declaration]:
    spec = by_name(lang)
    assert spec is not None
    return {d.name: d for d in declarations(source, spec)}


def test_what_tree_sitter_reads():
    js = decls("javascript", JS)
    assert [p.name for p in js["add"].params] == ["a", "b"]
    assert js["add"].returns_value and js["add"].throws == ("RangeError",)
    assert js["add"].throw_messages == {"RangeError": "a must be positive"}
    assert js["add"].comment is not None and js["add"].insert_line == 7  # above `export`
    assert "inner" not in js  # a closure inside a function is not documented on its own
    assert not js["constructor"].returns_value and not js["clear"].returns_value
    assert [p.stars + p.name for p in js["total"].params] == ["tax", "...extra"]
    assert js["double"].returns_value and [p.name for p in js["double"].params] == ["n"]

    ts = decls("typescript", TS)
    assert [(p.name, p.annotation) for p in ts["get"].params] == [("key", "string"),
                                                                 ("fallback", "number")]
    assert ts["get"].insert_line == 1  # above the decorator
    assert ts["get"].returns_value and not ts["put"].returns_value  # `: void`
    assert [p.name for p in ts["load"].params] == ["retries"]  # a destructured one has no name
    assert not ts["load"].returns_value  # Promise<void>

    rs = decls("rust", RS)
    assert [p.name for p in rs["parse_port"].params] == ["text"]  # no self
    assert rs["parse_port"].errors and not rs["parse_port"].panics
    assert rs["parse_port"].comment is not None and rs["parse_port"].comment.start_line == 2
    assert rs["parse_port"].insert_line == 8  # the attribute's line
    assert rs["take"].panics and rs["take"].panic_message == "at most 64 bytes"
    assert rs["take"].kind == "method" and rs["take"].indent == "    "
    assert rs["take"].insert_line == 18 and not rs["take"].errors
    assert not rs["reset"].returns_value

    go = decls("go", GO)
    assert [(p.name, p.annotation) for p in go["Take"].params] == [("n", "int"),
                                                                   ("names", "...string")]
    assert go["Sum"].returns_value and go["Sum"].comment is not None

    java = decls("java", JAVA)
    assert java["add"].throws == ("java.io.IOException", "IllegalArgumentException")
    assert java["add"].insert_line == 9 and not java["clear"].returns_value  # @Override

    cpp = decls("cpp", CPP)
    assert cpp["scale"].throws == ("std::invalid_argument",)
    assert cpp["scale"].insert_line == 7  # above `template <...>`
    assert [p.name for p in cpp["name"].params] == ["id", "prefix"] and cpp["name"].returns_value
    assert not cpp["reset"].returns_value
    assert [p.name for p in decls("c", C_SRC)["print"].params] == ["s", "n"]


CASES = [("javascript", JS, "add", "`b`", "`c`"), ("rust", RS, "parse_port", None, "`radix`"),
         ("java", JAVA, "add", None, "`qty`"), ("cpp", CPP, "scale", "`factor`", None),
         ("c", C_SRC, "print", "`n`", "`count`")]


@pytest.mark.parametrize(("lang", "source", "name", "missing", "phantom"), CASES)
def test_stale_comment_is_found_and_fixed(lang: str, source: str, name: str,
                                          missing: str | None, phantom: str | None):
    spec = by_name(lang)
    assert spec is not None
    found = C.check_source(source, spec)
    assert [m.definition.name for m in found] == [name]
    message = found[0].message
    assert (missing in message) if missing else "does not document" not in message
    assert (phantom in message) if phantom else "which" not in message
    edit = C.fix(found[0])
    assert edit is not None
    lines = source.split("\n")
    fixed = "\n".join(lines[:edit.start] + list(edit.lines) + lines[edit.end:])
    assert C.check_source(fixed, spec) == []
    # only comment lines changed
    code = [ln for ln in source.split("\n") if not ln.lstrip().startswith(("*", "/"))]
    assert [ln for ln in fixed.split("\n") if not ln.lstrip().startswith(("*", "/"))] == code
    if missing:
        assert "TODO: describe." in "\n".join(edit.lines)


def test_go_comment_must_start_with_the_name():
    spec = by_name("go")
    assert spec is not None
    found = C.check_source(GO, spec)
    assert len(found) == 1 and "`SumAll`" in found[0].message
    edit = C.fix(found[0])
    assert edit is not None and edit.lines == ("// Sum adds numbers.",)
    ok = GO.replace("// SumAll adds", "// Sum adds")
    assert C.check_source(ok, spec) == []
    prose = GO.replace("// SumAll adds", "// Returns the sum of")  # not an identifier
    assert C.check_source(prose, spec) == []


def test_a_comment_without_parameters_is_not_checked():
    spec = by_name("javascript")
    assert spec is not None
    assert C.check_source("/** Add them. */\nfunction add(a, b) { return a + b; }\n", spec) == []


# Hand-written drafts standing in for the model: a phantom parameter, a missing one, a return
# claim on a void function, an invented exception.
def test_repair_jsdoc_draft():
    d = decls("javascript", JS)["add"]
    draft = ("/**\n * Add two numbers together.\n * @param {number} a - The first number.\n"
             " * @param {number} z - Not there.\n * @returns {number} The sum.\n"
             " * @throws {TypeError} Invented.\n */")
    fixed = C.repair(draft, d)
    assert [p[0] for p in fixed.parts.params] == ["a", "b"]
    assert fixed.parts.params[0][2] == "The first number."
    assert fixed.parts.params[1][2] == "TODO: describe."
    assert fixed.parts.returns == ("", "The sum.")
    assert fixed.parts.raises == (("RangeError", "a must be positive."),)
    assert fixed.described == 1 and fixed.summarized
    text = C.comment_text(fixed.parts, C.JSDOC, d.name, d.indent)
    assert text.startswith("/**\n * Add two numbers together.\n") and text.endswith(" */\n")
    assert "@param a - The first number." in text and "@throws {RangeError}" in text
    parsed = C.parse_comment([c for _p, c in C.split_comment(text.rstrip("\n").split("\n"))])
    assert parsed.names == ["a", "b"] and "z" not in text and "TypeError" not in text


def test_repair_tsdoc_types_and_void():
    d = decls("typescript", TS)["put"]
    fixed = C.repair("/**\n * Store a value.\n * @returns {boolean} Whether it was new.\n */", d)
    assert fixed.parts.returns is None  # `: void`
    assert [(n, t) for n, t, _d in fixed.parts.params] == [("key", "string"),
                                                           ("value", "number")]
    text = C.comment_text(fixed.parts, C.JSDOC, d.name, d.indent)
    assert "  * @param {string} key - TODO: describe." in text
    assert "@returns" not in text and '@throws {Error} empty key.' in text


def test_repair_rustdoc_draft():
    d = decls("rust", RS)["take"]
    draft = ("/// Take bytes from the pool.\n///\n/// # Arguments\n///\n"
             "/// * `n` - How many bytes.\n/// * `force` - Not a parameter.\n///\n"
             "/// # Errors\n///\n/// Never.")
    fixed = C.repair(draft, d)
    text = C.comment_text(fixed.parts, C.RUSTDOC, d.name, d.indent)
    lines = text.split("\n")
    assert all(ln.startswith("    ///") for ln in lines if ln)
    assert "    /// * `n` - How many bytes." in lines and "force" not in text
    assert "# Errors" not in text  # take returns no Result
    assert "    /// # Panics" in lines and "    /// When at most 64 bytes." in lines
    assert "    /// # Returns" in lines
    p = decls("rust", RS)["parse_port"]
    assert "# Errors" in C.comment_text(C.repair("/// Parse.", p).parts, C.RUSTDOC, p.name, "")


def test_repair_go_javadoc_doxygen():
    go = decls("go", GO)["Take"]
    text = C.comment_text(C.repair("// Take removes n bytes.\n", go).parts, C.GODOC,
                          go.name, go.indent)
    assert text == "// Take removes n bytes.\n"
    text = C.comment_text(C.repair("// Removes n bytes.\n", go).parts, C.GODOC, "Take", "")
    assert text.startswith("// Take removes n bytes.")
    text = C.comment_text(C.repair("// Take " + "0" * 300, go).parts, C.GODOC, "Take", "")
    assert text == "// Take TODO: summarize.\n"  # what the model wrote is not prose

    java = decls("java", JAVA)["clear"]
    text = C.comment_text(C.repair("/**\n * Empty the cart.\n * @param why Gone.\n"
                                   " * @return Nothing.\n */", java).parts,
                          C.JAVADOC, java.name, java.indent)
    assert "     * @param reason TODO: describe." in text
    assert "@return" not in text and "why" not in text

    cpp = decls("cpp", CPP)["name"]
    text = C.comment_text(C.repair("/**\n * @brief Name of an id.\n * @param id The id.\n */",
                                   cpp).parts, C.DOXYGEN, cpp.name, "")
    assert text.startswith("/**\n * @brief Name of an id.\n")
    assert " * @param id The id.\n * @param prefix TODO: describe.\n * @return TODO" in text


@pytest.mark.parametrize(("lang", "source"), [("javascript", JS), ("typescript", TS),
                                              ("rust", RS), ("go", GO), ("java", JAVA),
                                              ("cpp", CPP), ("c", C_SRC)])
def test_inserting_every_comment_leaves_the_code_byte_for_byte(lang: str, source: str):
    spec = by_name(lang)
    assert spec is not None
    todo = [d for d in declarations(source, spec) if d.comment is None]
    assert todo
    text = source
    inserted: list[tuple[int, str]] = []
    for d in sorted(todo, key=lambda d: d.insert_line, reverse=True):
        ins = C.insertion(d, C.repair("", d).parts, C.STYLE_OF[lang])
        text = apply_insertion(text, ins)
        inserted.append((ins.line, ins.text))
    # take the inserted lines out again: the original bytes come back
    lines = text.split("\n")
    final: list[tuple[int, str]] = []
    shift = 0
    for line, comment in sorted(inserted):
        final.append((line + shift, comment))
        shift += comment.count("\n")
    for line, comment in reversed(final):
        n = comment.count("\n")
        assert "\n".join(lines[line:line + n]) + "\n" == comment
        del lines[line:line + n]
    assert "\n".join(lines) == source
    after = {d.name: d for d in declarations(text, spec)}
    assert all(after[d.name].comment is not None for d in todo)  # each one is read back
    stale = {m.definition.name for m in C.check_source(source, spec)}
    assert {m.definition.name for m in C.check_source(text, spec)} == stale  # new ones agree
