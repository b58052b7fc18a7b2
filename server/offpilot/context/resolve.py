"""Imports → files, and names used in a file → the definitions they refer to.

Resolution is by the language's own rules where they are simple and local to the workspace:

- Python: absolute imports from the source roots (the root, ``src/``, folders with a
  ``pyproject.toml``/``setup.py``/``setup.cfg``, the folder above the current file's top
  package), relative imports by dots, packages by ``__init__.py``; a name imported from a package
  is followed through the package's own imports (re-exports).
- JavaScript/TypeScript: relative specifiers with extension and ``index.*`` resolution, and the
  ``baseUrl``/``paths`` of a ``tsconfig.json``/``jsconfig.json``.
- Go: import paths under the module path of a ``go.mod`` → that package's directory.
- Rust: ``crate::``/``self::``/``super::`` paths and ``mod x;`` → ``x.rs`` or ``x/mod.rs``.
- Java: ``a.b.C`` → ``…/a/b/C.java``; ``a.b.*`` → the package's folder; same-package classes.
- C/C++: ``#include "x.h"`` relative to the file, then to include folders found in the tree;
  a header brings its sibling source file (same stem) along.

What the rules cannot place is found by name in the workspace symbol table, preferring files the
current file imports, then its own folder, then the shortest path.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from offpilot.context.model import Definition, FileSummary, Import

log = logging.getLogger(__name__)

PY_EXTS = (".py", ".pyi")
JS_EXTS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
C_SOURCE_EXTS = (".c", ".cc", ".cpp", ".cxx", ".c++")
C_HEADER_EXTS = (".h", ".hh", ".hpp", ".hxx", ".h++", ".ipp")
JS_LANGS = frozenset({"javascript", "typescript", "tsx"})
C_LANGS = frozenset({"c", "cpp"})
MAX_REEXPORT_DEPTH = 3


class FileSource(Protocol):
    """What resolution needs from the index (:class:`offpilot.context.index.Index`)."""

    generation: int  # changes with any file's content
    files_generation: int  # changes with the set of files (and project files); optional


    def summary(self, rel: str) -> FileSummary | None: ...
    def has(self, rel: str) -> bool: ...
    def files_in_dir(self, rel_dir: str) -> frozenset[str]: ...
    def files_named(self, basename: str) -> frozenset[str]: ...
    def dirs(self) -> list[str]: ...
    def definitions(self, name: str) -> list[Definition]: ...
    def read_config(self, rel: str) -> str | None: ...


def _dirname(path: str) -> str:
    return path.rpartition("/")[0]


def _join(*parts: str) -> str:
    joined = posixpath.normpath(posixpath.join(*[p for p in parts if p])) if any(parts) else ""
    return "" if joined == "." else joined


def _strip_json_comments(text: str) -> str:
    """JSONC (tsconfig) → JSON: comments and trailing commas out, strings left alone."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j == -1 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j == -1 else j + 2
        else:
            out.append(c)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


@dataclass(frozen=True)
class _TsConfig:
    folder: str
    base_url: str | None
    paths: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass
class _Layout:
    """What the project's layout says, until a file is added or removed."""

    python_roots: list[str] | None = None
    go_modules: list[tuple[str, str]] | None = None
    include_dirs: list[str] | None = None
    tsconfigs: dict[str, _TsConfig | None] = field(default_factory=dict)


class Resolver:
    """Import and name resolution over one root's index (caches follow the index's changes).

    Which files an import reaches depends only on which files exist (and on project files
    such as ``tsconfig.json``), so those caches live until the index's ``files_generation``
    changes, not at every edit of a file's content; what depends on a summary is checked
    against that summary object.
    """

    def __init__(self, source: FileSource) -> None:
        self.source = source
        self._generation = -1
        self._modules: dict[tuple[str, str, str, int], tuple[str, ...]] = {}
        self._imported: dict[tuple[str, int], tuple[FileSummary, tuple[str, ...]]] = {}
        self._defs_by_file: dict[str, tuple[FileSummary, dict[str, list[Definition]]]] = {}
        self._layout = _Layout()

    # ------------------------------------------------------------- caches
    def _fresh(self) -> None:
        source = self.source
        generation = getattr(source, "files_generation", None)
        if generation is None:  # a source without one: any change counts
            generation = source.generation
        if generation != self._generation:
            self._generation = generation
            self._modules.clear()
            self._imported.clear()
            self._layout = _Layout()

    def defs_in_file(self, path: str, name: str) -> list[Definition]:
        summary = self.source.summary(path)
        if summary is None:
            return []
        cached = self._defs_by_file.get(path)
        if cached is None or cached[0] is not summary:
            table: dict[str, list[Definition]] = {}
            for d in summary.definitions:
                table.setdefault(d.name, []).append(d)
            if len(self._defs_by_file) > 4096:
                self._defs_by_file.clear()
            self._defs_by_file[path] = cached = (summary, table)
        return cached[1].get(name, [])

    # ------------------------------------------------------------- imports → files
    def module_files(self, from_path: str, language: str, imp: Import) -> tuple[str, ...]:
        """The workspace files an import refers to (empty for third-party modules)."""
        self._fresh()
        key = (from_path, language, imp.module, imp.level)
        found = self._modules.get(key)
        if found is None:
            try:
                found = tuple(dict.fromkeys(self._module_files(from_path, language, imp)))
            except (ValueError, LookupError, RecursionError):  # odd specifiers, odd configs
                log.debug("cannot resolve %r from %s", imp.module, from_path, exc_info=True)
                found = ()
            self._modules[key] = found
        return found

    def _module_files(self, from_path: str, language: str, imp: Import) -> list[str]:
        if language == "python":
            return self._python(from_path, imp.module, imp.level)
        if language in JS_LANGS:
            return self._js(from_path, imp.module)
        if language == "go":
            return self._go(imp.module)
        if language == "rust":
            return self._rust(from_path, imp.module)
        if language == "java":
            return self._java(imp.module)
        if language in C_LANGS:
            return self._c(from_path, imp.module)
        return []

    def imported_files(self, from_path: str, summary: FileSummary) -> tuple[str, ...]:
        """Every workspace file ``summary``'s imports reach (Python submodules and the modules
        of a Rust use list, ``use crate::net::{http, tcp}``, included)."""
        self._fresh()
        key = (from_path, id(summary))
        cached = self._imported.get(key)
        found = cached[1] if cached is not None and cached[0] is summary else None
        if found is None:
            files: list[str] = []
            for imp in summary.imports:
                files += self.module_files(from_path, summary.language, imp)
                if summary.language == "python":
                    for name, _alias in imp.names:
                        sub = Import(module=f"{imp.module}.{name}" if imp.module else name,
                                     level=imp.level)
                        files += self.module_files(from_path, "python", sub)
                elif summary.language == "rust":
                    for name, _alias in imp.names:
                        if name != "self":
                            sub = Import(module=f"{imp.module}::{name}")
                            files += self.module_files(from_path, "rust", sub)
            found = tuple(f for f in dict.fromkeys(files) if f != from_path)
            if len(self._imported) > 1024:
                self._imported.clear()
            self._imported[key] = (summary, found)
        return found

    # ------------------------------------------------------------- Python
    def _python_roots(self, from_path: str) -> list[str]:
        roots: list[str] = []
        folder = _dirname(from_path)
        top = None
        while folder and any(self.source.has(f"{folder}/__init__{e}") for e in PY_EXTS):
            top = folder
            folder = _dirname(folder)
        if top is not None:
            roots.append(_dirname(top))
        cached = self._layout.python_roots
        if cached is None:
            found = ["", "src"]
            for d in self.source.dirs():
                probe = d
                while probe:
                    if any(self.source.read_config(f"{probe}/{m}") is not None
                           for m in ("pyproject.toml", "setup.py", "setup.cfg")):
                        found.append(probe)
                        found.append(f"{probe}/src")
                        break
                    probe = _dirname(probe)
            cached = self._layout.python_roots = list(dict.fromkeys(found))
        roots += cached
        return list(dict.fromkeys(roots))

    def _python_stem(self, stem: str) -> list[str]:
        out = [f"{stem}{e}" for e in PY_EXTS if stem and self.source.has(f"{stem}{e}")]
        out += [f"{_join(stem, '__init__')}{e}" for e in PY_EXTS
                if self.source.has(f"{_join(stem, '__init__')}{e}")]
        return out

    def _python(self, from_path: str, module: str, level: int) -> list[str]:
        parts = [p for p in module.split(".") if p]
        if level:
            base = _dirname(from_path).split("/") if _dirname(from_path) else []
            up = level - 1
            if up > len(base):
                return []
            base = base[:len(base) - up]
            return self._python_stem("/".join(base + parts))
        if not parts:
            return []
        for root in self._python_roots(from_path):
            found = self._python_stem(_join(root, *parts))
            if found:
                return found
        if len(parts) < 2:
            return []
        tail = "/".join(parts)  # a package below a folder we did not take for a root
        found = sorted((p for e in PY_EXTS for p in self.source.files_named(parts[-1] + e)
                        if p.endswith("/" + tail + e)), key=lambda p: (len(p), p))
        if not found:
            found = sorted((p for e in PY_EXTS for p in self.source.files_named("__init__" + e)
                            if _dirname(p).endswith("/" + tail)), key=lambda p: (len(p), p))
        return found[:1]

    # ------------------------------------------------------------- JavaScript / TypeScript
    def _tsconfigs(self, from_path: str) -> list[_TsConfig]:
        out: list[_TsConfig] = []
        folder = _dirname(from_path)
        while True:
            for name in ("tsconfig.json", "jsconfig.json"):
                cfg = self._tsconfig(_join(folder, name))
                if cfg is not None:
                    out.append(cfg)
            if not folder:
                return out
            folder = _dirname(folder)

    def _tsconfig(self, rel: str) -> _TsConfig | None:
        if rel in self._layout.tsconfigs:
            return self._layout.tsconfigs[rel]
        cfg = None
        text = self.source.read_config(rel)
        if text is not None:
            try:
                data = json.loads(_strip_json_comments(text))
                opts = data.get("compilerOptions") or {}
                paths = opts.get("paths") or {}
                base = opts.get("baseUrl")
                cfg = _TsConfig(_dirname(rel), base if isinstance(base, str) else None, tuple(
                    (k, tuple(v for v in vs if isinstance(v, str)))
                    for k, vs in paths.items() if isinstance(vs, list)))
            except (ValueError, AttributeError):
                cfg = None
        self._layout.tsconfigs[rel] = cfg
        return cfg

    def _js_candidates(self, base: str) -> list[str]:
        if self.source.has(base):
            return [base]
        stems = [base]
        for js, ts in ((".js", ".ts"), (".jsx", ".tsx"), (".mjs", ".mts"), (".cjs", ".cts")):
            if base.endswith(js):  # TypeScript ESM style: "./util.js" is util.ts
                stems.append(base[:-len(js)])
                if self.source.has(base[:-len(js)] + ts):
                    return [base[:-len(js)] + ts]
        for stem in stems:
            for ext in JS_EXTS:
                if self.source.has(stem + ext):
                    return [stem + ext]
            for ext in JS_EXTS:
                if self.source.has(f"{stem}/index{ext}"):
                    return [f"{stem}/index{ext}"]
        return []

    def _js(self, from_path: str, spec: str) -> list[str]:
        if not spec:
            return []
        if spec.startswith("."):
            return self._js_candidates(_join(_dirname(from_path), spec))
        if spec.startswith("/"):
            return []
        for cfg in self._tsconfigs(from_path):
            base_dir = _join(cfg.folder, cfg.base_url) if cfg.base_url is not None \
                else cfg.folder
            for pattern, targets in cfg.paths:
                if "*" in pattern:
                    head, _, tail = pattern.partition("*")
                    if not (spec.startswith(head) and spec.endswith(tail)
                            and len(spec) >= len(head) + len(tail)):
                        continue
                    star = spec[len(head):len(spec) - len(tail)] if tail else spec[len(head):]
                elif pattern == spec:
                    star = ""
                else:
                    continue
                for target in targets:
                    found = self._js_candidates(_join(base_dir, target.replace("*", star)))
                    if found:
                        return found
            if cfg.base_url is not None:
                found = self._js_candidates(_join(base_dir, spec))
                if found:
                    return found
        return []

    # ------------------------------------------------------------- Go
    def _go_modules(self) -> list[tuple[str, str]]:
        cached = self._layout.go_modules
        if cached is None:
            mods: dict[str, str] = {}
            seen: set[str] = set()
            for d in self.source.dirs():
                probe: str | None = d
                while probe is not None and probe not in seen:
                    seen.add(probe)
                    text = self.source.read_config(_join(probe, "go.mod"))
                    if text is not None:
                        m = re.search(r"^\s*module\s+(\S+)", text, re.M)
                        if m:
                            mods[probe] = m.group(1).strip('"')
                    probe = _dirname(probe) if probe else None
            cached = self._layout.go_modules = sorted(
                ((d, m) for d, m in mods.items()), key=lambda dm: -len(dm[1]))
        return cached

    def _go_package(self, folder: str) -> list[str]:
        return sorted(p for p in self.source.files_in_dir(folder)
                      if p.endswith(".go") and not p.endswith("_test.go"))

    def _go(self, import_path: str) -> list[str]:
        for folder, module in self._go_modules():
            if import_path == module or import_path.startswith(module + "/"):
                found = self._go_package(_join(folder, import_path[len(module):].strip("/")))
                if found:
                    return found
        parts = import_path.split("/")
        for k in range(min(len(parts), 4), 0, -1):  # no go.mod: match the path's tail
            tail = "/".join(parts[-k:])
            for d in sorted(self.source.dirs(), key=lambda d: (len(d), d)):
                if d == tail or d.endswith("/" + tail):
                    found = self._go_package(d)
                    if found:
                        return found
        return []

    # ------------------------------------------------------------- Rust
    def _rust_crate_dir(self, from_path: str) -> str:
        folder = _dirname(from_path)
        probe = folder
        while True:
            if self.source.has(_join(probe, "lib.rs")) or self.source.has(_join(probe, "main.rs")):
                return probe
            if not probe:
                break
            probe = _dirname(probe)
        return folder

    @staticmethod
    def _rust_module_dir(path: str) -> str:
        base = path.rpartition("/")[2]
        if base in ("lib.rs", "main.rs", "mod.rs"):
            return _dirname(path)
        return path[:-3] if path.endswith(".rs") else _dirname(path)

    def _rust(self, from_path: str, module: str) -> list[str]:
        parts = [p for p in re.split(r"::", module.strip().rstrip(";")) if p]
        parts = [p.strip("{} ") for p in parts if p.strip("{} ") and p.strip() != "*"]
        if not parts:
            return []
        here = self._rust_module_dir(from_path)
        if parts[0] == "crate":
            base, parts = self._rust_crate_dir(from_path), parts[1:]
        elif parts[0] == "self":
            base, parts = here, parts[1:]
        elif parts[0] == "super":
            base = here
            while parts and parts[0] == "super":
                base, parts = _dirname(base), parts[1:]
        else:
            base = here  # `mod x;` or a path relative to the current module
        for k in range(len(parts), 0, -1):
            stem = _join(base, *parts[:k])
            found = [f for f in (f"{stem}.rs", f"{stem}/mod.rs") if self.source.has(f)]
            if found:
                return found
        if base != here:
            return []
        crate = self._rust_crate_dir(from_path)
        if crate != here:  # a path that starts with a module of the crate root
            return self._rust(from_path, "crate::" + "::".join(parts))
        return []

    # ------------------------------------------------------------- Java
    def _java(self, module: str) -> list[str]:
        parts = [p for p in module.strip().rstrip(";").split(".") if p and p != "*"]
        if module.endswith(".*"):
            return self._java_package(parts)
        for k in range(len(parts), 0, -1):  # a class, or a member of a class (static imports)
            tail = "/".join(parts[:k]) + ".java"
            found = sorted(p for p in self.source.files_named(parts[k - 1] + ".java")
                           if p == tail or p.endswith("/" + tail))
            if found:
                return found[:1]
            if k < len(parts) - 1:
                break
        return self._java_package(parts)

    def _java_package(self, parts: list[str]) -> list[str]:
        tail = "/".join(parts)
        if not tail:
            return []
        for d in sorted(self.source.dirs(), key=lambda d: (len(d), d)):
            if d == tail or d.endswith("/" + tail):
                return sorted(p for p in self.source.files_in_dir(d) if p.endswith(".java"))
        return []

    # ------------------------------------------------------------- C / C++
    def _include_dirs(self) -> list[str]:
        cached = self._layout.include_dirs
        if cached is None:
            found = sorted(d for d in self.source.dirs()
                           if d.rpartition("/")[2] in ("include", "inc"))
            dirs = ["", "src", *found]
            for d in list(dirs):
                if d.rpartition("/")[2] in ("include", "inc"):
                    dirs.append(_dirname(d))
            cached = self._layout.include_dirs = list(dict.fromkeys(dirs))
        return cached

    def _c(self, from_path: str, header: str) -> list[str]:
        header = header.strip().strip('"<>')
        if not header:
            return []
        found: list[str] = []
        for folder in [_dirname(from_path), *self._include_dirs()]:
            candidate = _join(folder, header)
            if self.source.has(candidate):
                found = [candidate]
                break
        if not found:
            base = header.rpartition("/")[2]
            found = sorted((p for p in self.source.files_named(base)
                            if p == header or p.endswith("/" + header)),
                           key=lambda p: (len(p), p))[:1]
        out = list(found)
        for h in found:
            stem, dot, ext = h.rpartition(".")
            if dot and "." + ext in C_HEADER_EXTS:
                out += [stem + e for e in C_SOURCE_EXTS if self.source.has(stem + e)]
                if not out[len(found):]:  # include/x.h ↔ src/x.c
                    name = stem.rpartition("/")[2]
                    out += sorted(p for e in C_SOURCE_EXTS
                                  for p in self.source.files_named(name + e))[:1]
        return out

    # ------------------------------------------------------------- names → definitions
    def lookup(self, from_path: str, summary: FileSummary | None, name: str, *,
               limit: int = 2) -> list[Definition]:
        """The definitions ``name`` most likely refers to in ``from_path`` (best first)."""
        self._fresh()
        if summary is None:
            return self._by_name(from_path, (), name, limit)
        local = self.defs_in_file(from_path, name)
        if local:
            return local[:limit]
        language = summary.language
        # 1) imported by name: `from m import name`, `import { name } from "./m"`, `use a::name`
        for imp in summary.imports:
            for original, alias in imp.names:
                if (alias or original) != name:
                    continue
                files = self.module_files(from_path, language, imp)
                defs = self._follow(files, original, language, MAX_REEXPORT_DEPTH)
                if not defs and language == "python":
                    sub = Import(module=f"{imp.module}.{original}" if imp.module else original,
                                 level=imp.level)
                    defs = [Definition(name=name, kind="module", path=f, start_line=1,
                                       end_line=1, signature="")
                            for f in self.module_files(from_path, language, sub)][:1]
                if defs:
                    return defs[:limit]
            if imp.alias == name and not imp.names and language in JS_LANGS:
                files = self.module_files(from_path, language, imp)  # a default import
                defs = self._follow(files, name, language, MAX_REEXPORT_DEPTH)
                if defs:
                    return defs[:limit]
        # 2) in a module the file imports as a whole (qualified use, wildcard, Go, C headers)
        imported = self.imported_files(from_path, summary)
        defs = [d for f in imported for d in self.defs_in_file(f, name)]
        if defs:
            return _rank(defs, from_path, imported)[:limit]
        # 3) the same package (Go, Java: the folder), then 4) anywhere, nearest first
        return self._by_name(from_path, imported, name, limit)

    def _follow(self, files: Iterable[str], name: str, language: str,
                depth: int) -> list[Definition]:
        """Definitions of ``name`` in ``files``, through their own imports (re-exports)."""
        files = list(files)
        found = [d for f in files for d in self.defs_in_file(f, name)]
        if found or depth <= 0:
            return found
        for f in files:
            summary = self.source.summary(f)
            if summary is None:
                continue
            for imp in summary.imports:
                names = {alias or original: original for original, alias in imp.names}
                if name in names or imp.wildcard:
                    target = names.get(name, name)
                    found = self._follow(self.module_files(f, language, imp), target, language,
                                         depth - 1)
                    if found:
                        return found
        return []

    def _by_name(self, from_path: str, imported: Iterable[str], name: str,
                 limit: int) -> list[Definition]:
        defs = [d for d in self.source.definitions(name) if d.path != from_path]
        return _rank(defs, from_path, imported)[:limit]


def _rank(defs: list[Definition], from_path: str, imported: Iterable[str]) -> list[Definition]:
    near = set(imported)
    folder = _dirname(from_path)

    def key(d: Definition) -> tuple[int, int, int, str, int]:
        place = 0 if d.path in near else 1 if _dirname(d.path) == folder else 2
        return (place, int(bool(d.parent)), len(d.path), d.path, d.start_line)

    return sorted(defs, key=key)
