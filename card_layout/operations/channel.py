"""A card in the field together with its keys.

The channel authenticates lazily: a command on a block authenticates that
block's sector only when the sector or the key needed differs from the last
authentication, because every authentication is a card round trip. The key
for each command is chosen from the layout's access conditions: key A when it
may do the job, key B otherwise, and a clear error when this role holds no key
that may.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ..access import KeyType, Op
from ..errors import CardAccessError
from ..geometry import BLOCK_SIZE, block_index, is_trailer, sector_of
from ..keys import CardKeys
from ..layout import access_for
from ..reader import ClassicReader
from ..records.sealing import MacContext


class BlockSource(Protocol):
    """Where reads come from: a card in the field (:class:`CardChannel`) or a
    dump image (:class:`card_layout.image.ImageBlocks`)."""

    @property
    def uid(self) -> bytes: ...

    @property
    def mac(self) -> MacContext: ...

    def read(self, block: int) -> bytes: ...

    def read_blocks(self, blocks: Iterable[int]) -> bytes: ...


class CardChannel:
    def __init__(self, reader: ClassicReader, keys: CardKeys) -> None:
        self.reader = reader
        self.keys = keys
        self.mac = MacContext(keys.uid, keys.masters.mac)
        self._auth: tuple[int, KeyType] | None = None

    @property
    def uid(self) -> bytes:
        return self.keys.uid

    def forget_authentication(self) -> None:
        self._auth = None

    def with_key(self, sector: int, key_type: KeyType, key: bytes) -> CardChannel:
        """The same card, still authenticated as it is, with one more sector key
        granted for it alone (no command)."""
        granted = CardChannel(self.reader, self.keys.with_key(sector, key_type, key))
        granted._auth = self._auth
        return granted

    def _key_for(self, block: int, op: Op) -> KeyType:
        sector = sector_of(block)
        if is_trailer(block):
            raise CardAccessError("card operations never touch a sector trailer through the channel", block=block)
        allowed = access_for(sector).data_access(block_index(block)).keys_for(op)
        if self._auth is not None and self._auth[0] == sector and self._auth[1] in allowed:
            return self._auth[1]
        for key_type in (KeyType.A, KeyType.B):
            if key_type in allowed and self.keys.has(key_type, sector):
                return key_type
        raise CardAccessError(f"this role holds no key that may {op.value} here", block=block)

    def _authenticated(self, block: int, op: Op) -> None:
        key_type = self._key_for(block, op)
        sector = sector_of(block)
        if self._auth != (sector, key_type):
            self._auth = None
            self.reader.authenticate(block, key_type, self.keys.sector_key(sector, key_type))
            self._auth = (sector, key_type)

    def read(self, block: int) -> bytes:
        self._authenticated(block, Op.READ)
        return self.reader.read_block(block)

    def read_blocks(self, blocks: Iterable[int]) -> bytes:
        return b"".join(self.read(block) for block in blocks)

    def write(self, block: int, data: bytes) -> None:
        self._authenticated(block, Op.WRITE)
        self.reader.write_block(block, data)

    def write_blocks(self, blocks: Iterable[int], data: bytes) -> None:
        for index, block in enumerate(blocks):
            self.write(block, data[index * BLOCK_SIZE : (index + 1) * BLOCK_SIZE])

    def increment(self, block: int, amount: int) -> None:
        self._authenticated(block, Op.INCREMENT)
        self.reader.increment(block, amount)

    def decrement(self, block: int, amount: int) -> None:
        self._authenticated(block, Op.DECREMENT)
        self.reader.decrement(block, amount)

    def restore(self, block: int) -> None:
        self._authenticated(block, Op.DECREMENT)
        self.reader.restore(block)

    def transfer(self, block: int) -> None:
        self._authenticated(block, Op.DECREMENT)
        self.reader.transfer(block)
