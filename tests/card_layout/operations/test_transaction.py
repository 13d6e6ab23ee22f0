"""The commit primitive: debits, credits, state changes, sessions, contracts,
events, and what each leaves on the card."""

from __future__ import annotations

import datetime as dt

import pytest

from card_layout.errors import AuthenticationError, CardAccessError, CardFormatError, InsufficientFundsError
from card_layout.layout import EVENT_SLOTS, TRANSACTION_SLOTS
from card_layout.operations.channel import CardChannel
from card_layout.operations.state import CardState, open_channel, read_card, read_state
from card_layout.operations.transaction import (
    EventInfo,
    SessionStart,
    append_event,
    commit,
    credit,
    debit,
    retire_previous,
)
from card_layout.records.contracts import Contract, ContractKind
from card_layout.records.event import EventType
from card_layout.records.session import SessionKind
from card_layout.records.transaction import CapCounters, TripState
from hardware.sim.card import SimulatedCard
from hardware.sim.reader import SimReader
from tests.factories import UID, issued_card, masters

KEYS = masters()
VALIDATOR = KEYS.validator_subset()
AT = dt.datetime(2026, 11, 21, 7, 45, tzinfo=dt.UTC)
BIKE = Contract(ContractKind.BIKE, dt.date(2026, 1, 1), dt.date(2026, 12, 31), 2, 1)


def _open(card: SimulatedCard, keys=KEYS, **options: bool) -> tuple[CardChannel, CardState]:
    ch = open_channel(SimReader(card), keys)
    return ch, read_state(ch, **options)


def _writes(card: SimulatedCard) -> list[int | None]:
    return [r.block for r in card.log if r.command in ("write_block", "transfer")]


def test_a_debit_returns_the_state_a_read_finds() -> None:
    card = issued_card(1000)
    ch, state = _open(card, VALIDATOR)
    trip = TripState(AT, AT, 12, 1, 0)
    after = debit(ch, state, 150, trip=trip, caps=CapCounters(150, 1500))
    again = read_card(SimReader(card), VALIDATOR)
    assert (after.balance_cents, after.counter) == (850, 1) == (again.balance_cents, again.counter)
    assert again.record.trip == trip and again.record.caps == CapCounters(150, 1500)
    assert again.purse.values == (850, 850)


def test_a_debit_uses_seven_commands_after_a_read() -> None:
    card = issued_card(1000)
    ch, state = _open(card, VALIDATOR)
    card.log.clear()
    debit(ch, state, 150, trip=TripState(AT, AT, 3, 1, 0))
    assert [(r.command, r.block) for r in card.log] == [
        ("write_block", 16), ("write_block", 17),       # record 1 -> slot 1 (already authenticated)
        ("authenticate", 8), ("decrement", 8), ("transfer", 9),     # commit point
        ("restore", 9), ("transfer", 8),                # the previous record no longer verifies
    ]


def test_insufficient_funds_writes_nothing() -> None:
    card = issued_card(100)
    ch, state = _open(card, VALIDATOR)
    card.log.clear()
    with pytest.raises(InsufficientFundsError, match="balance 100 cents cannot pay 150 cents"):
        debit(ch, state, 150)
    assert _writes(card) == []


def test_a_floor_lets_a_rider_go_slightly_negative() -> None:
    card = issued_card(100)
    ch, state = _open(card, VALIDATOR)
    assert debit(ch, state, 150, floor_cents=-200).balance_cents == -50
    assert read_card(SimReader(card), VALIDATOR).balance_cents == -50


def test_a_validator_cannot_credit_and_nothing_is_written() -> None:
    card = issued_card(100)
    ch, state = _open(card, VALIDATOR)
    card.log.clear()
    with pytest.raises(CardAccessError, match="no key B: it may not credit"):
        credit(ch, state, 500)
    with pytest.raises(CardAccessError, match="write contracts"):
        commit(ch, state, contracts=(BIKE,))
    assert _writes(card) == []


def test_even_with_the_key_a_a_validator_cannot_increment_on_the_chip() -> None:
    card = issued_card(100)
    ch, _ = _open(card, VALIDATOR)
    with pytest.raises(CardAccessError, match="no key that may increment"):
        ch.increment(8, 100)


def test_credit_by_the_issuer() -> None:
    card = issued_card(100)
    ch, state = _open(card)
    after = credit(ch, state, 2000, load_seq=7, event=EventInfo(EventType.TOP_UP, AT, device=900))
    again = read_card(SimReader(card), VALIDATOR, events=True)
    assert (after.balance_cents, again.balance_cents, again.record.load_seq) == (2100, 2100, 7)
    assert again.events is not None and again.events[0].type is EventType.TOP_UP
    assert again.events[0].amount_cents == 2000 and again.events[0].balance_cents == 2100


def test_amounts_must_be_positive() -> None:
    ch, state = _open(issued_card())
    with pytest.raises(CardFormatError):
        debit(ch, state, 0)
    with pytest.raises(CardFormatError):
        credit(ch, state, -5)


def test_a_state_change_without_money_retires_the_previous_record() -> None:
    card = issued_card(1000)
    ch, state = _open(card, VALIDATOR)
    after = commit(ch, state, trip=TripState(AT, AT, 5, 1, 1))
    assert after.balance_cents == 1000
    again = read_card(SimReader(card), VALIDATOR)
    assert again.counter == 1 and not again.purse.previous_still_valid
    assert card.image()[TRANSACTION_SLOTS[0].blocks[0] * 16] == 0  # erased


def test_bike_rental_open_and_close() -> None:
    card = issued_card(1000, contracts=(BIKE,))
    ch, state = _open(card, VALIDATOR)
    assert state.contracts is not None and state.contracts.valid(ContractKind.BIKE, AT.date())
    state = commit(ch, state, open_session=SessionStart(SessionKind.BIKE, AT, 2, 4711, 12),
                   event=EventInfo(EventType.BIKE_START, AT, 2, 300, 12))
    opened = read_card(SimReader(card), VALIDATOR)
    assert opened.record.session_open and opened.session is not None
    assert (opened.session.asset, opened.session.station, opened.session.started) == (4711, 12, AT)

    ch, state = _open(card, VALIDATOR)
    state = debit(ch, state, 40, close_session=True, event=EventInfo(EventType.BIKE_END, AT, 2, 301, 19))
    closed = read_card(SimReader(card), VALIDATOR, events=True)
    assert not closed.record.session_open and closed.session is None
    assert closed.balance_cents == 960
    assert closed.events is not None
    assert [e.type for e in closed.events][:2] == [EventType.BIKE_END, EventType.BIKE_START]

    ch, state = _open(card, VALIDATOR)
    state = commit(ch, state, open_session=SessionStart(SessionKind.EV_CHARGING, AT, 3, 81, 2))
    reopened = read_card(SimReader(card), VALIDATOR)
    assert reopened.session is not None and reopened.session.kind is SessionKind.EV_CHARGING


def test_opening_and_closing_together_is_refused() -> None:
    ch, state = _open(issued_card())
    with pytest.raises(CardFormatError, match="both open and close"):
        commit(ch, state, open_session=SessionStart(SessionKind.BIKE, AT), close_session=True)


def test_contracts_are_replaced_and_the_old_copy_erased() -> None:
    card = issued_card(1000, contracts=(BIKE,))
    ch, state = _open(card, contracts=True)
    season = Contract(ContractKind.TRANSIT_PASS, dt.date(2026, 11, 1), dt.date(2026, 11, 30), 1, 30)
    state = commit(ch, state, contracts=(BIKE, season))
    again = read_card(SimReader(card), VALIDATOR)
    assert again.contracts is not None and again.contracts.contracts == (BIKE, season)
    assert again.contracts.valid(ContractKind.TRANSIT_PASS, dt.date(2026, 11, 21)) == (season,)
    assert card.image()[28 * 16] == 0  # the copy written at issuance is retired


def test_events_go_round_the_ring() -> None:
    card = issued_card(10_000)
    for number in range(8):
        ch, state = _open(card, VALIDATOR)
        debit(ch, state, 10, event=EventInfo(EventType.TRIP, AT + dt.timedelta(minutes=number), location=number))
    state = read_card(SimReader(card), VALIDATOR, events=True)
    assert state.events is not None
    assert [e.counter for e in state.events] == [8, 7, 6, 5, 4, 3]
    assert [e.location for e in state.events] == [7, 6, 5, 4, 3, 2]
    assert all(EVENT_SLOTS[e.counter % 6].sector == 9 + e.counter % 6 for e in state.events)


def test_finishing_a_commit_torn_after_its_commit_point() -> None:
    card = issued_card(1000)
    ch, state = _open(card, VALIDATOR)
    card.reset_tear(5)  # 2 writes, auth, decrement, transfer: torn before the restore
    with pytest.raises(Exception, match="left the field"):
        debit(ch, state, 150)
    card.insert()
    ch, state = _open(card, VALIDATOR)
    assert state.purse.previous_still_valid and state.balance_cents == 850
    card.log.clear()
    state = retire_previous(ch, state)
    assert [r.command for r in card.log] == ["authenticate", "restore", "transfer"]
    again = read_card(SimReader(card), VALIDATOR)
    assert not again.purse.previous_still_valid and again.purse.values == (850, 850)
    assert retire_previous(ch, state) is state


def test_append_an_event_without_money() -> None:
    card = issued_card(1000)
    ch, state = _open(card, VALIDATOR)
    card.log.clear()
    state = append_event(ch, state, EventInfo(EventType.SERVICE_ACCESS, AT, operator=4, device=55, location=3))
    assert card.command_count <= 8
    again = read_card(SimReader(card), VALIDATOR, events=True)
    assert (again.counter, again.balance_cents) == (1, 1000)
    assert again.events is not None and again.events[0].type is EventType.SERVICE_ACCESS
    assert (again.events[0].device, again.events[0].amount_cents) == (55, 0)


def test_a_validator_credits_one_card_with_the_purse_key_granted_for_it() -> None:
    from card_layout.access import KeyType
    from card_layout.layout import PURSE_SECTOR

    card = issued_card(100)
    ch, state = _open(card, VALIDATOR)
    purse_b = KEYS.for_card(UID).sector_key(PURSE_SECTOR, KeyType.B)
    granted = ch.with_key(PURSE_SECTOR, KeyType.B, purse_b)
    after = credit(granted, state, 2000, load_seq=3)
    assert (after.balance_cents, read_card(SimReader(card), VALIDATOR).record.load_seq) == (2100, 3)
    with pytest.raises(CardAccessError, match="write contracts"):
        commit(granted, after, contracts=(BIKE,))
    other = issued_card(100, uid=bytes.fromhex("0BADCAFE"))
    ch2, state2 = _open(other, VALIDATOR)
    with pytest.raises(AuthenticationError, match="key B refused"):
        credit(ch2.with_key(PURSE_SECTOR, KeyType.B, purse_b), state2, 2000)  # the key opens no other card
    assert read_card(SimReader(other), VALIDATOR).balance_cents == 100
