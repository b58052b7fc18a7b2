"""Typing-replay latency benchmark: the real server over stdio, as an editor drives it.

A real function from a real file is typed character by character into the file (the code after
it stays in place as the suffix); every ``--every`` characters the client asks for an inline
completion, as an editor does after its debounce, and waits for the answer. Printed: latency
p50/p95/p99, prompt tokens evaluated per request (the KV-cache reuse), cache hits, and a floor
line measured on the same model and threads (prefill and decode speed of the bare runtime).

If a llama.cpp ``llama-server`` binary is given (``--llama-server PATH`` or env LLAMA_SERVER), the
same typing session is also sent to it the way llama.vscode does (``/infill`` with input_extra,
input_prefix, prompt = current line, input_suffix, cache_prompt, n_cache_reuse 256, id_slot 0).

    python bench/latency.py                      # embedded Gemma, prefix mode
    python bench/latency.py --model fim          # Gemma copy with FIM ids: the FIM path
    python bench/latency.py --model shift        # tiny random Llama with FIM ids: its cache
                                                 # can shift, so chunks after the edit are moved
    python bench/latency.py --first --baseline REV   # first suggestion after opening a file,
                                                 # this tree against the server at git REV
    python bench/latency.py --first --cursor-report  # ... the cursor reported, as VS Code does

``--first``: the time from opening a file to its first suggestion, asked ``--think`` seconds
after the open (a user's first keystroke): cold (a fresh server, the model loads) and warm (the
same server, model loaded, a second file opened); and the request after it, ``--think`` seconds
later, one character on; then one more character and a request back in the first file. With
``--baseline REV`` the server at that commit runs the same steps in the same invocation, so the
two compare on one loaded machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))

from offpilot.cli.demo import make_client  # noqa: E402


@dataclass
class Session:
    """A file being written: ``body`` is typed at ``insert_at`` of ``base``."""

    path: str
    base: str
    insert_at: int
    body: str
    extra_path: str = ""
    extra: str = ""


def pick_session(prefix_chars: int, suffix_chars: int, body_chars: int) -> Session:
    """A real function from the standard library, typed into its own file."""
    import textwrap  # noqa: F401  (its source is the text we replay)

    src_path = Path(inspect.getsourcefile(__import__("textwrap")) or "")
    text = src_path.read_text(encoding="utf-8")
    start = text.index("    def _wrap_chunks(self, chunks):")
    end = start + body_chars
    end = text.index("\n", end) + 1
    body = text[start:end]
    before = text[max(0, start - prefix_chars):start]
    before = before[before.find("\n") + 1:]
    after = text[end:end + suffix_chars]
    extra_path = Path(inspect.getsourcefile(__import__("shlex")) or "")
    extra = extra_path.read_text(encoding="utf-8")[:3000]
    return Session(path="textwrap_copy.py", base=before + after, insert_at=len(before),
                   body=body, extra_path="shlex_copy.py", extra=extra)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q / 100 * (len(s) - 1))))
    return s[k]


@dataclass
class Run:
    name: str
    latencies: list[float] = field(default_factory=list)
    evaluated: list[int] = field(default_factory=list)
    cache_hits: int = 0
    empty: int = 0


def _position(text: str, offset: int) -> types.Position:
    before = text[:offset]
    line = before.count("\n")
    return types.Position(line=line, character=len(before) - (before.rfind("\n") + 1))


async def replay_offpilot(session: Session, model: str, every: int, threads: int,
                          extra_settings: dict) -> Run:
    work = Path(tempfile.mkdtemp(prefix="offpilot-bench-"))
    try:
        (work / session.extra_path).write_text(session.extra, encoding="utf-8")
        path = work / session.path
        path.write_text(session.base, encoding="utf-8")
        client = make_client(work)
        env = dict(os.environ, OFFPILOT_MODEL=model, OFFPILOT_THREADS=str(threads))
        await client.start_io(sys.executable, "-m", "offpilot", "serve", "--log-level",
                              "warning", env=env)
        settings = {"debounceMs": 0, "maxTokens": 16, **extra_settings}
        await client.initialize_async(types.InitializeParams(
            process_id=os.getpid(), root_uri=work.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=work.as_uri(), name="bench")],
            initialization_options=settings,
            capabilities=types.ClientCapabilities()))
        client.initialized(types.InitializedParams())
        uri = path.as_uri()
        text = session.base
        version = 1
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python",
                                                 version=version, text=text)))
        # Open the other file too, as a user would have it in a tab (similar-chunk context).
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=(work / session.extra_path).as_uri(),
                                                 language_id="python", version=1,
                                                 text=session.extra)))
        run = Run("offpilot")
        cursor = session.insert_at
        # warm-up: load the model and evaluate the file once (not measured)
        await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=_position(text, cursor),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
        # A server that answered it from a quick prompt evaluates the whole prompt in the
        # background: wait for that too, so the replay measures typing on an evaluated file
        # (the first requests after an open are what ``--first`` measures).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            before = await client.protocol.send_request_async("offpilot/stats", None)
            comp = _get(before, "completion")
            if not _get(comp, "shortPrompts") or _get(comp, "promptTokensWarmed"):
                break
            await asyncio.sleep(0.1)
        n_before = len(_get(_get(before, "completion"), "promptTokensEvaluated") or [])
        for i, ch in enumerate(session.body, 1):
            pos = _position(text, cursor)
            text = text[:cursor] + ch + text[cursor:]
            cursor += 1
            version += 1
            client.text_document_did_change(types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangePartial(
                    range=types.Range(start=pos, end=pos), text=ch)]))
            if i % every:
                continue
            t0 = time.perf_counter()
            res = await client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=_position(text, cursor),
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
            run.latencies.append(time.perf_counter() - t0)
            items = res.items if res is not None and hasattr(res, "items") else (res or [])
            run.empty += 0 if items else 1
        stats = await client.protocol.send_request_async("offpilot/stats", None)
        comp = _get(stats, "completion")
        run.evaluated = list(_get(comp, "promptTokensEvaluated") or [])[n_before:]
        run.cache_hits = int(_get(comp, "cacheHits") or 0)
        await client.shutdown_async(None)
        client.exit(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop(), timeout=10)
        return run
    finally:
        shutil.rmtree(work, ignore_errors=True)


def stop_services(run_dir: Path) -> None:
    """SIGTERM the shared model services listening in ``run_dir`` (found in /proc)."""
    sock = str(run_dir / "offpilot" / "model-").encode()  # model-<installation>.sock
    pids = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            if entry.isdigit() and b"offpilot.engine.service" in argv \
                    and any(a.startswith(sock) for a in argv):
                pids.append(int(entry))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.05)


async def first_suggestion(session: Session, model: str, threads: int, src: Path,
                           think: float, cursor_report: str = "") -> dict[str, float]:
    """Seconds from opening a file to its first suggestion: cold (a fresh server) and warm
    (the same server, model loaded, another file opened). Each run has a runtime directory of
    its own: a server with ``sharedModel`` on starts a service of its own there (cold), never
    one left by another run or the user's editors. ``cursor_report``: the client says where
    the cursor is once it has settled for 0.3 s after the file opened: "notification"
    (``offpilot/cursor``, as the VS Code extension does) or "code-action" (a request for the
    code actions at an empty range, as editors showing a light bulb do)."""
    work = Path(tempfile.mkdtemp(prefix="offpilot-bench-"))
    run_dir = Path(tempfile.mkdtemp(prefix="op-bench-"))
    out: dict[str, float] = {}
    try:
        path, other = work / session.path, work / session.extra_path
        path.write_text(session.base, encoding="utf-8")
        other.write_text(session.extra, encoding="utf-8")
        client = make_client(work)
        env = dict(os.environ, OFFPILOT_MODEL=model, OFFPILOT_THREADS=str(threads),
                   PYTHONPATH=str(src), XDG_RUNTIME_DIR=str(run_dir))
        await client.start_io(sys.executable, "-m", "offpilot", "serve", "--log-level",
                              "warning", env=env)
        t_start = time.perf_counter()
        await client.initialize_async(types.InitializeParams(
            process_id=os.getpid(), root_uri=work.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=work.as_uri(), name="bench")],
            initialization_options={"debounceMs": 0, "maxTokens": 16},
            capabilities=types.ClientCapabilities()))
        client.initialized(types.InitializedParams())
        middle = session.extra.index("\n", len(session.extra) // 2) + 1
        at0 = session.insert_at
        for name, file, text, at in (("cold", path, session.base, session.insert_at),
                                     ("warm", other, session.extra, middle)):
            uri = file.as_uri()
            t_open = time.perf_counter()
            client.text_document_did_open(types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                                     text=text)))
            if cursor_report and think > CURSOR_SETTLE:
                await asyncio.sleep(CURSOR_SETTLE)
                pos = _position(text, at)
                if cursor_report == "code-action":
                    await client.text_document_code_action_async(types.CodeActionParams(
                        text_document=types.TextDocumentIdentifier(uri=uri),
                        range=types.Range(start=pos, end=pos),
                        context=types.CodeActionContext(
                            diagnostics=[],
                            trigger_kind=types.CodeActionTriggerKind.Automatic)))
                else:
                    client.protocol.notify("offpilot/cursor", {
                        "textDocument": {"uri": uri},
                        "position": {"line": pos.line, "character": pos.character}})
                await asyncio.sleep(max(0.0, think - (time.perf_counter() - t_open)))
            else:
                await asyncio.sleep(think)
            t_ask = time.perf_counter()
            await client.text_document_inline_completion_async(types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=_position(text, at),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
            t_done = time.perf_counter()
            out[f"{name} open"] = t_done - t_open
            out[f"{name} request"] = t_done - t_ask
            # The next keystroke, ``think`` seconds later: "#" (no suggestion starts with it,
            # so no cache hit), then a request there.
            await asyncio.sleep(think)
            out[f"{name} next request"] = await _type_and_ask(client, uri, 2,
                                                               _position(text, at))
            if name == "cold":
                out["cold start"] = t_done - t_start
                await asyncio.sleep(2.0)  # the prefetch and warm-ups after it settle
        # Back to the first file, whose whole prompt the second file's replaced: one more
        # "#" where the cursor was, then a request there.
        await asyncio.sleep(think)
        out["back in the first file"] = await _type_and_ask(
            client, path.as_uri(), 3, _position(session.base[:at0] + "#", at0 + 1))
        await client.shutdown_async(None)
        client.exit(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop(), timeout=10)
        return out
    finally:
        stop_services(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


async def _type_and_ask(client: LanguageClient, uri: str, version: int,
                        pos: types.Position) -> float:
    """Type "#" at ``pos`` (one line), then ask for a suggestion after it: seconds to the answer."""
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=pos, end=pos), text="#")]))
    t0 = time.perf_counter()
    await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=pos.line, character=pos.character + 1),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
    return time.perf_counter() - t0


CURSOR_SETTLE = 0.3  # the VS Code extension's pause before it reports the cursor


def first_table(arms: dict[str, dict[str, float]]) -> str:
    keys = ["cold start", "cold open", "cold request", "cold next request", "warm open",
            "warm request", "warm next request", "back in the first file"]
    names = list(arms)
    rows = [("first suggestion, s", *names)]
    if len(names) == 2:
        rows[0] = (*rows[0], f"{names[1]}/{names[0]}")
    for k in keys:
        vals = [arms[n][k] for n in names]
        row = (k, *(f"{v:.3f}" for v in vals))
        if len(names) == 2:
            row = (*row, f"{vals[1] / vals[0]:.2f}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def baseline_source(rev: str) -> Path:
    """The server package at git ``rev``, unpacked into a temporary folder (the repository is
    only read)."""
    dst = Path(tempfile.mkdtemp(prefix="offpilot-baseline-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "server"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dst)], input=archive, check=True)
    return dst / "server"


def _get(obj, key):
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replay_llama_server(binary: str, model: str, session: Session, every: int,
                        threads: int) -> Run:
    """llama.vscode's request shape against llama.cpp's own server, same typing session."""
    port = _free_port()
    proc = subprocess.Popen([binary, "-m", model, "-t", str(threads), "-c", "4096", "-b", "1024",
                             "--cache-reuse", "256", "-np", "1", "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit(f"llama-server exited with status {proc.returncode} before it "
                                 f"was ready (run it by hand to see why: {binary} -m {model})")
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        fim = _has_fim(base)
        run = Run("llama-server /infill (llama.vscode shape)" if fim else
                  "llama-server /completion, cache_prompt")
        text = session.base
        cursor = session.insert_at
        extra = [{"filename": session.extra_path, "text": session.extra}]
        start = text.find("\n", max(0, cursor - 2500)) + 1 if cursor > 2500 else 0
        for i, ch in enumerate(session.body, 1):
            text = text[:cursor] + ch + text[cursor:]
            cursor += 1
            if i % every:
                continue
            line_start = text.rfind("\n", 0, cursor) + 1
            body = {"input_extra": extra, "input_prefix": text[:line_start][-2500:],
                    "prompt": text[line_start:cursor], "input_suffix": text[cursor:][:1500],
                    "n_predict": 16, "cache_prompt": True, "n_cache_reuse": 256, "id_slot": 0,
                    "top_k": 40, "top_p": 0.99, "samplers": ["top_k", "top_p", "infill"],
                    "stream": False}
            if not fim:  # no FIM tokens: the same content as one plain prompt
                # the window starts where it did at the first request, as a client that keeps
                # its prompt stable would do (so cache_prompt can reuse the prefix)
                body = {"prompt": f"{session.extra}\n{text[start:cursor]}", "n_predict": 16,
                        "cache_prompt": True, "n_cache_reuse": 256, "id_slot": 0,
                        "stream": False}
            t0 = time.perf_counter()
            req = urllib.request.Request(base + ("/infill" if fim else "/completion"),
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=120) as r:
                out = json.loads(r.read())
            run.latencies.append(time.perf_counter() - t0)
            run.evaluated.append(int(out.get("timings", {}).get("prompt_n", 0)))
        return run
    finally:
        proc.terminate()
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)


def _has_fim(base: str) -> bool:
    """Whether the server's model has FIM tokens (/infill answers 501 otherwise)."""
    body = json.dumps({"input_prefix": "a", "input_suffix": "b", "n_predict": 1}).encode()
    req = urllib.request.Request(base + "/infill", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60):
            return True
    except urllib.error.HTTPError:
        return False


def floor_line(model: str, threads: int) -> tuple[float, float]:
    """Prefill and decode tokens/s of the bare runtime (llama-bench style) on this model."""
    code = f"""
import time, json
from offpilot.engine.runtime import LlamaRuntime, GenerateParams
rt = LlamaRuntime(); rt.load({model!r}, n_ctx=4096, n_threads={threads})
text = open({inspect.getsourcefile(__import__('textwrap'))!r}).read()[:6000]
toks = rt.tokenize(text)[:512]
never = lambda: False
p = GenerateParams(segments=[{{"token": t}} for t in toks], add_bos=False, warm_only=True)
t0 = time.perf_counter(); list(rt.generate(p, never)); t1 = time.perf_counter()
rt.sequences[0].tokens = []
import llama_cpp; llama_cpp.llama_memory_seq_rm(rt.mem, 0, -1, -1)
g = GenerateParams(segments=[{{"token": t}} for t in toks[:16]], add_bos=False, max_tokens=64,
                   time_limit=0)
steps = list(rt.generate(g, never)); res = steps[-1].result
print(json.dumps({{"prefill": len(toks) / (t1 - t0),
                  "decode": res["generated_tokens"] / (res["generate_ms"] / 1000)}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO / "server")), check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["prefill"], data["decode"]


def llama_bench_line(binary: str, model: str, threads: int) -> tuple[float, float] | None:
    """llama-bench's prefill (pp512) and decode (tg64) tokens/s, the runtime's reference."""
    try:
        out = subprocess.run([binary, "-m", model, "-t", str(threads), "-p", "512", "-n", "64",
                              "-r", "3", "-o", "json"], capture_output=True, text=True,
                             timeout=600, check=True)
        rows = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        print(f"llama-bench failed: {exc}", file=sys.stderr)
        return None
    speed = {("pp" if r.get("n_prompt") else "tg"): float(r["avg_ts"]) for r in rows}
    return speed.get("pp", float("nan")), speed.get("tg", float("nan"))


def parity_table(runtime: tuple[float, float], bench: tuple[float, float]) -> str:
    lines = ["engine parity      offpilot runtime  llama-bench  ratio",
             "-----------------  ----------------  -----------  -----"]
    for name, ours, theirs in (("prefill (512 tok)", runtime[0], bench[0]),
                               ("decode (64 tok)", runtime[1], bench[1])):
        lines.append(f"{name:<17}  {ours:>12.1f} t/s  {theirs:>7.1f} t/s  {ours / theirs:>5.2f}")
    return "\n".join(lines)


def model_path(name: str) -> str:
    from gguf_edit import GEMMA_UNUSED_FIM_IDS, edited_copy, gemma_copy

    if name in ("gemma", "fim"):
        return str(gemma_copy(name))
    if name == "shift":  # same tokenizer as Gemma, so the prompts are token for token equal
        sys.path.insert(0, str(REPO))
        from tests.model.tiny_llama import write_tiny_llama

        work = Path(tempfile.gettempdir()) / "offpilot-bench"
        src = work / "tiny-llama.gguf"
        if not src.exists():
            write_tiny_llama(src)
        dst = work / "tiny-llama-fim.gguf"
        if not dst.exists():
            edited_copy(src, dst, fim_ids=GEMMA_UNUSED_FIM_IDS)
        return str(dst)
    return name


def table(runs: list[Run], floor: tuple[float, float] | None, n_predict: int) -> str:
    rows = [("stack", "requests", "p50 s", "p95 s", "p99 s", "median eval tok", "mean eval tok",
             "max eval tok", "cache hits", "empty")]
    for r in runs:
        ev = statistics.median(r.evaluated) if r.evaluated else float("nan")
        mean = statistics.mean(r.evaluated) if r.evaluated else float("nan")
        top = max(r.evaluated) if r.evaluated else float("nan")
        rows.append((r.name, str(len(r.latencies)), f"{percentile(r.latencies, 50):.3f}",
                     f"{percentile(r.latencies, 95):.3f}", f"{percentile(r.latencies, 99):.3f}",
                     f"{ev:.0f}", f"{mean:.0f}", f"{top:.0f}", str(r.cache_hits), str(r.empty)))
    if floor:
        prefill, decode = floor
        est = n_predict / decode + 8 / prefill
        rows.append((f"floor ({prefill:.0f} tok/s prefill, {decode:.0f} tok/s decode)", "-",
                     f"{est:.3f}", "-", "-", "-", "-", "-", "-", "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="gemma", help="gemma | fim | shift | PATH.gguf")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--every", type=int, default=30, help="characters typed between requests")
    ap.add_argument("--body-chars", type=int, default=600)
    ap.add_argument("--prefix-chars", type=int, default=2500)
    ap.add_argument("--suffix-chars", type=int, default=1500)
    ap.add_argument("--llama-server", default=os.environ.get("LLAMA_SERVER", ""))
    ap.add_argument("--no-floor", action="store_true")
    ap.add_argument("--llama-bench", default=os.environ.get("LLAMA_BENCH", ""),
                    help="llama.cpp's llama-bench (default: beside --llama-server): prints the "
                         "runtime's prefill/decode speed next to llama-bench's")
    ap.add_argument("--first", action="store_true",
                    help="time the first suggestion after opening a file, cold and warm")
    ap.add_argument("--baseline", default="", help="with --first: also the server at this git rev")
    ap.add_argument("--think", type=float, default=1.0,
                    help="with --first: seconds between opening a file and the first request")
    ap.add_argument("--cursor-report", nargs="?", const="notification", default="",
                    choices=["notification", "code-action"],
                    help="with --first: the client reports the cursor 0.3 s after the open, as "
                         "the VS Code extension does (offpilot/cursor), or by asking for the "
                         "code actions there (code-action: a light bulb)")
    args = ap.parse_args()
    model = model_path(args.model)
    session = pick_session(args.prefix_chars, args.suffix_chars, args.body_chars)
    if args.first:
        arms: dict[str, Path] = {}
        if args.baseline:
            arms[args.baseline] = baseline_source(args.baseline)
        arms["this tree"] = REPO / "server"
        got = {name: asyncio.run(first_suggestion(session, model, args.threads, src, args.think,
                                                  args.cursor_report))
               for name, src in arms.items()}
        print(f"model {Path(model).name}, {args.threads} threads, first request "
              f"{args.think:.1f} s after the open"
              + (f", the cursor reported 0.3 s after the open ({args.cursor_report})"
                 if args.cursor_report else ""))
        print(first_table(got))
        return 0
    print(f"model {Path(model).name}, {args.threads} threads, a request every {args.every} "
          f"characters while typing {len(session.body)} characters", file=sys.stderr)
    runs = [asyncio.run(replay_offpilot(session, model, args.every, args.threads, {}))]
    if args.llama_server:
        runs.append(replay_llama_server(args.llama_server, model, session, args.every,
                                        args.threads))
    floor = None if args.no_floor else floor_line(model, args.threads)
    print(table(runs, floor, 16))
    bench = args.llama_bench or (str(Path(args.llama_server).with_name("llama-bench"))
                                 if args.llama_server else "")
    if floor and bench and Path(bench).is_file():
        reference = llama_bench_line(bench, model, args.threads)
        if reference:
            print()
            print(parity_table(floor, reference))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
