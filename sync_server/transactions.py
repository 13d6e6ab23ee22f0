"""The transaction pull: the synced transactions, filtered by creation time,
service (the device's mode), operator (the device's operator), device and
card, in ``transactions.id`` order, a page at a time (cursor pagination) or
all at once as a stream of CSV text.

Pages never skip nor repeat a row while devices keep syncing: a page holds
rows with ids above the cursor, and no row with a lower id may appear later.
On SQLite a single writer commits ids in order, so every read sees all rows
below its highest id. On PostgreSQL ids come from a sequence and a
transaction holding a lower id may commit after one holding a higher id, so
a page is read after ``LOCK TABLE transactions IN SHARE MODE``: the lock waits
for the transactions that are inserting to end and holds new ones back for
the few milliseconds of the page's query, so every id the page sees below
its last is committed (or rolled back, and gone for good).

The CSV export streams from one snapshot through a server-side cursor
(memory stays flat whatever the size), reads the columns as the database
stores them, already formatted by SQL (times in UTC as SQLite stores them,
``YYYY-MM-DD HH:MM:SS.ffffff``, UIDs as hex, card numbers unsigned), and
writes them with :mod:`csv` in chunks: no per-row Python conversion.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, Table, Text, case, func, literal_column, select, type_coerce
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from .db.access import reading, store_error
from .db.models import Device, Transaction
from .errors import InvalidValueError

TX: Table = Transaction.__table__  # type: ignore[assignment]
DEVICES: Table = Device.__table__  # type: ignore[assignment]

PAGE_MAX = 1000
PAGE_DEFAULT = 100
CSV_CHUNK_ROWS = 20_000
"""Rows fetched and written per chunk of the CSV stream."""

CSV_COLUMNS = ("id", "device_id", "seq", "rev", "created_at", "received_at", "service", "operator", "kind", "state",
               "decision", "reason", "card_number", "uid", "counter_before", "counter_after", "amount_cents",
               "balance_cents", "details")
"""The CSV export's header row, in column order."""

_CURSOR_PREFIX = "tx1:"


class InvalidCursorError(InvalidValueError):
    """A pagination cursor this server did not hand out."""


@dataclass(frozen=True)
class TransactionFilter:
    """Which transactions: created in [created_from, created_to), of a
    service, operator, device or card (``None``: any). ``state``,
    ``received_after`` and ``received_until`` (received in (after, until])
    serve settlements."""

    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    service: str | None = None
    operator: int | None = None
    device_id: int | None = None
    card_number: int | None = None
    state: str | None = None
    received_after: dt.datetime | None = None
    received_until: dt.datetime | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        """The SQL conditions on ``transactions`` joined with ``devices``."""
        found: list[ColumnElement[bool]] = []
        if self.created_from is not None:
            found.append(TX.c.created_at >= self.created_from)
        if self.created_to is not None:
            found.append(TX.c.created_at < self.created_to)
        if self.service is not None:
            found.append(DEVICES.c.mode == self.service)
        if self.operator is not None:
            found.append(DEVICES.c.operator == self.operator)
        if self.device_id is not None:
            found.append(TX.c.device_id == self.device_id)
        if self.card_number is not None:
            found.append(TX.c.card_number == self.card_number)
        if self.state is not None:
            found.append(TX.c.state == self.state)
        if self.received_after is not None:
            found.append(TX.c.received_at > self.received_after)
        if self.received_until is not None:
            found.append(TX.c.received_at <= self.received_until)
        return found


@dataclass(frozen=True)
class TransactionRow:
    id: int
    device_id: int
    seq: int
    rev: int
    created_at: dt.datetime
    received_at: dt.datetime
    service: str
    operator: int
    kind: str
    state: str
    decision: str
    reason: str
    card_number: int | None
    uid: str | None  # hex
    counter_before: int | None
    counter_after: int | None
    amount_cents: int
    balance_cents: int | None
    details: dict[str, Any]


@dataclass(frozen=True)
class Page:
    """``rows`` in id order; ``more``: rows after them matched when read."""

    rows: list[TransactionRow]
    more: bool

    @property
    def last_id(self) -> int | None:
        return self.rows[-1].id if self.rows else None


def encode_cursor(last_id: int) -> str:
    """The opaque cursor that resumes after the row ``last_id``."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The last id a cursor of :func:`encode_cursor` names.

    :raises InvalidCursorError: for any other text.
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursorError("the cursor is not one this server handed out") from None
    number = text.removeprefix(_CURSOR_PREFIX)
    if len(cursor) > 40 or not text.startswith(_CURSOR_PREFIX) or not number.isdigit() or len(number) > 19:
        raise InvalidCursorError("the cursor is not one this server handed out")
    return int(number)


def _joined(*columns: Any) -> Select[Any]:
    return select(*columns).select_from(TX.join(DEVICES, DEVICES.c.device_id == TX.c.device_id))


def page(engine: Engine, filters: TransactionFilter, *, after: int = 0, limit: int = PAGE_DEFAULT) -> Page:
    """Up to ``limit`` transactions matching ``filters`` with ids above ``after``, in id order.

    :raises InvalidValueError: for a limit outside 1..:data:`PAGE_MAX`.
    :raises StoreError: when the database fails.
    """
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidValueError(f"limit must be in 1..{PAGE_MAX}, got {limit}")
    query = (_joined(TX, DEVICES.c.mode.label("service"), DEVICES.c.operator.label("operator"))
             .where(TX.c.id > after, *filters.clauses()).order_by(TX.c.id).limit(limit + 1))
    with reading(engine, "reading a page of transactions") as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("LOCK TABLE transactions IN SHARE MODE")
        rows = conn.execute(query).all()
    return Page([TransactionRow(
        id=row.id, device_id=row.device_id, seq=row.seq, rev=row.rev, created_at=row.created_at,
        received_at=row.received_at, service=row.service, operator=row.operator, kind=row.kind, state=row.state,
        decision=row.decision, reason=row.reason, card_number=row.card_number,
        uid=None if row.uid is None else row.uid.hex(), counter_before=row.counter_before,
        counter_after=row.counter_after, amount_cents=row.amount_cents, balance_cents=row.balance_cents,
        details=row.details) for row in rows[:limit]], more=len(rows) > limit)


# -- CSV ----------------------------------------------------------------------------------------------


def _csv_columns(dialect: str) -> list[ColumnElement[Any]]:
    """The export's columns formatted by SQL, typed so that SQLAlchemy applies no result processing."""
    if dialect == "sqlite":
        def time(column: Any) -> Any:
            return column  # stored as the export writes it: formatting it in SQL would halve the rate
        card = case((TX.c.card_number < literal_column("0"), func.printf(literal_column("'%u'"), TX.c.card_number)),
                    else_=TX.c.card_number)
        uid = func.lower(func.hex(TX.c.uid))  # hex(NULL) is '', which CSV writes for a null anyway
    else:
        def time(column: Any) -> Any:
            return func.to_char(column.op("AT TIME ZONE")(literal_column("'UTC'")),
                                literal_column("'YYYY-MM-DD HH24:MI:SS.US'"))
        card = literal_column("CASE WHEN transactions.card_number < 0 THEN (transactions.card_number::numeric "
                              "+ 18446744073709551616)::text ELSE transactions.card_number::text END")
        uid = func.encode(TX.c.uid, "hex")
    plain = {name: type_coerce(TX.c[name], BigInteger) for name in (
        "id", "device_id", "seq", "rev", "counter_before", "counter_after", "amount_cents", "balance_cents")}
    return [plain["id"], plain["device_id"], plain["seq"], plain["rev"],
            type_coerce(time(TX.c.created_at), Text), type_coerce(time(TX.c.received_at), Text),
            DEVICES.c.mode, DEVICES.c.operator, TX.c.kind, TX.c.state, TX.c.decision, TX.c.reason,
            type_coerce(card, Text), type_coerce(uid, Text), plain["counter_before"], plain["counter_after"],
            plain["amount_cents"], plain["balance_cents"], type_coerce(TX.c.details, Text)]


def csv_query(dialect: str, filters: TransactionFilter) -> Select[Any]:
    """The export's query for ``dialect`` (``sqlite``, ``postgresql``): the columns of :data:`CSV_COLUMNS`."""
    return _joined(*_csv_columns(dialect)).where(*filters.clauses()).order_by(TX.c.id)


def csv_stream(engine: Engine, filters: TransactionFilter, *, chunk_rows: int = CSV_CHUNK_ROWS) -> Iterator[bytes]:
    """The transactions matching ``filters`` as UTF-8 CSV (RFC 4180: CRLF
    line ends, fields quoted when needed), a header row first, in id order,
    in chunks of ``chunk_rows`` rows (memory stays flat), all from one
    snapshot of the database.

    The first chunk (the header) is produced only once the query runs, so a
    caller that takes it before answering can still answer an error.

    :raises StoreError: when the database fails.
    """
    query = csv_query(engine.dialect.name, filters)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    with reading(engine, "exporting transactions", snapshot=True) as conn:
        try:
            chunks: Iterator[Sequence[Any]]
            if conn.dialect.name == "sqlite":
                # pysqlite's cursor streams by itself, and every column is plain already: reading the
                # DBAPI cursor skips building a Row per row, a fifth of the export's time.
                cursor = conn.execute(query).cursor
                chunks = iter(lambda: cursor.fetchmany(chunk_rows), [])
            else:  # a server-side cursor
                chunks = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(query).partitions()
            writer.writerow(CSV_COLUMNS)
            yield buffer.getvalue().encode()
            for rows in chunks:
                buffer.seek(0)
                buffer.truncate()
                writer.writerows(rows)
                yield buffer.getvalue().encode()
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise store_error("exporting transactions", exc) from exc
