"""The language registry: LSP languageId / file extension → tree-sitter grammar + queries.

Grammars come from the per-language wheels (``tree-sitter-python``, …), never from a package that
downloads parsers at first use. Queries are data, kept in ``grammars/<name>/*.scm`` at the top of
the repository (shipped inside the package as ``offpilot/grammars``; see
:mod:`offpilot.shared.resources`).
Adding a language is adding a folder there and one line to :data:`LANGUAGES`.
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePath

import tree_sitter

from offpilot.shared import resources

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LanguageSpec:
    name: str  # registry name, also the grammars/ folder unless ``queries`` says otherwise
    language_ids: tuple[str, ...]  # LSP languageIds
    extensions: tuple[str, ...]
    module: str  # grammar wheel's import name
    function: str = "language"  # its function returning the language pointer
    comment_prefix: str = "//"
    queries: str = ""  # grammars/ folder when shared (TSX uses TypeScript's queries)

    @property
    def query_dir(self) -> str:
        return self.queries or self.name

    def language(self) -> tree_sitter.Language:
        return _language(self.module, self.function)

    def parser(self) -> tree_sitter.Parser:
        return tree_sitter.Parser(self.language())

    def query(self, kind: str) -> tree_sitter.Query | None:
        """The compiled ``grammars/<lang>/<kind>.scm`` query, or None when the file is absent."""
        return _query(self.module, self.function, self.query_dir, kind)

    def combined_query(self, *kinds: str) -> tuple[tree_sitter.Query, dict[str, range]] | None:
        """One query made of several ``<kind>.scm`` files, and the pattern indexes each one
        holds: matching it walks the tree once instead of once per file (the walk, not the
        matching, is most of a query's cost). None when none of them exists."""
        return _combined(self.module, self.function, self.query_dir, kinds)

    def query_kinds(self) -> list[str]:
        folder = grammars_dir() / self.query_dir
        return sorted(p.stem for p in folder.glob("*.scm")) if folder.is_dir() else []


LANGUAGES: tuple[LanguageSpec, ...] = (
    LanguageSpec("python", ("python",), (".py", ".pyi"), "tree_sitter_python",
                 comment_prefix="#"),
    LanguageSpec("javascript", ("javascript", "javascriptreact"),
                 (".js", ".mjs", ".cjs", ".jsx"), "tree_sitter_javascript"),
    LanguageSpec("typescript", ("typescript",), (".ts", ".mts", ".cts"),
                 "tree_sitter_typescript", "language_typescript"),
    LanguageSpec("tsx", ("typescriptreact",), (".tsx",), "tree_sitter_typescript",
                 "language_tsx", queries="typescript"),
    LanguageSpec("go", ("go",), (".go",), "tree_sitter_go"),
    LanguageSpec("rust", ("rust",), (".rs",), "tree_sitter_rust"),
    LanguageSpec("java", ("java",), (".java",), "tree_sitter_java"),
    LanguageSpec("c", ("c",), (".c", ".h"), "tree_sitter_c"),
    LanguageSpec("cpp", ("cpp", "cuda-cpp"),
                 (".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp"),
                 "tree_sitter_cpp"),
)

_BY_ID = {lid: spec for spec in LANGUAGES for lid in spec.language_ids}
_BY_EXT = {ext: spec for spec in LANGUAGES for ext in spec.extensions}
_BY_NAME = {spec.name: spec for spec in LANGUAGES}


def for_language_id(language_id: str) -> LanguageSpec | None:
    return _BY_ID.get(language_id) or _BY_NAME.get(language_id)


# What only C++ has, at the start of a line of a `.h` header (C and C++ share the extension).
_CPP_HEADER = re.compile(
    rb"^[ \t]*(?:namespace\b|template[ \t]*<|class[ \t]+\w+[^;\n]*(?:\{|$)|"
    rb"(?:public|private|protected)[ \t]*:|using[ \t]+namespace\b)",
    re.MULTILINE)
SNIFFED_BYTES = 1 << 16


def looks_like_cpp(text: str | bytes) -> bool:
    head = text[:SNIFFED_BYTES]
    data = head.encode("utf-8", "replace") if isinstance(head, str) else head
    return _CPP_HEADER.search(data) is not None


def for_path(path: str | PurePath, text: str | bytes | None = None) -> LanguageSpec | None:
    """The language of a file by its extension; a `.h` header whose ``text`` is C++ (a class, a
    namespace, a template) is C++, C otherwise."""
    suffix = PurePath(path).suffix.lower()
    if suffix == ".h" and text is not None and looks_like_cpp(text):
        return _BY_NAME["cpp"]
    return _BY_EXT.get(suffix)


def for_document(language_id: str, path: str | PurePath, text: str | None = None
                 ) -> LanguageSpec | None:
    """The languageId wins (an editor knows better), the extension decides otherwise."""
    return for_language_id(language_id) or for_path(path, text)


def by_name(name: str) -> LanguageSpec | None:
    return _BY_NAME.get(name)


def all_languages() -> tuple[LanguageSpec, ...]:
    return LANGUAGES


def source_extensions() -> frozenset[str]:
    return frozenset(_BY_EXT)


@cache
def grammars_dir() -> Path:
    """The query folder: the packaged ``offpilot/grammars``, or a checkout's ``grammars/``."""
    return resources.grammars_dir()


@cache
def _language(module: str, function: str) -> tree_sitter.Language:
    mod = importlib.import_module(module)
    return tree_sitter.Language(getattr(mod, function)())


@cache
def _query(module: str, function: str, folder: str, kind: str) -> tree_sitter.Query | None:
    path = grammars_dir() / folder / f"{kind}.scm"
    if not path.is_file():
        return None
    source = path.read_text(encoding="utf-8")
    try:
        return tree_sitter.Query(_language(module, function), source)
    except ValueError as exc:  # QueryError, or a grammar of another ABI: must not stop the server
        log.error("query %s is invalid: %s", path, exc)
        return None


@cache
def _combined(module: str, function: str, folder: str, kinds: tuple[str, ...]
              ) -> tuple[tree_sitter.Query, dict[str, range]] | None:
    sources: list[str] = []
    ranges: dict[str, range] = {}
    start = 0
    for kind in kinds:
        single = _query(module, function, folder, kind)
        if single is None:
            continue
        sources.append((grammars_dir() / folder / f"{kind}.scm").read_text(encoding="utf-8"))
        ranges[kind] = range(start, start + single.pattern_count)
        start += single.pattern_count
    if not sources:
        return None
    try:
        query = tree_sitter.Query(_language(module, function), "\n".join(sources))
    except ValueError as exc:  # tree_sitter.QueryError
        log.error("queries %s of %s do not combine: %s", kinds, folder, exc)
        return None
    if query.pattern_count != start:
        log.error("queries %s of %s do not combine: pattern counts differ", kinds, folder)
        return None
    return query, ranges
