"""The serial line to a PN532 on its HSU (high-speed UART) interface, over
pyserial: open, close, write, read with a deadline, and the HSU wake-up.

Bytes only: framing and commands are :mod:`hardware.pn532.chipset`'s. Every
wait is bounded: reads take a timeout and writes have a write timeout.

A port that cannot be opened, or that fails under a read or a write (a USB
serial adapter unplugged, a pseudo-terminal whose other end went away), raises
:class:`~hardware.errors.ReaderUnavailableError` with pyserial's (or the OS's)
exception as its cause, and is closed. The next call opens it again, so a
reader recovers by itself once the port is back; :attr:`SerialTransport.connection`
tells the chipset that it is talking to a chip that may have been reset.
"""

from __future__ import annotations

import logging
import termios
import time

import serial

from hardware.errors import ReaderTimeoutError, ReaderUnavailableError
from hardware.pn532.frames import hex_bytes

log = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 115200
"""The PN532's HSU speed after power-up."""

HSU_WAKE_UP = b"\x55\x55" + bytes(14)
"""The HSU wake-up sequence (PN532 User Manual §7.2.11 and the application note
on power modes): 0x55 0x55 gives the UART edges to wake the chip from power
down, the long run of 00 gives it time to start before the next command, which
must be SAMConfiguration when the chip was in LowVbat mode."""

WRITE_TIMEOUT = 1.0
"""Seconds a write may block (a stuck USB serial adapter) before it fails."""

# Failures of the line itself, not of what travels on it. termios.error comes
# from flushing a pseudo-terminal whose master is gone.
_PORT_ERRORS = (serial.SerialException, OSError, termios.error)


class SerialTransport:
    """A serial port to a PN532, opened on first use and after a failure.

    :param port: the device path (``/dev/ttyUSB0``, ``/dev/ttyS0``, a pty).
    :param baudrate: the line speed.
    """

    def __init__(self, port: str, baudrate: int = DEFAULT_BAUDRATE) -> None:
        self.port = port
        self.baudrate = baudrate
        self._serial: serial.Serial | None = None
        self.connection = 0
        """Incremented by every successful open: a new connection may be to a
        chip that was power-cycled and needs its initialisation again."""

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        """Open the port unless it is open.

        :raises ReaderUnavailableError: when the port cannot be opened.
        """
        if self._serial is not None:
            return
        try:
            self._serial = serial.Serial(
                self.port, self.baudrate, timeout=0, write_timeout=WRITE_TIMEOUT, exclusive=True
            )
        except (*_PORT_ERRORS, ValueError) as exc:
            raise ReaderUnavailableError(f"serial port {self.port}: cannot open it: {exc}") from exc
        self.connection += 1
        log.debug("opened %s at %d baud (connection %d)", self.port, self.baudrate, self.connection)

    def close(self) -> None:
        """Close the port. Idempotent; never raises."""
        port, self._serial = self._serial, None
        if port is None:
            return
        try:
            port.close()
        except _PORT_ERRORS as exc:
            # The port is being dropped because it failed: its close failing too adds nothing.
            log.debug("closing %s: %s", self.port, exc)

    def _port(self) -> serial.Serial:
        self.open()
        assert self._serial is not None
        return self._serial

    def _lost(self, action: str, exc: BaseException) -> ReaderUnavailableError:
        self.close()
        return ReaderUnavailableError(f"serial port {self.port}: {action} failed, port closed: {exc}")

    def write(self, data: bytes) -> None:
        """Write ``data`` and wait until it has left (bounded by :data:`WRITE_TIMEOUT`).

        :raises ReaderUnavailableError: when the port is gone; it is closed.
        """
        port = self._port()
        try:
            port.write(data)
            port.flush()
        except _PORT_ERRORS as exc:
            raise self._lost("write", exc) from exc
        log.debug("%s >>> %s", self.port, data.hex())

    def discard_input(self) -> None:
        """Drop whatever was received and not read.

        :raises ReaderUnavailableError: when the port is gone; it is closed.
        """
        port = self._port()
        try:
            port.reset_input_buffer()
        except _PORT_ERRORS as exc:
            raise self._lost("flush", exc) from exc

    def read_some(self, timeout: float) -> bytes:
        """At least one byte: everything that arrived, waiting up to ``timeout`` s for the first.

        :raises ReaderTimeoutError: when nothing came in time.
        :raises ReaderUnavailableError: when the port is gone; it is closed.
        """
        port = self._port()
        try:
            port.timeout = max(timeout, 0.0)
            data = port.read(1)
            if data:
                waiting = port.in_waiting
                if waiting:
                    data += port.read(waiting)
        except _PORT_ERRORS as exc:
            raise self._lost("read", exc) from exc
        if not data:
            raise ReaderTimeoutError(f"serial port {self.port}: nothing received in {timeout:.3f} s")
        log.debug("%s <<< %s", self.port, data.hex())
        return data

    def read_exact(self, size: int, timeout: float) -> bytes:
        """Exactly ``size`` bytes, within ``timeout`` s in all.

        :raises ReaderTimeoutError: when fewer came in time; the message shows them.
        :raises ReaderUnavailableError: when the port is gone; it is closed.
        """
        deadline = time.monotonic() + timeout
        port = self._port()
        data = bytearray()
        try:
            while len(data) < size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                port.timeout = remaining
                data += port.read(size - len(data))
        except _PORT_ERRORS as exc:
            raise self._lost("read", exc) from exc
        if len(data) < size:
            raise ReaderTimeoutError(
                f"serial port {self.port}: {len(data)} of {size} bytes in {timeout:.3f} s: {hex_bytes(data)}"
            )
        return bytes(data)

    def wake_up(self) -> None:
        """Send the HSU wake-up sequence; the next frame should be SAMConfiguration.

        :raises ReaderUnavailableError: when the port is gone; it is closed.
        """
        self.write(HSU_WAKE_UP)

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"SerialTransport({self.port!r}, {self.baudrate}, {state})"
