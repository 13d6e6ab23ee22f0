"""Builders for MIFARE Classic 1K card images (1024-byte dumps) used by tests.

Images are built with card_layout's own codecs, so a test reads as the card
it describes::

    image = with_sector(blank_image(), 1, AccessConditions(0b100, 0b110, 0b110, 0b011),
                        data={1: value_block(1000, 5)})
"""

from __future__ import annotations

from collections.abc import Mapping

from card_layout.access import AccessConditions
from card_layout.geometry import BLOCK_SIZE, CARD_SIZE, block_number, check_block, trailer_block
from card_layout.manufacturer import ManufacturerBlock
from card_layout.trailer import SectorTrailer
from card_layout.value_block import ValueBlock

UID = bytes.fromhex("C0FFEE42")
UID7 = bytes.fromhex("04A1B2C3D4E5F6")
# Test keys: not in card_layout.trailer.WELL_KNOWN_KEYS.
KEY_A = bytes.fromhex("1A2B3C4D5E6F")
KEY_B = bytes.fromhex("F6E5D4C3B2A1")


def blank_image(uid: bytes = UID) -> bytes:
    """A factory-fresh card: block 0 for ``uid``, transport trailers, zero data."""
    image = bytearray(CARD_SIZE)
    image[0:BLOCK_SIZE] = ManufacturerBlock.for_uid(uid).encode()
    trailer = SectorTrailer.transport().encode()
    for sector in range(16):
        offset = trailer_block(sector) * BLOCK_SIZE
        image[offset : offset + BLOCK_SIZE] = trailer
    return bytes(image)


def block_of(image: bytes, block: int) -> bytes:
    """The 16 bytes of ``block`` in ``image``."""
    offset = check_block(block) * BLOCK_SIZE
    return image[offset : offset + BLOCK_SIZE]


def with_block(image: bytes, block: int, data: bytes) -> bytes:
    """``image`` with ``block`` replaced by ``data`` (16 bytes, not checked for meaning)."""
    if len(data) != BLOCK_SIZE:
        raise ValueError(f"a block is {BLOCK_SIZE} bytes, got {len(data)}")
    offset = check_block(block) * BLOCK_SIZE
    return image[:offset] + bytes(data) + image[offset + BLOCK_SIZE :]


def with_sector(
    image: bytes,
    sector: int,
    access: AccessConditions,
    *,
    key_a: bytes = KEY_A,
    key_b: bytes = KEY_B,
    gpb: int = 0x00,
    data: Mapping[int, bytes] | None = None,
) -> bytes:
    """``image`` with ``sector``'s trailer set to ``access`` and the keys, and
    its data blocks ``data`` (keyed by index 0..2) replaced."""
    trailer = SectorTrailer(key_a=key_a, access=access, key_b=key_b, gpb=gpb).encode()
    image = with_block(image, trailer_block(sector), trailer)
    for index, content in (data or {}).items():
        image = with_block(image, block_number(sector, index), content)
    return image


def value_block(value: int, address: int) -> bytes:
    """A value block holding ``value`` with address byte ``address``."""
    return ValueBlock(value, address).encode()
