"""Fixtures of the sync agent's tests: a device's files for the test's
broker, a stand-in server, an agent running in a thread, and taps."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from citizencard.broker import LocalBroker
from device.config import load_config
from device.journal import JOURNAL_FILENAME, Journal
from device.sync.agent import Agent
from tests.mqtt import DeviceFiles, ServerKeys, StandInServer, device_files, wait_for

DEVICE = 1201


@pytest.fixture
def server_keys() -> ServerKeys:
    return ServerKeys()


@pytest.fixture
def make_device(tmp_path, server_keys: ServerKeys) -> Callable[..., DeviceFiles]:
    def make(broker: LocalBroker, device_id: int = DEVICE, **sync: Any) -> DeviceFiles:
        files = device_files(tmp_path / f"device-{device_id}", device_id, broker, server_keys, sync=sync)
        files.data_dir.mkdir(parents=True, exist_ok=True)
        return files

    return make


@pytest.fixture
def device(mosquitto: LocalBroker, make_device) -> DeviceFiles:
    return make_device(mosquitto)


@pytest.fixture
def server(mosquitto: LocalBroker, server_keys: ServerKeys, device: DeviceFiles) -> Iterator[StandInServer]:
    with StandInServer(mosquitto, server_keys, {device.device_id: device.signing_key.public_key()}) as stand_in:
        yield stand_in


@pytest.fixture
def journal(device: DeviceFiles) -> Iterator[Journal]:
    """The validator's side of the journal: the test writes taps with it."""
    with Journal(device.data_dir / JOURNAL_FILENAME, device.device_id) as opened:
        yield opened


def tap(journal: Journal, n: int = 0) -> int:
    """One finished (approved) tap."""
    return journal.record(kind="tap", uid=bytes([0xA0, 0xB1, 0xC2, n % 256]), card_number=6033000000000000 + n,
                          counter_after=n + 1, amount_cents=-150, balance_cents=1000, decision="approved",
                          reason="fare", details={"line": 12, "n": n})


@contextmanager
def running(files: DeviceFiles, **options: Any) -> Iterator[Agent]:
    """An agent for ``files`` running in a thread; stopped (and checked not to have failed) on exit."""
    agent = Agent(load_config(files.config, environ={}), **options)
    stop = threading.Event()
    thread = agent.start(stop)
    try:
        assert wait_for(agent.connected.is_set, 5), "the agent did not connect"
        yield agent
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "the agent did not stop"
    assert agent.failure is None, agent.failure


@pytest.fixture
def journal_for() -> Iterator[Callable[[DeviceFiles], Journal]]:
    """Opens the journal of any device's files (closed after the test)."""
    opened: list[Journal] = []

    def open_journal(files: DeviceFiles) -> Journal:
        opened.append(Journal(files.data_dir / JOURNAL_FILENAME, files.device_id))
        return opened[-1]

    yield open_journal
    for journal in opened:
        journal.close()
