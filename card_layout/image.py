"""A card image (the 1024-byte dump) decoded without a reader: every sector's
trailer and access rights, the MAD, the value blocks, and the application's
records, verified when the MAC key is at hand.

Dumps are the format of libnfc's nfc-mfclassic, proxmark3 and MIFARE Classic
Tool: block ``n`` at offset ``16 n``, trailers holding the keys the dumping
tool knew.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .access import AccessConditions, KeyType, Op
from .errors import CardFormatError
from .geometry import BLOCK_SIZE, CARD_SIZE, DATA_BLOCKS_PER_SECTOR, SECTORS, block_number, trailer_block
from .keys import MasterKeys
from .layout import Area, access_for, area_of, gpb_for
from .manufacturer import ManufacturerBlock
from .records.sealing import MacContext
from .trailer import WELL_KNOWN_KEYS, SectorTrailer
from .value_block import ValueBlock


def check_image(image: bytes) -> bytes:
    """:raises CardFormatError: unless ``image`` is a 1K card image."""
    if len(image) != CARD_SIZE:
        raise CardFormatError(f"a MIFARE Classic 1K image is {CARD_SIZE} bytes, got {len(image)}")
    return bytes(image)


def image_block(image: bytes, block: int) -> bytes:
    return image[block * BLOCK_SIZE : (block + 1) * BLOCK_SIZE]


def image_uid(image: bytes) -> bytes:
    """The 4-byte UID of block 0.

    :raises CardFormatError: when the BCC does not match.
    """
    return ManufacturerBlock.decode(image_block(check_image(image), 0)).uid


class ImageBlocks:
    """A :class:`~card_layout.operations.channel.BlockSource` over an image. With
    ``mac_key=None`` records decode without their MACs being checked."""

    def __init__(self, image: bytes, mac_key: bytes | None) -> None:
        self.image = check_image(image)
        self.uid = image_uid(self.image)
        self.mac = MacContext(self.uid, mac_key)

    def read(self, block: int) -> bytes:
        return image_block(self.image, block)

    def read_blocks(self, blocks: Iterable[int]) -> bytes:
        return b"".join(self.read(block) for block in blocks)


def _who(keys: frozenset[KeyType]) -> str:
    return "|".join(k.name for k in sorted(keys, key=lambda k: k.name)) or "never"


def describe_rights(access: AccessConditions, index: int) -> str:
    """A data block's rights in the datasheet's words, e.g. ``read A|B, write B, ...``."""
    rights = access.data_access(index)
    if not access.key_usable(KeyType.B):
        rights = type(rights)(*(frozenset(k for k in keys if k is KeyType.A) for keys in
                                (rights.read, rights.write, rights.increment, rights.decrement)))
    return ", ".join(f"{op.value} {_who(rights.keys_for(op))}" for op in Op)


def describe_trailer_rights(access: AccessConditions) -> str:
    t = access.trailer_access()
    return (f"key A write {_who(t.key_a_write)}; access bits read {_who(t.access_read)}, "
            f"write {_who(t.access_write)}; key B read {_who(t.key_b_read)}, write {_who(t.key_b_write)}")


@dataclass(frozen=True)
class SectorView:
    sector: int
    area: Area
    trailer: SectorTrailer | None
    problem: str | None
    rights: tuple[str, ...]
    values: tuple[tuple[int, int | None], ...]


def describe_sectors(image: bytes) -> tuple[SectorView, ...]:
    """Every sector's trailer, its access rights in words, and its value blocks."""
    image = check_image(image)
    views = []
    for sector in range(SECTORS):
        block = trailer_block(sector)
        try:
            trailer: SectorTrailer | None = SectorTrailer.decode(image_block(image, block), sector)
            problem = None
        except CardFormatError as exc:
            trailer, problem = None, str(exc)
        rights: tuple[str, ...] = ()
        values: list[tuple[int, int | None]] = []
        if trailer is not None:
            rights = (*(describe_rights(trailer.access, i) for i in range(DATA_BLOCKS_PER_SECTOR)),
                      describe_trailer_rights(trailer.access))
            for index in range(DATA_BLOCKS_PER_SECTOR):
                if trailer.access.data_access(index).is_value_block and (sector, index) != (0, 0):
                    number = block_number(sector, index)
                    try:
                        values.append((number, ValueBlock.decode(image_block(image, number), number).value))
                    except CardFormatError:
                        values.append((number, None))
        views.append(SectorView(sector, area_of(sector), trailer, problem, rights, tuple(values)))
    return tuple(views)


def check_trailers(image: bytes, masters: MasterKeys) -> list[str]:
    """Problems with the image's trailers against the layout and the card's
    derived keys, each naming its sector and block."""
    image = check_image(image)
    keys = masters.for_card(image_uid(image))
    problems = []
    for view in describe_sectors(image):
        block = trailer_block(view.sector)
        where = f"sector {view.sector} block {block}"
        if view.trailer is None:
            problems.append(f"{view.problem} (a chip blocks such a sector for ever)")
            continue
        for key_type, stored in ((KeyType.A, view.trailer.key_a), (KeyType.B, view.trailer.key_b)):
            if stored in WELL_KNOWN_KEYS:
                problems.append(f"{where}: key {key_type.name} is the well-known key {stored.hex().upper()}")
            elif keys.has(key_type) and stored != keys.sector_key(view.sector, key_type):
                problems.append(f"{where}: key {key_type.name} is not this card's derived key")
        if view.trailer.access != access_for(view.sector):
            problems.append(f"{where}: access bits {view.trailer.access.encode().hex().upper()} differ from the "
                            f"layout's {access_for(view.sector).encode().hex().upper()}")
        if view.trailer.gpb != gpb_for(view.sector):
            problems.append(f"{where}: general purpose byte {view.trailer.gpb:02X}, "
                            f"expected {gpb_for(view.sector):02X}")
    return problems

