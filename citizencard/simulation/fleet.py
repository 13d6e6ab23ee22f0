"""The demo's field devices: two buses on two lines, a bike dock and an EV
charger (their ids, modes, sites and names), and :class:`Fleet`, their real
validators (:func:`validator.app.open_validator`) each reading a simulated
antenna (:class:`~hardware.sim.field.SimField`) where a rider's card is placed
for one tap.

The validators' clock is the time of the tap being made (the scripted
morning's simulated time, or now in the live city), so the charger meters a
charge from its start tap to its end tap."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from device.config import load_config
from hardware.sim.card import SimulatedCard
from hardware.sim.dump import save_dump
from hardware.sim.field import SimField
from hardware.sim.reader import SimReader
from validator.app import Validator, open_validator
from validator.outcome import TapResult

BUSES = {1201: 12, 1202: 4}
"""The bus validators: device id -> line."""
DOCK, DOCK_SITE = 1301, 3
"""The bike dock's device id and its dock number."""
CHARGER, CHARGER_SITE = 1401, 7
"""The EV charger's device id and its charging site (the charger's id)."""

DEVICES = (*BUSES, DOCK, CHARGER)
MODES = {DOCK: "bike", CHARGER: "ev"}
"""Device id -> mode, for those that are not buses."""
LOCATIONS = {**BUSES, DOCK: DOCK_SITE, CHARGER: CHARGER_SITE}

CARD_TIMEOUT = 0.5
"""Seconds a validator waits for the card placed on its antenna."""


def name(device_id: int) -> str:
    """How the demo names a device in what it prints."""
    if device_id in BUSES:
        return f"bus {device_id} line {BUSES[device_id]}"
    return f"dock {device_id}" if device_id == DOCK else f"charger {device_id}"


@dataclass
class Arrival:
    """When a change sent from the back office held on each validator (seconds), and those it never reached."""

    times: dict[int, float]
    missing: list[int]
    timeout: float

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def slowest(self) -> str:
        if self.missing:
            return f"NOT {', '.join(map(str, self.missing))} within {self.timeout:g} s"
        return f"slowest {max(self.times.values(), default=0.0):.2f} s"

    @property
    def text(self) -> str:
        parts = [f"{name(device_id)} in {seconds:.2f} s" for device_id, seconds in self.times.items()]
        parts += [f"NOT {name(device_id)} within {self.timeout:g} s" for device_id in self.missing]
        return ", ".join(parts)


class Fleet:
    """The validators of the devices ``configs`` (device id -> config file),
    open until ``stack`` closes. One tap at a time across the fleet: the
    story, the live traffic and the checks share it."""

    def __init__(self, configs: dict[int, Path], stack: ExitStack) -> None:
        self._at: dt.datetime | None = None
        self._lock = threading.Lock()
        self.fields = {device_id: SimField() for device_id in configs}
        readers = {device_id: stack.enter_context(SimReader(field=field)) for device_id, field in self.fields.items()}
        self.apps: dict[int, Validator] = {
            device_id: stack.enter_context(open_validator(load_config(config), feedback=False,
                                                          reader=readers[device_id], clock=self._clock))
            for device_id, config in configs.items()}

    def _clock(self) -> dt.datetime:
        return self._at or dt.datetime.now(dt.UTC)

    def tap(self, device_id: int, chip: SimulatedCard, dump: Path, at: dt.datetime, *,
            tear: tuple[int, int] | None = None) -> TapResult:
        """``chip`` tapped on ``device_id``'s validator at ``at``, its dump
        saved after. The validator first takes up the lists its agent
        received (as it does between riders). With ``tear`` (commands, bytes)
        the card leaves the field after that many commands."""
        app, field = self.apps[device_id], self.fields[device_id]
        with self._lock:
            self._at = at
            try:
                app.engine.refresh()
                field.place(chip)
                if tear is not None:
                    chip.reset_tear(*tear)
                try:
                    result = app.engine.tap(card_timeout=CARD_TIMEOUT, at=at)
                finally:
                    field.take()
                    save_dump(dump, chip.image())
            finally:
                self._at = None
        return result

    def travel(self, arrived: Callable[[Validator], bool], sent: float, timeout: float,
               check: Callable[[], None]) -> Arrival:
        """Wait until ``arrived`` holds on every validator (``sent``: when the
        change left, by :func:`time.monotonic`); ``check`` raises when a
        program of the city failed meanwhile."""
        times: dict[int, float] = {}
        deadline = sent + timeout
        while len(times) < len(self.apps) and time.monotonic() < deadline:
            with self._lock:
                for device_id, app in self.apps.items():
                    if device_id not in times:
                        app.engine.refresh()  # what the validator does between taps
                        if arrived(app):
                            times[device_id] = time.monotonic() - sent
            check()
            time.sleep(0.005)
        return Arrival(times, [d for d in self.apps if d not in times], timeout)

    def journals_backlog(self) -> int:
        """Journal entries not acknowledged by the server yet, over the fleet."""
        return sum(app.engine.journal.backlog() for app in self.apps.values())
