"""A one-machine city's sync programs running in this process:
:class:`CityNetwork` starts the server's ingest worker
(:class:`~sync_server.ingest.IngestWorker`) and every device's sync agent
(:class:`~device.sync.agent.Agent`), each in a thread of its own, and stops
them in order (the agents first, so their offline status reaches a running
worker; then the worker). These are the programs ``citizencard ingest`` and
``citizencard agent`` run, over the files :func:`citizencard.city.build_city`
wrote; the demo uses it, where one process is simpler to follow and to stop
than five.

A thread that fails keeps its exception; :meth:`CityNetwork.check` raises
:class:`NetworkError` with it as the cause, and so does :meth:`CityNetwork.stop`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType
from typing import Self

from device.config import load_config
from device.protocol.signing import load_private
from device.sync.agent import Agent
from sync_server.config import load_server_config
from sync_server.ingest import IngestWorker
from sync_server.setup import open_store

from .city import City

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the worker and the agents to connect to the broker."""

STOP_TIMEOUT = 10.0
"""Seconds to wait for each thread to finish after the stop."""


class NetworkError(Exception):
    """A program of the city did not connect in time, or its thread failed
    (the failure is the cause)."""


class CityNetwork:
    """The ingest worker of ``city`` and the agents of ``device_ids`` (all
    its devices by default), in threads of this process.

    :param client_id: the ingest worker's MQTT client id.
    :param ingest: whether to run the worker (a test may run agents alone,
        next to a worker of its own).
    """

    def __init__(self, city: City, device_ids: list[int] | None = None, *, client_id: str | None = None,
                 ingest: bool = True) -> None:
        self.city = city
        self.ingest = ingest
        self.device_ids = list(city.devices) if device_ids is None else list(device_ids)
        self.client_id = client_id or f"ingest-demo-{os.getpid()}"
        self.agents: dict[int, Agent] = {}
        self.worker: IngestWorker | None = None
        self._stack = ExitStack()
        self._ingest_stop = threading.Event()
        self._agents_stop = threading.Event()
        self._ingest_failure: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._ingest_thread: threading.Thread | None = None

    def start(self) -> Self:
        """Start the worker, then the agents, and wait until all are connected.

        :raises NetworkError: when one does not connect within
            :data:`CONNECT_TIMEOUT` seconds or its thread fails (everything
            started is stopped again).
        :raises SyncServerError, DeviceError: when a configuration, a key or the database cannot be read.
        """
        try:
            if self.ingest:
                self._start_ingest()
            self._start_agents()
        except BaseException:
            self.stop(check=False)
            raise
        return self

    def _start_ingest(self) -> None:
        config = load_server_config(self.city.server_config)
        store = self._stack.enter_context(open_store(config))
        self.worker = worker = IngestWorker(store, config.broker, self.client_id,
                                            load_private(config.signing_key), group=config.group,
                                            list_poll=config.list_poll, policy=config.policy)

        def main() -> None:
            try:
                worker.run(self._ingest_stop)
            except BaseException as exc:  # kept for check(): a thread must not die silently
                self._ingest_failure = exc

        self._ingest_thread = threading.Thread(target=main, name="ingest", daemon=True)
        self._ingest_thread.start()
        self._wait("the ingest worker", worker.connected.is_set)

    def _start_agents(self) -> None:
        for device_id in self.device_ids:
            self.agents[device_id] = Agent(load_config(self.city.devices[device_id]))
        for agent in self.agents.values():
            self._threads.append(agent.start(self._agents_stop))
        self._wait("the sync agents", lambda: all(agent.connected.is_set() for agent in self.agents.values()))

    def _wait(self, what: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while not ready():
            self.check()
            if time.monotonic() > deadline:
                raise NetworkError(f"{what} did not connect to {self.city.broker.url} within {CONNECT_TIMEOUT:g}s")
            time.sleep(0.01)

    def check(self) -> None:
        """:raises NetworkError: when a program's thread has failed, with its exception as the cause."""
        if self._ingest_failure is not None:
            raise NetworkError(f"the ingest worker failed: {self._ingest_failure}") from self._ingest_failure
        for device_id, agent in self.agents.items():
            if agent.failure is not None:
                raise NetworkError(f"the sync agent of device {device_id} failed: {agent.failure}") from agent.failure

    def stop(self, *, check: bool = True) -> None:
        """Stop the agents (each publishes its offline status), then the
        worker, and close the worker's database. Idempotent.

        :raises NetworkError: with ``check``, when a thread had failed or does not stop.
        """
        self._agents_stop.set()
        for thread in self._threads:
            thread.join(STOP_TIMEOUT)
        self._ingest_stop.set()
        if self._ingest_thread is not None:
            self._ingest_thread.join(STOP_TIMEOUT)
        stuck = [t.name for t in (*self._threads, self._ingest_thread) if t is not None and t.is_alive()]
        self._stack.close()
        if check:
            self.check()
            if stuck:
                raise NetworkError(f"{', '.join(stuck)} did not stop within {STOP_TIMEOUT:g}s")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop(check=exc is None)
