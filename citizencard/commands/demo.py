"""``citizencard demo``: a city on one machine, the sync network included.

Starts what a city runs: a Mosquitto broker (plain TCP on loopback; with
``--tls`` the shipped TLS configuration and ACL, with certificates from a new
certificate authority), the server (its configuration, signing key, SQLite
database and the card issuer's keys: :func:`citizencard.city.build_city`)
and an ingest worker, and three field devices, two bus validators and a bike
dock, each with its sync agent: the real programs, in threads of this
process (:class:`citizencard.network.CityNetwork`). The validators are the
real ones too (:func:`validator.app.open_validator` over each device's
configuration and data directory, so the agents sync their journals),
reading simulated cards.

Then it issues cards and replays a morning: fares by profile, free transfers
between the two lines, already-validated re-taps, a bike rental, a rider who
pulls the card away mid-tap (the next tap recovers and is charged exactly
once), a lost card blocked at the back office (the block travels to every
validator: the time it took is printed, and the card's next tap is denied),
and a top-up bought at the back office (it travels the same way and is
collected at the card's next tap). At the end, the checks: every journal
entry acknowledged by the server, one server transaction per journal entry,
the server's shadow of every card equal to the card, no anomalies, and the
money check (issued + topped up - charges = sum of balances). Exit status 1
when a check fails.

Files under ``--dir``: the card dumps (``card-NNNN.mfd``), ``broker/`` (the
broker's configuration, persistence and log), ``pki/`` (with ``--tls``),
``city/server/`` and ``city/devices/<id>/`` (:mod:`citizencard.city`), and
``city.log`` (what the programs logged).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from card_layout.access import KeyType
from card_layout.keys import MasterKeys
from card_layout.layout import PURSE_SECTOR
from card_layout.operations.personalise import Issuance, personalise
from card_layout.operations.state import read_card
from card_layout.records.contracts import Contract, ContractKind
from card_layout.records.identity import CardKind, FareProfile, Identity
from device import keystore
from device.config import load_config
from device.journal import EntryState, Journal
from device.pki import init_ca, issue
from hardware.sim.card import SimulatedCard
from hardware.sim.dump import save_dump
from hardware.sim.field import SimField
from hardware.sim.reader import SimReader
from sync_server.config import load_server_config
from sync_server.setup import open_store
from sync_server.store import SyncStore
from validator.app import Validator, open_validator
from validator.outcome import Reason, TapResult

from ..broker import BrokerError, LocalBroker
from ..city import build_city
from ..network import CityNetwork, NetworkError
from ..views import money

START_BALANCE = 1000
TOP_UP = 2000
TZ = ZoneInfo("Europe/Madrid")

BUSES = {1201: 12, 1202: 4}
"""The bus validators: device id -> line."""
DOCK, DOCK_SITE = 1301, 3
"""The bike dock's device id and its dock number."""

# The cards of the story (by index): the one pulled away mid-tap and, later, topped up online; the lost one;
# the bike rider (with --cards 2 there is no bike ride).
TORN = TOPPED_UP = 0
LOST = 1
BIKE_RIDER = 2

SYNC_TIMEOUT = 15.0
"""Seconds a list update or the journals may take to travel before the check fails."""
RENTAL = dt.timedelta(minutes=40)


@dataclass
class Check:
    ok: bool
    text: str
    detail: list[str]


@dataclass
class Card:
    index: int
    chip: SimulatedCard
    dump: Path
    number: int
    uid: bytes


@click.command()
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to keep the city, the card dumps and the logs (default: a new temporary directory).")
@click.option("--cards", type=click.IntRange(2, 10_000), default=8, show_default=True)
@click.option("--taps", type=click.IntRange(1, 1_000_000), default=40, show_default=True,
              help="Riders' taps to replay, besides the story's own.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed, for a repeatable run.")
@click.option("--tls", is_flag=True, help="Run the broker with the shipped TLS configuration and ACL "
                                          "(a new CA under --dir, client certificates for every program).")
def demo(workdir: Path | None, cards: int, taps: int, seed: int, tls: bool) -> None:
    """A city on one machine: a broker, the server, an ingest worker, two bus
    validators and a bike dock with their sync agents; a morning of taps, a
    lost card blocked and a top-up bought at the back office; then the checks."""
    began = time.monotonic()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="citizencard-demo-"))
    if (workdir / "city").exists():
        raise click.UsageError(f"{workdir} holds an earlier demo's city; give a new --dir")
    workdir.mkdir(parents=True, exist_ok=True)
    click.echo(f"working in {workdir} (the programs log to {workdir / 'city.log'})")
    with _log_to(workdir / "city.log"), ExitStack() as stack:
        try:
            broker = stack.enter_context(_broker(workdir, tls))
        except BrokerError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"broker: mosquitto on {broker.url} "
                   + ("(TLS: client certificates of the demo's CA, the shipped ACL)" if tls else "(plain TCP)"))
        city = build_city(workdir / "city", broker, [*BUSES, DOCK], modes={DOCK: "bike"},
                          locations={**BUSES, DOCK: DOCK_SITE}, list_poll=0.1)
        click.echo(f"server: {city.server_config.parent} (SQLite database, signing key, issuer keys); devices "
                   f"{', '.join(_name(d) for d in city.devices)} registered")
        started = time.monotonic()
        try:
            network = stack.enter_context(CityNetwork(city))
        except NetworkError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"ingest worker and {len(network.agents)} sync agents connected in "
                   f"{time.monotonic() - started:.2f} s")
        store = stack.enter_context(open_store(load_server_config(city.server_config), migrate=False))
        issuer = keystore.load(city.issuer_keys)
        fields = {device_id: SimField() for device_id in city.devices}  # each validator's antenna
        readers = {device_id: stack.enter_context(SimReader(field=field)) for device_id, field in fields.items()}
        apps = {device_id: stack.enter_context(open_validator(load_config(config), feedback=False,
                                                              reader=readers[device_id]))
                for device_id, config in city.devices.items()}
        morning = Morning(random.Random(seed), workdir, issuer, store, network, apps, fields, cards)
        try:
            checks = morning.run(taps)
            stack.close()
        except NetworkError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"city stopped; the whole run took {time.monotonic() - began:.1f} s")
    click.echo(f"cards are in {workdir}; try: citizencard card show {morning.cards[0].dump} --keys {city.issuer_keys}")
    failed = sum(not check.ok for check in checks)
    if failed:
        click.echo(f"{failed} check{'s' if failed > 1 else ''} failed", err=True)
        raise click.exceptions.Exit(1)


@contextmanager
def _broker(workdir: Path, tls: bool) -> Iterator[LocalBroker]:
    pki = None
    if tls:
        pki = workdir / "pki"
        init_ca(pki)
        issue(pki, "broker", server_names=("127.0.0.1", "localhost"))
    with LocalBroker(workdir / "broker", tls_pki=pki) as broker:
        yield broker


@contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """The programs' log lines go to ``path``, not among the demo's story."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


def _name(device_id: int) -> str:
    return f"bus {device_id} line {BUSES[device_id]}" if device_id in BUSES else f"dock {device_id}"


class Morning:
    """The story, tap by tap, on the validators ``apps`` (device id -> validator)."""

    def __init__(self, rng: random.Random, workdir: Path, issuer: MasterKeys, store: SyncStore,
                 network: CityNetwork, apps: dict[int, Validator], fields: dict[int, SimField], count: int) -> None:
        self.rng = rng
        self.issuer = issuer
        self.store = store
        self.network = network
        self.apps = apps
        self.fields = fields
        self.checks: list[Check] = []
        self.at = dt.datetime.now(TZ).replace(hour=7, minute=0, second=0, microsecond=0)
        self.cards = [self._issue(workdir, index) for index in range(count)]
        click.echo(f"issued {count} cards with {money(START_BALANCE)} each"
                   + (f"; card {BIKE_RIDER:04d} holds a bike contract" if count > BIKE_RIDER else ""))
        self.bike: tuple[int, dt.datetime] | None = None  # the bike out and when it was taken

    def _issue(self, workdir: Path, index: int) -> Card:
        rng, start = self.rng, self.at
        chip = SimulatedCard.blank(rng.randbytes(4))
        kind, profile = rng.choice(list(CardKind)), rng.choice(list(FareProfile))
        contracts: tuple[Contract, ...] = ()
        if index in (TORN, BIKE_RIDER):  # riders who pay, so that what the story moves shows
            kind, profile = CardKind.CITIZEN, FareProfile.GENERAL
        if index == BIKE_RIDER:
            contracts = (Contract(ContractKind.BIKE, start.date(), start.date().replace(year=start.year + 1)),)
        identity = Identity(9_724_000_000_000_000 + index, "ESGIJ", kind, profile, start.date(),
                            start.date().replace(year=start.year + 5), index + 1)
        personalise(SimReader(chip), self.issuer, Issuance(identity, START_BALANCE, contracts, issued_at=start))
        dump = workdir / f"card-{index:04d}.mfd"
        save_dump(dump, chip.image())
        return Card(index, chip, dump, identity.card_number, chip.uid())

    # -- the morning ----------------------------------------------------------------------------------

    def run(self, taps: int) -> list[Check]:
        rng, cards = self.rng, self.cards
        for tap_index in range(taps):
            self.at += dt.timedelta(seconds=rng.randint(20, 600))
            if tap_index == taps // 4 and len(cards) > BIKE_RIDER:
                self.take_bike()
            if self.bike is not None and self.at >= self.bike[1] + RENTAL:
                self.return_bike()
            if tap_index == taps // 3:
                self.block_lost_card()
            if tap_index == 2 * taps // 3:
                self.top_up()
            torn = tap_index == taps // 2
            riding = {BIKE_RIDER} if self.bike is not None else set()
            index = TORN if torn else rng.choice([c.index for c in cards if c.index not in riding])
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
        return self.end()

    def tap(self, device_id: int, index: int, *, tear: tuple[int, int] | None = None, again: bool = False,
            at: dt.datetime | None = None) -> TapResult:
        """One tap of card ``index`` on ``device_id``'s validator, printed."""
        card, field = self.cards[index], self.fields[device_id]
        at = at or self.at
        field.place(card.chip)
        if tear is not None:
            card.chip.reset_tear(*tear)
        result = self.apps[device_id].engine.tap(card_timeout=0.5, at=at)
        field.take()
        save_dump(card.dump, card.chip.image())
        balance = "" if result.balance_cents is None else f"balance {money(result.balance_cents)}"
        charged = f"-{money(result.amount_cents)}" if result.amount_cents else ""
        what = f"tapped again: {result.reason.value}" if again else result.reason.value
        click.echo(f"{at:%H:%M:%S} {_name(device_id):<16} card {index:04d}: {what:<18} {charged:<11} {balance}")
        self.network.check()
        return result

    def take_bike(self) -> None:
        dock = self.apps[DOCK].dock
        assert dock is not None
        bike = dock.docked_bike()
        result = self.tap(DOCK, BIKE_RIDER)
        if result.reason is Reason.RENTAL_STARTED and bike is not None:
            self.bike = (bike, self.at)

    def return_bike(self) -> None:
        assert self.bike is not None
        dock = self.apps[DOCK].dock
        assert dock is not None
        dock.dock(self.bike[0])  # the rider pushes the bike back in, then taps
        self.tap(DOCK, BIKE_RIDER)
        self.bike = None

    def block_lost_card(self) -> None:
        """The back office blocks a lost card; it reaches every validator; its next tap is denied."""
        card = self.cards[LOST]
        version = self.store.block(card_number=card.number, reason="lost")
        sent = time.monotonic()
        click.echo(f"{self.at:%H:%M:%S} back office: card {LOST:04d} reported lost, blocked on the server "
                   f"(deny-list version {version})")

        def blocked(app: Validator) -> bool:
            app.engine.refresh()  # what the validator does between taps
            return app.engine.denylist.is_denied(card.number, card.uid) is not None

        arrived = self._travel(blocked, sent)
        click.echo(f"{'':>8} the block reached {arrived.text}")
        self.at += dt.timedelta(minutes=1)
        result = self.tap(self.rng.choice(list(BUSES)), LOST)
        self.checks.append(Check(arrived.ok and result.reason is Reason.BLOCKED,
                                 f"the block reached every validator ({arrived.slowest}) and the card's next tap "
                                 f"was {result.reason.value}", []))

    def top_up(self) -> None:
        """A top-up bought at the back office reaches every validator and is collected at the next tap."""
        card = self.cards[TOPPED_UP]
        purse_key = self.issuer.for_card(card.uid).sector_key(PURSE_SECTOR, KeyType.B)
        load_seq, version = self.store.add_load(card.number, TOP_UP, purse_key)
        sent = time.monotonic()
        click.echo(f"{self.at:%H:%M:%S} back office: {money(TOP_UP)} bought online for card {TOPPED_UP:04d} "
                   f"(load {load_seq}, loads version {version})")

        def pending(app: Validator) -> bool:
            assert app.engine.loads is not None
            return any(load.load_seq == load_seq for load in app.engine.loads.for_card(card.number))

        arrived = self._travel(pending, sent)
        click.echo(f"{'':>8} the top-up reached {arrived.text}")
        self.at += dt.timedelta(minutes=1)
        bus = self.rng.choice(list(BUSES))
        self.tap(bus, TOPPED_UP)
        collected = not pending(self.apps[bus])
        click.echo(f"{'':>8} {'collected' if collected else 'NOT collected'}: the card took load {load_seq}")
        self.checks.append(Check(arrived.ok and collected, f"the top-up reached every validator "
                                                           f"({arrived.slowest}) and was collected at the next tap",
                                 []))

    def _travel(self, arrived: Callable[[Validator], bool], sent: float) -> _Arrival:
        """Wait until ``arrived`` holds on every validator; when it did on each."""
        times: dict[int, float] = {}
        deadline = sent + SYNC_TIMEOUT
        while len(times) < len(self.apps) and time.monotonic() < deadline:
            for device_id, app in self.apps.items():
                if device_id not in times and arrived(app):
                    times[device_id] = time.monotonic() - sent
            self.network.check()
            time.sleep(0.002)
        return _Arrival(times, [d for d in self.apps if d not in times])

    # -- the end --------------------------------------------------------------------------------------

    def end(self) -> list[Check]:
        journals = {device_id: app.engine.journal for device_id, app in self.apps.items()}
        click.echo("end of the morning: waiting for the journals to reach the server")
        started = time.monotonic()
        while time.monotonic() - started < SYNC_TIMEOUT and any(j.backlog() for j in journals.values()):
            self.network.check()
            time.sleep(0.01)
        waited = time.monotonic() - started
        entries = {device_id: _entries(journal) for device_id, journal in journals.items()}
        written = sum(len(e) for e in entries.values())
        backlog = sum(j.backlog() for j in journals.values())
        per_device = ", ".join(f"{device_id}: {len(e)}" for device_id, e in entries.items())
        self.checks.append(Check(backlog == 0, f"every journal entry acknowledged by the server ({written} entries: "
                                               f"{per_device}; {waited:.2f} s after the last tap)"
                                               + (f": {backlog} NOT acknowledged" if backlog else ""), []))
        held = self.store.transaction_count()
        self.checks.append(Check(held == written, f"the server holds {held} transactions, "
                                                  + ("one per journal entry" if held == written else
                                                     f"for {written} journal entries"), []))
        self.checks.append(self._shadows())
        anomalies = self.store.anomalies()
        self.checks.append(Check(not anomalies, f"anomalies flagged by the server's reconciliation: {len(anomalies)}",
                                 [f"{a.kind} card {a.card_number} device {a.device_id} seq {a.seq}: {a.detail}"
                                  for a in anomalies]))
        self.checks.append(self._money(entries))
        click.echo("checks:")
        for check in self.checks:
            click.echo(f"  {'✓' if check.ok else '✗'} {check.text}")
            for line in check.detail:
                click.echo(f"      {line}")
        return self.checks

    def _read(self, card: Card) -> tuple[int, int]:
        field = SimField()
        field.place(card.chip)
        try:
            state = read_card(SimReader(field=field), self.issuer.validator_subset())
        finally:
            field.take()
        return state.balance_cents, state.counter

    def _shadows(self) -> Check:
        detail, wrong = [], 0
        for card in self.cards:
            balance, counter = self._read(card)
            shadow = self.store.shadow(card.number)
            if shadow is None:  # no tap of it reached the server: it must be as issued
                ok, server = balance == START_BALANCE, "never tapped"
            else:
                ok, server = shadow == (counter, balance), f"server {money(shadow[1])} at counter {shadow[0]}"
            wrong += not ok
            if len(self.cards) <= 10 or not ok:
                detail.append(f"card {card.index:04d}: card {money(balance)} at counter {counter}, {server}"
                              + ("" if ok else "  MISMATCH"))
        return Check(wrong == 0, f"the server's shadow balance and counter of every card match the card "
                                 f"({len(self.cards) - wrong} of {len(self.cards)})", detail)

    def _money(self, entries: dict[int, list[tuple[int, EntryState]]]) -> Check:
        done = [amount for device in entries.values() for amount, state in device if state is EntryState.DONE]
        topped_up = sum(amount for amount in done if amount > 0)
        charged = -sum(amount for amount in done if amount < 0)
        issued = len(self.cards) * START_BALANCE
        balances = sum(self._read(card)[0] for card in self.cards)
        return Check(issued + topped_up - charged == balances,
                     f"money check: issued {money(issued)} + topped up {money(topped_up)} - charges {money(charged)} "
                     f"= balances {money(balances)}", [])


@dataclass
class _Arrival:
    times: dict[int, float]
    missing: list[int]

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def slowest(self) -> str:
        if self.missing:
            return f"NOT {', '.join(map(str, self.missing))} within {SYNC_TIMEOUT:g} s"
        return f"slowest {max(self.times.values()):.2f} s"

    @property
    def text(self) -> str:
        parts = [f"{_name(device_id)} in {seconds:.2f} s" for device_id, seconds in self.times.items()]
        parts += [f"NOT {_name(device_id)} within {SYNC_TIMEOUT:g} s" for device_id in self.missing]
        return ", ".join(parts)


def _entries(journal: Journal) -> list[tuple[int, EntryState]]:
    """``(amount_cents, state)`` of every entry of ``journal`` (the demo prunes nothing)."""
    return [(entry.amount_cents, entry.state) for entry in map(journal.entry, range(1, journal.last_seq() + 1))]
