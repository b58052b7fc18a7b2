"""A short typing storm (bench/storm.py) against the real server and model: bounded queues.

50 inline completion requests a second for 5 seconds, each after a didChange, never waiting
for answers and never cancelling: the server's own superseding must keep the queued work
bounded (at most a request or two waiting on the model worker, no pile-up of tasks), answer
every request, keep answering offpilot/stats promptly, and still complete afterwards.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.model, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def load_storm():
    spec = importlib.util.spec_from_file_location("offpilot_bench_storm",
                                                  REPO / "bench" / "storm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def test_typing_storm_keeps_queued_work_bounded(gemma_path: Path):
    storm = load_storm()
    # No debounce: every request reaches the model and is superseded there, mid-prefill or
    # mid-generation, which is what could pile up work on the worker.
    r = storm.run_storm(rate=50, seconds=5, model=str(gemma_path), threads=2, cancel=False,
                        settings={"maxTokens": 16, "contextSize": 2048, "debounceMs": 0})
    print(storm.table(r))
    assert r.sent >= 200 and r.edits == r.sent
    assert r.unanswered == 0 and r.answered == r.sent and r.errors == 0
    assert r.superseded >= r.sent // 2  # the server dropped the stale work itself
    assert r.model_calls >= r.sent // 2  # ... after it had reached the model
    assert r.worker_queued_max <= 2, "requests piled up on the model worker"
    assert r.outstanding_max <= 25, "requests waited for answers instead of being superseded"
    assert r.tasks_max <= r.tasks_idle + 10 and r.tasks_end <= r.tasks_idle + 2
    assert r.stats_latency_max < 5, "the server stopped answering other requests"
    assert r.last_latency > 0 and r.after_latency > 0  # still completing after the storm
    assert r.rss_change("total") < 25
