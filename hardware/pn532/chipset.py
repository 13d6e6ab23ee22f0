"""The PN532's command set, named as in the NXP PN532 User Manual (UM0701-02),
over a :class:`~hardware.pn532.transport.SerialTransport`.

A command is a normal or extended information frame ``D4 CMD params``; the
chip answers an ACK frame, then the response ``D5 CMD+1 data``
(:mod:`hardware.pn532.frames`). :meth:`Pn532Chipset.command` does the
exchange:

1. write the command frame and wait for the ACK; a NACK, an error frame,
   noise or silence instead makes it send the command again, a bounded number
   of times (the chip did not take the command, so sending it again is safe);
2. read the response until the timeout; a response with a bad data checksum
   is answered with a NACK, which makes the chip send it again (bounded);
3. on a timeout, send an ACK, which aborts the command in the chip, so that
   its late answer cannot be taken for the answer to the next command.

Failures: :class:`~hardware.errors.ReaderTimeoutError` (no ACK, no response),
:class:`~hardware.errors.ReaderProtocolError` (a response that makes no
sense), each with the raw bytes received in the message;
:class:`~hardware.errors.ReaderUnavailableError` from the transport. An
error status in a response (InDataExchange's first byte) raises a
:class:`Pn532StatusError` subclass chosen by :func:`status_error`.

Commands with a method here: GetFirmwareVersion, SAMConfiguration,
RFConfiguration, InListPassiveTarget (106 kbps type A), InDataExchange,
InRelease. Any other command of :data:`CMD` goes through
:meth:`Pn532Chipset.command`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import IntEnum

from hardware.errors import ReaderProtocolError, ReaderTimeoutError
from hardware.pn532.frames import (
    ACK,
    NACK,
    TFI_HOST,
    TFI_PN532,
    Ack,
    CorruptFrame,
    ErrorFrame,
    Frame,
    FrameParser,
    Nack,
    encode_information,
    hex_bytes,
)
from hardware.pn532.transport import SerialTransport

log = logging.getLogger(__name__)

CMD: dict[int, str] = {
    # Miscellaneous
    0x00: "Diagnose",
    0x02: "GetFirmwareVersion",
    0x04: "GetGeneralStatus",
    0x06: "ReadRegister",
    0x08: "WriteRegister",
    0x0C: "ReadGPIO",
    0x0E: "WriteGPIO",
    0x10: "SetSerialBaudrate",
    0x12: "SetParameters",
    0x14: "SAMConfiguration",
    0x16: "PowerDown",
    # RF communication
    0x32: "RFConfiguration",
    0x58: "RFRegulationTest",
    # Initiator
    0x56: "InJumpForDEP",
    0x46: "InJumpForPSL",
    0x4A: "InListPassiveTarget",
    0x50: "InATR",
    0x4E: "InPSL",
    0x40: "InDataExchange",
    0x42: "InCommunicateThru",
    0x44: "InDeselect",
    0x52: "InRelease",
    0x54: "InSelect",
    0x60: "InAutoPoll",
    # Target
    0x8C: "TgInitAsTarget",
    0x92: "TgSetGeneralBytes",
    0x86: "TgGetData",
    0x8E: "TgSetData",
    0x94: "TgSetMetaData",
    0x88: "TgGetInitiatorCommand",
    0x90: "TgResponseToInitiator",
    0x8A: "TgGetTargetStatus",
}
"""Command codes and their names in the user manual (§7)."""

CMD_BY_NAME: dict[str, int] = {name: code for code, name in CMD.items()}

ERR: dict[int, str] = {
    0x01: "Time out, the target has not answered",
    0x02: "A CRC error has been detected by the CIU",
    0x03: "A parity error has been detected by the CIU",
    0x04: "During an anti-collision/select operation, an erroneous bit count has been detected",
    0x05: "Framing error during MIFARE operation",
    0x06: "An abnormal bit-collision has been detected during bit wise anti-collision at 106 kbps",
    0x07: "Communication buffer size insufficient",
    0x09: "RF buffer overflow has been detected by the CIU",
    0x0A: "The RF field has not been switched on in time by the counterpart",
    0x0B: "RF protocol error",
    0x0D: "Temperature error: the internal temperature sensor has detected overheating",
    0x0E: "Internal buffer overflow",
    0x10: "Invalid parameter",
    0x12: "DEP protocol: the PN532 does not support the command received from the initiator",
    0x13: "DEP protocol, MIFARE or ISO/IEC 14443-4: the data format does not match the specification",
    0x14: "MIFARE: authentication error",
    0x23: "ISO/IEC 14443-3: UID check byte is wrong",
    0x25: "DEP protocol: invalid device state",
    0x26: "Operation not allowed in this configuration (host controller interface)",
    0x27: "This command is not acceptable due to the current context of the PN532",
    0x29: "The PN532 configured as target has been released by its initiator",
    0x2A: "PN532 and ISO/IEC 14443-3B only: the ID of the card does not match",
    0x2B: "PN532 and ISO/IEC 14443-3B only: the card previously activated has disappeared",
    0x2C: "Mismatch between the NFCID3 initiator and the NFCID3 target in DEP 212/424 kbps passive",
    0x2D: "An over-current event has been detected",
    0x2E: "NAD missing in DEP frame",
}
"""Error codes of the status byte (user manual §7.1, table "Error code list")."""

STATUS_TIMEOUT = 0x01
STATUS_FORMAT_ERROR = 0x13
STATUS_MIFARE_AUTHENTICATION = 0x14
_RF_ERRORS = frozenset({0x02, 0x03, 0x04, 0x05, 0x06, 0x09, 0x0A, 0x0B})
_CONTEXT_ERRORS = frozenset({0x25, 0x26, 0x27})

DEFAULT_ACK_TIMEOUT = 0.05
"""Seconds to wait for the ACK. The chip sends it within about 1 ms of the
command's last byte; USB serial adapters buffer for up to 16 ms."""
DEFAULT_RESPONSE_TIMEOUT = 0.5
COMMAND_RESENDS = 2
"""How many times a command is sent again when no ACK comes back."""
RESPONSE_NACKS = 2
"""How many times a corrupt response is answered with a NACK before giving up."""


class RfConfigItem(IntEnum):
    """RFConfiguration's CfgItem (user manual §7.3.1)."""

    RF_FIELD = 0x01
    VARIOUS_TIMINGS = 0x02
    MAX_RTY_COM = 0x04
    MAX_RETRIES = 0x05
    ANALOG_106A = 0x0A
    ANALOG_212_424 = 0x0B
    ANALOG_TYPE_B = 0x0C
    ANALOG_ISO14443_4 = 0x0D


class SamMode(IntEnum):
    """SAMConfiguration's Mode (user manual §7.2.10)."""

    NORMAL = 0x01
    VIRTUAL_CARD = 0x02
    WIRED_CARD = 0x03
    DUAL_CARD = 0x04


BRTY_106A = 0x00
"""InListPassiveTarget's BrTy for 106 kbps type A (ISO/IEC 14443 Type A, MIFARE)."""


# -- status errors --------------------------------------------------------------------


class Pn532StatusError(ReaderProtocolError):
    """A response whose status byte reports an error (:data:`ERR`).

    :param command: the command's name (:data:`CMD`).
    :param status: the error code (the status byte's low 6 bits).
    :param raw: the response's data bytes, for the message.
    """

    def __init__(self, command: str, status: int, raw: bytes = b"") -> None:
        self.command = command
        self.status = status
        self.raw = raw
        meaning = ERR.get(status, "unknown error code")
        suffix = f" (response {hex_bytes(raw)})" if raw else ""
        super().__init__(f"{command}: status 0x{status:02X}, {meaning}{suffix}")


class TargetTimeoutError(Pn532StatusError):
    """Status 0x01: the card did not answer (it left the field, or it is idle)."""


class RfTransmissionError(Pn532StatusError):
    """Statuses 0x02-0x0B: the card's answer was garbled on the air (CRC,
    parity, framing, collision): it is leaving the field or at its edge."""


class FormatError(Pn532StatusError):
    """Status 0x13: the card's answer does not have the expected format. With
    MIFARE Classic this is how a NAK reaches the host: the card refused the
    command (access conditions, not a value block, not authenticated)."""


class MifareAuthenticationError(Pn532StatusError):
    """Status 0x14: MIFARE authentication failed (wrong key, blocked sector, or
    a card that is idle after a refused command and answers nothing)."""


class ContextError(Pn532StatusError):
    """Statuses 0x25-0x27: the command is not acceptable now (no target
    activated for InDataExchange, for instance)."""


class InvalidParameterError(Pn532StatusError):
    """Status 0x10: the chip rejected the command's parameters."""


def status_error(command: str, status: int, raw: bytes = b"") -> Pn532StatusError:
    """The :class:`Pn532StatusError` subclass for ``status``."""
    if status == STATUS_TIMEOUT:
        cls: type[Pn532StatusError] = TargetTimeoutError
    elif status in _RF_ERRORS:
        cls = RfTransmissionError
    elif status == STATUS_FORMAT_ERROR:
        cls = FormatError
    elif status == STATUS_MIFARE_AUTHENTICATION:
        cls = MifareAuthenticationError
    elif status in _CONTEXT_ERRORS:
        cls = ContextError
    elif status == 0x10:
        cls = InvalidParameterError
    else:
        cls = Pn532StatusError
    return cls(command, status, raw)


# -- responses --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FirmwareVersion:
    """GetFirmwareVersion's answer: IC (0x32 for a PN532), Ver, Rev, Support."""

    ic: int
    version: int
    revision: int
    support: int

    @property
    def name(self) -> str:
        return f"PN5{self.ic:02X} v{self.version}.{self.revision}"


@dataclass(frozen=True, slots=True)
class PassiveTarget:
    """One 106 kbps type A target from InListPassiveTarget.

    :param tg: the logical number the chip gave it (1 or 2), for InDataExchange.
    :param sens_res: SENS_RES (ATQA) as the chip reports it, most significant byte first.
    :param sel_res: SEL_RES (SAK).
    :param uid: NFCID1, 4, 7 or 10 bytes.
    :param ats: the ATS of an ISO/IEC 14443-4 card (SAK bit 6), else empty.
    """

    tg: int
    sens_res: int
    sel_res: int
    uid: bytes
    ats: bytes = b""

    def encode(self) -> bytes:
        """The target's bytes in InListPassiveTarget's response."""
        data = bytes([self.tg]) + self.sens_res.to_bytes(2, "big") + bytes([self.sel_res, len(self.uid)]) + self.uid
        if self.ats:
            data += bytes([len(self.ats) + 1]) + self.ats
        return data


def parse_passive_targets(data: bytes) -> list[PassiveTarget]:
    """InListPassiveTarget's response data for BrTy 106 kbps type A: NbTg, then
    per target Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1 and, for an
    ISO/IEC 14443-4 card, ATSLength (counting itself) and ATS.

    :raises ReaderProtocolError: when the data do not parse.
    """
    try:
        count, offset, targets = data[0], 1, []
        for _ in range(count):
            tg, sens_res = data[offset], data[offset + 1 : offset + 3]
            sel_res, uid_length = data[offset + 3], data[offset + 4]
            offset += 5
            uid = data[offset : offset + uid_length]
            if len(uid) != uid_length or uid_length not in (4, 7, 10):
                raise IndexError("NFCID1 cut short or of a wrong size")
            offset += uid_length
            ats = b""
            if sel_res & 0x20:
                ats_length = data[offset]
                ats = data[offset + 1 : offset + ats_length]
                if ats_length < 1 or len(ats) != ats_length - 1:
                    raise IndexError("ATS cut short")
                offset += ats_length
            targets.append(PassiveTarget(tg, int.from_bytes(sens_res, "big"), sel_res, bytes(uid), bytes(ats)))
        if offset != len(data):
            raise IndexError(f"{len(data) - offset} bytes after the last target")
    except (IndexError, ValueError) as exc:
        raise ReaderProtocolError(f"InListPassiveTarget: cannot parse the response {hex_bytes(data)}: {exc}") from exc
    return targets


# -- the chip -----------------------------------------------------------------------------


class Pn532Chipset:
    """A PN532 on a serial transport; see the module docstring.

    :param transport: the serial line.
    :param ack_timeout: seconds to wait for each ACK.
    :param response_timeout: default seconds to wait for a response after the ACK.
    :param resends: how many times a command is sent again without an ACK.
    """

    def __init__(
        self,
        transport: SerialTransport,
        *,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
        response_timeout: float = DEFAULT_RESPONSE_TIMEOUT,
        resends: int = COMMAND_RESENDS,
    ) -> None:
        self.transport = transport
        self.ack_timeout = ack_timeout
        self.response_timeout = response_timeout
        self.resends = resends
        self._parser = FrameParser()

    # -- the exchange ------------------------------------------------------------------

    def command(self, code: int, params: bytes = b"", *, timeout: float | None = None) -> bytes:
        """Send command ``code`` with ``params``; the response data after ``D5 CMD+1``.

        :param timeout: seconds to wait for the response after the ACK
            (default :attr:`response_timeout`).
        :raises ReaderTimeoutError: when no ACK or no response came.
        :raises ReaderProtocolError: for NACKs, error frames, corrupt or unexpected
            responses; the raw bytes are in the message.
        :raises ReaderUnavailableError: when the port is gone.
        """
        name = CMD.get(code, f"command 0x{code:02X}")
        request = encode_information(TFI_HOST, bytes([code]) + params)
        received = bytearray()
        self._send(name, request, received)
        return self._response(name, code, self.response_timeout if timeout is None else timeout, received)

    def _send(self, name: str, request: bytes, received: bytearray) -> None:
        refusals: list[str] = []
        for _ in range(1 + self.resends):
            # Whatever is on the line now answers nothing we will ask: a late
            # response to an aborted command, or noise.
            self.transport.discard_input()
            self._parser.clear()
            self.transport.write(request)
            deadline = time.monotonic() + self.ack_timeout
            try:
                while True:
                    frame = self._next_frame(deadline, received)
                    if isinstance(frame, Ack):
                        return
                    if isinstance(frame, Nack | ErrorFrame):
                        refusals.append("NACK" if isinstance(frame, Nack) else "an error frame")
                        break
                    # A stray response or a corrupt frame where the ACK should be: keep looking.
            except ReaderTimeoutError:
                refusals.append("no ACK")
        attempts = 1 + self.resends
        times = "once" if attempts == 1 else f"{attempts} times"
        what = f"{name}: sent {times}, answered {', '.join(refusals)}; received {hex_bytes(received)}"
        if received:
            raise ReaderProtocolError(what)
        raise ReaderTimeoutError(f"{name}: the PN532 did not acknowledge the command, sent {times}")

    def _response(self, name: str, code: int, timeout: float, received: bytearray) -> bytes:
        deadline = time.monotonic() + timeout
        nacks = 0
        while True:
            try:
                frame = self._next_frame(deadline, received)
            except ReaderTimeoutError as exc:
                self.abort()
                raise ReaderTimeoutError(
                    f"{name}: no response in {timeout:.3f} s (command aborted); received {hex_bytes(received)}"
                ) from exc
            if isinstance(frame, Ack):
                continue  # a repeated ACK
            if isinstance(frame, CorruptFrame):
                if nacks == RESPONSE_NACKS:
                    raise ReaderProtocolError(
                        f"{name}: response corrupt after {nacks} NACKs ({frame.reason}); received {hex_bytes(received)}"
                    )
                nacks += 1
                log.debug("%s: %s, asking for the response again", name, frame.reason)
                self.transport.write(NACK)
                continue
            if isinstance(frame, ErrorFrame):
                raise ReaderProtocolError(f"{name}: the PN532 answered with an error frame (syntax error)")
            if isinstance(frame, Nack):
                raise ReaderProtocolError(f"{name}: the PN532 sent a NACK instead of a response")
            if frame.tfi != TFI_PN532 or not frame.data or frame.data[0] != (code + 1) & 0xFF:
                raise ReaderProtocolError(
                    f"{name}: expected a response D5 {code + 1:02X}, got {frame.tfi:02X} {hex_bytes(frame.data)}"
                )
            return frame.data[1:]

    def _next_frame(self, deadline: float, received: bytearray) -> Frame | CorruptFrame:
        while True:
            frame = self._parser.next()
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReaderTimeoutError("deadline passed")
            chunk = self.transport.read_some(remaining)
            received += chunk
            self._parser.feed(chunk)

    def abort(self) -> None:
        """Send an ACK: the chip abandons the command it is executing.

        :raises ReaderUnavailableError: when the port is gone.
        """
        self.transport.write(ACK)

    def wake_up(self) -> None:
        """The HSU wake-up sequence (see :data:`~hardware.pn532.transport.HSU_WAKE_UP`).

        :raises ReaderUnavailableError: when the port is gone.
        """
        self.transport.wake_up()

    # -- commands --------------------------------------------------------------------------

    def get_firmware_version(self, *, timeout: float | None = None) -> FirmwareVersion:
        """GetFirmwareVersion (0x02).

        :raises ReaderTimeoutError, ReaderProtocolError, ReaderUnavailableError: see :meth:`command`.
        """
        data = self.command(0x02, timeout=timeout)
        if len(data) != 4:
            raise ReaderProtocolError(f"GetFirmwareVersion: expected 4 bytes, got {hex_bytes(data)}")
        return FirmwareVersion(*data)

    def sam_configuration(self, mode: SamMode = SamMode.NORMAL, timeout: int = 0, irq: bool = False) -> None:
        """SAMConfiguration (0x14): ``NORMAL`` mode takes the chip out of LowVbat.

        :param timeout: the virtual card mode timeout, in 50 ms units.
        :param irq: whether the chip drives its P70_IRQ pin.
        :raises ReaderTimeoutError, ReaderProtocolError, ReaderUnavailableError: see :meth:`command`.
        """
        self.command(0x14, bytes([mode, timeout, int(irq)]))

    def rf_configuration(self, item: RfConfigItem | int, data: bytes) -> None:
        """RFConfiguration (0x32) of CfgItem ``item`` with ``data``.

        :raises ReaderTimeoutError, ReaderProtocolError, ReaderUnavailableError: see :meth:`command`.
        """
        self.command(0x32, bytes([item]) + data)

    def in_list_passive_target(
        self, max_tg: int, initiator_data: bytes = b"", *, timeout: float | None = None
    ) -> list[PassiveTarget]:
        """InListPassiveTarget (0x4A) at 106 kbps type A: up to ``max_tg`` (1 or 2) cards, selected.

        :param initiator_data: the UID of the one card to select, if any.
        :raises ValueError: for ``max_tg`` other than 1 or 2.
        :raises ReaderTimeoutError, ReaderProtocolError, ReaderUnavailableError: see :meth:`command`.
        """
        if max_tg not in (1, 2):
            raise ValueError(f"the PN532 lists 1 or 2 targets, not {max_tg!r}")
        data = self.command(0x4A, bytes([max_tg, BRTY_106A]) + initiator_data, timeout=timeout)
        return parse_passive_targets(data)

    def in_data_exchange(self, tg: int, data: bytes, *, timeout: float | None = None) -> bytes:
        """InDataExchange (0x40): ``data`` to target ``tg``; the target's answer.

        :raises Pn532StatusError: a subclass for a status other than success
            (:func:`status_error`).
        :raises ReaderTimeoutError, ReaderProtocolError, ReaderUnavailableError: see :meth:`command`.
        """
        response = self.command(0x40, bytes([tg]) + data, timeout=timeout)
        if not response:
            raise ReaderProtocolError("InDataExchange: a response without its status byte")
        status = response[0] & 0x3F  # bit 6 is MI (more information), bit 7 NAD
        if status:
            raise status_error("InDataExchange", status, response)
        return response[1:]

    def in_release(self, tg: int = 0) -> None:
        """InRelease (0x52) target ``tg`` (0: all targets).

        :raises Pn532StatusError: for a status other than success.
        :raises ReaderTimeoutError, ReaderProtocolError, ReaderUnavailableError: see :meth:`command`.
        """
        response = self.command(0x52, bytes([tg]))
        if response[:1] != b"\x00":
            raise status_error("InRelease", response[0] & 0x3F if response else 0xFF, response)

