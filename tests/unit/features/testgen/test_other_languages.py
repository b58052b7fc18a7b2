"""Tests for JavaScript and Rust code: run with the real node and cargo, kept only when they pass.

JavaScript tests are characterization tests (calls recorded by running the real code); Rust
tests are the model's draft with the failing test functions removed. The model here is
:class:`FakeBaseBackend`, a scripted stand-in, NOT a model. Tests that need node or cargo are
skipped where the program is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest
from offpilot.config import Settings
from offpilot.engine.backend import (
    BackendState,
    GenerationResult,
    ModelInfo,
    PromptMode,
    TextRequest,
)
from offpilot.features.testgen import generate_tests
from offpilot.features.testgen.javascript.generate import calls_in_text, read_module
from offpilot.features.testgen.javascript.jsvalues import (
    UNDEFINED,
    BigInt,
    LiteralError,
    parse_literal,
    same_value,
    to_js,
)
from offpilot.features.testgen.rust.generate import rust_test_functions, salvage, without

NODE = shutil.which("node")
CARGO = shutil.which("cargo")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")
needs_cargo = pytest.mark.skipif(CARGO is None, reason="cargo is not installed")

SETTINGS = replace(Settings(), python_path=sys.executable, test_timeout=20.0)


class FakeBaseBackend:
    """A FAKE model backend for tests: it is not a model. Each plain text request gets the next
    of the scripted ``answers`` (the last one repeats); it has no chat template, like the
    embedded base model."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers) or [""]
        self.prompts: list[str] = []

    @property
    def state(self) -> BackendState:
        return BackendState.READY

    async def info(self) -> ModelInfo:
        return ModelInfo(name="fake", path="", architecture="fake",
                         prompt_mode=PromptMode.PREFIX)

    async def generate(self, request: TextRequest, on_text=None) -> GenerationResult:
        self.prompts.append(request.prompt)
        answer = self.answers[min(len(self.prompts) - 1, len(self.answers) - 1)]
        return GenerationResult(text=answer, stop_reason="stop")

    async def close(self) -> None:
        return None


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def node_test(root: Path, test_file: Path) -> subprocess.CompletedProcess[str]:
    """``node --test`` in a clean subprocess, outside any sandbox."""
    assert NODE is not None
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(root), "NO_COLOR": "1"}
    return subprocess.run([NODE, "--test", "--test-reporter=tap", str(test_file)], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


MATH_JS = '''\
    /**
     * Add two numbers.
     * @param {number} a
     * @param {number} b
     * @example
     * add(1, 2) // => 3
     * add(2, 2) // => 5
     */
    export function add(a, b) {
      return a + b;
    }

    /**
     * The value limited to [low, high].
     * @example
     * clamp(15, 0, 10); // 10
     */
    export const clamp = (value, low = 0, high = 10) => {
      if (low > high) throw new RangeError("low must not exceed high");
      return Math.max(low, Math.min(value, high));
    };

    /** @param {string} name */
    export async function greet(name) {
      return { text: `Hello, ${name}!`, length: name.length };
    }

    export function stamp() {
      return Date.now() + Math.random();
    }

    function hidden(x) {
      return x;
    }
'''


# ------------------------------------------------------------------- literal values
def test_literals_round_trip_and_anything_else_is_refused():
    for text, value in [("1", 1), ("-0", -0.0), ("2.5", 2.5), ("'it\\'s'", "it's"),
                        ('"\\u00e9\\n"', "é\n"), ("[1, [true, null]]", [1, [True, None]]),
                        ("{ a: 1, 'b c': [] }", {"a": 1, "b c": []}), ("12n", BigInt(12)),
                        ("undefined", UNDEFINED), ("0x10", 16)]:
        parsed = parse_literal(text)
        assert same_value(parsed, value), text
        assert same_value(parse_literal(to_js(parsed)), parsed), text
    assert to_js(-0.0) == "-0" and to_js(3.0) == "3" and to_js(float("nan")) == "NaN"
    for text in ["foo", "f()", "`${x}`", "[1,,2]", "{__proto__: {}}", "1 + 1", "new Date()",
                 "process.exit(1)", "(() => 1)()", "x => x"]:
        with pytest.raises(LiteralError):
            parse_literal(text)


def test_calls_with_literal_arguments_survive_and_claims_are_read(tmp_path: Path):
    path = tmp_path / "m.mjs"
    source = "export function f(a, b) { return a; }\n"
    (target,) = read_module(path, source, "javascript").targets
    found = calls_in_text(
        "f(1, 'x') // => 1\nf(require('fs'))\nf([1, {a: 2}]);\n// => [1]\n"
        "f(1, 2, 3)\nf(process.env)\nxf(9)\nf(0) // throws RangeError\n", target, "model")
    assert [s.call("f") for s in found] == ["f(1, 'x')", "f([1, { a: 2 }])", "f(0)"]
    assert found[0].has_expected and found[0].expected == 1
    assert found[1].has_expected and found[1].expected == [1]
    assert found[2].expected_raises == "RangeError"


def test_exported_functions_are_found_in_esm_and_commonjs(tmp_path: Path):
    esm = read_module(tmp_path / "a.mjs", textwrap.dedent(MATH_JS), "javascript")
    assert [(t.name, t.export) for t in esm.targets] == [
        ("add", "add"), ("clamp", "clamp"), ("greet", "greet"), ("stamp", "stamp")]
    assert esm.kind == "esm"
    assert [p.name for p in esm.targets[1].params] == ["value", "low", "high"]
    assert esm.targets[1].params[2].default == 10 and esm.targets[2].is_async
    cjs = read_module(tmp_path / "b.js", "function a(x) {}\nconst b = (y) => y;\n"
                      "module.exports = { a, bee: b };\nexports.c = function (z) {};\n",
                      "javascript")
    assert [(t.name, t.export) for t in cjs.targets] == [("a", "a"), ("b", "bee"), ("c", "c")]
    assert cjs.kind == "cjs"


# ----------------------------------------------------------------------- JavaScript
@needs_node
async def test_js_characterization_tests_pass_node_test_in_a_clean_subprocess(tmp_path: Path):
    root = write(tmp_path, {"package.json": '{"name": "m", "type": "module"}',
                            "src/math.js": MATH_JS})
    result = await generate_tests(root, root / "src" / "math.js", scope="file",
                                  settings=SETTINGS)
    assert result.framework == "node:test" and result.verified
    assert result.kept >= 4 and result.failing == 0, result.summary
    assert result.test_path == (root / "src" / "math.test.js").resolve()
    assert result.plan is not None
    text = result.plan.text
    assert "import test from 'node:test';" in text
    assert "import { add, clamp, greet } from './math.js';" in text  # stamp is not stable
    assert "assert.deepStrictEqual(add(1, 2), 3);" in text  # the example that holds
    assert "assert.throws(" in text and "RangeError" in text
    assert "await greet(" in text
    assert "hidden" not in text and "stamp" not in text
    assert "gave different results in the two runs" in result.summary
    assert f"passed {3} runs" in result.summary
    assert all(t.status == "kept" for t in result.tests)
    assert not result.test_path.exists()  # the pipeline plans; the caller writes
    result.test_path.write_text(text, encoding="utf-8")
    done = node_test(root, result.test_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"# pass {result.kept}" in done.stdout


@needs_node
async def test_a_jsdoc_claim_the_code_does_not_fulfil_is_a_possible_bug(tmp_path: Path):
    root = write(tmp_path, {"package.json": '{"type": "module"}', "src/math.js": MATH_JS})
    result = await generate_tests(root, root / "src" / "math.js", symbol="add",
                                  settings=SETTINGS)
    bugs = {(b.call, b.origin, b.claimed, b.actual) for b in result.possible_bugs}
    assert bugs == {("add(2, 2)", "docstring", "5", "4")}
    assert "possible bug" in result.summary and "expects 5, the code gives 4" in result.summary
    assert result.plan is not None
    assert "add(2, 2)" not in result.plan.text
    assert all(t.call != "add(2, 2)" for t in result.tests)


@needs_node
async def test_commonjs_tests_are_appended_to_the_existing_test_file(tmp_path: Path):
    existing = textwrap.dedent('''\
        const test = require('node:test');
        const assert = require('node:assert');
        const { titleCase } = require('./strings.js');

        test('existing', () => {
          assert.equal(titleCase('a'), 'A');
        });
    ''')
    root = write(tmp_path, {"package.json": '{"name": "s"}', "lib/strings.js": '''\
        'use strict';

        /**
         * @param {string} text
         * @example
         *   titleCase("hello world") // => "Hello World"
         */
        function titleCase(text) {
          if (typeof text !== 'string') throw new TypeError('text must be a string');
          return text.split(' ').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ');
        }

        module.exports = { titleCase, reverse: (s) => [...s].reverse().join('') };
    ''', "lib/strings.test.js": existing})
    result = await generate_tests(root, root / "lib" / "strings.js", scope="file",
                                  settings=SETTINGS)
    assert result.kept >= 2, result.summary
    assert result.plan is not None
    text = result.plan.text
    assert text.startswith(existing)  # the user's tests are left as they are
    added = text[len(existing):]
    assert "const { reverse } = require('./strings.js');" in added
    assert "require('node:test')" not in added  # ``test`` and ``assert`` are reused
    assert "titleCase('hello world'), 'Hello World'" in added
    (root / "lib" / "strings.test.js").write_text(text, encoding="utf-8")
    done = node_test(root, root / "lib" / "strings.test.js")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"# pass {result.kept + 1}" in done.stdout


@needs_node
async def test_model_text_runs_only_as_calls_with_literal_arguments(tmp_path: Path):
    marker = tmp_path / "pwned.marker"
    root = write(tmp_path / "p", {"package.json": '{"type": "module"}', "src/words.js": '''\
        export function shout(text) {
          return String(text).toUpperCase() + "!";
        }
    '''})
    fake = FakeBaseBackend(
        f"require('fs').writeFileSync({str(marker)!r}, 'x'))",
        "'quiet')", f"(() => {{ require('fs').writeFileSync({str(marker)!r}, 'x') }})())",
        "['a', 'b'])", "{ loud: true })")
    result = await generate_tests(root, root / "src" / "words.js", symbol="shout",
                                  backend=fake, settings=SETTINGS)
    assert fake.prompts and fake.prompts[0].endswith("shout(")
    assert not marker.exists(), "model text was executed"
    model_calls = {t.call for t in result.tests if t.origin == "model"}
    assert model_calls <= {"shout('quiet')", "shout(['a', 'b'])", "shout({ loud: true })"}
    assert result.model_scenarios == 3
    assert result.kept >= 1 and result.plan is not None


@needs_node
async def test_calls_that_hang_are_cut_off_and_get_no_test(tmp_path: Path):
    root = write(tmp_path, {"package.json": '{"type": "module"}', "src/slow.js": '''\
        /** @param {boolean} forever */
        export function spin(forever) {
          if (forever) {
            for (;;) {}
          }
          return "done";
        }

        /** @param {boolean} stall */
        export function later(stall) {
          return stall ? new Promise(() => {}) : Promise.resolve(42);
        }
    '''})
    started = time.monotonic()
    result = await generate_tests(root, root / "src" / "slow.js", scope="file",
                                  settings=replace(SETTINGS, test_timeout=4.0))
    assert time.monotonic() - started < 60
    assert "2 calls hung or ended the process" in result.summary
    assert result.plan is not None
    text = result.plan.text
    assert "spin(false), 'done'" in text and "await later(false), 42" in text
    assert "spin(true)" not in text and "later(true)" not in text


@needs_node
async def test_nothing_runs_when_running_is_off_and_the_file_says_unverified(tmp_path: Path):
    marker = tmp_path / "imported.marker"
    root = write(tmp_path / "p", {"package.json": '{"type": "module"}',
                                  "src/math.js": f"import {{ writeFileSync }} from 'node:fs';\n"
                                                 f"writeFileSync({str(marker)!r}, 'x');\n\n"
                                                 + textwrap.dedent(MATH_JS)})
    result = await generate_tests(root, root / "src" / "math.js", scope="file",
                                  settings=replace(SETTINGS, run_generated_tests=False))
    assert not marker.exists(), "the code under test was executed"
    assert not result.verified and result.kept == 0 and result.unverified == 3
    assert result.plan is not None
    assert "// UNVERIFIED" in result.plan.text
    assert "add(2, 2), 5" in result.plan.text  # a claim, unchecked: that is what unverified means
    assert "UNVERIFIED" in result.summary and "nothing was run" in result.summary


@needs_node
async def test_typescript_without_a_runner_is_an_unverified_draft(tmp_path: Path):
    root = write(tmp_path, {"package.json": "{}",
                            "src/t.ts": "export const one = (): number => 1;\n"})
    fake = FakeBaseBackend("\ntest('one', () => {\n  assert.equal(1, 1);\n});\n")
    result = await generate_tests(root, root / "src" / "t.ts", scope="file", backend=fake,
                                  settings=SETTINGS)
    assert not result.verified and result.unverified == 1 and result.kept == 0
    assert result.plan is not None and result.plan.text.startswith("// UNVERIFIED")
    assert "cannot run TypeScript by itself" in result.summary


@needs_node
async def test_a_module_that_cannot_be_loaded_is_reported_plainly(tmp_path: Path):
    root = write(tmp_path, {"package.json": '{"type": "module"}',
                            "src/broken.js": "export function f(x) { return x; }\n"
                                             "throw new Error('cannot start');\n"})
    result = await generate_tests(root, root / "src" / "broken.js", scope="file",
                                  settings=SETTINGS)
    assert result.plan is None and result.kept == 0
    assert "could not be run with node" in result.summary and "cannot start" in result.summary


@needs_node
async def test_es_module_syntax_without_type_module_runs_with_detection(tmp_path: Path):
    root = write(tmp_path, {"package.json": '{"name": "plain"}',
                            "lib/twice.js": "export const twice = (n) => n * 2;\n"})
    result = await generate_tests(root, root / "lib" / "twice.js", scope="file",
                                  settings=SETTINGS)
    assert result.kept >= 1, result.summary
    assert "--experimental-detect-module" in result.summary
    assert result.plan is not None and "import { twice } from './twice.js';" in result.plan.text


async def test_without_the_toolchain_the_draft_says_so(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    from offpilot.features.testgen.javascript import noderun
    from offpilot.features.testgen.rust import support as rust_support

    monkeypatch.setattr(noderun.shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setattr(rust_support.shutil, "which", lambda name, *a, **k: None)
    root = write(tmp_path, {"package.json": '{"type": "module"}', "src/math.js": MATH_JS,
                            **{f"crate/{k}": v for k, v in CRATE.items()}})
    fake = FakeBaseBackend("\ntest('add', () => {\n  assert.equal(add(1, 2), 3);\n});\n")
    result = await generate_tests(root, root / "src" / "math.js", scope="file", backend=fake,
                                  settings=SETTINGS)
    assert not result.verified and result.unverified == 1
    assert result.plan is not None and result.plan.text.startswith("// UNVERIFIED")
    assert "UNVERIFIED (node is not installed)" in result.summary
    fake = FakeBaseBackend("shapes_lib::geometry::*;\n\n#[test]\nfn a() {}\n")
    result = await generate_tests(root, root / "crate" / "src" / "geometry.rs", scope="file",
                                  backend=fake, settings=SETTINGS)
    assert not result.verified and result.unverified == 1
    assert "UNVERIFIED (cargo is not installed)" in result.summary


# ---------------------------------------------------------------------------- Rust
CRATE = {
    "Cargo.toml": '[package]\nname = "shapes-lib"\nversion = "0.1.0"\nedition = "2021"\n',
    "src/lib.rs": "pub mod geometry;\n",
    "src/geometry.rs": '''\
        /// Area of a rectangle.
        pub fn area(w: u32, h: u32) -> u32 {
            w * h
        }

        pub fn spin() -> u32 {
            loop {}
        }
    ''',
}

# what the model continues after the prompt's ``#[test]\nfn area_``
RUST_DRAFT = '''\
of_a_square() {
    assert_eq!(area(3, 3), 9);
}

#[test]
fn is_wrong() {
    assert_eq!(geometry::area(2, 2), 5);
}

#[test]
fn does_not_compile() {
    let x: u32 = "seven";
    assert_eq!(area(x, 1), 7);
}

fn helper() -> u32 {
    "not a number"
}

#[test]
fn uses_helper() {
    assert_eq!(helper(), 1);
}

#[test]
fn never_ends() {
    assert_eq!(spin(), 1);
}

assert_eq!(area(0, 0), 0);

#[test]
fn cut_off() {
    assert_eq!(area(1,
'''


def test_rust_drafts_are_cut_to_their_complete_items():
    draft = salvage("use c::*;\n\n#[test]\nfn area_" + RUST_DRAFT + "\n#[test]\nfn 7() {}\n")
    fns = rust_test_functions(draft)
    assert [f.name for f in fns] == ["area_of_a_square", "is_wrong", "does_not_compile",
                                     "uses_helper", "never_ends"]
    assert "fn helper()" in draft  # an item, kept until the compiler says otherwise
    assert "assert_eq!(area(0, 0), 0);" not in draft  # a statement is no item
    assert "cut_off" not in draft
    kept = without(draft, fns[1:])
    assert [f.name for f in rust_test_functions(kept)] == ["area_of_a_square"]
    assert "is_wrong" not in kept and kept.startswith("use c::*;")
    nested = rust_test_functions("mod tests {\n    use super::*;\n    #[test]\n    fn a() {}\n"
                                 "    fn helper() {}\n}\n")
    assert [f.name for f in nested] == ["tests::a"]
    assert [f.name for f in rust_test_functions(salvage("#[test]\nfn 1() {}\n"))] == ["test_1"]


@needs_cargo
async def test_rust_delivers_only_the_test_functions_that_pass(tmp_path: Path):
    root = write(tmp_path / "crate", CRATE)
    fake = FakeBaseBackend(RUST_DRAFT)
    result = await generate_tests(root, root / "src" / "geometry.rs", scope="file",
                                  backend=fake, settings=replace(SETTINGS, test_timeout=10.0))
    assert fake.prompts[0].endswith("use shapes_lib::geometry::{self, *};\n\n#[test]\nfn area_")
    status = {t.name: t.status for t in result.tests if t.origin == "model"}
    assert status == {"area_of_a_square": "kept", "is_wrong": "failing",
                      "does_not_compile": "failing", "uses_helper": "failing",
                      "never_ends": "failing"}, result.summary
    messages = {t.name: t.message for t in result.tests}
    assert "does not compile: mismatched types" in messages["does_not_compile"]
    assert "does not compile" in messages["uses_helper"]
    assert "did not finish within 10 s" in messages["never_ends"]
    assert messages["is_wrong"]
    recorded = [t for t in result.tests if t.origin == "signature"]
    assert recorded and all(t.status == "kept" for t in recorded)
    assert "1 call hung" in result.summary  # spin(), recorded with a timeout: no test
    assert result.verified and result.framework == "cargo test"
    assert result.test_path == (root / "tests" / "geometry.rs").resolve()
    assert result.plan is not None
    text = result.plan.text
    assert "fn area_of_a_square()" in text and "use shapes_lib::geometry::{self, *};" in text
    assert "assert_eq!(area(7, 7), 49);" in text
    for dropped in ("is_wrong", "does_not_compile", "helper", "never_ends", "cut_off", "spin"):
        assert dropped not in text
    assert "UNVERIFIED" not in text
    assert "Removed 4 test functions that did not pass" in result.summary
    # the file passes cargo test on its own, outside the sandbox
    result.test_path.parent.mkdir(parents=True, exist_ok=True)
    result.test_path.write_text(text, encoding="utf-8")
    assert CARGO is not None
    done = subprocess.run([CARGO, "test", "--offline", "--test", "geometry"], cwd=root,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{result.kept} passed" in done.stdout


@needs_cargo
async def test_rust_characterization_without_a_model(tmp_path: Path):
    root = write(tmp_path / "crate", {
        "Cargo.toml": '[package]\nname = "textkit"\nversion = "0.1.0"\nedition = "2021"\n',
        "src/lib.rs": '''\
            /// Words of a text.
            pub fn words(text: &str) -> Vec<String> {
                text.split_whitespace().map(|w| w.to_string()).collect()
            }

            pub fn initial(name: String) -> Option<char> {
                name.chars().next()
            }

            pub fn mean(xs: &[f64]) -> f64 {
                if xs.is_empty() {
                    panic!("mean of no values");
                }
                xs.iter().sum::<f64>() / xs.len() as f64
            }

            pub struct Counter(u32);

            impl Counter {
                pub fn get(&self) -> u32 {
                    self.0
                }
            }
        '''})
    result = await generate_tests(root, root / "src" / "lib.rs", scope="file",
                                  settings=SETTINGS)
    assert result.targets == ["words", "initial", "mean"]
    assert result.kept >= 6 and result.failing == 0, result.summary
    assert result.plan is not None
    text = result.plan.text
    assert "use textkit::*;" in text
    assert 'assert_eq!(words("Hello, World!"), vec!["Hello,", "World!"]);' in text
    assert "assert_eq!(words(\"\"), Vec::<String>::new());" in text
    assert "assert_eq!(initial(String::from(\"\")), None);" in text
    assert "Some('h')" in text
    assert '#[should_panic(expected = "mean of no values")]' in text
    assert "No model was used" in result.summary
    tests_dir = root / "tests"
    tests_dir.mkdir()
    (tests_dir / "lib.rs").write_text(text, encoding="utf-8")
    assert CARGO is not None
    done = subprocess.run([CARGO, "test", "--offline", "--test", "lib"], cwd=root,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{result.kept} passed" in done.stdout


@needs_cargo
async def test_rust_with_nothing_passing_writes_nothing(tmp_path: Path):
    root = write(tmp_path / "crate", {**CRATE, "src/geometry.rs": '''\
        pub struct Rect {
            pub w: u32,
            pub h: u32,
        }

        impl Rect {
            pub fn area(&self) -> u32 {
                self.w * self.h
            }
        }
    '''})
    # the model goes on from ``fn test_``
    fake = FakeBaseBackend("wrong() {\n    assert_eq!(Rect { w: 1, h: 1 }.area(), 2);\n}\n")
    result = await generate_tests(root, root / "src" / "geometry.rs", scope="file",
                                  backend=fake, settings=SETTINGS)
    assert result.plan is None and result.kept == 0 and result.failing == 1
    assert "No public function with simple parameter and result types" in result.summary
    assert "No test passed, so nothing was written." in result.summary
    assert "left: 1" in result.summary  # why it failed


async def test_rust_with_running_off_is_an_unverified_draft(tmp_path: Path):
    root = write(tmp_path / "crate", CRATE)
    fake = FakeBaseBackend("shapes_lib::geometry::*;\n\n#[test]\nfn a() {\n"
                           "    assert_eq!(area(1, 1), 1);\n}\n")
    result = await generate_tests(root, root / "src" / "geometry.rs", scope="file",
                                  backend=fake,
                                  settings=replace(SETTINGS, run_generated_tests=False))
    assert not result.verified and result.unverified == 1 and result.kept == 0
    assert result.plan is not None and result.plan.text.startswith("// UNVERIFIED")
    assert "runGeneratedTests is off" in result.summary
