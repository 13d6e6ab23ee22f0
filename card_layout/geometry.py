"""MIFARE Classic 1K geometry: 16 sectors of 4 blocks of 16 bytes.

Blocks are numbered 0..63 across the card (absolute block numbers, as the
chip's commands use them). Block 3 of each sector is its sector trailer.
"""

from __future__ import annotations

from .errors import CardFormatError

SECTORS = 16
BLOCKS_PER_SECTOR = 4
BLOCK_SIZE = 16
BLOCKS = SECTORS * BLOCKS_PER_SECTOR
CARD_SIZE = BLOCKS * BLOCK_SIZE  # 1024 bytes: the .mfd dump size

DATA_BLOCKS_PER_SECTOR = BLOCKS_PER_SECTOR - 1
TRAILER_INDEX = BLOCKS_PER_SECTOR - 1


def check_block(block: int) -> int:
    """Return ``block`` if it names a block of a 1K card.

    :raises CardFormatError: for a number outside 0..63.
    """
    if not 0 <= block < BLOCKS:
        raise CardFormatError(f"block {block} does not exist on a MIFARE Classic 1K")
    return block


def check_sector(sector: int) -> int:
    """Return ``sector`` if it names a sector of a 1K card.

    :raises CardFormatError: for a number outside 0..15.
    """
    if not 0 <= sector < SECTORS:
        raise CardFormatError(f"sector {sector} does not exist on a MIFARE Classic 1K")
    return sector


def sector_of(block: int) -> int:
    return check_block(block) // BLOCKS_PER_SECTOR


def block_index(block: int) -> int:
    """Position of ``block`` inside its sector (0..3)."""
    return check_block(block) % BLOCKS_PER_SECTOR


def block_number(sector: int, index: int) -> int:
    """Absolute block number of block ``index`` (0..3) of ``sector``."""
    check_sector(sector)
    if not 0 <= index < BLOCKS_PER_SECTOR:
        raise CardFormatError(f"block index {index} outside 0..3", sector=sector)
    return sector * BLOCKS_PER_SECTOR + index


def trailer_block(sector: int) -> int:
    return block_number(sector, TRAILER_INDEX)


def is_trailer(block: int) -> bool:
    return block_index(block) == TRAILER_INDEX


def check_block_data(data: bytes, block: int | None = None) -> bytes:
    """Return ``data`` as bytes if it is exactly one block long.

    :raises CardFormatError: for any other length.
    """
    if len(data) != BLOCK_SIZE:
        raise CardFormatError(f"a block is {BLOCK_SIZE} bytes, got {len(data)}", block=block)
    return bytes(data)
