"""The records of JavaScript/TypeScript test generation: targets, modules and candidate calls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offpilot.features.testgen.javascript.jsvalues import to_js


@dataclass(frozen=True)
class JsParam:
    name: str
    default: Any = None
    has_default: bool = False  # with a default value that is a literal (``default``)
    optional: bool = False  # a default (literal or not) or ``?``: the call may leave it out
    rest: bool = False
    shape: str = ""  # "object" | "array" for a destructured parameter
    type_hint: str = ""  # from the JSDoc ``@param {type}`` or a TypeScript annotation


@dataclass(frozen=True)
class JsTarget:
    name: str  # what a test calls it (the local name in the module, or one made up)
    export: str  # its export: a name, "default", or "module" (``module.exports = f``)
    params: tuple[JsParam, ...]
    is_async: bool
    first_line: int  # 0-based, with its JSDoc
    last_line: int
    doc: str  # the JSDoc text without comment markers
    text: str  # its source, with the JSDoc


@dataclass(frozen=True)
class JsModule:
    path: Path
    source: str
    language: str  # "javascript" | "typescript"
    kind: str  # "esm" | "cjs"
    syntax: str  # what the code itself uses: "esm" | "cjs" | ""
    targets: tuple[JsTarget, ...]


@dataclass(frozen=True)
class JsScenario:
    """One candidate call of a target, and what its source claimed it gives."""

    target: str
    args: tuple[Any, ...]
    origin: str  # "docstring" | "model" | "signature"
    expected: Any = None
    has_expected: bool = False
    expected_raises: str = ""

    def call(self, name: str) -> str:
        return f"{name}({', '.join(to_js(a) for a in self.args)})"

    @property
    def key(self) -> tuple[str, str]:
        return self.target, ", ".join(to_js(a) for a in self.args)

    def claimed(self) -> str:
        return f"throws {self.expected_raises}" if self.expected_raises else to_js(self.expected)
