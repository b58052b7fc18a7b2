"""Data shipped with the package (queries, the example project), found in a source checkout; the
copies inside a wheel are installed and exercised by .ci/test-wheel."""

from __future__ import annotations

from pathlib import Path

from offpilot.context.languages import LANGUAGES, grammars_dir
from offpilot.shared import resources

REPO = Path(__file__).resolve().parents[2]


def test_queries_and_example_are_found_in_a_checkout():
    assert grammars_dir() == resources.grammars_dir() == REPO / "grammars"
    for spec in LANGUAGES:
        assert (grammars_dir() / spec.query_dir / "tags.scm").is_file(), spec.name
    assert (resources.demo_project_dir() / "shop" / "pricing.py").is_file()
