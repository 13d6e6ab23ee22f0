"""Where the fare table comes from: the config file's, or a newer one from
the server's configuration list, chosen at start and taken up again between
taps when the sync agent's connection commits a newer one; a table that does
not parse is refused and logged; every app's policy takes a new table and
keeps its device."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.config import DeviceConfig, load_config, render_config
from device.lists import ListStore, PendingLoad
from validator.bike import BikePolicy
from validator.bus import BusPolicy
from validator.devices import SimCharger, SimDock
from validator.ev import EvPolicy
from validator.fare_source import FARES_DOCUMENT, FareSource, fare_table
from validator.fares import DEFAULT_FARES, FareTable

from .cards import local


def fares(version: int, general: int) -> dict[str, object]:
    return {**DEFAULT_FARES, "version": version, "bus": {**DEFAULT_FARES["bus"], "fare": {"general": general}}}


@pytest.fixture
def config(tmp_path: Path) -> DeviceConfig:
    (tmp_path / "v.keys").write_text("")
    path = tmp_path / "bus.toml"
    path.write_text(render_config(device_id=1, mode="bus", operator=1, location=1, reader="sim:c.mfd",
                                  keys="v.keys", timezone="Europe/Madrid", data_dir="data", fares=DEFAULT_FARES))
    return load_config(path, environ={})


@pytest.fixture
def lists(tmp_path: Path) -> Iterator[ListStore]:
    """The validator's connection."""
    with ListStore(tmp_path / "lists.sqlite3") as opened:
        yield opened


@pytest.fixture
def agents(tmp_path: Path, lists: ListStore) -> Iterator[ListStore]:
    """The sync agent's connection to the same file."""
    with ListStore(tmp_path / "lists.sqlite3") as opened:
        yield opened


def test_a_newer_fare_table_from_the_server_replaces_the_configs(config: DeviceConfig, lists: ListStore) -> None:
    assert fare_table(config, lists).bus.fare.general == 150           # the config's, now stored
    lists.config.put(FARES_DOCUMENT, 2, fares(2, 175))
    assert fare_table(config, lists).bus.fare.general == 175           # the server's newer table wins


def test_a_table_the_agent_commits_is_taken_up_at_the_next_refresh(config: DeviceConfig, lists: ListStore,
                                                                   agents: ListStore) -> None:
    source = FareSource(config, lists)
    assert source.table.bus.fare.general == 150 and source.refresh() is None
    agents.config.apply_update(None, 3, [(FARES_DOCUMENT, fares(2, 175))])
    assert source.table.bus.fare.general == 150  # in force until the tap boundary
    table = source.refresh()
    assert table is not None and table is source.table and table.bus.fare.general == 175
    assert source.refresh() is None  # nothing new


def test_other_commits_and_older_tables_change_nothing(config: DeviceConfig, lists: ListStore,
                                                       agents: ListStore) -> None:
    lists.config.put(FARES_DOCUMENT, 5, fares(5, 175))
    source = FareSource(config, lists)
    assert source.table.bus.fare.general == 175
    agents.pending_loads.apply_full(1, [PendingLoad(1, 1, 100, bytes(6), local(2026, 11, 21, 8, 0))])
    assert source.refresh() is None  # the file changed, the fare table did not
    agents.config.apply_update(None, 4, [(FARES_DOCUMENT, fares(4, 300))])  # older than the one held: not written
    assert source.refresh() is None and source.table.bus.fare.general == 175


def test_a_table_that_does_not_parse_is_refused_and_logged(config: DeviceConfig, lists: ListStore, agents: ListStore,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    source = FareSource(config, lists)
    with caplog.at_level(logging.ERROR, logger="validator.fare_source"):
        agents.config.apply_update(None, 2, [(FARES_DOCUMENT, {**fares(2, 175), "bus": {"fare": {}}})])
        assert source.refresh() is None
    assert source.table.bus.fare.general == 150
    assert "configuration version 2) is refused; fare table version 1 stays in force" in caplog.text
    assert caplog.records[-1].exc_info is not None  # the FareTableError naming the key, with its traceback
    agents.pending_loads.apply_full(1, [])
    caplog.clear()
    assert source.refresh() is None and not caplog.records  # not parsed again
    agents.config.apply_update(2, 3, [(FARES_DOCUMENT, fares(3, 190))])
    assert source.refresh() is not None and source.table.bus.fare.general == 190


def test_every_policy_takes_a_new_table_and_keeps_its_device() -> None:
    old, new = FareTable.from_mapping(DEFAULT_FARES), FareTable.from_mapping(fares(2, 175))
    assert BusPolicy(old.bus).with_fares(new) == BusPolicy(new.bus)
    dock, charger = SimDock(5), SimCharger(3)
    bike = BikePolicy(old.bike, dock).with_fares(new)
    assert (bike.fares, bike.dock) == (new.bike, dock) and bike.dock is dock
    ev = EvPolicy(old.ev, charger).with_fares(new)
    assert ev.fares == new.ev and ev.charger is charger
