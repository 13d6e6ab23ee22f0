"""Property: over any sequence of debits, credits and state-only transactions,
each possibly torn at any command with any number of bytes landed, the card
always reads, its counter says exactly which transactions committed, and its
balance is the initial balance plus the committed amounts: money is never
created or lost, a fare never charged twice."""

from __future__ import annotations

import contextlib
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from card_layout.errors import CardRemovedError, InsufficientFundsError
from card_layout.operations.state import open_channel, read_state
from card_layout.operations.transaction import EventInfo, commit
from card_layout.records.event import EventType
from card_layout.records.transaction import TripState
from hardware.sim.reader import SimReader
from tests.factories import issued_card, masters

KEYS = masters()
AT = dt.datetime(2026, 11, 21, 8, 15, tzinfo=dt.UTC)

steps = st.lists(
    st.tuples(
        st.sampled_from([-250, -150, -1, 0, 1, 500]),
        st.one_of(st.none(), st.integers(min_value=0, max_value=25)),
        st.sampled_from([0, 3, 8, 12, 16]),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_balance_is_initial_plus_committed(sequence: list[tuple[int, int | None, int, bool]]) -> None:
    card = issued_card(1000)
    expected_balance, expected_counter = 1000, 0
    for number, (delta, tear_after, torn, with_event) in enumerate(sequence):
        reader = SimReader(card)
        ch = open_channel(reader, KEYS)
        state = read_state(ch)
        assert (state.balance_cents, state.counter) == (expected_balance, expected_counter)
        if tear_after is not None:
            card.reset_tear(tear_after, torn)
        with contextlib.suppress(CardRemovedError, InsufficientFundsError):
            commit(ch, state, delta_cents=delta, trip=TripState(line=number + 1),
                   event=EventInfo(EventType.TRIP, AT) if with_event else None)
        card.insert()
        after = read_state(open_channel(SimReader(card), KEYS))
        assert after.counter in (expected_counter, expected_counter + 1)
        if after.counter == expected_counter + 1:
            expected_balance += delta
            expected_counter += 1
            assert after.record.trip.line == number + 1
        assert after.balance_cents == expected_balance
