"""``citizencard demo``: the card layer at work on one machine.

Issues a small population of simulated cards, then replays a morning of bus
taps through the card operations: fares debited with the trip state written,
free transfers within the window, a kiosk top-up, and a rider who pulls the
card away mid-tap, whose next tap recovers and is charged exactly once. Ends
with the money check: issued + topped up - fares = sum of balances.
(The whole city, with server, broker and devices, grows on top of this.)
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from pathlib import Path

import click

from card_layout.errors import CardRemovedError, InsufficientFundsError
from card_layout.keys import MasterKeys
from card_layout.operations.personalise import Issuance, personalise
from card_layout.operations.state import CardState, open_channel, read_state
from card_layout.operations.transaction import EventInfo, commit, credit, debit
from card_layout.records.event import EventType
from card_layout.records.identity import CardKind, FareProfile, Identity
from card_layout.records.transaction import TripState
from device import keystore
from hardware.sim.card import SimulatedCard
from hardware.sim.dump import save_dump
from hardware.sim.reader import SimReader

from ..views import money

FARE_CENTS = {FareProfile.GENERAL: 150, FareProfile.CHILD: 0, FareProfile.STUDENT: 90, FareProfile.SENIOR: 50,
              FareProfile.SOCIAL: 30, FareProfile.DISABILITY: 50, FareProfile.UNEMPLOYED: 30,
              FareProfile.LARGE_FAMILY: 100}
TRANSFER_WINDOW = dt.timedelta(minutes=45)
START_BALANCE = 1000
TOP_UP = 2000


def _bus_tap(reader: SimReader, validator: MasterKeys, line: int, at: dt.datetime) -> tuple[str, CardState]:
    ch = open_channel(reader, validator)
    state = read_state(ch)
    trip = state.record.trip
    if trip.journey_start and at - trip.journey_start <= TRANSFER_WINDOW and trip.line != line:
        new_trip = TripState(trip.journey_start, at, line, 1, trip.transfers + 1)
        state = commit(ch, state, trip=new_trip, event=EventInfo(EventType.TRANSFER, at, 1, 100 + line, line))
        return "transfer, free", state
    fare = FARE_CENTS[state.identity.profile]
    event = EventInfo(EventType.TRIP, at, 1, 100 + line, line)
    new_trip = TripState(at, at, line, 1, 0)
    if fare == 0:
        return "free fare", commit(ch, state, trip=new_trip, event=event)
    return f"fare {money(fare)}", debit(ch, state, fare, trip=new_trip, event=event)


@click.command()
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to keep the keys and card dumps (default: a new temporary directory).")
@click.option("--cards", type=click.IntRange(1, 10_000), default=8, show_default=True)
@click.option("--taps", type=click.IntRange(1, 1_000_000), default=40, show_default=True)
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed, for a repeatable run.")
def demo(workdir: Path | None, cards: int, taps: int, seed: int) -> None:
    """Issue simulated cards and replay a morning of taps through the card layer."""
    rng = random.Random(seed)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="citizencard-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    keys_path = workdir / "issuer.keys"
    issuer = keystore.load(keys_path) if keys_path.exists() else keystore.load(
        keystore.save(keys_path, keystore.generate("issuer")))
    validator = issuer.validator_subset()
    click.echo(f"working in {workdir}")

    start = dt.datetime.now(dt.UTC).replace(hour=7, minute=0, second=0, microsecond=0)
    readers: list[SimReader] = []
    for number in range(cards):
        card = SimulatedCard.blank(rng.randbytes(4))
        profile = rng.choice(list(FareProfile))
        identity = Identity(9_724_000_000_000_000 + number, "ESGIJ", rng.choice(list(CardKind)), profile,
                            start.date(), start.date().replace(year=start.year + 5), number + 1)
        personalise(SimReader(card), issuer, Issuance(identity, START_BALANCE, issued_at=start))
        path = workdir / f"card-{number:04d}.mfd"
        save_dump(path, card.image())
        readers.append(SimReader(card, dump_path=path))
    click.echo(f"issued {cards} cards with {money(START_BALANCE)} each")

    topped_up = 0
    at = start
    for tap in range(taps):
        at += dt.timedelta(seconds=rng.randint(20, 240))
        index = rng.randrange(cards)
        reader = readers[index]
        line = rng.randint(1, 6)
        if tap == taps // 2:
            reader.card.reset_tear(rng.randint(14, 19), rng.choice([0, 8]))
        try:
            what, state = _bus_tap(reader, validator, line, at)
            click.echo(f"{at:%H:%M:%S} line {line} card {index:04d}: {what:<16} balance {money(state.balance_cents)}")
        except InsufficientFundsError:
            ch = open_channel(reader, issuer)
            state = credit(ch, read_state(ch), TOP_UP, event=EventInfo(EventType.TOP_UP, at, device=900))
            topped_up += TOP_UP
            click.echo(f"{at:%H:%M:%S} kiosk   card {index:04d}: denied, low balance; topped up "
                       f"{money(TOP_UP)} -> {money(state.balance_cents)}")
        except CardRemovedError:
            reader.card.insert()
            state = read_state(open_channel(reader, validator))
            went_through = state.record.trip.last_boarding == at
            click.echo(f"{at:%H:%M:%S} line {line} card {index:04d}: card pulled away mid-tap; it reads counter "
                       f"{state.counter}, balance {money(state.balance_cents)}: the tap "
                       + ("had gone through, nothing more to charge" if went_through else "did not happen; again"))
            if not went_through:
                what, state = _bus_tap(reader, validator, line, at)
                click.echo(f"{at:%H:%M:%S} line {line} card {index:04d}: {what:<16} "
                           f"balance {money(state.balance_cents)}")

    balances = sum(read_state(open_channel(r, validator)).balance_cents for r in readers)
    spent = cards * START_BALANCE + topped_up - balances
    click.echo(f"money check: issued {money(cards * START_BALANCE)} + topped up {money(topped_up)} "
               f"- fares {money(spent)} = balances {money(balances)}")
    click.echo(f"cards are in {workdir}; try: citizencard card show {readers[0].dump_path} --keys {keys_path}")
