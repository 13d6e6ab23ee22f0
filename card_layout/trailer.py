"""The sector trailer (block 3 of each sector): key A, access bits, general
purpose byte, key B.

    0..5 key A    6..8 access bits    9 general purpose byte    10..15 key B

A chip never returns key A when the trailer is read (it reads as zeros), and
returns key B only when the access bits make it readable. A trailer read from a
card therefore decodes with unknown keys; a trailer from a dump file carries
the keys the dumping tool knew.
"""

from __future__ import annotations

from dataclasses import dataclass

from .access import TRANSPORT, AccessConditions, decode_access_bits
from .errors import CardFormatError
from .geometry import check_block_data

KEY_SIZE = 6
TRANSPORT_KEY = bytes.fromhex("FFFFFFFFFFFF")
TRANSPORT_GPB = 0x69

# Keys that ship on blank cards or in public key dictionaries: never left on an issued card.
WELL_KNOWN_KEYS = frozenset(
    bytes.fromhex(k)
    for k in (
        "FFFFFFFFFFFF",  # NXP transport key
        "000000000000",
        "A0A1A2A3A4A5",  # MAD public key (AN10787)
        "B0B1B2B3B4B5",
        "D3F7D3F7D3F7",  # NFC Forum public key
        "4D3A99C351DD",
        "1A982C7E459A",
        "AABBCCDDEEFF",
        "714C5C886E97",
        "587EE5F9350F",
        "A0478CC39091",
        "533CB6C723F6",
        "8FD0A4F256E9",
    )
)


def check_key(key: bytes, sector: int | None = None) -> bytes:
    """Return ``key`` if it is a 6-byte MIFARE Classic key.

    :raises CardFormatError: otherwise.
    """
    if len(key) != KEY_SIZE:
        raise CardFormatError(f"a MIFARE Classic key is {KEY_SIZE} bytes, got {len(key)}", sector=sector)
    return bytes(key)


@dataclass(frozen=True)
class SectorTrailer:
    key_a: bytes
    access: AccessConditions
    key_b: bytes
    gpb: int = 0x00

    def encode(self) -> bytes:
        """The 16 trailer bytes. Access bits always encode consistently, so a
        trailer built here never blocks a sector."""
        if not 0 <= self.gpb <= 0xFF:
            raise CardFormatError(f"general purpose byte {self.gpb!r} is not a byte")
        return (
            check_key(self.key_a)
            + self.access.encode()
            + bytes([self.gpb])
            + check_key(self.key_b)
        )

    @classmethod
    def decode(cls, data: bytes, sector: int | None = None) -> SectorTrailer:
        """Decode a trailer.

        :raises CardFormatError: for a wrong length or inconsistent access bits.
        """
        block = None if sector is None else sector * 4 + 3
        data = check_block_data(data, block)
        try:
            access = decode_access_bits(data[6:9], sector)
        except CardFormatError as exc:
            raise CardFormatError(exc.reason, block=block) from exc
        return cls(key_a=data[0:6], access=access, key_b=data[10:16], gpb=data[9])

    @classmethod
    def transport(cls) -> SectorTrailer:
        """The trailer of a blank card as it leaves the factory."""
        return cls(key_a=TRANSPORT_KEY, access=TRANSPORT, key_b=TRANSPORT_KEY, gpb=TRANSPORT_GPB)


def encode_raw_trailer(key_a: bytes, access_bytes: bytes, gpb: int, key_b: bytes) -> bytes:
    """A trailer from raw access bytes, for tools that copy trailers around.

    :raises CardFormatError: when the access bytes are inconsistent; writing
        them would block the sector for ever.
    """
    decode_access_bits(access_bytes)
    if not 0 <= gpb <= 0xFF:
        raise CardFormatError(f"general purpose byte {gpb!r} is not a byte")
    return check_key(key_a) + bytes(access_bytes) + bytes([gpb]) + check_key(key_b)
