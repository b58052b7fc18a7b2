"""Small JavaScript (``node --test``) and Rust (``cargo test``) projects with one failing test,
and the FAKE chat backend the pipeline tests use in place of a model."""

from __future__ import annotations

from pathlib import Path

from offpilot.engine.backend import (
    BackendState,
    ChatRequest,
    GenerationResult,
    ModelInfo,
    PromptMode,
    TextRequest,
)

MATH_JS = """\
/** The sum of a and b. */
export function add(a, b) {
  return a - b;
}

export function mul(a, b) {
  return a * b;
}
"""

MATH_TEST_JS = """\
import test from 'node:test';
import assert from 'node:assert/strict';
import { add, mul } from '../src/math.js';

test('adds', () => {
  assert.equal(add(2, 3), 5);
});

test('adds zero', () => {
  assert.equal(add(0, 0), 0);
});

test('multiplies', () => {
  assert.equal(mul(2, 3), 6);
});
"""

JS_RIGHT = "export function add(a, b) {\n  return a + b;\n}\n"
JS_WRONG = "export function add(a, b) {\n  return 5;\n}\n"  # breaks 'adds zero'
JS_REACHES = ("export function add(a, b) {\n  require('child_process').execSync('id');\n"
              "  return a + b;\n}\n")

LIB_RS = """\
pub fn add(a: i32, b: i32) -> i32 {
    a - b
}

pub fn mul(a: i32, b: i32) -> i32 {
    a * b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_adds() {
        assert_eq!(add(2, 3), 5);
    }

    #[test]
    fn it_adds_zero() {
        assert_eq!(add(0, 0), 0);
    }

    #[test]
    fn it_multiplies() {
        assert_eq!(mul(2, 3), 6);
    }
}
"""

RS_RIGHT = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n"
RS_WRONG = "pub fn add(a: i32, b: i32) -> i32 {\n    5\n}\n"
RS_REACHES = ("pub fn add(a: i32, b: i32) -> i32 {\n    let _ = std::process::Command::new(\"id\")"
              ".status();\n    a + b\n}\n")


def js_project(tmp: Path) -> Path:
    """``add`` subtracts; ``test/math.test.js`` 'adds' fails, 'adds zero' and 'multiplies'
    pass."""
    root = tmp / "js-project"
    (root / "src").mkdir(parents=True)
    (root / "test").mkdir()
    (root / "package.json").write_text('{"name": "calc", "type": "module"}\n')
    (root / "src" / "math.js").write_text(MATH_JS, encoding="utf-8")
    (root / "test" / "math.test.js").write_text(MATH_TEST_JS, encoding="utf-8")
    return root


def rust_project(tmp: Path) -> Path:
    """``add`` subtracts; ``tests::it_adds`` fails, the other two pass."""
    root = tmp / "rust-project"
    (root / "src").mkdir(parents=True)
    (root / "Cargo.toml").write_text(
        '[package]\nname = "calc"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n')
    (root / "src" / "lib.rs").write_text(LIB_RS, encoding="utf-8")
    return root


class FakeFixBackend:
    """A FAKE model backend for pipeline tests: it is not a model. Asked for corrected code,
    it answers each of ``fixes`` in turn (as a code block); asked anything else, it answers a
    fixed sentence. It records the chat requests it was given."""

    def __init__(self, fixes: list[str], language: str) -> None:
        self.fixes = list(fixes)
        self.language = language
        self.chats: list[ChatRequest] = []

    @property
    def state(self) -> BackendState:
        return BackendState.READY

    async def start(self) -> ModelInfo:
        return await self.info()

    async def info(self) -> ModelInfo:
        return ModelInfo(name="fake", path="", architecture="fake",
                         prompt_mode=PromptMode.INSTRUCT, chat_template="{{ fake }}")

    async def chat(self, request: ChatRequest, on_text=None) -> GenerationResult:
        self.chats.append(request)
        if "corrected code" in request.messages[-1].content and self.fixes:
            text = f"```{self.language}\n{self.fixes.pop(0)}```\n"
        else:
            text = "The function subtracts where the test expects a sum."
        if on_text is not None:
            on_text(text)
        return GenerationResult(text=text, stop_reason="stop")

    async def generate(self, request: TextRequest, on_text=None) -> GenerationResult:
        return GenerationResult(text="", stop_reason="stop")

    async def close(self) -> None:
        return None
