"""Completion quality on HumanEval's infilling sets: Offpilot's pipeline against fair arms.

Each task is put to the completer as an editor would: the hole is an empty line opened at
column 0 between ``prompt`` (prefix) and ``suffix``; the inserted text is followed by that line's
newline. Arms, all on the same model and worker:

- **pipeline**: the completion pipeline exactly as the language server runs it (prompt mode
  from the GGUF, prompt window, single/multi-line decision, post-processing);
- **naive**: what the most naive client does: the model given only the prefix as plain text,
  its output cut at the first newline (single-line set) or, for the multi-line set, where the
  suffix's next non-blank line begins or at the first line dedented below the cursor's block;
- **-suffix / -syntax cut / -line decision / -context**: the pipeline with one stage switched
  off; the signed column ``pipeline - arm`` is what that stage contributes. HumanEval has no
  repository, so ``-context`` equals the pipeline here by construction; ``offpilot eval`` on a
  real repository measures context on against off. The prefix layout (a base model such as
  the embedded one) leaves the suffix out of the prompt, so there ``-suffix`` equals the
  pipeline too, and the pipeline's prompt is the naive client's whenever the prefix fits the
  prompt window: the two arms then differ only in how they cut the same answer.

Scores: exact match against ``canonical_solution`` (whitespace-trimmed); pass@1: the program
``prefix + completion + suffix + test + check(entry_point)`` run in a subprocess with a timeout;
accepted characters: the longest common prefix of the completion and the canonical solution
(what a user who accepts word by word would keep); empty: share of tasks with no suggestion.
Tasks are an even sample across the set (``--limit``), so every problem is represented, and are
run in an order whose every prefix is itself spread over the set: the ``--dump`` of a run stopped
early is still an even sample (``bench/quality_diff.py`` prints its table).

The completion time limit is raised (``--time-limit``) so that results do not depend on how
loaded the machine is. Identical model calls of different arms are made once (greedy decoding).

    python bench/quality.py --set single --limit 300 --cache /tmp/quality-cache.jsonl
    python bench/quality.py --set multi --limit 300 --dump /tmp/multi.jsonl
    python bench/quality.py --set single --limit 100 --model fim     # the FIM prompt path
    python bench/quality.py --set single --limit 100 --model chat    # the instruct path
    python bench/quality.py --set both --perfect    # no model: what each arm's cut keeps

``--perfect`` puts no model behind the arms but the right answer (the canonical hole, then the
code after it, as a perfect model continuing the file would write): the share each arm keeps
whole is the most its cut can keep of a right answer.
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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))

from offpilot.config import Settings  # noqa: E402
from offpilot.engine import templates  # noqa: E402
from offpilot.engine.backend import GenerationResult, InfillRequest, TextRequest  # noqa: E402
from offpilot.engine.local import LocalBackend  # noqa: E402
from offpilot.features.completion import Completer, Stages  # noqa: E402
from offpilot.features.evaluate import accepted_chars as common_prefix  # noqa: E402

# The data sits in a shared folder beside the checkout (or beside the folder of worktrees).
DATA = next((p / "shared" / "data" / "human-eval-infilling" for p in REPO.parents
             if (p / "shared" / "data" / "human-eval-infilling").is_dir()),
            REPO.parent / "shared" / "data" / "human-eval-infilling")
FILES = {"single": "HumanEval-SingleLineInfilling.jsonl.gz",
         "multi": "HumanEval-MultiLineInfilling.jsonl.gz"}

ARMS: dict[str, Stages | None] = {
    "pipeline": Stages(),
    "naive": None,
    "-suffix": Stages(suffix=False),
    "-syntax cut": Stages(syntax_cut=False),
    "-line decision": Stages(line_decision=False),
    "-context": Stages(context=False),
}


def load_tasks(which: str, limit: int, data_dir: Path) -> list[dict]:
    with gzip.open(data_dir / FILES[which], "rt", encoding="utf-8") as f:
        tasks = [json.loads(line) for line in f]
    if limit and limit < len(tasks):
        step = len(tasks) / limit  # an even sample across all problems
        tasks = [tasks[int(i * step)] for i in range(limit)]
    return tasks


def spread_order(n: int) -> list[int]:
    """0..n-1 in bit-reversed order: every prefix of it is spread evenly over the range, so a
    run stopped early has still scored an even sample of the set."""
    bits = max(1, (n - 1).bit_length())
    order = (int(format(j, f"0{bits}b")[::-1], 2) for j in range(1 << bits))
    return [i for i in order if i < n]


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


def exact(task: dict, completion: str) -> bool:
    return completion.strip() == task["canonical_solution"].strip()


def accepted_chars(task: dict, completion: str) -> int:
    """Characters of the suggestion a user would keep: its longest prefix that is right."""
    return common_prefix(completion, task["canonical_solution"].rstrip("\n"))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def naive_cut(raw: str, suffix: str, single: bool) -> str:
    """The naive client's cut of a plain continuation (see the module docstring)."""
    if single:
        return raw.split("\n", 1)[0]
    following = next((ln for ln in suffix.split("\n") if ln.strip()), None)
    out: list[str] = []
    block: int | None = None
    for ln in raw.split("\n"):
        if ln.strip():
            if following is not None and ln.strip() == following.strip():
                break
            if block is None:
                block = _indent(ln)
            elif _indent(ln) < block:
                break
        out.append(ln)
    return "\n".join(out).rstrip()


class MemoBackend:
    """The real backend, with each distinct model call made once (decoding is greedy).

    A single-line request is answered from an unrestricted call with the same prompt when there
    is one: the same tokens, cut at the first newline.
    """

    def __init__(self, backend: LocalBackend, store: Path | None = None) -> None:
        self.backend = backend
        self.memo: dict[tuple[str, int, bool], GenerationResult] = {}
        self.calls = 0
        self.seconds = 0.0
        self.store = store  # answers kept across runs (JSONL), keyed by model file and prompt
        self._model = f"{Path(backend.model_path).name}:{Path(backend.model_path).stat().st_size}"
        if store is not None and store.exists():
            for line in store.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line cut short by an interrupted run
                if rec["model"] == self._model:
                    self.memo[(rec["prompt"], rec["max_tokens"], rec["nl"])] = GenerationResult(
                        text=rec["text"], stop_reason=rec["stop_reason"],
                        generated_tokens=rec["generated_tokens"])

    def _key(self, segments: list[dict[str, Any]], max_tokens: int, nl: bool
             ) -> tuple[str, int, bool]:
        return json.dumps(segments, sort_keys=True), max_tokens, nl

    async def _get(self, key: tuple[str, int, bool], run: Any) -> GenerationResult:
        if key in self.memo:
            return self.memo[key]
        full = self.memo.get((key[0], key[1], False))
        if key[2] and full is not None and full.stop_reason != "time":
            return replace(full, text=full.text.split("\n", 1)[0])
        t0 = time.perf_counter()
        res = await run()
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        self.memo[key] = res
        if self.store is not None and res.stop_reason != "time":
            with self.store.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"model": self._model, "prompt": key[0],
                                    "max_tokens": key[1], "nl": key[2], "text": res.text,
                                    "stop_reason": res.stop_reason,
                                    "generated_tokens": res.generated_tokens}) + "\n")
        return res

    async def infill(self, request: InfillRequest, on_text: Any = None) -> GenerationResult:
        info = await self.backend.start()
        segs = templates.infill_segments(info, request)
        return await self._get(self._key(segs, request.max_tokens, request.stop_at_newline),
                               lambda: self.backend.infill(request))

    async def generate(self, request: TextRequest) -> GenerationResult:
        key = self._key([{"text": request.prompt}], request.max_tokens, False)
        return await self._get(key, lambda: self.backend.generate(request))


class PerfectBackend:
    """Not a model (``--perfect``): answers every request with the task's canonical hole and
    then the code that follows it, as a perfect model continuing the file would. What each
    arm keeps of that answer is the most its cut can keep of a right answer."""

    def __init__(self) -> None:
        self.answer = ""

    def _result(self, stop_at_newline: bool) -> GenerationResult:
        text = self.answer.split("\n", 1)[0] if stop_at_newline else self.answer
        return GenerationResult(text=text, stop_reason="stop")

    async def infill(self, request: InfillRequest, on_text: Any = None) -> GenerationResult:
        return self._result(request.stop_at_newline)

    async def generate(self, request: TextRequest) -> GenerationResult:
        return self._result(False)


def perfect(which: str, tasks: list[dict]) -> dict[str, int]:
    """Per arm, the tasks whose canonical hole it keeps whole from a perfect answer."""
    backend = PerfectBackend()
    settings = replace(Settings(), debounce_ms=0, context_budget=0, prefetch=False,
                       warmup=False)

    async def get() -> Any:
        return backend

    async def go() -> dict[str, int]:
        completers = {arm: Completer(get, settings, stages=st) for arm, st in ARMS.items()
                      if st is not None}
        kept = dict.fromkeys(ARMS, 0)
        for task in tasks:
            prefix, suffix = task["prompt"], task["suffix"]
            backend.answer = task["canonical_solution"].rstrip("\n") + "\n" + suffix
            kept["naive"] += exact(task, naive_cut(backend.answer, suffix, which == "single"))
            for arm, completer in completers.items():
                res = await completer.complete("file:///perfect.py", prefix + "\n" + suffix,
                                               len(prefix), language="python", path="p.py")
                completer.forget("file:///perfect.py")
                kept[arm] += exact(task, res.items[0] if res.items else "")
        return kept

    return asyncio.run(go())


@dataclass
class Score:
    exact: int = 0
    passed: int = 0
    chars: int = 0
    empty: int = 0
    n: int = 0
    completions: list[str] = field(default_factory=list)


async def run(tasks: list[dict], which: str, model: str, args: argparse.Namespace,
              dump: Any) -> tuple[str, dict[str, Score], float, int]:
    backend = LocalBackend(model, n_threads=args.threads, n_ctx=4096)
    info = await backend.start()
    memo = MemoBackend(backend, Path(args.cache) if args.cache else None)
    settings = replace(Settings(), debounce_ms=0, max_tokens=args.max_tokens, context_budget=0,
                       prefetch=False, warmup=False, time_limit=args.time_limit)

    async def get() -> Any:
        return memo

    completers = {arm: Completer(get, settings, stages=st) for arm, st in ARMS.items()
                  if st is not None}
    scores = {arm: Score() for arm in ARMS}
    pass_memo: dict[tuple[str, str], bool] = {}
    t0 = time.perf_counter()
    order = spread_order(len(tasks))[:args.first or None]
    for i, task in enumerate((tasks[k] for k in order), 1):
        prefix, suffix = task["prompt"], task["suffix"]
        text = prefix + "\n" + suffix  # the hole: an empty line opened at column 0
        uri = f"file:///humaneval/{task['task_id'].replace('/', '_')}.py"
        out: dict[str, str] = {}
        raw = (await memo.generate(TextRequest(prompt=prefix, max_tokens=args.max_tokens,
                                               time_limit=args.time_limit))).text
        out["naive"] = naive_cut(raw, suffix, which == "single")
        model_text: dict[str, str] = {"naive": raw}
        for arm, completer in completers.items():
            res = await completer.complete(uri, text, len(prefix), language="python",
                                           path="solution.py")
            completer.forget(uri)
            out[arm] = res.items[0] if res.items else ""
            model_text[arm] = res.result.text if res.result is not None else ""
        record: dict[str, Any] = {"task_id": task["task_id"], "prefix": prefix,
                                  "suffix": suffix, "canonical": task["canonical_solution"],
                                  "arms": {}}
        for arm, completion in out.items():
            key = (task["task_id"], completion)
            if key not in pass_memo:
                pass_memo[key] = passes(task, completion + "\n")
            s = scores[arm]
            s.n += 1
            s.exact += exact(task, completion)
            s.passed += pass_memo[key]
            s.chars += accepted_chars(task, completion)
            s.empty += not completion.strip()
            record["arms"][arm] = {"text": completion, "model": model_text[arm],
                                   "exact": exact(task, completion), "pass": pass_memo[key]}
        if dump is not None:
            dump.write(json.dumps(record) + "\n")
            dump.flush()
        if i % args.progress == 0 or i == len(order):
            el = time.perf_counter() - t0
            print(f"  {which} {i}/{len(order)} tasks, {el:.0f} s ({el / i:.1f} s/task); pass@1 "
                  f"pipeline {scores['pipeline'].passed / i:.3f} "
                  f"naive {scores['naive'].passed / i:.3f}", file=sys.stderr)
    await backend.close()
    return str(info.prompt_mode), scores, time.perf_counter() - t0, memo.calls


def model_path(name: str) -> str:
    from gguf_edit import gemma_copy

    return str(gemma_copy(name)) if name in ("gemma", "fim", "chat") else name


def table(rows: list[tuple[str, ...]]) -> str:
    head = ("set", "arm", "prompt mode", "tasks", "exact", "pass@1", "pipeline - arm (pass@1)",
            "accepted chars", "empty")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--set", choices=["single", "multi", "both"], default="single")
    ap.add_argument("--limit", type=int, default=300, help="tasks per set (0 = all)")
    ap.add_argument("--model", default="gemma", help="gemma | fim | chat | PATH.gguf")
    ap.add_argument("--threads", type=int, default=1,
                    help="model threads (1 is fastest on a machine whose cores are busy)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--time-limit", type=float, default=120.0,
                    help="seconds per completion (the setting is 5; raised so that load on the "
                         "machine does not change the answers)")
    ap.add_argument("--first", type=int, default=0,
                    help="score only the first N tasks of the run order (those a run stopped "
                         "early scored: an even sample too)")
    ap.add_argument("--progress", type=int, default=25, help="print progress every N tasks")
    ap.add_argument("--dump", help="write each task's completions per arm to this JSONL file")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--cache", help="keep the model's answers in this JSONL file and reuse them "
                                    "(greedy decoding: the same prompt gives the same answer)")
    ap.add_argument("--perfect", action="store_true",
                    help="no model: what each arm keeps of a perfect answer (the canonical "
                         "hole, then the code after it)")
    args = ap.parse_args()
    sets = ["single", "multi"] if args.set == "both" else [args.set]
    if args.perfect:
        for which in sets:
            tasks = load_tasks(which, args.limit, Path(args.data))
            kept = perfect(which, tasks)
            print(f"{which}: a perfect answer kept whole, of {len(tasks)} tasks: " + ", ".join(
                f"{arm} {k / len(tasks):.3f}" for arm, k in kept.items()))
        return 0
    rows: list[tuple[str, ...]] = []
    dump = open(args.dump, "w", encoding="utf-8") if args.dump else None  # noqa: SIM115
    try:
        for which in sets:
            tasks = load_tasks(which, args.limit, Path(args.data))
            mode, scores, seconds, calls = asyncio.run(
                run(tasks, which, model_path(args.model), args, dump))
            base = scores["pipeline"].passed
            for arm, s in scores.items():
                n = max(s.n, 1)
                rows.append((which, arm, mode, str(s.n), f"{s.exact / n:.3f}",
                             f"{s.passed / n:.3f}",
                             "" if arm == "pipeline" else f"{(base - s.passed) / n:+.3f}",
                             f"{s.chars / n:.1f}", f"{s.empty / n:.3f}"))
            print(f"  {which}: {calls} model calls, {seconds:.0f} s", file=sys.stderr)
    finally:
        if dump is not None:
            dump.close()
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
