"""MIFARE Classic 1K through a PN53x's InDataExchange, shared by the ``pn532:``
and ``nfcpy:`` backends: the card commands of
:class:`card_layout.reader.ClassicReader` as the bytes the chip forwards to
the card, the chip's status codes as the card layer's errors, and selection
and presence over InListPassiveTarget.

Commands (MF1S50yyX datasheet §9-10; the PN53x runs Crypto1, the CRCs and
the second half of two-part commands itself):

=========================  =============================================
``60|61 block key uid4``   AUTHENTICATION with key A or B; ``uid4`` is
                           the last 4 bytes of the UID (libnfc does the same)
``30 block``               READ, answered with 16 bytes
``A0 block data16``        WRITE
``C1 block value4``        INCREMENT (value little-endian, as in a value block)
``C0 block value4``        DECREMENT
``C2 block 00000000``      RESTORE
``B0 block``               TRANSFER
=========================  =============================================

Status codes become card errors (:func:`card_error`):

- 0x01 (the card did not answer) and 0x02-0x0B (its answer was garbled on
  the air) -> :class:`~card_layout.errors.CardRemovedError`;
- 0x14 -> :class:`~card_layout.errors.AuthenticationError`, or
  :class:`~card_layout.errors.CardCommandError` when the card is idle after a
  refused command (an idle card answers no authentication until selected);
- 0x13, the card's NAK -> :class:`~card_layout.errors.CardAccessError` for
  READ and WRITE. The PN53x reports every NAK with this one code, so for the
  value commands, where the card may refuse for its access bits or because
  the block is not a value block, it is a :class:`CardRefusedError`, both a
  ``CardAccessError`` and a ``CardCommandError``;
- 0x25-0x27 (no card activated) -> ``CardCommandError``: select it first.

Other statuses stay :class:`~hardware.pn532.chipset.Pn532StatusError` (a
:class:`~hardware.errors.ReaderProtocolError`). After any refusal the chip
is idle: :meth:`Pn53xClassicReader.uid` selects it again.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

from card_layout.access import KeyType
from card_layout.errors import (
    AuthenticationError,
    CardAccessError,
    CardCommandError,
    CardError,
    CardRemovedError,
)
from card_layout.geometry import BLOCK_SIZE, BLOCKS
from card_layout.trailer import KEY_SIZE
from card_layout.value_block import VALUE_MAX
from hardware.errors import HardwareError, MultipleCardsError, ReaderProtocolError, ReaderTimeoutError
from hardware.pn532.chipset import (
    ContextError,
    FormatError,
    MifareAuthenticationError,
    PassiveTarget,
    Pn532StatusError,
    RfTransmissionError,
    TargetTimeoutError,
)
from hardware.pn532.frames import hex_bytes

AUTHENTICATION_A = 0x60
AUTHENTICATION_B = 0x61
READ = 0x30
WRITE = 0xA0
DECREMENT = 0xC0
INCREMENT = 0xC1
RESTORE = 0xC2
TRANSFER = 0xB0

MIFARE_COMMANDS = {
    AUTHENTICATION_A: "authenticate",
    AUTHENTICATION_B: "authenticate",
    READ: "read_block",
    WRITE: "write_block",
    DECREMENT: "decrement",
    INCREMENT: "increment",
    RESTORE: "restore",
    TRANSFER: "transfer",
}
"""MIFARE Classic command codes and the ClassicReader method of each."""

CLASSIC_1K_SENS_RES = frozenset({0x0004, 0x0044})
"""ATQA of a MIFARE Classic 1K: single-size (4-byte) or double-size (7-byte) UID."""
CLASSIC_1K_SEL_RES = frozenset({0x08, 0x88})
"""SAK of a MIFARE Classic 1K (0x88: Infineon's licensed 1K)."""
_OTHER_CARDS = {
    0x00: "a MIFARE Ultralight or NTAG",
    0x09: "a MIFARE Mini",
    0x18: "a MIFARE Classic 4K",
    0x10: "a MIFARE Plus 2K (SL2)",
    0x11: "a MIFARE Plus 4K (SL2)",
}

POLL_INTERVAL = 0.02
"""Seconds between two InListPassiveTarget polls while waiting."""


class CardRefusedError(CardAccessError, CardCommandError):
    """The card answered a value command with a NAK. The PN53x reports every
    NAK with one status code (0x13), so the reason cannot be told apart: the
    access conditions, a block that is not a value block, an empty transfer
    buffer. Caught by ``except CardAccessError`` and ``except CardCommandError`` alike."""


def authentication_command(block: int, key_type: KeyType, key: bytes, uid: bytes) -> bytes:
    """AUTHENTICATION (0x60 key A, 0x61 key B) of ``block``'s sector."""
    code = AUTHENTICATION_A if key_type is KeyType.A else AUTHENTICATION_B
    return bytes([code, block]) + bytes(key) + bytes(uid[-4:])


def value_command(code: int, block: int, amount: int) -> bytes:
    """INCREMENT, DECREMENT or RESTORE of ``block`` by ``amount``."""
    return bytes([code, block]) + amount.to_bytes(4, "little")


def check_classic_1k(target: PassiveTarget) -> None:
    """:raises CardCommandError: when ``target``'s ATQA and SAK are not a MIFARE Classic 1K's."""
    if target.sens_res in CLASSIC_1K_SENS_RES and target.sel_res in CLASSIC_1K_SEL_RES:
        return
    kind = _OTHER_CARDS.get(target.sel_res)
    if kind is None and target.sel_res & 0x20:
        kind = "an ISO/IEC 14443-4 card (DESFire, a bank card, a phone)"
    raise CardCommandError(
        f"the card in the field (UID {target.uid.hex().upper()}, ATQA {target.sens_res:04X}, SAK"
        f" {target.sel_res:02X}) is {kind or 'not a MIFARE Classic 1K'}: this reader takes MIFARE Classic 1K cards"
    )


def card_error(exc: Pn532StatusError, command: str, block: int, *, idle: bool) -> CardError | None:
    """The card error for the status of ``command`` on ``block``; ``None``
    when the status is about the reader rather than the card (see the module docstring)."""
    if isinstance(exc, TargetTimeoutError | RfTransmissionError):
        return CardRemovedError(
            f"the card did not answer {command} (status 0x{exc.status:02X}): it left the field", block=block
        )
    if isinstance(exc, MifareAuthenticationError):
        if idle:
            return CardCommandError("the card is idle after a refused command: select it (uid) first", block=block)
        return AuthenticationError("the key was refused (status 0x14, MIFARE authentication error)", block=block)
    if isinstance(exc, FormatError):
        if command in ("read_block", "write_block"):
            return CardAccessError(
                f"the card refused {command} (NAK): its access conditions forbid it with the key the sector"
                " was authenticated with, or the sector is not authenticated",
                block=block,
            )
        return CardRefusedError(
            f"the card refused {command} (NAK): the access conditions forbid it with this key, or the block"
            " is not a value block, or (transfer) the transfer buffer is empty",
            block=block,
        )
    if isinstance(exc, ContextError):
        return CardCommandError(f"the reader has no card selected (status 0x{exc.status:02X}): select it first",
                                block=block)
    return None


def _check_block(block: int) -> None:
    if not isinstance(block, int) or isinstance(block, bool) or not 0 <= block < BLOCKS:
        raise CardCommandError(f"block {block!r} does not exist on a MIFARE Classic 1K")


def _check_amount(amount: int, block: int) -> None:
    if not isinstance(amount, int) or not 0 <= amount <= VALUE_MAX:
        raise CardCommandError(f"amount {amount!r} outside 0..{VALUE_MAX}", block=block)


class Pn53xClassicReader(ABC):
    """The :class:`hardware.reader.Reader` methods for a MIFARE Classic 1K
    behind a PN53x, over three chip operations a backend provides:
    InListPassiveTarget (:meth:`_list_targets`), InDataExchange with target 1
    (:meth:`_exchange`) and InRelease (:meth:`_release`).

    Polling (:meth:`card_present`, :meth:`wait_for_card`,
    :meth:`wait_for_removal`) is an InListPassiveTarget, which selects the card
    again: an authenticated session does not survive it.
    """

    def __init__(self) -> None:
        self._target: PassiveTarget | None = None
        self._idle = False

    # -- what a backend provides ------------------------------------------------------

    @property
    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    def _list_targets(self) -> list[PassiveTarget]:
        """InListPassiveTarget, MaxTg 2, 106 kbps type A: the cards in the field, selected."""

    @abstractmethod
    def _exchange(self, data: bytes) -> bytes:
        """InDataExchange of ``data`` with target 1; the card's answer.

        Raises :class:`Pn532StatusError` for an error status."""

    @abstractmethod
    def _release(self) -> None:
        """InRelease of every target."""

    @abstractmethod
    def close(self) -> None: ...

    def _forget_selection(self) -> None:
        """The chip was reset or reconnected: no card is selected any more."""
        self._target = None
        self._idle = False

    # -- selection and presence ---------------------------------------------------------

    def _select(self, targets: list[PassiveTarget]) -> bytes:
        self._target = None
        self._idle = False
        if not targets:
            raise CardRemovedError("no card in the field")
        if len(targets) > 1:
            error = MultipleCardsError(f"{len(targets)} cards in the field: present one card only")
            try:
                self._release()
            except HardwareError as exc:
                raise error from exc
            raise error
        check_classic_1k(targets[0])
        self._target = targets[0]
        return self._target.uid

    def uid(self) -> bytes:
        """Select the card in the field (InListPassiveTarget); its UID.

        :raises CardRemovedError: when no card is in the field.
        :raises MultipleCardsError: when two cards are.
        :raises CardCommandError: when the card is not a MIFARE Classic 1K.
        :raises HardwareError: when the reader fails (timeout, protocol, unavailable).
        """
        return self._select(self._list_targets())

    def card_present(self) -> bool:
        """Whether a card is in the field (one InListPassiveTarget, which selects it again).

        :raises HardwareError: when the reader fails.
        """
        targets = self._list_targets()
        self._idle = False
        self._target = targets[0] if len(targets) == 1 else None
        return bool(targets)

    def wait_for_card(self, timeout: float) -> bytes:
        """Poll until exactly one card is in the field; select it and return its UID.

        :raises ReaderTimeoutError: when no card came within ``timeout`` seconds.
        :raises MultipleCardsError: when more than one card is in the field.
        :raises CardCommandError: when the card is not a MIFARE Classic 1K.
        :raises ReaderUnavailableError: when the reader is gone.
        """
        deadline = time.monotonic() + timeout
        while True:
            targets = self._list_targets()
            if targets:
                return self._select(targets)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReaderTimeoutError(f"{self.name}: no card in the field within {timeout:g} s")
            time.sleep(min(POLL_INTERVAL, remaining))

    def wait_for_removal(self, timeout: float) -> bool:
        """Poll until the field is empty; ``False`` if a card is still there after ``timeout`` s.

        :raises ReaderUnavailableError: when the reader is gone.
        """
        deadline = time.monotonic() + timeout
        while self._list_targets():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(POLL_INTERVAL, remaining))
        self._forget_selection()
        return True

    # -- card commands -------------------------------------------------------------------

    def _run(self, command: str, block: int, data: bytes) -> bytes:
        if self._target is None:
            raise CardCommandError(f"no card selected for {command}: select it (uid) first", block=block)
        try:
            return self._exchange(data)
        except Pn532StatusError as exc:
            error = card_error(exc, command, block, idle=self._idle)
            self._idle = True
            if error is None:
                raise
            raise error from exc

    def authenticate(self, block: int, key_type: KeyType, key: bytes) -> None:
        """AUTHENTICATION of ``block``'s sector with a 6-byte key.

        :raises AuthenticationError: when the key is refused.
        :raises CardCommandError: for a bad argument, no card selected, or an
            idle card (select it again first).
        :raises CardRemovedError: when the card does not answer.
        :raises HardwareError: when the reader fails.
        """
        _check_block(block)
        if not isinstance(key_type, KeyType):
            raise CardCommandError(f"key type must be KeyType.A or KeyType.B, got {key_type!r}", block=block)
        if len(key) != KEY_SIZE:
            raise CardCommandError(f"a MIFARE Classic key is {KEY_SIZE} bytes, got {len(key)}", block=block)
        uid = self._target.uid if self._target is not None else b""
        self._run("authenticate", block, authentication_command(block, key_type, key, uid))

    def read_block(self, block: int) -> bytes:
        """READ: 16 bytes.

        :raises CardAccessError: when the card refuses (access conditions, no authentication).
        :raises CardRemovedError: when the card does not answer.
        :raises ReaderProtocolError: when the answer is not 16 bytes.
        :raises HardwareError: when the reader fails.
        """
        _check_block(block)
        data = self._run("read_block", block, bytes([READ, block]))
        if len(data) != BLOCK_SIZE:
            raise ReaderProtocolError(
                f"{self.name}: READ of block {block} answered {len(data)} bytes: {hex_bytes(data)}"
            )
        return data

    def write_block(self, block: int, data: bytes) -> None:
        """WRITE 16 bytes.

        :raises CardAccessError: when the card refuses.
        :raises CardCommandError: for data that is not 16 bytes.
        :raises CardRemovedError: when the card does not answer; the write may have landed, whole or in part.
        :raises HardwareError: when the reader fails.
        """
        _check_block(block)
        if len(data) != BLOCK_SIZE:
            raise CardCommandError(f"a block is {BLOCK_SIZE} bytes, got {len(data)}", block=block)
        self._run("write_block", block, bytes([WRITE, block]) + bytes(data))

    def increment(self, block: int, amount: int) -> None:
        """INCREMENT: load value block ``block`` plus ``amount`` into the transfer buffer.

        :raises CardRefusedError: when the card refuses (a CardAccessError and a CardCommandError).
        :raises CardCommandError: for an amount outside 0..2**31-1.
        :raises CardRemovedError: when the card does not answer.
        :raises HardwareError: when the reader fails.
        """
        _check_block(block)
        _check_amount(amount, block)
        self._run("increment", block, value_command(INCREMENT, block, amount))

    def decrement(self, block: int, amount: int) -> None:
        """DECREMENT: load value block ``block`` minus ``amount`` into the transfer buffer.

        :raises CardRefusedError: when the card refuses.
        :raises CardCommandError: for an amount outside 0..2**31-1.
        :raises CardRemovedError: when the card does not answer.
        :raises HardwareError: when the reader fails.
        """
        _check_block(block)
        _check_amount(amount, block)
        self._run("decrement", block, value_command(DECREMENT, block, amount))

    def restore(self, block: int) -> None:
        """RESTORE: load value block ``block`` unchanged into the transfer buffer.

        :raises CardRefusedError: when the card refuses.
        :raises CardRemovedError: when the card does not answer.
        :raises HardwareError: when the reader fails.
        """
        _check_block(block)
        self._run("restore", block, value_command(RESTORE, block, 0))

    def transfer(self, block: int) -> None:
        """TRANSFER: write the transfer buffer into ``block``.

        :raises CardRefusedError: when the card refuses.
        :raises CardRemovedError: when the card does not answer; the write may have landed.
        :raises HardwareError: when the reader fails.
        """
        _check_block(block)
        self._run("transfer", block, bytes([TRANSFER, block]))
