"""A whole sync network on one machine: a server (its configuration, signing
key, database and the card issuer's master keys) and field devices (each
with its configuration, validator keys, sync signing key and data
directory), wired to one broker. The demo, the benches and the fault tests
build their city with :func:`build_city` and start the programs as a city
would run them: ``citizencard ingest`` and ``citizencard agent`` processes
(:func:`ingest_argv`, :func:`agent_argv`), or in-process.

Layout under ``root``::

    server/server.toml, server.key, server.pub, server.sqlite3, issuer.keys
    devices/<id>/config.toml, validator.keys, sync.key, server.pub, data/
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device import keystore
from device.config import render_config
from device.journal import JOURNAL_FILENAME, Journal
from device.pki import issue
from device.protocol import signing
from sync_server.config import load_server_config
from sync_server.setup import PUBLIC_KEY_FILENAME, init_server, open_store
from validator.fares import DEFAULT_FARES

from .broker import LocalBroker

TIMEZONE = "Europe/Madrid"


@dataclass
class City:
    root: Path
    broker: LocalBroker
    server_config: Path
    issuer_keys: Path
    devices: dict[int, Path] = field(default_factory=dict)
    """Device id -> its config file."""

    def data_dir(self, device_id: int) -> Path:
        return self.devices[device_id].parent / "data"


def _citizencard() -> list[str]:
    found = shutil.which("citizencard", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "citizencard"]


def ingest_argv(city: City, *extra: str) -> list[str]:
    """The command line of an ingest worker of ``city``."""
    return [*_citizencard(), "ingest", "--config", str(city.server_config), *extra]


def agent_argv(city: City, device_id: int, *extra: str) -> list[str]:
    """The command line of device ``device_id``'s sync agent."""
    return [*_citizencard(), "agent", "--config", str(city.devices[device_id]), *extra]


def build_city(root: Path, broker: LocalBroker, device_ids: Iterable[int], *, mode: str = "bus",
               modes: Mapping[int, str] | None = None, locations: Mapping[int, int] | None = None,
               sync: Mapping[str, Any] | None = None, database: str = "sqlite:///server.sqlite3",
               list_poll: float = 0.2) -> City:
    """Write a server and the devices ``device_ids`` under ``root`` for
    ``broker`` (TLS with client certificates when the broker has a pki: the
    certificates missing from it are issued), and register the devices.
    Each device is a ``mode`` validator (``modes`` names other modes by
    device id) at location ``device_id % 65536`` (or ``locations[device_id]``:
    its line, dock or charging site), with the default fare table.
    ``sync`` overrides the devices' ``[sync]`` keys (timings, batch size).

    :raises SyncServerError, DeviceError: when a file or the database cannot be written.
    """
    server_dir = root / "server"
    pki = broker.tls_pki
    if pki is not None and not (pki / "ingest.crt").exists():
        issue(pki, "ingest")
    server_config = init_server(server_dir, database=database, broker_host="127.0.0.1", broker_port=broker.port,
                                pki=pki, list_poll=list_poll)
    issuer_keys = keystore.save(server_dir / "issuer.keys", keystore.generate("issuer"))
    city = City(root, broker, server_config, issuer_keys)
    with open_store(load_server_config(server_config)) as store:
        for device_id in device_ids:
            device_mode = (modes or {}).get(device_id, mode)
            location = (locations or {}).get(device_id, device_id % 65536)
            city.devices[device_id] = config = _device(root / "devices" / str(device_id), device_id, city,
                                                       device_mode, location, sync or {})
            public = signing.load_private(config.parent / "sync.key").public_key()
            store.register_device(device_id, signing.public_bytes(public), mode=device_mode, operator=1,
                                  location=location)
    return city


def _device(directory: Path, device_id: int, city: City, mode: str, location: int,
            sync: Mapping[str, Any]) -> Path:
    (directory / "data").mkdir(parents=True, exist_ok=True)
    keystore.save(directory / "validator.keys", keystore.load(city.issuer_keys, role="validator"))
    signing.save_private(directory / "sync.key", signing.generate())
    shutil.copyfile(city.server_config.parent / PUBLIC_KEY_FILENAME, directory / "server.pub")
    values: dict[str, Any] = {"broker": "127.0.0.1", "port": city.broker.port}
    pki = city.broker.tls_pki
    if pki is not None:
        if not (pki / f"{device_id}.crt").exists():
            issue(pki, str(device_id))
        values.update(ca=str(pki / "ca.crt"), cert=str(pki / f"{device_id}.crt"), key=str(pki / f"{device_id}.key"))
    values.update(sync)
    config = directory / "config.toml"
    config.write_text(render_config(device_id=device_id, mode=mode, operator=1, location=location,
                                    reader="sim:card.mfd", keys="validator.keys", timezone=TIMEZONE,
                                    data_dir="data", fares=DEFAULT_FARES, sync=values))
    return config


FARE = 150
START_BALANCE = 100_000
CARDS_PER_DEVICE = 4


def card_number(device_id: int, card: int) -> int:
    return 6033_0000_0000_0000 + device_id * 100 + card


class TapWriter:
    """Traffic without cards, for benches and fault tests: taps on device
    ``device_id``'s journal as its validator writes them, an INTENT then its
    completion, each card's counter and balance moving as on the card (so the
    server's reconciliation finds nothing to flag). ``data_dir`` defaults to
    the device's in ``city``."""

    def __init__(self, city: City, device_id: int, data_dir: Path | None = None) -> None:
        self.device_id = device_id
        self.journal = Journal((data_dir or city.data_dir(device_id)) / JOURNAL_FILENAME, device_id)
        self.counters = [0] * CARDS_PER_DEVICE
        self.balances = [START_BALANCE] * CARDS_PER_DEVICE
        self.taps = 0

    def tap(self, count: int = 1) -> None:
        for _ in range(count):
            card = self.taps % CARDS_PER_DEVICE
            uid = bytes([0xA0 + card, self.device_id % 256, 0xC2, 0xD3])
            before = self.counters[card]
            seq = self.journal.begin(kind="tap", uid=uid, card_number=card_number(self.device_id, card),
                                     counter_before=before, counter_after=before + 1, amount_cents=-FARE,
                                     details={"line": 12})
            self.counters[card] = before + 1
            self.balances[card] -= FARE
            self.journal.complete(seq, balance_cents=self.balances[card], decision="approved", reason="fare")
            self.taps += 1

    def close(self) -> None:
        self.journal.close()
