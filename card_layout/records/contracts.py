"""Contracts and entitlements: season passes with a validity period, and the
rights to use bikes, EV charging, libraries, museums and sports centres.
Sold or granted at a kiosk or the issuance point (written with key B only),
read by every role. Double-buffered in sectors 7 (even counters) and 8 (odd
counters), all three data blocks of each.

    0      version (1)
    1..3   card transaction counter when written
    4      number of contracts (0..4)
    5..36  four contracts of 8 bytes:
             kind (1), operator (1), product (2),
             valid from (2, days since 2000-01-01), valid until (2, same)
    37..39 reserved (zero)
    40..47 MAC
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
    decode_date,
    encode_date,
    open_record,
    seal,
    u24,
)

SIZE = 48
MAX_CONTRACTS = 4
_HEADER = struct.Struct(">B3sB")
_CONTRACT = struct.Struct(">BBHHH")


class ContractKind(enum.IntEnum):
    TRANSIT_PASS = 1
    BIKE = 2
    EV_CHARGING = 3
    LIBRARY = 4
    MUSEUM = 5
    SPORTS = 6
    PARKING = 7


@dataclass(frozen=True)
class Contract:
    kind: ContractKind
    valid_from: dt.date
    valid_until: dt.date
    operator: int = 0
    product: int = 0

    def __post_init__(self) -> None:
        check_uint("operator", self.operator, 8)
        check_uint("product", self.product, 16)
        if self.valid_until < self.valid_from:
            raise CardFormatError(f"contract ends {self.valid_until} before it starts {self.valid_from}")

    def valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day <= self.valid_until


@dataclass(frozen=True)
class ContractList:
    counter: int
    contracts: tuple[Contract, ...] = ()

    def __post_init__(self) -> None:
        check_uint("counter", self.counter, 24)
        if len(self.contracts) > MAX_CONTRACTS:
            raise CardFormatError(f"a card holds at most {MAX_CONTRACTS} contracts, got {len(self.contracts)}")

    def valid(self, kind: ContractKind, day: dt.date) -> tuple[Contract, ...]:
        return tuple(c for c in self.contracts if c.kind is kind and c.valid_on(day))

    def encode(self, ctx: MacContext) -> bytes:
        body = _HEADER.pack(RECORD_VERSION, u24(self.counter), len(self.contracts)) + b"".join(
            _CONTRACT.pack(c.kind, c.operator, c.product, encode_date(c.valid_from), encode_date(c.valid_until))
            for c in self.contracts
        )
        return seal(body, RecordType.CONTRACTS, self.counter, ctx, SIZE)

    @classmethod
    def decode(cls, data: bytes, ctx: MacContext, block: int | None = None) -> ContractList:
        """:raises CardFormatError, CardIntegrityError: with the block named."""
        counter, body = open_record(data, SIZE, RecordType.CONTRACTS, ctx, block, "contracts")
        count = body[4]
        if count > MAX_CONTRACTS:
            raise CardFormatError(f"contracts record claims {count} contracts, at most {MAX_CONTRACTS}", block=block)
        contracts = []
        for index in range(count):
            kind, operator, product, start, end = _CONTRACT.unpack_from(body, _HEADER.size + index * _CONTRACT.size)
            start_date, end_date = decode_date(start), decode_date(end)
            try:
                if start_date is None or end_date is None:
                    raise CardFormatError(f"contract {index} has no validity period")
                contracts.append(Contract(ContractKind(kind), start_date, end_date, operator, product))
            except ValueError as exc:  # CardFormatError is a ValueError, and so is an unknown kind
                raise CardFormatError(f"contract {index}: {exc}", block=block) from exc
        return cls(counter, tuple(contracts))
