"""Small, deliberate bugs in the function under test, to measure what a set of tests catches.

A mutant changes one thing in the target's body: a comparison flipped (``<`` to ``<=``), an
arithmetic operator swapped (``+`` to ``-``), a constant off by one, a string emptied, a boolean
operator or ``not`` changed, a return value replaced by ``None``. A test *kills* a mutant when
its recorded outcome changes under the mutant; a test set that kills more mutants checks more
of the behaviour. Mutants are built here with :mod:`ast` and run only in the sandbox.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from offpilot.features.testgen.python.target import PyModule, PyTarget

MAX_MUTANTS = 24

_COMPARE_FLIPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv,
}
_SYMBOLS: dict[type, str] = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+",
    ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.And: "and", ast.Or: "or",
}


@dataclass(frozen=True)
class Mutant:
    id: int
    target_id: str
    line: int
    description: str  # e.g. "line 14: < -> <="
    source: str  # the mutated top-level function or class, as source


Edit = Callable[[ast.AST], str | None]  # mutates the node in place; returns a description


def _unchecked_nodes(root: ast.AST) -> set[int]:
    """Constants no test asserts: docstrings, and the messages of raised exceptions."""
    out: set[int] = set()
    for node in ast.walk(root):
        if isinstance(node, ast.Raise) and node.exc is not None:
            out.update(id(n) for n in ast.walk(node.exc) if isinstance(n, ast.Constant)
                       and isinstance(n.value, str))
    for node in ast.walk(root):
        body = getattr(node, "body", None)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module) \
                and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            out.add(id(body[0].value))
    return out


def _edits_for(node: ast.AST, docstrings: set[int]) -> Iterator[Edit]:
    """The mutations possible at ``node``, each as a function applied to a copy of it."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            flip = _COMPARE_FLIPS.get(type(op))
            if flip is not None:
                def flip_compare(n: ast.AST, i: int = i, flip: type[ast.cmpop] = flip) -> str:
                    assert isinstance(n, ast.Compare)
                    old = _SYMBOLS[type(n.ops[i])]
                    n.ops[i] = flip()
                    return f"{old} -> {_SYMBOLS[flip]}"
                yield flip_compare
    elif isinstance(node, ast.BinOp | ast.AugAssign):
        swap = _BINOP_SWAPS.get(type(node.op))
        if swap is not None:
            def swap_operator(n: ast.AST, swap: type[ast.operator] = swap) -> str:
                assert isinstance(n, ast.BinOp | ast.AugAssign)
                old = _SYMBOLS[type(n.op)]
                n.op = swap()
                return f"{old} -> {_SYMBOLS[swap]}"
            yield swap_operator
    elif isinstance(node, ast.BoolOp):
        def swap_bool(n: ast.AST) -> str:
            assert isinstance(n, ast.BoolOp)
            old = type(n.op)
            n.op = ast.Or() if old is ast.And else ast.And()
            return f"{_SYMBOLS[old]} -> {_SYMBOLS[type(n.op)]}"
        yield swap_bool
    elif isinstance(node, ast.Constant) and id(node) not in docstrings:
        value = node.value
        if isinstance(value, bool):
            def negate(n: ast.AST) -> str:
                assert isinstance(n, ast.Constant)
                n.value = not n.value
                return f"{not n.value} -> {n.value}"
            yield negate
        elif isinstance(value, int) and abs(value) < 10**12:
            for delta in (1, -1):
                def shift(n: ast.AST, delta: int = delta) -> str:
                    assert isinstance(n, ast.Constant) and isinstance(n.value, int)
                    old = n.value
                    n.value = old + delta
                    return f"{old} -> {n.value}"
                yield shift
        elif isinstance(value, str) and value:
            def empty(n: ast.AST) -> str:
                assert isinstance(n, ast.Constant) and isinstance(n.value, str)
                old = n.value
                n.value = ""
                return f"{old[:20]!r} -> ''"
            yield empty
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
        def drop_unary(n: ast.AST) -> str:
            assert isinstance(n, ast.UnaryOp)
            n.op = ast.UAdd()  # ``+x`` for ``-x``; ``not x`` becomes ``+x``: see below
            return "unary operator removed"
        yield drop_unary
    elif isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None):
        def return_none(n: ast.AST) -> str:
            assert isinstance(n, ast.Return)
            n.value = ast.Constant(value=None)
            return "return None"
        yield return_none


class _DropNot(ast.NodeTransformer):
    """``+x`` produced from ``not x`` would make a TypeError of booleans' negation; use ``x``."""

    def __init__(self, marked: ast.UnaryOp) -> None:
        self.marked = marked

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        return node.operand if node is self.marked else node


def _top_node(mod: PyModule, target: PyTarget) -> tuple[ast.stmt, ast.AST] | None:
    """The top-level statement to re-define (function or class) and the target's def node."""
    for node in mod.tree.body:
        if target.owner is None and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                and node.name == target.name and node.lineno == target.first_line:
            return node, node
        if target.owner is not None and isinstance(node, ast.ClassDef) \
                and node.name == target.owner:
            for stmt in node.body:
                if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) \
                        and stmt.name == target.name and stmt.lineno == target.first_line:
                    return node, stmt
    return None


def _spread(items: list[Mutant], limit: int) -> list[Mutant]:
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def make_mutants(mod: PyModule, target: PyTarget, target_id: str, *, start_id: int = 0,
                 limit: int = MAX_MUTANTS) -> list[Mutant]:
    """Up to ``limit`` mutants of ``target``, spread over its body, each with new source."""
    found = _top_node(mod, target)
    if found is None:
        return []
    top, func = found
    original = ast.unparse(top)
    docstrings = _unchecked_nodes(func)
    body_nodes = [n for stmt in getattr(func, "body", []) for n in ast.walk(stmt)]
    positions = {id(n): i for i, n in enumerate(ast.walk(top))}
    pairs = [(node, edit) for node in body_nodes for edit in _edits_for(node, docstrings)]
    if len(pairs) > 2 * limit:  # spread over the body; spares for edits that come out equal
        step = len(pairs) / (2 * limit)
        pairs = [pairs[int(i * step)] for i in range(2 * limit)]
    chosen: list[Mutant] = []
    seen: set[str] = set()
    for node, edit in pairs:
        clone = copy.deepcopy(top)
        twin = list(ast.walk(clone))[positions[id(node)]]
        what = edit(twin)
        if what is None:
            continue
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            assert isinstance(twin, ast.UnaryOp)
            clone = _DropNot(twin).visit(clone)
            what = "not removed"
        ast.fix_missing_locations(clone)
        try:
            source = ast.unparse(clone)
            ast.parse(source)
        except (SyntaxError, ValueError, RecursionError):
            continue
        if source == original or source in seen:
            continue
        seen.add(source)
        line = getattr(node, "lineno", target.first_line)
        chosen.append(Mutant(0, target_id, line, f"line {line}: {what}", source))
    return [replace(m, id=start_id + i) for i, m in enumerate(_spread(chosen, limit))]


def uses_future_annotations(mod: PyModule) -> bool:
    return any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
               and any(a.name == "annotations" for a in n.names) for n in mod.tree.body)
