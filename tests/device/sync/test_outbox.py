"""The window of batches in flight: what to read next, acks, timeouts, resets."""

from __future__ import annotations

import pytest

from device.sync.outbox import Outbox


def outbox(**changes) -> Outbox:
    return Outbox(**{"window": 2, "batch_size": 3, "ack_timeout": 10.0, **changes})


def test_reads_resume_after_what_is_in_flight() -> None:
    box = outbox()
    assert box.read_plan() == (0, 3, set())  # an empty window: from the start of the backlog
    box.published(b"1", [(1, 0), (2, 0), (3, 0)], now=0)
    assert box.room == 1
    assert box.read_plan() == (3, 3, set())  # after the cursor: nothing in flight is read again
    box.published(b"2", [(4, 0), (5, 0)], now=0)
    assert box.room == 0 and box.cursor == 5
    assert box.in_flight == {(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)}


def test_acks_empty_the_window_and_rewind_the_cursor() -> None:
    box = outbox()
    box.published(b"1", [(1, 0), (2, 0)], now=0)
    box.published(b"2", [(3, 0)], now=0)
    assert box.acked([(1, 0)], marked=1) == 0 and box.room == 0  # part of batch 1
    assert box.acked([(2, 0), (3, 0)], marked=2) == 2 and box.room == 2
    assert box.cursor == 0  # nothing in flight: the next read starts from the backlog's start
    assert box.read_plan() == (0, 3, set())


def test_an_ack_that_marks_less_than_it_names_makes_a_rescan() -> None:
    box = outbox()
    box.published(b"1", [(1, 0), (2, 0)], now=0)
    box.published(b"2", [(3, 0), (4, 0)], now=0)
    box.acked([(1, 0), (2, 0)], marked=1)  # seq 2 changed revision meanwhile
    assert box.rescan
    after, limit, skip = box.read_plan()
    assert (after, skip) == (0, {(3, 0), (4, 0)}) and limit == 3 + 2  # room for a full batch past the skipped
    box.nothing_to_read()
    assert not box.rescan and box.read_plan() == (4, 3, set())


def test_overdue_batches_are_published_again() -> None:
    box = outbox(ack_timeout=5.0)
    first = box.published(b"1", [(1, 0)], now=0)
    box.published(b"2", [(2, 0)], now=3)
    assert box.overdue(4.9) == []
    assert box.overdue(5.0) == [first] and first.sent == 2 and first.published_at == 5.0
    assert [b.payload for b in box.overdue(8.0)] == [b"2"]
    assert box.overdue(9.0) == []


def test_a_reset_forgets_what_is_in_flight() -> None:
    box = outbox()
    box.published(b"1", [(1, 0)], now=0)
    box.reset()
    assert box.room == 2 and box.cursor == 0 and box.rescan and box.in_flight == set()
    with pytest.raises(ValueError):
        box.published(b"", [], now=0)
