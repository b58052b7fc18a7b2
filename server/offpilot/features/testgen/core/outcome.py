"""What one call of the code under test did, as recorded in the sandbox (any language)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """What one call did."""

    kind: str  # "value" | "raises" | "timeout" | "unrepresentable" | "missing"
    repr: str = ""
    literal: bool = False
    constructible: bool = False
    listed: bool = False  # a generator, recorded as the list it yields
    has_float: bool = False
    value_type: str = ""
    state: str | None = None  # repr of the receiver after a method call
    changed_state: bool = False  # the method changed the receiver
    exc_type: str = ""
    exc_module: str = ""
    exc_bases: tuple[tuple[str, str], ...] = ()

    def key(self) -> tuple[Any, ...]:
        if self.kind == "value":
            return ("value", self.repr, self.state)
        if self.kind == "raises":
            return ("raises", self.exc_module, self.exc_type)
        return (self.kind,)

    @property
    def usable(self) -> bool:
        return self.kind in ("value", "raises")

    @property
    def from_the_machine(self) -> bool:
        """An ``OSError`` (file not found, permission denied, read-only file system...): in the
        sandbox that says what the sandbox hides or forbids, not what the code does, and the
        same call outside it could touch real files."""
        return self.kind == "raises" and (
            (self.exc_module, self.exc_type) == ("builtins", "OSError")
            or ("builtins", "OSError") in self.exc_bases)

    def summary(self) -> str:
        if self.kind == "value":
            return self.repr if len(self.repr) <= 80 else self.repr[:77] + "..."
        if self.kind == "raises":
            return f"raises {self.exc_type}"
        return self.kind
