"""The languages test generation knows: each package registers one :class:`LanguageSupport`.

A language package (``testgen/python``, ``testgen/javascript``...) implements the interface
and calls :func:`register` once, in its ``__init__``; the dispatcher (:mod:`.dispatch`)
finds it by the file's suffix. The core never imports a language package.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from offpilot.features.testgen.core.layout import TestLayout
from offpilot.features.testgen.core.request import TestGenRequest
from offpilot.features.testgen.core.result import TestGenResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DraftRules:
    """How a language's UNVERIFIED model draft is asked for and screened (:mod:`.draft`)."""

    header: str  # the comment that starts the draft in the file
    primer: Callable[[TestLayout], str]  # the test file's first line(s), given to the model
    # what a draft uses beyond the code under test and the framework (``own``: the
    # project's module names); empty when nothing
    outside_uses: Callable[[str, tuple[str, ...]], list[str]]
    # the names a draft may import the project's own code by
    own_modules: Callable[[TestGenRequest], tuple[str, ...]]


class LanguageSupport(Protocol):
    """What a language package gives test generation.

    ``generate`` is the language's whole pipeline: find the targets in the request, propose
    calls (docstring, model, signature), record what they do in the sandbox, render tests and
    run them (or, where nothing may run, deliver UNVERIFIED tests and say why).
    """

    name: str  # for the user: "Python", "JavaScript and TypeScript"
    languages: Mapping[str, str]  # language id -> its name for the user
    suffixes: Mapping[str, str]  # file suffix (lower case, with the dot) -> language id
    drafts: Mapping[str, DraftRules]  # language id -> how its drafts are made (may be empty)

    def layout(self, root: Path, source: Path, language: str, *, module: str = "",
               import_root: Path | None = None) -> TestLayout:
        """Where the tests of ``source`` go and which framework runs them."""
        ...

    def can_run(self, language: str) -> bool:
        """Whether its tests can be run on this machine (when not: UNVERIFIED drafts)."""
        ...

    async def generate(self, request: TestGenRequest) -> TestGenResult:
        """Tests for the request (raises TargetError when nothing there can be tested)."""
        ...


_SUPPORTS: list[LanguageSupport] = []
_BY_LANGUAGE: dict[str, LanguageSupport] = {}
_BY_SUFFIX: dict[str, str] = {}


def register(support: LanguageSupport) -> None:
    """Make a language's support known; a suffix or language already taken is an error."""
    for suffix, language in support.suffixes.items():
        if _BY_SUFFIX.get(suffix, language) != language:
            raise ValueError(f"{suffix} files are already handled as {_BY_SUFFIX[suffix]}")
        owner = _BY_LANGUAGE.get(language)
        if owner is not None and owner is not support:
            raise ValueError(f"{language} is already handled by {owner.name}")
    if support in _SUPPORTS:
        return
    _SUPPORTS.append(support)
    for suffix, language in support.suffixes.items():
        _BY_SUFFIX[suffix] = language
        _BY_LANGUAGE[language] = support


def supports() -> tuple[LanguageSupport, ...]:
    return tuple(_SUPPORTS)


def language_of(path: Path) -> str | None:
    """The language id of ``path`` by its suffix, None when no package handles it."""
    return _BY_SUFFIX.get(path.suffix.lower())


def support_for(language: str) -> LanguageSupport | None:
    return _BY_LANGUAGE.get(language)


def runs_tests_in(language: str) -> bool:
    """Whether tests in ``language`` can be run on this machine; when not, generated tests are
    UNVERIFIED drafts (Go and Java always; JavaScript without node, Rust without cargo)."""
    support = _BY_LANGUAGE.get(language)
    return support is not None and support.can_run(language)


def layout_for(root: Path, source: Path, *, module: str = "",
               import_root: Path | None = None) -> TestLayout | None:
    """The test layout for any supported source file, or None for an unsupported language."""
    language = language_of(source)
    support = _BY_LANGUAGE.get(language) if language else None
    if language is None or support is None:
        return None
    return support.layout(root.resolve(), source.resolve(), language, module=module,
                          import_root=import_root)


def draft_rules(language: str) -> DraftRules | None:
    support = _BY_LANGUAGE.get(language)
    return support.drafts.get(language) if support is not None else None


def outside_uses(language: str, text: str, *, own: tuple[str, ...] = ()) -> list[str]:
    """What ``text`` (a test file a model wrote in ``language``) uses beyond the workspace's
    own code and the test framework; empty when nothing (see :mod:`.draft`). ``own`` names
    the project's modules: the Rust library name, the Go module path, the Java package."""
    rules = draft_rules(language)
    if rules is None:
        return []
    return rules.outside_uses(text, own)
