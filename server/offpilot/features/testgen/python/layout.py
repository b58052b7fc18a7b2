"""Which Python test framework a project uses, where a new test goes, and how tests import
code: pytest or unittest, the test folder, an existing test file for the module, the import
style of existing tests."""

from __future__ import annotations

import ast
import configparser
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from offpilot.features.testgen.core.layout import TestLayout
from offpilot.features.testgen.core.layout import read_text_limited as _read
from offpilot.features.testgen.core.sandbox import IGNORED_DIRS

MAX_SCANNED_TESTS = 60


def _walk_files(root: Path, pattern: re.Pattern[str], limit: int) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS
                             and not d.startswith(".") and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            if pattern.match(name):
                out.append(Path(dirpath) / name)
                if len(out) >= limit:
                    return out
    return out


def python_test_files(root: Path, limit: int = MAX_SCANNED_TESTS) -> list[Path]:
    return _walk_files(root, re.compile(r"^(test_.*|.*_test)\.py$"), limit)


def _pytest_configured(root: Path) -> str | None:
    """The file that configures pytest, if any."""
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(_read(pyproject))
        except (tomllib.TOMLDecodeError, ValueError):
            data = {}
        if "pytest" in (data.get("tool") or {}):
            return "pyproject.toml [tool.pytest]"
    if (root / "pytest.ini").is_file():
        return "pytest.ini"
    for name, section in (("setup.cfg", "tool:pytest"), ("tox.ini", "pytest")):
        path = root / name
        if path.is_file():
            cfg = configparser.ConfigParser()
            try:
                cfg.read_string(_read(path))
            except configparser.Error:
                continue
            if cfg.has_section(section):
                return f"{name} [{section}]"
    for conftest in (root / "conftest.py", root / "tests" / "conftest.py",
                     root / "test" / "conftest.py"):
        if conftest.is_file():
            return str(conftest.relative_to(root))
    return None


@dataclass(frozen=True)
class _TestFileStyle:
    uses_pytest: bool
    uses_unittest: bool
    imports: list[str]  # import style of each project import: "from" | "module" | "import"


def _style_of(source: str, project_packages: set[str], import_root: Path) -> _TestFileStyle:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return _TestFileStyle(False, False, [])
    uses_pytest = uses_unittest = False
    imports: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                uses_pytest |= top == "pytest"
                uses_unittest |= top == "unittest"
                if top in project_packages:
                    imports.append("import")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            uses_pytest |= top == "pytest"
            uses_unittest |= top == "unittest"
            if top in project_packages:
                # ``from shop import text`` imports a module; ``from shop.text import f`` a name
                package = import_root.joinpath(*node.module.split("."))
                is_module = all((package / f"{a.name}.py").is_file()
                                or (package / a.name / "__init__.py").is_file()
                                for a in node.names)
                imports.append("module" if is_module else "from")
        elif isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                uses_unittest |= name in ("TestCase", "IsolatedAsyncioTestCase")
    return _TestFileStyle(uses_pytest, uses_unittest, imports)


def _import_style(styles: list[_TestFileStyle]) -> str:
    votes = {"from": 0, "module": 0, "import": 0}
    for st in styles:
        for kind in st.imports:
            votes[kind] += 1
    best = max(votes, key=lambda k: (votes[k], k == "from"))
    return best if votes[best] else "from"


def find_existing_python_test(root: Path, module: str, source: Path) -> Path | None:
    """An existing test file for ``module``: ``test_<stem>.py``/``<stem>_test.py`` importing it."""
    stem = source.stem
    pattern = re.compile(rf"^(test_{re.escape(stem)}|{re.escape(stem)}_test)\.py$")
    candidates = _walk_files(root, pattern, 20)
    for path in candidates:
        text = _read(path)
        if re.search(rf"\b{re.escape(module)}\b", text) or \
                re.search(rf"from\s+\S*\s+import\s+[^\n]*\b{re.escape(stem)}\b", text):
            return path
    return None


def python_layout(root: Path, source: Path, module: str, import_root: Path) -> TestLayout:
    """Framework, test file and import style for a Python module."""
    root = root.resolve()
    source = source.resolve()
    tests = python_test_files(root)
    packages = {module.split(".")[0]} | {p.name for p in import_root.iterdir()
                                          if p.is_dir() and (p / "__init__.py").is_file()} \
        if import_root.is_dir() else {module.split(".")[0]}
    styles = [_style_of(_read(t), packages, import_root) for t in tests]
    configured = _pytest_configured(root)
    n_pytest = sum(s.uses_pytest for s in styles)
    n_unittest = sum(s.uses_unittest and not s.uses_pytest for s in styles)
    if configured:
        framework, reason = "pytest", f"pytest is configured in {configured}"
    elif n_unittest and n_unittest >= n_pytest and n_unittest * 2 >= len(styles):
        framework, reason = "unittest", f"{n_unittest} existing test file(s) use unittest"
    elif tests:
        framework, reason = "pytest", f"{len(tests)} existing test file(s) in pytest style"
    else:
        framework, reason = "pytest", "no tests yet; pytest is the default"
    existing = find_existing_python_test(root, module, source)
    if existing is not None:
        test_path = existing.relative_to(root)
    else:
        tests_dir = next((root / d for d in ("tests", "test") if (root / d).is_dir()), None)
        name = f"test_{source.stem if source.stem != '__init__' else source.parent.name}.py"
        test_path = (tests_dir / name if tests_dir is not None
                     else source.parent / name).relative_to(root)
    return TestLayout("python", framework, test_path, reason,
                      import_style=_import_style(styles))
