"""Retrieval: the callee's definition from another file, within the budget, in a stable order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from offpilot.config import Settings
from offpilot.context.engine import ContextEngine
from offpilot.context.retrieve import cost

FIXTURES = Path(__file__).parent / "index_fixtures"

# language -> (caller file, the call whose "(" the cursor follows, callee file, callee name)
CROSS_FILE = {
    "python": ("app/main.py", "shout(", "app/util/strings.py", "shout"),
    "javascript": ("src/index.js", "formatPrice(", "src/lib/format.js", "formatPrice"),
    "typescript": ("src/app.ts", "clamp(", "src/utils/index.ts", "clamp"),
    "go": ("main.go", "mathx.Add(", "mathx/mathx.go", "Add"),
    "rust": ("src/main.rs", "area(", "src/geometry.rs", "area"),
    "java": ("src/main/java/com/acme/App.java", "Strings.repeat(",
             "src/main/java/com/acme/util/Strings.java", "repeat"),
    "c": ("src/main.c", "gcd(", "src/mathlib.c", "gcd"),
    "cpp": ("src/main.cpp", "geo::circle_area(", "src/shapes.cpp", "circle_area"),
}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OFFPILOT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def engine_on(root: Path, **settings: object) -> ContextEngine:
    engine = ContextEngine([root], Settings(**settings))  # type: ignore[arg-type]
    engine.start(watch=False)
    assert engine.wait_ready(60)
    return engine


def extracted_definitions(language: str, root: Path, callee_file: str) -> list[str]:
    from offpilot.context import extract
    from offpilot.context.languages import by_name

    spec = by_name(language)
    assert spec is not None
    summary = extract.summarize((root / callee_file).read_text(), spec, callee_file)
    return [d.name for d in summary.definitions]


@pytest.mark.parametrize("language", sorted(CROSS_FILE))
def test_callee_defined_in_another_file_is_retrieved(language: str, tmp_path: Path):
    root = tmp_path / language
    shutil.copytree(FIXTURES / language, root)
    caller, call, callee_file, callee = CROSS_FILE[language]
    assert callee in extracted_definitions(language, root, callee_file)
    text = (root / caller).read_text()
    offset = text.index(call) + len(call)
    engine = engine_on(root)
    try:
        result = engine.retrieve((root / caller).as_uri(), offset, 2048)
    finally:
        engine.stop()
    defs = [s for s in result.snippets if s.kind == "definition" and s.path == callee_file]
    assert defs, [(s.path, s.kind) for s in result.snippets]
    assert any(callee in s.text for s in defs)
    assert sum(cost(s.path, s.text) for s in result.snippets) <= 2048


def long_project(root: Path) -> Path:
    """A module with many helpers and a caller far below them (outside the prompt window)."""
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "__init__.py").write_text("")
    helpers = []
    for i in range(12):
        body = "\n".join(f"    step_{j} = value * {j}" for j in range(12))
        helpers.append(f'def helper_{i}(value: int) -> int:\n    """Helper number {i}."""\n'
                       f"{body}\n    return value + {i}\n")
    (root / "lib" / "helpers.py").write_text("\n\n".join(helpers))
    filler = "\n".join(f"CONSTANT_{i} = {i}  # padding so the top is outside the window"
                       for i in range(80))
    (root / "app.py").write_text(
        "from lib.helpers import helper_1, helper_7\n\n\n"
        "def local_far_away(x):\n    return x * 2\n\n\n"
        f"{filler}\n\n\n"
        "class Runner:\n    def run(self, value):\n        first = helper_1(value)\n"
        "        second = helper_7(first) + local_far_away(value)\n        return second\n")
    return root


def test_budget_is_respected(tmp_path: Path):
    root = long_project(tmp_path / "p")
    text = (root / "app.py").read_text()
    offset = text.index("helper_7(") + len("helper_7(")
    engine = engine_on(root)
    try:
        for budget in (0, 100, 300, 700, 2048, 8000):
            snippets = engine.retrieve((root / "app.py").as_uri(), offset, budget).snippets
            assert sum(cost(s.path, s.text) for s in snippets) <= budget
    finally:
        engine.stop()


def test_same_output_for_every_position_on_a_line(tmp_path: Path):
    root = long_project(tmp_path / "p")
    text = (root / "app.py").read_text()
    line_start = text.index("        second = ")
    line_end = text.index("\n", line_start)
    engine = engine_on(root)
    try:
        uri = (root / "app.py").as_uri()
        outputs = [engine.retrieve(uri, o, 2048).snippets for o in range(line_start, line_end + 1)]
        outputs.append(engine.retrieve(uri, line_end, 2048).snippets)
    finally:
        engine.stop()
    assert outputs[0]
    assert all(o == outputs[0] for o in outputs)


def test_order_is_by_kind_path_and_line_and_the_window_is_not_repeated(tmp_path: Path):
    root = long_project(tmp_path / "p")
    text = (root / "app.py").read_text()
    offset = text.index("helper_7(") + len("helper_7(")
    engine = engine_on(root, prefix_chars=600, suffix_chars=200)
    try:
        snippets = engine.retrieve((root / "app.py").as_uri(), offset, 4000).snippets
    finally:
        engine.stop()
    rank = {"outline": 0, "definition": 1, "scope": 2, "similar": 3}
    keys = [(rank[s.kind], s.path, s.start_line) for s in snippets]
    assert keys == sorted(keys)
    names = {s.text.split("(")[0].split()[-1] for s in snippets if s.kind == "definition"}
    assert {"helper_1", "helper_7", "local_far_away"} <= names
    cursor_line = text[:offset].count("\n") + 1
    for s in snippets:
        if s.path == "app.py" and s.kind != "outline":
            assert not s.start_line <= cursor_line <= s.end_line
    assert len({(s.path, s.start_line, s.kind) for s in snippets}) == len(snippets)
