"""The window of transaction batches in flight: published, not yet
acknowledged by the server's signed ack (never by MQTT's PUBACK).

The outbox decides what to read from the journal next and remembers what
is in flight; it reads and writes nothing itself. Reading resumes after the
highest sequence number in flight (:attr:`Outbox.cursor`, passed to
``Journal.unacked(after_seq=...)``), so filling the window does not read
again what is in flight. Entries behind the cursor that still need sending
(a revision that changed while its older one was in flight, an ack that
never came for part of a batch) are picked up by a *rescan* from the start
of the backlog, skipping the ``(seq, rev)`` pairs in flight; a rescan
happens whenever the window is empty (cheap then: nothing in flight to
skip) and after an ack that did not mark every pair it named.

A batch without an ack after ``ack_timeout`` is due to be published again
(:meth:`Outbox.overdue`), and after a reconnection everything in flight is
forgotten and read again (:meth:`Outbox.reset`): the server keeps one entry
per ``(device_id, seq)`` at the highest revision, so a second delivery
changes nothing but the ack.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

Pair = tuple[int, int]
"""``(seq, rev)``: one revision of one journal entry, what an ack names."""


@dataclass
class Batch:
    """One published batch: its payload (published again as is) and the
    pairs the server has not acknowledged yet."""

    number: int
    payload: bytes
    pending: set[Pair]
    published_at: float
    last_seq: int
    sent: int = 1  # how many times it was published

    @property
    def size(self) -> int:
        return len(self.pending)


@dataclass
class Outbox:
    """Up to ``window`` batches of up to ``batch_size`` entries in flight."""

    window: int
    batch_size: int
    ack_timeout: float
    batches: dict[int, Batch] = field(default_factory=dict)
    cursor: int = 0
    """The highest sequence number published since the last rescan or reset."""
    rescan: bool = True
    """Read the backlog from its start at the next fill."""
    _numbers: int = 0

    @property
    def room(self) -> int:
        """How many more batches may be published now."""
        return max(0, self.window - len(self.batches))

    @property
    def in_flight(self) -> set[Pair]:
        return {pair for batch in self.batches.values() for pair in batch.pending}

    def read_plan(self) -> tuple[int, int, set[Pair]]:
        """What to read for the next batch: ``(after_seq, limit, skip)``:
        the journal's unacknowledged entries after ``after_seq``, at most
        ``limit``, less those whose ``(seq, rev)`` is in ``skip``."""
        if self.rescan or not self.batches:
            skip = self.in_flight
            return 0, self.batch_size + len(skip), skip
        return self.cursor, self.batch_size, set()

    def published(self, payload: bytes, pairs: Iterable[Pair], now: float) -> Batch:
        """Record a batch just published (after a :meth:`read_plan` read)."""
        pending = set(pairs)
        if not pending:
            raise ValueError("an empty batch is not published")
        self._numbers += 1
        last_seq = max(seq for seq, _ in pending)
        batch = Batch(self._numbers, payload, pending, now, last_seq)
        self.batches[batch.number] = batch
        self.cursor = max(self.cursor, last_seq)
        self.rescan = False
        return batch

    def nothing_to_read(self) -> None:
        """The last read found nothing new: the next rescan waits for the window to empty."""
        self.rescan = False

    def acked(self, pairs: Iterable[Pair], marked: int) -> int:
        """The server acknowledged ``pairs``, of which the journal marked
        ``marked`` (fewer when a revision changed meanwhile, or for a
        repeated ack). Batches with nothing left pending leave the window.

        :returns: how many batches completed.
        """
        named = set(pairs)
        done = []
        for number, batch in self.batches.items():
            batch.pending -= named
            if not batch.pending:
                done.append(number)
        for number in done:
            del self.batches[number]
        if marked < len(named):
            self.rescan = True
        if not self.batches:
            self.cursor = 0
        return len(done)

    def overdue(self, now: float) -> list[Batch]:
        """Batches published ``ack_timeout`` ago or more without their ack;
        each is taken as published again now."""
        due = [batch for batch in self.batches.values() if now - batch.published_at >= self.ack_timeout]
        for batch in due:
            batch.published_at = now
            batch.sent += 1
        return due

    def reset(self) -> None:
        """Forget what is in flight (after a reconnection): read it all again."""
        self.batches.clear()
        self.cursor = 0
        self.rescan = True
