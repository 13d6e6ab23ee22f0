"""A demo city without its network, for the simulation modules' tests: the
server's database (migrated, the back office set up), the four devices'
validators on simulated antennas, and the card office. Nothing connects to a
broker (the devices' lists stay as they are unless a test writes them)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from citizencard.broker import LocalBroker
from citizencard.city import City, build_city
from citizencard.simulation import backoffice
from citizencard.simulation.fleet import DEVICES, LOCATIONS, MODES, Fleet
from citizencard.simulation.riders import CardOffice
from device import keystore
from sync_server.config import load_server_config
from sync_server.registry import Registry
from sync_server.setup import open_store
from sync_server.store import SyncStore


@dataclass
class OfflineCity:
    city: City
    store: SyncStore
    registry: Registry
    fleet: Fleet
    office: CardOffice


@contextmanager
def offline_city(root: Path, seed: int = 1) -> Iterator[OfflineCity]:
    city = build_city(root / "city", LocalBroker(root / "broker"), DEVICES, modes=MODES, locations=LOCATIONS)
    with ExitStack() as stack:
        store = stack.enter_context(open_store(load_server_config(city.server_config), migrate=False))
        registry = Registry(store)
        backoffice.set_up(registry)
        fleet = Fleet(city.devices, stack)
        office = CardOffice(registry, backoffice.ACTOR, keystore.load(city.issuer_keys), root, random.Random(seed))
        yield OfflineCity(city, store, registry, fleet, office)
