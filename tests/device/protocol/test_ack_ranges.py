"""Acks as ranges: any set of (seq, rev) pairs comes back whole from its
ranges, consecutive entries of one revision make one range, and a range that
is empty or absurdly long is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.protocol.errors import MalformedMessageError
from device.protocol.messages import MAX_ACK_RANGE, AckedRange, ack_ranges, range_pairs

PAIRS = st.sets(st.tuples(st.integers(1, 500), st.integers(0, 3)), max_size=200)


@given(PAIRS)
def test_pairs_survive_ranges(pairs: set[tuple[int, int]]) -> None:
    ranges = ack_ranges(pairs)
    assert set(range_pairs(ranges)) == pairs
    assert len(range_pairs(ranges)) == len(pairs)


def test_a_batch_is_one_range_and_a_changed_revision_splits_it() -> None:
    assert ack_ranges((seq, 1) for seq in range(101, 301)) == (AckedRange(101, 300, 1),)
    assert ack_ranges([(1, 0), (2, 0), (3, 1), (4, 0), (6, 0)]) == (
        AckedRange(1, 2, 0), AckedRange(3, 3, 1), AckedRange(4, 4, 0), AckedRange(6, 6, 0))


@pytest.mark.parametrize("bad", [AckedRange(5, 4, 0), AckedRange(1, MAX_ACK_RANGE + 1, 0), AckedRange(1, 10**12, 0)])
def test_an_empty_or_absurd_range_is_refused(bad: AckedRange) -> None:
    with pytest.raises(MalformedMessageError, match="ack range"):
        range_pairs([bad])
