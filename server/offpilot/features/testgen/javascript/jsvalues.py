"""JavaScript literal values: read from untrusted text, written back as canonical source.

Calls proposed by the model or written in a JSDoc ``@example`` become tests only through this
module: their arguments are read as JSON-like literals (numbers, strings, ``true``/``false``,
``null``/``undefined``, ``NaN``/``Infinity``, BigInt, arrays, plain objects) and every call
that runs or is written into a test is rebuilt from those values by :func:`to_js`. Nothing
else of the text is ever executed. The results the sandboxed harness reports come back the
same way.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 8
MAX_NODES = 400
MAX_STRING = 4000
MAX_SAFE_INTEGER = 2**53


class _Undefined:
    """JavaScript's ``undefined`` (``None`` stands for ``null``)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = _Undefined()


@dataclass(frozen=True)
class BigInt:
    value: int


class LiteralError(ValueError):
    """The text is not a literal this module accepts."""


_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_NUMBER = re.compile(r"(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|"
                     r"(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)(n?)")
_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None, "undefined": UNDEFINED,
                          "NaN": math.nan, "Infinity": math.inf}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}


class _Reader:
    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos
        self.nodes = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def expect(self, char: str) -> None:
        self.ws()
        if self.peek() != char:
            raise LiteralError(f"expected {char!r} at {self.pos}")
        self.pos += 1

    def value(self, depth: int = 0) -> Any:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise LiteralError("literal too large")
        self.ws()
        c = self.peek()
        if c in ("'", '"', "`"):
            return self.string()
        if c == "[":
            return self.array(depth)
        if c == "{":
            return self.object(depth)
        if c == "-":
            self.pos += 1
            v = self.number_or_word()
            if isinstance(v, BigInt):
                return BigInt(-v.value)
            return -float(v) if v == 0 else -v
        return self.number_or_word()

    def number_or_word(self) -> Any:
        c = self.peek()
        if c.isdigit() or (c == "." and self.text[self.pos + 1:self.pos + 2].isdigit()):
            return self.number()
        m = _IDENT.match(self.text, self.pos)
        if m and m.group() in _WORDS:
            self.pos = m.end()
            return _WORDS[m.group()]
        raise LiteralError(f"not a literal at {self.pos}")

    def number(self) -> int | float | BigInt:
        m = _NUMBER.match(self.text, self.pos)
        if not m:
            raise LiteralError(f"bad number at {self.pos}")
        body, big = m.group(1).replace("_", ""), m.group(2)
        after = self.text[m.end():m.end() + 1]
        if after and (after.isalnum() or after in "_$."):
            raise LiteralError(f"bad number at {self.pos}")
        self.pos = m.end()
        if body[:2].lower() in ("0x", "0b", "0o"):
            n = int(body, 0)
            return BigInt(n) if big else _js_int(n)
        if len(body) > 1 and body[0] == "0" and body[1].isdigit():
            raise LiteralError("legacy octal literal")
        if big:
            if not body.isdigit():
                raise LiteralError("BigInt literal must be an integer")
            return BigInt(int(body))
        if "." in body or "e" in body.lower():
            return float(body)
        return _js_int(int(body))

    def string(self) -> str:
        quote = self.peek()
        self.pos += 1
        out: list[str] = []
        text = self.text
        while True:
            if self.pos >= len(text):
                raise LiteralError("unterminated string")
            c = text[self.pos]
            if c == quote:
                self.pos += 1
                break
            if c == "\n" and quote != "`":
                raise LiteralError("newline in string")
            if quote == "`" and text.startswith("${", self.pos):
                raise LiteralError("template substitution")
            if c == "\\":
                out.append(self.escape())
                continue
            out.append(c)
            self.pos += 1
            if len(out) > MAX_STRING:
                raise LiteralError("string too long")
        return _join_surrogates("".join(out))

    def escape(self) -> str:
        text = self.text
        self.pos += 1
        c = text[self.pos:self.pos + 1]
        if not c:
            raise LiteralError("unterminated escape")
        self.pos += 1
        if c in _ESCAPES:
            return _ESCAPES[c]
        if c == "0" and not text[self.pos:self.pos + 1].isdigit():
            return "\0"
        if c.isdigit():
            raise LiteralError("octal escape")
        if c == "x":
            digits = text[self.pos:self.pos + 2]
            if not re.fullmatch(r"[0-9a-fA-F]{2}", digits):
                raise LiteralError("bad \\x escape")
            self.pos += 2
            return chr(int(digits, 16))
        if c == "u":
            if text.startswith("{", self.pos):
                end = text.find("}", self.pos)
                digits = text[self.pos + 1:end] if end > 0 else ""
                if not re.fullmatch(r"[0-9a-fA-F]{1,6}", digits) or int(digits, 16) > 0x10FFFF:
                    raise LiteralError("bad \\u{} escape")
                self.pos = end + 1
                return chr(int(digits, 16))
            digits = text[self.pos:self.pos + 4]
            if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                raise LiteralError("bad \\u escape")
            self.pos += 4
            return chr(int(digits, 16))
        if c == "\r":
            if text.startswith("\n", self.pos):
                self.pos += 1
            return ""
        if c in "\n\u2028\u2029":
            return ""
        return c

    def array(self, depth: int) -> list[Any]:
        self.pos += 1
        items: list[Any] = []
        while True:
            self.ws()
            if self.peek() == "]":
                self.pos += 1
                return items
            if self.peek() == ",":
                raise LiteralError("array hole")
            items.append(self.value(depth + 1))
            self.ws()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise LiteralError(f"expected ',' or ']' at {self.pos}")

    def object(self, depth: int) -> dict[str, Any]:
        self.pos += 1
        out: dict[str, Any] = {}
        while True:
            self.ws()
            c = self.peek()
            if c == "}":
                self.pos += 1
                return out
            if c in ("'", '"'):
                key = self.string()
            elif c.isdigit():
                n = self.number()
                if isinstance(n, BigInt):
                    raise LiteralError("BigInt key")
                key = _number_source(n)
            else:
                m = _IDENT.match(self.text, self.pos)
                if not m:
                    raise LiteralError(f"bad key at {self.pos}")
                key = m.group()
                self.pos = m.end()
            if key == "__proto__":
                raise LiteralError("__proto__ key")  # it would set the prototype
            self.expect(":")
            out[key] = self.value(depth + 1)
            self.ws()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}":
                raise LiteralError(f"expected ',' or '}}' at {self.pos}")


def _js_int(n: int) -> int | float:
    return n if abs(n) <= MAX_SAFE_INTEGER else float(n)


def _join_surrogates(s: str) -> str:
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        return s
    try:
        return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return s  # a lone surrogate stays; to_js writes it as an escape


def parse_literal(text: str) -> Any:
    """The value of a whole literal; :class:`LiteralError` when it is anything else."""
    reader = _Reader(text)
    value = reader.value()
    reader.ws()
    while reader.peek() == ";":
        reader.pos += 1
        reader.ws()
    if reader.pos != len(text):
        raise LiteralError(f"unexpected text at {reader.pos}")
    return value


def parse_arguments(text: str, start: int) -> tuple[list[Any], int]:
    """Literal arguments from just after ``(`` up to the matching ``)``; (values, end after it)."""
    reader = _Reader(text, start)
    args: list[Any] = []
    while True:
        reader.ws()
        if reader.peek() == ")":
            return args, reader.pos + 1
        args.append(reader.value())
        reader.ws()
        if reader.peek() == ",":
            reader.pos += 1
        elif reader.peek() != ")":
            raise LiteralError(f"expected ',' or ')' at {reader.pos}")


# ------------------------------------------------------------------------ writing
def _number_source(v: int | float) -> str:
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    if v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    return repr(v)


_INVISIBLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff]")


def _string_source(s: str) -> str:
    """A string literal: single quotes unless the text has more of them than double ones."""
    lone = any(0xD800 <= ord(c) <= 0xDFFF for c in s)
    text = json.dumps(s, ensure_ascii=lone)
    text = _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    if s.count("'") > s.count('"'):
        return text
    inner = text[1:-1].replace('\\"', '"').replace("'", "\\'")
    return f"'{inner}'"


def string_source(s: str) -> str:
    return _string_source(s)


_KEY = re.compile(r"^[A-Za-z_$][\w$]*$")


def to_js(value: Any) -> str:
    """Canonical JavaScript source of a value this module reads."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, BigInt):
        return f"{value.value}n"
    if isinstance(value, int | float):
        return _number_source(value)
    if isinstance(value, str):
        return _string_source(value)
    if isinstance(value, list):
        return "[" + ", ".join(to_js(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = (f"{k if _KEY.match(k) else _string_source(k)}: {to_js(v)}"
                 for k, v in value.items())
        return "{ " + ", ".join(items) + " }"
    raise TypeError(f"not a JavaScript literal value: {type(value).__name__}")


def same_value(a: Any, b: Any, *, loose: bool = False) -> bool:
    """``assert.deepStrictEqual`` semantics; ``loose`` also lets floats differ by rounding and
    0 equal -0 (how a claim in a comment is read)."""
    if a is UNDEFINED or b is UNDEFINED or a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, BigInt) or isinstance(b, BigInt):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        if loose:
            return math.isclose(fa, fb, rel_tol=1e-9, abs_tol=1e-12)
        return fa == fb and math.copysign(1.0, fa) == math.copysign(1.0, fb)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y, loose=loose) for x, y in zip(a, b,
                                                                                   strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k], loose=loose) for k in a)
    return False
