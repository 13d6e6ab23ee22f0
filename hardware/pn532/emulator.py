"""A PN532 behind a real pseudo-terminal, with simulated cards in its field.

:class:`Pn532Emulator` opens a pty (``os.openpty``) and answers, on the
master side, the frames a host writes to the slave: give :attr:`Pn532Emulator.port`
to pyserial, to ``pn532:`` or to ``nfcpy:tty:``. It keeps the slave open
itself, so the host can close and reopen the port without the pty hanging up
(EIO). Its field is a :class:`~hardware.sim.field.SimField`: tests place,
remove and tear cards the same way as with the ``sim:`` reader, and the
cards' command logs record what arrived through the PN532.

Commands answered (PN532 User Manual names), enough for this project's
driver and for nfcpy 1.0.4's ``nfc.clf.pn532`` initialisation and sensing:

- Diagnose (NumTst 0x00 communication line test: echo, also in extended
  frames; 0x01 ROM and 0x02 RAM tests: OK), GetFirmwareVersion (PN532 v1.6),
  GetGeneralStatus, ReadRegister / WriteRegister (a register file; CIU_RxMode
  bit 7, RxCRCEn, is honoured: cleared, a READ answers 16 bytes plus CRC_A as
  the real CIU does), SetSerialBaudrate, SetParameters, SAMConfiguration,
  PowerDown (the byte that wakes the chip again is lost, as on HSU),
  RFConfiguration (RF field; MaxRetries: with MxRtyPassiveActivation 0xFF,
  the power-up default, InListPassiveTarget waits until a card comes or the
  host aborts with an ACK);
- InListPassiveTarget (106 kbps type A, MaxTg 1 or 2, optional UID), InSelect,
  InDeselect, InRelease;
- InDataExchange carrying MIFARE Classic AUTHENTICATION (60/61), READ (30),
  WRITE (A0), DECREMENT (C0), INCREMENT (C1), RESTORE (C2) and TRANSFER (B0)
  to the :class:`~hardware.sim.card.SimulatedCard`. Its refusals become
  status bytes as a real PN532 reports them: a card that does not answer
  (removed, torn: ``CardRemovedError``) 0x01; a refused authentication, or an
  authentication to an idle card, 0x14; any other NAK 0x13.

Other commands get an ACK and the error frame; host ACK frames abort a
command in progress, NACK frames make the chip send its last response again.

Fault injection (each applied in the emulator thread, counted in
:attr:`Pn532Emulator.faults`): :meth:`~Pn532Emulator.inject_garbage`,
:meth:`~Pn532Emulator.corrupt_responses`, :meth:`~Pn532Emulator.nack_commands`,
:meth:`~Pn532Emulator.ignore_commands`,
:meth:`~Pn532Emulator.garbage_instead_of_responses`, :meth:`~Pn532Emulator.mute`,
:meth:`~Pn532Emulator.unplug` / :meth:`~Pn532Emulator.replug`; :meth:`~Pn532Emulator.clear_faults`.

The emulator runs in a thread that can be stopped and joined; an exception in
it is kept in :attr:`Pn532Emulator.error`, logged, and raised again by
:meth:`~Pn532Emulator.stop`.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import queue
import select
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from card_layout.access import KeyType
from card_layout.errors import CardError, CardRemovedError
from hardware.errors import HardwareError
from hardware.pn532.chipset import CMD, CMD_BY_NAME, FirmwareVersion, PassiveTarget
from hardware.pn532.frames import (
    ACK,
    ERROR,
    NACK,
    TFI_HOST,
    TFI_PN532,
    Ack,
    CorruptFrame,
    ErrorFrame,
    FrameParser,
    InformationFrame,
    Nack,
    encode_information,
)
from hardware.pn532.mifare import (
    AUTHENTICATION_A,
    AUTHENTICATION_B,
    DECREMENT,
    INCREMENT,
    READ,
    RESTORE,
    TRANSFER,
    WRITE,
)
from hardware.sim.card import SimulatedCard
from hardware.sim.field import SimField

log = logging.getLogger(__name__)

PN532_V1_6 = FirmwareVersion(ic=0x32, version=1, revision=6, support=0x07)

CIU_TX_MODE = 0x6302
CIU_RX_MODE = 0x6303
CIU_TX_CONTROL = 0x6304
CIU_FIFO_DATA = 0x6339
RX_CRC_EN = 0x80
SENS_REQ = 0x26
"""REQA: what the CIU FIFO still holds after a poll no card answered (nfcpy reads it)."""

STATUS_OK = 0x00
STATUS_TIMEOUT = 0x01
STATUS_FORMAT_ERROR = 0x13
STATUS_AUTHENTICATION = 0x14
STATUS_CONTEXT = 0x27

POLL_INTERVAL = 0.005
"""Seconds between looks at the field while InListPassiveTarget waits for a card."""
WRITE_STALL = 1.0
"""Seconds the emulator waits for a host that reads nothing before dropping its answer."""
CONTROL_TIMEOUT = 5.0


class EmulatorError(HardwareError):
    """The emulator thread failed or does not respond; the failure is the cause."""


DESFIRE_ATS = bytes.fromhex("75778002")
"""An ATS (without its length byte) for cards presented as ISO/IEC 14443-4."""


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """How a card presents itself to InListPassiveTarget: SENS_RES (ATQA), SEL_RES
    (SAK) and, for an ISO/IEC 14443-4 card (SAK bit 6), the ATS the chip fetches."""

    sens_res: int
    sel_res: int
    ats: bytes = b""


def crc_a(data: bytes) -> bytes:
    """ISO/IEC 14443-3 CRC_A of ``data``, least significant byte first."""
    crc = 0x6363
    for byte in data:
        byte ^= crc & 0xFF
        byte = (byte ^ (byte << 4)) & 0xFF
        crc = (crc >> 8) ^ (byte << 8) ^ (byte << 3) ^ (byte >> 4)
    return crc.to_bytes(2, "little")


@dataclass(eq=False)
class _Request:
    """An action for the emulator thread (which owns the pty's file descriptors)."""

    action: Callable[[], None]
    finished: threading.Event = dataclasses.field(default_factory=threading.Event)
    done: bool = False
    failure: Exception | None = None


class _Faults:
    """Pending faults, set from the test's thread and consumed by the emulator's."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.garbage: collections.deque[bytes] = collections.deque()
        self.instead: collections.deque[bytes] = collections.deque()
        self.corrupt = 0
        self.nack = 0
        self.ignore = 0
        self.muted_until = 0.0


class Pn532Emulator:
    """A PN532 on a pseudo-terminal; see the module docstring.

    :param field: the RF field and its cards (a new empty one by default).
    :param link: a path at which to keep a symlink to the pty's slave, which
        :meth:`replug` points at the new pty: a port name that survives an
        unplug, as ``/dev/ttyUSB0`` does.
    :param firmware: what GetFirmwareVersion answers.
    """

    def __init__(
        self,
        field: SimField | None = None,
        *,
        link: os.PathLike[str] | str | None = None,
        firmware: FirmwareVersion = PN532_V1_6,
    ) -> None:
        self.field = field if field is not None else SimField()
        self.firmware = firmware
        self._link = Path(link) if link is not None else None
        self.error: BaseException | None = None
        self.commands: list[str] = []
        """Names of the commands received and acknowledged, in order."""
        self.faults: collections.Counter[str] = collections.Counter()
        """How many times each fault was applied (``garbage``, ``corrupt``, ``nack``, ``ignored``,
        ``instead``, ``muted``, ``unplugged``)."""
        self._faults = _Faults()
        self._info: dict[SimulatedCard, TargetInfo] = {}
        self._requests: queue.Queue[_Request] = queue.Queue()
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._master: int | None = None
        self._slave: int | None = None
        self.slave_path = ""
        self._thread = threading.Thread(target=self._run, name="pn532-emulator", daemon=True)
        self._reset_chip()
        self._open_pty()

    # -- the host's side --------------------------------------------------------------------

    @property
    def port(self) -> str:
        """The path for the host: the link if there is one, else the pty's slave."""
        return str(self._link) if self._link is not None else self.slave_path

    def start(self) -> Pn532Emulator:
        """Start answering. :raises EmulatorError: when it was started before."""
        if self._thread.ident is not None:
            raise EmulatorError("the PN532 emulator was already started")
        self._thread.start()
        return self

    def stop(self, timeout: float = CONTROL_TIMEOUT) -> None:
        """Stop the thread, wait for it, close the pty. Idempotent.

        :raises EmulatorError: when the thread does not end within ``timeout`` s.
        :raises BaseException: the exception that ended the thread, if any.
        """
        self._stopping.set()
        self._poke()
        if self._thread.ident is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise EmulatorError(f"the PN532 emulator thread did not stop within {timeout:g} s")
        self._close_pty()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        if self.error is not None:
            raise self.error

    def __enter__(self) -> Pn532Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def present_as(self, card: SimulatedCard, *, sens_res: int, sel_res: int, ats: bytes | None = None) -> None:
        """Make ``card`` answer InListPassiveTarget with this ATQA and SAK (another
        kind of card), and, when the SAK says ISO/IEC 14443-4, this ATS."""
        if ats is None:
            ats = DESFIRE_ATS if sel_res & 0x20 else b""
        self._info[card] = TargetInfo(sens_res, sel_res, ats)

    # -- faults -------------------------------------------------------------------------------

    def inject_garbage(self, data: bytes, frames: int = 1) -> None:
        """Send ``data`` before each of the next ``frames`` frames the chip sends (ACKs included)."""
        with self._faults.lock:
            self._faults.garbage.extend([bytes(data)] * frames)

    def corrupt_responses(self, count: int = 1) -> None:
        """Send the next ``count`` responses (resent ones included) with a wrong data checksum."""
        with self._faults.lock:
            self._faults.corrupt += count

    def nack_commands(self, count: int = 1) -> None:
        """Answer the next ``count`` commands with a NACK instead of the ACK, and not execute them."""
        with self._faults.lock:
            self._faults.nack += count

    def ignore_commands(self, count: int = 1) -> None:
        """Take the next ``count`` commands off the line without acknowledging
        or executing them: the host's ACK wait runs out (a frame lost to noise)."""
        with self._faults.lock:
            self._faults.ignore += count

    def garbage_instead_of_responses(self, data: bytes, count: int = 1) -> None:
        """Execute and acknowledge the next ``count`` commands, but send ``data`` instead of each response."""
        with self._faults.lock:
            self._faults.instead.extend([bytes(data)] * count)

    def mute(self, seconds: float) -> None:
        """Ignore everything received for ``seconds`` from now: a hung or unpowered chip."""
        with self._faults.lock:
            self._faults.muted_until = time.monotonic() + seconds

    def unmute(self) -> None:
        """End :meth:`mute` now."""
        with self._faults.lock:
            self._faults.muted_until = 0.0

    def clear_faults(self) -> None:
        """Cancel every fault not applied yet, mute included."""
        with self._faults.lock:
            self._faults.garbage.clear()
            self._faults.instead.clear()
            self._faults.corrupt = self._faults.nack = self._faults.ignore = 0
            self._faults.muted_until = 0.0

    def unplug(self) -> None:
        """Close the pty (the host's reads and writes fail with EIO) and remove the link.

        :raises EmulatorError: when the emulator thread is not running.
        """
        self._call(self._unplug)

    def replug(self) -> None:
        """A new pty with a chip fresh from power-up, the link pointing to it.

        :raises EmulatorError: when the emulator thread is not running.
        """
        self._call(self._replug)

    # -- control -------------------------------------------------------------------------------

    def _poke(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(BlockingIOError):  # a full pipe wakes the thread all the same
                os.write(self._wake_w, b"\x00")

    def _call(self, action: Callable[[], None]) -> None:
        if not self._thread.is_alive():
            raise EmulatorError("the PN532 emulator is not running") from self.error
        request = _Request(action)
        self._requests.put(request)
        self._poke()
        if not request.finished.wait(CONTROL_TIMEOUT) or not request.done:
            raise EmulatorError(f"the PN532 emulator did not carry out {action.__name__}") from (
                request.failure or self.error
            )

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        # Raw: no echo of the host's bytes back to the host, no line editing.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.slave_path = os.ttyname(slave)
        if self._link is not None:
            temporary = self._link.with_name(self._link.name + ".new")
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(self.slave_path)
            temporary.replace(self._link)

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if self._link is not None:
            self._link.unlink(missing_ok=True)

    def _unplug(self) -> None:
        self._close_pty()
        self.faults["unplugged"] += 1

    def _replug(self) -> None:
        self._close_pty()
        self._reset_chip()
        self._open_pty()

    def _reset_chip(self) -> None:
        self._parser = FrameParser()
        self._registers: dict[int, int] = {CIU_TX_MODE: 0x80, CIU_RX_MODE: RX_CRC_EN, CIU_TX_CONTROL: 0x80}
        self._targets: list[SimulatedCard | None] = []
        self._rf_on = False
        self._passive_retries = 0xFF
        self._pending: tuple[int, bytes] | None = None
        self._last_response: bytes | None = None
        self._asleep = False

    # -- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._serve_requests()
                fds = [self._wake_r] if self._master is None else [self._wake_r, self._master]
                timeout = POLL_INTERVAL if self._pending is not None else None
                readable, _, _ = select.select(fds, [], [], timeout)
                if self._wake_r in readable:
                    os.read(self._wake_r, 4096)
                if self._master is not None and self._master in readable:
                    try:
                        data = os.read(self._master, 4096)
                    except BlockingIOError:
                        data = b""  # select woke up for nothing
                    self._receive(data)
                if self._pending is not None:
                    self._retry_pending()
        except BaseException as exc:
            self.error = exc
            log.exception("the PN532 emulator failed")
        finally:
            self._serve_requests(run=False)

    def _serve_requests(self, *, run: bool = True) -> None:
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return
            try:
                if run:
                    request.action()
                    request.done = True
            except Exception as exc:
                # The caller gets the failure; the chip keeps answering on what is left.
                request.failure = exc
            finally:
                request.finished.set()

    def _receive(self, data: bytes) -> None:
        with self._faults.lock:
            muted = time.monotonic() < self._faults.muted_until
        if muted:
            self.faults["muted"] += 1
            return
        if self._asleep:
            # On HSU the byte that wakes the chip from power down is lost.
            self._asleep = False
            data = data[1:]
        self._parser.feed(data)
        while (frame := self._parser.next()) is not None:
            self._handle(frame)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + WRITE_STALL
        while view and self._master is not None:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                written = 0
            view = view[written:]
            if view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning("the host reads nothing: %d bytes dropped", len(view))
                    return
                select.select([], [self._master], [], remaining)

    def _garbage(self) -> bytes:
        with self._faults.lock:
            if not self._faults.garbage:
                return b""
            self.faults["garbage"] += 1
            return self._faults.garbage.popleft()

    def _send(self, *frames: bytes) -> None:
        self._write(b"".join(self._garbage() + frame for frame in frames))

    def _response_bytes(self, frame: bytes) -> bytes:
        with self._faults.lock:
            if self._faults.corrupt:
                self._faults.corrupt -= 1
                self.faults["corrupt"] += 1
                return frame[:-2] + bytes([frame[-2] ^ 0x5A]) + frame[-1:]
        return frame

    def _respond(self, code: int, data: bytes, *, acknowledge: bool) -> None:
        frame = encode_information(TFI_PN532, bytes([code + 1]) + data)
        self._last_response = frame
        with self._faults.lock:
            instead = self._faults.instead.popleft() if self._faults.instead else None
        if instead is not None:
            self.faults["instead"] += 1
            self._send(*((ACK,) if acknowledge else ()))
            self._write(instead)
            return
        self._send(*((ACK,) if acknowledge else ()), self._response_bytes(frame))

    def _handle(self, frame: InformationFrame | Ack | Nack | ErrorFrame | CorruptFrame) -> None:
        if isinstance(frame, Ack):
            self._pending = None  # the host aborts the command in progress
            return
        if isinstance(frame, Nack):
            if self._last_response is not None:
                self._send(self._response_bytes(self._last_response))
            return
        if isinstance(frame, CorruptFrame | ErrorFrame):
            return  # the chip does not acknowledge a frame it cannot read: the host sends it again
        self._pending = None
        with self._faults.lock:
            ignore = self._faults.ignore > 0
            if ignore:
                self._faults.ignore -= 1
            nack = not ignore and self._faults.nack > 0
            if nack:
                self._faults.nack -= 1
        if ignore:
            self.faults["ignored"] += 1
            return
        if nack:
            self.faults["nack"] += 1
            self._send(NACK)
            return
        if frame.tfi != TFI_HOST or not frame.data or frame.data[0] not in _HANDLERS:
            self._send(ACK, ERROR)
            return
        code, params = frame.data[0], frame.data[1:]
        self.commands.append(CMD[code])
        try:
            response = _HANDLERS[code](self, params)
        except _SyntaxError:
            self._send(ACK, ERROR)
            return
        if response is None:
            self._send(ACK)  # the answer comes later (InListPassiveTarget waiting for a card)
            return
        self._respond(code, response, acknowledge=True)
        if code == CMD_BY_NAME["PowerDown"]:
            self._asleep = True

    # -- commands ------------------------------------------------------------------------------

    def _diagnose(self, params: bytes) -> bytes:
        test = _param(params, 0)
        if test == 0x00:
            return params  # communication line test: the chip echoes NumTst and InParam
        if test in (0x01, 0x02):
            return b"\x00"  # ROM and RAM tests pass
        raise _SyntaxError

    def _get_firmware_version(self, params: bytes) -> bytes:
        firmware = self.firmware
        return bytes([firmware.ic, firmware.version, firmware.revision, firmware.support])

    def _get_general_status(self, params: bytes) -> bytes:
        active = [tg for tg, card in enumerate(self._targets, 1) if card is not None]
        targets = b"".join(bytes([tg, 0x00, 0x00, 0x10]) for tg in active)  # 106 kbps both ways, MIFARE
        return bytes([0x00, int(self._rf_on), len(active)]) + targets + b"\x00"

    def _read_register(self, params: bytes) -> bytes:
        if not params or len(params) % 2:
            raise _SyntaxError
        addresses = [params[i] << 8 | params[i + 1] for i in range(0, len(params), 2)]
        return bytes(self._registers.get(address, 0x00) for address in addresses)

    def _write_register(self, params: bytes) -> bytes:
        if not params or len(params) % 3:
            raise _SyntaxError
        for i in range(0, len(params), 3):
            self._registers[params[i] << 8 | params[i + 1]] = params[i + 2]
        return b""

    def _set_serial_baudrate(self, params: bytes) -> bytes:
        if _param(params, 0) > 8:
            raise _SyntaxError
        return b""  # a pty has no speed; the host's ACK that follows is ignored

    def _set_parameters(self, params: bytes) -> bytes:
        _param(params, 0)
        return b""

    def _sam_configuration(self, params: bytes) -> bytes:
        if not 1 <= _param(params, 0) <= 4:
            raise _SyntaxError
        return b""

    def _power_down(self, params: bytes) -> bytes:
        _param(params, 0)
        self._rf_on = False
        self._targets = []
        return bytes([STATUS_OK])

    def _rf_configuration(self, params: bytes) -> bytes:
        item = _param(params, 0)
        if item == 0x01:
            self._rf_on = bool(_param(params, 1) & 0x01)
            if not self._rf_on:
                self._targets = []  # unpowered cards forget their selection
        elif item == 0x05:
            self._passive_retries = _param(params, 3)
        return b""

    def _in_list_passive_target(self, params: bytes) -> bytes | None:
        max_tg, brty = _param(params, 0), _param(params, 1)
        if max_tg not in (1, 2) or brty > 8:
            raise _SyntaxError
        if brty != 0x00:
            return b"\x00"  # only type A cards in this field
        listed = self._activate(max_tg, params[2:])
        if listed is not None:
            return listed
        if self._passive_retries == 0xFF:
            self._pending = (max_tg, bytes(params[2:]))
            return None
        return b"\x00"

    def _retry_pending(self) -> None:
        assert self._pending is not None
        max_tg, uid = self._pending
        listed = self._activate(max_tg, uid)
        if listed is not None:
            self._pending = None
            self._respond(CMD_BY_NAME["InListPassiveTarget"], listed, acknowledge=False)

    def _activate(self, max_tg: int, wanted: bytes) -> bytes | None:
        """Select up to ``max_tg`` cards; InListPassiveTarget's answer, ``None`` when no card answered."""
        self._rf_on = True
        self._registers[CIU_RX_MODE] = self._registers.get(CIU_RX_MODE, 0) | RX_CRC_EN
        self._targets = []
        listed = b""
        for card in self.field.cards:
            if len(self._targets) == max_tg:
                break
            try:
                uid = card.uid()
            except CardError:
                continue  # a card that fails anticollision or leaves the field is not seen
            if wanted and uid != wanted:
                continue
            self._targets.append(card)
            info = self._info.get(card) or TargetInfo(0x0004 if len(uid) == 4 else 0x0044, 0x08)
            listed += PassiveTarget(len(self._targets), info.sens_res, info.sel_res, uid, info.ats).encode()
        if not self._targets:
            self._registers[CIU_FIFO_DATA] = SENS_REQ
            return None
        return bytes([len(self._targets)]) + listed

    def _target(self, params: bytes) -> SimulatedCard | None:
        tg = _param(params, 0) & 0x3F
        return self._targets[tg - 1] if 1 <= tg <= len(self._targets) else None

    def _in_select(self, params: bytes) -> bytes:
        return bytes([STATUS_OK if self._target(params) is not None else STATUS_CONTEXT])

    def _in_deselect(self, params: bytes) -> bytes:
        _param(params, 0)
        return bytes([STATUS_OK])

    def _in_release(self, params: bytes) -> bytes:
        tg = _param(params, 0) & 0x3F
        if tg == 0:
            self._targets = []
        elif self._target(params) is not None:
            self._targets[tg - 1] = None
        return bytes([STATUS_OK])

    def _in_data_exchange(self, params: bytes) -> bytes:
        card = self._target(params)
        if card is None:
            return bytes([STATUS_CONTEXT])
        if not self._rf_on:
            return bytes([STATUS_TIMEOUT])
        status, answer = self._mifare(card, params[1:])
        return bytes([status]) + answer

    def _mifare(self, card: SimulatedCard, command: bytes) -> tuple[int, bytes]:
        """Forward one MIFARE Classic command to ``card``: (status, answer)."""
        code = command[0] if command else None
        block = command[1] if len(command) > 1 else 0
        answer = b""
        try:
            if code in (AUTHENTICATION_A, AUTHENTICATION_B) and len(command) == 12:
                uid = card.image()[: card.uid_size]
                if command[8:12] != uid[-4:]:
                    return STATUS_AUTHENTICATION, b""  # Crypto1 keyed with another UID cannot succeed
                card.authenticate(block, KeyType.A if code == AUTHENTICATION_A else KeyType.B, command[2:8])
            elif code == READ and len(command) == 2:
                answer = card.read_block(block)
                if not self._registers.get(CIU_RX_MODE, 0) & RX_CRC_EN:
                    answer += crc_a(answer)  # the CIU neither checks nor strips the CRC
            elif code == WRITE and len(command) == 18:
                card.write_block(block, command[2:])
            elif code in (INCREMENT, DECREMENT, RESTORE) and len(command) == 6:
                amount = int.from_bytes(command[2:6], "little")
                if code == INCREMENT:
                    card.increment(block, amount)
                elif code == DECREMENT:
                    card.decrement(block, amount)
                else:
                    card.restore(block)
            elif code == TRANSFER and len(command) == 2:
                card.transfer(block)
            else:
                return STATUS_FORMAT_ERROR, b""  # the card NAKs what it does not know
        except CardRemovedError:
            return STATUS_TIMEOUT, b""
        except CardError:
            # A refused authentication, or one sent to an idle card, fails the
            # Crypto1 handshake; any other refusal is the card's NAK.
            if code in (AUTHENTICATION_A, AUTHENTICATION_B):
                return STATUS_AUTHENTICATION, b""
            return STATUS_FORMAT_ERROR, b""
        return STATUS_OK, answer


class _SyntaxError(Exception):
    """A command the chip answers with the error frame."""


def _param(params: bytes, index: int) -> int:
    if len(params) <= index:
        raise _SyntaxError
    return params[index]


_HANDLERS: dict[int, Callable[[Pn532Emulator, bytes], bytes | None]] = {
    CMD_BY_NAME["Diagnose"]: Pn532Emulator._diagnose,
    CMD_BY_NAME["GetFirmwareVersion"]: Pn532Emulator._get_firmware_version,
    CMD_BY_NAME["GetGeneralStatus"]: Pn532Emulator._get_general_status,
    CMD_BY_NAME["ReadRegister"]: Pn532Emulator._read_register,
    CMD_BY_NAME["WriteRegister"]: Pn532Emulator._write_register,
    CMD_BY_NAME["SetSerialBaudrate"]: Pn532Emulator._set_serial_baudrate,
    CMD_BY_NAME["SetParameters"]: Pn532Emulator._set_parameters,
    CMD_BY_NAME["SAMConfiguration"]: Pn532Emulator._sam_configuration,
    CMD_BY_NAME["PowerDown"]: Pn532Emulator._power_down,
    CMD_BY_NAME["RFConfiguration"]: Pn532Emulator._rf_configuration,
    CMD_BY_NAME["InListPassiveTarget"]: Pn532Emulator._in_list_passive_target,
    CMD_BY_NAME["InSelect"]: Pn532Emulator._in_select,
    CMD_BY_NAME["InDeselect"]: Pn532Emulator._in_deselect,
    CMD_BY_NAME["InRelease"]: Pn532Emulator._in_release,
    CMD_BY_NAME["InDataExchange"]: Pn532Emulator._in_data_exchange,
}
