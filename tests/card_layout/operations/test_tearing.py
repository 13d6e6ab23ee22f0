"""Tear sweep: the card leaves the field after every command of a debit and a
credit, with writes torn after 0, 1, 4, 8 and 15 bytes. After each tear the
next read recovers a consistent state (no value created, the fare charged at
most once, the card readable) and the interrupted operation can be completed."""

from __future__ import annotations

import datetime as dt

import pytest

from card_layout.errors import CardRemovedError
from card_layout.operations.state import open_channel, read_state
from card_layout.operations.transaction import EventInfo, commit, retire_previous
from card_layout.records.event import EventType
from card_layout.records.transaction import CapCounters, TripState
from hardware.sim.card import SimulatedCard
from hardware.sim.reader import SimReader
from tests.factories import issued_card, masters

AT = dt.datetime(2026, 11, 21, 8, 15, tzinfo=dt.UTC)
TORN_BYTES = (0, 1, 4, 8, 15)
KEYS = masters()


def _operation(delta: int):
    trip = TripState(journey_start=AT, last_boarding=AT, line=12, operator=1)

    def run(reader: SimReader, keys=KEYS):
        ch = open_channel(reader, keys)
        state = read_state(ch)
        return commit(ch, state, delta_cents=delta, trip=trip, caps=CapCounters(150, 150),
                      event=EventInfo(EventType.TRIP if delta < 0 else EventType.TOP_UP, AT, device=7))

    return run


def _command_count(delta: int) -> int:
    card = issued_card(1000)
    _operation(delta)(SimReader(card))
    return card.command_count


def _twice_torn_card(delta: int) -> SimulatedCard:
    """A card that already went through one committed transaction, so both slots are in use."""
    card = issued_card(1000)
    _operation(delta)(SimReader(card))
    card.log.clear()
    return card


@pytest.mark.parametrize("delta", [-150, 300], ids=["debit", "credit"])
@pytest.mark.parametrize("history", [False, True], ids=["fresh", "used"])
def test_tear_at_every_command_recovers(delta: int, history: bool) -> None:
    total = _command_count(delta)
    validator = KEYS.validator_subset()
    for tear_after in range(total):
        for torn in TORN_BYTES:
            card = _twice_torn_card(delta) if history else issued_card(1000)
            before = read_state(open_channel(SimReader(card), KEYS))
            card.reset_tear(tear_after, torn)
            with pytest.raises(CardRemovedError):
                _operation(delta)(SimReader(card))
            card.insert()

            reader = SimReader(card)
            after = read_state(open_channel(reader, validator), events=True)
            committed = after.counter == before.counter + 1
            assert after.counter in (before.counter, before.counter + 1), (tear_after, torn)
            expected = before.balance_cents + delta if committed else before.balance_cents
            assert after.balance_cents == expected, (tear_after, torn)
            if committed:
                assert after.record.trip.line == 12
            else:
                assert after.record == before.record

            # the next tap completes the interrupted operation: exactly once
            ch = open_channel(reader, KEYS)
            state = read_state(ch)
            state = retire_previous(ch, state)
            if not committed:
                state = _operation(delta)(reader)
            final = read_state(open_channel(SimReader(card), validator), events=True)
            assert final.balance_cents == before.balance_cents + delta, (tear_after, torn)
            assert final.counter == before.counter + 1
            assert not final.purse.previous_still_valid
            assert final.events[0].amount_cents == delta


def test_command_counts_of_debit_and_credit() -> None:
    # debit/credit 7-8 + event 3 + the 13 commands of the read in _operation
    assert _command_count(-150) <= 13 + 11
    assert _command_count(300) <= 13 + 11
