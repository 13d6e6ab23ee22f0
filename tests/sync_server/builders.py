"""Builders for the sync server's tests: journal entries as devices send them."""

from __future__ import annotations

from typing import Any

from device.protocol.messages import EntryRecord, TxBatch

DEVICE_KEY = bytes(range(32))
CREATED_AT = "2026-05-01T07:30:00.000000+00:00"


def entry(seq: int, *, rev: int = 1, state: str = "done", card: int | None = None, before: int | None = None,
          after: int | None = None, amount: int = 0, balance: int | None = None, kind: str = "tap",
          uid: str | None = "04a1b2c3", created_at: str = CREATED_AT, decision: str = "approved",
          reason: str = "", details: dict[str, Any] | None = None) -> EntryRecord:
    return EntryRecord(seq=seq, rev=rev, kind=kind, state=state, created_at=created_at, uid=uid, card_number=card,
                       counter_before=before, counter_after=after, amount_cents=amount, balance_cents=balance,
                       decision=decision, reason=reason, details=details if details is not None else {"line": 12})


def write(seq: int, card: int, counter: int, balance: int, amount: int = -150, *, rev: int = 1,
          state: str = "done") -> EntryRecord:
    """A tap that wrote the card: counter ``counter - 1`` to ``counter``, leaving ``balance``."""
    return entry(seq, rev=rev, state=state, card=card, before=counter - 1, after=counter, amount=amount,
                 balance=balance)


def read(seq: int, card: int, counter: int, balance: int) -> EntryRecord:
    """A tap that only read the card (a denial): the counter and balance it found."""
    return entry(seq, card=card, after=counter, balance=balance, decision="denied", reason="blocked")


def batch(device_id: int, *entries: EntryRecord) -> TxBatch:
    return TxBatch(device_id=device_id, sent_at=CREATED_AT, entries=tuple(entries))
