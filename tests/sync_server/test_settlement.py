"""Settlements: lines per service and kind, reproducible (recomputed, same
digest, also after late transactions arrive), late transactions settled
once by adjustments, overlaps refused, money neither created nor lost."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from sync_server import audit
from sync_server.audit import Actor
from sync_server.errors import InvalidValueError, SettlementOverlapError, UnknownOperatorError
from sync_server.operators import Operators
from sync_server.settlement import CUTOFF_LAG, SETTLEMENTS, Line, Settlements, render
from sync_server.store import SyncStore
from tests.sync_server.conftest import Clock, wipe
from tests.sync_server.ledger import DAY, register, send, tx

FINANCE = Actor("fiona", "finance")
START, END = DAY, DAY + dt.timedelta(days=1)


def _city(store: SyncStore, clock: Clock) -> Settlements:
    register(store, {1: ("bus", 7), 2: ("bike", 7), 3: ("bus", 9)})
    operators = Operators(store.engine, clock)
    operators.add_operator(Actor("root", "admin"), 7, "Buses and bikes")
    operators.add_operator(Actor("root", "admin"), 9, "Other buses")
    return Settlements(store.engine, clock)


@pytest.fixture
def settlements(store: SyncStore, clock: Clock) -> Settlements:
    books = _city(store, clock)
    send(store, 1, [tx(1, hours=1), tx(2, hours=2, amount=-200), tx(3, hours=3, state="intent"),
                    tx(4, hours=4, state="aborted"), tx(5, kind="load", amount=500, hours=5),
                    tx(6, hours=-1), tx(7, hours=24)])  # the last two: outside the period
    send(store, 2, [tx(1, kind="bike_start", amount=0), tx(2, kind="bike_end", amount=-90)])
    send(store, 3, [tx(1, hours=2)])  # another operator's
    clock.advance(minutes=10)
    return books


def test_lines_are_the_charges_per_service_and_kind(settlements: Settlements, clock: Clock) -> None:
    closed = settlements.close(FINANCE, 7, START, END)
    assert closed.lines == (Line("bike", "bike_end", 1, 90), Line("bike", "bike_start", 1, 0),
                            Line("bus", "bus", 2, 350), Line("bus", "load", 1, 0))
    assert (closed.transaction_count, closed.amount_cents) == (5, 440)
    assert closed.scope.received_after is None and not closed.scope.adjustment
    assert closed.scope.cutoff == clock.now - CUTOFF_LAG and closed.closed_at == clock.now
    assert closed.digest == hashlib.sha256(render(closed.scope, closed.lines).encode()).hexdigest()
    assert settlements.get(closed.id) == closed
    assert settlements.closed() == [closed] and settlements.closed(9) == []


def test_the_rendering_is_canonical_csv(settlements: Settlements) -> None:
    closed = settlements.close(FINANCE, 7, START, END, cutoff=START + dt.timedelta(hours=7, minutes=30))
    assert render(closed.scope, closed.lines).splitlines()[:2] == [
        "operator_id,period_start,period_end,received_after,cutoff,service,kind,transaction_count,amount_cents",
        "7,2026-05-01T00:00:00.000000Z,2026-05-02T00:00:00.000000Z,,2026-05-01T07:30:00.000000Z,bike,bike_end,1,90"]


def test_preview_is_what_close_stores_and_stores_nothing(settlements: Settlements, engine: Engine) -> None:
    draft = settlements.preview(7, START, END)
    with engine.connect() as conn:
        assert conn.execute(SETTLEMENTS.select()).first() is None
    closed = settlements.close(FINANCE, 7, START, END)
    assert (closed.scope, closed.lines, closed.digest) == (draft.scope, draft.lines, draft.digest)


def test_closed_settlements_stay_reproducible_and_late_ones_go_to_an_adjustment(
        settlements: Settlements, store: SyncStore, clock: Clock) -> None:
    first = settlements.close(FINANCE, 7, START, END)
    send(store, 1, [tx(8, hours=6, amount=-1000)])  # created in the period, received after the cut-off
    send(store, 2, [tx(3, kind="bike_end", amount=-70, hours=23)])
    verification = settlements.verify(first.id)
    assert verification.reproducible and verification.recomputed == first.digest
    clock.advance(minutes=10)
    preview = settlements.preview(7, START, END)
    adjustment = settlements.close(FINANCE, 7, START, END)
    assert (preview.scope, preview.lines) == (adjustment.scope, adjustment.lines)
    assert adjustment.scope.adjustment and adjustment.scope.received_after == first.scope.cutoff
    assert adjustment.lines == (Line("bike", "bike_end", 1, 70), Line("bus", "bus", 1, 1000))
    assert settlements.verify(adjustment.id).reproducible and settlements.verify(first.id).reproducible


def test_a_changed_transaction_is_detected(settlements: Settlements, engine: Engine) -> None:
    closed = settlements.close(FINANCE, 7, START, END)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE transactions SET amount_cents = -1 WHERE amount_cents = -200")
    verification = settlements.verify(closed.id)
    assert not verification.reproducible and verification.recomputed != closed.digest


def test_overlapping_periods_are_refused_exact_ones_adjusted(settlements: Settlements, clock: Clock) -> None:
    settlements.close(FINANCE, 7, START, END)
    for start, end in ((START + dt.timedelta(hours=12), END + dt.timedelta(hours=12)),
                       (START - dt.timedelta(days=1), END + dt.timedelta(days=1))):
        with pytest.raises(SettlementOverlapError):
            settlements.close(FINANCE, 7, start, end)
    with pytest.raises(SettlementOverlapError, match="cut-off must be later"):
        settlements.close(FINANCE, 7, START, END)  # same cut-off: nothing could be new
    assert settlements.close(FINANCE, 9, START, END).lines == (Line("bus", "bus", 1, 150),)
    assert settlements.close(FINANCE, 7, END, END + dt.timedelta(days=1)).lines == (Line("bus", "bus", 1, 150),)


def test_bad_requests_are_refused(settlements: Settlements, clock: Clock) -> None:
    with pytest.raises(InvalidValueError, match="in the past"):
        settlements.close(FINANCE, 7, START, END, cutoff=clock.now)
    with pytest.raises(InvalidValueError, match="after its start"):
        settlements.preview(7, END, START)
    with pytest.raises(UnknownOperatorError):
        settlements.close(FINANCE, 8, START, END)
    assert settlements.closed() == []


def test_each_close_is_audited(settlements: Settlements, engine: Engine) -> None:
    closed = settlements.close(FINANCE, 7, START, END)
    with engine.connect() as conn:
        [entry] = audit.entries(conn, target=f"settlement:{closed.id}")
    assert (entry.actor, entry.role, entry.action) == ("fiona", "finance", "settlement.close")
    assert entry.details["digest"] == closed.digest and entry.details["amount_cents"] == 440


def test_there_is_no_way_to_change_a_closed_settlement() -> None:
    public = {name for name in dir(Settlements) if not name.startswith("_")}
    assert public == {"preview", "close", "closed", "get", "verify"}


_TX = st.tuples(st.sampled_from([1, 2, 3]), st.integers(-30, 50), st.sampled_from(["done", "done", "intent"]),
                st.integers(-3000, 3000), st.booleans())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_TX, max_size=25))
def test_money_is_never_created_or_lost(store: SyncStore, clock: Clock, entries: list) -> None:
    """Settled twice (a first settlement, then an adjustment for what arrived
    late), operator 7 is owed exactly the charges of its devices' done
    transactions created in the period, each counted once."""
    wipe(store.engine)
    books = _city(store, clock)
    seqs = {1: 0, 2: 0, 3: 0}
    late: list[tuple[int, object]] = []
    for device, hours, state, amount, arrives_late in entries:
        seqs[device] += 1
        record = tx(seqs[device], hours=hours, state=state, amount=amount,
                    kind={1: "bus", 2: "bike_end", 3: "bus"}[device])
        if arrives_late:
            late.append((device, record))
        else:
            send(store, device, [record])
    clock.advance(minutes=10)
    first = books.close(FINANCE, 7, START, END)
    for device, record in late:
        send(store, device, [record])
    clock.advance(minutes=10)
    adjustment = books.close(FINANCE, 7, START, END)
    expected = [amount for device, hours, state, amount, _ in entries
                if device in (1, 2) and state == "done" and 0 <= hours < 24]
    assert first.amount_cents + adjustment.amount_cents == -sum(amount for amount in expected if amount < 0)
    assert first.transaction_count + adjustment.transaction_count == len(expected)
    assert sum(line.amount_cents for line in first.lines) == first.amount_cents
    assert books.verify(first.id).reproducible and books.verify(adjustment.id).reproducible
