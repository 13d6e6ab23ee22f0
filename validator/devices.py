"""The devices a validator app drives besides the reader: a bike dock's lock
and an EV charger. Each is a small interface with a simulated implementation
(tests, demo) and, for the dock, a GPIO relay through gpiozero.

    DeviceError (ValidatorError)   the dock or the charger failed; the tap is undone on the card
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .errors import ValidatorError


class DeviceError(ValidatorError):
    """The dock or the charger failed to act."""


class Dock(Protocol):
    def docked_bike(self) -> int | None:
        """The bike locked in this dock (0 when present but its number is unknown), or ``None``."""
        ...

    def release(self) -> int:
        """Unlock the docked bike and return its number.

        :raises DeviceError: when there is no bike or the lock does not open.
        """
        ...


def _save_json(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document))
    os.replace(temporary, path)


class SimDock:
    """A simulated dock: a bike may be locked in it; tests make the lock fail.
    With ``state_path`` the dock remembers its bike between processes (one
    ``citizencard validator tap`` per process)."""

    def __init__(self, bike: int | None = None, *, state_path: Path | None = None) -> None:
        self.state_path = state_path
        if state_path is not None and state_path.exists():
            bike = json.loads(state_path.read_text()).get("bike")
        self.bike = bike
        self.fail_release = False
        self.released: list[int] = []

    def docked_bike(self) -> int | None:
        return self.bike

    def release(self) -> int:
        if self.bike is None:
            raise DeviceError("no bike in the dock")
        if self.fail_release:
            raise DeviceError("the lock did not open")
        bike = self.bike
        self._set(None)
        self.released.append(bike)
        return bike

    def dock(self, bike: int) -> None:
        """A rider pushes a bike into the dock."""
        self._set(bike)

    def _set(self, bike: int | None) -> None:
        self.bike = bike
        if self.state_path is not None:
            _save_json(self.state_path, {"bike": bike})


class GpioDock:
    """A dock whose lock is a relay and whose bike sensor is a switch (gpiozero).

    The relay is pulsed for ``unlock_seconds``; the bike is taken when the
    sensor opens within ``take_seconds``. Reading the bike's own tag is
    outside this driver: a docked bike is reported as ``bike_number``.
    """

    def __init__(self, relay_pin: int, sensor_pin: int, *, bike_number: int = 0, unlock_seconds: float = 2.0,
                 take_seconds: float = 15.0, pin_factory: Any = None) -> None:
        from gpiozero import Button, OutputDevice

        self._relay = OutputDevice(relay_pin, pin_factory=pin_factory)
        self._sensor = Button(sensor_pin, pull_up=True, pin_factory=pin_factory)
        self.bike_number = bike_number
        self.unlock_seconds = unlock_seconds
        self.take_seconds = take_seconds

    def docked_bike(self) -> int | None:
        return self.bike_number if self._sensor.is_pressed else None

    def release(self) -> int:
        if not self._sensor.is_pressed:
            raise DeviceError("no bike in the dock")
        self._relay.on()
        try:
            if not self._sensor.wait_for_release(timeout=self.take_seconds):
                raise DeviceError("the bike was not taken")
        finally:
            self._relay.off()
        return self.bike_number

    def close(self) -> None:
        self._relay.close()
        self._sensor.close()


@dataclass(frozen=True)
class MeterReading:
    energy_wh: int
    duration_s: int


class Charger(Protocol):
    charger_id: int

    def start(self, card_number: int) -> None:
        """:raises DeviceError: when the charger cannot start."""
        ...

    def stop(self) -> MeterReading:
        """Stop the charge (or, if already stopped, repeat its last reading)."""
        ...


class SimCharger:
    """A charger delivering ``power_w`` from start to stop, on an injectable
    clock; with ``state_path`` it remembers a running charge between processes."""

    def __init__(self, charger_id: int, power_w: int = 7400, *,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 state_path: Path | None = None) -> None:
        self.charger_id = charger_id
        self.power_w = power_w
        self.clock = clock
        self.fail_start = False
        self.state_path = state_path
        self._lock = threading.Lock()
        self._started: dt.datetime | None = None
        self._last = MeterReading(0, 0)
        self.card_number: int | None = None
        if state_path is not None and state_path.exists():
            saved = json.loads(state_path.read_text())
            self._started = dt.datetime.fromisoformat(saved["started"]) if saved.get("started") else None
            self._last = MeterReading(saved.get("energy_wh", 0), saved.get("duration_s", 0))
            self.card_number = saved.get("card")

    def _save(self) -> None:
        if self.state_path is not None:
            _save_json(self.state_path, {"started": self._started.isoformat() if self._started else None,
                                         "energy_wh": self._last.energy_wh, "duration_s": self._last.duration_s,
                                         "card": self.card_number})

    @property
    def active(self) -> bool:
        return self._started is not None

    def start(self, card_number: int) -> None:
        with self._lock:
            if self.fail_start:
                raise DeviceError("the charger did not start")
            self._started, self.card_number = self.clock(), card_number
            self._save()

    def stop(self) -> MeterReading:
        with self._lock:
            if self._started is not None:
                seconds = max(0, int((self.clock() - self._started).total_seconds()))
                self._last = MeterReading(self.power_w * seconds // 3600, seconds)
                self._started = None
                self._save()
            return self._last
