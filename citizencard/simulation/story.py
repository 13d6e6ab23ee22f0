"""The scripted morning, tap by tap, on simulated time from 07:00 today:
fares by profile, free transfers between the two lines, already-validated
re-taps, a bike rental, an EV charge (start, end), a rider who pulls the
card away mid-tap (the next tap recovers and is charged exactly once), a
lost card reported at the card office (blocked: the block travels to every
validator and the card's next tap is denied; its duplicate is approved and
issued with the balance and the bike subscription moved, and is accepted),
and a top-up bought online (it travels the same way and is collected at the
card's next tap). Each step that the back office starts adds a check."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from card_layout.records.contracts import ContractKind
from validator.app import Validator
from validator.outcome import Decision, Reason, TapResult

from ..views import money
from .checks import Check, wait_for_sync
from .fleet import BUSES, CHARGER, DOCK, Fleet, name
from .riders import CardOffice, Plan, Rider

TZ = ZoneInfo("Europe/Madrid")
SYNC_TIMEOUT = 15.0
"""Seconds a list update or the journals may take to travel before the check fails."""
RENTAL = dt.timedelta(minutes=40)
CHARGE = dt.timedelta(minutes=45)
TOP_UP = 2000
WELCOME_TOP_UP = 1000
"""Cents a holder tops a new card up with at the office (a holder's card is issued empty)."""

# The story's cards (by index): the one pulled away mid-tap and, later, topped up online; the lost one (with a
# bike subscription, which its duplicate takes over); the bike rider; the EV driver.
TORN = TOPPED_UP = 0
LOST = 1
BIKE_RIDER = 2
EV_DRIVER = 3
STORY_PLANS = {
    TORN: Plan("citizen", "general"),  # riders who pay, so that what the story moves shows
    LOST: Plan("citizen", "general", (ContractKind.BIKE,)),
    BIKE_RIDER: Plan("citizen", "general", (ContractKind.BIKE,)),
    EV_DRIVER: Plan("citizen", "general", (ContractKind.EV_CHARGING,)),
}
"""What the story's cards are (the other cards of the population are drawn at random)."""


def tap_line(at: dt.datetime, device_id: int, rider: Rider, result: TapResult, *, again: bool = False) -> str:
    """One tap as the demo prints it: time, device, card, outcome, charge, balance."""
    balance = "" if result.balance_cents is None else f"balance {money(result.balance_cents)}"
    charged = f"-{money(result.amount_cents)}" if result.amount_cents else ""
    what = f"tapped again: {result.reason.value}" if again else result.reason.value
    return f"{at:%H:%M:%S} {name(device_id):<16} {rider.label()}: {what:<18} {charged:<11} {balance}"


class Morning:
    """The story on ``fleet`` for ``riders`` (issued by ``office``);
    ``check`` raises when a program of the city failed; ``echo`` prints."""

    def __init__(self, rng: random.Random, fleet: Fleet, office: CardOffice, riders: list[Rider],
                 check: Callable[[], None], echo: Callable[[str], None]) -> None:
        self.rng = rng
        self.fleet = fleet
        self.office = office
        self.riders = riders
        self.check = check
        self.echo = echo
        self.checks: list[Check] = []
        self.at = dt.datetime.now(TZ).replace(hour=7, minute=0, second=0, microsecond=0)
        self.bike: tuple[int, dt.datetime] | None = None  # the bike out and when it was taken
        self.charging: dt.datetime | None = None  # when the EV charge began

    def welcome_top_ups(self) -> None:
        """Every holder tops the new card up at the office; wait until every validator holds the loads."""
        orders = {rider.number: self.office.top_up(rider, WELCOME_TOP_UP, "office").load_seq
                  for rider in self.riders if rider.holder_id is not None}
        sent = time.monotonic()

        def holds_all(app: Validator) -> bool:
            assert app.engine.loads is not None
            return all(any(load.load_seq == seq for load in app.engine.loads.for_card(number))
                       for number, seq in orders.items())

        arrived = self.fleet.travel(holds_all, sent, SYNC_TIMEOUT, self.check)
        self.echo(f"{self.at:%H:%M:%S} card office: {len(orders)} holders topped their new cards up with "
                  f"{money(WELCOME_TOP_UP)} each; the loads reached {arrived.text}")

    def run(self, taps: int) -> list[Check]:
        """The welcome top-ups, then ``taps`` riders' taps with the story's events among them; the story's checks."""
        self.welcome_top_ups()
        rng = self.rng
        for tap_index in range(taps):
            self.at += dt.timedelta(seconds=rng.randint(20, 600))
            if tap_index == taps // 4:
                self.take_bike()
            if tap_index == taps // 5:
                self.start_charge()
            if self.bike is not None and self.at >= self.bike[1] + RENTAL:
                self.return_bike()
            if self.charging is not None and self.at >= self.charging + CHARGE:
                self.end_charge()
            if tap_index == taps // 3:
                self.lose_card()
            if tap_index == 2 * taps // 3:
                self.top_up()
            torn = tap_index == taps // 2
            busy = ({BIKE_RIDER} if self.bike is not None else set()) | ({EV_DRIVER} if self.charging else set())
            index = TORN if torn else rng.choice([r.index for r in self.riders
                                                  if r.index not in busy and not r.replaced])
            bus = rng.choice(list(BUSES))
            if torn:  # this rider pulls the card away in the middle of the card write
                self.at += dt.timedelta(minutes=10)
                result = self.tap(bus, index, tear=(rng.randint(14, 21), rng.choice([0, 8])))
                if result.reason is Reason.TORN_RETRY:
                    self.tap(bus, index, again=True, at=self.at + dt.timedelta(seconds=3))
            else:
                self.tap(bus, index)
        if self.bike is not None:
            self.at = max(self.at, self.bike[1] + RENTAL)
            self.return_bike()
        if self.charging is not None:
            self.at = max(self.at, self.charging + CHARGE)
            self.end_charge()
        return self.checks

    def tap(self, device_id: int, index: int, *, tear: tuple[int, int] | None = None, again: bool = False,
            at: dt.datetime | None = None) -> TapResult:
        """One tap of card ``index`` on ``device_id``'s validator, printed."""
        rider, at = self.riders[index], at or self.at
        result = self.fleet.tap(device_id, rider.chip, rider.dump, at, tear=tear)
        self.echo(tap_line(at, device_id, rider, result, again=again))
        self.check()
        return result

    def take_bike(self) -> None:
        dock = self.fleet.apps[DOCK].dock
        assert dock is not None
        bike = dock.docked_bike()
        result = self.tap(DOCK, BIKE_RIDER)
        if result.reason is Reason.RENTAL_STARTED and bike is not None:
            self.bike = (bike, self.at)

    def return_bike(self) -> None:
        assert self.bike is not None
        dock = self.fleet.apps[DOCK].dock
        assert dock is not None
        dock.dock(self.bike[0])  # the rider pushes the bike back in, then taps
        self.tap(DOCK, BIKE_RIDER)
        self.bike = None

    def start_charge(self) -> None:
        if self.tap(CHARGER, EV_DRIVER).reason is Reason.CHARGE_STARTED:
            self.charging = self.at

    def end_charge(self) -> None:
        result = self.tap(CHARGER, EV_DRIVER)
        if result.reason is Reason.CHARGE_ENDED:
            self.echo(f"{'':>8} charged {result.details.get('energy_wh', '?')} Wh in "
                      f"{result.details.get('duration_s', '?')} s")
        self.charging = None

    def lose_card(self) -> None:
        """A holder reports the card lost: blocked at once, the block reaches
        every validator and the card's next tap is denied; the duplicate is
        approved and issued with the money and the subscription moved, and accepted."""
        lost = self.riders[LOST]
        report = self.office.report_lost(lost)
        sent = time.monotonic()
        assert report.application is not None
        self.echo(f"{self.at:%H:%M:%S} card office: {lost.label()} reported lost, blocked in the registry "
                  f"(deny-list version {report.denylist_version}); duplicate application {report.application.id}")
        arrived = self.fleet.travel(
            lambda app: app.engine.denylist.is_denied(lost.number, lost.uid) is not None, sent, SYNC_TIMEOUT,
            self.check)
        self.echo(f"{'':>8} the block reached {arrived.text}")
        self.at += dt.timedelta(minutes=1)
        result = self.tap(self.rng.choice(list(BUSES)), LOST)
        self.checks.append(Check(arrived.ok and result.reason is Reason.BLOCKED,
                                 f"the block reached every validator ({arrived.slowest}) and the card's next tap "
                                 f"was {result.reason.value}", []))
        # the duplicate takes the old card's shadow balance: the old card's taps must have reached the server
        wait_for_sync(self.fleet, SYNC_TIMEOUT, self.check)
        self.at += dt.timedelta(minutes=20)
        new = self.office.duplicate(lost, report.application.id, len(self.riders))
        self.riders.append(new)
        moved = ", ".join(new.contracts) or "no"
        self.echo(f"{self.at:%H:%M:%S} card office: duplicate application {report.application.id} approved and "
                  f"issued as {new.describe()}: it took over {money(new.issued_cents)} and {moved} contract "
                  f"from {lost.label()} (now replaced)")
        self.at += dt.timedelta(minutes=5)
        old = self.tap(self.rng.choice(list(BUSES)), LOST)
        self.at += dt.timedelta(minutes=1)
        result = self.tap(self.rng.choice(list(BUSES)), new.index)
        self.checks.append(Check(old.reason is Reason.BLOCKED and result.decision is not Decision.DENIED
                                 and new.contracts == lost.contracts,
                                 f"the duplicate {new.label()} took over {money(new.issued_cents)} and the "
                                 f"contracts ({moved}); the old card's tap was {old.reason.value}, the new card's "
                                 f"{result.reason.value}", []))

    def top_up(self) -> None:
        """A top-up bought online reaches every validator and is collected at the next tap."""
        rider = self.riders[TOPPED_UP]
        order = self.office.top_up(rider, TOP_UP, "online")
        sent = time.monotonic()
        self.echo(f"{self.at:%H:%M:%S} back office: {money(TOP_UP)} bought online for {rider.label()} "
                  f"(load order {order.id}, load {order.load_seq})")

        def pending(app: Validator) -> bool:
            assert app.engine.loads is not None
            return any(load.load_seq == order.load_seq for load in app.engine.loads.for_card(rider.number))

        arrived = self.fleet.travel(pending, sent, SYNC_TIMEOUT, self.check)
        self.echo(f"{'':>8} the top-up reached {arrived.text}")
        self.at += dt.timedelta(minutes=1)
        bus = self.rng.choice(list(BUSES))
        self.tap(bus, TOPPED_UP)
        collected = not pending(self.fleet.apps[bus])
        self.echo(f"{'':>8} {'collected' if collected else 'NOT collected'}: the card took load {order.load_seq}")
        self.checks.append(Check(arrived.ok and collected, f"the top-up reached every validator "
                                                           f"({arrived.slowest}) and was collected at the next tap",
                                 []))
