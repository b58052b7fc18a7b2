"""Import resolution per language, on small in-memory trees (and on imports as extracted)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from offpilot.context.model import Definition, FileSummary, Import
from offpilot.context.resolve import Resolver, _strip_json_comments


class FakeTree:
    """The part of the index the resolver reads, over a dict of paths (and config files)."""

    def __init__(self, files: Iterable[str], configs: dict[str, str] | None = None,
                 summaries: dict[str, FileSummary] | None = None) -> None:
        self.files = set(files)
        self.configs = configs or {}
        self.summaries = summaries or {}
        self.generation = 1

    def summary(self, rel: str) -> FileSummary | None:
        return self.summaries.get(rel)

    def has(self, rel: str) -> bool:
        return rel in self.files

    def files_in_dir(self, rel_dir: str) -> frozenset[str]:
        return frozenset(f for f in self.files if f.rpartition("/")[0] == rel_dir)

    def files_named(self, basename: str) -> frozenset[str]:
        return frozenset(f for f in self.files if f.rpartition("/")[2] == basename)

    def dirs(self) -> list[str]:
        return sorted({f.rpartition("/")[0] for f in self.files})

    def definitions(self, name: str) -> list[Definition]:
        return [d for s in self.summaries.values() for d in s.definitions if d.name == name]

    def read_config(self, rel: str) -> str | None:
        return self.configs.get(rel)


def files_of(tree: FakeTree, from_path: str, language: str, module: str, level: int = 0):
    return list(Resolver(tree).module_files(from_path, language, Import(module, level=level)))


def fn(name: str, path: str, line: int = 1, parent: str = "") -> Definition:
    return Definition(name=name, kind="function", path=path, start_line=line, end_line=line + 2,
                      signature=f"def {name}():", parent=parent)


# ----------------------------------------------------------------------------- Python
def test_python_absolute_relative_and_packages():
    tree = FakeTree(["app/__init__.py", "app/core.py", "app/sub/__init__.py",
                     "app/sub/util.py", "main.py"])
    assert files_of(tree, "main.py", "python", "app.core") == ["app/core.py"]
    assert files_of(tree, "main.py", "python", "app.sub") == ["app/sub/__init__.py"]
    assert files_of(tree, "app/sub/util.py", "python", "core", level=2) == ["app/core.py"]
    assert files_of(tree, "app/sub/util.py", "python", "", level=1) == ["app/sub/__init__.py"]
    assert files_of(tree, "app/core.py", "python", "sub.util", level=1) == ["app/sub/util.py"]
    assert files_of(tree, "main.py", "python", "os.path") == []
    assert files_of(tree, "app/core.py", "python", "x", level=5) == []


def test_python_src_layout_and_nested_projects():
    tree = FakeTree(["src/pkg/__init__.py", "src/pkg/mod.py", "tests/test_mod.py",
                     "libs/tool/src/tool/__init__.py", "libs/tool/src/tool/api.py"],
                    configs={"libs/tool/pyproject.toml": "[project]\nname='tool'\n"})
    assert files_of(tree, "tests/test_mod.py", "python", "pkg.mod") == ["src/pkg/mod.py"]
    assert files_of(tree, "tests/test_mod.py", "python", "tool.api") == [
        "libs/tool/src/tool/api.py"]


def test_python_name_through_package_reexport():
    init = FileSummary("pkg/__init__.py", "python",
                       imports=(Import("impl", (("helper", ""),), level=1),))
    impl = FileSummary("pkg/impl.py", "python", definitions=(fn("helper", "pkg/impl.py", 3),))
    main = FileSummary("main.py", "python", imports=(Import("pkg", (("helper", "h"),)),))
    tree = FakeTree(["pkg/__init__.py", "pkg/impl.py", "main.py"],
                    summaries={s.path: s for s in (init, impl, main)})
    found = Resolver(tree).lookup("main.py", main, "h")
    assert [(d.path, d.name) for d in found] == [("pkg/impl.py", "helper")]


def test_python_qualified_use_searches_imported_modules():
    util = FileSummary("pkg/util.py", "python", definitions=(fn("slug", "pkg/util.py"),))
    other = FileSummary("other/util.py", "python", definitions=(fn("slug", "other/util.py"),))
    main = FileSummary("main.py", "python", imports=(Import("pkg", (("util", ""),)),))
    tree = FakeTree(["pkg/__init__.py", "pkg/util.py", "other/util.py", "main.py"],
                    summaries={s.path: s for s in (util, other, main)})
    found = Resolver(tree).lookup("main.py", main, "slug")
    assert found[0].path == "pkg/util.py"


def test_fallback_by_name_prefers_same_folder_then_shorter_path():
    a = FileSummary("deep/er/x.py", "python", definitions=(fn("go", "deep/er/x.py"),))
    b = FileSummary("lib/y.py", "python", definitions=(fn("go", "lib/y.py"),))
    c = FileSummary("app/z.py", "python", definitions=(fn("go", "app/z.py"),))
    main = FileSummary("app/main.py", "python")
    tree = FakeTree([s.path for s in (a, b, c, main)],
                    summaries={s.path: s for s in (a, b, c, main)})
    found = Resolver(tree).lookup("app/main.py", main, "go", limit=3)
    assert [d.path for d in found] == ["app/z.py", "lib/y.py", "deep/er/x.py"]


# ----------------------------------------------------------------------------- JS / TS
def test_js_relative_extensions_and_index():
    tree = FakeTree(["src/a.ts", "src/lib/index.ts", "src/b.js", "src/c/index.jsx",
                     "src/d.tsx"])
    assert files_of(tree, "src/a.ts", "typescript", "./lib") == ["src/lib/index.ts"]
    assert files_of(tree, "src/a.ts", "typescript", "./b") == ["src/b.js"]
    assert files_of(tree, "src/a.ts", "typescript", "./b.js") == ["src/b.js"]
    assert files_of(tree, "src/lib/index.ts", "typescript", "../a.js") == ["src/a.ts"]
    assert files_of(tree, "src/a.ts", "javascript", "./c") == ["src/c/index.jsx"]
    assert files_of(tree, "src/a.ts", "tsx", "./d") == ["src/d.tsx"]
    assert files_of(tree, "src/a.ts", "typescript", "react") == []


def test_tsconfig_paths_and_base_url():
    tsconfig = """{
      // comments and trailing commas are allowed in tsconfig
      "compilerOptions": {
        "baseUrl": ".",
        "paths": {"@/*": ["src/*"], "utils": ["src/shared/utils.ts"],},
      },
    }"""
    tree = FakeTree(["src/app/page.ts", "src/shared/utils.ts", "src/shared/format.ts"],
                    configs={"tsconfig.json": tsconfig})
    assert files_of(tree, "src/app/page.ts", "typescript", "@/shared/format") == [
        "src/shared/format.ts"]
    assert files_of(tree, "src/app/page.ts", "typescript", "utils") == ["src/shared/utils.ts"]
    assert files_of(tree, "src/app/page.ts", "typescript", "src/shared/format") == [
        "src/shared/format.ts"]


def test_strip_json_comments_keeps_strings():
    assert _strip_json_comments('{"a": "http://x/*y*/", // c\n "b": [1,],}') == \
        '{"a": "http://x/*y*/", \n "b": [1]}'


# ----------------------------------------------------------------------------- Go
def test_go_module_packages():
    tree = FakeTree(["go.sum", "main.go", "internal/store/store.go", "internal/store/x_test.go",
                     "pkg/api/api.go"], configs={"go.mod": "module example.com/app\n\ngo 1.22\n"})
    assert files_of(tree, "main.go", "go", "example.com/app/internal/store") == [
        "internal/store/store.go"]
    assert files_of(tree, "main.go", "go", "example.com/app/pkg/api") == ["pkg/api/api.go"]
    assert files_of(tree, "main.go", "go", "fmt") == []


# ----------------------------------------------------------------------------- Rust
def test_rust_modules_and_use_paths():
    tree = FakeTree(["src/main.rs", "src/net.rs", "src/net/http.rs", "src/db/mod.rs",
                     "src/db/pool.rs"])
    assert files_of(tree, "src/main.rs", "rust", "net") == ["src/net.rs"]
    assert files_of(tree, "src/main.rs", "rust", "db") == ["src/db/mod.rs"]
    assert files_of(tree, "src/net.rs", "rust", "http") == ["src/net/http.rs"]
    assert files_of(tree, "src/net/http.rs", "rust", "crate::db::pool::Pool") == [
        "src/db/pool.rs"]
    assert files_of(tree, "src/db/pool.rs", "rust", "super::super::net::http") == [
        "src/net/http.rs"]
    assert files_of(tree, "src/db/mod.rs", "rust", "self::pool::connect") == ["src/db/pool.rs"]
    assert files_of(tree, "src/main.rs", "rust", "std::collections::HashMap") == []


# ----------------------------------------------------------------------------- Java
def test_java_classes_and_packages():
    tree = FakeTree(["src/main/java/com/acme/App.java", "src/main/java/com/acme/util/Strings.java",
                     "src/main/java/com/acme/util/Numbers.java"])
    app = "src/main/java/com/acme/App.java"
    assert files_of(tree, app, "java", "com.acme.util.Strings") == [
        "src/main/java/com/acme/util/Strings.java"]
    assert files_of(tree, app, "java", "com.acme.util.Strings.join") == [
        "src/main/java/com/acme/util/Strings.java"]
    assert sorted(files_of(tree, app, "java", "com.acme.util.*")) == [
        "src/main/java/com/acme/util/Numbers.java", "src/main/java/com/acme/util/Strings.java"]
    assert files_of(tree, app, "java", "java.util.List") == []


# ----------------------------------------------------------------------------- C / C++
def test_c_includes_relative_include_dirs_and_sibling_sources():
    tree = FakeTree(["src/main.c", "src/local.h", "src/local.c", "include/lib/api.h",
                     "lib/api.c", "cpp/widget.hpp", "cpp/widget.cpp", "cpp/app.cpp"])
    assert files_of(tree, "src/main.c", "c", "local.h") == ["src/local.h", "src/local.c"]
    assert files_of(tree, "src/main.c", "c", "lib/api.h") == ["include/lib/api.h", "lib/api.c"]
    assert files_of(tree, "cpp/app.cpp", "cpp", "widget.hpp") == [
        "cpp/widget.hpp", "cpp/widget.cpp"]
    assert files_of(tree, "src/main.c", "c", "stdio.h") == []


# ----------------------------------------------------------------------------- extracted imports
EXTRACTED = {
    # language: (importing file, its source, workspace files, configs, files its imports reach)
    "python": ("app/main.py", "from .util import strings\nimport app.core as core\n",
               ["app/__init__.py", "app/main.py", "app/util/__init__.py",
                "app/util/strings.py", "app/core.py"], {},
               ["app/util/__init__.py", "app/util/strings.py", "app/core.py"]),
    "typescript": ("src/app.ts", 'import { clamp } from "./utils";\nimport x = require("./x");\n',
                   ["src/app.ts", "src/utils/index.ts", "src/x.js"], {},
                   ["src/utils/index.ts", "src/x.js"]),
    "go": ("main.go", 'package main\n\nimport (\n\t"fmt"\n\tm "example.com/demo/mathx"\n)\n',
           ["main.go", "mathx/mathx.go"], {"go.mod": "module example.com/demo\n"},
           ["mathx/mathx.go"]),
    "rust": ("src/main.rs", "mod geometry;\nuse crate::net::{http::{get, Client}, tcp};\n",
             ["src/main.rs", "src/geometry.rs", "src/net/mod.rs", "src/net/http.rs",
              "src/net/tcp.rs"], {},
             ["src/geometry.rs", "src/net/mod.rs", "src/net/tcp.rs", "src/net/http.rs"]),
    "java": ("src/com/acme/App.java",
             "package com.acme;\nimport com.acme.util.Strings;\nimport com.acme.io.*;\n"
             "import static com.acme.util.Numbers.clamp;\n",
             ["src/com/acme/App.java", "src/com/acme/util/Strings.java",
              "src/com/acme/util/Numbers.java", "src/com/acme/io/Files.java",
              "src/com/acme/io/Paths.java"], {},
             ["src/com/acme/util/Strings.java", "src/com/acme/io/Files.java",
              "src/com/acme/io/Paths.java", "src/com/acme/util/Numbers.java"]),
    "c": ("src/main.c", '#include <stdio.h>\n#include "mathlib.h"\n',
          ["src/main.c", "include/mathlib.h", "src/mathlib.c"], {},
          ["include/mathlib.h", "src/mathlib.c"]),
    "cpp": ("src/main.cpp", '#include <vector>\n#include "geo/shapes.hpp"\n',
            ["src/main.cpp", "include/geo/shapes.hpp", "src/shapes.cpp"], {},
            ["include/geo/shapes.hpp", "src/shapes.cpp"]),
}


@pytest.mark.parametrize("language", sorted(EXTRACTED))
def test_extracted_imports_resolve(language: str):
    from offpilot.context import extract
    from offpilot.context.languages import by_name

    path, source, files, configs, expected = EXTRACTED[language]
    spec = by_name(language)
    assert spec is not None
    summary = extract.summarize(source, spec, path)
    assert summary.imports, language
    tree = FakeTree(files, configs=configs)
    assert list(Resolver(tree).imported_files(path, summary)) == expected


def test_layout_caches_survive_content_changes_but_not_new_files(tmp_path):
    from offpilot.context.index import Index

    root = tmp_path / "p"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "core.py").write_text("def run():\n    pass\n")
    (root / "main.py").write_text("import app.core\nimport app.extra\n")
    index = Index(root, db_path=tmp_path / "index.sqlite")
    index.refresh(workers=1)
    resolver = Resolver(index)
    assert resolver.module_files("main.py", "python", Import("app.core")) == ("app/core.py",)
    assert resolver.module_files("main.py", "python", Import("app.extra")) == ()
    cached = dict(resolver._modules)
    index.set_overlay("app/core.py", FileSummary("app/core.py", "python"))  # an edit
    resolver.module_files("main.py", "python", Import("app.core"))
    assert resolver._modules == cached  # not recomputed

    (root / "app" / "extra.py").write_text("def more():\n    pass\n")
    index.update_paths([root / "app" / "extra.py"])
    assert resolver.module_files("main.py", "python", Import("app.extra")) == ("app/extra.py",)
    index.close()
