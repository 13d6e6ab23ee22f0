"""A simulated MIFARE Classic 1K chip: the memory, the commands, and the rules
the chip enforces, as the datasheet (MF1S50yyX) states them.

Memory is the standard 1024-byte image (block ``n`` at offset ``16 * n``, keys
in the sector trailers), so a card loads from and saves to a dump file.

Commands, one method each, counted and logged (:class:`CommandRecord`):
``uid`` (select), ``authenticate``, ``read_block``, ``write_block``,
``increment``, ``decrement``, ``restore``, ``transfer``.

What the chip enforces:

- Authentication compares the key with the one stored in the sector trailer. A
  wrong key clears the authenticated state and the transfer buffer (the chip
  goes idle). A sector whose stored access bits are inconsistent is blocked:
  every authentication to it fails. A new authentication, successful or not,
  ends the previous session, transfer buffer included.
- Any refused command (a NAK) leaves the chip idle, as a real one: no sector
  authenticated, transfer buffer empty, and no answer to an authentication
  until the reader selects it again (``uid``). A card put in the field is
  selected.
- Every memory command needs the sector of its block authenticated, and the
  right for the key in the access conditions (:mod:`card_layout.access`). When
  the trailer makes key B readable, key B still authenticates but every memory
  access after it is refused.
- Reading a trailer returns key A as zeros, the access bits and general purpose
  byte only when ``access_read`` allows the key, key B only when ``key_b_read``
  does (zeros otherwise).
- Writing a trailer: each field (key A, access bits + GPB, key B) that the new
  bytes would change needs its write right, or nothing is written. Inconsistent
  access bits are accepted and block the sector for ever.
- Block 0 is read-only unless the card is ``magic``.
- ``increment``, ``decrement`` and ``restore`` read a value block (increment
  needs the INCREMENT right, the other two the DECREMENT right) into the
  transfer buffer, never into memory; ``transfer`` writes the buffer as a value
  block, with the source's address byte, into a block of the same sector that
  has the DECREMENT right, then empties the buffer.

Refusals raise the card layer's errors with the sector and block set:
``AuthenticationError``, ``CardAccessError`` (rights, no or another sector
authenticated), ``CardCommandError`` (bad arguments, not a value block,
overflow, empty buffer, a block that does not exist), ``CardRemovedError``.

Tear model: with ``tear_after=N``, commands 1..N (counted from construction or
from :meth:`SimulatedCard.reset_tear`) run normally; command N+1 makes the card
leave the field and raises ``CardRemovedError``, as does every command after
it until :meth:`SimulatedCard.insert`. If command N+1 is a ``write_block`` or a
``transfer`` the chip would have accepted, its first ``torn_bytes`` bytes land
in memory and the rest of the block keeps its old bytes: an EEPROM write torn
half-way. A torn trailer write may leave inconsistent access bits, and so a
blocked sector, exactly as on a real card.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NoReturn

from card_layout.access import AccessConditions, KeyType, Op
from card_layout.errors import (
    AuthenticationError,
    CardAccessError,
    CardCommandError,
    CardError,
    CardFormatError,
    CardRemovedError,
)
from card_layout.geometry import BLOCK_SIZE, BLOCKS, BLOCKS_PER_SECTOR, CARD_SIZE, TRAILER_INDEX
from card_layout.manufacturer import UID_SIZES, ManufacturerBlock, bcc
from card_layout.trailer import KEY_SIZE, SectorTrailer
from card_layout.value_block import VALUE_MAX, VALUE_MIN, ValueBlock

OK = "ok"

# Trailer fields a write may change, with the TrailerAccess attribute that gates each.
_TRAILER_FIELDS = (
    (0, 6, "key_a_write", "key A"),
    (6, 10, "access_write", "the access bits and general purpose byte"),
    (10, 16, "key_b_write", "key B"),
)


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """One command the card received.

    :param index: 1-based position of the record in the card's log.
    :param command: the method name (``"read_block"``, ``"transfer"``, ...).
    :param block: the block the command named, ``None`` for ``uid``.
    :param key_type: for ``authenticate`` the key type tried; for the other
        commands the key the sector was authenticated with, if any.
    :param outcome: ``"ok"`` or the name of the error class raised.
    """

    index: int
    command: str
    block: int | None
    key_type: KeyType | None
    outcome: str


@lru_cache(maxsize=1024)
def _decode_access(raw: bytes) -> AccessConditions | None:
    """Access conditions of trailer bytes 6..8, ``None`` for a blocked sector."""
    try:
        return AccessConditions.decode(raw)
    except CardFormatError:
        return None


def _check_tear(tear_after: int | None, torn_bytes: int) -> None:
    if tear_after is not None and (not isinstance(tear_after, int) or tear_after < 0):
        raise ValueError(f"tear_after must be None or an integer >= 0, got {tear_after!r}")
    if not isinstance(torn_bytes, int) or not 0 <= torn_bytes <= BLOCK_SIZE:
        raise ValueError(f"torn_bytes must be 0..{BLOCK_SIZE}, got {torn_bytes!r}")


class SimulatedCard:
    """A MIFARE Classic 1K chip over a 1024-byte memory image.

    :param image: the card's memory, 1024 bytes (a dump).
    :param magic: a "magic" clone card whose block 0 is writable.
    :param uid_size: 4 (single-size UID, with BCC) or 7 (double-size UID).
    :param tear_after: run this many commands, then leave the field on the next.
    :param torn_bytes: how many bytes of a write interrupted by the tear land.
    :raises CardFormatError: when ``image`` is not 1024 bytes.
    :raises ValueError: for a ``uid_size`` other than 4 or 7, or bad tear parameters.
    """

    def __init__(
        self,
        image: bytes,
        *,
        magic: bool = False,
        uid_size: int = 4,
        tear_after: int | None = None,
        torn_bytes: int = 0,
    ) -> None:
        if len(image) != CARD_SIZE:
            raise CardFormatError(f"a MIFARE Classic 1K image is {CARD_SIZE} bytes, got {len(image)}")
        if uid_size not in UID_SIZES:
            raise ValueError(f"uid_size must be 4 or 7, got {uid_size!r}")
        _check_tear(tear_after, torn_bytes)
        self._memory = bytearray(image)
        self.magic = magic
        self.uid_size = uid_size
        self._present = True
        self._selected = True
        # Session: the authenticated sector, its key, and its access conditions
        # (None while authenticated means the session's trailer was made inconsistent).
        self._auth_sector: int | None = None
        self._auth_key: KeyType | None = None
        self._access: AccessConditions | None = None
        self._buffer: tuple[int, int] | None = None
        self._tear_after = tear_after
        self._torn_bytes = torn_bytes
        self._tear_count = 0
        self._write_count = 0
        self.log: list[CommandRecord] = []

    @classmethod
    def blank(cls, uid: bytes, *, magic: bool = False) -> SimulatedCard:
        """A card as it leaves the factory: block 0 for ``uid``, transport
        trailers (key FFFFFFFFFFFF, access FF0780, GPB 69), data zero.

        :raises CardFormatError: for a UID that is not 4 or 7 bytes.
        """
        image = bytearray(CARD_SIZE)
        image[0:BLOCK_SIZE] = ManufacturerBlock.for_uid(uid).encode()
        trailer = SectorTrailer.transport().encode()
        for block in range(TRAILER_INDEX, BLOCKS, BLOCKS_PER_SECTOR):
            image[block * BLOCK_SIZE : (block + 1) * BLOCK_SIZE] = trailer
        return cls(bytes(image), magic=magic, uid_size=len(uid))

    # -- state seen from outside -------------------------------------------------

    def image(self) -> bytes:
        """The whole memory, as a dump would hold it (keys included)."""
        return bytes(self._memory)

    @property
    def present(self) -> bool:
        """Whether the card is in the field."""
        return self._present

    @property
    def command_count(self) -> int:
        """Commands in :attr:`log`: received since the card was built or the log
        was last cleared, refused ones included."""
        return len(self.log)

    @property
    def write_count(self) -> int:
        """How many times memory was written, torn writes included."""
        return self._write_count

    @property
    def authenticated(self) -> tuple[int, KeyType] | None:
        """The authenticated (sector, key type), or ``None``."""
        if self._auth_sector is None or self._auth_key is None:
            return None
        return (self._auth_sector, self._auth_key)

    @property
    def transfer_buffer(self) -> tuple[int, int] | None:
        """The loaded (value, address byte), or ``None``."""
        return self._buffer

    # -- the field ----------------------------------------------------------------

    def remove(self) -> None:
        """Take the card out of the field: every command raises CardRemovedError."""
        self._present = False
        self._idle()

    def insert(self) -> None:
        """Put the card back: a fresh power-up, unauthenticated, no buffer, and
        no tear pending."""
        self._present = True
        self._selected = True
        self._idle()
        self._tear_after = None
        self._torn_bytes = 0
        self._tear_count = 0

    def reset_tear(self, tear_after: int | None = None, torn_bytes: int = 0) -> None:
        """Arm (or, with ``None``, disarm) the tear, counting commands from now.

        :raises ValueError: for a negative ``tear_after`` or ``torn_bytes`` outside 0..16.
        """
        _check_tear(tear_after, torn_bytes)
        self._tear_after = tear_after
        self._torn_bytes = torn_bytes
        self._tear_count = 0

    # -- commands -----------------------------------------------------------------

    def uid(self) -> bytes:
        """Select the card (anticollision) and return its UID from block 0; ends
        any session and empties the transfer buffer.

        :raises CardRemovedError: when the card is not in the field.
        :raises CardCommandError: when block 0 holds a 4-byte UID with a wrong BCC
            (anticollision fails, as with a badly written magic card).
        """
        try:
            if self._enter(None):
                self._leave_field(None)
            self._idle()
            uid = bytes(self._memory[0 : self.uid_size])
            if self.uid_size == 4 and self._memory[4] != bcc(uid):
                raise CardCommandError(f"BCC of UID {uid.hex().upper()} is wrong: anticollision fails", block=0)
        except CardError as exc:
            self._record("uid", None, None, type(exc).__name__)
            raise
        self._record("uid", None, None, OK)
        self._selected = True
        return uid

    def authenticate(self, block: int, key_type: KeyType, key: bytes) -> None:
        """Authenticate the sector of ``block`` with ``key_type`` and a 6-byte key.

        :raises AuthenticationError: for a wrong key or a blocked sector.
        :raises CardCommandError: for a block that does not exist, a key that is
            not 6 bytes or a key type that is not a :class:`KeyType`.
        :raises CardRemovedError: when the card is not in the field.
        """
        try:
            if self._enter(block):
                self._leave_field(block)
            self._authenticate(block, key_type, key)
        except CardError as exc:
            self._record("authenticate", block, key_type, type(exc).__name__)
            raise
        self._record("authenticate", block, key_type, OK)

    def read_block(self, block: int) -> bytes:
        """Read 16 bytes; a trailer reads with its secrets masked.

        :raises CardAccessError: without authentication of the block's sector or
            the READ right for the key.
        :raises CardCommandError: for a block that does not exist.
        :raises CardRemovedError: when the card is not in the field.
        """
        key_type = self._auth_key
        try:
            if self._enter(block):
                self._leave_field(block)
            data = self._read(block)
        except CardError as exc:
            self._record("read_block", block, key_type, type(exc).__name__)
            raise
        self._record("read_block", block, key_type, OK)
        return data

    def write_block(self, block: int, data: bytes) -> None:
        """Write 16 bytes.

        :raises CardAccessError: without authentication of the block's sector,
            without the WRITE right (or, on a trailer, the right for each field
            changed), or on block 0 of a card that is not magic.
        :raises CardCommandError: for data that is not 16 bytes or a block that
            does not exist.
        :raises CardRemovedError: when the card is not in the field; a write
            interrupted by the tear lands ``torn_bytes`` bytes first.
        """
        key_type = self._auth_key
        try:
            tearing = self._enter(block)
            try:
                new = self._check_write(block, data)
            except CardError as exc:
                if tearing:
                    self._leave_field(block, cause=exc)
                raise
            self._store(block, new, tearing)
            if block % BLOCKS_PER_SECTOR == TRAILER_INDEX:
                self._access = _decode_access(new[6:9])
        except CardError as exc:
            self._record("write_block", block, key_type, type(exc).__name__)
            raise
        self._record("write_block", block, key_type, OK)

    def increment(self, block: int, amount: int) -> None:
        """Load value block ``block`` plus ``amount`` (0..2**31-1) into the transfer buffer.

        :raises CardAccessError: without authentication of the block's sector or
            the INCREMENT right for the key.
        :raises CardCommandError: when the block is not a value block, the amount
            is out of range or the result leaves signed 32 bits.
        :raises CardRemovedError: when the card is not in the field.
        """
        self._value_command("increment", block, amount, Op.INCREMENT, 1)

    def decrement(self, block: int, amount: int) -> None:
        """Load value block ``block`` minus ``amount`` (0..2**31-1) into the transfer buffer.

        :raises CardAccessError: without authentication of the block's sector or
            the DECREMENT right for the key.
        :raises CardCommandError: when the block is not a value block, the amount
            is out of range or the result leaves signed 32 bits.
        :raises CardRemovedError: when the card is not in the field.
        """
        self._value_command("decrement", block, amount, Op.DECREMENT, -1)

    def restore(self, block: int) -> None:
        """Load value block ``block`` unchanged into the transfer buffer.

        :raises CardAccessError: without authentication of the block's sector or
            the DECREMENT right (restore shares its column) for the key.
        :raises CardCommandError: when the block is not a value block.
        :raises CardRemovedError: when the card is not in the field.
        """
        self._value_command("restore", block, 0, Op.DECREMENT, 0)

    def transfer(self, block: int) -> None:
        """Write the transfer buffer into ``block`` as a value block, then empty it.

        :raises CardAccessError: without authentication of the block's sector or
            the DECREMENT right (transfer shares its column) for the key.
        :raises CardCommandError: when the buffer is empty or the block does not exist.
        :raises CardRemovedError: when the card is not in the field; a transfer
            interrupted by the tear lands ``torn_bytes`` bytes first.
        """
        key_type = self._auth_key
        try:
            tearing = self._enter(block)
            try:
                self._value_block_rights(block, Op.DECREMENT)
                if self._buffer is None:
                    raise CardCommandError(
                        "the transfer buffer is empty: increment, decrement or restore first", block=block
                    )
                value, address = self._buffer
                new = ValueBlock(value, address).encode()
            except CardError as exc:
                if tearing:
                    self._leave_field(block, cause=exc)
                raise
            self._store(block, new, tearing)
            self._buffer = None
        except CardError as exc:
            self._record("transfer", block, key_type, type(exc).__name__)
            raise
        self._record("transfer", block, key_type, OK)

    # -- internals ----------------------------------------------------------------

    def _enter(self, block: int | None) -> bool:
        """Admit one command; True when it is the one the armed tear interrupts."""
        if not self._present:
            raise CardRemovedError("the card is not in the field", block=block)
        self._tear_count += 1
        return self._tear_after is not None and self._tear_count > self._tear_after

    def _leave_field(self, block: int | None, landed: int = 0, cause: CardError | None = None) -> NoReturn:
        self._present = False
        self._idle()
        message = "the card left the field during the command"
        if landed:
            message += f"; {landed} of {BLOCK_SIZE} bytes of the write landed"
        raise CardRemovedError(message, block=block) from cause

    def _idle(self) -> None:
        self._auth_sector = None
        self._auth_key = None
        self._access = None
        self._buffer = None

    def _record(self, command: str, block: int | None, key_type: KeyType | None, outcome: str) -> None:
        self.log.append(CommandRecord(len(self.log) + 1, command, block, key_type, outcome))
        if outcome != OK:
            # The chip answers a refused command with a NAK and drops to the idle
            # state: it answers nothing but a new selection (uid) until then.
            self._idle()
            self._selected = False

    def _store(self, block: int, data: bytes, tearing: bool) -> None:
        offset = block * BLOCK_SIZE
        if tearing:
            landed = self._torn_bytes
            if landed:
                self._memory[offset : offset + landed] = data[:landed]
                self._write_count += 1
            self._leave_field(block, landed)
        self._memory[offset : offset + BLOCK_SIZE] = data
        self._write_count += 1

    @staticmethod
    def _check_block(block: int) -> None:
        if not isinstance(block, int) or not 0 <= block < BLOCKS:
            raise CardCommandError(f"block {block!r} does not exist on a MIFARE Classic 1K", block=None)

    def _authenticate(self, block: int, key_type: KeyType, key: bytes) -> None:
        self._idle()
        self._check_block(block)
        if not isinstance(key_type, KeyType):
            raise CardCommandError(f"key type must be KeyType.A or KeyType.B, got {key_type!r}", block=block)
        if len(key) != KEY_SIZE:
            raise CardCommandError(f"a MIFARE Classic key is {KEY_SIZE} bytes, got {len(key)}", block=block)
        if not self._selected:
            raise CardCommandError("the card is idle after a refused command: select it (uid) first", block=block)
        sector = block // BLOCKS_PER_SECTOR
        trailer = (sector * BLOCKS_PER_SECTOR + TRAILER_INDEX) * BLOCK_SIZE
        access = _decode_access(bytes(self._memory[trailer + 6 : trailer + 9]))
        if access is None:
            raise AuthenticationError("sector is blocked: its access bits are inconsistent", block=block)
        start = trailer if key_type is KeyType.A else trailer + 10
        if self._memory[start : start + KEY_SIZE] != key:
            raise AuthenticationError(f"key {key_type.name} refused", block=block)
        self._auth_sector = sector
        self._auth_key = key_type
        self._access = access

    def _session(self, block: int) -> tuple[AccessConditions, KeyType]:
        """The access conditions and key for a memory command on ``block``."""
        self._check_block(block)
        sector, key_type = self._auth_sector, self._auth_key
        if sector is None or key_type is None:
            raise CardAccessError("no sector is authenticated", block=block)
        if block // BLOCKS_PER_SECTOR != sector:
            raise CardAccessError(f"sector {sector} is authenticated, not this one", block=block)
        access = self._access
        if access is None:
            raise CardAccessError("the sector's access bits were made inconsistent: it is blocked", block=block)
        if not access.key_usable(key_type):
            raise CardAccessError(
                "key B is readable in this sector's trailer, so it grants no memory access", block=block
            )
        return access, key_type

    def _read(self, block: int) -> bytes:
        access, key_type = self._session(block)
        offset = block * BLOCK_SIZE
        data = bytes(self._memory[offset : offset + BLOCK_SIZE])
        index = block % BLOCKS_PER_SECTOR
        if index == TRAILER_INDEX:
            rights = access.trailer_access()
            middle = data[6:10] if key_type in rights.access_read else bytes(4)
            key_b = data[10:16] if key_type in rights.key_b_read else bytes(KEY_SIZE)
            return bytes(KEY_SIZE) + middle + key_b
        if not access.allows(index, Op.READ, key_type):
            raise CardAccessError(self._refusal(key_type, "read", access, index), block=block)
        return data

    def _check_write(self, block: int, data: bytes) -> bytes:
        """The 16 bytes to store, once the chip's rules allow the write."""
        self._check_block(block)
        if len(data) != BLOCK_SIZE:
            raise CardCommandError(f"a block is {BLOCK_SIZE} bytes, got {len(data)}", block=block)
        data = bytes(data)
        access, key_type = self._session(block)
        index = block % BLOCKS_PER_SECTOR
        if index == TRAILER_INDEX:
            rights = access.trailer_access()
            offset = block * BLOCK_SIZE
            for start, end, right, name in _TRAILER_FIELDS:
                if data[start:end] != self._memory[offset + start : offset + end] and key_type not in getattr(
                    rights, right
                ):
                    raise CardAccessError(
                        f"key {key_type.name} may not change {name} (trailer access condition {access.trailer:03b})",
                        block=block,
                    )
            return data
        if block == 0 and not self.magic:
            raise CardAccessError("block 0 (the manufacturer block) is read-only", block=block)
        if not access.allows(index, Op.WRITE, key_type):
            raise CardAccessError(self._refusal(key_type, "write", access, index), block=block)
        return data

    def _value_block_rights(self, block: int, op: Op) -> None:
        access, key_type = self._session(block)
        index = block % BLOCKS_PER_SECTOR
        if index == TRAILER_INDEX:
            raise CardAccessError("value operations do not apply to a sector trailer", block=block)
        if not access.allows(index, op, key_type):
            raise CardAccessError(self._refusal(key_type, op.value, access, index), block=block)

    def _value_command(self, command: str, block: int, amount: int, op: Op, sign: int) -> None:
        key_type = self._auth_key
        try:
            if self._enter(block):
                self._leave_field(block)
            if not isinstance(amount, int) or not 0 <= amount <= VALUE_MAX:
                raise CardCommandError(f"amount {amount!r} outside 0..{VALUE_MAX}", block=block)
            self._value_block_rights(block, op)
            offset = block * BLOCK_SIZE
            try:
                source = ValueBlock.decode(bytes(self._memory[offset : offset + BLOCK_SIZE]), block)
            except CardFormatError as exc:
                raise CardCommandError(exc.reason, block=block) from exc
            result = source.value + sign * amount
            if not VALUE_MIN <= result <= VALUE_MAX:
                raise CardCommandError(
                    f"{command} of {source.value} by {amount} leaves the signed 32-bit range", block=block
                )
            self._buffer = (result, source.address)
        except CardError as exc:
            self._record(command, block, key_type, type(exc).__name__)
            raise
        self._record(command, block, key_type, OK)

    @staticmethod
    def _refusal(key_type: KeyType, what: str, access: AccessConditions, index: int) -> str:
        return f"key {key_type.name} may not {what} this block (access condition {access.conditions[index]:03b})"
