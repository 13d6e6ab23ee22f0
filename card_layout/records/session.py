"""The open rental or charging session: a bike taken from a dock, or an EV
charge started. Double-buffered in sectors 5 (even counters) and 6 (odd
counters), blocks 0 and 1, so a dock that is offline can close the rental from
the card alone.

    0      version (1)
    1..3   card transaction counter when the session opened
    4      kind: 1 bike, 2 EV charging
    5      operator
    6..9   asset: bike number, or charger number * 16 + connector
    10..11 station: dock or charging site
    12..15 start (Unix seconds)
    16..23 reserved (zero)
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
    check_uint,
    decode_time,
    encode_time,
    open_record,
    seal,
    u24,
)

SIZE = 32
_LAYOUT = struct.Struct(">B3sBBIHI")


class SessionKind(enum.IntEnum):
    BIKE = 1
    EV_CHARGING = 2


@dataclass(frozen=True)
class Session:
    counter: int
    kind: SessionKind
    operator: int
    asset: int
    station: int
    started: dt.datetime

    def __post_init__(self) -> None:
        check_uint("counter", self.counter, 24)
        check_uint("operator", self.operator, 8)
        check_uint("asset", self.asset, 32)
        check_uint("station", self.station, 16)

    def encode(self, ctx: MacContext) -> bytes:
        body = _LAYOUT.pack(RECORD_VERSION, u24(self.counter), self.kind, self.operator, self.asset,
                            self.station, encode_time(self.started))
        return seal(body, RecordType.SESSION, self.counter, ctx, SIZE)

    @classmethod
    def decode(cls, data: bytes, ctx: MacContext, block: int | None = None) -> Session:
        """:raises CardFormatError, CardIntegrityError: with the block named."""
        counter, body = open_record(data, SIZE, RecordType.SESSION, ctx, block, "session")
        _, _, kind, operator, asset, station, started = _LAYOUT.unpack(body[: _LAYOUT.size])
        try:
            session_kind = SessionKind(kind)
        except ValueError:
            raise CardFormatError(f"unknown session kind {kind}", block=block) from None
        start = decode_time(started)
        if start is None:
            raise CardFormatError("session record has no start time", block=block)
        return cls(counter, session_kind, operator, asset, station, start)
