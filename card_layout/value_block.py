"""MIFARE value blocks: a signed 32-bit value stored three times, once
inverted, and an address byte stored four times, twice inverted::

    0..3 value   4..7 ~value   8..11 value   12 addr  13 ~addr  14 addr  15 ~addr

Values are little-endian two's complement. The chip's increment, decrement,
restore and transfer commands only accept blocks in this format; the address
byte is free for the application (we store the block's own number).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import CardFormatError
from .geometry import check_block_data

VALUE_MIN = -(2**31)
VALUE_MAX = 2**31 - 1


def check_value(value: int) -> int:
    if not VALUE_MIN <= value <= VALUE_MAX:
        raise CardFormatError(f"value {value} does not fit a signed 32-bit value block")
    return value


@dataclass(frozen=True)
class ValueBlock:
    value: int
    address: int

    def encode(self) -> bytes:
        check_value(self.value)
        if not 0 <= self.address <= 0xFF:
            raise CardFormatError(f"value block address {self.address!r} is not a byte")
        raw = struct.pack("<i", self.value)
        inverted = bytes(b ^ 0xFF for b in raw)
        addr = self.address
        return raw + inverted + raw + bytes([addr, addr ^ 0xFF, addr, addr ^ 0xFF])

    @classmethod
    def decode(cls, data: bytes, block: int | None = None) -> ValueBlock:
        """Decode a value block.

        :raises CardFormatError: when the copies disagree; the message says which.
        """
        data = check_block_data(data, block)
        raw, inverted, copy = data[0:4], data[4:8], data[8:12]
        if raw != copy:
            raise CardFormatError("not a value block: the two copies of the value differ", block=block)
        if any(a ^ b != 0xFF for a, b in zip(raw, inverted, strict=True)):
            raise CardFormatError("not a value block: the inverted value does not match", block=block)
        addr, addr_inv, addr_copy, addr_copy_inv = data[12:16]
        if addr != addr_copy or addr ^ addr_inv != 0xFF or addr_copy ^ addr_copy_inv != 0xFF:
            raise CardFormatError("not a value block: the address bytes are inconsistent", block=block)
        return cls(value=struct.unpack("<i", raw)[0], address=addr)


def is_value_block(data: bytes) -> bool:
    try:
        ValueBlock.decode(data)
    except CardFormatError:
        return False
    return True
