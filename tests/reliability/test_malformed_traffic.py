"""Property-based LSP sessions of malformed traffic against the real server.

Every request must get a reply (a result or a proper JSON-RPC error) and the server must stay
up, whatever the params: wrong shapes, negative or huge positions, unknown URIs and methods,
invalid JSON, huge payloads, lone surrogates, notifications sent with ids. The model is
configured missing so the run stays fast; the model setting is fuzzed separately with fewer
messages. ``OFFPILOT_FUZZ_MESSAGES`` (default 10,000) is the number of messages sent by the two
property tests together.

Shrinking is off: all examples talk to one server, whose state carries over from example to
example, so a failure cannot be reduced to one example; the failing request is printed instead.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.reliability.rpc import RawServer, clean_env, items_of

MESSAGES = int(os.environ.get("OFFPILOT_FUZZ_MESSAGES", "10000"))
PER_EXAMPLE = 50
MODEL_SHARE = 0.05  # of MESSAGES, for the model-setting fuzz
MODEL_PER_EXAMPLE = 7


@dataclass(frozen=True)
class Big:
    """A long string, sent as ``text * count`` (keeps Hypothesis' reports short)."""

    text: str
    count: int

    def __repr__(self) -> str:
        return f"Big({self.text[:12]!r} * {self.count})"


def encode_big(obj: Any) -> Any:
    if isinstance(obj, Big):
        return obj.text * obj.count
    raise TypeError(f"cannot encode {type(obj).__name__}")


METHODS = [
    "textDocument/inlineCompletion", "textDocument/codeAction", "workspace/executeCommand",
    "offpilot/stats", "offpilot/context", "textDocument/hover", "no/such/method",
    "$/unknownRequest",
]
NOTIFICATIONS = [
    "textDocument/didOpen", "textDocument/didChange", "textDocument/didClose",
    "textDocument/didSave", "workspace/didChangeConfiguration", "$/cancelRequest",
    "$/setTrace", "no/such/notification",
]
FIFO = Path("/tmp/offpilot-fuzz/fifo.py")  # reading it blocks until a writer comes
URIS = ["file:///tmp/fuzz/a.py", "file:///tmp/fuzz/b.js", "untitled:Untitled-1", "", "not a uri",
        "file:///tmp/fuzz/%ZZ.py", "file:///nonexistent/ü/ß.rs", FIFO.as_uri(),
        "file:///tmp/fuzz/a.py?query#frag"]

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                      st.floats(allow_nan=False), st.text(max_size=30))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=6)
position = st.one_of(
    st.fixed_dictionaries({"line": st.integers(-5, 10**7), "character": st.integers(-5, 10**7)}),
    st.fixed_dictionaries({"line": st.integers(0, 60), "character": st.integers(0, 300)}),
    json_value)
rng = st.one_of(st.fixed_dictionaries({"start": position, "end": position}), st.none(),
                json_value)
uri = st.sampled_from(URIS)
text_doc = st.fixed_dictionaries({"uri": uri})
doc_text = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["def f(x):\n    return x\n", "é🙂\n" * 50, "\udcff\ud800 lone surrogates\n",
                     "\r\n\r\r\n\u2028\u2029\x00\x1b[31m", "((((((((((", "}" * 300]),
    st.sampled_from([Big("x", 200_000), Big("[", 10_000), Big("a = 1\n", 20_000)]))


def params_for(method: str) -> st.SearchStrategy:
    shaped = {
        "textDocument/inlineCompletion": st.fixed_dictionaries({
            "textDocument": text_doc, "position": position,
            "context": st.one_of(st.fixed_dictionaries({"triggerKind": st.integers(-1, 3)}),
                                 json_value)}),
        "textDocument/codeAction": st.fixed_dictionaries({
            "textDocument": text_doc, "range": rng,
            "context": st.one_of(st.just({"diagnostics": []}), json_value)}),
        "workspace/executeCommand": st.fixed_dictionaries({
            "command": st.sampled_from(["offpilot.explain", "offpilot.generateTests", "nope"]),
            "arguments": st.one_of(st.lists(json_value, max_size=2), st.just(
                [{"uri": "file:///tmp/fuzz/a.py", "range": None}]))}),
        "offpilot/context": st.fixed_dictionaries({"textDocument": text_doc,
                                                   "position": position}),
        "textDocument/didOpen": st.fixed_dictionaries({"textDocument": st.fixed_dictionaries({
            "uri": uri, "languageId": st.sampled_from(["python", "javascript", "rust", "",
                                                       "klingon"]),
            "version": st.integers(-3, 2**31), "text": doc_text})}),
        "textDocument/didChange": st.fixed_dictionaries({
            "textDocument": st.fixed_dictionaries({"uri": uri,
                                                   "version": st.integers(-3, 2**31)}),
            "contentChanges": st.lists(st.one_of(
                st.fixed_dictionaries({"range": rng, "text": doc_text}),
                st.fixed_dictionaries({"text": doc_text}), json_value), max_size=3)}),
        "textDocument/didClose": st.fixed_dictionaries({"textDocument": text_doc}),
        "workspace/didChangeConfiguration": st.fixed_dictionaries({"settings": json_value}),
        "$/cancelRequest": st.fixed_dictionaries({"id": st.one_of(st.integers(-1, 10**6),
                                                                  st.text(max_size=4))}),
    }
    return st.one_of(shaped.get(method, json_value), json_value, st.none())


PARAMS = {m: params_for(m) for m in {*METHODS, *NOTIFICATIONS}}  # built once: it is costly


# "@ID@" becomes a fresh id; the first three must be answered (InvalidRequest or a result).
ANSWERED_GARBAGE = [
    b'{"id": "@ID@", "method": "x"}',
    b'{"jsonrpc": "1.0", "id": "@ID@", "method": "offpilot/stats"}',
    b'{"jsonrpc": "2.0", "id": "@ID@", "method": "offpilot/stats", "params": null, "params": 1}',
]
GARBAGE = [
    *ANSWERED_GARBAGE, b"{not json", b"[]", b"null", b"\xff\xfe", b'{"jsonrpc": "2.0"}',
    b'{"jsonrpc": "2.0", "id": {"nested": 1}, "method": "offpilot/stats"}',
    b'{"jsonrpc": "2.0", "id": true, "method": "offpilot/stats"}',
    b'{"jsonrpc": "2.0", "id": "@ID@", "result": null}',
    b'[{"jsonrpc": "2.0", "id": "@ID@", "method": "offpilot/stats"}]',
]
GARBAGE_IDS = itertools.count(1)
HUGE = json.dumps({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
    "textDocument": {"uri": "file:///tmp/fuzz/huge.py", "languageId": "python", "version": 1,
                     "text": "a = 1\n" * 200_000}}}).encode()


@st.composite
def message(draw: st.DrawFn) -> tuple[str, object]:
    kind = draw(st.sampled_from(["request"] * 4 + ["notification"] * 4
                                + ["notification_with_id", "garbage"]))
    if kind == "garbage":
        if draw(st.integers(0, 19)) == 0:
            return ("bytes", "HUGE")
        return ("bytes", draw(st.sampled_from(GARBAGE)))
    if kind == "request":
        method = draw(st.sampled_from(METHODS))
        return ("request", (method, draw(PARAMS[method])))
    method = draw(st.sampled_from(NOTIFICATIONS))
    if kind == "notification_with_id":
        return ("request", (method, draw(PARAMS[method])))
    return ("notification", (method, draw(PARAMS[method])))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz-root")
    (folder / "a.py").write_text("def f(x):\n    return x\n", encoding="utf-8")
    (folder / "b.js").write_text("export function g(y) { return y; }\n", encoding="utf-8")
    FIFO.parent.mkdir(exist_ok=True)
    if not FIFO.exists():
        os.mkfifo(FIFO)
    return folder


@pytest.fixture(scope="module")
def server(root: Path):
    srv = RawServer(clean_env(OFFPILOT_MODEL=str(root / "missing.gguf"),
                              OFFPILOT_CACHE_DIR=str(root.parent / "fuzz-cache")),
                    encode=encode_big)
    srv.initialize(root)
    yield srv
    srv.close()


def _check_reply(reply: dict | None, msg_id: object, sent: dict | None = None) -> None:
    assert reply is not None, f"request {msg_id!r} was never answered: {str(sent)[:500]}"
    assert ("result" in reply) != ("error" in reply), reply
    if "error" in reply:
        assert isinstance(reply["error"].get("code"), int), reply
        assert isinstance(reply["error"].get("message"), str), reply


def _still_serving(server: RawServer) -> None:
    assert server.alive(), "the server exited"
    result = server.call("offpilot/stats", timeout=30)
    assert isinstance(result, dict) and "completion" in result


FUZZ_SETTINGS = dict(deadline=None, derandomize=True, database=None,
                     phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.function_scoped_fixture])


@settings(max_examples=max(1, round(MESSAGES * (1 - MODEL_SHARE)) // PER_EXAMPLE),
          **FUZZ_SETTINGS)
@given(batch=st.lists(message(), min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
def test_every_request_is_answered_and_the_server_stays_up(server: RawServer, batch) -> None:
    sent = []
    for kind, payload in batch:
        if kind == "bytes" and payload == "HUGE":
            server.send_bytes(HUGE)
        elif kind == "bytes":
            msg_id = f"g-{next(GARBAGE_IDS)}"
            server.send_bytes(payload.replace(b"@ID@", msg_id.encode()))
            if payload in ANSWERED_GARBAGE:
                sent.append(msg_id)
                server.sent[msg_id] = {"raw": payload}
        elif kind == "request":
            method, params = payload
            sent.append(server.request(method, params))
        else:
            method, params = payload
            server.notify(method, params)
    for msg_id in sent:
        _check_reply(server.wait_reply(msg_id, 60), msg_id, server.sent.get(msg_id))
    _still_serving(server)


BAD_MODEL_FILES = {
    "empty.gguf": b"", "text.gguf": b"hello, I am not a model\n",
    "magic-only.gguf": b"GGUF", "truncated.gguf": b"GGUF\x03\x00\x00\x00" + b"\x00" * 64,
    "garbage.gguf": bytes(range(256)) * 16,
}


@pytest.fixture(scope="module")
def model_values(root: Path) -> list[str]:
    folder = root.parent / "bad-models"
    folder.mkdir(exist_ok=True)
    for name, data in BAD_MODEL_FILES.items():
        (folder / name).write_bytes(data)
    (folder / "a-directory.gguf").mkdir(exist_ok=True)
    fifo = folder / "fifo.gguf"
    if not fifo.exists():
        os.mkfifo(fifo)
    return [str(folder / n) for n in [*BAD_MODEL_FILES, "a-directory.gguf", "fifo.gguf",
                                      "missing.gguf"]] + [
        "/dev/zero", "/dev/null", "/", "~", "~/no-such-model.gguf", "../../../etc/passwd",
        "owner/repo/file.gguf", "hf://nobody/nothing", "qwen9-unknown", "model\x00.gguf",
        "C:\\models\\x.gguf", "ü🙂.gguf", "x" * 5000]


def model_setting(values: list[str]) -> st.SearchStrategy:
    from offpilot.engine.models import EMBEDDED_DEFAULT, PROFILES

    def not_a_profile(name: str) -> bool:
        # An empty value or a profile name could be a model that works: not what is fuzzed.
        s = name.strip()
        return bool(s) and s != EMBEDDED_DEFAULT and s not in PROFILES \
            and s.lower() not in PROFILES

    # Only strings: a value of another type is replaced by the default, the embedded model.
    return st.one_of(st.sampled_from(values),
                     st.text(min_size=1, max_size=40).filter(not_a_profile))


@settings(max_examples=max(1, round(MESSAGES * MODEL_SHARE) // MODEL_PER_EXAMPLE),
          **FUZZ_SETTINGS)
@given(data=st.data())
def test_any_model_setting_leaves_completions_empty_and_the_server_up(
        server: RawServer, model_values: list[str], data: st.DataObject) -> None:
    value = data.draw(model_setting(model_values), label="model")
    kind = data.draw(st.sampled_from(["model", "chatModel", "both"]), label="setting")
    server.configure({"model": value} if kind == "model" else {"chatModel": value}
                     if kind == "chatModel" else {"model": value, "chatModel": value})
    uri = "file:///tmp/fuzz/model.py"
    server.open(uri, "def f(x):\n    return \n")
    # 7 messages an example: configuration, the answer to its pull, stats (in configure),
    # didOpen, completion, stats, didClose
    rid = server.request("textDocument/inlineCompletion",
                         {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 11},
                          "context": {"triggerKind": 1}})
    reply = server.wait_reply(rid, 60)
    _check_reply(reply, rid, server.sent.get(rid))
    assert reply is not None and "result" in reply, reply
    assert items_of(reply["result"]) == []
    _still_serving(server)
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_invalid_params_get_invalid_params_errors(server: RawServer) -> None:
    cases = [
        {"textDocument": {"uri": "file:///tmp/fuzz/a.py"}, "position": {"line": -1,
                                                                         "character": 0}},
        {"textDocument": {"uri": "file:///tmp/fuzz/a.py"}, "position": None},
        ["wrong", "shape"],
    ]
    for params in cases:
        rid = server.request("textDocument/inlineCompletion", params)
        reply = server.wait_reply(rid, 30)
        assert reply is not None and reply.get("error", {}).get("code") == -32602, reply


def test_notification_sent_with_an_id_gets_invalid_request(server: RawServer) -> None:
    rid = server.request("textDocument/didClose", {"textDocument": {"uri": "file:///x.py"}})
    reply = server.wait_reply(rid, 30)
    assert reply is not None and reply["error"]["code"] == -32600, reply


def test_request_that_is_not_json_rpc_2_gets_invalid_request(server: RawServer) -> None:
    server.send_bytes(b'{"jsonrpc": "1.0", "id": "old-1", "method": "offpilot/stats"}')
    server.send_bytes(b'{"id": "old-2", "method": "offpilot/stats"}')
    for msg_id in ("old-1", "old-2"):
        reply = server.wait_reply(msg_id, 30)
        assert reply is not None and reply["error"]["code"] == -32600, reply


def test_unparsable_body_gets_a_parse_error(server: RawServer) -> None:
    server.replies.pop(None, None)
    server.send_bytes(b"{this is not json")
    rid = server.request("offpilot/stats")
    assert server.wait_reply(rid, 30) is not None  # answered in order, after the bad body
    assert server.replies[None]["error"]["code"] == -32700


def test_unknown_method_is_method_not_found(server: RawServer) -> None:
    rid = server.request("offpilot/noSuchThing", {})
    reply = server.wait_reply(rid, 30)
    assert reply is not None and reply["error"]["code"] == -32601


def test_requests_after_shutdown_get_invalid_request(root: Path) -> None:
    srv = RawServer(clean_env(OFFPILOT_MODEL=str(root / "missing.gguf"),
                              OFFPILOT_INDEX_ENABLED="false"))
    try:
        srv.initialize(None)
        assert srv.call("shutdown", timeout=30) is None
        rid = srv.request("offpilot/stats")
        reply = srv.wait_reply(rid, 30)
        assert reply is not None and reply["error"]["code"] == -32600, reply
        srv.notify("exit")
        assert srv.proc.wait(timeout=10) == 0
    finally:
        if srv.alive():
            srv.proc.kill()
            srv.proc.wait()
