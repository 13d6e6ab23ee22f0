"""Journal entries on the wire: every field, through the signed codec and back."""

from __future__ import annotations

import datetime as dt

from device.journal import Journal
from device.protocol.codec import decode, device_signer, encode
from device.protocol.messages import TxBatch
from device.protocol.signing import generate
from device.sync.wire import entry_record

T0 = dt.datetime(2026, 11, 21, 8, 0, 1, 250, tzinfo=dt.UTC)


def test_entries_become_records(tmp_path) -> None:
    with Journal(tmp_path / "j.sqlite3", 9, clock=lambda: T0) as journal:
        intent = journal.begin(kind="tap", uid=bytes.fromhex("0A0B0C0D"), card_number=6033000000000042,
                               counter_before=7, counter_after=8, amount_cents=-150, details={"line": 12})
        denial = journal.record(kind="tap", uid=None, card_number=5, amount_cents=0, balance_cents=None,
                                decision="denied", reason="blocked", details={})
        record = entry_record(journal.entry(intent))
        assert (record.seq, record.rev, record.kind, record.state) == (intent, 0, "tap", "intent")
        assert record.created_at == "2026-11-21T08:00:01.000250+00:00"
        assert (record.uid, record.card_number, record.counter_before, record.counter_after) == (
            "0a0b0c0d", 6033000000000042, 7, 8)
        assert (record.amount_cents, record.balance_cents, record.decision, record.details) == (
            -150, None, "", {"line": 12})
        journal.complete(intent, balance_cents=850, decision="approved", reason="fare")
        done = entry_record(journal.entry(intent))
        assert (done.rev, done.state, done.balance_cents, done.decision) == (1, "done", 850, "approved")
        assert entry_record(journal.entry(denial)).uid is None
        key = generate()
        batch = TxBatch(device_id=9, sent_at=T0.isoformat(), entries=(record, done))
        _, decoded = decode(encode(batch, key, device_signer(9)), lambda _: key.public_key())
        assert decoded == batch
