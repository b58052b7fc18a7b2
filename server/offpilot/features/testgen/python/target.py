"""What is being tested in a Python file: the function or method, its parameters, its module.

Everything here is read statically with :mod:`ast` from the (possibly unsaved) source; nothing of
the workspace is imported into the server process.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from offpilot.features.testgen.core.request import TargetError


@dataclass(frozen=True)
class Param:
    name: str
    annotation: str | None = None  # source text of the annotation
    default: str | None = None  # source text of the default value
    keyword_only: bool = False


@dataclass(frozen=True)
class ClassInfo:
    """A class whose constructor candidate calls may use: defined in the module, or imported by
    it from a module of the workspace that defines it."""

    name: str
    module: str  # dotted module to import it from
    params: tuple[Param, ...] = ()  # constructor parameters, when known


@dataclass(frozen=True)
class PyTarget:
    """One function or method under test."""

    name: str  # function name, or the method name for methods
    owner: str | None  # class name for methods
    params: tuple[Param, ...]  # without self/cls
    docstring: str
    first_line: int  # 1-based, the ``def`` line (decorators excluded)
    last_line: int  # 1-based, inclusive
    literals: tuple[object, ...]  # constants found in the body (docstring excluded)
    is_async: bool = False
    varargs: bool = False  # takes *args
    varkw: bool = False  # takes **kwargs

    @property
    def qualname(self) -> str:
        return f"{self.owner}.{self.name}" if self.owner else self.name

    @property
    def label(self) -> str:
        """Name for test functions: ``cart_add`` for ``Cart.add``."""
        return f"{self.owner.lower()}_{self.name}" if self.owner else self.name


@dataclass
class PyModule:
    """The module holding the targets, and what candidate calls may construct."""

    path: Path
    module: str  # dotted name, e.g. ``shop.pricing``
    import_root: Path  # the directory that must be on sys.path for ``module`` to import
    source: str
    tree: ast.Module
    classes: dict[str, ClassInfo] = field(default_factory=dict)


def import_root_for(path: Path, root: Path) -> Path:
    """The sys.path entry for ``path``: the nearest ancestor that is not a package.

    ``src/`` layouts and plain top-level packages both come out right: the walk stops at the
    first directory without ``__init__.py`` (never above the workspace root).
    """
    cur = path.parent
    while cur != root and (cur / "__init__.py").exists() and root in cur.parents:
        cur = cur.parent
    return cur


def module_name_for(path: Path, import_root: Path) -> str:
    rel = path.relative_to(import_root).with_suffix("")
    parts = list(rel.parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _params(args: ast.arguments, *, drop_first: bool) -> tuple[Param, ...]:
    positional = list(args.posonlyargs) + list(args.args)
    if drop_first and positional:
        positional = positional[1:]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    if len(defaults) > len(positional):  # the dropped self had no default; keep alignment
        defaults = defaults[len(defaults) - len(positional):]
    out = [Param(a.arg, _src(a.annotation), _src(d)) for a, d in zip(positional, defaults,
                                                                       strict=True)]
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out.append(Param(a.arg, _src(a.annotation), _src(d), keyword_only=True))
    return tuple(out)


def _src(node: ast.AST | None) -> str | None:
    return None if node is None else ast.unparse(node)


def _body_literals(node: ast.AST) -> tuple[object, ...]:
    body = list(getattr(node, "body", []))
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the docstring is no input
    seen: list[object] = []
    keys: set[tuple[type, object]] = set()
    for stmt in body:
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Constant) and not isinstance(sub.value, type(Ellipsis)):
                value = sub.value
                if isinstance(value, str) and len(value) > 40:
                    continue
                if (type(value), value) not in keys:  # 1 and True are different inputs
                    keys.add((type(value), value))
                    seen.append(value)
    return tuple(seen[:24])


def _is_dataclass(node: ast.ClassDef) -> bool:
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "dataclass":
            return True
    return False


def constructor_params(node: ast.ClassDef) -> tuple[Param, ...]:
    """``__init__`` parameters, or the fields of a dataclass (ClassVar and init=False aside)."""
    for stmt in node.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
            return _params(stmt.args, drop_first=True)
    if not _is_dataclass(node):
        return ()
    out = []
    for stmt in node.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        ann = ast.unparse(stmt.annotation)
        if "ClassVar" in ann:
            continue
        default = None
        if stmt.value is not None:
            value = stmt.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "field":
                kws = {k.arg: k.value for k in value.keywords}
                init = kws.get("init")
                if isinstance(init, ast.Constant) and init.value is False:
                    continue
                default = "..." if ("default_factory" in kws or "default" in kws) else None
            else:
                default = ast.unparse(value)
        out.append(Param(stmt.target.id, ann, default))
    return tuple(out)


def _resolve_from(module: str, level: int, current: str, is_package: bool) -> str:
    if level == 0:
        return module
    base = current.split(".")
    # a module's relative imports start from its package; a package's from itself
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, module] if module else base)


def _module_file(dotted: str, import_root: Path) -> Path | None:
    rel = Path(*dotted.split("."))
    for cand in (import_root / rel.with_suffix(".py"), import_root / rel / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def load_module(root: Path, path: Path, source: str) -> PyModule:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise TargetError(f"{path.name} does not parse (line {exc.lineno}): {exc.msg}") from None
    import_root = import_root_for(path, root)
    module = module_name_for(path, import_root)
    mod = PyModule(path, module, import_root, source, tree)
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            mod.classes[node.name] = ClassInfo(node.name, module, constructor_params(node))
        elif isinstance(node, ast.ImportFrom):
            src_mod = _resolve_from(node.module or "", node.level, module,
                                    path.name == "__init__.py")
            for alias in node.names:
                name = alias.asname or alias.name
                # imported classes become constructors only when the workspace defines them:
                # a class from the standard library or an installed package (Popen, FileIO,
                # ZipFile) can do anything, so candidate calls never construct one
                if not name[:1].isupper() or name.isupper():
                    continue
                params: tuple[Param, ...] = ()
                other = _module_file(src_mod, import_root)
                defined = _classes_in(other, src_mod) if other is not None else {}
                if alias.name not in defined:
                    continue
                if alias.asname is None:
                    params = defined[alias.name].params
                    # classes its constructor needs (``Cart(items={...: Item(...)})``)
                    for p in params:
                        for word in _NAME_IN_ANNOTATION.findall(p.annotation or ""):
                            if word in defined and word not in mod.classes:
                                mod.classes[word] = defined[word]
                mod.classes[name] = ClassInfo(name, src_mod, params)
    return mod


_NAME_IN_ANNOTATION = re.compile(r"\b[A-Z][A-Za-z0-9_]*\b")


def _classes_in(path: Path, module: str) -> dict[str, ClassInfo]:
    """The classes a module file defines, with their constructor parameters."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return {}
    return {node.name: ClassInfo(node.name, module, constructor_params(node))
            for node in tree.body if isinstance(node, ast.ClassDef)}


def _target_of(node: ast.FunctionDef | ast.AsyncFunctionDef, owner: ast.ClassDef | None
               ) -> PyTarget:
    is_static = any(getattr(d, "id", "") == "staticmethod" for d in node.decorator_list)
    return PyTarget(
        name=node.name, owner=owner.name if owner else None,
        params=_params(node.args, drop_first=owner is not None and not is_static),
        docstring=ast.get_docstring(node) or "",
        first_line=node.lineno, last_line=node.end_lineno or node.lineno,
        literals=_body_literals(node), is_async=isinstance(node, ast.AsyncFunctionDef),
        varargs=node.args.vararg is not None, varkw=node.args.kwarg is not None)


def _public_methods(cls: ast.ClassDef) -> list[PyTarget]:
    out = []
    for stmt in cls.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) \
                and not stmt.name.startswith("_"):
            if any(getattr(d, "id", "") in {"property", "classmethod"}
                   for d in stmt.decorator_list):
                continue
            out.append(_target_of(stmt, cls))
    return out


def find_targets(mod: PyModule, *, symbol: str = "", start_line: int = 0, end_line: int = 0,
                 scope: str = "symbol") -> list[PyTarget]:
    """Targets for a request: one function/method, a class's public methods, or a whole file.

    Lines are 0-based like LSP's. Without a symbol, the innermost function or class overlapping
    the range is taken.
    """
    top = mod.tree.body
    if scope == "file":
        out: list[PyTarget] = []
        for node in top:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                    and not node.name.startswith("_"):
                out.append(_target_of(node, None))
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                out.extend(_public_methods(node))
        return out
    if symbol:
        owner_name, _, name = symbol.rpartition(".")
        for node in top:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not owner_name \
                    and node.name == name:
                return [_target_of(node, None)]
            if isinstance(node, ast.ClassDef):
                if node.name == name and not owner_name:
                    return _public_methods(node)
                for stmt in node.body:
                    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) \
                            and stmt.name == name and owner_name in ("", node.name):
                        return [_target_of(stmt, node)]
        return []
    lo, hi = start_line + 1, end_line + 1

    def overlaps(node: ast.stmt) -> bool:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return first <= hi and (node.end_lineno or node.lineno) >= lo

    for node in top:
        if not overlaps(node):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return [_target_of(node, None)]
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and overlaps(stmt) \
                        and lo >= stmt.lineno:
                    return [_target_of(stmt, node)]
            return _public_methods(node)
    return []
