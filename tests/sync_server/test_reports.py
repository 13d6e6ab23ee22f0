"""Key figures: uses, revenue and top-ups per day and service, active cards,
cards by registry state, denials by reason, totals."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Engine

from sync_server.db.models import Card
from sync_server.errors import InvalidValueError
from sync_server.reports import ServiceDay, TopUpDay, Totals, kpis
from sync_server.store import SyncStore
from tests.sync_server.ledger import register, send, tx

MAY1, MAY2, MAY3 = dt.date(2026, 5, 1), dt.date(2026, 5, 2), dt.date(2026, 5, 3)


@pytest.fixture
def city(store: SyncStore) -> SyncStore:
    register(store, {1: ("bus", 7), 2: ("bike", 7), 3: ("ev", 9)})
    send(store, 1, [
        tx(1, hours=1, card=11), tx(2, hours=2, card=12, amount=-200), tx(3, hours=25, card=11),
        tx(4, hours=3, card=11, amount=0, reason="transfer"),
        tx(5, hours=4, card=13, state="intent"),  # never completed: neither a use nor money
        tx(6, hours=5, card=14, kind="denied", amount=0, decision="denied", reason="blocked"),
        tx(7, hours=6, card=15, kind="denied", amount=0, decision="denied", reason="insufficient_funds"),
        tx(8, hours=7, card=14, kind="denied", amount=0, decision="denied", reason="blocked"),
        tx(9, hours=8, card=12, kind="load", amount=1000), tx(10, hours=49, card=16),  # the last: after the period
    ])
    send(store, 2, [tx(1, kind="bike_start", amount=0, card=12, hours=9),
                    tx(2, kind="bike_end", amount=-90, card=12, hours=10),
                    tx(3, kind="bike_start_failed", amount=0, card=12, hours=11)])
    send(store, 3, [tx(1, kind="ev_start", amount=0, card=17, hours=30),
                    tx(2, kind="ev_end", amount=-1240, card=17, hours=31),
                    tx(3, kind="load", amount=500, card=17, hours=32)])
    return store


def _cards(engine: Engine, states: dict[int, str]) -> None:
    now = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(Card.__table__.insert(), [{
            "card_number": number, "uid": (number % 2**56).to_bytes(7, "big"), "kind": "citizen", "profile": "general",
            "state": state, "state_changed_at": now, "issued_at": now, "expires_on": dt.date(2031, 1, 1),
            "initial_balance_cents": 0} for number, state in states.items()])


def test_key_figures_of_a_period(city: SyncStore) -> None:
    _cards(city.engine, {11: "active", 12: "active", 2**64 - 1: "blocked"})
    figures = kpis(city.engine, MAY1, MAY3)
    assert figures.uses == (ServiceDay(MAY1, "bike", 1), ServiceDay(MAY1, "bus", 3), ServiceDay(MAY2, "bus", 1),
                            ServiceDay(MAY2, "ev", 1))
    assert figures.revenue == (ServiceDay(MAY1, "bike", 90), ServiceDay(MAY1, "bus", 350),
                               ServiceDay(MAY2, "bus", 150), ServiceDay(MAY2, "ev", 1240))
    assert figures.top_ups == (TopUpDay(MAY1, 1, 1000), TopUpDay(MAY2, 1, 500))
    assert figures.active_cards == 3  # 11, 12, 17: denied and unfinished ones do not count
    assert figures.cards_by_state == {"active": 2, "blocked": 1, "suspended": 0, "expired": 0, "replaced": 0}
    assert figures.denials_by_reason == {"blocked": 2, "insufficient_funds": 1}
    assert figures.totals == Totals(transactions=15, uses=6, revenue_cents=1830, top_ups=2, top_up_cents=1500,
                                    denials=3)


def test_a_period_of_one_day(city: SyncStore) -> None:
    figures = kpis(city.engine, MAY2, MAY3)
    assert figures.uses == (ServiceDay(MAY2, "bus", 1), ServiceDay(MAY2, "ev", 1))
    assert figures.denials_by_reason == {} and figures.totals.transactions == 4
    empty = kpis(city.engine, dt.date(2027, 1, 1), dt.date(2027, 2, 1))
    assert empty.uses == empty.revenue == empty.top_ups == () and empty.totals == Totals(0, 0, 0, 0, 0, 0)


def test_the_period_must_end_after_it_starts(city: SyncStore) -> None:
    for start, end in ((MAY2, MAY1), (MAY1, MAY1), (MAY1, MAY1 + dt.timedelta(days=4000))):
        with pytest.raises(InvalidValueError):
            kpis(city.engine, start, end)
