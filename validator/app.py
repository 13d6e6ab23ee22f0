"""A validator as configured: the reader, the validator's keys (never key B),
the journal and lists in the data directory, the fare table, the app's device
(bike dock, charger) and the rider feedback, assembled into a tap engine.
The engine takes up the list updates and the fare table the sync agent's
process commits, between taps (:meth:`TapEngine.refresh`).

Files in ``data_dir``: ``journal.sqlite3`` (every tap), ``denylist.sqlite3``,
``lists.sqlite3`` (pending top-ups, configuration), and for the simulated
bike dock and charger ``sim-dock.json`` / ``sim-charger.json``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from device import keystore
from device.config import DeviceConfig, DeviceMode
from device.denylist import DENYLIST_FILENAME, DenyList
from device.journal import JOURNAL_FILENAME, Journal
from device.lists import LISTS_FILENAME, ListStore
from hardware.feedback import Feedback
from hardware.feedback.factory import open_feedback
from hardware.reader import Reader
from hardware.uri import open_reader

from .bike import BikePolicy
from .bus import BusPolicy
from .devices import SimCharger, SimDock
from .engine import TapEngine, utc_now
from .ev import EvPolicy
from .fare_source import FareSource
from .fares import FareTable
from .policy import Policy


@dataclass
class Validator:
    config: DeviceConfig
    engine: TapEngine
    reader: Reader
    feedback: Feedback | None
    dock: SimDock | None = None
    charger: SimCharger | None = None


def _policy(config: DeviceConfig, fares: FareTable, mode: DeviceMode,
            clock: Callable[[], dt.datetime]) -> tuple[Policy, SimDock | None, SimCharger | None]:
    data = config.device.data_dir
    if mode is DeviceMode.BUS:
        return BusPolicy(fares.bus), None, None
    if mode is DeviceMode.BIKE:
        # a fresh simulated dock holds one bike, numbered after the dock
        dock = SimDock(config.device.location * 100 + 1, state_path=data / "sim-dock.json")
        return BikePolicy(fares.bike, dock), dock, None
    charger = SimCharger(config.device.location, clock=clock, state_path=data / "sim-charger.json")
    return EvPolicy(fares.ev, charger), None, charger


@contextmanager
def open_validator(config: DeviceConfig, *, mode: DeviceMode | None = None, reader_uri: str | None = None,
                   reader: Reader | None = None, feedback: bool = True,
                   clock: Callable[[], dt.datetime] = utc_now) -> Iterator[Validator]:
    """The validator of ``config``, closed on exit. The reader is ``reader``
    when given (the demo's simulated field; the caller closes it), else the
    one ``reader_uri`` or the configuration names.

    :raises KeyStoreError, ReaderUriError, ReaderUnavailableError, FareTableError,
        JournalError, DenyListError, ListStoreError: with a clear message.
    """
    with ExitStack() as stack:
        device = config.device
        device.data_dir.mkdir(parents=True, exist_ok=True)
        masters = keystore.load(device.keys, role="validator")  # a validator never holds key B
        journal = Journal(device.data_dir / JOURNAL_FILENAME, device.id)
        stack.callback(journal.close)
        denylist = DenyList(device.data_dir / DENYLIST_FILENAME)
        stack.callback(denylist.close)
        lists = stack.enter_context(ListStore(device.data_dir / LISTS_FILENAME))
        fares = FareSource(config, lists)
        policy, dock, charger = _policy(config, fares.table, mode or device.mode, clock)
        if reader is None:
            reader = open_reader(reader_uri or device.reader)
            stack.callback(reader.close)
        rider = None
        if feedback:
            rider = open_feedback(config.feedback.backend, timings=config.feedback.timings, pins=config.feedback.pins)
            stack.callback(rider.close)
        engine = TapEngine(reader, masters, policy, journal, denylist, lists.pending_loads, device.id,
                           device.operator, device.location, device.timezone, clock, fares)
        yield Validator(config, engine, reader, rider, dock, charger)
