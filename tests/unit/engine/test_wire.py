"""The worker protocol's typed messages: what goes out comes back, and bad lines say why."""

from __future__ import annotations

import dataclasses
import json

import pytest
from offpilot.engine import wire


@pytest.mark.parametrize("msg", [
    wire.Load(path="/m.gguf", id=1, n_ctx=2048, n_seq=8),
    wire.Generate(segments=[{"text": "def f():"}, {"token": 3}], id=2,
                  priority=wire.PRIORITY_COMPLETION, stop=["\n\n"], temperature=0.2,
                  cache_reuse=0),
    wire.Tokenize(id="t", text="héllo"), wire.Cancel(id=4), wire.Shutdown(),
    wire.Status(id=5), wire.Crash(id=0),
])
def test_requests_round_trip(msg: wire.Request):
    line = wire.encode(msg)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and line.isascii()
    assert wire.decode_request(line) == msg


@pytest.mark.parametrize("msg", [
    wire.Ready(pid=42), wire.Text(id=1, text="x = 1\n"),
    wire.Done(id=1, result={"text": "", "prompt_tokens": 3}), wire.Error(id=None, message="no"),
])
def test_events_round_trip(msg: wire.Event):
    assert wire.decode_event(wire.encode(msg)) == msg


def test_generate_carries_exactly_the_runtime_parameters():
    pytest.importorskip("llama_cpp")
    from offpilot.engine.runtime import GenerateParams

    msg = wire.Generate(segments=[{"text": "a"}], cache_reuse=None)
    names = {f.name for f in dataclasses.fields(GenerateParams)}
    assert set(msg.params()) == names - {"cache_reuse"}  # None: the runtime's default
    assert {f.name for f in dataclasses.fields(wire.Generate)} == names | {"id", "priority"}
    GenerateParams(**wire.Generate(segments=[], cache_reuse=4).params())


@pytest.mark.parametrize(("line", "says"), [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a JSON object but list"),
    (b'{"op": "explode", "id": 1}', "unknown op 'explode'"),
    (b'{"id": 1}', "unknown op None"),
    (b'{"op": "load", "id": 1}', "lacks the field 'path'"),
    (b'{"op": "load", "path": "/m", "n_ctx": "big"}', 'load.n_ctx: "big" is not int'),
    (b'{"op": "load", "path": "/m", "n_ctx": true}', "load.n_ctx: true is not int"),
    (b'{"op": "generate", "segments": "text"}', "generate.segments"),
    (b'{"op": "generate", "segments": [], "stop": [1]}', "generate.stop[0]: 1 is not str"),
    (b'{"op": "cancel", "id": [1]}', "is not int or str or null"),
])
def test_bad_requests_say_what_is_wrong(line: bytes, says: str):
    with pytest.raises(wire.ProtocolError) as err:
        wire.decode_request(line)
    assert says in str(err.value)


def test_unknown_fields_are_ignored_and_numbers_widen():
    msg = wire.decode_request(json.dumps({"op": "generate", "segments": [], "id": 3,
                                          "temperature": 1, "newer_field": True}))
    assert msg == wire.Generate(segments=[], id=3, temperature=1.0)
    assert isinstance(msg.temperature, float)


def test_bad_events_say_what_is_wrong():
    with pytest.raises(wire.ProtocolError, match="unknown event 'progress'"):
        wire.decode_event(b'{"event": "progress", "id": 1}')
    with pytest.raises(wire.ProtocolError, match=r"done\.result"):
        wire.decode_event(b'{"event": "done", "id": 1, "result": [1]}')


def test_the_id_of_a_bad_line_is_kept_for_its_answer():
    assert wire.request_id(b'{"op": "explode", "id": 7}') == 7
    assert wire.request_id(b'{"op": "explode", "id": true}') is None
    assert wire.request_id(b"garbage") is None
