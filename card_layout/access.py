"""Access conditions of a MIFARE Classic sector: the bits, and what they allow.

Each sector has one 3-bit access condition (C1 C2 C3) per block. The sector
trailer stores them twice, once inverted, in bytes 6..8::

    byte 6:  ~C2_3 ~C2_2 ~C2_1 ~C2_0 ~C1_3 ~C1_2 ~C1_1 ~C1_0
    byte 7:   C1_3  C1_2  C1_1  C1_0 ~C3_3 ~C3_2 ~C3_1 ~C3_0
    byte 8:   C3_3  C3_2  C3_1  C3_0  C2_3  C2_2  C2_1  C2_0

A chip that finds the inverted copy inconsistent blocks the whole sector for
ever, so :func:`encode_access_bits` only ever produces consistent bytes and
:func:`decode_access_bits` refuses inconsistent ones.

The two tables below are the datasheet's (MF1S50yyX, "Access conditions for
the sector trailer" and "Access conditions for data blocks"), written with the
condition as an integer ``C1<<2 | C2<<1 | C3``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import CardFormatError


class KeyType(enum.Enum):
    """The two keys of a sector; the values are the chip's AUTH command codes."""

    A = 0x60
    B = 0x61


class Op(enum.Enum):
    """Operations on a data block. Decrement, transfer and restore share one
    column of the datasheet's table, so they share one permission here."""

    READ = "read"
    WRITE = "write"
    INCREMENT = "increment"
    DECREMENT = "decrement/transfer/restore"


A = frozenset({KeyType.A})
B = frozenset({KeyType.B})
AB = frozenset({KeyType.A, KeyType.B})
NEVER: frozenset[KeyType] = frozenset()


@dataclass(frozen=True)
class DataAccess:
    """Which keys may do what on a data block."""

    read: frozenset[KeyType]
    write: frozenset[KeyType]
    increment: frozenset[KeyType]
    decrement: frozenset[KeyType]

    def keys_for(self, op: Op) -> frozenset[KeyType]:
        return {
            Op.READ: self.read,
            Op.WRITE: self.write,
            Op.INCREMENT: self.increment,
            Op.DECREMENT: self.decrement,
        }[op]

    @property
    def is_value_block(self) -> bool:
        """True when the condition is meant for a value block (decrement allowed)."""
        return bool(self.decrement)


@dataclass(frozen=True)
class TrailerAccess:
    """Which keys may read and write each part of the sector trailer.
    Key A is never readable, whatever the condition."""

    key_a_write: frozenset[KeyType]
    access_read: frozenset[KeyType]
    access_write: frozenset[KeyType]
    key_b_read: frozenset[KeyType]
    key_b_write: frozenset[KeyType]

    @property
    def key_b_readable(self) -> bool:
        """When key B can be read it is data, not a key: the chip refuses any
        memory access after an authentication with it."""
        return bool(self.key_b_read)


# Datasheet table: access conditions for data blocks (C1 C2 C3 -> rights).
DATA_ACCESS: dict[int, DataAccess] = {
    0b000: DataAccess(read=AB, write=AB, increment=AB, decrement=AB),  # transport configuration
    0b010: DataAccess(read=AB, write=NEVER, increment=NEVER, decrement=NEVER),
    0b100: DataAccess(read=AB, write=B, increment=NEVER, decrement=NEVER),
    0b110: DataAccess(read=AB, write=B, increment=B, decrement=AB),  # value block, rechargeable
    0b001: DataAccess(read=AB, write=NEVER, increment=NEVER, decrement=AB),  # value block, not rechargeable
    0b011: DataAccess(read=B, write=B, increment=NEVER, decrement=NEVER),
    0b101: DataAccess(read=B, write=NEVER, increment=NEVER, decrement=NEVER),
    0b111: DataAccess(read=NEVER, write=NEVER, increment=NEVER, decrement=NEVER),
}

# Datasheet table: access conditions for the sector trailer.
TRAILER_ACCESS: dict[int, TrailerAccess] = {
    0b000: TrailerAccess(key_a_write=A, access_read=A, access_write=NEVER, key_b_read=A, key_b_write=A),
    0b010: TrailerAccess(key_a_write=NEVER, access_read=A, access_write=NEVER, key_b_read=A, key_b_write=NEVER),
    0b100: TrailerAccess(key_a_write=B, access_read=AB, access_write=NEVER, key_b_read=NEVER, key_b_write=B),
    0b110: TrailerAccess(key_a_write=NEVER, access_read=AB, access_write=NEVER, key_b_read=NEVER, key_b_write=NEVER),
    0b001: TrailerAccess(key_a_write=A, access_read=A, access_write=A, key_b_read=A, key_b_write=A),  # transport
    0b011: TrailerAccess(key_a_write=B, access_read=AB, access_write=B, key_b_read=NEVER, key_b_write=B),
    0b101: TrailerAccess(key_a_write=NEVER, access_read=AB, access_write=B, key_b_read=NEVER, key_b_write=NEVER),
    0b111: TrailerAccess(key_a_write=NEVER, access_read=AB, access_write=NEVER, key_b_read=NEVER, key_b_write=NEVER),
}

# Names for the conditions this project uses.
DATA_TRANSPORT = 0b000
DATA_READ_ONLY = 0b010
DATA_WRITE_B = 0b100
DATA_VALUE_RECHARGEABLE = 0b110
DATA_VALUE_DEBIT_ONLY = 0b001
TRAILER_TRANSPORT = 0b001
TRAILER_KEY_B_MANAGES = 0b011


def _check_condition(condition: int) -> int:
    if not 0 <= condition <= 0b111:
        raise CardFormatError(f"an access condition is 3 bits, got {condition!r}")
    return condition


@dataclass(frozen=True)
class AccessConditions:
    """The four access conditions of a sector: blocks 0, 1, 2 and the trailer."""

    block0: int
    block1: int
    block2: int
    trailer: int

    def __post_init__(self) -> None:
        for condition in self.conditions:
            _check_condition(condition)

    @property
    def conditions(self) -> tuple[int, int, int, int]:
        return (self.block0, self.block1, self.block2, self.trailer)

    def data_access(self, index: int) -> DataAccess:
        """Rights on data block ``index`` (0..2) of the sector."""
        if not 0 <= index <= 2:
            raise CardFormatError(f"data block index {index} outside 0..2")
        return DATA_ACCESS[self.conditions[index]]

    def trailer_access(self) -> TrailerAccess:
        return TRAILER_ACCESS[self.trailer]

    def key_usable(self, key_type: KeyType) -> bool:
        """Whether an authentication with ``key_type`` grants any access."""
        return not (key_type is KeyType.B and self.trailer_access().key_b_readable)

    def allows(self, index: int, op: Op, key_type: KeyType) -> bool:
        """Whether a sector authenticated with ``key_type`` may do ``op`` on data
        block ``index`` (0..2)."""
        return self.key_usable(key_type) and key_type in self.data_access(index).keys_for(op)

    def encode(self) -> bytes:
        return encode_access_bits(self)

    @classmethod
    def decode(cls, data: bytes, sector: int | None = None) -> AccessConditions:
        return decode_access_bits(data, sector)


TRANSPORT = AccessConditions(DATA_TRANSPORT, DATA_TRANSPORT, DATA_TRANSPORT, TRAILER_TRANSPORT)


def _bit(condition: int, n: int) -> int:
    """C1 is n=1 (the high bit), C2 n=2, C3 n=3 (the low bit)."""
    return (condition >> (3 - n)) & 1


def encode_access_bits(access: AccessConditions) -> bytes:
    """The three access bytes (trailer bytes 6..8) for ``access``."""
    c1 = c2 = c3 = 0
    for index, condition in enumerate(access.conditions):
        c1 |= _bit(condition, 1) << index
        c2 |= _bit(condition, 2) << index
        c3 |= _bit(condition, 3) << index
    byte6 = ((~c2 & 0xF) << 4) | (~c1 & 0xF)
    byte7 = (c1 << 4) | (~c3 & 0xF)
    byte8 = (c3 << 4) | c2
    return bytes([byte6, byte7, byte8])


def decode_access_bits(data: bytes, sector: int | None = None) -> AccessConditions:
    """Decode trailer bytes 6..8.

    :raises CardFormatError: when the length is wrong or an inverted copy does
        not match: a chip would block such a sector.
    """
    if len(data) != 3:
        raise CardFormatError(f"access bits are 3 bytes, got {len(data)}", sector=sector)
    byte6, byte7, byte8 = data
    c1, c1_inv = byte7 >> 4, byte6 & 0xF
    c2, c2_inv = byte8 & 0xF, byte6 >> 4
    c3, c3_inv = byte8 >> 4, byte7 & 0xF
    for name, plain, inverted in (("C1", c1, c1_inv), ("C2", c2, c2_inv), ("C3", c3, c3_inv)):
        if plain ^ inverted != 0xF:
            raise CardFormatError(
                f"access bits {data.hex().upper()} are inconsistent: {name} and its inverted copy disagree",
                sector=sector,
            )
    conditions = [(((c1 >> i) & 1) << 2) | (((c2 >> i) & 1) << 1) | ((c3 >> i) & 1) for i in range(4)]
    return AccessConditions(*conditions)
