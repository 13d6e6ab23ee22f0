"""A virtual card for vsmartcard's vpcd: a :class:`~hardware.sim.field.SimField`
seen through pcscd as an ACR122U-class contactless reader shows it.

:class:`VirtualCard` connects to vpcd's TCP port while a card is in the field
and disconnects when the field empties (vpcd reports that to pcscd as card
removal, within its 0.4 s presence poll). It answers the pseudo-APDUs of
:mod:`hardware.pcsc.apdu` by calling the field's
:class:`~hardware.sim.card.SimulatedCard`, so the card's command log, access
rules and tear injection work through PC/SC:

====================================  =========================================
pseudo-APDU                           simulated card commands
====================================  =========================================
Get Data (UID)                        ``uid`` (select)
Load Authentication Keys              none: the key goes to a volatile slot
Authentication                        ``authenticate`` with the slot's key
Read / Update Binary Blocks           ``read_block`` / ``write_block``
Value Block Operation store           ``write_block`` of a value block whose
                                      address byte is the block number
Value Block Operation inc / dec       ``increment`` / ``decrement``, ``transfer``
                                      to the same block
Restore Value Block                   ``restore``, ``transfer``
Read Value Block                      ``read_block``
Direct Transmit InListPassiveTarget   none: lists the cards in the field (at
                                      most MaxTg) without selecting them
====================================  =========================================

Whatever the card refuses answers ``63 00``, as on an ACR122U; an unknown
instruction or PN532 command ``6A 81``. With two cards in the field every card
command answers ``63 00`` (the pseudo-APDUs address one card) and
InListPassiveTarget reports both. A ``CardRemovedError`` from the card (a tear)
means it left the field: the socket is closed without an answer, which pcscd
reports as removal, and the virtual card connects again once a card is placed.

vpcd's framing: each message is a 2-byte big-endian length and the payload. A
1-byte payload is a control message: 00 power off, 01 power on, 02 reset (no
answer), 04 get ATR (answered with the MIFARE Classic 1K ATR; vpcd also polls
it to see whether the card is still there). Anything longer is a command APDU.

The serving thread is stoppable and joinable and never dies silently: an
unexpected exception is logged with its traceback, kept in
:attr:`VirtualCard.error`, and raised again by :meth:`VirtualCard.stop` and
:meth:`VirtualCard.join`. A vpcd that goes away (pcscd restarted) is not a
failure: the virtual card connects again when it is back.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import threading

from card_layout.errors import CardError, CardFormatError, CardRemovedError
from card_layout.value_block import ValueBlock
from hardware.errors import MultipleCardsError, ReaderProtocolError, ReaderTimeoutError
from hardware.pcsc.apdu import (
    ATR_MIFARE_CLASSIC_1K,
    BRTY_106_TYPE_A,
    KEY_SLOTS,
    SW_FUNCTION_NOT_SUPPORTED,
    Command,
    DirectTransmit,
    GeneralAuthenticate,
    GetUid,
    InListPassiveTarget,
    InListPassiveTargetResponse,
    LoadKey,
    ReadBinary,
    ReadValueBlock,
    Response,
    RestoreValueBlock,
    TargetData,
    UnsupportedCommandError,
    UpdateBinary,
    ValueBlockOperation,
    ValueOp,
    parse_command,
)
from hardware.sim.card import SimulatedCard
from hardware.sim.field import SimField

log = logging.getLogger(__name__)

VPCD_CTRL_OFF = 0x00
VPCD_CTRL_ON = 0x01
VPCD_CTRL_RESET = 0x02
VPCD_CTRL_ATR = 0x04

POLL_INTERVAL = 0.02
#: vpcd's port in its stock configuration (/etc/reader.conf.d/vpcd): the
#: reader "Virtual PCD 00 00"; the next port is "Virtual PCD 00 01".
VPCD_DEFAULT_PORT = 0x8C7B
_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only
#: A message's payload follows its length within this time, or the link is broken.
_RECV_TIMEOUT = 2.0


class _LinkClosed(Exception):
    """vpcd closed the connection (pcscd stopped or restarted)."""


class VirtualCard:
    """The cards of ``field`` in vpcd's reader on ``port``.

    :param field: the simulated field; a card placed in it is inserted in the reader.
    :param port: vpcd's TCP port (:attr:`hardware.pcsc.pcscd.Pcscd.port`).
    :param host: where vpcd listens.
    :param poll_interval: how often the field is checked while idle, in seconds.
    :param reader_name: the PC/SC name pcscd gives vpcd's reader on ``port``
        (:attr:`hardware.pcsc.pcscd.Pcscd.reader_name`); by default the name
        of the stock configuration: "Virtual PCD 00 01" on port 35964, else
        "Virtual PCD 00 00".
    """

    def __init__(self, field: SimField, port: int = VPCD_DEFAULT_PORT, *, host: str = "127.0.0.1",
                 poll_interval: float = POLL_INTERVAL, reader_name: str | None = None) -> None:
        self.field = field
        self.port = port
        self.host = host
        slot = 1 if port == VPCD_DEFAULT_PORT + 1 else 0
        self.reader_name = reader_name if reader_name is not None else f"Virtual PCD 00 {slot:02d}"
        self.poll_interval = poll_interval
        self.error: BaseException | None = None
        #: Command APDUs answered (control messages not counted).
        self.apdu_count = 0
        #: Connections made to vpcd, i.e. card insertions pcscd was offered.
        self.connections = 0
        self._keys: list[bytes | None] = [None] * len(KEY_SLOTS)
        self._sock: socket.socket | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread -----------------------------------------------------------------

    def start(self) -> VirtualCard:
        """Start serving in a daemon thread; idempotent while it runs."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stopping.clear()
        self.error = None
        self._thread = threading.Thread(target=self._run, name=f"vpcd-vcard:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect and end the thread.

        :raises ReaderTimeoutError: when the thread does not end within ``timeout``.
        :raises BaseException: the exception the thread failed with, if any.
        """
        self._stopping.set()
        self.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (after :meth:`stop`, or after it failed).

        :raises ReaderTimeoutError: when the thread is still running at ``timeout``.
        :raises BaseException: the exception the thread failed with, if any.
        """
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise ReaderTimeoutError(f"virtual card thread on port {self.port} did not end in {timeout} s")
        if self.error is not None:
            raise self.error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def connected(self) -> bool:
        """Whether the virtual card is connected to vpcd (a card is in the reader)."""
        return self._sock is not None

    def __enter__(self) -> VirtualCard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                if self._sock is None:
                    if not self.field.cards or not self._connect():
                        self._stopping.wait(self.poll_interval)
                    continue
                try:
                    self._serve_once(self._sock)
                except (_LinkClosed, ConnectionError, TimeoutError) as exc:
                    log.info("vpcd on port %d closed the link: %s", self.port, exc)
                    self._disconnect()
        except BaseException as exc:
            self.error = exc
            log.exception("virtual card on port %d failed", self.port)
        finally:
            self._disconnect()

    def _connect(self) -> bool:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=_RECV_TIMEOUT)
        except OSError as exc:
            # pcscd not (yet) listening: a restart in progress, not a failure.
            log.debug("vpcd on port %d not reachable: %s", self.port, exc)
            return False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self.connections += 1
        log.debug("card inserted in vpcd on port %d", self.port)
        return True

    def _disconnect(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
            log.debug("card removed from vpcd on port %d", self.port)

    def _serve_once(self, sock: socket.socket) -> None:
        readable, _, _ = select.select([sock], [], [], self.poll_interval)
        if not self.field.cards:
            self._disconnect()
            return
        if not readable:
            return
        message = self._receive(sock)
        if len(message) == 1:
            answer = self._control(message[0])
        else:
            try:
                answer = self.respond(message)
            except CardRemovedError:
                self._disconnect()
                return
        if answer is not None:
            sock.sendall(struct.pack(">H", len(answer)) + answer)

    def _receive(self, sock: socket.socket) -> bytes:
        (length,) = struct.unpack(">H", self._receive_exactly(sock, 2))
        return self._receive_exactly(sock, length)

    @staticmethod
    def _receive_exactly(sock: socket.socket, count: int) -> bytes:
        data = b""
        while len(data) < count:
            # vpcd writes the length and the payload separately: without a
            # quick ACK each exchange waits for the delayed ACK (~40 ms).
            # Linux clears the option after each ACK, so it is set every time.
            if _TCP_QUICKACK is not None:
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise _LinkClosed("end of stream")
            data += chunk
        return data

    def _control(self, code: int) -> bytes | None:
        if code == VPCD_CTRL_ATR:
            return ATR_MIFARE_CLASSIC_1K
        if code not in (VPCD_CTRL_OFF, VPCD_CTRL_ON, VPCD_CTRL_RESET):
            log.warning("vpcd sent unknown control message %02X; ignored", code)
        return None

    # -- the reader ---------------------------------------------------------------

    def respond(self, apdu: bytes) -> bytes:
        """The response APDU an ACR122U would give to ``apdu``.

        :raises CardRemovedError: when the card left the field during the
            command (a tear): there is no answer.
        """
        self.apdu_count += 1
        try:
            command = parse_command(apdu)
        except UnsupportedCommandError:
            return Response(b"", SW_FUNCTION_NOT_SUPPORTED).encode()
        except ReaderProtocolError:
            return Response.failed().encode()
        if isinstance(command, DirectTransmit):
            return self._direct_transmit(command).encode()
        if isinstance(command, LoadKey):
            self._keys[command.slot] = command.key
            return Response.success().encode()
        try:
            card = self.field.single()
            return Response.success(self._card_command(card, command)).encode()
        except CardRemovedError:
            raise
        except (CardError, MultipleCardsError):
            return Response.failed().encode()

    def _card_command(self, card: SimulatedCard, command: Command) -> bytes:
        if isinstance(command, GetUid):
            return card.uid()
        if isinstance(command, GeneralAuthenticate):
            key = self._keys[command.slot]
            if key is None:
                raise CardFormatError(f"no key loaded in slot {command.slot}")
            card.authenticate(command.block, command.key_type, key)
        elif isinstance(command, ReadBinary):
            return card.read_block(command.block)
        elif isinstance(command, UpdateBinary):
            card.write_block(command.block, command.data)
        elif isinstance(command, ValueBlockOperation):
            if command.op is ValueOp.STORE:
                card.write_block(command.block, ValueBlock(command.value, command.block).encode())
            else:
                load = card.increment if command.op is ValueOp.INCREMENT else card.decrement
                load(command.block, command.value)
                card.transfer(command.block)
        elif isinstance(command, RestoreValueBlock):
            card.restore(command.source)
            card.transfer(command.target)
        elif isinstance(command, ReadValueBlock):
            value = ValueBlock.decode(card.read_block(command.block), command.block).value
            return struct.pack(">i", value)
        return b""

    def _direct_transmit(self, command: DirectTransmit) -> Response:
        try:
            listing = InListPassiveTarget.decode(command.payload)
        except ReaderProtocolError:
            return Response(b"", SW_FUNCTION_NOT_SUPPORTED)
        cards = self.field.cards[: listing.max_tg] if listing.br_ty == BRTY_106_TYPE_A else ()
        targets = tuple(TargetData.mifare_1k(tg, _stored_uid(card)) for tg, card in enumerate(cards, start=1))
        return Response.success(InListPassiveTargetResponse(targets).encode())


def _stored_uid(card: SimulatedCard) -> bytes:
    # The UID from block 0 without a select, so that counting the cards
    # leaves their command logs as they are.
    return card.image()[: card.uid_size]
