"""SyncStore: devices, ingest (idempotence, revisions, several devices in one
call, refused batches), errors. Every test runs on SQLite and PostgreSQL.
Reconciliation and lists have their own files."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from device.protocol.messages import Status, TxBatch
from sync_server.db.models import Device, Rejection, Transaction
from sync_server.errors import (
    BatchRejectedError,
    DuplicateDeviceError,
    InvalidValueError,
    StoreError,
    UnknownDeviceError,
)
from sync_server.store import REJECTION_DETAIL_MAX, IngestResult, SyncStore

from .builders import DEVICE_KEY, batch, entry, write
from .conftest import Clock, wipe


@pytest.fixture
def devices(store: SyncStore) -> SyncStore:
    for device_id in (1201, 1202, 1203):
        store.register_device(device_id, DEVICE_KEY, mode="bus", operator=7, location=40)
    return store


def _row(engine: Engine, device_id: int, seq: int) -> Transaction:
    with engine.connect() as conn:
        row = conn.execute(select(Transaction.__table__).where(Transaction.device_id == device_id,
                                                               Transaction.seq == seq)).one()
    return row  # type: ignore[return-value]


# -- devices ------------------------------------------------------------------------------------------

def test_registered_devices_give_their_keys(store: SyncStore) -> None:
    store.register_device(1201, DEVICE_KEY, mode="bus", operator=7, location=40)
    store.register_device(2**63 - 1, b"\xff" * 32, mode="ev", operator=1, location=2)
    assert store.device_keys() == {1201: DEVICE_KEY, 2**63 - 1: b"\xff" * 32}


def test_a_device_id_is_registered_once(store: SyncStore) -> None:
    store.register_device(1201, DEVICE_KEY, mode="bus", operator=7, location=40)
    with pytest.raises(DuplicateDeviceError) as caught:
        store.register_device(1201, bytes(32), mode="bike", operator=7, location=41)
    assert isinstance(caught.value, StoreError) and isinstance(caught.value, ValueError)
    assert isinstance(caught.value.__cause__, SQLAlchemyError)
    assert store.device_keys() == {1201: DEVICE_KEY}


@pytest.mark.parametrize("key", [bytes(31), bytes(33), b"", "00" * 32, None])
def test_a_public_key_is_32_raw_bytes(store: SyncStore, key: object) -> None:
    with pytest.raises(InvalidValueError, match="32 bytes"):
        store.register_device(1201, key, mode="bus", operator=7, location=40)  # type: ignore[arg-type]
    assert store.device_keys() == {}


@pytest.mark.parametrize("field", [{"device_id": 0}, {"device_id": True}, {"mode": ""}, {"mode": "x" * 17},
                                   {"operator": -1}, {"location": 2**31}])
def test_device_fields_out_of_range_are_refused(store: SyncStore, field: dict[str, object]) -> None:
    arguments: dict[str, object] = {"device_id": 1201, "mode": "bus", "operator": 7, "location": 40, **field}
    device_id = arguments.pop("device_id")
    with pytest.raises(InvalidValueError):
        store.register_device(device_id, DEVICE_KEY, **arguments)  # type: ignore[arg-type]


def test_status_is_kept_with_its_list_versions(devices: SyncStore, engine: Engine, clock: Clock) -> None:
    status = Status(device_id=1201, online=True, sent_at="2026-05-01T07:29:59+00:00",
                    list_versions={"denylist": 4, "loads": 2, "config": 1}, backlog=17, last_seq=905)
    devices.record_status(status)
    clock.advance(minutes=5)
    devices.record_status(Status(device_id=1201, online=False, sent_at="2026-05-01T07:35:00+00:00",
                                 list_versions={"denylist": 5}, backlog=0, last_seq=910))
    with engine.connect() as conn:
        row = conn.execute(select(Device.__table__).where(Device.device_id == 1201)).one()
    assert (row.online, row.backlog, row.last_seq, row.last_seen_at) == (False, 0, 910, clock.now)
    assert row.last_status["list_versions"] == {"denylist": 5}
    assert devices.device_list_versions() == {1201: {"denylist": 5, "loads": 2, "config": 1}}


def test_status_of_an_unknown_device_is_refused(devices: SyncStore) -> None:
    status = Status(device_id=999, online=True, sent_at="2026-05-01T07:29:59+00:00", list_versions={"denylist": 1},
                    backlog=0, last_seq=0)
    with pytest.raises(UnknownDeviceError) as caught:
        devices.record_status(status)
    assert isinstance(caught.value, LookupError) and caught.value.device_id == 999
    assert devices.device_list_versions() == {}


def test_a_group_of_statuses_is_recorded_at_once_leaving_out_the_bad_ones(devices: SyncStore) -> None:
    def status(device_id: int, version: int, backlog: int = 0) -> Status:
        return Status(device_id=device_id, online=True, sent_at="2026-05-01T07:29:59+00:00",
                      list_versions={"denylist": version}, backlog=backlog, last_seq=0)

    refused = devices.record_statuses([status(1201, 3), status(999, 3), status(1202, 4, backlog=-1),
                                       status(1202, 5)])
    assert [(s.device_id, type(error).__name__) for s, error in refused] == [
        (1202, "InvalidValueError"), (999, "UnknownDeviceError")]
    assert devices.device_list_versions() == {1201: {"denylist": 3}, 1202: {"denylist": 5}}
    assert devices.list_versions() == {"denylist": 0, "loads": 0, "config": 0}


def test_rejections_keep_the_error_class_and_the_start_of_its_message(devices: SyncStore, engine: Engine,
                                                                     clock: Clock) -> None:
    devices.record_rejection("cc/v1/dev/1201/tx", 1201, ValueError("x" * 2000))
    devices.record_rejection("cc/v1/dev/abc/tx", None, KeyError("who"))
    devices.record_rejection("cc/v1/dev/99999999999999999999/tx", 10**20, RuntimeError("big"))
    with engine.connect() as conn:
        rows = conn.execute(select(Rejection.__table__).order_by(Rejection.id)).all()
    assert [(r.topic, r.device_id, r.error_class, r.received_at) for r in rows] == [
        ("cc/v1/dev/1201/tx", 1201, "ValueError", clock.now),
        ("cc/v1/dev/abc/tx", None, "KeyError", clock.now),
        ("cc/v1/dev/99999999999999999999/tx", None, "RuntimeError", clock.now),
    ]
    assert rows[0].detail == "x" * REJECTION_DETAIL_MAX and rows[1].detail == "'who'"


# -- ingest -------------------------------------------------------------------------------------------

def test_a_new_batch_is_stored_and_acknowledged(devices: SyncStore, engine: Engine, clock: Clock) -> None:
    result = devices.ingest([batch(1201, write(1, 5000, 1, 850), entry(2, card=5000, after=1, balance=850),
                                   entry(3, uid=None))])
    assert result == IngestResult(acks={1201: [(1, 1), (2, 1), (3, 1)]}, inserted=3, upgraded=0, duplicates=0,
                                  anomalies=0, paying_cards=frozenset({5000}))  # the write moved money
    assert devices.transaction_keys() == {(1201, 1), (1201, 2), (1201, 3)}
    row = _row(engine, 1201, 1)
    assert (row.rev, row.kind, row.state, row.uid, row.card_number, row.counter_before, row.counter_after,
            row.amount_cents, row.balance_cents, row.decision, row.details) == (
        1, "tap", "done", bytes.fromhex("04a1b2c3"), 5000, 0, 1, -150, 850, "approved", {"line": 12})
    assert row.created_at == dt.datetime(2026, 5, 1, 7, 30, tzinfo=dt.UTC) and row.received_at == clock.now
    assert _row(engine, 1201, 3).uid is None


def test_a_redelivered_batch_changes_nothing_and_is_acknowledged_again(devices: SyncStore, engine: Engine,
                                                                       clock: Clock) -> None:
    sent = batch(1201, write(1, 5000, 1, 850), write(2, 5000, 2, 700))
    first = devices.ingest([sent])
    before = _row(engine, 1201, 2)
    clock.advance(hours=1)
    again = devices.ingest([sent])
    assert again == IngestResult(acks=first.acks, inserted=0, upgraded=0, duplicates=2, anomalies=0)
    assert _row(engine, 1201, 2) == before  # received_at included: the row was not rewritten
    assert devices.transaction_count() == 2


def test_a_higher_revision_replaces_the_row_a_lower_or_equal_one_does_not(devices: SyncStore,
                                                                         engine: Engine) -> None:
    intent = entry(1, rev=0, state="intent", card=5000, before=0, after=1, amount=-150, decision="")
    devices.ingest([batch(1201, intent)])
    done = write(1, 5000, 1, 850, rev=1)
    result = devices.ingest([batch(1201, done)])
    assert (result.inserted, result.upgraded, result.duplicates, result.acks) == (0, 1, 0, {1201: [(1, 1)]})
    assert (_row(engine, 1201, 1).state, _row(engine, 1201, 1).balance_cents) == ("done", 850)
    # The old intent, redelivered late, is acknowledged at its own revision and changes nothing.
    late = devices.ingest([batch(1201, intent)])
    assert (late.duplicates, late.acks) == (1, {1201: [(1, 0)]})
    # Equal revision with other content (a device bug): the first one stays.
    devices.ingest([batch(1201, write(1, 5000, 1, 999, rev=1))])
    assert _row(engine, 1201, 1).balance_cents == 850
    assert devices.shadow(5000) == (1, 850)


def test_revisions_of_one_entry_within_one_call_keep_the_highest(devices: SyncStore, engine: Engine) -> None:
    intent = entry(7, rev=0, state="intent", card=5000, before=3, after=4, decision="")
    aborted = entry(7, rev=1, state="aborted", card=5000, before=3, after=4, decision="", reason="torn")
    result = devices.ingest([batch(1201, aborted), batch(1201, intent, aborted)])
    assert result == IngestResult(acks={1201: [(7, 1), (7, 0), (7, 1)]}, inserted=1, upgraded=0, duplicates=2,
                                  anomalies=0)
    assert _row(engine, 1201, 7).state == "aborted"


def test_several_devices_in_one_call(devices: SyncStore) -> None:
    result = devices.ingest([batch(1201, write(1, 1, 1, 100), write(2, 2, 1, 100)),
                             batch(1202, write(1, 3, 1, 100)),
                             batch(1201, write(3, 4, 1, 100)),
                             batch(1203)])
    assert result.acks == {1201: [(1, 1), (2, 1), (3, 1)], 1202: [(1, 1)], 1203: []}
    assert (result.inserted, result.duplicates) == (4, 0)
    assert devices.transaction_keys() == {(1201, 1), (1201, 2), (1201, 3), (1202, 1)}


def test_ingest_marks_the_devices_seen(devices: SyncStore, engine: Engine, clock: Clock) -> None:
    clock.advance(minutes=3)
    devices.ingest([batch(1202, write(1, 1, 1, 100))])
    with engine.connect() as conn:
        seen = {device_id: at for device_id, at in conn.execute(select(Device.device_id, Device.last_seen_at))}
    assert seen == {1201: None, 1202: clock.now, 1203: None}


def test_nothing_at_all(devices: SyncStore) -> None:
    assert devices.ingest([]) == IngestResult(acks={}, inserted=0, upgraded=0, duplicates=0, anomalies=0)


def test_a_batch_of_an_unknown_device_rejects_the_call(devices: SyncStore) -> None:
    with pytest.raises(BatchRejectedError) as caught:
        devices.ingest([batch(1201, write(1, 1, 1, 100)), batch(999, write(1, 2, 1, 100))])
    assert (caught.value.batch_index, caught.value.device_id) == (1, 999)
    assert isinstance(caught.value.__cause__, UnknownDeviceError)
    assert devices.transaction_count() == 0  # the good batch of the call was not stored either


@pytest.mark.parametrize(("bad", "field"), [
    (entry(1, created_at="2026-05-01T07:30:00"), "created_at"),
    (entry(1, created_at="yesterday"), "created_at"),
    (entry(1, uid="04a1b2"), "uid"),
    (entry(1, uid="04 a1 b2 c3 d4"), "uid"),
    (entry(1, uid="zz" * 4), "uid"),
    (entry(0), "seq"),
    (entry(1, rev=-1), "rev"),
    (entry(1, state="lost"), "state"),
    (entry(1, card=2**64), "card_number"),
    (entry(1, card=-1), "card_number"),
    (entry(1, card=7, after=2**32), "counter_after"),
    (entry(1, amount=2**63), "amount_cents"),
    (entry(1, details={"fare": float("nan")}), "JSON"),
])
def test_an_entry_that_does_not_fit_rejects_its_batch(devices: SyncStore, bad: object, field: str) -> None:
    good = batch(1202, write(1, 1, 1, 100))
    with pytest.raises(BatchRejectedError, match=field) as caught:
        devices.ingest([good, TxBatch(device_id=1201, sent_at="", entries=(write(5, 2, 1, 100), bad))])
    assert (caught.value.batch_index, caught.value.device_id) == (1, 1201)
    assert devices.transaction_count() == 0


def test_card_numbers_use_all_64_bits(devices: SyncStore, engine: Engine) -> None:
    devices.ingest([batch(1201, write(1, 2**64 - 1, 9, 100), write(2, 2**63, 3, 50), write(3, 0, 1, 20))])
    assert [_row(engine, 1201, seq).card_number for seq in (1, 2, 3)] == [2**64 - 1, 2**63, 0]
    assert (devices.shadow(2**64 - 1), devices.shadow(2**63), devices.shadow(0)) == ((9, 100), (3, 50), (1, 20))


# Any interleaving, split and redelivery of a set of batches leaves exactly their keys, each at its
# highest revision, whatever order the revisions came in.
_REVISED = st.lists(st.tuples(st.sampled_from([1201, 1202]), st.integers(1, 12), st.integers(0, 3)),
                    min_size=1, max_size=30)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(sent=_REVISED, data=st.data())
def test_any_delivery_order_keeps_every_key_at_its_highest_revision(
        devices: SyncStore, engine: Engine, sent: list[tuple[int, int, int]], data: st.DataObject) -> None:
    wipe(engine)
    for device_id in (1201, 1202):
        devices.register_device(device_id, DEVICE_KEY, mode="bus", operator=7, location=40)
    deliveries = data.draw(st.permutations(sent + data.draw(st.lists(st.sampled_from(sent), max_size=10))))
    calls = data.draw(st.lists(st.integers(1, 4), min_size=1))  # entries per batch, batches per call
    acked: set[tuple[int, int, int]] = set()
    position = 0
    while position < len(deliveries):
        size = calls[position % len(calls)]
        chunk, position = deliveries[position:position + size], position + size
        batches = [batch(device_id, entry(seq, rev=rev, state="done" if rev else "intent")) for device_id, seq, rev
                   in chunk]
        result = devices.ingest(batches)
        acked |= {(device_id, seq, rev) for device_id, pairs in result.acks.items() for seq, rev in pairs}
        assert result.inserted + result.upgraded + result.duplicates == len(chunk)
    highest: dict[tuple[int, int], int] = {}
    for device_id, seq, rev in sent:
        highest[device_id, seq] = max(rev, highest.get((device_id, seq), -1))
    assert devices.transaction_revisions() == highest
    assert devices.transaction_keys() == set(highest)
    assert acked == set(deliveries)


# -- errors -------------------------------------------------------------------------------------------

def test_database_errors_become_store_errors_with_their_cause(devices: SyncStore, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE anomalies"))
        conn.execute(text("DROP TABLE transactions"))
    with pytest.raises(StoreError, match="counting transactions") as caught:
        devices.transaction_count()
    assert isinstance(caught.value.__cause__, SQLAlchemyError)
    with pytest.raises(StoreError, match="ingesting"):
        devices.ingest([batch(1201, write(1, 1, 1, 100))])
    devices.register_device(1204, DEVICE_KEY, mode="kiosk", operator=1, location=1)  # the store still works


def test_a_naive_clock_is_refused(engine: Engine) -> None:
    store = SyncStore(engine, clock=lambda: dt.datetime(2026, 5, 1, 7, 30))
    with pytest.raises(InvalidValueError, match="clock"):
        store.register_device(1201, DEVICE_KEY, mode="bus", operator=7, location=40)
