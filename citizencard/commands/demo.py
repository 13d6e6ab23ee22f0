"""``citizencard demo``: the card layer and a bus validator at work on one machine.

Issues a small population of simulated cards, then replays a morning of taps
through a real bus validator (the tap engine, its fare table, its SQLite
journal, its deny-list): fares by profile, free transfers, already-validated
re-taps, a top-up bought online and collected at the next tap, a lost card
blocked, and a rider who pulls the card away mid-tap, whose next tap
recovers and is charged exactly once. Ends with the money check: issued +
topped up - journaled charges = sum of balances. (The whole city, with the
server, the broker and the device fleet, grows on top of this.)
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from card_layout.access import KeyType
from card_layout.layout import PURSE_SECTOR
from card_layout.operations.personalise import Issuance, personalise
from card_layout.operations.state import read_card
from card_layout.records.identity import CardKind, FareProfile, Identity
from device import keystore
from device.denylist import DenyEntry, DenyList
from device.journal import EntryState, Journal
from device.lists import ListStore, PendingLoad
from hardware.sim.card import SimulatedCard
from hardware.sim.dump import save_dump
from hardware.sim.field import SimField
from hardware.sim.reader import SimReader
from validator.bus import BusPolicy
from validator.engine import TapEngine
from validator.fares import DEFAULT_FARES, FareTable
from validator.outcome import Reason

from ..views import money

START_BALANCE = 1000
TOP_UP = 2000
TZ = ZoneInfo("Europe/Madrid")


@click.command()
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to keep the keys, card dumps, journal and lists (default: a new temporary directory).")
@click.option("--cards", type=click.IntRange(2, 10_000), default=8, show_default=True)
@click.option("--taps", type=click.IntRange(1, 1_000_000), default=40, show_default=True)
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed, for a repeatable run.")
def demo(workdir: Path | None, cards: int, taps: int, seed: int) -> None:
    """Issue simulated cards and replay a morning of taps through a bus validator."""
    rng = random.Random(seed)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="citizencard-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    keys_path = workdir / "issuer.keys"
    issuer = keystore.load(keys_path) if keys_path.exists() else keystore.load(
        keystore.save(keys_path, keystore.generate("issuer")))
    click.echo(f"working in {workdir}")

    start = dt.datetime.now(TZ).replace(hour=7, minute=0, second=0, microsecond=0)
    population: list[tuple[SimulatedCard, Path, int]] = []
    for number in range(cards):
        card = SimulatedCard.blank(rng.randbytes(4))
        identity = Identity(9_724_000_000_000_000 + number, "ESGIJ", rng.choice(list(CardKind)),
                            rng.choice(list(FareProfile)), start.date(), start.date().replace(year=start.year + 5),
                            number + 1)
        personalise(SimReader(card), issuer, Issuance(identity, START_BALANCE, issued_at=start))
        path = workdir / f"card-{number:04d}.mfd"
        save_dump(path, card.image())
        population.append((card, path, identity.card_number))
    click.echo(f"issued {cards} cards with {money(START_BALANCE)} each")

    field = SimField()
    journal = Journal(workdir / "journal.sqlite3", 1201)
    denylist = DenyList(workdir / "denylist.sqlite3")
    lists = ListStore(workdir / "lists.sqlite3")
    engine = TapEngine(SimReader(field=field), issuer.validator_subset(),
                       BusPolicy(FareTable.from_mapping(DEFAULT_FARES).bus), journal, denylist, lists.pending_loads,
                       1201, 1, 1, TZ)
    try:
        # a top-up bought online for card 0, collected at its next tap; card 1 reported lost
        top_up_card = population[0]
        purse_key = issuer.for_card(top_up_card[0].uid()).sector_key(PURSE_SECTOR, KeyType.B)
        lists.pending_loads.apply_full(1, [PendingLoad(top_up_card[2], 1, TOP_UP, purse_key, start)])
        denylist.apply_full(1, [DenyEntry(card_number=population[1][2], uid=None, reason="lost")])
        click.echo(f"online top-up of {money(TOP_UP)} waiting for card 0000; card 0001 reported lost")

        at = start
        for tap in range(taps):
            at += dt.timedelta(seconds=rng.randint(20, 600))
            torn_tap = tap == taps // 2
            index = 0 if torn_tap else rng.randrange(cards)  # the rider who pulls the card away can pay
            card, path, _ = population[index]
            engine.location = rng.randint(1, 6)
            field.place(card)
            if torn_tap:  # this rider pulls the card away in the middle of the card write
                at += dt.timedelta(minutes=10)
                card.reset_tear(rng.randint(14, 21), rng.choice([0, 8]))
            result = engine.tap(card_timeout=0.5, at=at)
            field.take()
            save_dump(path, card.image())
            balance = "" if result.balance_cents is None else f"balance {money(result.balance_cents)}"
            charged = f"-{money(result.amount_cents)}" if result.amount_cents else ""
            click.echo(f"{at:%H:%M:%S} line {engine.location} card {index:04d}: {result.reason.value:<18} "
                       f"{charged:<11} {balance}")
            if result.reason is Reason.TORN_RETRY:
                field.place(card)
                retry = engine.tap(card_timeout=0.5, at=at + dt.timedelta(seconds=3))
                field.take()
                save_dump(path, card.image())
                charged = f"-{money(retry.amount_cents)}" if retry.amount_cents else ""
                click.echo(f"{at:%H:%M:%S} line {engine.location} card {index:04d}: tapped again: "
                           f"{retry.reason.value:<11} {charged:<11} balance {money(retry.balance_cents or 0)}")

        keys = issuer.validator_subset()
        balances = sum(read_card(SimReader(field=SimField(field.place(card))), keys).balance_cents
                       for card, _, _ in population)
        entries = [e for e in journal.unacked(limit=1_000_000) if e.state is EntryState.DONE]
        topped_up = sum(e.amount_cents for e in entries if e.amount_cents > 0)
        charged = -sum(e.amount_cents for e in entries if e.amount_cents < 0)
        click.echo(f"journal: {journal.last_seq()} entries, every tap journaled")
        click.echo(f"money check: issued {money(cards * START_BALANCE)} + topped up {money(topped_up)} "
                   f"- fares {money(charged)} = balances {money(balances)}"
                   + ("" if cards * START_BALANCE + topped_up - charged == balances else "  MISMATCH"))
    finally:
        journal.close()
        denylist.close()
        lists.close()
    click.echo(f"cards are in {workdir}; try: citizencard card show {population[0][1]} --keys {keys_path}")
