"""Key figures of the back office over a period of days (UTC), from the
synced transactions and the card registry: :func:`kpis` is the one entry
point, for the API and for the staff pages' dashboard.

What counts (only ``done`` transactions move money or count as use):

- a *use* is an approved ``done`` transaction that starts something: a tap
  (kind ``tap`` or the device's mode, such as ``bus``), a rental
  (``bike_start``), a charge (``ev_start``); not the ends of rentals and
  charges, top-ups, failures (``*_failed``) or denials;
- *revenue* is what was charged to cards: the sum of the negative amounts of
  ``done`` transactions, as positive cents;
- a *top-up* is a ``done`` transaction of kind ``load`` (a pending top-up
  collected at a tap) or ``topup``/``top_up`` (loaded at a kiosk) with a
  positive amount;
- *active cards* are the distinct cards with a ``done`` transaction in the
  period that was not a denial (a blocked card tapping is not active);
  *cards by state* is the registry now (not over the period);
- *denials* are transactions decided ``denied``, by reason
  (:class:`validator.outcome.Reason` values).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, literal_column, not_, select
from sqlalchemy.engine import Engine

from .db.access import reading
from .db.models import CARD_STATES, Card, Device, Transaction
from .errors import InvalidValueError

TX: Table = Transaction.__table__  # type: ignore[assignment]
DEVICES: Table = Device.__table__  # type: ignore[assignment]
CARDS: Table = Card.__table__  # type: ignore[assignment]

NOT_USES = ("load", "topup", "top_up", "bike_end", "ev_end", "denied")
"""Kinds that are never a use (besides ``*_failed``)."""
TOP_UPS = ("load", "topup", "top_up")
DAYS_MAX = 3660
"""The longest period a report covers, in days."""


@dataclass(frozen=True)
class ServiceDay:
    """A figure of one service on one day."""

    day: dt.date
    service: str
    value: int


@dataclass(frozen=True)
class TopUpDay:
    day: dt.date
    count: int
    cents: int


@dataclass(frozen=True)
class Totals:
    transactions: int
    uses: int
    revenue_cents: int
    top_ups: int
    top_up_cents: int
    denials: int


@dataclass(frozen=True)
class Kpis:
    """The figures of the days in [start, end), UTC. Lists are by day, then service."""

    start: dt.date
    end: dt.date
    uses: tuple[ServiceDay, ...]
    revenue: tuple[ServiceDay, ...]
    top_ups: tuple[TopUpDay, ...]
    active_cards: int
    cards_by_state: dict[str, int]
    denials_by_reason: dict[str, int]
    totals: Totals


def _day(dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":  # stored as fixed-width UTC text
        return func.substr(TX.c.created_at, 1, 10)
    return func.to_char(TX.c.created_at.op("AT TIME ZONE")(literal_column("'UTC'")), literal_column("'YYYY-MM-DD'"))


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def kpis(engine: Engine, start: dt.date, end: dt.date) -> Kpis:
    """The key figures of the days from ``start`` (included) to ``end`` (excluded), UTC.

    :raises InvalidValueError: when ``end`` is not after ``start``, or the period is over :data:`DAYS_MAX` days.
    :raises StoreError: when the database fails.
    """
    if not end > start:
        raise InvalidValueError(f"the period's end ({end}) must be after its start ({start})")
    if (end - start).days > DAYS_MAX:
        raise InvalidValueError(f"a report covers at most {DAYS_MAX} days")
    day = _day(engine.dialect.name).label("day")
    joined = TX.join(DEVICES, DEVICES.c.device_id == TX.c.device_id)
    period = and_(TX.c.created_at >= _midnight(start), TX.c.created_at < _midnight(end))
    done = and_(period, TX.c.state == "done")
    failed = TX.c.kind.like("%\\_failed", escape="\\")
    use = and_(done, TX.c.decision == "approved", TX.c.kind.not_in(NOT_USES), not_(failed))
    service = DEVICES.c.mode

    def by_day_service(value: Any, where: ColumnElement[bool]) -> Any:
        return (select(day, service, value).select_from(joined).where(where)
                .group_by(day, service).order_by(day, service))

    with reading(engine, "computing the key figures", snapshot=True) as conn:
        uses = conn.execute(by_day_service(func.count(), use)).all()
        revenue = conn.execute(by_day_service(-func.sum(TX.c.amount_cents), and_(done, TX.c.amount_cents < 0))).all()
        top_ups = conn.execute(
            select(day, func.count(), func.sum(TX.c.amount_cents)).where(
                done, TX.c.kind.in_(TOP_UPS), TX.c.amount_cents > 0).group_by(day).order_by(day)).all()
        active = conn.execute(select(func.count(TX.c.card_number.distinct())).where(
            done, TX.c.decision != "denied", TX.c.card_number.is_not(None))).scalar_one()
        states = conn.execute(select(CARDS.c.state, func.count()).group_by(CARDS.c.state)).all()
        denials = conn.execute(select(TX.c.reason, func.count()).where(period, TX.c.decision == "denied")
                               .group_by(TX.c.reason).order_by(TX.c.reason)).all()
        count = conn.execute(select(func.count()).select_from(TX).where(period)).scalar_one()
    uses_days = tuple(ServiceDay(dt.date.fromisoformat(row[0]), row[1], int(row[2])) for row in uses)
    revenue_days = tuple(ServiceDay(dt.date.fromisoformat(row[0]), row[1], int(row[2])) for row in revenue)
    top_up_days = tuple(TopUpDay(dt.date.fromisoformat(row[0]), int(row[1]), int(row[2])) for row in top_ups)
    denials_by_reason = {row[0]: int(row[1]) for row in denials}
    return Kpis(
        start=start, end=end, uses=uses_days, revenue=revenue_days, top_ups=top_up_days, active_cards=int(active),
        cards_by_state={state: 0 for state in CARD_STATES} | {row[0]: int(row[1]) for row in states},
        denials_by_reason=denials_by_reason,
        totals=Totals(
            transactions=int(count), uses=sum(item.value for item in uses_days),
            revenue_cents=sum(item.value for item in revenue_days), top_ups=sum(item.count for item in top_up_days),
            top_up_cents=sum(item.cents for item in top_up_days), denials=sum(denials_by_reason.values())))
