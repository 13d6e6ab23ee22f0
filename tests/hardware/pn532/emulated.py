"""Shared by the PN532 and nfcpy backend tests: cards for the emulator's field,
and the card operations run through a backend and through the ``sim:`` reader,
so that a test compares what the card received each way."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from card_layout.access import AccessConditions
from card_layout.operations.personalise import Issuance, personalise
from card_layout.operations.state import open_channel, read_card, read_state
from card_layout.operations.transaction import credit, debit
from card_layout.reader import ClassicReader
from card_layout.records.transaction import TripState
from hardware.pn532.emulator import Pn532Emulator
from hardware.sim.card import CommandRecord, SimulatedCard
from hardware.sim.field import SimField
from hardware.sim.reader import SimReader
from tests.builders import blank_image, value_block, with_sector
from tests.factories import ISSUED_AT, identity, issued_card, masters

KEYS = masters()
VALIDATOR = KEYS.validator_subset()
AT = dt.datetime(2026, 11, 21, 7, 45, tzinfo=dt.UTC)
ISSUANCE = Issuance(identity(), 2500, issued_at=ISSUED_AT)

# Sector 1 of the card of :func:`restricted_card`: block 4 read with key B
# only (condition 101), block 5 a value block (110: read A/B, write and
# increment B, decrement/transfer/restore A/B), block 6 data under the same
# condition, so a value command on it is refused as "not a value block".
RESTRICTED = AccessConditions(0b101, 0b110, 0b110, 0b011)


def restricted_card() -> SimulatedCard:
    """A blank card whose sector 1 is :data:`RESTRICTED` (keys ``tests.builders.KEY_A``/``KEY_B``)."""
    image = with_sector(blank_image(), 1, RESTRICTED, data={0: b"key B reads me!!", 1: value_block(500, 5),
                                                            2: b"not a value blk!"})
    return SimulatedCard(image)


@contextmanager
def running(*cards: SimulatedCard) -> Iterator[Pn532Emulator]:
    """An emulator with ``cards`` in its field, stopped (its failure raised) at the end."""
    emulator = Pn532Emulator(SimField(*cards)).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@dataclass(frozen=True)
class Operation:
    """A card operation: the card it starts from and what it does with a reader."""

    name: str
    card: Callable[[], SimulatedCard]
    run: Callable[[ClassicReader], object]


def _debit(reader: ClassicReader) -> object:
    ch = open_channel(reader, VALIDATOR)
    return debit(ch, read_state(ch), 150, trip=TripState(AT, AT, 12, 1, 0))


def _credit(reader: ClassicReader) -> object:
    ch = open_channel(reader, KEYS)
    return credit(ch, read_state(ch), 1000)


OPERATIONS = (
    Operation("personalise", lambda: SimulatedCard.blank(bytes.fromhex("A1B2C3D4")),
              lambda reader: personalise(reader, KEYS, ISSUANCE)),
    Operation("read_card", lambda: issued_card(1000), lambda reader: read_card(reader, KEYS, events=True)),
    Operation("debit", lambda: issued_card(1000), _debit),
    Operation("credit", lambda: issued_card(1000), _credit),
)


@dataclass(frozen=True)
class Outcome:
    """What an operation left: its result (or error type), the card's memory and command log."""

    result: object
    image: bytes
    log: list[CommandRecord]


def outcome(card: SimulatedCard, run: Callable[[], object]) -> Outcome:
    try:
        result: object = run()
    except Exception as exc:  # the error's type is what the backends must agree on
        result = type(exc)
    return Outcome(result, card.image(), list(card.log))


def through_sim(operation: Operation, tear_after: int | None = None) -> Outcome:
    """``operation`` on a fresh card through the ``sim:`` reader."""
    card = operation.card()
    card.reset_tear(tear_after)
    return outcome(card, lambda: operation.run(SimReader(card)))
