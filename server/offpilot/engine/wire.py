"""The model worker protocol as typed messages: one JSON object per line.

The same messages travel between a server and its own worker (:mod:`offpilot.engine.local`),
between a server and the shared service (:mod:`offpilot.engine.shared`), and between the
service and its workers (:mod:`offpilot.engine.service`, :mod:`offpilot.engine.worker`).
Requests carry ``"op"``, events ``"event"``; every message is a dataclass here, and
:func:`encode`, :func:`decode_request` and :func:`decode_event` are the one place that turns
them into bytes and back. Anything a peer sends that is not one of these messages (not JSON,
not an object, an unknown op, a missing or mistyped field) raises :class:`ProtocolError` with a
message that says what was wrong; the readers answer or log it and go on.

This module imports nothing heavy: the server, the service and the worker all load it.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Union

# Priorities: a lower value runs first. Among waiting completions, the newest runs first.
PRIORITY_COMPLETION = 1
PRIORITY_BACKGROUND = 3  # speculative completion work (prefetch, warm-up): never before a real one
PRIORITY_CHAT = 5
PRIORITY_WARM = PRIORITY_BACKGROUND

Id = Union[int, str, None]  # noqa: UP007 (read by the validator at runtime)


class ProtocolError(ValueError):
    """A line that is not a message of this protocol."""


# ------------------------------------------------------------------- requests
@dataclass
class Load:
    OP: ClassVar[str] = "load"
    path: str
    id: Id = None
    n_ctx: int = 4096
    n_threads: int = 0
    n_gpu_layers: int = 0
    n_batch: int = 512
    n_seq: int = 2


@dataclass
class Generate:
    """A generation job; the fields past ``priority`` are the runtime's ``GenerateParams``."""

    OP: ClassVar[str] = "generate"
    segments: list[dict[str, Any]]
    id: Id = None
    priority: int = PRIORITY_CHAT
    seq: int = 0
    add_bos: bool = True
    max_tokens: int = 64
    temperature: float = 0.0
    top_k: int = 40
    top_p: float = 0.95
    seed: int = 0
    stop: list[str] = field(default_factory=list)
    stop_at_newline: bool = False
    time_limit: float = 5.0
    warm_only: bool = False
    infill_sampler: bool = False
    stream: bool = False
    cache_reuse: int | None = None  # None: the runtime's default

    def params(self) -> dict[str, Any]:
        """The keyword arguments of the runtime's ``GenerateParams``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name not in ("id", "priority")}
        if out["cache_reuse"] is None:
            del out["cache_reuse"]
        return out


@dataclass
class Tokenize:
    OP: ClassVar[str] = "tokenize"
    id: Id = None
    text: str = ""


@dataclass
class Cancel:
    OP: ClassVar[str] = "cancel"
    id: Id = None


@dataclass
class Shutdown:
    """To a worker: exit. To the service: this client is leaving."""

    OP: ClassVar[str] = "shutdown"


@dataclass
class Status:
    """To the service: its status (models, clients, memory, queue)."""

    OP: ClassVar[str] = "status"
    id: Id = None


@dataclass
class Crash:
    """Abort the worker as native code would (the reliability tests use it)."""

    OP: ClassVar[str] = "crash"
    id: Id = None


@dataclass
class Hello:
    """To the service over loopback TCP: the first line of every connection, with the secret
    token of its endpoint file (answered ``done`` with the service's pid, or the connection is
    closed). ``pid`` is the client's own, as it says (TCP tells the service no peer pid)."""

    OP: ClassVar[str] = "hello"
    token: str
    id: Id = None
    pid: int | None = None


Request = Load | Generate | Tokenize | Cancel | Shutdown | Status | Crash | Hello
REQUESTS: dict[str, type[Any]] = {c.OP: c for c in (Load, Generate, Tokenize, Cancel, Shutdown,
                                                    Status, Crash, Hello)}


# --------------------------------------------------------------------- events
@dataclass
class Ready:
    """A worker's first line: it reads requests now."""

    EVENT: ClassVar[str] = "ready"
    pid: int = 0


@dataclass
class Text:
    EVENT: ClassVar[str] = "text"
    id: Id = None
    text: str = ""


@dataclass
class Done:
    EVENT: ClassVar[str] = "done"
    id: Id = None
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class Error:
    """A request failed, or (``id`` None) a line could not be read."""

    EVENT: ClassVar[str] = "error"
    id: Id = None
    message: str = "error"


Event = Ready | Text | Done | Error
EVENTS: dict[str, type[Any]] = {c.EVENT: c for c in (Ready, Text, Done, Error)}


# ------------------------------------------------------------- encode, decode
def encode(msg: Request | Event) -> bytes:
    """One line of ASCII JSON; fields left None are not written."""
    tag = ("op", msg.OP) if hasattr(msg, "OP") else ("event", msg.EVENT)
    body = {f.name: getattr(msg, f.name) for f in fields(msg)
            if getattr(msg, f.name) is not None}
    return json.dumps({tag[0]: tag[1], **body}, ensure_ascii=True).encode() + b"\n"


def decode_request(line: bytes | str) -> Request:
    """Read one request line; :class:`ProtocolError` says what is wrong with a bad one."""
    return typing.cast(Request, _decode(line, "op", REQUESTS))


def decode_event(line: bytes | str) -> Event:
    """Read one event line; :class:`ProtocolError` says what is wrong with a bad one."""
    return typing.cast(Event, _decode(line, "event", EVENTS))


def request_id(line: bytes | str) -> Id:
    """The ``id`` of a line, if it has a usable one: a bad request's error answers it."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    rid = obj.get("id") if isinstance(obj, dict) else None
    return rid if isinstance(rid, (int, str)) and not isinstance(rid, bool) else None


def _decode(line: bytes | str, tag: str, kinds: dict[str, type[Any]]) -> Any:
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"not a JSON object but {type(obj).__name__}")
    name = obj.pop(tag, None)
    cls = kinds.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ProtocolError(f"unknown {tag} {name!r}; expected one of {', '.join(kinds)}")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in obj:
            values[f.name] = _check(obj[f.name], hints[f.name], f"{name}.{f.name}")
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ProtocolError(f"{tag} {name!r} lacks the field {f.name!r}")
    return cls(**values)  # unknown fields are ignored, as a newer peer may send more


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _check(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _check(value, option, where)
            except ProtocolError:
                continue
        raise ProtocolError(f"{where}: {_show(value)} is not {_name(tp)}")
    if tp is type(None):
        if value is None:
            return None
    elif tp is Any:
        return value
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is list:
        if isinstance(value, list):
            [item] = typing.get_args(tp)
            return [_check(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return value
    else:  # pragma: no cover - a field type this validator was not taught
        raise TypeError(f"{where}: no check for {tp!r}")
    raise ProtocolError(f"{where}: {_show(value)} is not {_name(tp)}")


def _name(tp: Any) -> str:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return " or ".join(_name(t) for t in typing.get_args(tp))
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
