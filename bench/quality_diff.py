"""Where the completion pipeline wins and loses against the naive client, task by task.

Reads a ``bench/quality.py --dump`` file and puts every task in one class, by what made the
pipeline's suggestion differ from the naive client's (same model, same set):

- **same text**: both arms suggested the same text (they pass or fail together);
- **prompt**: the model was given a different prompt (its answers' first lines differ):
  the suffix or the prefix window of the prompt layout;
- **empty**: one arm suggested nothing (after cutting);
- **indent**: the suggestions differ only in leading whitespace;
- **more lines** / **fewer lines**: the same answer cut after a different number of lines (the
  single/multi-line decision and the block rules; ``syntax cut acted`` when the pipeline
  without its syntax cut would have kept other lines);
- **stop**: the same answer cut inside a line (stop conditions: prompt structure, the text
  right of the cursor).

First the arms' table (as ``bench/quality.py`` prints it, from the dump: a run stopped early
gives it for the tasks it scored). Each class is counted as pipeline wins (passes where naive
fails), losses, both pass, both fail. ``--oracle`` also runs, per task, every line-prefix of
the model's answer to the naive prompt and reports the share of tasks where some cut passes:
the most any post-processing of that answer can reach.

    python bench/quality_diff.py /tmp/quality-q/single300.jsonl
    python bench/quality_diff.py /tmp/quality-q/multi300.jsonl --oracle --show 5
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _first_line(text: str) -> str:
    return next((ln for ln in text.split("\n") if ln.strip()), "").rstrip()


def _is_line_prefix(short: str, long: str) -> bool:
    a, b = short.rstrip().split("\n"), long.rstrip().split("\n")
    return len(a) < len(b) and b[:len(a)] == a


def classify(record: dict) -> str:
    arms = record["arms"]
    pipe, naive = arms["pipeline"], arms["naive"]
    p, n = pipe["text"], naive["text"]
    if p.rstrip() == n.rstrip():
        return "same text"
    if _first_line(pipe["model"]) and _first_line(naive["model"]) \
            and _first_line(pipe["model"]) != _first_line(naive["model"]):
        return "prompt"
    if not p.strip() or not n.strip():
        return "empty"
    if p.strip() == n.strip() or [ln.strip() for ln in p.split("\n")] == \
            [ln.strip() for ln in n.split("\n")]:
        return "indent"
    # the syntax cut's share: switched off, the pipeline would have kept other lines
    cut = "-syntax cut" in arms and arms["-syntax cut"]["text"].rstrip() != p.rstrip()
    tag = ", syntax cut acted" if cut else ""
    if _is_line_prefix(n, p):
        return "more lines" + tag
    if _is_line_prefix(p, n):
        return "fewer lines" + tag
    return "stop" + tag


def outcome(record: dict) -> str:
    p = record["arms"]["pipeline"]["pass"]
    n = record["arms"]["naive"]["pass"]
    if p and not n:
        return "win"
    if n and not p:
        return "loss"
    return "both pass" if p else "both fail"


def oracle(records: list[dict], data: Path, most: int = 0) -> tuple[int, int]:
    """(tasks where some line-prefix of the naive prompt's answer passes, tasks)."""
    import quality

    tasks = {}
    for which in quality.FILES:
        tasks.update({t["task_id"]: t for t in quality.load_tasks(which, 0, data)})
    hits = 0
    for r in records:
        task = tasks[r["task_id"]]
        lines = r["arms"]["naive"]["model"].split("\n")
        ok = False
        for k in range(1, min(len(lines), most or len(lines)) + 1):
            cut = "\n".join(lines[:k]).rstrip()
            if cut.strip() and quality.passes(task, cut + "\n"):
                ok = True
                break
        hits += ok
    return hits, len(records)


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def arms_table(records: list[dict]) -> str:
    """bench/quality.py's table, from the dump (also of a run stopped early)."""
    import quality

    n = len(records)
    base = sum(r["arms"]["pipeline"]["pass"] for r in records)
    rows = []
    for arm in records[0]["arms"]:
        got = [r["arms"][arm] for r in records]
        passed = sum(a["pass"] for a in got)
        chars = sum(quality.accepted_chars({"canonical_solution": r["canonical"]},
                                           r["arms"][arm]["text"]) for r in records)
        rows.append((arm, str(n), f"{sum(a['exact'] for a in got) / n:.3f}",
                     f"{passed / n:.3f}",
                     "" if arm == "pipeline" else f"{(base - passed) / n:+.3f}",
                     f"{chars / n:.1f}", f"{sum(not a['text'].strip() for a in got) / n:.3f}"))
    return _table(("arm", "tasks", "exact", "pass@1", "pipeline - arm (pass@1)",
                   "accepted chars", "empty"), rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dump", help="a bench/quality.py --dump file")
    ap.add_argument("--show", type=int, default=0, help="print N example tasks per class")
    ap.add_argument("--oracle", action="store_true",
                    help="run every line-prefix of the model's answer (slow: runs the tests)")
    ap.add_argument("--oracle-lines", type=int, default=0,
                    help="try cuts of at most N lines (0: all)")
    ap.add_argument("--data", default=None, help="the HumanEval infilling folder")
    args = ap.parse_args()
    records = [json.loads(line) for line in Path(args.dump).read_text("utf-8").splitlines()
               if line.strip()]
    if not records:
        print("no tasks in the dump", file=sys.stderr)
        return 1
    print(arms_table(records) + "\n")
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        cls = classify(r)
        counts[cls][outcome(r)] += 1
        examples[cls].append(r)
    cols = ("win", "loss", "both pass", "both fail")
    head = ("class", "tasks", *cols, "net (wins - losses)")
    rows = []
    for cls in sorted(counts, key=lambda c: (-sum(counts[c].values()), c)):
        c = counts[cls]
        rows.append((cls, str(sum(c.values())), *(str(c[k]) for k in cols),
                     f"{c['win'] - c['loss']:+d}"))
    total = Counter[str]()
    for c in counts.values():
        total.update(c)
    rows.append(("all", str(len(records)), *(str(total[k]) for k in cols),
                 f"{total['win'] - total['loss']:+d}"))
    print(_table(head, rows))
    n = len(records)
    pp = sum(r["arms"]["pipeline"]["pass"] for r in records) / n
    nv = sum(r["arms"]["naive"]["pass"] for r in records) / n
    same_call = sum(_first_line(r["arms"]["pipeline"]["model"])
                    == _first_line(r["arms"]["naive"]["model"]) for r in records)
    print(f"\npass@1 pipeline {pp:.3f}, naive {nv:.3f} ({n} tasks); the model's answer starts "
          f"with the same line in both arms on {same_call}/{n} tasks")
    if args.oracle:
        import quality

        hits, total_n = oracle(records, Path(args.data) if args.data else quality.DATA,
                               args.oracle_lines)
        most = f" of at most {args.oracle_lines} lines" if args.oracle_lines else ""
        print(f"oracle: some line-prefix{most} of the naive prompt's answer passes on "
              f"{hits}/{total_n} tasks ({hits / total_n:.3f}): the ceiling of any such cut")
    for cls, recs in examples.items():
        for r in recs[:args.show]:
            a = r["arms"]
            print(f"\n[{cls}] {r['task_id']} ({outcome(r)})\n  canonical: {r['canonical']!r}"
                  f"\n  pipeline:  {a['pipeline']['text']!r}\n  naive:     {a['naive']['text']!r}"
                  f"\n  model:     {a['naive']['model'][:160]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
