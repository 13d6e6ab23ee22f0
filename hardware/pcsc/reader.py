"""The PC/SC reader backend: a MIFARE Classic card through pcscd and an
ACR122U-class contactless reader (pyscard's ``smartcard.scard`` layer).

:class:`PcscReader` implements :class:`hardware.reader.Reader` with the
pseudo-APDUs of :mod:`hardware.pcsc.apdu`; :func:`open_pcsc` makes one from a
``pcsc:`` URI and :func:`list_readers` lists what pcscd offers.

Commands per :class:`~card_layout.reader.ClassicReader` method (APDU round trips):

==================  ==========================================================
``uid``             Get Data (1); after a refused command, a card reset first
                    (SCardReconnect), so the reader activates the card again
``authenticate``    Authentication (1), plus Load Authentication Keys (1) when
                    the key is not in one of the two volatile key slots: the
                    reader object remembers which key it loaded in each slot
                    on its connection, so a key used again costs no load
``read_block``      Read Binary Blocks (1)
``write_block``     Update Binary Blocks (1)
``increment``,      none: recorded on the host (see below)
``decrement``,
``restore``
``transfer``        1 or 2 (see below)
==================  ==========================================================

Value operations. The chip loads a value block into its transfer buffer with
``increment`` / ``decrement`` / ``restore`` and writes the buffer with
``transfer``; the ACR122U's pseudo-APDUs only offer an in-place increment or
decrement and a restore from one block into another (each one APDU, two chip
commands). The transfer buffer is therefore kept on the host: the three load
commands record the pending operation (source block, signed amount) and send
nothing, and ``transfer(dst)`` sends

- restore pending: Restore Value Block ``src -> dst`` (1 APDU);
- increment / decrement with ``src == dst``: Value Block Operation on dst (1 APDU);
- increment / decrement with ``src != dst``: Restore Value Block ``src -> dst``,
  then Value Block Operation on dst (2 APDUs).

The tear semantics of :func:`card_layout.operations.transaction.commit` still
hold in the last case: dst first receives the old value (a copy of src), then
the new one. The record that commits to the new value does not verify until
the second APDU has landed, so a tear between the two leaves the previous
state, exactly as a tear before the chip's single transfer would; a tear
during either APDU's transfer leaves a torn value block that verifies nothing.
Differences from the chip, none of which matters for the citizen-card layout
(whose two purse blocks share one access condition and never overflow):
the rights are checked on dst (the chip checks the increment right on src), a
refusal of the load (not a value block, no right, overflow) comes at
``transfer`` rather than at the load, and in the two-APDU case a refused second
APDU leaves dst holding src's value. ``transfer`` with nothing pending raises
:class:`~card_layout.errors.CardCommandError`, like the chip, without sending
anything.

Errors. pcscd not running -> :class:`~hardware.errors.ReaderUnavailableError`
("pcscd is not running"); the reader gone -> ``ReaderUnavailableError``; no
card or the card removed (SCARD_E_NO_SMARTCARD, SCARD_W_REMOVED_CARD,
SCARD_E_NOT_TRANSACTED, an empty answer) ->
:class:`~card_layout.errors.CardRemovedError`; what the card refuses maps as
:func:`hardware.pcsc.apdu.check_response` says. The PC/SC failure is kept as
``__cause__`` (a pyscard ``BaseSCardException`` with the SCARD code).

Recovery. After pcscd restarts, the next call releases the dead context,
establishes a new one and finds the reader again by name: callers retry, they
do not reopen. No thread is involved.

Two cards. :meth:`PcscReader.wait_for_card` counts the cards with the PN532's
InListPassiveTarget (MaxTg 2) through the ACR122U's Direct Transmit, and
refuses two with :class:`~hardware.errors.MultipleCardsError`. A reader that
does not answer it (an ACR1252U has no PN532) hides the second card: the
pseudo-APDUs then talk to whichever card it activated. That is logged once.

The reader is opened with SCARD_SHARE_EXCLUSIVE: another program loading keys
into the same reader's key slots would silently break the key slot cache.
A reader object is meant for one thread; :meth:`PcscReader.close` may be called
from another to cancel a wait.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from smartcard import scard
from smartcard.pcsc.PCSCExceptions import BaseSCardException, EstablishContextException, ListReadersException

from card_layout.access import KeyType
from card_layout.errors import CardAccessError, CardCommandError, CardError, CardRemovedError
from card_layout.geometry import BLOCK_SIZE, BLOCKS, BLOCKS_PER_SECTOR
from card_layout.trailer import KEY_SIZE
from card_layout.value_block import VALUE_MAX
from hardware.errors import (
    MultipleCardsError,
    ReaderProtocolError,
    ReaderTimeoutError,
    ReaderUnavailableError,
    ReaderUriError,
)
from hardware.pcsc.apdu import (
    KEY_SLOTS,
    Command,
    GeneralAuthenticate,
    GetUid,
    InListPassiveTarget,
    InListPassiveTargetResponse,
    LoadKey,
    ReadBinary,
    Response,
    RestoreValueBlock,
    UpdateBinary,
    ValueBlockOperation,
    ValueOp,
    check_response,
)

if TYPE_CHECKING:
    from hardware.uri import ReaderUri

log = logging.getLogger(__name__)

#: Substrings (lower case) of the names of contactless readers: what ``pcsc:``
#: without a name picks. "virtual pcd" is vsmartcard's vpcd, which our
#: emulator (:mod:`hardware.pcsc.vcard`) makes an ACR122U-class reader.
CONTACTLESS_HINTS = ("contactless", "picc", "acr122", "acr1252", "acr1255", "nfc", " cl ", "virtual pcd")

_PROTOCOLS = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
_SHARE = scard.SCARD_SHARE_EXCLUSIVE



def _codes(*hresults: int) -> frozenset[int]:
    # pyscard gives SCARD codes as negative or positive ints depending on the platform.
    return frozenset(code & 0xFFFFFFFF for code in hresults)


def _is(hresult: int, codes: frozenset[int]) -> bool:
    return hresult & 0xFFFFFFFF in codes


_SERVICE_GONE = _codes(scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_INVALID_HANDLE,
                       scard.SCARD_F_COMM_ERROR)
_READER_GONE = _codes(scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_UNKNOWN_READER,
                      scard.SCARD_E_NO_READERS_AVAILABLE)
_CARD_GONE = _codes(scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NOT_TRANSACTED,
                    scard.SCARD_W_RESET_CARD, scard.SCARD_W_UNPOWERED_CARD, scard.SCARD_W_UNRESPONSIVE_CARD)
_TIMEOUT = _codes(scard.SCARD_E_TIMEOUT)
_NO_READERS = _codes(scard.SCARD_E_NO_READERS_AVAILABLE)
_SHARING_VIOLATION = _codes(scard.SCARD_E_SHARING_VIOLATION)
_CANCELLED = _codes(scard.SCARD_E_CANCELLED)

#: How long one SCardGetStatusChange may block, in ms, so a wait notices a
#: closed reader and its own deadline.
_STATUS_SLICE_MS = 500
_RETRY_PAUSE = 0.02
_PCSCD_DOWN = "pcscd is not running (start it, e.g. `systemctl start pcscd`, or check /run/pcscd/pcscd.comm)"


@dataclass(frozen=True)
class _Pending:
    """The transfer buffer kept on the host: a value block and what to do to it."""

    source: int
    op: ValueOp | None  # None: restore
    amount: int = 0


def _check_block(block: object) -> int:
    if not isinstance(block, int) or isinstance(block, bool) or not 0 <= block < BLOCKS:
        raise CardCommandError(f"block {block!r} does not exist on a MIFARE Classic 1K")
    return block


def is_contactless(name: str) -> bool:
    """Whether a reader's name says it is contactless (:data:`CONTACTLESS_HINTS`)."""
    lowered = f" {name.lower()} "
    return any(hint in lowered for hint in CONTACTLESS_HINTS)


class PcscReader:
    """A contactless reader known to pcscd, with the card in its field.

    :param name: a part of the reader's name (case-insensitive); ``None`` for
        the first contactless reader (:func:`is_contactless`).
    """

    def __init__(self, name: str | None = None) -> None:
        self.wanted = name or None
        self._context: int | None = None
        self._reader: str | None = None
        self._card: int | None = None
        self._protocol = 0
        # Digests of the keys in the reader's volatile key slots, most recently used last.
        self._slots: dict[int, bytes] = {}
        self._slot_order: list[int] = list(KEY_SLOTS)
        self._pending: _Pending | None = None
        self._reselect = False
        self._escape: bool | None = None
        self._closed = False

    # -- the device ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """The PC/SC name of the reader once found, else what was asked for."""
        if self._reader is not None:
            return self._reader
        return f"pcsc:{self.wanted}" if self.wanted else "pcsc: (first contactless reader)"

    def open(self, timeout: float = 0.0) -> PcscReader:
        """Find the reader, waiting up to ``timeout`` seconds for pcscd and the reader to be there.

        :raises ReaderUnavailableError: when pcscd or the reader is still missing at the timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._find_reader()
                return self
            except ReaderUnavailableError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        """Disconnect the card and release the PC/SC context. Idempotent; the
        reader opens again by itself if used after this."""
        self._closed = True
        context, card = self._context, self._card
        self._context = self._card = None
        self._forget_card()
        if context is not None:
            scard.SCardCancel(context)
        if card is not None:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
        if context is not None:
            scard.SCardReleaseContext(context)

    def __enter__(self) -> PcscReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- presence -------------------------------------------------------------------

    def wait_for_card(self, timeout: float) -> bytes:
        """Wait for exactly one card and select it; its UID.

        :raises ReaderTimeoutError: when no card came in ``timeout`` seconds.
        :raises MultipleCardsError: when the reader lists two cards.
        :raises ReaderUnavailableError: when pcscd or the reader is gone.
        :raises CardError: when the card refuses to be selected.
        """
        self._closed = False
        deadline = time.monotonic() + timeout
        while True:
            try:
                if not self._card_still_there():
                    self._wait_for_state(present=True, deadline=deadline)
                    self._connect()
                count = self._count_cards()
                if count is not None and count > 1:
                    raise MultipleCardsError(f"{count} cards in the field of {self.name}: present one card only")
                if count != 0:
                    return self.uid()
                self._disconnect()
            except CardRemovedError:
                pass  # gone again before it could be selected (pcscd lags the field): wait on
            if time.monotonic() >= deadline:
                raise ReaderTimeoutError(f"no card stayed in the field of {self.name} for {timeout:g} s")
            time.sleep(_RETRY_PAUSE)

    def card_present(self) -> bool:
        """Whether pcscd sees a card in the reader now (it polls the reader, so
        this lags the field by up to its poll interval, 0.4 s).

        :raises ReaderUnavailableError: when pcscd or the reader is gone.
        """
        return _has_card(self._state(0))

    def wait_for_removal(self, timeout: float) -> bool:
        """Wait until the field is empty; ``False`` when a card is still there at the timeout.

        :raises ReaderUnavailableError: when pcscd or the reader is gone.
        """
        self._closed = False
        try:
            self._wait_for_state(present=False, deadline=time.monotonic() + timeout)
        except ReaderTimeoutError:
            return False
        self._disconnect()
        return True

    # -- card commands ------------------------------------------------------------

    def uid(self) -> bytes:
        """Select the card in the field and return its UID (Get Data).

        :raises CardRemovedError: when there is no card.
        :raises MultipleCardsError: when selecting fails and the reader lists two cards.
        :raises CardCommandError: when the card cannot be selected.
        :raises ReaderUnavailableError: when pcscd or the reader is gone.
        """
        stale = self._card is not None
        try:
            return self._select()
        except (CardRemovedError, ReaderUnavailableError):
            if not stale:
                raise
        # The connection was to a card that has since left (or been replaced),
        # or to a pcscd since restarted: a selection starts afresh.
        return self._select()

    def _select(self) -> bytes:
        self._pending = None
        if self._card is None:
            self._connect()
        elif self._reselect:
            self._reset_card()
        try:
            uid = self._exchange(GetUid())
        except CardCommandError as exc:
            count = self._count_cards()
            if count is not None and count > 1:
                raise MultipleCardsError(f"{count} cards in the field of {self.name}: present one card only") from exc
            raise
        self._reselect = False
        return uid

    def authenticate(self, block: int, key_type: KeyType, key: bytes) -> None:
        """Authenticate the sector of ``block`` (Load Authentication Keys when
        needed, then Authentication).

        :raises AuthenticationError: when the card refuses the key.
        :raises CardCommandError: for a bad block, key or key type, or a card
            left idle by a refused command and not selected again.
        :raises CardRemovedError, ReaderUnavailableError: see the module docstring.
        """
        _check_block(block)
        if not isinstance(key_type, KeyType):
            raise CardCommandError(f"key type must be KeyType.A or KeyType.B, got {key_type!r}", block=block)
        if len(key) != KEY_SIZE:
            raise CardCommandError(f"a MIFARE Classic key is {KEY_SIZE} bytes, got {len(key)}", block=block)
        self._pending = None
        idle = self._reselect
        slot = self._slot_for(bytes(key))
        try:
            self._card_exchange(GeneralAuthenticate(block, key_type, slot))
        except CardError as exc:
            if idle and not isinstance(exc, CardRemovedError):
                raise CardCommandError(
                    "the card is idle after a refused command: select it (uid) first", block=block
                ) from exc
            raise

    def read_block(self, block: int) -> bytes:
        """Read 16 bytes (Read Binary Blocks).

        :raises CardAccessError: when the card refuses the read.
        :raises CardCommandError: for a block that does not exist.
        :raises CardRemovedError, ReaderUnavailableError: see the module docstring.
        """
        return self._card_exchange(ReadBinary(_check_block(block)))

    def write_block(self, block: int, data: bytes) -> None:
        """Write 16 bytes (Update Binary Blocks).

        :raises CardAccessError: when the card refuses the write.
        :raises CardCommandError: for a block that does not exist or data that is not 16 bytes.
        :raises CardRemovedError, ReaderUnavailableError: see the module docstring.
        """
        _check_block(block)
        if len(data) != BLOCK_SIZE:
            raise CardCommandError(f"a block is {BLOCK_SIZE} bytes, got {len(data)}", block=block)
        self._card_exchange(UpdateBinary(block, bytes(data)))

    def increment(self, block: int, amount: int) -> None:
        """Record an increment of value block ``block`` for the next :meth:`transfer` (no APDU).

        :raises CardCommandError: for a block that does not exist or an amount outside 0..2**31-1.
        """
        self._load(block, ValueOp.INCREMENT, amount)

    def decrement(self, block: int, amount: int) -> None:
        """Record a decrement of value block ``block`` for the next :meth:`transfer` (no APDU).

        :raises CardCommandError: for a block that does not exist or an amount outside 0..2**31-1.
        """
        self._load(block, ValueOp.DECREMENT, amount)

    def restore(self, block: int) -> None:
        """Record a restore of value block ``block`` for the next :meth:`transfer` (no APDU).

        :raises CardCommandError: for a block that does not exist.
        """
        self._pending = None  # a refused load empties the buffer, as on the chip
        self._pending = _Pending(_check_block(block), None)

    def transfer(self, block: int) -> None:
        """Write the pending value operation into ``block``: 1 or 2 APDUs, see
        the module docstring.

        :raises CardCommandError: when nothing is pending (nothing is sent).
        :raises CardAccessError: when source and ``block`` are in different sectors (nothing is sent).
        :raises ValueOperationError: when the card refuses (access bits, not a
            value block, overflow: ``63 00`` does not say which).
        :raises CardRemovedError, ReaderUnavailableError: see the module docstring.
        """
        pending, self._pending = self._pending, None
        _check_block(block)
        if pending is None:
            raise CardCommandError("the transfer buffer is empty: increment, decrement or restore first", block=block)
        if pending.source // BLOCKS_PER_SECTOR != block // BLOCKS_PER_SECTOR:
            raise CardAccessError(
                f"a value can only move within a sector (from block {pending.source})", block=block
            )
        if pending.op is None:
            self._card_exchange(RestoreValueBlock(pending.source, block))
            return
        if pending.source != block:
            self._card_exchange(RestoreValueBlock(pending.source, block))
        self._card_exchange(ValueBlockOperation(block, pending.op, pending.amount))

    def _load(self, block: int, op: ValueOp, amount: int) -> None:
        self._pending = None  # a refused load empties the buffer, as on the chip
        _check_block(block)
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= VALUE_MAX:
            raise CardCommandError(f"amount {amount!r} outside 0..{VALUE_MAX}", block=block)
        self._pending = _Pending(block, op, amount)

    # -- key slots ------------------------------------------------------------------

    def _slot_for(self, key: bytes) -> int:
        digest = hashlib.sha256(key).digest()
        for slot, held in self._slots.items():
            if held == digest:
                self._touch(slot)
                return slot
        slot = self._slot_order[0]
        self._slots.pop(slot, None)
        self._card_exchange(LoadKey(slot, key))
        self._slots[slot] = digest
        self._touch(slot)
        return slot

    def _touch(self, slot: int) -> None:
        self._slot_order.remove(slot)
        self._slot_order.append(slot)

    # -- exchanges ------------------------------------------------------------------

    def _card_exchange(self, command: Command) -> bytes:
        """One card command on the connected card; a refusal leaves the card idle."""
        if self._card is None:
            self._connect()
        try:
            return self._exchange(command)
        except CardError as exc:
            if not isinstance(exc, CardRemovedError):
                self._reselect = True
            raise

    def _exchange(self, command: Command) -> bytes:
        card = self._card
        if card is None:
            raise CardRemovedError("no card connected")
        hresult, response = scard.SCardTransmit(card, self._protocol, list(command.encode()))
        block = getattr(command, "block", getattr(command, "source", None))
        if hresult != scard.SCARD_S_SUCCESS:
            self._fail("SCardTransmit", hresult, block=block)
        if not response:
            # vpcd answers nothing when the card vanished mid-command; a real
            # reader would report the removal: either way the command was torn.
            self._disconnect()
            raise CardRemovedError("the reader got no answer: the card left the field during the command",
                                   block=block)
        return check_response(command, Response.decode(bytes(response)))

    def _count_cards(self) -> int | None:
        """Cards the reader lists (InListPassiveTarget, MaxTg 2); ``None`` when it does not answer."""
        if self._escape is False or self._card is None:
            return None
        try:
            answer = self._exchange(InListPassiveTarget(2).apdu())
            count = InListPassiveTargetResponse.decode(answer).nb_tg
        except ReaderProtocolError as exc:
            self._escape = False
            log.info("%s does not answer InListPassiveTarget (%s): a second card in the field goes unnoticed",
                     self.name, exc)
            return None
        self._escape = True
        return count

    # -- PC/SC plumbing -------------------------------------------------------------

    def _ctx(self) -> int:
        if self._context is None:
            self._context = _establish()
        return self._context

    def _find_reader(self) -> str:
        if self._reader is not None:
            return self._reader
        for attempt in (1, 2):
            fresh = self._context is None
            try:
                names = _list_names(self._ctx())
                break
            except ReaderUnavailableError:
                # A context from before a pcscd restart fails every call: once
                # more on a fresh one.
                self._drop_context()
                if fresh or attempt == 2:
                    raise
        if self.wanted:
            chosen = next((n for n in names if self.wanted.lower() in n.lower()), None)
            missing = f"no PC/SC reader whose name contains {self.wanted!r}"
        else:
            chosen = next((n for n in names if is_contactless(n)), None)
            missing = "no contactless PC/SC reader (name one with pcsc:NAME)"
        if chosen is None:
            listed = ", ".join(repr(n) for n in names) or "none"
            raise ReaderUnavailableError(f"{missing}; readers: {listed}")
        self._reader = chosen
        self._escape = None
        log.debug("using PC/SC reader %r", chosen)
        return chosen

    def _context_call(self, function: str, call: Callable[[int, str], list[Any]]) -> list[Any]:
        """A PC/SC call on the context and the reader's name; after pcscd
        restarted (or the reader came back), once more on a fresh context."""
        for attempt in (1, 2):
            fresh = self._context is None
            reader = self._find_reader()
            result = call(self._ctx(), reader)
            hresult = result[0]
            if hresult == scard.SCARD_S_SUCCESS or _is(hresult, _TIMEOUT):
                return result
            if attempt == 1 and not fresh and _is(hresult, _SERVICE_GONE | _READER_GONE):
                self._drop_context()
                continue
            self._fail(function, hresult)
        raise AssertionError("unreachable")

    def _connect(self) -> None:
        self._disconnect()
        _, card, protocol = self._context_call(
            "SCardConnect", lambda context, reader: scard.SCardConnect(context, reader, _SHARE, _PROTOCOLS)
        )
        self._card, self._protocol = card, protocol
        self._forget_card()

    def _reset_card(self) -> None:
        # A card that refused a command is idle: the reader activates it again
        # (RF reset, anticollision, select) when the card is reset.
        card = self._card
        if card is None:
            raise CardRemovedError("no card connected")
        hresult, protocol = scard.SCardReconnect(card, _SHARE, _PROTOCOLS, scard.SCARD_RESET_CARD)
        if hresult != scard.SCARD_S_SUCCESS:
            self._fail("SCardReconnect", hresult)
        self._protocol = protocol
        self._pending = None

    def _disconnect(self) -> None:
        card, self._card = self._card, None
        self._forget_card()
        if card is not None:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)

    def _forget_card(self) -> None:
        # What is known for one card connection only: the key slots (another
        # program may use the reader between two connections), the transfer
        # buffer, and the idle state, which a new activation clears.
        self._slots.clear()
        self._pending = None
        self._reselect = False

    def _drop_context(self) -> None:
        context = self._context
        self._context = self._reader = self._card = None
        self._forget_card()
        if context is not None:
            scard.SCardReleaseContext(context)

    def _fail(self, function: str, hresult: int, *, block: int | None = None) -> NoReturn:
        """Raise our error for a failed PC/SC call, dropping what it invalidated."""
        cause = BaseSCardException(message=f"{function} failed", hresult=hresult)
        if _is(hresult, _SERVICE_GONE):
            self._drop_context()
            raise ReaderUnavailableError(_PCSCD_DOWN) from cause
        if _is(hresult, _READER_GONE):
            name = self.name
            self._card = self._reader = None
            self._forget_card()
            raise ReaderUnavailableError(f"reader {name!r} is gone ({cause})") from cause
        if _is(hresult, _CARD_GONE):
            self._disconnect()
            raise CardRemovedError(f"the card left the field ({cause})", block=block) from cause
        if _is(hresult, _SHARING_VIOLATION):
            raise ReaderUnavailableError(f"reader {self.name!r} is in use by another program ({cause})") from cause
        if _is(hresult, _CANCELLED):
            raise ReaderUnavailableError(f"the wait on {self.name!r} was cancelled: the reader was closed") from cause
        raise ReaderProtocolError(f"{function} on {self.name!r}: {cause}") from cause

    def _card_still_there(self) -> bool:
        card = self._card
        if card is None:
            return False
        hresult = scard.SCardStatus(card)[0]
        if hresult == scard.SCARD_S_SUCCESS:
            return True
        if _is(hresult, _SERVICE_GONE):
            # A connection from before a pcscd restart: gone, like the card.
            self._drop_context()
            return False
        if not _is(hresult, _CARD_GONE):
            self._fail("SCardStatus", hresult)
        self._disconnect()
        return False

    def _state(self, timeout_ms: int, known: int = scard.SCARD_STATE_UNAWARE) -> int:
        """The reader's event state (SCardGetStatusChange); ``known`` on timeout."""
        hresult, states = self._context_call(
            "SCardGetStatusChange",
            lambda context, reader: scard.SCardGetStatusChange(context, timeout_ms, [(reader, known)]),
        )
        if _is(hresult, _TIMEOUT):
            return known
        state = int(states[0][1])
        if state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
            name, self._reader = self.name, None
            raise ReaderUnavailableError(f"reader {name!r} is gone")
        return state & ~scard.SCARD_STATE_CHANGED

    def _wait_for_state(self, *, present: bool, deadline: float) -> None:
        """Block until the reader shows a card (or none); ReaderTimeoutError at ``deadline``."""
        state = self._state(0)
        while _has_card(state) != present:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                what = "no card came to" if present else "the card is still in"
                raise ReaderTimeoutError(f"{what} the field of {self.name} within the timeout")
            # In slices, so that a close() from another thread ends the wait.
            state = self._state(min(_STATUS_SLICE_MS, max(1, math.ceil(remaining * 1000))), state)
            if self._closed:
                raise ReaderUnavailableError(f"reader {self.name!r} was closed during the wait")


def _has_card(state: int) -> bool:
    return state & scard.SCARD_STATE_PRESENT != 0 and state & scard.SCARD_STATE_MUTE == 0


def _establish() -> int:
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        cause = EstablishContextException(hresult)
        message = _PCSCD_DOWN if _is(hresult, _SERVICE_GONE) else f"cannot talk to pcscd: {cause}"
        raise ReaderUnavailableError(message) from cause
    return int(context)


def _list_names(context: int) -> list[str]:
    hresult, names = scard.SCardListReaders(context, [])
    if hresult == scard.SCARD_S_SUCCESS:
        return list(names)
    if _is(hresult, _NO_READERS):
        return []
    cause = ListReadersException(hresult)
    message = _PCSCD_DOWN if _is(hresult, _SERVICE_GONE) else f"cannot list PC/SC readers: {cause}"
    raise ReaderUnavailableError(message) from cause


def list_readers() -> list[tuple[str, str]]:
    """The readers pcscd offers, as (URI, description) pairs, contactless ones first.

    :raises ReaderUnavailableError: when pcscd is not running.
    """
    context = _establish()
    try:
        rows = []
        for name in _list_names(context):
            kind = "contactless PC/SC reader" if is_contactless(name) else "PC/SC reader"
            hresult, states = scard.SCardGetStatusChange(context, 0, [(name, scard.SCARD_STATE_UNAWARE)])
            present = hresult == scard.SCARD_S_SUCCESS and _has_card(int(states[0][1]))
            rows.append((is_contactless(name), f"pcsc:{name}", f"{kind}, {'card present' if present else 'no card'}"))
    finally:
        scard.SCardReleaseContext(context)
    return [(uri, description) for _, uri, description in sorted(rows, key=lambda row: not row[0])]


def open_pcsc(uri: ReaderUri) -> PcscReader:
    """The reader named by a ``pcsc:`` URI: ``pcsc:`` the first contactless
    reader, ``pcsc:NAME`` the first whose name contains NAME; ``?timeout=SECONDS``
    waits that long for pcscd and the reader (default: fail at once).

    :raises ReaderUriError: for an unknown parameter or a bad timeout.
    :raises ReaderUnavailableError: when pcscd or the reader is missing (after the timeout).
    """
    uri.check_params(("timeout",))
    timeout = uri.float_param("timeout", -1.0, 600.0) or 0.0
    if timeout < 0:
        raise ReaderUriError(f"reader URI {uri}: timeout={timeout:g} is not a number of seconds >= 0")
    return PcscReader(uri.target or None).open(timeout)
