"""The messages, as dataclasses. Each names its ``TYPE`` on the wire; bodies
are plain JSON objects whose schema is the dataclass itself: every field
present, no other field, each of its type (see :func:`from_body`).

Up, from a device (signed with the device's key):

- :class:`TxBatch`: journal entries not yet acknowledged, in sequence order;
- :class:`Status`: heartbeat and last will: online or not, the list versions
  held, the journal backlog;
- :class:`ListRequest`: "send me the full list", after a version conflict.

Down, from the server (signed with the server's key):

- :class:`Ack`: the entries the server has committed, as ranges of (sequence, revision);
- :class:`ListUpdate`: a full or differential deny-list, pending-load or
  configuration list, from one version to the next (OCPP SendLocalList in
  spirit: a device that holds another version asks for the full list).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import types
import typing
from collections.abc import Callable, Iterable
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
class AckedRange:
    """The entries ``first``..``last`` (inclusive), each at revision ``rev``:
    a batch's entries are consecutive and of one revision, so an ack of 200
    entries is one range."""

    first: int
    last: int
    rev: int


MAX_ACK_RANGE = 65_536
"""Most entries one range may name; a receiver refuses a longer one (no batch comes near)."""


def ack_ranges(pairs: Iterable[tuple[int, int]]) -> tuple[AckedRange, ...]:
    """``(seq, rev)`` pairs as the fewest ranges of consecutive seqs of one revision."""
    ranges: list[AckedRange] = []
    first = last = rev = None
    for seq, seq_rev in sorted(set(pairs)):
        if last is not None and seq == last + 1 and seq_rev == rev and seq - first < MAX_ACK_RANGE - 1:
            last = seq
            continue
        if first is not None:
            ranges.append(AckedRange(first, last, rev))  # type: ignore[arg-type]
        first = last = seq
        rev = seq_rev
    if first is not None:
        ranges.append(AckedRange(first, last, rev))  # type: ignore[arg-type]
    return tuple(ranges)


def range_pairs(ranges: Iterable[AckedRange]) -> list[tuple[int, int]]:
    """The ``(seq, rev)`` pairs of ``ranges``.

    :raises MalformedMessageError: for a range that ends before it starts or
        is longer than :data:`MAX_ACK_RANGE`.
    """
    pairs: list[tuple[int, int]] = []
    for acked in ranges:
        if not 0 <= acked.last - acked.first < MAX_ACK_RANGE:
            raise MalformedMessageError(f"ack range {acked.first}..{acked.last} is empty or too long")
        pairs += [(seq, acked.rev) for seq in range(acked.first, acked.last + 1)]
    return pairs


@dataclass(frozen=True)
class Ack:
    TYPE: ClassVar[str] = "ack"
    device_id: int
    committed_at: str
    acks: tuple[AckedRange, ...]


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
    part: int = 1
    """This message's place (1..``parts``) in an update too large for one
    message (:mod:`device.protocol.parts`); the device applies the update
    once it holds every part."""
    parts: int = 1


Message = TxBatch | Ack | Status | ListRequest | ListUpdate
MESSAGE_TYPES: dict[str, type[Message]] = {cls.TYPE: cls for cls in (TxBatch, Ack, Status, ListRequest, ListUpdate)}


def to_body(message: Any) -> dict[str, Any]:
    """The JSON object of a message: nested dataclasses become objects and
    tuples lists; other values are shared, not copied."""
    return _writer(type(message))(message)


@functools.cache
def _writer(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
    """How to turn a ``cls`` into its JSON object, built once per class: the
    fields holding tuples or dataclasses are converted, the others taken as
    they are (a batch has hundreds of entries of fourteen fields)."""
    hints = typing.get_type_hints(cls)
    plain, nested = [], []
    for name in _field_names(cls):
        hint = hints[name]
        # tuples become lists (the body is a JSON document in memory too); dataclasses become objects
        (nested if typing.get_origin(hint) is tuple or dataclasses.is_dataclass(hint) else plain).append(name)
    if not nested:
        names = tuple(plain)
        getter = operator.attrgetter(*names)
        if len(names) == 1:
            return lambda message: {names[0]: getter(message)}
        return lambda message: dict(zip(names, getter(message), strict=True))

    def write(message: Any) -> dict[str, Any]:
        body = {name: getattr(message, name) for name in plain}
        for name in nested:
            value = getattr(message, name)
            if type(value) is tuple:
                body[name] = [to_body(item) if dataclasses.is_dataclass(item) else item for item in value]
            else:
                body[name] = to_body(value)
        return body

    return write


@functools.cache
def _field_names(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


Converter = Callable[[Any, str], Any]
"""Checks a JSON value against a field's type and returns it in the field's shape, or raises naming ``where``."""


def _expected(hint: Any, value: Any, where: str) -> MalformedMessageError:
    return MalformedMessageError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r:.60}")


@functools.cache
def _converter(hint: Any) -> Converter:
    """The converter of a field type, built once per type (the hot path of ingest runs it per entry)."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        (inner,) = [option for option in typing.get_args(hint) if option is not type(None)]
        convert_inner = _converter(inner)
        return lambda value, where: None if value is None else convert_inner(value, where)
    if hint in (int, str, bool):
        def scalar(value: Any, where: str) -> Any:
            # type() not isinstance(): a bool is not an int on the wire
            if type(value) is not hint:
                raise _expected(hint, value, where)
            return value
        return scalar
    if origin is tuple:
        convert_item = _converter(typing.get_args(hint)[0])

        def sequence(value: Any, where: str) -> tuple[Any, ...]:
            if type(value) is not list:
                raise _expected(hint, value, where)
            if not where:
                return tuple([convert_item(item, "") for item in value])
            return tuple([convert_item(item, f"{where}[{i}]") for i, item in enumerate(value)])
        return sequence
    if origin is dict:
        _, value_type = typing.get_args(hint)  # keys are JSON object keys: strings
        convert_value = None if value_type is Any else _converter(value_type)

        def mapping(value: Any, where: str) -> dict[str, Any]:
            if type(value) is not dict or not all(type(k) is str for k in value):
                raise _expected(hint, value, where)
            if convert_value is None:
                return value
            return {k: convert_value(v, where and f"{where}.{k}") for k, v in value.items()}
        return mapping
    if dataclasses.is_dataclass(hint):
        return lambda value, where: from_body(hint, value, where or hint.__name__)  # type: ignore[arg-type]
    raise TypeError(f"unsupported field type {hint!r}")  # pragma: no cover - a field type the protocol does not use


@functools.cache
def _schema(cls: type[Any]) -> tuple[tuple[str, ...], frozenset[str], tuple[Converter, ...]]:
    hints = typing.get_type_hints(cls)
    names = _field_names(cls)
    return names, frozenset(names), tuple(_converter(hints[name]) for name in names)


def from_body(cls: type[Any], body: Any, where: str | None = None) -> Any:
    """A ``cls`` from its JSON object, every field present and of its type.

    :raises MalformedMessageError: naming the field at fault.
    """
    where = where or cls.__name__
    if type(body) is not dict:
        raise MalformedMessageError(f"{where}: expected an object")
    names, name_set, converters = _schema(cls)
    if body.keys() != name_set:
        missing = [name for name in names if name not in body]
        unknown = sorted(set(body) - name_set)
        raise MalformedMessageError(f"{where}: missing {missing}, unknown {unknown}")
    try:
        # The hot path builds no field paths; only a refused body is walked again to name the field at fault.
        values = [convert(body[name], "") for name, convert in zip(names, converters, strict=True)]
    except MalformedMessageError:
        for name, convert in zip(names, converters, strict=True):
            convert(body[name], f"{where}.{name}")
        raise  # pragma: no cover - the walk above raises the same error with its path
    return cls(*values)
