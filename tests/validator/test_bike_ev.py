"""Bike dock and EV charger rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from card_layout.operations.transaction import SessionStart
from card_layout.records.contracts import Contract, ContractKind
from card_layout.records.identity import FareProfile
from card_layout.records.session import Session, SessionKind
from validator.bike import BikePolicy
from validator.devices import DeviceError, MeterReading, SimCharger, SimDock
from validator.ev import EvPolicy
from validator.fares import DEFAULT_FARES, FareTable
from validator.outcome import Decision, Reason

from .cards import ctx, local, state

FARES = FareTable.from_mapping(DEFAULT_FARES)
T0 = local(2026, 11, 21, 9, 0)
BIKE = Contract(ContractKind.BIKE, dt.date(2026, 1, 1), dt.date(2026, 12, 31), 0)
EV = Contract(ContractKind.EV_CHARGING, dt.date(2026, 1, 1), dt.date(2026, 12, 31), 0)


def _with_session(card, kind: SessionKind, asset: int, started: dt.datetime, station: int = 4):
    record = replace(card.record, session_open=True)
    return replace(card, purse=replace(card.purse, record=record),
                   session=Session(card.counter, kind, 2, asset, station, started))


def test_take_a_bike() -> None:
    policy = BikePolicy(FARES.bike, SimDock(bike=77))
    plan = policy.plan(state(contracts=(BIKE,)), ctx(T0, line=4, operator=2))
    assert (plan.decision, plan.reason, plan.charge_cents) == (Decision.APPROVED, Reason.RENTAL_STARTED, 0)
    assert plan.open_session == SessionStart(SessionKind.BIKE, T0, 2, 77, 4)


@pytest.mark.parametrize(
    ("contracts", "balance", "bike", "reason"),
    [((), 500, 77, Reason.NOT_ENTITLED), ((BIKE,), -1, 77, Reason.INSUFFICIENT_FUNDS),
     ((BIKE,), 500, None, Reason.NO_BIKE_AVAILABLE)],
)
def test_take_refusals(contracts, balance: int, bike: int | None, reason: Reason) -> None:
    plan = BikePolicy(FARES.bike, SimDock(bike=bike)).plan(state(balance, contracts=contracts), ctx(T0))
    assert (plan.decision, plan.reason, plan.write) == (Decision.DENIED, reason, False)


def test_an_expired_bike_contract_does_not_entitle() -> None:
    old = Contract(ContractKind.BIKE, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert BikePolicy(FARES.bike, SimDock(77)).plan(state(contracts=(old,)), ctx(T0)).reason is Reason.NOT_ENTITLED


@pytest.mark.parametrize(("minutes", "charge"), [(30, 0), (31, 50), (60, 50), (61, 100), (24 * 60, 1200)])
def test_return_charges_started_blocks_beyond_the_free_period(minutes: int, charge: int) -> None:
    dock = SimDock(bike=77)  # the rider docked bike 77 here
    card = _with_session(state(contracts=(BIKE,)), SessionKind.BIKE, 77, T0)
    plan = BikePolicy(FARES.bike, dock).plan(card, ctx(T0 + dt.timedelta(minutes=minutes), line=9))
    assert (plan.reason, plan.charge_cents, plan.close_session) == (Reason.RENTAL_ENDED, charge, True)
    assert plan.details["from_station"] == 4


def test_a_return_is_never_refused_for_funds() -> None:
    card = _with_session(state(balance=10, contracts=(BIKE,)), SessionKind.BIKE, 77, T0)
    plan = BikePolicy(FARES.bike, SimDock(77)).plan(card, ctx(T0 + dt.timedelta(hours=5)))
    assert plan.charge_cents == 450 and card.balance_cents - plan.charge_cents >= plan.floor_cents


def test_a_second_bike_while_one_is_open_is_refused_and_returning_needs_the_bike_docked() -> None:
    card = _with_session(state(contracts=(BIKE,)), SessionKind.BIKE, 77, T0)
    other_bike_here = BikePolicy(FARES.bike, SimDock(bike=12)).plan(card, ctx(T0 + dt.timedelta(minutes=5)))
    assert other_bike_here.reason is Reason.RENTAL_OPEN
    empty_dock = BikePolicy(FARES.bike, SimDock()).plan(card, ctx(T0 + dt.timedelta(minutes=5)))
    assert empty_dock.reason is Reason.NO_BIKE_DOCKED


def test_a_lock_that_fails_is_undone_on_the_card() -> None:
    dock = SimDock(77)
    dock.fail_release = True
    policy = BikePolicy(FARES.bike, dock)
    card = state(contracts=(BIKE,))
    plan = policy.plan(card, ctx(T0))
    undo = policy.committed(plan, card, ctx(T0))
    assert undo is not None and (undo.reason, undo.close_session, undo.charge_cents) == (Reason.DEVICE_FAULT, True, 0)
    dock.fail_release = False
    assert policy.committed(plan, card, ctx(T0)) is None and dock.released == [77]


def test_ev_start_and_stop_priced_per_profile() -> None:
    clock = [T0]
    charger = SimCharger(31, power_w=11_000, clock=lambda: clock[0])
    policy = EvPolicy(FARES.ev, charger)
    card = state(contracts=(EV,))
    start = policy.plan(card, ctx(T0, line=3))
    assert (start.reason, start.open_session.asset) == (Reason.CHARGE_STARTED, 31)
    assert policy.committed(start, card, ctx(T0)) is None and charger.active
    clock[0] = T0 + dt.timedelta(hours=2)
    charging = _with_session(card, SessionKind.EV_CHARGING, 31, T0)
    stop = policy.plan(charging, ctx(clock[0]))
    assert stop.details == {"charger": 31, "energy_wh": 22_000, "duration_s": 7200}
    assert (stop.reason, stop.charge_cents, stop.close_session) == (Reason.CHARGE_ENDED, 550, True)
    free = _with_session(state(contracts=(EV,), profile=FareProfile.DISABILITY), SessionKind.EV_CHARGING, 31, T0)
    assert policy.plan(free, ctx(clock[0])).charge_cents == 0   # the stop repeats its last reading


def test_ev_refusals() -> None:
    policy = EvPolicy(FARES.ev, SimCharger(31))
    assert policy.plan(state(), ctx(T0)).reason is Reason.NOT_ENTITLED
    elsewhere = _with_session(state(contracts=(EV,)), SessionKind.EV_CHARGING, 99, T0)
    assert policy.plan(elsewhere, ctx(T0)).reason is Reason.RENTAL_OPEN
    biking = _with_session(state(contracts=(EV, BIKE)), SessionKind.BIKE, 77, T0)
    assert policy.plan(biking, ctx(T0)).reason is Reason.RENTAL_OPEN
    failing = SimCharger(31)
    failing.fail_start = True
    p = EvPolicy(FARES.ev, failing)
    card = state(contracts=(EV,))
    assert p.committed(p.plan(card, ctx(T0)), card, ctx(T0)).reason is Reason.DEVICE_FAULT
    with pytest.raises(DeviceError):
        failing.start(1)
    assert MeterReading(0, 0) == SimCharger(1).stop()
