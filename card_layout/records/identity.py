"""The identity record (sector 1, blocks 4 and 5): who the card belongs to and
what fares apply. Written once at issuance (and at renewal) with key B; every
role reads it with key A. Its MAC binds it to the UID, so it cannot be copied
to another card.

    0      version (1)
    1..8   card number, unsigned 64-bit
    9..13  issuing city, UN/LOCODE (5 ASCII letters/digits, e.g. ESGIJ)
    14     card kind
    15     fare profile
    16..17 issue date (days since 2000-01-01)
    18..19 expiry date (days since 2000-01-01)
    20..23 holder reference in the back office, unsigned 32-bit
    24..31 MAC
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import struct
from dataclasses import dataclass

from ..errors import CardFormatError
from .sealing import (
    RECORD_VERSION,
    MacContext,
    RecordType,
    decode_date,
    encode_date,
    open_record,
    seal,
)

SIZE = 32
_LAYOUT = struct.Struct(">BQ5sBBHHI")
_LOCODE = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")


class CardKind(enum.IntEnum):
    CITIZEN = 1
    TOURIST = 2
    COMPANY = 3


class FareProfile(enum.IntEnum):
    """Socio-economic fare profiles; the fare table prices each."""

    GENERAL = 0
    CHILD = 1
    STUDENT = 2
    SENIOR = 3
    SOCIAL = 4  # low income
    DISABILITY = 5
    UNEMPLOYED = 6
    LARGE_FAMILY = 7


def _enum(kind: type[enum.IntEnum], value: int, block: int | None) -> enum.IntEnum:
    try:
        return kind(value)
    except ValueError:
        raise CardFormatError(f"unknown {kind.__name__} {value}", block=block) from None


@dataclass(frozen=True)
class Identity:
    card_number: int
    city: str
    kind: CardKind
    profile: FareProfile
    issued: dt.date
    expires: dt.date
    holder: int

    def __post_init__(self) -> None:
        if not _LOCODE.match(self.city):
            raise CardFormatError(f"issuing city {self.city!r} is not a UN/LOCODE such as ESGIJ")
        if not 0 <= self.card_number < 2**64:
            raise CardFormatError(f"card number {self.card_number} does not fit 64 bits")
        if not 0 <= self.holder < 2**32:
            raise CardFormatError(f"holder reference {self.holder} does not fit 32 bits")
        if self.expires < self.issued:
            raise CardFormatError(f"expiry {self.expires} is before issue {self.issued}")

    def encode(self, ctx: MacContext) -> bytes:
        body = _LAYOUT.pack(
            RECORD_VERSION, self.card_number, self.city.encode("ascii"), self.kind, self.profile,
            encode_date(self.issued), encode_date(self.expires), self.holder,
        )
        return seal(body, RecordType.IDENTITY, 0, ctx, SIZE)

    @classmethod
    def decode(cls, data: bytes, ctx: MacContext, block: int | None = None) -> Identity:
        """:raises CardFormatError, CardIntegrityError: with the block named."""
        _, body = open_record(data, SIZE, RecordType.IDENTITY, ctx, block, "identity", counter=0)
        _, number, city, kind, profile, issued, expires, holder = _LAYOUT.unpack(body[: _LAYOUT.size])
        try:
            city_text = city.decode("ascii")
        except UnicodeDecodeError:
            raise CardFormatError("issuing city is not ASCII", block=block) from None
        issued_date, expires_date = decode_date(issued), decode_date(expires)
        if issued_date is None or expires_date is None:
            raise CardFormatError("identity record has no issue or expiry date", block=block)
        try:
            return cls(
                card_number=number, city=city_text, kind=_enum(CardKind, kind, block),  # type: ignore[arg-type]
                profile=_enum(FareProfile, profile, block), issued=issued_date,  # type: ignore[arg-type]
                expires=expires_date, holder=holder,
            )
        except CardFormatError as exc:
            raise CardFormatError(exc.reason, block=block) from exc
