"""The demo's money and blocked-tap checks: a duplicate's money counts
once, money created on a chip or moved by a blocked card's denied tap fails
the check."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from citizencard.simulation.checks import Entry, _blocked, _money
from citizencard.simulation.riders import Rider
from device.journal import EntryState


def _rider(index: int, issued: int, *, replaced: bool = False) -> Rider:
    return Rider(index, None, Path(f"card-{index:04d}.mfd"), 1000 + index, bytes(4), "citizen",  # type: ignore[arg-type]
                 "general", 1, issued, (), replaced=replaced)


def _entry(amount: int, reason: str = "approved", state: EntryState = EntryState.DONE) -> Entry:
    return Entry(1201, 1000, amount, state, reason)


@given(spent=st.lists(st.integers(1, 300), max_size=10), loaded=st.lists(st.integers(1, 2000), max_size=3),
       pending=st.integers(0, 2000))
def test_money_moved_to_a_duplicate_counts_once(spent: list[int], loaded: list[int], pending: int) -> None:
    old_balance = sum(loaded) - sum(spent)
    riders = [_rider(0, 0, replaced=True), _rider(1, old_balance + pending)]  # the duplicate took it over
    entries = [_entry(a) for a in loaded] + [_entry(-a) for a in spent] + [_entry(-99, state=EntryState.ABORTED)]
    chips = {0: (old_balance, 5), 1: (old_balance + pending, 0)}
    assert _money(entries, riders, chips).ok
    chips[1] = (old_balance + pending + 1, 0)  # a cent no tap or top-up explains
    assert not _money(entries, riders, chips).ok


def test_a_blocked_cards_denied_tap_moves_no_money() -> None:
    riders = [_rider(0, 0)]
    ok = _blocked([_entry(0, "blocked"), _entry(-150)], riders)
    assert ok.ok and ok.text == "denied taps of blocked cards: 1 (card 0000), none moved money"
    wrong = _blocked([_entry(-150, "blocked")], riders)
    assert not wrong.ok and "1 MOVED money" in wrong.text
