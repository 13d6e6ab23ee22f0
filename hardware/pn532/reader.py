"""A PN532 on a serial port (HSU): the ``pn532:`` reader backend.

    pn532:/dev/ttyUSB0?baudrate=115200&timeout=0.5

``baudrate`` is the line speed the chip is at (115200 after power-up);
``timeout`` the seconds to wait for each response (default 0.5).

The device layer over :mod:`~hardware.pn532.chipset` and
:mod:`~hardware.pn532.transport`; the MIFARE Classic commands, their errors
and presence polling are :class:`~hardware.pn532.mifare.Pn53xClassicReader`'s.

Initialisation, when the reader opens and again after the port was lost and
came back (the chip may have been power-cycled with it):

1. the HSU wake-up sequence, then SAMConfiguration (normal mode), which
   takes the chip out of LowVbat, where it sits after power-up;
2. GetFirmwareVersion: the IC byte must be 0x32 (a PN532);
3. RFConfiguration MaxRetries with MxRtyPassiveActivation = 1: after
   power-up InListPassiveTarget retries for ever, so a poll of an empty field
   would never be answered.

Commands used afterwards: InListPassiveTarget (MaxTg 2, so that a second card
is seen), InDataExchange (MIFARE Classic), InRelease, and RFConfiguration to
switch the field off on :meth:`Pn532Reader.close`.

:func:`list_readers` finds PN532s on the machine's serial ports.
"""

from __future__ import annotations

import logging

import serial.tools.list_ports

from hardware.errors import HardwareError, ReaderUnavailableError, ReaderUriError
from hardware.pn532.chipset import (
    DEFAULT_ACK_TIMEOUT,
    DEFAULT_RESPONSE_TIMEOUT,
    FirmwareVersion,
    PassiveTarget,
    Pn532Chipset,
    RfConfigItem,
)
from hardware.pn532.mifare import Pn53xClassicReader
from hardware.pn532.transport import DEFAULT_BAUDRATE, SerialTransport
from hardware.uri import ReaderUri

log = logging.getLogger(__name__)

PN532_IC = 0x32
BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1288000)
"""The HSU speeds of SetSerialBaudrate (user manual §7.2.8)."""
MAX_RETRIES = bytes([0xFF, 0x01, 0x01])
"""RFConfiguration MaxRetries: MxRtyATR (default), MxRtyPSL (default),
MxRtyPassiveActivation 1 instead of 0xFF (for ever)."""
PROBE_TIMEOUT = 0.1


class Pn532Reader(Pn53xClassicReader):
    """A PN532 on serial port ``port``; a :class:`hardware.reader.Reader`.

    The port is opened and the chip initialised by :meth:`connect` or the
    first command; after the port is lost every call raises
    :class:`~hardware.errors.ReaderUnavailableError` until it is back, and
    the first call that finds it initialises the chip again. Not thread-safe.

    :param port: the serial device path.
    :param baudrate: the line speed the chip is at.
    :param timeout: seconds to wait for each response.
    :param ack_timeout: seconds to wait for each ACK.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        timeout: float = DEFAULT_RESPONSE_TIMEOUT,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
    ) -> None:
        super().__init__()
        self.port = port
        self.timeout = timeout
        self._transport = SerialTransport(port, baudrate)
        self.chipset = Pn532Chipset(self._transport, ack_timeout=ack_timeout, response_timeout=timeout)
        self._initialised = 0
        self.firmware: FirmwareVersion | None = None

    @property
    def name(self) -> str:
        return f"pn532:{self.port}"

    def connect(self) -> FirmwareVersion:
        """Open the port and initialise the chip, unless done; its firmware version.

        :raises ReaderUnavailableError: when the port cannot be opened or no
            PN532 answers on it.
        """
        self._ready()
        assert self.firmware is not None
        return self.firmware

    def _ready(self) -> Pn532Chipset:
        if not self._transport.is_open or self._transport.connection != self._initialised:
            self._initialise()
        return self.chipset

    def _initialise(self) -> None:
        self._transport.open()
        self._forget_selection()
        chipset = self.chipset
        try:
            chipset.wake_up()
            chipset.sam_configuration()
            firmware = chipset.get_firmware_version()
            if firmware.ic != PN532_IC:
                raise ReaderUnavailableError(
                    f"{self.name}: the chip is a {firmware.name}, not a PN532 (IC 0x{firmware.ic:02X})"
                )
            chipset.rf_configuration(RfConfigItem.MAX_RETRIES, MAX_RETRIES)
        except HardwareError as exc:
            self._transport.close()
            if isinstance(exc, ReaderUnavailableError):
                raise
            raise ReaderUnavailableError(f"{self.name}: no PN532 answers on {self.port}: {exc}") from exc
        self.firmware = firmware
        self._initialised = self._transport.connection
        log.info("%s: %s ready", self.name, firmware.name)

    # -- what Pn53xClassicReader needs --------------------------------------------------------

    def _list_targets(self) -> list[PassiveTarget]:
        return self._ready().in_list_passive_target(2, timeout=self.timeout)

    def _exchange(self, data: bytes) -> bytes:
        return self._ready().in_data_exchange(1, data, timeout=self.timeout)

    def _release(self) -> None:
        self._ready().in_release(0)

    def close(self) -> None:
        """Switch the RF field off (if the chip still answers) and close the port. Idempotent."""
        if self._transport.is_open and self._transport.connection == self._initialised:
            try:
                self.chipset.rf_configuration(RfConfigItem.RF_FIELD, b"\x00")
            except HardwareError as exc:
                # Closing a reader whose chip stopped answering: nothing left to switch off.
                log.debug("%s: switching the field off on close: %s", self.name, exc)
        self._transport.close()
        self._forget_selection()

    def __enter__(self) -> Pn532Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Pn532Reader({self.port!r})"




def open_pn532(uri: ReaderUri) -> Pn532Reader:
    """The reader of ``pn532:PORT[?baudrate=N&timeout=S]``, connected.

    :raises ReaderUriError: for an unknown parameter, a baud rate the PN532
        does not have, or a timeout outside 0..60 s.
    :raises ReaderUnavailableError: when the port cannot be opened or no PN532 answers on it.
    """
    uri.check_params(("baudrate", "timeout"))
    baudrate = uri.int_param("baudrate", 1) or DEFAULT_BAUDRATE
    if baudrate not in BAUDRATES:
        raise ReaderUriError(
            f"reader URI {uri}: baudrate={baudrate} is not a PN532 HSU speed ({', '.join(map(str, BAUDRATES))})"
        )
    timeout = uri.float_param("timeout", 0.0, 60.0) or DEFAULT_RESPONSE_TIMEOUT
    reader = Pn532Reader(uri.target, baudrate=baudrate, timeout=timeout)
    reader.connect()
    return reader


def probe(port: str, *, baudrate: int = DEFAULT_BAUDRATE, timeout: float = PROBE_TIMEOUT) -> FirmwareVersion:
    """The firmware version of the PN532 on ``port``, asked with short timeouts
    and no resends; the port is closed afterwards. It writes the wake-up
    sequence and two commands to whatever device is on the port.

    :raises ReaderUnavailableError: when the port cannot be opened.
    :raises ReaderTimeoutError: when nothing answers in time.
    :raises ReaderProtocolError: when something answers that is not a PN532.
    """
    transport = SerialTransport(port, baudrate)
    chipset = Pn532Chipset(transport, ack_timeout=timeout, response_timeout=timeout, resends=0)
    try:
        transport.open()
        chipset.wake_up()
        chipset.sam_configuration()
        return chipset.get_firmware_version()
    finally:
        transport.close()


def list_readers(ports: list[str] | None = None, *, timeout: float = PROBE_TIMEOUT) -> list[tuple[str, str]]:
    """``(uri, description)`` of every serial port with a PN532 answering
    GetFirmwareVersion within ``timeout`` s: the ``ports`` given, else those
    pyserial lists (``serial.tools.list_ports``). A port that cannot be opened
    (busy, gone) or does not answer is left out; each probe takes at most
    about ``3 * timeout`` seconds. Probing writes to every port: do not run it
    where other serial devices would mind.
    """
    if ports is None:
        ports = [info.device for info in serial.tools.list_ports.comports()]
    found = []
    for port in ports:
        try:
            firmware = probe(port, timeout=timeout)
        except HardwareError as exc:
            log.debug("no PN532 on %s: %s", port, exc)
            continue
        if firmware.ic == PN532_IC:
            found.append((f"pn532:{port}", f"{firmware.name} on {port}"))
    return found

