"""The bike dock's GPIO relay and sensor (gpiozero's mock pins), the simulated
devices' state across processes."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from validator.devices import DeviceError, GpioDock, SimCharger, SimDock


def test_gpio_dock_pulses_the_relay_until_the_bike_is_taken() -> None:
    factory = MockFactory()
    dock = GpioDock(relay_pin=17, sensor_pin=27, bike_number=88, take_seconds=2.0, pin_factory=factory)
    relay, sensor = factory.pin(17), factory.pin(27)
    sensor.drive_low()  # a bike pushes the switch closed (pull-up: pressed = low)
    assert dock.docked_bike() == 88
    taker = threading.Timer(0.1, sensor.drive_high)  # the rider pulls the bike out
    taker.start()
    assert dock.release() == 88
    assert [state for _, state in relay.states][-2:] == [True, False]  # unlocked, then locked again
    assert dock.docked_bike() is None
    with pytest.raises(DeviceError, match="no bike"):
        dock.release()
    dock.close()


def test_gpio_dock_reports_a_bike_not_taken() -> None:
    factory = MockFactory()
    dock = GpioDock(relay_pin=5, sensor_pin=6, take_seconds=0.1, pin_factory=factory)
    factory.pin(6).drive_low()
    with pytest.raises(DeviceError, match="not taken"):
        dock.release()
    assert factory.pin(5).state is False  # never left unlocked
    dock.close()


def test_simulated_devices_remember_their_state(tmp_path: Path) -> None:
    SimDock(7, state_path=tmp_path / "dock.json").release()
    assert SimDock(7, state_path=tmp_path / "dock.json").docked_bike() is None
    t0 = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)
    SimCharger(3, power_w=3600, clock=lambda: t0, state_path=tmp_path / "c.json").start(42)
    later = SimCharger(3, power_w=3600, clock=lambda: t0 + dt.timedelta(minutes=30), state_path=tmp_path / "c.json")
    assert later.stop().energy_wh == 1800
