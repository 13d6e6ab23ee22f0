"""The transaction record: the card's commit record, double-buffered in
sectors 3 (even counters) and 4 (odd counters), blocks 0 and 1 of each.

It holds the card transaction counter and all state that changes on a tap,
and its MAC binds the purse value it commits to (the value block of the same
parity, see :mod:`card_layout.layout`). The slot with the highest counter whose
MAC verifies against its value block is the card's state; see
docs/card-layout.md for why that makes every debit and credit atomic.

    0      version (1)
    1..3   card transaction counter, unsigned 24-bit
    4..5   sequence of the last server load applied, unsigned 16-bit
    6      flags: bit 0 contracts present, bit 1 rental/charging session open
    7..10  journey start (Unix seconds, 0 = none)     } trip state for
    11..14 last boarding (Unix seconds, 0 = none)     } transfers and for
    15..16 line of the last boarding                  } "already validated"
    17     operator of the last boarding
    18     transfers used in the journey
    19..20 spent on fares in the day of the last boarding (cents)   } fare
    21..23 spent on fares in its month (cents, 24-bit)              } capping
    24..31 MAC over the above, the UID, the counter and the purse value
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass, field, replace

from ..errors import CardFormatError
from .sealing import (
    COUNTER_MAX,
    RECORD_VERSION,
    MacContext,
    RecordType,
    decode_time,
    encode_time,
    from_u24,
    open_record,
    seal,
    u24,
)

SIZE = 32
_LAYOUT = struct.Struct(">B3sHBIIHBBH3s")
FLAG_CONTRACTS = 0x01
FLAG_SESSION_OPEN = 0x02
_KNOWN_FLAGS = FLAG_CONTRACTS | FLAG_SESSION_OPEN


@dataclass(frozen=True)
class TripState:
    """Where the rider's current journey stands, for transfers and double taps."""

    journey_start: dt.datetime | None = None
    last_boarding: dt.datetime | None = None
    line: int = 0
    operator: int = 0
    transfers: int = 0


@dataclass(frozen=True)
class CapCounters:
    """Fares spent in the day and the month of the last boarding, for fare capping."""

    day_cents: int = 0
    month_cents: int = 0


@dataclass(frozen=True)
class TransactionRecord:
    counter: int
    load_seq: int = 0
    contracts_present: bool = False
    session_open: bool = False
    trip: TripState = field(default_factory=TripState)
    caps: CapCounters = field(default_factory=CapCounters)

    def __post_init__(self) -> None:
        checks = (
            (0 <= self.counter <= COUNTER_MAX, f"counter {self.counter} outside 0..{COUNTER_MAX}"),
            (0 <= self.load_seq <= 0xFFFF, f"load sequence {self.load_seq} outside 0..65535"),
            (0 <= self.trip.line <= 0xFFFF, f"line {self.trip.line} outside 0..65535"),
            (0 <= self.trip.operator <= 0xFF, f"operator {self.trip.operator} outside 0..255"),
            (0 <= self.trip.transfers <= 0xFF, f"transfers {self.trip.transfers} outside 0..255"),
            (0 <= self.caps.day_cents <= 0xFFFF, f"day spend {self.caps.day_cents} outside 0..65535 cents"),
            (0 <= self.caps.month_cents <= 0xFFFFFF, f"month spend {self.caps.month_cents} outside 24 bits"),
        )
        for ok, message in checks:
            if not ok:
                raise CardFormatError(message)

    def next(self, **changes: object) -> TransactionRecord:
        """The record of the next transaction: counter + 1, with ``changes``.

        :raises CardFormatError: when the counter is exhausted (the card must be replaced).
        """
        if self.counter >= COUNTER_MAX:
            raise CardFormatError("card transaction counter exhausted: the card must be replaced")
        return replace(self, counter=self.counter + 1, **changes)  # type: ignore[arg-type]

    def encode(self, ctx: MacContext, purse_value: int) -> bytes:
        flags = (FLAG_CONTRACTS if self.contracts_present else 0) | (FLAG_SESSION_OPEN if self.session_open else 0)
        body = _LAYOUT.pack(
            RECORD_VERSION, u24(self.counter), self.load_seq, flags,
            encode_time(self.trip.journey_start), encode_time(self.trip.last_boarding),
            self.trip.line, self.trip.operator, self.trip.transfers,
            self.caps.day_cents, u24(self.caps.month_cents),
        )
        return seal(body, RecordType.TRANSACTION, self.counter, ctx, SIZE, bound_value(purse_value))

    @classmethod
    def decode(cls, data: bytes, ctx: MacContext, purse_value: int, block: int | None = None) -> TransactionRecord:
        """Decode a slot against the purse value it must commit to.

        :raises CardFormatError, CardIntegrityError: with the block named.
        """
        counter, body = open_record(data, SIZE, RecordType.TRANSACTION, ctx, block, "transaction",
                                    bound=bound_value(purse_value))
        (_, _, load_seq, flags, start, boarding, line, operator, transfers, day, month) = _LAYOUT.unpack(
            body[: _LAYOUT.size]
        )
        if flags & ~_KNOWN_FLAGS:
            raise CardFormatError(f"transaction record has unknown flags {flags:02X}", block=block)
        return cls(
            counter=counter, load_seq=load_seq,
            contracts_present=bool(flags & FLAG_CONTRACTS), session_open=bool(flags & FLAG_SESSION_OPEN),
            trip=TripState(decode_time(start), decode_time(boarding), line, operator, transfers),
            caps=CapCounters(day, from_u24(month)),
        )


def bound_value(purse_value: int) -> bytes:
    return struct.pack(">i", purse_value)
