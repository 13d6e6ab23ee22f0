"""The manufacturer block (sector 0, block 0): UID, BCC, SAK, ATQA.

Layout for a 4-byte UID (single-size, also NUID)::

    0..3  UID      4  BCC = UID0 ^ UID1 ^ UID2 ^ UID3
    5     SAK (0x08 for a MIFARE Classic 1K)
    6..7  ATQA, as sent on air (LSB first: 04 00)
    8..15 manufacturer data

For a 7-byte UID (double-size) there is no BCC in block 0::

    0..6  UID      7  SAK      8..9  ATQA      10..15 manufacturer data

The block is read-only on a genuine card; magic cards let it be written, which
is why the UID alone never proves a card is ours (see docs/threat-model.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import CardFormatError
from .geometry import check_block_data

SAK_CLASSIC_1K = 0x08
ATQA_CLASSIC_1K_4B = bytes([0x04, 0x00])
ATQA_CLASSIC_1K_7B = bytes([0x44, 0x00])
UID_SIZES = (4, 7)


def bcc(uid: bytes) -> int:
    """Block check character of a 4-byte UID: the XOR of its bytes."""
    value = 0
    for byte in uid:
        value ^= byte
    return value


def check_uid(uid: bytes) -> bytes:
    """Return ``uid`` if it is 4 or 7 bytes long.

    :raises CardFormatError: otherwise.
    """
    if len(uid) not in UID_SIZES:
        raise CardFormatError(f"a MIFARE Classic UID is 4 or 7 bytes, got {len(uid)}")
    return bytes(uid)


@dataclass(frozen=True)
class ManufacturerBlock:
    uid: bytes
    sak: int = SAK_CLASSIC_1K
    atqa: bytes | None = None  # None: the ATQA of a 1K with this UID size
    manufacturer_data: bytes | None = None  # None: zeros to the end of the block

    def __post_init__(self) -> None:
        four = len(self.uid) == 4
        if self.atqa is None:
            object.__setattr__(self, "atqa", ATQA_CLASSIC_1K_4B if four else ATQA_CLASSIC_1K_7B)
        if self.manufacturer_data is None:
            object.__setattr__(self, "manufacturer_data", bytes(8 if four else 6))

    def encode(self) -> bytes:
        uid = check_uid(self.uid)
        assert self.atqa is not None and self.manufacturer_data is not None
        if len(uid) == 4:
            data = uid + bytes([bcc(uid), self.sak]) + self.atqa + self.manufacturer_data
        else:
            data = uid + bytes([self.sak]) + self.atqa + self.manufacturer_data
        return check_block_data(data, 0)

    @classmethod
    def decode(cls, data: bytes, uid_size: int = 4) -> ManufacturerBlock:
        """Decode block 0.

        :raises CardFormatError: for a wrong length or, with a 4-byte UID, a
            BCC that does not match.
        """
        data = check_block_data(data, 0)
        if uid_size == 4:
            uid = data[0:4]
            if data[4] != bcc(uid):
                raise CardFormatError(
                    f"BCC is {data[4]:02X}, expected {bcc(uid):02X} for UID {uid.hex().upper()}", block=0
                )
            return cls(uid=uid, sak=data[5], atqa=data[6:8], manufacturer_data=data[8:16])
        if uid_size == 7:
            return cls(uid=data[0:7], sak=data[7], atqa=data[8:10], manufacturer_data=data[10:16])
        raise CardFormatError(f"a MIFARE Classic UID is 4 or 7 bytes, got {uid_size}")

    @classmethod
    def for_uid(cls, uid: bytes) -> ManufacturerBlock:
        uid = check_uid(uid)
        atqa = ATQA_CLASSIC_1K_4B if len(uid) == 4 else ATQA_CLASSIC_1K_7B
        spare = 8 if len(uid) == 4 else 6
        return cls(uid=uid, atqa=atqa, manufacturer_data=bytes(range(0x62, 0x62 + spare)))
