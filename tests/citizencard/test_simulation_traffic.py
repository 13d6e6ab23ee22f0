"""The demo's fleet and live traffic: taps on every device through the real
validators, the charger metered from tap to tap, rentals and charges started
and ended by the live riders, the traffic stopped by its event or its
duration, each tap printed as one line."""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
import time
from pathlib import Path

import pytest

from card_layout.records.contracts import ContractKind
from citizencard.simulation import traffic as traffic_module
from citizencard.simulation.fleet import BUSES, CHARGER, DOCK, name
from citizencard.simulation.riders import Plan
from citizencard.simulation.traffic import Traffic
from validator.outcome import Reason

from .simulation_city import offline_city

LINE = re.compile(r"^\d\d:\d\d:\d\d (bus \d+ line \d+|dock 1301|charger 1401) +card \d{4}: \w+ +(-[\d.]+ EUR)? *"
                  r"(balance -?[\d.]+ EUR)?$")


def test_devices_are_named_as_the_demo_prints_them() -> None:
    assert [name(d) for d in (*BUSES, DOCK, CHARGER)] == ["bus 1201 line 12", "bus 1202 line 4", "dock 1301",
                                                         "charger 1401"]


def test_the_charger_meters_a_charge_from_its_start_tap_to_its_end_tap(tmp_path: Path) -> None:
    with offline_city(tmp_path) as town:
        driver = town.office.issue(0, Plan("citizen", "general", (ContractKind.EV_CHARGING,)))
        start = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)
        began = town.fleet.tap(CHARGER, driver.chip, driver.dump, start)
        ended = town.fleet.tap(CHARGER, driver.chip, driver.dump, start + dt.timedelta(hours=1))
        assert (began.reason, ended.reason) == (Reason.CHARGE_STARTED, Reason.CHARGE_ENDED)
        assert ended.details["energy_wh"] == 7400 and ended.details["duration_s"] == 3600
        assert ended.amount_cents == 185  # 7.4 kWh at the default 0.25 EUR
        assert town.fleet.journals_backlog() == 2  # journaled, and (offline) not acknowledged yet
        assert driver.dump.read_bytes() == driver.chip.image()  # the dump follows the card after every tap


def test_live_riders_tap_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Rentals and charges due at once: step by step (no wall clock), every kind of tap comes up.
    monkeypatch.setattr(traffic_module, "RENTAL_SECONDS", (0.0, 0.0))
    monkeypatch.setattr(traffic_module, "CHARGE_SECONDS", (0.0, 0.0))
    outcomes = ("rental_started", "rental_ended", "charge_started", "charge_ended")
    with offline_city(tmp_path) as town:
        riders = [town.office.issue(0, Plan("tourist", "general")),
                  town.office.issue(1, Plan("citizen", "general", (ContractKind.BIKE, ContractKind.EV_CHARGING)))]
        lines: list[str] = []
        live = Traffic(random.Random(5), town.fleet, town.office, riders, 60, lambda: None, lines.append)

        def seen() -> bool:
            text = "\n".join(lines)
            return "card 0000: approved" in text and all(f"card 0001: {o}" in text for o in outcomes)

        for _ in range(400):
            live.step()
            if seen():
                break
    assert seen(), "\n".join(lines)
    taps_printed = [line for line in lines if not line.startswith(" ")]
    assert len(taps_printed) == live.taps and all(LINE.match(line) for line in taps_printed), taps_printed


def test_the_traffic_stops_after_its_duration(tmp_path: Path) -> None:
    with offline_city(tmp_path) as town:
        rider = town.office.issue(0, Plan("tourist", "general"))
        live = Traffic(random.Random(2), town.fleet, town.office, [rider], 6000, lambda: None, lambda line: None)
        started = time.monotonic()
        taps = live.run(threading.Event(), duration=0.5)
    assert taps == live.taps >= 1
    assert time.monotonic() - started < 10  # it ended by itself (a tap under way is finished first)


def test_the_traffic_stops_when_its_event_is_set(tmp_path: Path) -> None:
    with offline_city(tmp_path) as town:
        rider = town.office.issue(0, Plan("tourist", "general"))
        stop = threading.Event()
        stop.set()
        assert Traffic(random.Random(1), town.fleet, town.office, [rider], 60, lambda: None, print).run(stop) == 0
