"""Explain without a model: the target (real tree-sitter), the prompt, the language of the
comments, the cleaning of what a model writes, and the run against a fake chat backend."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from offpilot.cli.explain import Location, parse_location, target_at
from offpilot.config import Settings
from offpilot.context.languages import for_language_id
from offpilot.engine.backend import (
    ChatRequest,
    GenerationResult,
    ModelError,
    OnText,
    Snippet,
)
from offpilot.features.explain import (
    NO_EXPLANATION,
    STOP_SEQUENCES,
    AnswerCleaner,
    ExplainTarget,
    answer_language,
    build_messages,
    chat_request,
    clean_answer,
    context_budget,
    detect_language,
    explain,
    explain_dir,
    fence_for,
    file_target,
    markdown_file_name,
    pick_target,
    prompt_prose,
    save_markdown,
)
from offpilot.shared import line_offsets

PRICING = Path(__file__).resolve().parents[3] / "examples" / "demo-project" / "shop" / "pricing.py"
MODELS = '''"""Shop records."""

import dataclasses


class Cart:
    """Items by SKU."""

    def __init__(self) -> None:
        self.lines: dict[str, int] = {}

    @property
    def count(self) -> int:
        return sum(self.lines.values())


def empty() -> Cart:
    return Cart()
'''
JS = """export class Repo {
  constructor(db) { this.db = db; }

  find(id) {
    return this.db.get(id);
  }
}

const double = (x) => x * 2;
"""


def pricing() -> str:
    return PRICING.read_text(encoding="utf-8")


def at(text: str, marker: str) -> int:
    return text.index(marker)


# ----------------------------------------------------------------------------- target
def test_cursor_inside_a_function_targets_the_whole_function():
    text = pricing()
    i = at(text, "total = 0")
    t = pick_target(text, i, i, path="shop/pricing.py", language="python")
    assert (t.name, t.kind, t.start_line, t.end_line) == ("cart_total", "function", 19, 25)
    assert t.code.startswith("def cart_total(") and t.code.endswith("    return total")
    assert text[t.start:t.end] == t.code
    assert t.heading == "## `cart_total` (shop/pricing.py:19-25)"


def test_cursor_in_the_indentation_of_a_method_line_targets_the_method_not_the_class():
    i = MODELS.index("    def __init__")  # column 0 of the method's line
    t = pick_target(MODELS, i, i, path="shop/models.py", language="python")
    assert (t.name, t.kind) == ("Cart.__init__", "method")
    assert t.code.startswith("    def __init__")


def test_a_decorated_method_comes_with_its_decorator():
    i = MODELS.index("return sum")
    t = pick_target(MODELS, i, i, path="shop/models.py", language="python")
    assert t.name == "Cart.count"
    assert t.code.lstrip().startswith("@property\n")
    assert t.start_line == MODELS[:MODELS.index("@property")].count("\n") + 1


def test_cursor_on_a_class_line_targets_the_class():
    i = MODELS.index("class Cart")
    t = pick_target(MODELS, i + 3, i + 3, path="shop/models.py", language="python")
    assert (t.name, t.kind) == ("Cart", "class")


def test_cursor_at_top_level_targets_the_file():
    i = MODELS.index("import dataclasses")
    t = pick_target(MODELS, i, i, path="shop/models.py", language="python")
    assert t.kind == "file" and t.name == "models.py"
    assert (t.start_line, t.end_line, t.code) == (1, MODELS.count("\n"), MODELS)


def test_selection_inside_a_function_is_a_part_of_it():
    text = pricing()
    s, e = at(text, "    for sku"), at(text, "    return total")
    t = pick_target(text, s, e, path="shop/pricing.py", language="python")
    assert t.code == text[s:e].rstrip()
    assert (t.start_line, t.end_line, t.partial) == (22, 24, True)
    assert t.heading == "## Lines 22-24 of `cart_total` (shop/pricing.py:22-24)"


def test_selection_of_a_whole_function_with_blank_lines_around_is_the_function():
    text = pricing()
    s, e = at(text, "def cart_total") - 2, at(text, "def format_cents")
    t = pick_target(text, s, e, path="shop/pricing.py", language="python")
    assert (t.name, t.partial, t.start_line, t.end_line) == ("cart_total", False, 19, 25)


def test_selection_over_two_functions_is_anonymous():
    text = pricing()
    s, e = at(text, "def apply_discount"), at(text, "    return total")
    t = pick_target(text, s, e, path="shop/pricing.py", language="python")
    assert t.name == "" and t.heading.startswith("## Selected code (shop/pricing.py:8-")


def test_javascript_method_and_arrow_function():
    i = JS.index("return this.db")
    t = pick_target(JS, i, i, path="src/repo.js", language="javascript")
    assert (t.name, t.kind) == ("Repo.find", "method")
    i = JS.index("x * 2")
    t = pick_target(JS, i, i, path="src/repo.js", language="javascript")
    assert t.name == "double"


def test_unknown_language_and_out_of_range_offsets_do_not_fail():
    text = "some notes\nmore notes\n"
    t = pick_target(text, 10_000, 10_000, path="notes.txt")
    assert t.kind == "file" and t.end_line == 2
    t = pick_target(text, -5, 4, path="notes.txt")
    assert (t.code, t.start_line, t.end_line, t.name) == ("some", 1, 1, "")
    assert pick_target("", 0, 0, path="empty.py", language="python").kind == "file"


def test_heading_names_the_code_and_escapes_backticks():
    t = ExplainTarget("a`b.py", "python", "x", 0, 1, 3, 3, "f", "function")
    assert t.heading == "## `f` (ab.py:3)"
    assert replace(t, name="").heading == "## Selected code (ab.py:3)"


# ----------------------------------------------------------------------------- prompt
def target_of_cart_total() -> ExplainTarget:
    text = pricing()
    i = at(text, "total = 0")
    return pick_target(text, i, i, path="shop/pricing.py", language="python")


def test_prompt_has_the_code_language_path_context_and_the_three_parts():
    context = [Snippet("shop/models.py", 18, 30, "definition",
                       "class Cart:\n    lines: dict[str, int]\n")]
    system, user = build_messages(target_of_cart_total(), context)
    assert system.role == "system" and user.role == "user"
    text = user.content
    assert "Python" in text and "`shop/pricing.py`" in text and "lines 19-25" in text
    assert "```python\ndef cart_total(" in text
    assert "# shop/models.py\nclass Cart:" in text  # render_context, labelled by path
    for part in ("What it does", "Inputs and outputs", "Edge cases and possible bugs"):
        assert part in text
    assert "Answer in French" not in system.content


def test_prompt_asks_for_the_language_of_the_comments():
    system, user = build_messages(target_of_cart_total(), answer_in="French")
    assert "Answer in French" in system.content and "in French" in user.content


def test_fences_are_longer_than_any_backticks_in_the_code():
    assert fence_for("plain") == "```"
    assert fence_for('s = """```python"""') == "````"
    t = ExplainTarget("doc.py", "python", 'EXAMPLE = """\n```\nx\n```\n"""', 0, 20, 1, 5)
    assert "````python\n" in build_messages(t)[1].content


def test_long_code_is_cut_at_a_line_and_said_so():
    code = "\n".join(f"x{i} = {i}" for i in range(2000))
    t = ExplainTarget("big.py", "python", code, 0, len(code), 1, 2000)
    user = build_messages(t, max_code_chars=500)[1].content
    assert "x1999" not in user and "only its beginning is shown" in user


def test_chat_request_fits_the_settings():
    s = Settings(context_size=1024, chat_max_tokens=96, context_budget=4000)
    t = target_of_cart_total()
    req = chat_request(t, [], s)
    assert req.max_tokens == 96 and set(STOP_SEQUENCES) <= set(req.stop)
    budget = context_budget(t, s)
    assert 0 < budget < 4000  # the context window, not the setting, is the limit here
    assert context_budget(t, replace(s, context_budget=0)) == 0


# ----------------------------------------------------------------------------- language
@pytest.mark.parametrize(("prose", "language"), [
    ("Renvoie le prix après une remise, arrondi au centime. Si le pourcentage est hors "
     "limites, lève une erreur.", "French"),
    ("Gibt den Preis nach einem Rabatt zurück, gerundet auf den Cent. Wenn der Wert nicht "
     "stimmt, wird ein Fehler ausgelöst.", "German"),
    ("Devuelve el precio con el descuento aplicado, redondeado al centavo. Si el porcentaje "
     "no es válido, lanza un error.", "Spanish"),
    ("Returns the price after a discount, rounded to the nearest cent. If the percent is "
     "out of range, it raises an error.", None),
    ("计算购物车的总价，包括每一行的折扣。", "Chinese"),
    ("カートの合計金額を計算します。", "Japanese"),
    ("Возвращает цену после скидки, округлённую до цента.", "Russian"),
    ("ok", None),
])
def test_detect_language(prose: str, language: str | None):
    assert detect_language(prose) == language


def test_answer_language_reads_comments_and_docstrings_not_identifiers():
    french = ('def total_price(items):\n    """Renvoie la somme des prix de la liste, ou zéro si '
              'elle est vide."""\n    return sum(i.price for i in items)  # le total\n')
    assert answer_language(french, for_language_id("python")) == "French"
    english_code = "def le_la_les(des, du, une):\n    return des + du + une\n"
    assert answer_language(english_code, for_language_id("python")) is None
    german_js = "// Gibt die Summe der Liste zurück, oder null wenn sie leer ist.\n" \
                "function summe(liste) { return liste.reduce((a, b) => a + b, 0); }\n"
    assert answer_language(german_js, for_language_id("javascript")) == "German"
    assert answer_language("# Renvoie le double de la valeur donnée si elle est vide\n") \
        == "French"  # no grammar: regular expressions


# ----------------------------------------------------------------------------- cleaning
def test_leading_and_trailing_junk_goes_and_blank_runs_shrink():
    assert clean_answer(" :\n\n  The total of a cart.\n\n\n\n- Sums lines.\n\n---\n\n") == \
        "The total of a cart.\n\n- Sums lines.\n"


def test_transcript_markers_end_the_answer():
    assert clean_answer("It sums prices.\nUser: explain more\nIt does.\n") == \
        "It sums prices.\n"
    assert clean_answer("It sums prices.<end_of_turn>\n<start_of_turn>user\nmore") == \
        "It sums prices.\n"
    assert clean_answer("Sums.\n### Instruction\nWrite a poem.\n") == "Sums.\n"
    assert clean_answer("Assistant: hello\n") == ""


def test_repeated_lines_are_dropped_and_the_third_time_ends_the_answer():
    assert clean_answer("- It loops over the lines.\n" * 5) == "- It loops over the lines.\n"
    cycle = "It adds prices.\nIt applies discounts.\n" * 4
    assert clean_answer(cycle) == "It adds prices.\nIt applies discounts.\n"
    once_more = "It adds prices.\nThen it rounds.\nIt adds prices.\nFinally it returns.\n"
    assert clean_answer(once_more) == "It adds prices.\nThen it rounds.\nFinally it returns.\n"


def test_words_and_phrases_said_over_and_over_collapse():
    assert clean_answer("the the the the the total is summed.\n") == "the total is summed.\n"
    assert clean_answer("It loops. It loops. It loops. It loops. Done.\n") == "It loops. Done.\n"


def test_code_blocks_keep_their_repeats_and_are_closed():
    text = "Example:\n```python\nprint(total)\nprint(total)\n[0, 0, 0, 0]"
    assert clean_answer(text) == \
        "Example:\n```python\nprint(total)\nprint(total)\n[0, 0, 0, 0]\n```\n"


def test_the_prompt_said_back_is_dropped():
    messages = build_messages(target_of_cart_total())
    echo = prompt_prose(messages)
    parrot = messages[1].content.split("```")[-1]  # the instructions after the code
    assert clean_answer(parrot + "\n", echo) == ""
    assert clean_answer(parrot + "\nIt sums the cart.\n", echo) == "It sums the cart.\n"


def test_a_line_that_never_ends_ends_the_answer():
    cleaner = AnswerCleaner()
    cleaner.feed("Fine.\n" + "word" * 1000)
    assert cleaner.stopped and cleaner.stop_reason == "runaway line"


def test_streamed_pieces_are_the_final_answer():
    text = (" : \nThe function sums a cart.\n\n```python\nx = 1\n```\n- One.\n- One.\n\n"
            "Edge cases: empty carts.\nUser: more")
    for size in (1, 3, 7, 50):
        cleaner = AnswerCleaner()
        shown = "".join(cleaner.feed(text[i:i + size]) for i in range(0, len(text), size))
        shown += cleaner.finish()
        assert shown == cleaner.text == clean_answer(text)
    assert clean_answer(text) == ("The function sums a cart.\n\n```python\nx = 1\n```\n- One.\n"
                                  "\nEdge cases: empty carts.\n")


# ----------------------------------------------------------------------------- running
class FakeChatBackend:
    """A fake chat backend, not a model: streams ``pieces`` (waiting ``delay`` seconds before
    each), records the requests and whether it was cancelled."""

    def __init__(self, pieces: list[str], delay: float = 0.0, stream: bool = True,
                 error: Exception | None = None) -> None:
        self.pieces = pieces
        self.delay = delay
        self.stream = stream
        self.error = error
        self.requests: list[ChatRequest] = []
        self.sent = 0
        self.cancelled = False

    async def chat(self, request: ChatRequest, on_text: OnText | None = None
                   ) -> GenerationResult:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        try:
            for piece in self.pieces:
                await asyncio.sleep(self.delay)
                self.sent += 1
                if self.stream and on_text is not None:
                    on_text(piece)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return GenerationResult(text="".join(self.pieces), stop_reason="stop",
                                prompt_tokens=100, generated_tokens=len(self.pieces))


SETTINGS = Settings(context_size=2048, chat_max_tokens=64)


async def test_explain_streams_our_heading_then_the_clean_answer():
    backend = FakeChatBackend(["It adds", " up the cart.\n", "\n- `cart`: the cart\n",
                               "<end_of_turn>"])
    streamed: list[str] = []
    result = await explain(backend, target_of_cart_total(), settings=SETTINGS,  # type: ignore[arg-type]
                           on_text=streamed.append)
    assert streamed[0] == "## `cart_total` (shop/pricing.py:19-25)\n\n"
    assert "".join(streamed) == result.markdown
    assert result.markdown == ("## `cart_total` (shop/pricing.py:19-25)\n\nIt adds up the cart."
                               "\n\n- `cart`: the cart\n")
    assert result.answer and result.stop_reason == "transcript marker"
    assert backend.requests[0].max_tokens == 64


async def test_nothing_usable_gives_a_clear_note_not_an_invented_explanation():
    backend = FakeChatBackend(["\n\n", "User: what?"])
    streamed: list[str] = []
    result = await explain(backend, target_of_cart_total(), settings=SETTINGS,  # type: ignore[arg-type]
                           on_text=streamed.append)
    assert result.answer == ""
    assert result.markdown.endswith(NO_EXPLANATION + "\n")
    assert "".join(streamed) == result.markdown


async def test_generation_stops_as_soon_as_the_answer_loops():
    backend = FakeChatBackend(["Sums the cart.\n"] * 200, delay=0.001)
    result = await explain(backend, target_of_cart_total(), settings=SETTINGS)  # type: ignore[arg-type]
    assert result.answer == "Sums the cart.\n" and result.stop_reason == "repetition"
    assert backend.cancelled and backend.sent < 10


async def test_a_backend_that_does_not_stream_is_cleaned_too():
    backend = FakeChatBackend(["It sums.\n", "It sums.\n", "Done."], stream=False)
    result = await explain(backend, target_of_cart_total(), settings=SETTINGS)  # type: ignore[arg-type]
    assert result.answer == "It sums.\nDone.\n"


async def test_model_errors_reach_the_caller():
    backend = FakeChatBackend([], error=ModelError("no model file"))
    with pytest.raises(ModelError, match="no model file"):
        await explain(backend, target_of_cart_total(), settings=SETTINGS)  # type: ignore[arg-type]


async def test_cancelling_the_caller_cancels_the_generation():
    backend = FakeChatBackend(["word "] * 1000, delay=0.01)
    task = asyncio.ensure_future(explain(backend, target_of_cart_total(),  # type: ignore[arg-type]
                                         settings=SETTINGS))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.cancelled


# ----------------------------------------------------------------------------- saving
def test_markdown_is_saved_under_a_safe_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    t = target_of_cart_total()
    assert markdown_file_name(t) == "pricing-cart_total-19-25.md"
    odd = replace(t, path="weird dir/my file?.py", name="A<B>.c")
    assert markdown_file_name(odd) == "my_file-A_B_.c-19-25.md"
    assert markdown_file_name(file_target("x", path="a/b.py")) == "b-1-1.md"
    monkeypatch.setenv("OFFPILOT_CACHE_DIR", str(tmp_path))
    assert explain_dir() == tmp_path / "explain"
    path = save_markdown("## x\n", t)
    assert path == tmp_path / "explain" / "pricing-cart_total-19-25.md"
    assert path.read_text(encoding="utf-8") == "## x\n"


# ----------------------------------------------------------------------------- command line
def test_parse_location(tmp_path: Path):
    assert parse_location("a.py") == Location(Path("a.py"))
    assert parse_location("a.py:12") == Location(Path("a.py"), 12)
    assert parse_location("a.py:12-20") == Location(Path("a.py"), 12, 20)
    odd = tmp_path / "odd:3"
    odd.write_text("x\n")
    assert parse_location(str(odd)) == Location(odd)  # a file whose name looks like a range
    with pytest.raises(ValueError):
        parse_location("a.py:0")
    with pytest.raises(ValueError):
        parse_location("a.py:9-3")


def test_command_line_targets():
    text = pricing()
    assert line_offsets("ab\ncd\nef", 2, 3) == (3, 8)
    assert line_offsets("ab\ncd", 5, 9) == (3, 5)  # clamped
    t = target_at(text, Location(PRICING, 21), path="shop/pricing.py", language="python")
    assert (t.name, t.start_line, t.end_line) == ("cart_total", 19, 25)
    t = target_at(text, Location(PRICING, 22, 24), path="shop/pricing.py", language="python")
    assert (t.start_line, t.end_line, t.partial) == (22, 24, True)
    t = target_at(text, Location(PRICING), path="shop/pricing.py", language="python")
    assert t.kind == "file" and t.code == text


class FakeBaseBackend(FakeChatBackend):
    """A fake backend for a model without a chat template (not a model): ``generate`` streams
    the canned pieces; ``chat`` must not be used."""

    def __init__(self, pieces: list[str]) -> None:
        super().__init__(pieces)
        self.prompts: list[str] = []

    async def info(self):
        from offpilot.engine.backend import ModelInfo, PromptMode

        return ModelInfo(name="base", path="", architecture="gemma3",
                         prompt_mode=PromptMode.PREFIX, chat_template=None)

    async def chat(self, request, on_text=None):
        raise AssertionError("a base model is not asked to chat")

    async def generate(self, request, on_text=None):
        self.prompts.append(request.prompt)
        for piece in self.pieces:
            if on_text is not None:
                on_text(piece)
        return GenerationResult(text="".join(self.pieces), stop_reason="stop")


async def test_a_base_model_continues_a_document_that_begins_the_answer():
    backend = FakeBaseBackend([" adds up", " the cart.\n"])
    result = await explain(backend, target_of_cart_total(), settings=SETTINGS)  # type: ignore[arg-type]
    prompt = backend.prompts[0]
    assert "def cart_total" in prompt
    assert prompt.endswith("## Explanation\n\nThe function `cart_total`")
    # the document's beginning of the answer is part of the answer, then the model's words
    assert result.answer == "The function `cart_total` adds up the cart.\n"
