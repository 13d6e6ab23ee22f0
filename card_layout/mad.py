"""MIFARE Application Directory v1 (NXP AN10787) in sector 0, blocks 1 and 2.

    block 1 byte 0   CRC-8 over bytes 1..31 (poly x^8+x^4+x^3+x^2+1, preset 0xC7)
    block 1 byte 1   info byte: bits 5..0 point at the card publisher sector
    bytes 2..31      one AID per sector 1..15, little-endian:
                     low byte = application code, high byte = function cluster code

The general purpose byte of sector 0's trailer says a MAD is there: 0xC1 =
DA (MAD available) | MA (multi-application card) | ADV 01 (MAD version 1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import CardFormatError

MAD_SECTORS = 15
MAD_GPB_V1 = 0xC1
CRC_PRESET = 0xC7
CRC_POLY = 0x1D

AID_FREE = 0x0000
AID_DEFECT = 0x0001
AID_RESERVED = 0x0002
AID_CARD_HOLDER = 0x0004
CLUSTER_CITY_CARD = 0x40  # function cluster "city card services"


def crc8(data: bytes, preset: int = CRC_PRESET) -> int:
    """The MAD CRC (MSB first, no reflection, no final XOR)."""
    crc = preset
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


@dataclass(frozen=True)
class Mad:
    """A MAD v1: the application ID of each of sectors 1..15."""

    aids: tuple[int, ...]
    publisher_sector: int = 0

    def __post_init__(self) -> None:
        if len(self.aids) != MAD_SECTORS:
            raise CardFormatError(f"a MAD v1 names {MAD_SECTORS} sectors, got {len(self.aids)}", sector=0)
        for aid in self.aids:
            if not 0 <= aid <= 0xFFFF:
                raise CardFormatError(f"AID {aid!r} is not 16 bits", sector=0)
        if not 0 <= self.publisher_sector < 16:
            raise CardFormatError(f"publisher sector {self.publisher_sector} outside 0..15", sector=0)

    def aid_of(self, sector: int) -> int:
        if not 1 <= sector <= MAD_SECTORS:
            raise CardFormatError(f"MAD v1 has no entry for sector {sector}", sector=0)
        return self.aids[sector - 1]

    def sectors_of(self, aid: int) -> tuple[int, ...]:
        return tuple(sector for sector, entry in enumerate(self.aids, start=1) if entry == aid)

    def encode(self) -> bytes:
        """The 32 bytes of blocks 1 and 2."""
        body = bytes([self.publisher_sector]) + b"".join(struct.pack("<H", aid) for aid in self.aids)
        return bytes([crc8(body)]) + body

    @classmethod
    def decode(cls, data: bytes) -> Mad:
        """Decode blocks 1 and 2 of sector 0.

        :raises CardFormatError: for a wrong length, a CRC mismatch or a
            publisher pointer outside the card.
        """
        if len(data) != 32:
            raise CardFormatError(f"a MAD v1 is 32 bytes, got {len(data)}", sector=0)
        expected = crc8(data[1:])
        if data[0] != expected:
            raise CardFormatError(f"MAD CRC is {data[0]:02X}, expected {expected:02X}", block=1)
        info = data[1] & 0x3F
        if info >= 16:
            raise CardFormatError(f"MAD info byte points at sector {info}, outside the card", block=1)
        aids = struct.unpack("<15H", data[2:32])
        return cls(aids=tuple(aids), publisher_sector=info)
