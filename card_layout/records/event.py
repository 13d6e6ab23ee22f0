"""Events: a ring of the card's last events, for the kiosk's history and for
audits. Six slots in sectors 9..14 (blocks 0 and 1 of each); the event of
transaction ``n`` goes to slot ``n mod 6``, so appending never needs a read.

    0      version (1)
    1..3   card transaction counter of the event
    4      event type
    5      operator
    6..9   time (Unix seconds)
    10..13 amount (cents, signed: negative is a charge)
    14..17 balance after (cents, signed)
    18..21 device id
    22..23 location: line, dock or site
    24..31 MAC
"""

from __future__ import annotations

import datetime as dt
import enum
import struct
from dataclasses import dataclass

from ..errors import CardFormatError
from .sealing import (
    RECORD_VERSION,
    MacContext,
    RecordType,
    check_int,
    check_uint,
    decode_time,
    encode_time,
    open_record,
    seal,
    u24,
)

SIZE = 32
_LAYOUT = struct.Struct(">B3sBBIiiIH")


class EventType(enum.IntEnum):
    ISSUED = 1
    TRIP = 2
    TRANSFER = 3
    TOP_UP = 4
    LOAD_APPLIED = 5
    BIKE_START = 6
    BIKE_END = 7
    CHARGE_START = 8
    CHARGE_END = 9
    CONTRACT_SOLD = 10
    SERVICE_ACCESS = 11  # library, museum, sports centre


@dataclass(frozen=True)
class Event:
    counter: int
    type: EventType
    at: dt.datetime
    amount_cents: int = 0
    balance_cents: int = 0
    operator: int = 0
    device: int = 0
    location: int = 0

    def __post_init__(self) -> None:
        check_uint("counter", self.counter, 24)
        check_uint("operator", self.operator, 8)
        check_uint("device", self.device, 32)
        check_uint("location", self.location, 16)
        check_int("amount", self.amount_cents, 32)
        check_int("balance", self.balance_cents, 32)

    def encode(self, ctx: MacContext) -> bytes:
        body = _LAYOUT.pack(RECORD_VERSION, u24(self.counter), self.type, self.operator, encode_time(self.at),
                            self.amount_cents, self.balance_cents, self.device, self.location)
        return seal(body, RecordType.EVENT, self.counter, ctx, SIZE)

    @classmethod
    def decode(cls, data: bytes, ctx: MacContext, block: int | None = None) -> Event:
        """:raises CardFormatError, CardIntegrityError: with the block named."""
        counter, body = open_record(data, SIZE, RecordType.EVENT, ctx, block, "event")
        _, _, kind, operator, at, amount, balance, device, location = _LAYOUT.unpack(body[: _LAYOUT.size])
        try:
            event_type = EventType(kind)
        except ValueError:
            raise CardFormatError(f"unknown event type {kind}", block=block) from None
        moment = decode_time(at)
        if moment is None:
            raise CardFormatError("event has no time", block=block)
        return cls(counter, event_type, moment, amount, balance, operator, device, location)
