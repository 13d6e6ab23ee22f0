"""The messages, as dataclasses. Each names its ``TYPE`` on the wire; bodies
are plain JSON objects whose schema is the dataclass itself: every field
present, no other field, each of its type (see :func:`from_body`).

Up, from a device (signed with the device's key):

- :class:`TxBatch`: journal entries not yet acknowledged, in sequence order;
- :class:`Status`: heartbeat and last will: online or not, the list versions
  held, the journal backlog;
- :class:`ListRequest`: "send me the full list", after a version conflict.

Down, from the server (signed with the server's key):

- :class:`Ack`: the (sequence, revision) pairs the server has committed;
- :class:`ListUpdate`: a full or differential deny-list, pending-load or
  configuration list, from one version to the next (OCPP SendLocalList in
  spirit: a device that holds another version asks for the full list).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from .errors import MalformedMessageError

PROTOCOL_VERSION = 1
LIST_NAMES = ("denylist", "loads", "config")


@dataclass(frozen=True)
class EntryRecord:
    """One journal entry on the wire (``device.journal.JournalEntry``)."""

    seq: int
    rev: int
    kind: str
    state: str
    created_at: str
    uid: str | None
    card_number: int | None
    counter_before: int | None
    counter_after: int | None
    amount_cents: int
    balance_cents: int | None
    decision: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TxBatch:
    TYPE: ClassVar[str] = "tx_batch"
    device_id: int
    sent_at: str
    entries: tuple[EntryRecord, ...]


@dataclass(frozen=True)
class AckedEntry:
    seq: int
    rev: int


@dataclass(frozen=True)
class Ack:
    TYPE: ClassVar[str] = "ack"
    device_id: int
    committed_at: str
    acks: tuple[AckedEntry, ...]


@dataclass(frozen=True)
class Status:
    TYPE: ClassVar[str] = "status"
    device_id: int
    online: bool
    sent_at: str
    list_versions: dict[str, int]
    backlog: int
    last_seq: int


@dataclass(frozen=True)
class ListRequest:
    TYPE: ClassVar[str] = "list_request"
    device_id: int
    list: str
    held_version: int
    sent_at: str


@dataclass(frozen=True)
class ListUpdate:
    """``full``: ``added`` is the whole list and ``from_version`` is ``None``;
    otherwise a delta from ``from_version``. Items are list-specific objects
    (a deny entry, a pending load, a configuration document), checked by the
    list that applies them. ``device_id`` is ``None`` for a broadcast."""

    TYPE: ClassVar[str] = "list_update"
    list: str
    full: bool
    from_version: int | None
    to_version: int
    issued_at: str
    device_id: int | None
    added: tuple[dict[str, Any], ...]
    removed: tuple[dict[str, Any], ...]


Message = TxBatch | Ack | Status | ListRequest | ListUpdate
MESSAGE_TYPES: dict[str, type[Message]] = {cls.TYPE: cls for cls in (TxBatch, Ack, Status, ListRequest, ListUpdate)}


def to_body(message: Any) -> dict[str, Any]:
    """The JSON object of a message (tuples become lists)."""
    return dataclasses.asdict(message)


def _fits(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to ``hint``'s shape, or a schema error naming ``where``."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [option for option in options if option is not type(None)]
        return _fits(value, inner, where)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        inner = typing.get_args(hint)[0]
        if isinstance(value, list):
            return tuple(_fits(item, inner, f"{where}[{i}]") for i, item in enumerate(value))
    elif origin is dict:
        _, value_type = typing.get_args(hint)  # keys are JSON object keys: strings
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            if value_type is Any:
                return dict(value)
            return {k: _fits(v, value_type, f"{where}.{k}") for k, v in value.items()}
    elif dataclasses.is_dataclass(hint):
        return from_body(hint, value, where)  # type: ignore[arg-type]
    else:  # pragma: no cover - a field type the protocol does not use
        raise TypeError(f"unsupported field type {hint!r}")
    raise MalformedMessageError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r:.60}")


def from_body(cls: type[Any], body: Any, where: str | None = None) -> Any:
    """A ``cls`` from its JSON object, every field present and of its type.

    :raises MalformedMessageError: naming the field at fault.
    """
    where = where or cls.__name__
    if not isinstance(body, dict):
        raise MalformedMessageError(f"{where}: expected an object")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [name for name in names if name not in body]
    unknown = sorted(set(body) - set(names))
    if missing or unknown:
        raise MalformedMessageError(f"{where}: missing {missing}, unknown {unknown}")
    return cls(**{name: _fits(body[name], hints[name], f"{where}.{name}") for name in names})
