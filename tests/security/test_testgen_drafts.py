"""Model-written test files (drafts) that reach beyond the code under test are neither run nor
written. The model answers come from FAKE backends returning scripted text (an attacker's
choice of words), labelled as such; the pipelines, the sandbox and cargo are real.
"""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from offpilot.config import Settings
from offpilot.engine.backend import GenerationResult, ModelInfo, PromptMode
from offpilot.features.testgen import generate_tests
from offpilot.features.testgen.core.registry import outside_uses

from tests.security.conftest import Canaries, needs_isolation

CARGO = shutil.which("cargo")


class ScriptedBaseBackend:
    """A FAKE model backend for these pipeline tests, not a model: every plain text request
    gets the same scripted answer."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.requests = 0

    async def info(self) -> ModelInfo:
        return ModelInfo(name="scripted", path="scripted.gguf", architecture="fake",
                         prompt_mode=PromptMode.PREFIX)

    async def generate(self, request, on_text=None) -> GenerationResult:
        self.requests += 1
        return GenerationResult(text=self.answer, stop_reason="stop")


@pytest.mark.parametrize(("language", "text", "own", "bad"), [
    ("javascript", "import { test } from 'node:test';\nimport { f } from './f.js';\n"
                   "test('f', () => f(1));\n", (), False),
    ("javascript", "const fs = require('fs');\nfs.rmSync('/x', {recursive: true});\n", (), True),
    ("javascript", "import { execSync } from 'node:child_process';\n", (), True),
    ("javascript", "test('x', () => process.exit(1));\n", (), True),
    ("javascript", "const m = 'f' + 's'; require(m);\n", (), True),
    ("javascript", "test('x', () => [].constructor.constructor('return 1')());\n", (), True),
    ("typescript", "import { it, expect } from 'vitest';\nimport { g } from '../src/g';\n"
                   "it('g', () => expect(g(2)).toBe(4));\n", (), False),
    ("go", 'store\n\nimport "testing"\n\nfunc TestD(t *testing.T) { if Double(2) != 4 '
           '{ t.Fatal("x") } }\n', ("example.com/shop",), False),
    ("go", 'store\n\nimport (\n\t"os"\n\t"testing"\n)\n\nfunc TestD(t *testing.T) '
           '{ os.RemoveAll("/x") }\n', ("example.com/shop",), True),
    ("go", 'x\n\nimport "example.com/shop/util"\n', ("example.com/shop",), False),
    ("java", "import org.junit.jupiter.api.Test;\nimport static org.junit.jupiter.api."
             "Assertions.assertEquals;\nclass T { @Test void t() { assertEquals(4, "
             "Calc.twice(2)); } }\n", ("com.shop",), False),
    ("java", "import java.io.File;\nclass T { void t() { new File(\"/x\").delete(); } }\n",
     (), True),
    ("java", "class T { void t() throws Exception { Runtime.getRuntime().exec(\"rm\"); } }\n",
     (), True),
    ("java", "class T { void t() { System.getenv(\"KEY\"); } }\n", (), True),
    ("rust", "#[test]\nfn a() { assert_eq!(area(2, 2), 4); }\n", ("shapes",), False),
    ("rust", "use std::collections::HashMap;\n#[test]\nfn a() { let m: HashMap<i32, i32> = "
             "HashMap::new(); assert!(m.is_empty()); }\n", (), False),
    ("rust", "#[test]\nfn a() { std::fs::remove_file(\"/x\").ok(); }\n", (), True),
    ("rust", "use std::{fs, collections::HashMap};\n", (), True),
    ("rust", "#[test]\nfn a() { let s = include_str!(\"/etc/passwd\"); }\n", (), True),
    ("rust", "#[test]\nfn a() { let k = env!(\"HOME\"); }\n", (), True),
    ("rust", "#[test]\nfn a() { std::process::Command::new(\"rm\").spawn().ok(); }\n", (),
     True),
])
def test_drafts_are_checked_for_what_they_reach(language: str, text: str,
                                               own: tuple[str, ...], bad: bool):
    assert bool(outside_uses(language, text, own=own)) is bad, outside_uses(language, text,
                                                                             own=own)


async def test_a_go_draft_that_deletes_files_is_not_written(tmp_path: Path, canaries: Canaries):
    (tmp_path / "go.mod").write_text("module example.com/shop\n")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "store.go").write_text(
        "package store\n\nfunc Double(n int) int { return 2 * n }\n")
    answer = ('store\n\nimport (\n\t"os"\n\t"testing"\n)\n\nfunc TestDouble(t *testing.T) {\n'
              f'\tos.RemoveAll("{canaries.visible}")\n\tif Double(2) != 4 {{\n'
              '\t\tt.Fatal("Double(2)")\n\t}\n}\n')
    fake = ScriptedBaseBackend(answer)
    result = await generate_tests(tmp_path, tmp_path / "store" / "store.go", backend=fake)
    assert fake.requests == 1
    assert result.plan is None and result.unverified == 0
    assert "imports 'os'" in result.summary and "nothing was written" in result.summary
    canaries.assert_untouched()


@pytest.mark.skipif(CARGO is None, reason="cargo is not installed")
@needs_isolation()
async def test_a_rust_draft_that_reaches_outside_is_neither_run_nor_written(
        tmp_path: Path, canaries: Canaries):
    root = tmp_path / "crate"
    (root / "src").mkdir(parents=True)
    (root / "Cargo.toml").write_text('[package]\nname = "shapes"\nversion = "0.1.0"\n'
                                     'edition = "2021"\n\n[dependencies]\n')
    (root / "src" / "lib.rs").write_text("pub fn area(w: u32, h: u32) -> u32 {\n    w * h\n}\n")
    c = canaries.visible
    # the prompt ends with "#[test]\nfn area_": the answer goes on from there. In the sandbox
    # the writes fail and are ignored, so the test would pass and be kept without the check
    answer = textwrap.dedent(f"""\
        of_a_square() {{
            let _ = std::fs::remove_file("{c}/victim.txt");
            let _ = std::fs::write("{c}/victim2.txt", "owned");
            assert_eq!(area(2, 2), 4);
        }}
    """)
    fake = ScriptedBaseBackend(answer)
    result = await generate_tests(root, root / "src" / "lib.rs", scope="file", backend=fake,
                                  settings=replace(Settings(), test_timeout=60.0))
    assert fake.requests == 1
    assert "it was not run or written" in result.summary
    assert not any(t.origin == "model" for t in result.tests)
    text = result.plan.text if result.plan else ""
    assert "remove_file" not in text and str(c) not in text
    canaries.assert_untouched()
