"""Framework detection and test file placement on small projects, and path confinement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from offpilot.features.testgen import layout_for
from offpilot.features.testgen.core.paths import PathOutsideWorkspace, confine, ensure_inside
from offpilot.features.testgen.python.layout import python_layout


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def py_layout(root: Path, rel: str, module: str, import_root: str = ""):
    return python_layout(root, root / rel, module, root / import_root)


def test_pyproject_pytest_config_and_tests_dir(tmp_path: Path):
    root = make(tmp_path, {"pyproject.toml": "[tool.pytest.ini_options]\ntestpaths=['tests']\n",
                           "shop/__init__.py": "", "shop/text.py": "def f(): pass\n",
                           "tests/test_models.py": "from shop.models import Cart\n"})
    layout = py_layout(root, "shop/text.py", "shop.text")
    assert layout.framework == "pytest"
    assert "pyproject.toml" in layout.reason
    assert layout.test_path == Path("tests/test_text.py")
    assert layout.import_style == "from"


def test_unittest_when_existing_tests_use_testcase(tmp_path: Path):
    root = make(tmp_path, {
        "calc.py": "def add(a, b): return a + b\n",
        "test/test_other.py": "import unittest\n\nclass TestX(unittest.TestCase):\n"
                              "    def test_a(self):\n        pass\n"})
    layout = py_layout(root, "calc.py", "calc")
    assert layout.framework == "unittest"
    assert layout.test_path == Path("test/test_calc.py")


def test_conftest_means_pytest_even_with_unittest_files(tmp_path: Path):
    root = make(tmp_path, {"conftest.py": "", "calc.py": "",
                           "test_old.py": "import unittest\nclass T(unittest.TestCase): pass\n"})
    assert py_layout(root, "calc.py", "calc").framework == "pytest"


def test_setup_cfg_section(tmp_path: Path):
    root = make(tmp_path, {"setup.cfg": "[tool:pytest]\naddopts = -q\n", "calc.py": ""})
    layout = py_layout(root, "calc.py", "calc")
    assert layout.framework == "pytest" and "setup.cfg" in layout.reason


def test_no_tests_dir_puts_the_test_beside_the_module(tmp_path: Path):
    root = make(tmp_path, {"lib/util.py": "def f(): pass\n"})
    layout = py_layout(root, "lib/util.py", "util", "lib")
    assert layout.test_path == Path("lib/test_util.py")
    assert layout.framework == "pytest"


def test_existing_test_file_for_the_module_is_reused(tmp_path: Path):
    root = make(tmp_path, {"pyproject.toml": "[tool.pytest.ini_options]\n",
                           "src/shop/__init__.py": "", "src/shop/text.py": "",
                           "tests/unit/test_text.py": "from shop.text import slugify\n",
                           "tests/test_misc.py": ""})
    layout = py_layout(root, "src/shop/text.py", "shop.text", "src")
    assert layout.test_path == Path("tests/unit/test_text.py")


def test_import_style_follows_existing_tests(tmp_path: Path):
    root = make(tmp_path, {"shop/__init__.py": "", "shop/text.py": "", "shop/pricing.py": "",
                           "tests/test_pricing.py": "from shop import pricing\n",
                           "tests/test_more.py": "from shop import pricing, text\n"})
    assert py_layout(root, "shop/text.py", "shop.text").import_style == "module"
    root2 = make(tmp_path / "two", {"shop/__init__.py": "", "shop/text.py": "",
                                    "tests/test_a.py": "import shop.text\n"})
    assert py_layout(root2, "shop/text.py", "shop.text").import_style == "import"


def test_javascript_frameworks_from_package_json(tmp_path: Path):
    root = make(tmp_path, {"package.json": '{"devDependencies": {"vitest": "^1"}}',
                           "src/cart.ts": "export const x = 1;\n"})
    layout = layout_for(root, root / "src" / "cart.ts")
    assert layout is not None and layout.framework == "vitest"
    assert layout.test_path == Path("src/cart.test.ts")
    make(tmp_path, {"package.json": '{"devDependencies": {"jest": "^29"}}'})
    assert layout_for(root, root / "src" / "cart.ts").framework == "jest"  # type: ignore[union-attr]
    make(tmp_path, {"package.json": "{}"})
    assert layout_for(root, root / "src" / "cart.ts").framework == "node:test"  # type: ignore[union-attr]


def test_go_rust_java_locations(tmp_path: Path):
    root = make(tmp_path, {"go.mod": "module x\n", "store/store.go": "package store\n",
                           "Cargo.toml": "[package]\nname='c'\n", "src/cache.rs": "",
                           "src/main/java/com/acme/App.java": "package com.acme;\n"})
    go = layout_for(root, root / "store" / "store.go")
    rust = layout_for(root, root / "src" / "cache.rs")
    java = layout_for(root, root / "src" / "main" / "java" / "com" / "acme" / "App.java")
    assert go is not None and go.test_path == Path("store/store_test.go")
    assert rust is not None and rust.test_path == Path("tests/cache.rs")
    assert java is not None and java.test_path == Path("src/test/java/com/acme/AppTest.java")
    assert layout_for(root, root / "README.md") is None


# ---------------------------------------------------------------- path confinement
def test_confine_accepts_paths_inside(tmp_path: Path):
    assert confine(tmp_path, "tests/test_x.py") == (tmp_path / "tests" / "test_x.py").resolve()


@pytest.mark.parametrize("bad", ["../x.py", "tests/../../x.py", "/etc/passwd", "", "a\x00b",
                                 "C:\\x.py", "\\\\server\\share"])
def test_confine_rejects_escapes(tmp_path: Path, bad: str):
    with pytest.raises(PathOutsideWorkspace):
        confine(tmp_path, bad)


def test_confine_rejects_symlinks_that_leave_the_workspace(tmp_path: Path):
    root = tmp_path / "ws"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(PathOutsideWorkspace):
        confine(root, "link/test_x.py")
    with pytest.raises(PathOutsideWorkspace):
        ensure_inside(root, root / "link" / "x.py")
    os.symlink(root / "real", root / "inner")
    assert confine(root, "inner/x.py") == (root / "real" / "x.py").resolve()
