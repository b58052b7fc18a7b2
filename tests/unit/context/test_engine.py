"""The engine the server calls: progress, unsaved documents, Explain context, stats, CLI."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from offpilot.config import Settings
from offpilot.context.documents import Documents
from offpilot.context.engine import ContextEngine

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "demo-project"
CHECKOUT = ("from shop.pricing import cart_total, format_cents\nfrom shop.models import Cart\n\n\n"
            "def receipt(cart: Cart) -> str:\n    total = cart_total(cart)\n"
            "    return format_cents(total)\n")


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OFFPILOT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "demo-project"
    shutil.copytree(EXAMPLE, root)
    (root / "shop" / "checkout.py").write_text(CHECKOUT)
    return root


def test_progress_ends_exactly_once_with_one(project: Path):
    calls: list[tuple[str, float | None]] = []
    engine = ContextEngine([project], Settings(), Documents())
    engine.start(on_progress=lambda m, f: calls.append((m, f)))
    try:
        assert engine.wait_ready(60)
        deadline = time.monotonic() + 5
        while not any(f == 1.0 for _, f in calls) and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = engine.stats()
    finally:
        engine.stop()
    assert [f for _, f in calls].count(1.0) == 1 and calls[-1][1] == 1.0
    assert all(f is None or 0.0 <= f <= 1.0 for _, f in calls)
    assert stats["ready"] and stats["files"] >= 6 and stats["definitions"] >= 8
    json.dumps(stats)


def test_unsaved_definitions_in_open_documents_are_found(project: Path):
    docs = Documents()
    engine = ContextEngine([project], Settings(), docs)
    engine.start(watch=False)
    try:
        assert engine.wait_ready(60)
        helper_uri = (project / "shop" / "tax.py").as_uri()  # never saved to disk
        docs.open(helper_uri, "python", 1, 'def vat_for(cents: int) -> int:\n'
                  '    """Value-added tax in cents."""\n    return cents // 5\n')
        engine.note_opened(helper_uri)
        text = "from shop.tax import vat_for\n\n\ndef gross(cents):\n    return vat_for(cents)\n"
        uri = (project / "shop" / "gross.py").as_uri()
        docs.open(uri, "python", 1, text)
        engine.note_opened(uri)
        offset = text.index("vat_for(cents)") + len("vat_for(")
        deadline = time.monotonic() + 10
        snippets = engine.retrieve(uri, offset, 2048).snippets
        while not any("def vat_for" in s.text for s in snippets) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
            snippets = engine.retrieve(uri, offset, 2048).snippets
    finally:
        engine.stop()
    assert any(s.path == "shop/tax.py" and "def vat_for" in s.text for s in snippets)


def test_context_for_a_selected_range_has_the_called_definitions(project: Path):
    engine = ContextEngine([project], Settings(), Documents())
    engine.start(watch=False)
    try:
        assert engine.wait_ready(60)
        uri = (project / "shop" / "checkout.py").as_uri()
        start = CHECKOUT.index("def receipt")
        snippets = engine.context_for_range(uri, start, len(CHECKOUT), 4000)
    finally:
        engine.stop()
    by_path = {(s.path, s.text.split("(")[0]) for s in snippets}
    assert ("shop/pricing.py", "def cart_total") in by_path
    assert ("shop/pricing.py", "def format_cents") in by_path
    full = next(s for s in snippets if s.text.startswith("def cart_total"))
    assert "return total" in full.text  # whole bodies where they fit


def test_retrieval_before_and_without_an_index_does_not_fail(tmp_path: Path):
    engine = ContextEngine([tmp_path], Settings(), Documents())
    try:
        assert engine.retrieve((tmp_path / "missing.py").as_uri(), 0, 2048).snippets == []
        assert engine.context_for_range("file:///nowhere.py", 0, 10, 100) == []
    finally:
        engine.stop()


def test_cli_index_and_context(project: Path, capsys: pytest.CaptureFixture[str]):
    from offpilot.cli import main

    assert main(["index", str(project), "--json", "--workers", "1"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["files"] >= 6 and stats["parsed"] == stats["files"]
    assert main(["index", str(project), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parsed"] == 0

    line = CHECKOUT.split("\n").index("    total = cart_total(cart)") + 1
    col = len("    total = cart_total(") + 1
    assert main(["context", str(project / "shop" / "checkout.py"), str(line), str(col),
                 "--budget", "2048", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["chars"] <= 2048
    assert any(s["path"] == "shop/pricing.py" and "def cart_total" in s["text"]
               for s in out["snippets"])
    assert main(["context", str(project / "shop" / "checkout.py"), str(line), str(col)]) == 0
    assert "def cart_total" in capsys.readouterr().out
