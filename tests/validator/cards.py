"""Card states for the policy tests: issued simulated cards, read back."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from zoneinfo import ZoneInfo

from card_layout.operations.state import CardState, read_card
from card_layout.records.contracts import Contract
from card_layout.records.identity import FareProfile
from card_layout.records.transaction import CapCounters, TripState
from hardware.sim.reader import SimReader
from tests.factories import issued_card, masters
from validator.policy import TapContext

MADRID = ZoneInfo("Europe/Madrid")
KEYS = masters()


def state(balance: int = 2000, *, profile: FareProfile = FareProfile.GENERAL, contracts: tuple[Contract, ...] = (),
          trip: TripState | None = None, caps: CapCounters | None = None) -> CardState:
    """The state of an issued card, with the trip and capping state given (as a previous tap left them)."""
    read = read_card(SimReader(issued_card(balance, contracts=contracts, profile=profile)), KEYS, contracts=True)
    record = replace(read.record, trip=trip or read.record.trip, caps=caps or read.record.caps)
    return replace(read, purse=replace(read.purse, record=record))


def ctx(now: dt.datetime, *, line: int = 12, operator: int = 1) -> TapContext:
    return TapContext(now, MADRID, 7001, operator, line)


def local(*args: int) -> dt.datetime:
    """A local Madrid time as an aware datetime."""
    return dt.datetime(*args, tzinfo=MADRID)
