"""Helpers for the tests that run a sync network on one machine
(:mod:`citizencard.city`): realistic taps written to a device's journal,
the ingest worker and the agents in this process (threads) or as real
processes, and the end check of every fault test.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from citizencard.city import City, agent_argv, ingest_argv
from citizencard.network import CityNetwork
from device.journal import JOURNAL_FILENAME, Journal
from device.sync.agent import Agent
from sync_server.config import load_server_config
from sync_server.ingest import IngestWorker
from sync_server.setup import open_store
from tests.mqtt import wait_for


@contextmanager
def ingest_thread(city: City) -> Iterator[IngestWorker]:
    """An ingest worker of ``city`` in a thread of this process, stopped on exit."""
    with CityNetwork(city, [], client_id=f"ingest-test-{os.getpid()}") as network:
        assert network.worker is not None
        yield network.worker


@contextmanager
def agent_threads(city: City, device_ids: list[int] | None = None) -> Iterator[dict[int, Agent]]:
    """The agents of ``device_ids`` (all by default) in threads of this process, stopped on exit."""
    with CityNetwork(city, device_ids, ingest=False) as network:
        yield network.agents


@dataclass
class Process:
    """A ``citizencard`` program of the city, run as its own process, its output in ``log``."""

    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITIZENCARD_")}
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(self.argv, stdout=out, stderr=out, env=env)
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to say goodbye."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> int:
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                tail = self.log.read_text()[-3000:]
                raise AssertionError(f"{self.argv[1:3]} ignored SIGTERM; log:\n{tail}") from None
        return self.popen.returncode

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


def ingest_process(city: City, name: str) -> Process:
    return Process(ingest_argv(city), city.root / f"{name}.log")


def agent_process(city: City, device_id: int) -> Process:
    return Process(agent_argv(city, device_id), city.root / f"agent-{device_id}.log")


def end_check(city: City, taps: dict[int, int], faults: int, timeout: float = 60.0) -> tuple[int, int]:
    """Wait until every journal is acknowledged and the server holds every
    tap; print and return ``(lost, duplicated)``: taps written but not on the
    server, and server rows beyond one per written tap."""
    expected = {(device_id, seq) for device_id, count in taps.items() for seq in range(1, count + 1)}
    config = load_server_config(city.server_config)
    journals = {device_id: Journal(city.data_dir(device_id) / JOURNAL_FILENAME, device_id) for device_id in taps}
    try:
        with open_store(config, migrate=False) as store:
            wait_for(lambda: all(j.backlog() == 0 for j in journals.values())
                     and expected <= store.transaction_keys(), timeout, 0.1)
            held = store.transaction_keys()
            rows = store.transaction_count()
        lost = len(expected - held)
        duplicated = rows - len(held) + len(held - expected)
        backlog = sum(j.backlog() for j in journals.values())
    finally:
        for journal in journals.values():
            journal.close()
    print(f"faults injected {faults} / lost {lost} / duplicated {duplicated} "
          f"({len(taps)} devices x {sum(taps.values()) // max(1, len(taps))} taps, journal backlog {backlog})")
    assert backlog == 0, f"{backlog} journal entries never acknowledged"
    return lost, duplicated
