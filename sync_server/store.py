"""The sync server's storage API: devices, ingested transactions with their
reconciliation, and the versioned lists sent down to devices. One
:class:`SyncStore` over one SQLAlchemy engine, SQLite or PostgreSQL; every
method is one database transaction, and every database error leaves it as a
:class:`~sync_server.errors.StoreError` with the SQLAlchemy error as cause.
Safe to share between threads, and several processes (ingest workers, the
back office) may use one database at once.

Ingest
------
:meth:`SyncStore.ingest` stores the entries of several :class:`TxBatch`
messages in one transaction, so the worker acknowledges them all after one
commit. Each ``(device_id, seq)`` is one row holding the highest revision
received: a new key is inserted, a higher ``rev`` replaces the row (``INSERT
.. ON CONFLICT (device_id, seq) DO UPDATE .. WHERE excluded.rev >
transactions.rev``, so concurrent workers on PostgreSQL cannot go back
either), a lower or equal one changes nothing. Every entry received is
acknowledged, whatever its fate: after the commit the server holds it at its
revision or a higher one. The counts of :class:`IngestResult` add up to the
entries received (an entry superseded by a higher revision in the same call
counts as a duplicate); with concurrent workers they are estimates, the rows
are not.

Reconciliation
--------------
The entries reconciled are the completed (``done``) ones that name a card
number, the card's transaction counter after them (``counter_after``) and
its balance. One that also names ``counter_before`` is a *write* (the
validator journals every card write that way); one without it only *read*
the card (a denied tap records the counter and balance it found).

- **Shadow**: per card, the highest counter of a reconciled entry and the
  balance that entry left. Another entry at the same counter does not
  replace it.
- **repeated_counter**: two different writes (``(device_id, seq)``) left one
  card at the same counter. A card reaches each counter once, so one of them
  was made on a copy of the card (or on a card restored from a dump). Both
  are flagged. A read at a counter that was written is normal (a denial
  after a tap).
- **counter_back**: one device recorded, for one card, a later entry (higher
  ``seq``) with a lower counter than an earlier one: the card went back. The
  later entry is flagged. Entries of different devices are not compared this
  way: their order in time is only as good as their clocks.
- **balance_above_shadow**: a write at counter ``n`` left a balance above
  what an entry at counter ``n - 1`` left plus the write's amount (negative
  for a charge): value that no recorded write explains. The write is
  flagged. When entries arrive in order the entry at ``n - 1`` is the
  shadow, so this is the rule ``counter_after == shadow.counter + 1 and
  balance > shadow.balance + amount``; comparing with the stored entries at
  ``n - 1`` instead of the shadow keeps it true when they arrive out of
  order. A read is not checked this way: the balance it shows was left by a
  write at its own counter, which may not have arrived yet (a load).

(The comparisons themselves are in :mod:`sync_server.card_history`.)

Entries arrive late and out of order (a device offline for days, an intent
completed after later taps were synced): every rule is checked on each pair
of entries when the later of the two arrives, in both directions, so the
anomalies found do not depend on the order of arrival, and a gap (a counter
not seen yet) is never an anomaly. An anomaly is recorded once per ``(kind,
device_id, seq)``, however often its entries are redelivered. The queries
use the index on ``(card_number, counter_after)`` from one counter below a
new entry up, and for an entry older than what its device had sent, the
``(device_id, seq)`` index from it up: their cost follows how late an entry
is, not how long a card's history is. (On PostgreSQL with several workers,
two entries of one card committed at the same moment by two workers are not
compared with each other: neither transaction sees the other's row.)

Lists
-----
The deny-list, the pending loads and the configuration documents are
versioned as OCPP's ``SendLocalList``: each starts at version 0 (empty) and
each change makes the next version. The current state (``deny_entries``,
``pending_loads``, ``config_documents``) gives the full list; the change log
(``list_changes``) gives a delta from any older version, folded to its net
effect (a key blocked then unblocked since that version is only removed), so
that no item is both added and removed, as the devices require. A call that
changes nothing (blocking a card blocked already for the same reason,
unblocking one not blocked, putting a document unchanged) makes no version.
Items are the JSON objects of :mod:`device.protocol.items`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, Text, bindparam, delete, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Insert

from device.denylist import DenyEntry
from device.lists import PendingLoad
from device.protocol import items
from device.protocol.messages import LIST_NAMES, EntryRecord, ListUpdate, Status, TxBatch, to_body

from . import list_changes
from .card_history import Found, Reconciled, check_counters, check_order
from .db import models
from .db.access import reading, writing
from .db.bulk import PreparedExecutemany, TupleRelation
from .db.migrate import current_revision, head_revision
from .db.types import UtcDateTime, dump_json, from_signed, to_signed
from .errors import (
    BatchRejectedError,
    DuplicateDeviceError,
    InvalidValueError,
    LoadSequenceExhaustedError,
    SchemaVersionError,
    StoreError,
    UnknownDeviceError,
    UnknownListError,
)
from .loads import applied_loads, record_applied

PUBLIC_KEY_SIZE = 32
"""Bytes of a raw Ed25519 public key."""

LOAD_SEQ_MAX = 0xFFFF
"""Highest load sequence number of a card (16 bits on the card)."""

REJECTION_DETAIL_MAX = 500
"""Characters of an error's message kept in ``rejections.detail``."""

UID_SIZES = (4, 7)
INT64_MAX = 2**63 - 1
COUNTER_MAX = 2**32 - 1  # the card's transaction counter is 4 bytes
_INT32_MAX = 2**31 - 1
_DONE = "done"
_CHUNK = 500  # keys per statement in an IN list


def utc_now() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class IngestResult:
    """What :meth:`SyncStore.ingest` did; ``inserted + upgraded + duplicates``
    is the number of entries received."""

    acks: dict[int, list[tuple[int, int]]]
    """device_id -> (seq, rev) of every entry received from it, in order
    (redeliveries too): each is now held at that revision or a higher one."""
    inserted: int
    """New (device_id, seq) rows."""
    upgraded: int
    """Rows replaced by a higher revision."""
    duplicates: int
    """Entries that changed nothing (held at that revision or a higher one already)."""
    anomalies: int
    """Anomalies flagged by this call."""
    integrity_uids: frozenset[bytes] = frozenset()
    """UIDs of the cards new entries denied for an integrity failure (forged,
    tampered or foreign): :mod:`sync_server.reconciliation` counts them."""
    paying_cards: frozenset[int] = frozenset()
    """Cards whose balance new completed entries moved: reconciliation checks
    none of them had been replaced (its money moved to the duplicate)."""


@dataclass(frozen=True)
class Anomaly:
    """An impossible card history, pinned on the entry ``(device_id, seq)``
    that shows it; ``kind`` is one of ``models.ANOMALY_KINDS``."""

    card_number: int
    kind: str
    device_id: int
    seq: int
    detail: str


@dataclass(frozen=True)
class DeviceInfo:
    """A registered device and its last status (``last_seen_at`` ``None``:
    never heard from)."""

    device_id: int
    mode: str
    operator: int
    location: int
    registered_at: dt.datetime
    last_seen_at: dt.datetime | None
    online: bool
    backlog: int
    last_seq: int


@dataclass(frozen=True)
class Rejection:
    """A message ingest refused: when, where it was published, the device
    the topic names (``None`` if none), the error's class and message."""

    received_at: dt.datetime
    topic: str
    device_id: int | None
    error_class: str
    detail: str


_DEVICES: Table = models.Device.__table__  # type: ignore[assignment]
_DEVICE_LISTS: Table = models.DeviceListVersion.__table__  # type: ignore[assignment]
_TX: Table = models.Transaction.__table__  # type: ignore[assignment]
_SHADOWS: Table = models.CardShadow.__table__  # type: ignore[assignment]
_ANOMALIES: Table = models.Anomaly.__table__  # type: ignore[assignment]
_CHANGES: Table = models.ListChange.__table__  # type: ignore[assignment]
_DENY: Table = models.DenyEntry.__table__  # type: ignore[assignment]
_LOADS: Table = models.PendingLoad.__table__  # type: ignore[assignment]
_LOAD_SEQS: Table = models.CardLoadSequence.__table__  # type: ignore[assignment]
_CONFIG: Table = models.ConfigDocument.__table__  # type: ignore[assignment]
_REJECTIONS: Table = models.Rejection.__table__  # type: ignore[assignment]

# Columns an ingested entry sets; a higher revision replaces all of them.
_ENTRY_COLUMNS = ("rev", "kind", "state", "created_at", "uid", "card_number", "counter_before", "counter_after",
                  "amount_cents", "balance_cents", "decision", "reason", "details", "received_at")
# The parameters of the entry upsert, in the order of the rows _entry_row builds (details bound as text).
_ENTRY_PARAMS = ("device_id", "seq", "rev", "kind", "state", "created_at", "uid", "card_number", "counter_before",
                 "counter_after", "amount_cents", "balance_cents", "decision", "reason", "details_json",
                 "received_at")
_DEVICE, _SEQ, _REV, _KIND, _STATE, _UID, _CARD, _BEFORE, _COUNTER, _AMOUNT, _BALANCE, _REASON, _DETAILS = (
    _ENTRY_PARAMS.index(name) for name in ("device_id", "seq", "rev", "kind", "state", "uid", "card_number",
                                           "counter_before", "counter_after", "amount_cents", "balance_cents",
                                           "reason", "details_json"))
INTEGRITY_FAILURE = "integrity_failure"
"""The reason of a validator's denial of a forged, tampered or foreign card (``validator.outcome.Reason``)."""
_SHADOW_PARAMS = ("card_number", "counter", "balance_cents", "updated_at")


class SyncStore:
    """The storage API over ``engine``, whose database must be migrated
    (:func:`sync_server.db.migrate.upgrade`). ``clock`` gives the current
    time (aware) for ``received_at``, ``issued_at`` and the like.

    :raises SchemaVersionError: when the database is not at the schema of this code.
    :raises StoreError: when the database cannot be reached.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._clock = clock
        if self._postgres:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        self._dialect_insert = dialect_insert
        dialect = engine.dialect
        self._timestamp: Callable[[dt.datetime], Any] = _TX.c.received_at.type.bind_processor(dialect) or _same
        self._created_at = UtcDateTime().iso_bind_processor(dialect)
        self._upsert_entries = PreparedExecutemany(self._build_upsert_entry(), dialect, _ENTRY_PARAMS)
        stmt = self._insert(_SHADOWS)
        self._upsert_shadows = PreparedExecutemany(stmt.on_conflict_do_update(
            index_elements=[_SHADOWS.c.card_number],
            set_={"counter": stmt.excluded.counter, "balance_cents": stmt.excluded.balance_cents,
                  "updated_at": stmt.excluded.updated_at},
            where=stmt.excluded.counter > _SHADOWS.c.counter), dialect, _SHADOW_PARAMS)
        self._keys = keys = TupleRelation(dialect, "entry_keys", ("device_id", "seq"))
        ids = bindparam("ids", expanding=True)
        last = select(func.max(_TX.c.seq)).where(_TX.c.device_id == _DEVICES.c.device_id).scalar_subquery()
        self._last_seq = select(_DEVICES.c.device_id, last).where(_DEVICES.c.device_id.in_(ids))
        self._stored = (select(_TX.c.device_id, _TX.c.seq, _TX.c.rev).select_from(keys.relation)
                        .join(_TX, (_TX.c.device_id == keys.c["device_id"]) & (_TX.c.seq == keys.c["seq"])))
        self._touch_devices = update(_DEVICES).where(_DEVICES.c.device_id.in_(ids)) \
            .values(last_seen_at=bindparam("now"))
        reconciled = (_TX.c.state == _DONE) & _TX.c.balance_cents.is_not(None)
        stored_entry = (_TX.c.device_id, _TX.c.seq, _TX.c.card_number, _TX.c.counter_before, _TX.c.counter_after,
                        _TX.c.amount_cents, _TX.c.balance_cents)
        # Entries of a card from one counter below a new entry's up (index on card_number,
        # counter_after): its neighbours (repeated counters, balances) and the higher counters (an
        # earlier seq of its device there is counter_back). Few, unless the new entry is late.
        self._cards = cards = TupleRelation(dialect, "cards", ("card", "counter"))
        self._above = (select(*stored_entry).select_from(cards.relation)
                       .join(_TX, (_TX.c.card_number == cards.c["card"])
                             & (_TX.c.counter_after >= cards.c["counter"] - 1) & reconciled))
        # Later seqs of a late entry's device with a lower counter (counter_back): the unique
        # (device_id, seq) index walks what its device sent since ("+ 0" keeps SQLite off the card
        # index, whose range here would be the card's whole history).
        self._late = late = TupleRelation(dialect, "late", ("device_id", "seq", "card", "counter"))
        self._ahead = (select(*stored_entry).select_from(late.relation)
                       .join(_TX, (_TX.c.device_id == late.c["device_id"]) & (_TX.c.seq > late.c["seq"])
                             & ((_TX.c.card_number + 0) == late.c["card"])
                             & ((_TX.c.counter_after + 0) < late.c["counter"]) & reconciled))
        self._check_schema()

    @property
    def engine(self) -> Engine:
        """The engine the store uses."""
        return self._engine

    # -- plumbing -------------------------------------------------------------------------------------

    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_update``/``_nothing``."""
        return self._dialect_insert(table)

    def _build_upsert_entry(self) -> Insert:
        # details arrive serialised (checked per entry, before the transaction): bound as text.
        stmt = self._insert(_TX).values(details=bindparam("details_json", type_=Text))
        return stmt.on_conflict_do_update(
            index_elements=[_TX.c.device_id, _TX.c.seq],
            set_={name: stmt.excluded[name] for name in _ENTRY_COLUMNS},
            where=stmt.excluded.rev > _TX.c.rev,
        )

    @contextmanager
    def transaction(self, doing: str) -> Iterator[Connection]:
        """One read-write transaction for work of several parts (a card's
        state and its deny-list entry, a duplicate and its balance): pass the
        connection as ``within=`` to the list changes (:meth:`block_many`,
        :meth:`unblock`, :meth:`add_load`) so they commit or roll back with it.

        :raises StoreError: when the database fails (``doing`` says what was being done).
        """
        with self._write(doing) as conn:
            yield conn

    @contextmanager
    def _write(self, doing: str, within: Connection | None = None) -> Iterator[Connection]:
        """One read-write transaction (``BEGIN IMMEDIATE`` on SQLite),
        committed when the block ends, rolled back on any exception; or, with
        ``within``, that caller's transaction."""
        if within is not None:
            yield within
            return
        with writing(self._engine, doing) as conn:
            yield conn

    @contextmanager
    def _read(self, doing: str) -> Iterator[Connection]:
        """One read-only transaction that sees one state of the database."""
        with reading(self._engine, doing, snapshot=True) as conn:
            yield conn

    def now(self) -> dt.datetime:
        """The current time of the store's clock (aware, UTC).

        :raises InvalidValueError: when the clock gives a naive time.
        """
        return self._now()

    def _now(self) -> dt.datetime:
        now = self._clock()
        if not isinstance(now, dt.datetime) or now.utcoffset() is None:
            raise InvalidValueError(f"the clock must return an aware datetime, got {now!r}")
        return now.astimezone(dt.UTC)

    def _check_schema(self) -> None:
        with self._read("checking the schema") as conn:
            found = current_revision(conn)
        wanted = head_revision()
        if found != wanted:
            raise SchemaVersionError(
                f"the database is at schema revision {found or 'none (never migrated)'}, this code needs "
                f"{wanted}: run sync_server.db.migrate.upgrade")

    # -- devices --------------------------------------------------------------------------------------

    def register_device(self, device_id: int, public_key: bytes, *, mode: str, operator: int,
                        location: int) -> None:
        """Register a field device with its raw Ed25519 public key.

        :raises InvalidValueError: for an id, key, mode, operator or location out of range.
        :raises DuplicateDeviceError: when a device with that id is registered already.
        :raises StoreError: when the database fails.
        """
        _check_int("device_id", device_id, 1, INT64_MAX)
        if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
            got = f"{len(public_key)} bytes" if isinstance(public_key, bytes) else type(public_key).__name__
            raise InvalidValueError(f"device {device_id}: a public key is {PUBLIC_KEY_SIZE} bytes (raw Ed25519), "
                                    f"got {got}")
        if not isinstance(mode, str) or not 0 < len(mode) <= 16:
            raise InvalidValueError(f"device {device_id}: mode must be a string of 1 to 16 characters, got {mode!r}")
        _check_int("operator", operator, 0, _INT32_MAX)
        _check_int("location", location, 0, _INT32_MAX)
        now = self._now()
        try:
            with self._write(f"registering device {device_id}") as conn:
                conn.execute(_DEVICES.insert().values(
                    device_id=device_id, public_key=public_key, mode=mode, operator=operator, location=location,
                    registered_at=now, online=False, backlog=0, last_seq=0))
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise DuplicateDeviceError(f"device {device_id} is registered already") from exc.__cause__
            raise

    def device_keys(self) -> dict[int, bytes]:
        """Every registered device's raw Ed25519 public key, by device id.

        :raises StoreError: when the database fails.
        """
        with self._read("reading device keys") as conn:
            return {row.device_id: bytes(row.public_key)
                    for row in conn.execute(select(_DEVICES.c.device_id, _DEVICES.c.public_key))}

    def devices(self) -> list[DeviceInfo]:
        """Every registered device with its last status, by device id.

        :raises StoreError: when the database fails.
        """
        d = _DEVICES.c
        with self._read("reading devices") as conn:
            return [DeviceInfo(row.device_id, row.mode, row.operator, row.location, row.registered_at,
                               row.last_seen_at, bool(row.online), row.backlog, row.last_seq)
                    for row in conn.execute(select(d.device_id, d.mode, d.operator, d.location, d.registered_at,
                                                   d.last_seen_at, d.online, d.backlog, d.last_seq)
                                            .order_by(d.device_id))]

    def record_status(self, status: Status) -> None:
        """Keep a device's status (the latest received wins): online, journal
        backlog, last sequence number, the time it was received as
        ``last_seen_at``, the whole body as ``last_status``, and the version
        of each list it holds.

        :raises UnknownDeviceError: when the device is not registered.
        :raises InvalidValueError: for a number out of range or a list name
            longer than 64 characters.
        :raises StoreError: when the database fails.
        """
        refused = self.record_statuses([status])
        if refused:
            raise refused[0][1]

    def record_statuses(self, statuses: Sequence[Status]) -> list[tuple[Status, StoreError]]:
        """:meth:`record_status` for each of ``statuses``, in one transaction
        (an ingest worker records a group of heartbeats at once). A status
        with a value out of range or of a device not registered is left out.

        :returns: the statuses left out, each with its error.
        :raises StoreError: when the database fails (nothing was recorded).
        """
        refused: list[tuple[Status, StoreError]] = []
        valid = []
        for status in statuses:
            try:
                _check_status(status)
            except InvalidValueError as exc:
                refused.append((status, exc))
            else:
                valid.append(status)
        if not valid:
            return refused
        now = self._now()
        with self._write("recording device statuses") as conn:
            versions = []
            for status in valid:
                device_id = status.device_id
                result = conn.execute(
                    update(_DEVICES).where(_DEVICES.c.device_id == device_id).values(
                        online=bool(status.online), backlog=status.backlog, last_seq=status.last_seq,
                        last_seen_at=now, last_status=to_body(status)))
                if result.rowcount != 1:
                    refused.append((status, UnknownDeviceError(f"device {device_id} is not registered",
                                                               device_id=device_id)))
                    continue
                versions += [{"device_id": device_id, "list_name": name, "version": version, "reported_at": now}
                             for name, version in status.list_versions.items()]
            if versions:
                stmt = self._insert(_DEVICE_LISTS)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[_DEVICE_LISTS.c.device_id, _DEVICE_LISTS.c.list_name],
                    set_={"version": stmt.excluded.version, "reported_at": stmt.excluded.reported_at})
                conn.execute(stmt, versions)
        return refused

    def list_versions(self) -> dict[str, int]:
        """The current version of every list, in one read.

        :raises StoreError: when the database fails.
        """
        with self._read("reading list versions") as conn:
            return {name: list_changes.current_version(conn, name) for name in LIST_NAMES}

    def record_rejection(self, topic: str, device_id: int | None, error: Exception) -> None:
        """Keep a refused message for the back office: when, its topic, the
        device it claims to come from (``None`` if none), the error's class
        and the first :data:`REJECTION_DETAIL_MAX` characters of its message.

        :raises StoreError: when the database fails.
        """
        if device_id is not None and not _is_int(device_id, 0, INT64_MAX):
            device_id = None  # a topic may name any number; the topic itself is kept
        now = self._now()
        with self._write("recording a rejection") as conn:
            conn.execute(_REJECTIONS.insert().values(
                received_at=now, topic=str(topic), device_id=device_id,
                error_class=type(error).__name__[:128], detail=str(error)[:REJECTION_DETAIL_MAX]))

    # -- transactions ---------------------------------------------------------------------------------

    def ingest(self, batches: Sequence[TxBatch]) -> IngestResult:
        """Store the entries of ``batches`` in one transaction and reconcile
        them (see the module docstring).

        :raises BatchRejectedError: when a batch's device is not registered or
            an entry does not fit (``batch_index`` names the batch); nothing
            of the call was stored.
        :raises StoreError: when the database fails; nothing was stored.
        """
        now = self._now()
        received_at = self._timestamp(now)
        acks: dict[int, list[tuple[int, int]]] = {}
        first_batch: dict[int, int] = {}
        latest: dict[tuple[int, int], tuple[Any, ...]] = {}
        received = 0
        for index, batch in enumerate(batches):
            device_id = batch.device_id
            if not _is_int(device_id, 1, INT64_MAX):
                raise BatchRejectedError(f"batch {index}: device_id {device_id!r:.40} is not a device id",
                                         batch_index=index, device_id=device_id)
            first_batch.setdefault(device_id, index)
            pairs = acks.setdefault(device_id, [])
            for entry in batch.entries:
                try:
                    row = _entry_row(device_id, entry, self._created_at, received_at)
                except (ValueError, TypeError, AttributeError) as exc:
                    raise BatchRejectedError(
                        f"batch {index} from device {device_id}: entry {getattr(entry, 'seq', '?')!r:.40}: {exc}",
                        batch_index=index, device_id=device_id) from exc
                received += 1
                key = (device_id, row[_SEQ])
                pairs.append((row[_SEQ], row[_REV]))
                held = latest.get(key)
                if held is None or row[_REV] > held[_REV]:
                    latest[key] = row
        if not first_batch:
            return IngestResult(acks, 0, 0, 0, 0)
        with self._write("ingesting transactions") as conn:
            last_seq = self._devices_last_seq(conn, first_batch)
            # Entries above what their device had stored are new: only the others are looked up.
            maybe_held = [key for key in latest if key[1] <= last_seq[key[0]]]
            stored = self._stored_revisions(conn, maybe_held) if maybe_held else {}
            written = [row for key, row in latest.items() if row[_REV] > stored.get(key, -1)]
            upgraded = sum(1 for key, rev in stored.items() if latest[key][_REV] > rev)
            moved = [Reconciled(row[_DEVICE], row[_SEQ], from_signed(row[_CARD]), row[_BEFORE], row[_COUNTER],
                                 row[_AMOUNT], row[_BALANCE]) for row in written
                     if row[_STATE] == _DONE and row[_CARD] is not None and row[_COUNTER] is not None
                     and row[_BALANCE] is not None]
            found = self._reconcile(conn, moved, last_seq) if moved else {}
            self._upsert_entries.run(conn, written)
            conn.execute(self._touch_devices, {"ids": list(first_batch), "now": now})
            flagged = 0
            if moved:
                self._update_shadows(conn, moved, received_at)
                flagged = self._flag(conn, found, now)
            collected = [(from_signed(row[_CARD]), row[_DEVICE], row[_SEQ], row[_DETAILS]) for row in written
                         if row[_KIND] == "load" and row[_STATE] == _DONE and row[_CARD] is not None]
            if collected:
                record_applied(conn, applied_loads(collected), now)
        inserted = len(written) - upgraded
        integrity_uids = frozenset(row[_UID] for row in written
                                   if row[_REASON] == INTEGRITY_FAILURE and row[_UID] is not None)
        paying_cards = frozenset(from_signed(row[_CARD]) for row in written
                                 if row[_STATE] == _DONE and row[_AMOUNT] and row[_CARD] is not None)
        return IngestResult(acks, inserted, upgraded, received - inserted - upgraded, flagged, integrity_uids,
                            paying_cards)

    def _devices_last_seq(self, conn: Connection, first_batch: Mapping[int, int]) -> dict[int, int]:
        """Each device's highest sequence number stored before this call (0:
        none yet); a device not registered rejects the first batch naming it."""
        found = {device_id: seq or 0 for device_id, seq in conn.execute(self._last_seq, {"ids": list(first_batch)})}
        for device_id, index in first_batch.items():
            if device_id not in found:
                unknown = UnknownDeviceError(f"device {device_id} is not registered", device_id=device_id)
                raise BatchRejectedError(f"batch {index}: device {device_id} is not registered",
                                         batch_index=index, device_id=device_id) from unknown
        return found

    def _stored_revisions(self, conn: Connection, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
        """The revision held of each of ``keys`` (absent: none)."""
        return {(device_id, seq): rev for chunk in _chunks(keys)
                for device_id, seq, rev in conn.execute(self._stored, self._keys.params(chunk)).all()}

    def _update_shadows(self, conn: Connection, moved: Sequence[Reconciled], updated_at: Any) -> None:
        best: dict[int, Reconciled] = {}
        for entry in moved:
            held = best.get(entry.card)
            if held is None or entry.counter > held.counter:
                best[entry.card] = entry
        self._upsert_shadows.run(conn, [(to_signed(card), entry.counter, entry.balance, updated_at)
                                        for card, entry in best.items()])

    def _reconcile(self, conn: Connection, moved: Sequence[Reconciled], last_seq: Mapping[int, int]) -> Found:
        """The anomalies between the entries ``moved`` (about to be written,
        reconciled: see the module docstring), and between them and the
        stored entries: one query for the whole call (two when some arrived
        late), run before the entries are written, so it finds only stored
        ones; the entries of the call are compared among themselves here."""
        new_keys = {(entry.device_id, entry.seq) for entry in moved}
        by_card: dict[int, list[Reconciled]] = {}
        lowest: dict[int, int] = {}
        for entry in moved:
            card = entry.card
            if card in by_card:
                by_card[card].append(entry)
                lowest[card] = min(lowest[card], entry.counter)
            else:
                by_card[card], lowest[card] = [entry], entry.counter
        make = Reconciled._make
        cards = [(to_signed(card), counter) for card, counter in lowest.items()]
        stored = [make(row) for chunk in _chunks(cards)
                  for row in conn.execute(self._above, self._cards.params(chunk)).all()]
        late = [(entry.device_id, entry.seq, to_signed(entry.card), entry.counter) for entry in moved
                if entry.seq < last_seq[entry.device_id]]
        stored += [make(row) for chunk in _chunks(late)
                   for row in conn.execute(self._ahead, self._late.params(chunk)).all()]
        # Each rule relates entries one counter apart or of one device: index them so that each new entry
        # meets only its neighbours, not every entry of its card (a catch-up brings thousands per card).
        found: Found = {}
        entries = [other for other in stored if (other.device_id, other.seq) not in new_keys]
        entries += moved  # (an older revision of an entry of this call is not compared with it)
        at_counter: dict[tuple[int, int], list[Reconciled]] = {}
        of_device: dict[tuple[int, int], list[Reconciled]] = {}
        for entry in entries:
            at_counter.setdefault((entry.card, entry.counter), []).append(entry)
            of_device.setdefault((entry.device_id, entry.card), []).append(entry)
        for entry in moved:
            for counter in (entry.counter - 1, entry.counter, entry.counter + 1):
                for other in at_counter.get((entry.card, counter), ()):
                    if other is not entry:
                        check_counters(found, entry, other)
        for (device_id, card), history in of_device.items():
            if len(history) > 1 and any(entry.device_id == device_id for entry in moved):
                check_order(found, card, history)
        return found

    def _flag(self, conn: Connection, found: Mapping[tuple[str, int, int], tuple[int, str]], now: dt.datetime) -> int:
        """Record the anomalies ``found`` not recorded yet; how many were new."""
        stmt = self._insert(_ANOMALIES).on_conflict_do_nothing(
            index_elements=[_ANOMALIES.c.kind, _ANOMALIES.c.device_id, _ANOMALIES.c.seq]).returning(_ANOMALIES.c.id)
        new = 0
        for (kind, device_id, seq), (card_number, detail) in found.items():  # rare: one statement each
            inserted = conn.execute(stmt.values(card_number=card_number, kind=kind, device_id=device_id, seq=seq,
                                                detail=detail, detected_at=now)).first()
            new += inserted is not None  # RETURNING gives no row when it was recorded already
        return new

    def transaction_count(self) -> int:
        """How many (device_id, seq) rows are stored.

        :raises StoreError: when the database fails.
        """
        with self._read("counting transactions") as conn:
            return int(conn.scalar(select(func.count()).select_from(_TX)) or 0)

    def transaction_keys(self) -> set[tuple[int, int]]:
        """``(device_id, seq)`` of every stored transaction.

        :raises StoreError: when the database fails.
        """
        with self._read("reading transaction keys") as conn:
            return {(device_id, seq) for device_id, seq in conn.execute(select(_TX.c.device_id, _TX.c.seq))}

    def transaction_revisions(self) -> dict[tuple[int, int], int]:
        """``(device_id, seq) -> rev`` of every stored transaction.

        :raises StoreError: when the database fails.
        """
        with self._read("reading transaction revisions") as conn:
            return {(d, s): r for d, s, r in conn.execute(select(_TX.c.device_id, _TX.c.seq, _TX.c.rev))}

    def shadow(self, card_number: int) -> tuple[int, int] | None:
        """``(counter, balance_cents)`` the server believes ``card_number``
        holds, or ``None`` when no completed entry with a balance named it.

        :raises InvalidValueError: for a card number outside 64 bits unsigned.
        :raises StoreError: when the database fails.
        """
        _check_int("card_number", card_number, 0, 2**64 - 1)
        with self._read("reading a card shadow") as conn:
            row = conn.execute(select(_SHADOWS.c.counter, _SHADOWS.c.balance_cents)
                               .where(_SHADOWS.c.card_number == card_number)).first()
        return None if row is None else (row.counter, row.balance_cents)

    def anomalies(self) -> list[Anomaly]:
        """Every anomaly flagged, oldest first.

        :raises StoreError: when the database fails.
        """
        with self._read("reading anomalies") as conn:
            rows = conn.execute(select(_ANOMALIES.c.card_number, _ANOMALIES.c.kind, _ANOMALIES.c.device_id,
                                       _ANOMALIES.c.seq, _ANOMALIES.c.detail).order_by(_ANOMALIES.c.id))
            return [Anomaly(*row) for row in rows]

    def rejections(self) -> list[Rejection]:
        """Every refused message recorded, oldest first.

        :raises StoreError: when the database fails.
        """
        with self._read("reading rejections") as conn:
            rows = conn.execute(select(_REJECTIONS.c.received_at, _REJECTIONS.c.topic, _REJECTIONS.c.device_id,
                                       _REJECTIONS.c.error_class, _REJECTIONS.c.detail).order_by(_REJECTIONS.c.id))
            return [Rejection(*row) for row in rows]

    # -- lists: changes -------------------------------------------------------------------------------

    def block(self, *, card_number: int | None = None, uid: bytes | None = None, reason: str,
              within: Connection | None = None) -> int:
        """Deny ``card_number``, ``uid`` or both, shown to the rider as ``reason``.

        :returns: the deny-list version that holds the block (the current one
            when the keys were blocked already for this reason).
        :raises InvalidValueError: with neither key, a card number outside 64
            bits, a UID not 4 or 7 bytes, or an empty reason.
        :raises StoreError: when the database fails.
        """
        return self.block_many([(card_number, uid, reason)], within=within)

    def block_many(self, blocks: Iterable[tuple[int | None, bytes | None, str]], *,
                   within: Connection | None = None) -> int:
        """Deny each ``(card_number, uid, reason)`` of ``blocks`` in one
        transaction and one new version (a list taken over from another
        system, a batch of cards reported stolen).

        :returns: the deny-list version that holds them.
        :raises InvalidValueError: as :meth:`block`, for any of them (nothing is blocked).
        :raises StoreError: when the database fails.
        """
        entries = []
        for card_number, uid, reason in blocks:
            entries.append(_deny_entry(card_number, uid, reason))
            if not reason:
                raise InvalidValueError("a block needs a reason (it is shown to the rider)")
        now = self._now()
        with self._write("blocking", within) as conn:
            changes = []
            for entry in entries:
                changed = False
                for column, value in list_changes.deny_keys(entry):
                    held = conn.execute(select(_DENY.c.reason).where(_DENY.c[column] == value)).first()
                    if held is not None and held.reason == entry.reason:
                        continue
                    changed = True
                    stmt = self._insert(_DENY).values(**{column: value}, reason=entry.reason, blocked_at=now)
                    conn.execute(stmt.on_conflict_do_update(
                        index_elements=[_DENY.c[column]],
                        set_={"reason": stmt.excluded.reason, "blocked_at": stmt.excluded.blocked_at}))
                if changed:
                    changes.append(("add", items.deny_entry_to_item(entry)))
            if not changes:
                return list_changes.current_version(conn, "denylist")
            return list_changes.next_version(conn, "denylist", changes)

    def unblock(self, *, card_number: int | None = None, uid: bytes | None = None,
                within: Connection | None = None) -> int:
        """Deny ``card_number``, ``uid`` (or both) no more.

        :returns: the deny-list version without them (the current one when
            neither was blocked).
        :raises InvalidValueError: with neither key, or a key out of range.
        :raises StoreError: when the database fails.
        """
        entry = _deny_entry(card_number, uid, "")
        with self._write("unblocking", within) as conn:
            removed = 0
            for column, value in list_changes.deny_keys(entry):
                removed += conn.execute(delete(_DENY).where(_DENY.c[column] == value)).rowcount
            if not removed:
                return list_changes.current_version(conn, "denylist")
            removal = items.deny_removal_to_item(card_number, uid)
            return list_changes.next_version(conn, "denylist", [("remove", removal)])

    def add_load(self, card_number: int, amount_cents: int, purse_key_b: bytes, *,
                 within: Connection | None = None) -> tuple[int, int]:
        """Queue a top-up of ``amount_cents`` for ``card_number``'s next tap;
        ``purse_key_b`` is that card's diversified purse key B (6 bytes).

        :returns: ``(load_seq, version)``: the load's sequence number for that
            card (1, 2, ... never reused) and the new loads version.
        :raises InvalidValueError: for a card number, amount or key out of range.
        :raises LoadSequenceExhaustedError: when the card has had 65,535 loads.
        :raises StoreError: when the database fails.
        """
        now = self._now()
        try:
            PendingLoad(card_number, 1, amount_cents, purse_key_b, now)  # the device's checks, before anything
        except ValueError as exc:  # device.errors.ListEntryError
            raise InvalidValueError(str(exc)) from exc
        with self._write(f"adding a load for card {card_number}", within) as conn:
            stmt = self._insert(_LOAD_SEQS).values(card_number=card_number, last_load_seq=1)
            load_seq = conn.scalar(stmt.on_conflict_do_update(
                index_elements=[_LOAD_SEQS.c.card_number],
                set_={"last_load_seq": _LOAD_SEQS.c.last_load_seq + 1}).returning(_LOAD_SEQS.c.last_load_seq))
            if load_seq > LOAD_SEQ_MAX:  # raising rolls the increment back
                raise LoadSequenceExhaustedError(f"card {card_number} has used all {LOAD_SEQ_MAX} load numbers")
            load = PendingLoad(card_number, load_seq, amount_cents, purse_key_b, now)
            conn.execute(_LOADS.insert().values(card_number=card_number, load_seq=load_seq,
                                                amount_cents=amount_cents, purse_key_b=purse_key_b, created_at=now))
            return load_seq, list_changes.next_version(conn, "loads", [("add", items.load_to_item(load))])

    def put_config(self, name: str, document: Mapping[str, Any]) -> int:
        """Set the configuration document ``name`` (a JSON object).

        :returns: the config version that holds it (the current one when the
            document is unchanged).
        :raises InvalidValueError: for a name not 1 to 64 characters or a
            document that is not a JSON object.
        :raises StoreError: when the database fails.
        """
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise InvalidValueError(f"a configuration document name is 1 to 64 characters, got {name!r:.80}")
        if not isinstance(document, Mapping) or not all(isinstance(key, str) for key in document):
            raise InvalidValueError(f"config {name!r}: a document is a JSON object, got {type(document).__name__}")
        try:
            text = dump_json(document)
        except ValueError as exc:
            raise InvalidValueError(f"config {name!r}: {exc}") from exc
        with self._write(f"putting config {name!r}") as conn:
            held = conn.scalar(select(_CONFIG.c.document).where(_CONFIG.c.name == name))
            if held is not None and dump_json(held) == text:
                return list_changes.current_version(conn, "config")
            version = list_changes.next_version(conn, "config", [("add", items.config_to_item(name, document))])
            stmt = self._insert(_CONFIG).values(name=name, version=version, document=dict(document))
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[_CONFIG.c.name],
                set_={"version": stmt.excluded.version, "document": stmt.excluded.document}))
            return version

    def list_version(self, name: str) -> int:
        """The current version of list ``name`` (0: never changed).

        :raises UnknownListError: for a name other than denylist, loads, config.
        :raises StoreError: when the database fails.
        """
        _check_list(name)
        with self._read(f"reading the {name} version") as conn:
            return list_changes.current_version(conn, name)

    def full_list(self, name: str, *, device_id: int | None = None) -> ListUpdate:
        """The whole list ``name`` at its current version, addressed to
        ``device_id`` (``None``: a broadcast). At version 0 it is empty and
        at version 0, which devices do not apply (:meth:`delta` gives ``None``
        to a device at 0).

        :raises UnknownListError: for a name other than denylist, loads, config.
        :raises StoreError: when the database fails.
        """
        _check_list(name)
        now = self._now()
        with self._read(f"reading the full {name}") as conn:
            version = list_changes.current_version(conn, name)
            added = self._current_items(conn, name)
        return ListUpdate(list=name, full=True, from_version=None, to_version=version, issued_at=now.isoformat(),
                          device_id=device_id, added=tuple(added), removed=())

    def delta(self, name: str, from_version: int, *, device_id: int | None = None) -> ListUpdate | None:
        """What a device holding version ``from_version`` of list ``name``
        needs: ``None`` when that is the current version; the changes since,
        folded to their net effect; or the full list when the change log no
        longer reaches back to ``from_version``, or ``from_version`` is ahead
        of the server (the device's list must be replaced).

        :raises UnknownListError: for a name other than denylist, loads, config.
        :raises InvalidValueError: for a negative or non-integer version.
        :raises StoreError: when the database fails.
        """
        _check_list(name)
        _check_int("from_version", from_version, 0, INT64_MAX)
        now = self._now()
        with self._read(f"reading the {name} changes") as conn:
            version = list_changes.current_version(conn, name)
            if from_version == version:
                return None
            changes = [] if from_version > version else conn.execute(
                select(_CHANGES.c.version, _CHANGES.c.op, _CHANGES.c.item)
                .where(_CHANGES.c.list_name == name, _CHANGES.c.version > from_version)
                .order_by(_CHANGES.c.version, _CHANGES.c.ordinal)).all()
            if not changes or changes[0].version != from_version + 1:
                added = self._current_items(conn, name)
                return ListUpdate(list=name, full=True, from_version=None, to_version=version,
                                  issued_at=now.isoformat(), device_id=device_id, added=tuple(added), removed=())
        added, removed = list_changes.fold(name, [(row.op, row.item) for row in changes])
        return ListUpdate(list=name, full=False, from_version=from_version, to_version=version,
                          issued_at=now.isoformat(), device_id=device_id, added=tuple(added), removed=tuple(removed))

    @staticmethod
    def _current_items(conn: Connection, name: str) -> list[dict[str, Any]]:
        if name == "denylist":
            return [items.deny_entry_to_item(DenyEntry(row.card_number, _bytes(row.uid), row.reason))
                    for row in conn.execute(select(_DENY.c.card_number, _DENY.c.uid, _DENY.c.reason)
                                            .order_by(_DENY.c.id))]
        if name == "loads":  # sorted here: stored card numbers from 2**63 are negative
            loads = sorted((PendingLoad(row.card_number, row.load_seq, row.amount_cents, bytes(row.purse_key_b),
                                        row.created_at) for row in conn.execute(select(_LOADS))),
                           key=lambda load: (load.card_number, load.load_seq))
            return [items.load_to_item(load) for load in loads]
        return [items.config_to_item(row.name, row.document)
                for row in conn.execute(select(_CONFIG.c.name, _CONFIG.c.document).order_by(_CONFIG.c.name))]

    def device_list_versions(self) -> dict[int, dict[str, int]]:
        """device_id -> list name -> the version it last reported holding
        (devices that never reported are absent).

        :raises StoreError: when the database fails.
        """
        with self._read("reading device list versions") as conn:
            result: dict[int, dict[str, int]] = {}
            for device_id, name, version in conn.execute(
                    select(_DEVICE_LISTS.c.device_id, _DEVICE_LISTS.c.list_name, _DEVICE_LISTS.c.version)):
                result.setdefault(device_id, {})[name] = version
            return result

    def list_lag(self) -> dict[int, dict[str, int]]:
        """device_id -> list name -> how many versions the device is behind
        the server (0: current), for the server's lists the device reported.

        :raises StoreError: when the database fails.
        """
        with self._read("reading list lag") as conn:
            current = {name: list_changes.current_version(conn, name) for name in LIST_NAMES}
            result: dict[int, dict[str, int]] = {}
            for device_id, name, version in conn.execute(
                    select(_DEVICE_LISTS.c.device_id, _DEVICE_LISTS.c.list_name, _DEVICE_LISTS.c.version)
                    .where(_DEVICE_LISTS.c.list_name.in_(LIST_NAMES))):
                result.setdefault(device_id, {})[name] = current[name] - version
            return result


# -- ingest: entries ----------------------------------------------------------------------------------

_UID_HEX_SIZES = frozenset(2 * size for size in UID_SIZES)
_STATES = frozenset(models.ENTRY_STATES)
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=True)


def _entry_row(device_id: int, entry: EntryRecord, created_at_param: Callable[[str], Any],
               received_at: Any) -> tuple[Any, ...]:
    """The ``transactions`` row of ``entry``: its values in the order of
    :data:`_ENTRY_PARAMS`, as the driver takes them (the card number signed,
    ``created_at`` through ``created_at_param``, details as JSON text).

    :raises ValueError: naming the field that does not fit.
    """
    created_at = entry.created_at
    try:
        created = created_at_param(created_at)
    except (ValueError, TypeError):
        raise ValueError(f"created_at {created_at!r:.40} is not an ISO-8601 time with a time zone") from None
    uid = entry.uid
    if uid is not None:
        try:
            raw = bytes.fromhex(uid) if isinstance(uid, str) and len(uid) in _UID_HEX_SIZES else b""
        except ValueError:
            raw = b""
        if len(raw) * 2 != len(uid):  # also refuses the spaces fromhex skips
            raise ValueError(f"uid {uid!r:.40} is not the hex of 4 or 7 bytes")
        uid = raw
    if entry.state not in _STATES:
        raise ValueError(f"state {entry.state!r:.40} is not one of {', '.join(models.ENTRY_STATES)}")
    kind, decision, reason, details = entry.kind, entry.decision, entry.reason, entry.details
    if type(kind) is not str or type(decision) is not str or type(reason) is not str:
        raise ValueError("kind, decision and reason must be strings")
    if not isinstance(details, dict):
        raise ValueError("details is not a JSON object")
    seq, rev, amount = entry.seq, entry.rev, entry.amount_cents
    card, before, after, balance = entry.card_number, entry.counter_before, entry.counter_after, entry.balance_cents
    # The common case in one test: plain ints in range (bool is a subclass of int; type() excludes it).
    if not (type(seq) is int and 0 < seq <= INT64_MAX and type(rev) is int and 0 <= rev <= _INT32_MAX
            and type(amount) is int and -INT64_MAX <= amount <= INT64_MAX):
        for name, low, high in (("seq", 1, INT64_MAX), ("rev", 0, _INT32_MAX), ("amount_cents", -INT64_MAX, INT64_MAX)):
            _check_value(name, getattr(entry, name), low, high)
    for name, value, low, high in (("card_number", card, 0, 2**64 - 1), ("counter_before", before, 0, COUNTER_MAX),
                                   ("counter_after", after, 0, COUNTER_MAX),
                                   ("balance_cents", balance, -INT64_MAX, INT64_MAX)):
        if value is not None and not (type(value) is int and low <= value <= high):
            _check_value(name, value, low, high)
    return (device_id, seq, rev, kind, entry.state, created, uid,
            None if card is None else to_signed(card), before, after, amount, balance, decision, reason,
            _JSON.encode(details),  # refused here (NaN, a non-JSON value), not half-way through the transaction
            received_at)


def _deny_entry(card_number: int | None, uid: bytes | None, reason: str) -> DenyEntry:
    try:
        return DenyEntry(card_number, uid, reason)
    except ValueError as exc:  # device.errors.DenyListEntryError
        raise InvalidValueError(str(exc)) from exc


def _check_status(status: Status) -> None:
    device_id = status.device_id
    _check_int("device_id", device_id, 1, INT64_MAX)
    _check_int("backlog", status.backlog, 0, INT64_MAX)
    _check_int("last_seq", status.last_seq, 0, INT64_MAX)
    for name, version in status.list_versions.items():
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise InvalidValueError(f"device {device_id}: list name {name!r:.80} is not 1 to 64 characters")
        _check_int(f"version of list {name!r}", version, 0, INT64_MAX)


def _check_list(name: str) -> None:
    if name not in LIST_NAMES:
        raise UnknownListError(f"unknown list {name!r:.40}: the lists are {', '.join(LIST_NAMES)}")


# -- small helpers ------------------------------------------------------------------------------------

def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_value(name: str, value: object, low: int, high: int) -> None:
    if not _is_int(value, low, high):
        raise ValueError(f"{name} {value!r:.40} is not an integer in {low}..{high}")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not _is_int(value, low, high):
        raise InvalidValueError(f"{name} must be an integer in {low}..{high}, got {value!r:.40}")


def _same(value: Any) -> Any:
    return value


def _bytes(value: bytes | memoryview | None) -> bytes | None:
    return None if value is None else bytes(value)


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
