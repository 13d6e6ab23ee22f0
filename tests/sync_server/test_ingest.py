"""The ingest worker with the real agents, a real Mosquitto and the real
store (SQLite): taps go up exactly once and come back acknowledged; a
blocked card reaches every device and the server learns the versions they
hold; every kind of bad message is rejected, counted and recorded, and the
worker goes on."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from citizencard.broker import LocalBroker
from citizencard.city import City, TapWriter, build_city, card_number
from device.config import load_config
from device.denylist import DENYLIST_FILENAME, DenyList
from device.protocol import topics
from device.protocol.codec import MAX_MESSAGE_BYTES, canonical, device_signer, encode
from device.protocol.messages import EntryRecord, TxBatch
from device.protocol.signing import load_private, sign
from sync_server.config import load_server_config
from sync_server.setup import open_store
from tests.city import agent_threads, end_check, ingest_thread
from tests.mqtt import RawClient, wait_for

DEVICES = [1201, 1202, 1203]
FAST_SYNC = {"heartbeat": 60.0, "ack_timeout": 2.0, "reconnect_min": 0.05, "reconnect_max": 0.5, "batch_size": 50}


@pytest.fixture
def city(tmp_path: Path, mosquitto: LocalBroker) -> City:
    return build_city(tmp_path / "city", mosquitto, DEVICES, sync=FAST_SYNC)


def _store(city: City):
    return open_store(load_server_config(city.server_config), migrate=False)


def test_taps_reach_the_server_once_and_come_back_acknowledged(city: City) -> None:
    writers = {device_id: TapWriter(city, device_id) for device_id in DEVICES}
    with ingest_thread(city) as worker, agent_threads(city):
        for _ in range(3):
            for writer in writers.values():
                writer.tap(40)
        lost, duplicated = end_check(city, {d: w.taps for d, w in writers.items()}, faults=0)
    for writer in writers.values():
        writer.close()
    assert (lost, duplicated) == (0, 0)
    assert worker.counters.rejected_total == 0
    with _store(city) as store:
        assert store.anomalies() == []  # consistent histories raise no flag
        assert store.shadow(card_number(1201, 0)) == (30, 100_000 - 30 * 150)


def test_a_blocked_card_reaches_every_device_and_the_server_tracks_their_versions(city: City) -> None:
    with ingest_thread(city), agent_threads(city), _store(city) as store:
        version = store.block(card_number=card_number(1202, 1), reason="lost")

        def everyone_holds_it() -> bool:
            held = store.device_list_versions()
            return all(held.get(d, {}).get("denylist") == version for d in DEVICES)

        assert wait_for(everyone_holds_it, 10), store.device_list_versions()
        assert all(lag["denylist"] == 0 for lag in store.list_lag().values())
    for device_id in DEVICES:
        with DenyList(city.data_dir(device_id) / DENYLIST_FILENAME) as denylist:
            assert denylist.version == version
            assert denylist.is_denied(card_number(1202, 1), None) == "lost"


def test_a_device_back_after_missing_updates_catches_up_with_a_delta(city: City) -> None:
    with ingest_thread(city) as worker:
        with agent_threads(city, [1201]), _store(city) as store:
            first = store.block(card_number=1, reason="lost")
            assert wait_for(lambda: store.device_list_versions().get(1201, {}).get("denylist") == first, 10)
        # 1201 is away while the list moves on twice
        with _store(city) as store:
            store.block(card_number=2, reason="stolen")
            latest = store.unblock(card_number=1)
        sent_before = worker.counters.lists_sent
        with agent_threads(city, [1201]) as agents:
            with _store(city) as store:
                assert wait_for(lambda: store.device_list_versions()[1201]["denylist"] == latest, 10)
            assert agents[1201].counters.list_requests == 0  # a delta, never a full list
        assert worker.counters.lists_sent > sent_before
    with DenyList(city.data_dir(1201) / DENYLIST_FILENAME) as denylist:
        assert denylist.is_denied(1, None) is None
        assert denylist.is_denied(2, None) == "stolen"


def _entry(seq: int) -> EntryRecord:
    return EntryRecord(seq=seq, rev=0, kind="denied", state="done", created_at="2026-11-21T08:00:00.000000+00:00",
                       uid="a0b1c2d3", card_number=42, counter_before=None, counter_after=3, amount_cents=0,
                       balance_cents=500, decision="denied", reason="deny_list", details={})


def _signed(body: dict, key, signer: str, type_: str = "tx_batch") -> bytes:
    core = {"v": 1, "type": type_, "signer": signer, "body": body}
    return canonical({**core, "sig": base64.b64encode(sign(key, canonical(core))).decode()})


def test_bad_messages_are_rejected_counted_recorded_and_ingest_goes_on(city: City) -> None:
    key_1201 = load_private(load_config(city.devices[1201]).sync.signing_key)
    key_1202 = load_private(load_config(city.devices[1202]).sync.signing_key)
    good = encode(TxBatch(1201, "2026-11-21T08:00:00Z", (_entry(1),)), key_1201, device_signer(1201))
    wrong_schema = _signed({"device_id": 1201, "sent_at": "x", "entries": [{"seq": "one"}]}, key_1201,
                           device_signer(1201))
    bad_signature = good.replace(b'"card_number":42', b'"card_number":43')
    other_subtree = encode(TxBatch(1202, "2026-11-21T08:00:00Z", (_entry(9),)), key_1202, device_signer(1202))
    unknown_device = encode(TxBatch(999, "2026-11-21T08:00:00Z", (_entry(1),)), key_1201, device_signer(999))
    cases = [
        (topics.tx_topic(1201), b"{not json", "MalformedMessageError"),
        (topics.tx_topic(1201), wrong_schema, "MalformedMessageError"),
        (topics.tx_topic(1201), bad_signature, "SignatureError"),
        (topics.tx_topic(1201), other_subtree, "SignatureError"),  # 1202's message in 1201's subtree
        (topics.tx_topic(999), unknown_device, "SignatureError"),
        (topics.status_topic(1201), good, "ProtocolError"),  # a batch where a status belongs
    ]
    raw = RawClient(city.broker)
    try:
        with ingest_thread(city) as worker:
            for topic, payload, _ in cases:
                raw.publish(topic, payload)
            assert wait_for(lambda: worker.counters.rejected_total == len(cases), 10), worker.counters.rejected
            raw.publish(topics.tx_topic(1201), good)
            assert wait_for(lambda: worker.counters.acks_sent == 1, 10)
            # Replayed after its ack (two copies in flight at once may share one group and so one ack):
            # stored once, acked again.
            raw.publish(topics.tx_topic(1201), good)
            assert wait_for(lambda: worker.counters.acks_sent == 2, 10)
    finally:
        raw.close()
    expected: dict[str, int] = {}
    for _, _, error in cases:
        expected[error] = expected.get(error, 0) + 1
    assert dict(worker.counters.rejected) == expected
    assert worker.counters.duplicates == 1
    with _store(city) as store:
        assert store.transaction_keys() == {(1201, 1)}
        assert len(store.rejections()) == len(cases)


def test_an_oversized_message_is_refused_by_ingest_itself(tmp_path: Path) -> None:
    # The shipped broker drops it first (message_size_limit); this one lets it through, to show the second lock.
    with LocalBroker(tmp_path / "broker", config_extra="max_packet_size 1000000\nmessage_size_limit 0") as broker:
        city = build_city(tmp_path / "city", broker, [1201], sync=FAST_SYNC)
        raw = RawClient(broker)
        try:
            with ingest_thread(city) as worker:
                raw.publish(topics.tx_topic(1201), b"x" * (MAX_MESSAGE_BYTES + 1))
                assert wait_for(lambda: worker.counters.rejected_total == 1, 10)
        finally:
            raw.close()
    assert dict(worker.counters.rejected) == {"OversizedMessageError": 1}
    with _store(city) as store:
        assert store.transaction_count() == 0
        assert [r.error_class for r in store.rejections()] == ["OversizedMessageError"]


def test_the_worker_reconnects_after_the_broker_is_killed_and_ingests_again(city: City) -> None:
    key = load_private(load_config(city.devices[1201]).sync.signing_key)
    batch = encode(TxBatch(1201, "2026-11-21T08:00:00Z", (_entry(7),)), key, device_signer(1201))
    with ingest_thread(city) as worker:
        city.broker.kill()
        assert wait_for(lambda: not worker.connected.is_set(), 10)
        city.broker.restart()
        assert wait_for(worker.connected.is_set, 15)
        raw = RawClient(city.broker)
        try:
            raw.publish(topics.tx_topic(1201), batch)
            assert wait_for(lambda: worker.counters.inserted == 1, 10)
        finally:
            raw.close()
    with _store(city) as store:
        assert store.transaction_keys() == {(1201, 7)}


def test_a_city_sized_deny_list_reaches_a_new_device_in_parts(city: City) -> None:
    with _store(city) as store:
        version = store.block_many((6033_0000_0000_0000 + n, None, "lost") for n in range(8000))
    with ingest_thread(city) as worker, agent_threads(city, [1203]) as agents:
        with _store(city) as store:
            assert wait_for(lambda: store.device_list_versions().get(1203, {}).get("denylist") == version, 20)
        assert agents[1203].counters.lists_applied >= 1
        assert worker.counters.lists_sent >= 1
    with DenyList(city.data_dir(1203) / DENYLIST_FILENAME) as denylist:
        assert len(denylist) == 8000
        assert denylist.is_denied(6033_0000_0000_7999, None) == "lost"


def test_a_card_cloned_onto_two_buses_is_blocked_by_the_policy_and_reaches_the_devices(city: City) -> None:
    clone = 7_000_000_042
    raw = RawClient(city.broker)
    try:
        with ingest_thread(city) as worker, agent_threads(city, [1203]):
            for device_id in (1201, 1202):  # one counter written twice: two cards with one history
                key = load_private(load_config(city.devices[device_id]).sync.signing_key)
                tap = EntryRecord(seq=1, rev=1, kind="tap", state="done", created_at="2026-11-21T08:00:00+00:00",
                                  uid="04a1b2c3", card_number=clone, counter_before=4, counter_after=5,
                                  amount_cents=-150, balance_cents=850, decision="approved", reason="approved",
                                  details={})
                raw.publish(topics.tx_topic(device_id),
                            encode(TxBatch(device_id, "2026-11-21T08:00:00Z", (tap,)), key, device_signer(device_id)))
            assert wait_for(lambda: worker.counters.auto_blocked == 1, 10), worker.counters
            with _store(city) as store:
                version = store.list_version("denylist")
                assert wait_for(lambda: store.device_list_versions().get(1203, {}).get("denylist") == version, 10)
    finally:
        raw.close()
    with DenyList(city.data_dir(1203) / DENYLIST_FILENAME) as denylist:
        assert denylist.is_denied(clone, None) == "under_review"
