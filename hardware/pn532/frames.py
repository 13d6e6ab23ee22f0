"""PN532 host-link frames (PN532 User Manual, §6.2.1 "Host controller
communication protocol"): encode, decode, and find frames in a byte stream.

Pure: bytes in, frames out. Frames, as they travel on HSU (UART), SPI or I²C:

====================  ==============================================================
normal information    ``00 00 FF LEN LCS TFI PD0..PDn DCS 00``, LEN = 1 + n + 1 <= 255
extended information  ``00 00 FF FF FF LENM LENL LCS TFI PD0..PDn DCS 00``
ACK                   ``00 00 FF 00 FF 00``
NACK                  ``00 00 FF FF 00 00``
error frame           ``00 00 FF 01 FF 7F 81 00`` (application-level syntax error)
====================  ==============================================================

LEN counts TFI and the data bytes; LEN + LCS = 0 (mod 256) (LENM + LENL + LCS
for an extended frame); TFI + PD0 + ... + PDn + DCS = 0 (mod 256). TFI is
``D4`` from the host to the PN532 and ``D5`` back. The leading ``00``
(preamble) and trailing ``00`` (postamble) carry nothing: the parser treats
them, and anything else between frames, as line noise.

:class:`FrameParser` is incremental: feed it whatever the line delivered and it
returns complete frames, skipping garbage until the next start code
(``00 FF``) with a valid length checksum (resynchronisation). A frame whose
length checksum holds but whose data checksum does not comes out as a
:class:`CorruptFrame`, so the host can answer it with a NACK and have the chip
send it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.errors import ReaderProtocolError

TFI_HOST = 0xD4
"""TFI of a frame from the host controller to the PN532."""
TFI_PN532 = 0xD5
"""TFI of a frame from the PN532 to the host controller."""
TFI_ERROR = 0x7F
"""The single data byte of an error frame."""

START_CODE = b"\x00\xff"
ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
ERROR = b"\x00\x00\xff\x01\xff\x7f\x81\x00"

NORMAL_MAX_LENGTH = 0xFF
"""The largest LEN (TFI + data) of a normal frame."""
MAX_LENGTH = 265
"""The largest LEN the PN532 handles (its frame buffer: TFI, command code and
263 bytes, the size of nfcpy's Diagnose line test). A longer extended length
is taken as line noise that happened to contain ``00 FF FF FF``."""


class FrameError(ReaderProtocolError, ValueError):
    """Bytes that are not one well-formed PN532 frame."""


@dataclass(frozen=True, slots=True)
class Ack:
    """The ACK frame: the receiver accepted the last frame."""


@dataclass(frozen=True, slots=True)
class Nack:
    """The NACK frame: the host asks the PN532 to send its last response again."""


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """The PN532 found an application-level error (a syntax error) in the command."""


@dataclass(frozen=True, slots=True)
class InformationFrame:
    """A normal or extended information frame.

    :param tfi: the frame identifier, :data:`TFI_HOST` or :data:`TFI_PN532`.
    :param data: PD0..PDn: the command (or response) code, then its parameters.
    """

    tfi: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.tfi <= 0xFF:
            raise FrameError(f"TFI {self.tfi!r} is not a byte")
        if 1 + len(self.data) > MAX_LENGTH:
            raise FrameError(f"{len(self.data)} data bytes exceed the PN532's frame of {MAX_LENGTH - 1}")


@dataclass(frozen=True, slots=True)
class CorruptFrame:
    """A frame whose length checksum holds but whose data checksum does not.

    :param raw: the bytes of the frame as received.
    :param reason: what is wrong with it.
    """

    raw: bytes
    reason: str


Frame = Ack | Nack | ErrorFrame | InformationFrame


def _checksum(data: bytes | bytearray) -> int:
    """The byte that makes ``sum(data) + checksum`` a multiple of 256."""
    return -sum(data) & 0xFF


def encode_information(tfi: int, data: bytes, *, extended: bool | None = None) -> bytes:
    """An information frame carrying ``tfi`` and ``data``.

    :param extended: ``None`` for a normal frame when the data fits one (as the
        PN532 does), else force the format.
    :raises FrameError: when the data does not fit the PN532's frame, or does
        not fit a normal frame that was asked for.
    """
    frame = InformationFrame(tfi, bytes(data))
    length = 1 + len(frame.data)
    if extended is None:
        extended = length > NORMAL_MAX_LENGTH
    body = bytes([frame.tfi]) + frame.data
    if extended:
        size = length.to_bytes(2, "big")
        head = b"\x00" + START_CODE + b"\xff\xff" + size + bytes([_checksum(size)])
    else:
        if length > NORMAL_MAX_LENGTH:
            raise FrameError(f"{len(data)} data bytes do not fit a normal frame (LEN <= {NORMAL_MAX_LENGTH})")
        head = b"\x00" + START_CODE + bytes([length, _checksum(bytes([length]))])
    return head + body + bytes([_checksum(body), 0x00])


def encode(frame: Frame) -> bytes:
    """The bytes of ``frame`` on the line, preamble and postamble included.

    :raises FrameError: for an information frame too long for the PN532.
    """
    if isinstance(frame, Ack):
        return ACK
    if isinstance(frame, Nack):
        return NACK
    if isinstance(frame, ErrorFrame):
        return ERROR
    return encode_information(frame.tfi, frame.data)


def decode(raw: bytes) -> Frame:
    """The one frame in ``raw`` (optional preamble and postamble ``00``).

    :raises FrameError: when ``raw`` is not exactly one well-formed frame.
    """
    parser = FrameParser()
    parser.feed(raw)
    frame = parser.next()
    if frame is None:
        raise FrameError(f"no complete PN532 frame in {hex_bytes(raw)}")
    if isinstance(frame, CorruptFrame):
        raise FrameError(f"{frame.reason} in {hex_bytes(frame.raw)}")
    preamble = parser.skipped
    # The next call takes the postamble, and anything after it is a second frame or noise.
    if preamble > (raw[:1] == b"\x00") or parser.next() is not None or parser.skipped > preamble or parser.pending:
        raise FrameError(f"{hex_bytes(raw)} is not exactly one PN532 frame")
    return frame


def hex_bytes(data: bytes | bytearray, limit: int = 96) -> str:
    """``data`` as spaced hex for an error message, cut after ``limit`` bytes."""
    text = bytes(data[:limit]).hex(" ").upper()
    if len(data) > limit:
        text += f" ... ({len(data)} bytes)"
    return text or "(nothing)"


class FrameParser:
    """Finds frames in a byte stream; see the module docstring.

    :attr:`skipped` counts the bytes dropped as line noise (preambles,
    postambles and garbage) since the parser was made or cleared.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._postamble_due = False
        self.skipped = 0

    @property
    def pending(self) -> bytes:
        """Bytes received and not yet returned as (or skipped before) a frame."""
        return bytes(self._buffer)

    def feed(self, data: bytes | bytearray) -> None:
        """Append bytes as received from the line."""
        self._buffer += data

    def clear(self) -> None:
        """Forget everything received."""
        self._buffer.clear()
        self._postamble_due = False
        self.skipped = 0

    def _drop(self, count: int) -> None:
        del self._buffer[:count]
        self.skipped += count

    def next(self) -> Frame | CorruptFrame | None:
        """The next complete frame, or ``None`` until more bytes arrive."""
        buffer = self._buffer
        if self._postamble_due and buffer:
            # The 00 after a frame, even when it arrives in a later read: left in the
            # buffer, it and the noise after it could pass for a NACK (00 FF FF 00).
            self._postamble_due = False
            if buffer[0] == 0x00:
                del buffer[0]
        while True:
            start = buffer.find(START_CODE)
            if start < 0:
                # Keep a trailing 00: it may be the first half of a start code.
                self._drop(len(buffer) - 1 if buffer.endswith(b"\x00") else len(buffer))
                return None
            self._drop(start)
            if len(buffer) < 4:
                return None
            first, second = buffer[2], buffer[3]
            if (first, second) == (0x00, 0xFF):
                self._take(4)
                return Ack()
            if (first, second) == (0xFF, 0x00):
                self._take(4)
                return Nack()
            if (first, second) == (0xFF, 0xFF):
                if len(buffer) < 7:
                    return None
                length = buffer[4] << 8 | buffer[5]
                if (buffer[4] + buffer[5] + buffer[6]) & 0xFF or not 1 <= length <= MAX_LENGTH:
                    self._drop(1)  # a start code inside noise: look further
                    continue
                header = 7
            else:
                length = first
                if (first + second) & 0xFF or length == 0:
                    self._drop(1)
                    continue
                header = 4
            end = header + length + 1
            if len(buffer) < end:
                return None
            body, dcs = bytes(buffer[header : header + length]), buffer[header + length]
            raw = bytes(buffer[:end])
            self._take(end)
            if (sum(body) + dcs) & 0xFF:
                return CorruptFrame(raw, f"data checksum {dcs:02X} should be {_checksum(body):02X}")
            if body == bytes([TFI_ERROR]):
                return ErrorFrame()
            return InformationFrame(body[0], body[1:])

    def _take(self, count: int) -> None:
        """Consume a frame of ``count`` bytes; its postamble goes with the next call."""
        del self._buffer[:count]
        self._postamble_due = True
