"""Examples sections: rendering in each style (read back by the real doctest parser), the choice
of recorded calls, and the pipeline on real code in the real sandbox (bubblewrap), where the
delivered file then passes ``python -m doctest``; nothing runs in an untrusted workspace, and a
call that would delete a file outside the workspace never touches it."""

from __future__ import annotations

import ast
import doctest
import subprocess
import sys
from pathlib import Path

import pytest
from offpilot.config import Settings
from offpilot.features.docs.examples import (
    Candidate,
    add_examples,
    candidate_of,
    choose,
    exception_output,
)
from offpilot.features.docs.generate import (
    DocResult,
    apply_insertion,
    docstring_text,
    find_symbol,
    insertion,
    repair,
)
from offpilot.features.docs.styles import GOOGLE, NUMPY, REST, DocParts, Example, parse_docstring
from offpilot.features.testgen.core.outcome import Outcome
from offpilot.features.testgen.core.sandbox import isolation_problem
from offpilot.features.testgen.python.oracle import Recording
from offpilot.features.testgen.python.target import PyModule

PARTS = DocParts("Add a line to the cart.", (("cart", "dict", "The cart."),),
                 ("int", "The new quantity."), (("ValueError", "quantity must be positive."),),
                 (Example("add_item({}, 'pen')", "1"),
                  Example("add_item({}, 'pen', 0)", "Traceback (most recent call last):\n"
                          "    ...\nValueError: quantity must be positive")))


def _docstring(style: str, indent: str = "    ") -> str:
    literal = docstring_text(PARTS, style, indent).strip()
    value = ast.literal_eval(literal)
    assert isinstance(value, str)
    return value


@pytest.mark.parametrize("style", [GOOGLE, NUMPY, REST])
def test_rendered_examples_are_what_doctest_reads(style: str):
    doc = _docstring(style)
    examples = doctest.DocTestParser().get_examples(doc)
    assert [e.source for e in examples] == ["add_item({}, 'pen')\n", "add_item({}, 'pen', 0)\n"]
    assert examples[0].want == "1\n"
    assert examples[1].exc_msg == "ValueError: quantity must be positive\n"
    parsed = parse_docstring(doc)  # the parameter check still reads the rest
    assert parsed.names == ["cart"] and list(parsed.raises) == ["ValueError"]
    heading = {GOOGLE: "    Examples:\n        >>> add_item",
               NUMPY: "    Examples\n    --------\n    >>> add_item",
               REST: "    .. rubric:: Examples\n\n    >>> add_item"}[style]
    assert heading in doc
    assert doc.rstrip().endswith("ValueError: quantity must be positive")  # the last section


def test_a_backslash_makes_the_docstring_raw():
    parts = DocParts("Split lines.", examples=(Example("lines('a\\nb')", "['a', 'b']"),))
    literal = docstring_text(parts, GOOGLE, "    ").strip()
    assert literal.startswith('r"""')
    examples = doctest.DocTestParser().get_examples(ast.literal_eval(literal))
    assert examples[0].source == "lines('a\\nb')\n"  # the escape reaches doctest as written


MOD = PyModule(Path("m.py"), "shop.cart", Path("."), "", ast.Module(body=[], type_ignores=[]))


def _rec(call: str, outcome: Outcome, deterministic: bool = True,
         lines: frozenset[int] = frozenset()) -> Recording:
    # a recording as the oracle makes it (no sandbox here: a unit test of the filter)
    return Recording(0, call, "t0", outcome, deterministic=deterministic, lines=lines)


def test_only_reproducible_one_line_results_become_candidates():
    value = Outcome("value", repr="[1, 2]", literal=True)
    assert candidate_of(_rec("f(2)", value), MOD) == Candidate("f(2)", "[1, 2]")
    listed = Outcome("value", repr="[0, 2]", literal=True, listed=True)
    assert candidate_of(_rec("evens(3)", listed), MOD).call == "list(evens(3))"  # type: ignore[union-attr]
    refused = [
        _rec("f(1)", value, deterministic=False),  # differs between the two processes
        _rec("f(1)", Outcome("value", repr="None", literal=True)),  # prints nothing
        _rec("f(1)", Outcome("value", repr="'a\\n\"\"\"'", literal=True)),  # ends the literal
        _rec("f(1)", Outcome("unrepresentable", value_type="Thing")),  # <Thing at 0x...>
        _rec("f(1)", Outcome("raises", exc_type="TypeError", exc_module="builtins")),
        _rec("f(1)", Outcome("raises", exc_type="FileNotFoundError", exc_module="builtins",
                             exc_bases=(("builtins", "FileNotFoundError"),
                                        ("builtins", "OSError")))),  # the machine's doing
        _rec("f(1)", Outcome("raises", exc_type="CartError", exc_module="shop.cart")),
        _rec("f('" + "x" * 120 + "')", value),  # too long to read
    ]
    assert [candidate_of(r, MOD) for r in refused] == [None] * len(refused)
    raised = candidate_of(_rec("f(-1)", Outcome("raises", exc_type="ValueError",
                                                 exc_module="builtins")), MOD)
    assert raised == Candidate("f(-1)", "", "ValueError")


def test_choice_starts_typical_then_adds_new_lines_and_one_exception():
    cands = [Candidate("f(1)", "1", lines=frozenset({1, 2})),
             Candidate("f(2)", "2", lines=frozenset({1, 2})),  # nothing new
             Candidate("f(0)", "0", lines=frozenset({1, 3})),
             Candidate("f(-1)", "", "ValueError", frozenset({1, 4})),
             Candidate("f(-2)", "", "KeyError", frozenset({1, 5}))]
    chosen = choose(cands)
    assert chosen[0].call == "f(1)"
    assert len(chosen) == 3 and sum(bool(c.raises) for c in chosen) == 1
    assert "f(2)" not in [c.call for c in chosen]


def test_exception_output_is_doctests_traceback_form():
    assert exception_output("ValueError: bad\n") == \
        "Traceback (most recent call last):\n    ...\nValueError: bad"
    assert exception_output("ValueError: a\nb\n") is None


# ----------------------------------------------------------------------------- real sandbox
needs_sandbox = pytest.mark.skipif(bool(isolation_problem()), reason="no bubblewrap sandbox")

MODULE = '''"""Small helpers."""


def add_item(cart: dict, sku: str, quantity: int = 1) -> int:
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    cart[sku] = cart.get(sku, 0) + quantity
    return cart[sku]


def evens(n: int):
    for i in range(n):
        if i % 2 == 0:
            yield i


class Counter:
    def __init__(self, start: int = 0):
        self.value = start

    def bump(self, by: int) -> int:
        self.value += by
        return self.value


def stamp() -> str:
    import time
    return str(time.time_ns())


def pick(items: set) -> object:
    return object()
'''


def _project(tmp_path: Path, source: str = MODULE) -> tuple[Path, Path]:
    root = tmp_path / "ws"
    (root / "tools").mkdir(parents=True)
    (root / "tools" / "__init__.py").write_text("")
    path = root / "tools" / "helpers.py"
    path.write_text(source, encoding="utf-8")
    return root, path


def _result(source: str, name: str, style: str) -> DocResult:
    defn = find_symbol(source, name)
    parts = repair("", defn).parts
    return DocResult(defn, style, parts, insertion(source, defn, parts, style), "", 0, False,
                     0.0, "stop")


def _doctest_file(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "doctest", "-v", path.name], cwd=path.parent,
                          capture_output=True, text=True, timeout=120)


@needs_sandbox
async def test_recorded_examples_pass_python_m_doctest(tmp_path: Path):
    root, path = _project(tmp_path)
    source = MODULE
    delivered = 0
    for name, style in [("add_item", GOOGLE), ("evens", NUMPY), ("Counter.bump", REST)]:
        result = await add_examples(_result(source, name, style), source, root=root, path=path,
                                    settings=Settings())
        assert result.examples >= 1, result.examples_note
        assert ">>> " in result.insertion.text and not result.examples_note
        delivered += result.examples
        source = apply_insertion(source, result.insertion)
    assert "Counter().bump(" in source and "list(evens(" in source
    path.write_text(source, encoding="utf-8")
    done = _doctest_file(path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"{delivered} passed and 0 failed" in done.stdout


@needs_sandbox
async def test_nothing_reproducible_gives_no_examples(tmp_path: Path):
    root, path = _project(tmp_path)
    for name in ("stamp", "pick", "Counter"):  # time, an object address; a class
        result = await add_examples(_result(MODULE, name, GOOGLE), MODULE, root=root,
                                    path=path, settings=Settings())
        assert result.examples == 0 and ">>>" not in result.insertion.text
        assert result.examples_note, name


def _trap(tmp_path: Path) -> tuple[Path, Path, Path]:
    canary = tmp_path / "import.canary"
    source = (f"import pathlib\npathlib.Path({str(canary)!r}).write_text('ran')\n\n\n"
              "def shout(text: str) -> str:\n    return text.upper() + '!'\n")
    root, path = _project(tmp_path, source)
    return root, path, canary


def test_the_trap_fires_when_imported(tmp_path: Path):
    root, _path, canary = _trap(tmp_path)
    subprocess.run([sys.executable, "-c", "import tools.helpers"], cwd=root, check=True,
                   timeout=60)
    assert canary.exists()


@pytest.mark.parametrize("settings", [Settings(workspace_trusted=False),
                                      Settings(run_generated_tests=False)])
async def test_an_untrusted_workspace_runs_nothing(tmp_path: Path, settings: Settings):
    root, path, canary = _trap(tmp_path)
    source = path.read_text(encoding="utf-8")
    result = await add_examples(_result(source, "shout", GOOGLE), source, root=root, path=path,
                                settings=settings)
    assert result.examples == 0 and ">>>" not in result.insertion.text
    assert "nothing was run" in result.examples_note
    assert not canary.exists()


@needs_sandbox
async def test_a_call_that_deletes_a_file_outside_never_touches_it(tmp_path: Path):
    canary = tmp_path / "keep.canary"
    canary.write_text("precious")
    home_canary = Path.home() / f".offpilot-test-{tmp_path.name}.canary"
    home_canary.write_text("precious")
    try:
        source = (f"import os\n\nOUTSIDE = {str(canary)!r}\nHOME = {str(home_canary)!r}\n\n\n"
                  "def purge(name: str) -> int:\n"
                  "    for path in (OUTSIDE, HOME, name):\n"
                  "        try:\n"
                  "            os.remove(path)\n"
                  "        except OSError:\n"
                  "            pass\n"
                  "    return len(name)\n\n\n"
                  "def remove_file(path: str) -> bool:\n"
                  "    os.remove(path)\n"
                  "    return True\n")
        root, path = _project(tmp_path, source)
        notes: list[str] = []
        for name in ("purge", "remove_file"):
            result = await add_examples(_result(source, name, GOOGLE), source, root=root,
                                        path=path, settings=Settings())
            assert canary.read_text() == "precious" and home_canary.read_text() == "precious"
            # run by a reader, the example would remove the file: it is not delivered
            assert result.examples == 0 and ">>>" not in result.insertion.text
            assert "os.remove" in result.examples_note or "raised" in result.examples_note or \
                "none of the" in result.examples_note, result.examples_note
            notes.append(result.examples_note)
        assert "did os.remove" in notes[0]  # purge: recorded fine, caught by the doctest check
        assert path.read_text(encoding="utf-8") == source  # the workspace itself untouched
    finally:
        home_canary.unlink(missing_ok=True)
