"""Faults with real processes on the shipped broker configuration (TLS,
client certificates, the ACL): ``citizencard ingest`` and ``citizencard
agent`` processes, a real Mosquitto, the server's SQLite database. Each test
injects its faults while taps keep coming and ends with the same check: N
devices x M taps in the journals, exactly N x M transactions on the server,
none lost, none duplicated, every journal entry acknowledged (printed as
"faults injected / lost / duplicated")."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from citizencard.broker import LocalBroker
from citizencard.city import City, TapWriter, build_city
from device.config import load_config
from device.journal import JOURNAL_FILENAME, Journal
from device.protocol import topics
from device.protocol.codec import device_signer, encode
from device.protocol.messages import TxBatch
from device.protocol.signing import load_private
from device.sync.wire import entry_record
from sync_server.config import load_server_config
from sync_server.setup import open_store
from tests.city import Process, agent_process, end_check, ingest_process
from tests.mqtt import RawClient, wait_for

DEVICES = [1301, 1302, 1303]
TAPS_PER_ROUND = 20
FAST_SYNC = {"heartbeat": 5.0, "ack_timeout": 2.0, "reconnect_min": 0.05, "reconnect_max": 0.5, "batch_size": 25}
SOAK = bool(os.environ.get("CITIZENCARD_SOAK"))
OUTAGE_SECONDS = 60.0 if SOAK else 4.0


@pytest.fixture
def city(tmp_path: Path, mosquitto_tls: LocalBroker) -> City:
    return build_city(tmp_path / "city", mosquitto_tls, DEVICES, sync=FAST_SYNC, list_poll=0.1)


def _connected(process: Process) -> bool:
    return process.log.exists() and "connected to" in process.log.read_text()


@contextmanager
def running_city(city: City, workers: int = 1) -> Iterator[tuple[list[Process], dict[int, Process],
                                                                 dict[int, TapWriter]]]:
    ingest = [ingest_process(city, f"ingest-{n}").start() for n in range(workers)]
    assert wait_for(lambda: all(map(_connected, ingest)), 15), [p.log.read_text() for p in ingest]
    agents = {device_id: agent_process(city, device_id).start() for device_id in DEVICES}
    writers = {device_id: TapWriter(city, device_id) for device_id in DEVICES}
    try:
        yield ingest, agents, writers
    finally:
        for writer in writers.values():
            writer.close()
        codes = [process.stop() for process in [*agents.values(), *ingest] if process.alive]
        assert codes == [0] * len(codes), [p.log.read_text()[-2000:] for p in [*agents.values(), *ingest]]


def _tap_round(writers: dict[int, TapWriter], count: int = TAPS_PER_ROUND) -> None:
    for writer in writers.values():
        writer.tap(count)


def _wait_some_synced(city: City, at_least: int) -> None:
    with open_store(load_server_config(city.server_config), migrate=False) as store:
        assert wait_for(lambda: store.transaction_count() >= at_least, 20), store.transaction_count()


def _finish(city: City, writers: dict[int, TapWriter], faults: int) -> None:
    lost, duplicated = end_check(city, {d: w.taps for d, w in writers.items()}, faults, timeout=60)
    assert (lost, duplicated) == (0, 0)
    with open_store(load_server_config(city.server_config), migrate=False) as store:
        assert store.anomalies() == []  # faults on the way never make a consistent history look impossible


def test_the_broker_killed_mid_stream_and_restarted(city: City) -> None:
    broker = city.broker
    with running_city(city) as (_, _, writers):
        faults = 0
        for _ in range(3):
            _tap_round(writers)
            _wait_some_synced(city, 5)
            broker.kill()
            faults += 1
            _tap_round(writers, 5)  # taps go on while the broker is dead
            broker.restart()
        _tap_round(writers)
        _finish(city, writers, faults)


def test_an_ingest_worker_killed_and_restarted(city: City) -> None:
    with running_city(city) as (ingest, _, writers):
        faults = 0
        for _ in range(3):
            _tap_round(writers)
            ingest[0].kill()
            faults += 1
            _tap_round(writers, 5)
            ingest[0].start()
        _tap_round(writers)
        _finish(city, writers, faults)


def test_device_agents_killed_and_restarted(city: City) -> None:
    with running_city(city) as (_, agents, writers):
        faults = 0
        for _ in range(3):
            _tap_round(writers)
            for agent in agents.values():
                agent.kill()
                faults += 1
            _tap_round(writers, 5)
            for agent in agents.values():
                agent.start()
        _tap_round(writers)
        _finish(city, writers, faults)


def test_two_ingest_workers_share_the_load_and_one_dies(city: City) -> None:
    with running_city(city, workers=2) as (ingest, _, writers):
        _tap_round(writers)
        _wait_some_synced(city, 10)
        ingest[1].kill()
        _tap_round(writers)
        _finish(city, writers, faults=1)
    logs = [process.log.read_text() for process in ingest]
    assert all("connected to" in log for log in logs)


def test_the_broker_down_for_a_long_stretch_while_taps_continue(city: City) -> None:
    broker = city.broker
    with running_city(city) as (_, _, writers):
        _tap_round(writers)
        broker.stop()
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:  # a bus keeps validating with no network
            _tap_round(writers, 5)
            time.sleep(0.2)
        broker.start()
        _tap_round(writers)
        _finish(city, writers, faults=1)


def test_bad_messages_amid_the_traffic_are_rejected_and_nothing_is_lost(city: City) -> None:
    key = load_private(load_config(city.devices[1301]).sync.signing_key)
    other_key = load_private(load_config(city.devices[1302]).sync.signing_key)
    with running_city(city) as (ingest, _, writers):
        _tap_round(writers)
        _wait_some_synced(city, 3 * TAPS_PER_ROUND)
        with Journal(city.data_dir(1301) / JOURNAL_FILENAME, 1301) as journal:
            sent = tuple(entry_record(journal.entry(seq)) for seq in range(1, 6))
        replayed = encode(TxBatch(1301, "2026-11-21T08:00:00Z", sent), key, device_signer(1301))
        forged = encode(TxBatch(1302, "2026-11-21T08:00:00Z", sent), other_key, device_signer(1302))
        bad = [b"{not json", replayed.replace(b'"entries":[', b'"entries":[{"seq":1},'),  # signature no longer fits
               replayed.replace(b'"sent_at":"2026', b'"sent_at":"2027'), forged]
        intruder = RawClient(city.broker, 1301)
        try:
            for payload in bad:
                intruder.publish(topics.tx_topic(1301), payload)
                _tap_round(writers, 3)
            intruder.publish(topics.tx_topic(1301), replayed)  # a replay: acked again, stored once
            intruder.publish(topics.tx_topic(1302), replayed)  # another device's subtree: the ACL drops it
            _tap_round(writers)
        finally:
            intruder.close()
        _finish(city, writers, faults=len(bad) + 2)
        with open_store(load_server_config(city.server_config), migrate=False) as store:
            rejected = [r.error_class for r in store.rejections()]
        assert sorted(rejected) == ["MalformedMessageError", "SignatureError", "SignatureError", "SignatureError"]
        assert ingest[0].alive
