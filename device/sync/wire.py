"""Journal entries as the protocol's records (:class:`~device.journal.JournalEntry`
to :class:`~device.protocol.messages.EntryRecord`): times as ISO 8601 with
their UTC offset, UIDs as lower-case hex (as list items, :mod:`device.protocol.items`), the
state as its name."""

from __future__ import annotations

from device.journal import JournalEntry
from device.protocol.messages import EntryRecord


def entry_record(entry: JournalEntry) -> EntryRecord:
    """The wire form of one revision of a journal entry."""
    return EntryRecord(
        seq=entry.seq,
        rev=entry.rev,
        kind=entry.kind,
        state=entry.state.value,
        created_at=entry.created_at.isoformat(),
        uid=None if entry.uid is None else entry.uid.hex(),
        card_number=entry.card_number,
        counter_before=entry.counter_before,
        counter_after=entry.counter_after,
        amount_cents=entry.amount_cents,
        balance_cents=entry.balance_cents,
        decision=entry.decision,
        reason=entry.reason,
        details=entry.details,
    )
