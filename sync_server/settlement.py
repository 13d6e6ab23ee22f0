"""Settlements with the operators: what an operator is owed for a period.

A settlement covers the ``done`` transactions of the operator's devices
created in [period_start, period_end) and received in (received_after,
cutoff]. Its lines are per (service, kind): how many transactions and the
amount charged to cards (positive cents: what the operator is owed).

- The first settlement of a period has ``received_after`` null. Transactions
  of the period received after its cut-off (a device that was offline) are
  settled by an *adjustment* of the same period, with ``received_after`` the
  previous cut-off: each transaction is settled exactly once. A first
  settlement overlapping a settled period of the operator other than exactly
  is refused.
- Closed settlements are immutable: this module has no update or delete.
- The digest is the SHA-256 (hex) of :func:`render`, the canonical CSV of the
  lines (which is also the lines export, so anyone can check it with
  ``sha256sum``); :meth:`Settlements.verify` recomputes the lines from the
  transactions and compares: a closed settlement is reproducible.
- The cut-off must be at least :data:`CUTOFF_LAG` in the past: ingest stamps
  ``received_at`` when it starts a write, which commits moments later, so a
  cut-off of "now" could miss a row that then appears below it.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Table, case, func, select
from sqlalchemy.engine import Connection, Engine

from . import audit
from .audit import Actor
from .db.access import reading, writing
from .db.models import Device, Operator, Settlement, SettlementLine, Transaction
from .errors import (
    InvalidValueError,
    SettlementOverlapError,
    UnknownOperatorError,
    UnknownSettlementError,
)
from .transactions import TransactionFilter

SETTLEMENTS: Table = Settlement.__table__  # type: ignore[assignment]
LINES: Table = SettlementLine.__table__  # type: ignore[assignment]
TX: Table = Transaction.__table__  # type: ignore[assignment]
DEVICES: Table = Device.__table__  # type: ignore[assignment]
OPERATORS: Table = Operator.__table__  # type: ignore[assignment]

CUTOFF_LAG = dt.timedelta(minutes=5)
"""How far in the past a cut-off must be (the default cut-off is now minus this)."""

LINE_COLUMNS = ("operator_id", "period_start", "period_end", "received_after", "cutoff", "service", "kind",
                "transaction_count", "amount_cents")
"""The columns of :func:`render`."""


@dataclass(frozen=True)
class Scope:
    """Which transactions a settlement covers (see the module docstring)."""

    operator_id: int
    period_start: dt.datetime
    period_end: dt.datetime
    received_after: dt.datetime | None
    cutoff: dt.datetime

    @property
    def adjustment(self) -> bool:
        return self.received_after is not None

    def transactions(self) -> TransactionFilter:
        """The filter of the settled transactions (for their export)."""
        return TransactionFilter(created_from=self.period_start, created_to=self.period_end,
                                 operator=self.operator_id, state="done", received_after=self.received_after,
                                 received_until=self.cutoff)


@dataclass(frozen=True)
class Line:
    service: str
    kind: str
    transaction_count: int
    amount_cents: int


@dataclass(frozen=True)
class Draft:
    """A settlement computed, not stored (a preview)."""

    scope: Scope
    lines: tuple[Line, ...]
    digest: str

    @property
    def transaction_count(self) -> int:
        return sum(line.transaction_count for line in self.lines)

    @property
    def amount_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


@dataclass(frozen=True)
class Closed(Draft):
    """A closed (stored) settlement."""

    id: int
    closed_at: dt.datetime
    closed_by: str


@dataclass(frozen=True)
class Verification:
    settlement: Closed
    recomputed: str

    @property
    def reproducible(self) -> bool:
        return self.recomputed == self.settlement.digest


def time_text(value: dt.datetime | None) -> str:
    """The canonical text of a time: UTC, microseconds, ``Z`` (empty for ``None``)."""
    return "" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def render(scope: Scope, lines: Sequence[Line]) -> str:
    """The canonical rendering: CSV (RFC 4180, CRLF), a header row of
    :data:`LINE_COLUMNS`, a row per line sorted by service then kind, the
    scope repeated on each row."""
    buffer = io.StringIO()
    writer_ = csv.writer(buffer, lineterminator="\r\n")
    writer_.writerow(LINE_COLUMNS)
    head = (scope.operator_id, time_text(scope.period_start), time_text(scope.period_end),
            time_text(scope.received_after), time_text(scope.cutoff))
    for line in sorted(lines, key=lambda line: (line.service, line.kind)):
        writer_.writerow((*head, line.service, line.kind, line.transaction_count, line.amount_cents))
    return buffer.getvalue()


def digest(scope: Scope, lines: Sequence[Line]) -> str:
    """The SHA-256 (hex) of :func:`render`."""
    return hashlib.sha256(render(scope, lines).encode("utf-8")).hexdigest()


def compute_lines(conn: Connection, scope: Scope) -> tuple[Line, ...]:
    """The lines of ``scope`` from the transactions, by service then kind."""
    amount = func.sum(case((TX.c.amount_cents < 0, -TX.c.amount_cents), else_=0))
    rows = conn.execute(
        select(DEVICES.c.mode, TX.c.kind, func.count(), amount)
        .select_from(TX.join(DEVICES, DEVICES.c.device_id == TX.c.device_id))
        .where(*scope.transactions().clauses())
        .group_by(DEVICES.c.mode, TX.c.kind)).all()
    return tuple(sorted((Line(row[0], row[1], int(row[2]), int(row[3])) for row in rows),
                        key=lambda line: (line.service, line.kind)))


class Settlements:
    """Settlements over ``engine`` (migrated); ``clock`` gives now."""

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime]) -> None:
        self._engine = engine
        self._clock = clock

    def _scope(self, conn: Connection, operator_id: int, period_start: dt.datetime, period_end: dt.datetime,
               cutoff: dt.datetime | None) -> Scope:
        now = self._clock()
        if not period_end > period_start:
            raise InvalidValueError("the period's end must be after its start")
        latest = now - CUTOFF_LAG
        cutoff = latest if cutoff is None else cutoff
        if cutoff > latest:
            raise InvalidValueError(f"the cut-off must be at least {int(CUTOFF_LAG.total_seconds())} s in the past "
                                    f"(at most {time_text(latest)}): later transactions may still be committing")
        if conn.execute(select(OPERATORS.c.id).where(OPERATORS.c.id == operator_id)).first() is None:
            raise UnknownOperatorError(f"no operator {operator_id}")
        overlapping = conn.execute(select(SETTLEMENTS.c.period_start, SETTLEMENTS.c.period_end, SETTLEMENTS.c.cutoff)
                                   .where(SETTLEMENTS.c.operator_id == operator_id,
                                          SETTLEMENTS.c.period_start < period_end,
                                          SETTLEMENTS.c.period_end > period_start)).all()
        if any((row.period_start, row.period_end) != (period_start, period_end) for row in overlapping):
            raise SettlementOverlapError(f"operator {operator_id} has a settlement of a period overlapping "
                                         f"[{time_text(period_start)}, {time_text(period_end)}) other than exactly")
        received_after = max((row.cutoff for row in overlapping), default=None)
        if received_after is not None and not cutoff > received_after:
            raise SettlementOverlapError(f"this period is settled up to {time_text(received_after)}: an adjustment's "
                                         f"cut-off must be later")
        return Scope(operator_id, period_start, period_end, received_after, cutoff)

    def preview(self, operator_id: int, period_start: dt.datetime, period_end: dt.datetime,
                cutoff: dt.datetime | None = None) -> Draft:
        """What :meth:`close` would store now (a first settlement or an adjustment), without storing it.

        :raises InvalidValueError: for a period that ends before it starts, or a cut-off too recent.
        :raises UnknownOperatorError: when there is no such operator.
        :raises SettlementOverlapError: as :meth:`close`.
        :raises StoreError: when the database fails.
        """
        with reading(self._engine, "previewing a settlement", snapshot=True) as conn:
            scope = self._scope(conn, operator_id, period_start, period_end, cutoff)
            lines = compute_lines(conn, scope)
        return Draft(scope, lines, digest(scope, lines))

    def close(self, actor: Actor, operator_id: int, period_start: dt.datetime, period_end: dt.datetime,
              cutoff: dt.datetime | None = None) -> Closed:
        """Compute and store the settlement of ``operator_id``'s period up to
        ``cutoff`` (default: now minus :data:`CUTOFF_LAG`), audited.

        :raises InvalidValueError: for a period that ends before it starts, or a cut-off too recent.
        :raises UnknownOperatorError: when there is no such operator.
        :raises SettlementOverlapError: when the period overlaps a settled one other than exactly, or the
            cut-off is not after the period's last.
        :raises StoreError: when the database fails.
        """
        now = self._clock()
        with writing(self._engine, "closing a settlement") as conn:
            if conn.dialect.name == "postgresql":  # closes of one operator, one at a time
                conn.execute(select(OPERATORS.c.id).where(OPERATORS.c.id == operator_id).with_for_update())
            scope = self._scope(conn, operator_id, period_start, period_end, cutoff)
            lines = compute_lines(conn, scope)
            draft = Draft(scope, lines, digest(scope, lines))
            settlement_id = conn.execute(SETTLEMENTS.insert().values(
                operator_id=operator_id, period_start=period_start, period_end=period_end,
                received_after=scope.received_after, cutoff=scope.cutoff, closed_at=now, closed_by=actor.name,
                transaction_count=draft.transaction_count, amount_cents=draft.amount_cents,
                digest=draft.digest).returning(SETTLEMENTS.c.id)).scalar_one()
            if lines:
                conn.execute(LINES.insert(), [{
                    "settlement_id": settlement_id, "service": line.service, "kind": line.kind,
                    "transaction_count": line.transaction_count, "amount_cents": line.amount_cents}
                    for line in lines])
            audit.record(conn, actor, "settlement.close", f"settlement:{settlement_id}", now, {
                "operator_id": operator_id, "period_start": time_text(period_start),
                "period_end": time_text(period_end), "received_after": time_text(scope.received_after) or None,
                "cutoff": time_text(scope.cutoff), "transaction_count": draft.transaction_count,
                "amount_cents": draft.amount_cents, "digest": draft.digest})
        return Closed(scope, lines, draft.digest, settlement_id, now, actor.name)

    def _closed(self, conn: Connection, rows: Sequence[Row[Any]]) -> list[Closed]:
        ids = [row.id for row in rows]
        lines: dict[int, list[Line]] = {settlement_id: [] for settlement_id in ids}
        if ids:
            for line in conn.execute(select(LINES).where(LINES.c.settlement_id.in_(ids))
                                     .order_by(LINES.c.settlement_id, LINES.c.service, LINES.c.kind)):
                lines[line.settlement_id].append(Line(line.service, line.kind, line.transaction_count,
                                                      line.amount_cents))
        return [Closed(Scope(row.operator_id, row.period_start, row.period_end, row.received_after, row.cutoff),
                       tuple(lines[row.id]), row.digest, row.id, row.closed_at, row.closed_by) for row in rows]

    def closed(self, operator_id: int | None = None) -> list[Closed]:
        """The closed settlements (of one operator, if given), by id.

        :raises StoreError: when the database fails.
        """
        query = select(SETTLEMENTS).order_by(SETTLEMENTS.c.id)
        if operator_id is not None:
            query = query.where(SETTLEMENTS.c.operator_id == operator_id)
        with reading(self._engine, "listing settlements", snapshot=True) as conn:
            return self._closed(conn, conn.execute(query).all())

    def get(self, settlement_id: int) -> Closed:
        """Settlement ``settlement_id``.

        :raises UnknownSettlementError: when there is none.
        :raises StoreError: when the database fails.
        """
        with reading(self._engine, "reading a settlement", snapshot=True) as conn:
            found = self._closed(conn, conn.execute(
                select(SETTLEMENTS).where(SETTLEMENTS.c.id == settlement_id)).all())
        if not found:
            raise UnknownSettlementError(f"no settlement {settlement_id}")
        return found[0]

    def verify(self, settlement_id: int) -> Verification:
        """Recompute settlement ``settlement_id`` from the transactions and compare digests.

        :raises UnknownSettlementError: when there is none.
        :raises StoreError: when the database fails.
        """
        settlement = self.get(settlement_id)
        with reading(self._engine, "verifying a settlement", snapshot=True) as conn:
            lines = compute_lines(conn, settlement.scope)
        return Verification(settlement, digest(settlement.scope, lines))

