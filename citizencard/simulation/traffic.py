"""The live city: riders tap at a rate (taps per minute, arrivals at
random as a Poisson process), in real time (each tap's time is now, in the
city's time zone), over the buses, the bike dock (rentals started and ended)
and the EV charger (charges started and ended). A rider whose card runs low
buys a top-up online, collected at the card's next tap. Each tap is printed
as one line. A card blocked meanwhile (in the staff pages, or by the
reconciliation) is refused at its next tap: the validators take up the
deny-list before every tap.

:meth:`Traffic.run` stops when its :class:`threading.Event` is set (Ctrl-C)
or after its duration, always between two taps."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable

from sync_server.errors import SyncServerError
from validator.outcome import Reason

from ..views import money
from .fleet import BUSES, CHARGER, DOCK, Fleet
from .riders import CardOffice, Rider
from .story import TZ, tap_line

LOW_BALANCE = 300
"""Cents below which a rider tops the card up online."""
TOP_UP = 1000
RENTAL_SECONDS = (20.0, 90.0)
CHARGE_SECONDS = (20.0, 120.0)
"""How long (real seconds) a bike rental or an EV charge lasts in the live city, at random between the two."""
BUS_SHARE, DOCK_SHARE = 0.7, 0.15
"""Which device a tap is on: a bus, the dock, else the charger."""


class Traffic:
    """Riders of ``riders`` (those whose card is not replaced) tapping on
    ``fleet`` at ``rate`` taps per minute; ``office`` sells their top-ups;
    ``check`` raises when a program of the city failed; ``echo`` prints."""

    def __init__(self, rng: random.Random, fleet: Fleet, office: CardOffice, riders: list[Rider], rate: float,
                 check: Callable[[], None], echo: Callable[[str], None]) -> None:
        self.rng = rng
        self.fleet = fleet
        self.office = office
        self.riders = riders
        self.rate = rate
        self.check = check
        self.echo = echo
        self.taps = 0
        self.denied: dict[Reason, int] = {}
        self._rental: tuple[Rider, int, float] | None = None  # rider, bike, when it ends (monotonic)
        self._charge: tuple[Rider, float] | None = None  # driver, when the charge ends (monotonic)
        self._topping_up: set[int] = set()  # card numbers with a top-up not collected yet

    def run(self, stop: threading.Event, duration: float | None = None) -> int:
        """Tap until ``stop`` is set or ``duration`` seconds passed; how many taps were made."""
        ends = None if duration is None else time.monotonic() + duration
        while not stop.is_set():
            pause = self.rng.expovariate(self.rate / 60)
            if ends is not None:
                pause = min(pause, max(0.0, ends - time.monotonic()))
            if stop.wait(pause) or (ends is not None and time.monotonic() >= ends):
                break
            self.step()
        return self.taps

    def step(self) -> None:
        """One rider's tap: at the dock or the charger when a rental or charge is due to end, else somewhere."""
        now = time.monotonic()
        if self._rental is not None and now >= self._rental[2]:
            self._return_bike()
        elif self._charge is not None and now >= self._charge[1]:
            self._tap(CHARGER, self._charge[0])
            self._charge = None
        else:
            where = self.rng.random()
            if where < BUS_SHARE:
                self._ride()
            elif where < BUS_SHARE + DOCK_SHARE:
                self._take_bike()
            else:
                self._start_charge()

    def _free(self, contract: str | None = None) -> list[Rider]:
        busy = {id(r) for r in (self._rental[0] if self._rental else None, self._charge[0] if self._charge else None)}
        return [r for r in self.riders if not r.replaced and id(r) not in busy
                and (contract is None or contract in r.contracts)]

    def _ride(self) -> None:
        riders = self._free()
        if riders:
            self._tap(self.rng.choice(list(BUSES)), self.rng.choice(riders))

    def _take_bike(self) -> None:
        dock = self.fleet.apps[DOCK].dock
        riders = self._free("bike")
        if self._rental is not None or dock is None or dock.docked_bike() is None or not riders:
            return self._ride()
        rider, bike = self.rng.choice(riders), dock.docked_bike()
        if self._tap(DOCK, rider) is Reason.RENTAL_STARTED and bike is not None:
            self._rental = (rider, bike, time.monotonic() + self.rng.uniform(*RENTAL_SECONDS))

    def _return_bike(self) -> None:
        assert self._rental is not None
        rider, bike, _ = self._rental
        dock = self.fleet.apps[DOCK].dock
        assert dock is not None
        dock.dock(bike)  # the rider pushes the bike back in, then taps
        self._tap(DOCK, rider)
        self._rental = None

    def _start_charge(self) -> None:
        riders = self._free("ev_charging")
        if self._charge is not None or not riders:
            return self._ride()
        driver = self.rng.choice(riders)
        if self._tap(CHARGER, driver) is Reason.CHARGE_STARTED:
            self._charge = (driver, time.monotonic() + self.rng.uniform(*CHARGE_SECONDS))

    def _tap(self, device_id: int, rider: Rider) -> Reason:
        at = dt.datetime.now(TZ)
        result = self.fleet.tap(device_id, rider.chip, rider.dump, at)
        self.taps += 1
        self.echo(tap_line(at, device_id, rider, result))
        if not result.may_go:
            self.denied[result.reason] = self.denied.get(result.reason, 0) + 1
        if result.reason is not Reason.TORN_RETRY and result.balance_cents is not None:
            self._keep_funded(rider, result.balance_cents, result.reason)
        self.check()
        return result.reason

    def _keep_funded(self, rider: Rider, balance: int, reason: Reason) -> None:
        if reason is Reason.LOAD_APPLIED or balance >= LOW_BALANCE:
            self._topping_up.discard(rider.number)
            return
        if rider.number in self._topping_up or reason is Reason.BLOCKED:
            return
        try:
            order = self.office.top_up(rider, TOP_UP, "online")
        except SyncServerError as exc:  # a card blocked or replaced meanwhile: the rider asks at the office
            self.echo(f"{'':>8} {rider.label()}: no top-up: {exc}")
            self._topping_up.add(rider.number)
            return
        self._topping_up.add(rider.number)
        self.echo(f"{'':>8} {rider.label()}: balance low, {money(TOP_UP)} bought online "
                  f"(load {order.load_seq}, collected at the next tap)")
