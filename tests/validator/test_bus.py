"""Bus rules, edges included: windows, caps mid-fare, midnight, month end, passes."""

from __future__ import annotations

import datetime as dt

import pytest

from card_layout.records.contracts import Contract, ContractKind
from card_layout.records.identity import FareProfile
from card_layout.records.transaction import CapCounters, TripState
from validator.bus import BusPolicy
from validator.fares import DEFAULT_FARES, FareTable
from validator.outcome import Decision, Reason

from .cards import ctx, local, state

FARES = FareTable.from_mapping(DEFAULT_FARES).bus
BUS = BusPolicy(FARES)
T0 = local(2026, 11, 21, 8, 0)


def _boarded(at: dt.datetime, line: int = 12, start: dt.datetime | None = None, transfers: int = 0) -> TripState:
    return TripState(start or at, at, line, 1, transfers)


def test_a_first_ride_pays_the_profile_fare_and_starts_a_journey() -> None:
    plan = BUS.plan(state(), ctx(T0))
    assert (plan.decision, plan.reason, plan.charge_cents) == (Decision.APPROVED, Reason.APPROVED, 150)
    assert plan.trip == TripState(T0, T0, 12, 1, 0)
    assert plan.caps == CapCounters(150, 150)
    senior = BUS.plan(state(profile=FareProfile.SENIOR), ctx(T0))
    assert senior.charge_cents == 50
    child = BUS.plan(state(profile=FareProfile.CHILD), ctx(T0))
    assert (child.reason, child.charge_cents, child.write) == (Reason.FREE_FARE, 0, True)


@pytest.mark.parametrize(("seconds", "already"), [(0, True), (120, True), (121, False)])
def test_already_validated_window_boundary(seconds: int, already: bool) -> None:
    card = state(trip=_boarded(T0), caps=CapCounters(150, 150))
    plan = BUS.plan(card, ctx(T0 + dt.timedelta(seconds=seconds)))
    assert (plan.decision is Decision.ALREADY_VALIDATED) is already
    if already:
        assert not plan.write and plan.charge_cents == 0


def test_a_second_tap_on_another_line_is_a_transfer_not_already_validated() -> None:
    card = state(trip=_boarded(T0), caps=CapCounters(150, 150))
    plan = BUS.plan(card, ctx(T0 + dt.timedelta(seconds=30), line=7))
    assert (plan.reason, plan.charge_cents) == (Reason.TRANSFER, 0)


@pytest.mark.parametrize(("minutes", "free"), [(44, True), (45, True), (46, False)])
def test_transfer_window_boundary(minutes: int, free: bool) -> None:
    card = state(trip=_boarded(T0), caps=CapCounters(150, 150))
    plan = BUS.plan(card, ctx(T0 + dt.timedelta(minutes=minutes), line=7))
    assert (plan.reason is Reason.TRANSFER) is free
    assert plan.charge_cents == (0 if free else 150)
    if free:
        assert plan.trip == TripState(T0, T0 + dt.timedelta(minutes=minutes), 7, 1, 1)


def test_transfers_run_out() -> None:
    card = state(trip=_boarded(T0 + dt.timedelta(minutes=20), line=3, start=T0, transfers=3))
    plan = BUS.plan(card, ctx(T0 + dt.timedelta(minutes=30), line=7))
    assert plan.charge_cents == 150


def test_the_cap_is_reached_mid_fare_then_rides_are_free() -> None:
    card = state(trip=_boarded(T0), caps=CapCounters(400, 400))
    plan = BUS.plan(card, ctx(T0 + dt.timedelta(hours=2), line=7))
    assert (plan.reason, plan.charge_cents, plan.caps) == (Reason.CAPPED, 50, CapCounters(450, 450))
    capped = state(trip=_boarded(T0), caps=CapCounters(450, 450))
    plan = BUS.plan(capped, ctx(T0 + dt.timedelta(hours=3), line=7))
    assert (plan.reason, plan.charge_cents) == (Reason.CAPPED, 0)


def test_the_day_cap_resets_at_local_midnight() -> None:
    late = local(2026, 11, 21, 23, 50)
    card = state(trip=_boarded(late - dt.timedelta(hours=2)), caps=CapCounters(450, 900))
    assert BUS.plan(card, ctx(late)).charge_cents == 0
    after_midnight = local(2026, 11, 22, 0, 5)
    plan = BUS.plan(card, ctx(after_midnight))
    assert (plan.charge_cents, plan.caps) == (150, CapCounters(150, 1050))


def test_a_transfer_across_midnight_is_still_free() -> None:
    start = local(2026, 11, 21, 23, 40)
    card = state(trip=_boarded(start), caps=CapCounters(150, 150))
    plan = BUS.plan(card, ctx(local(2026, 11, 22, 0, 10), line=7))
    assert (plan.reason, plan.charge_cents) == (Reason.TRANSFER, 0)


def test_the_month_cap_resets_on_the_first() -> None:
    card = state(trip=_boarded(local(2026, 11, 30, 20, 0)), caps=CapCounters(300, 4000))
    assert BUS.plan(card, ctx(local(2026, 11, 30, 22, 0), line=7)).charge_cents == 0
    plan = BUS.plan(card, ctx(local(2026, 12, 1, 7, 0)))
    assert (plan.charge_cents, plan.caps) == (150, CapCounters(150, 150))


def test_a_season_pass_rides_free_only_when_valid_today_for_this_operator() -> None:
    season = Contract(ContractKind.TRANSIT_PASS, dt.date(2026, 11, 1), dt.date(2026, 11, 30), operator=1)
    card = state(contracts=(season,))
    assert BUS.plan(card, ctx(T0)).reason is Reason.PASS
    assert BUS.plan(card, ctx(local(2026, 12, 1, 8, 0))).charge_cents == 150
    assert BUS.plan(card, ctx(T0, operator=2)).charge_cents == 150
    any_operator = state(contracts=(Contract(ContractKind.TRANSIT_PASS, dt.date(2026, 11, 1),
                                             dt.date(2026, 11, 30), operator=0),))
    assert BUS.plan(any_operator, ctx(T0, operator=2)).reason is Reason.PASS


def test_riding_into_a_small_negative_balance() -> None:
    assert BUS.plan(state(balance=100), ctx(T0)).charge_cents == 150           # 100 - 150 = -50 >= -150
    assert BUS.plan(state(balance=0), ctx(T0)).charge_cents == 150            # 0 - 150 = -150
    plan = BUS.plan(state(balance=-10), ctx(T0))                             # -160 < -150
    assert (plan.decision, plan.reason) == (Decision.DENIED, Reason.INSUFFICIENT_FUNDS)
    assert not plan.write
