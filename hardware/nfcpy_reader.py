"""A PN53x reader driven through nfcpy: the ``nfcpy:`` reader backend.

    nfcpy:usb                    the first USB reader nfcpy supports
    nfcpy:usb:072f:2200          the first with this vendor and product ID (ACR122U)
    nfcpy:tty:/dev/ttyUSB0       a PN532 on a serial port: any path, a pty included
    nfcpy:tty:USB0:pn532         nfcpy's own serial path (/dev/ttyUSB0, driver pn532)
    ...?timeout=0.5              seconds to wait for each card command

nfcpy supplies the transports (libusb, serial), the PN53x chipset drivers
(framing, checksums, ACK handling, each reader's initialisation) and card
discovery: :meth:`NfcpyReader.card_present`, :meth:`NfcpyReader.wait_for_card`
and :meth:`NfcpyReader.wait_for_removal` poll with
``ContactlessFrontend.sense(RemoteTarget("106A"))`` and check SENS_RES/SEL_RES.

nfcpy has no MIFARE Classic support (it activates a 1K card as a Type 2 Tag,
whose reads then fail), but a PN53x runs Crypto1 itself. So this module, and
only this module, reaches into nfcpy's chipset objects, which nfcpy documents
as internal and which may change without notice (pinned to nfcpy 1.0.x):

- ``device.chipset.in_data_exchange(data, timeout)`` carries the MIFARE
  Classic commands of :mod:`hardware.pn532.mifare`;
- ``device.chipset.command(0x4A, [2, 0])`` is InListPassiveTarget with MaxTg
  2, the selection of :meth:`NfcpyReader.uid`: nfcpy's own
  ``in_list_passive_target`` always asks for one target (it ignores its
  ``max_tg``), so a second card in the field would go unnoticed;
- ``device.chipset.command(0x52, [0])`` is InRelease;
- ``chipset.read_register``/``write_register`` of CIU_RxMode: nfcpy's
  ``sense_tta`` takes a card whose SAK has bits 6 and 7 clear (a MIFARE Classic
  too) for a Type 2 Tag and switches the chip's receive CRC check off, after
  which a READ answers 18 bytes; it is switched back on after every sense.

Only readers with a PN53x chipset (nfcpy drivers pn531, pn532, pn533, rcs956,
acr122) can do this; a Sony RC-S380 is refused.

Errors: nfcpy's chipset status errors (``Chipset.Error``) become
:mod:`hardware.pn532.chipset` status errors and then the card layer's errors,
as for the ``pn532:`` backend; ``nfc.clf.TimeoutError`` and ``IOError``
(ETIMEDOUT) become :class:`~hardware.errors.ReaderTimeoutError`; other
``nfc.clf.CommunicationError`` and frame errors (EIO)
:class:`~hardware.errors.ReaderProtocolError`; a port or USB device that
went away :class:`~hardware.errors.ReaderUnavailableError`, after which the
next call opens the device again. The nfcpy exception is kept as the cause.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import termios
import time
from collections.abc import Iterator

import nfc
import nfc.clf
import nfc.clf.device
import nfc.clf.pn53x
import nfc.clf.pn532
import nfc.clf.transport
import serial
import usb1

from hardware.errors import (
    ReaderProtocolError,
    ReaderTimeoutError,
    ReaderUnavailableError,
    ReaderUriError,
)
from hardware.pn532.chipset import (
    BRTY_106A,
    DEFAULT_RESPONSE_TIMEOUT,
    PassiveTarget,
    parse_passive_targets,
    status_error,
)
from hardware.pn532.mifare import POLL_INTERVAL, Pn53xClassicReader, check_classic_1k
from hardware.uri import ReaderUri

log = logging.getLogger(__name__)

PN53X_DRIVERS = frozenset({"pn531", "pn532", "pn533", "rcs956", "acr122"})
"""nfcpy drivers whose device has a PN53x chipset (``device.chipset``)."""
ERROR_FRAME = 0x7F
"""nfcpy's ``Chipset.Error`` number for the PN53x error frame."""
CIU_RX_MODE = "CIU_RxMode"
RX_CRC_EN = 0x80

_USB = re.compile(r"^usb(:[0-9a-fA-F]{4}(:[0-9a-fA-F]{4})?)?$")
_TTY_NAME = re.compile(r"^tty:[A-Za-z0-9-]+:[a-z0-9]+$")
_LOST_ERRNOS = frozenset({errno.ENODEV, errno.ENXIO, errno.EACCES, errno.EBUSY, errno.ENOENT})


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _no_ack(exc: BaseException) -> bool:
    """Whether ``exc`` is nfcpy's missing ACK: an EIO whose cause is ETIMEDOUT."""
    return not _port_lost(exc) and any(isinstance(cause, OSError) and cause.errno == errno.ETIMEDOUT
                                       for cause in _causes(exc))


def _port_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the port or USB device is gone."""
    for cause in _causes(exc):
        if isinstance(cause, serial.SerialException | termios.error):
            return True
        if isinstance(cause, OSError) and cause.errno in _LOST_ERRNOS:
            return True
    return False


class NfcpyReader(Pn53xClassicReader):
    """A PN53x reader through nfcpy at ``path`` (``usb[:VID[:PID]]``, ``tty:/PATH``
    or ``tty:NAME:DRIVER``); a :class:`hardware.reader.Reader`.

    The device is opened by :meth:`connect` or the first command, and again
    after it was lost. Not thread-safe.

    :param path: the nfcpy path (or ``tty:`` and a device path).
    :param timeout: seconds to wait for each card command.
    """

    def __init__(self, path: str, *, timeout: float = DEFAULT_RESPONSE_TIMEOUT) -> None:
        super().__init__()
        self.path = path
        self.timeout = timeout
        self._clf: nfc.ContactlessFrontend | None = None

    @property
    def name(self) -> str:
        return f"nfcpy:{self.path}"

    @property
    def device(self) -> str:
        """nfcpy's description of the open device (vendor, product, chipset), or ``""``."""
        return str(self._clf.device) if self._clf is not None and self._clf.device is not None else ""

    def connect(self) -> str:
        """Open the device unless it is open; its description.

        :raises ReaderUnavailableError: when no such device is found or it cannot be opened.
        """
        self._frontend()
        return self.device

    # -- the device --------------------------------------------------------------------------

    def _frontend(self) -> nfc.ContactlessFrontend:
        if self._clf is None or self._clf.device is None:
            self._forget_selection()
            self._clf = self._open()
        return self._clf

    def _open(self) -> nfc.ContactlessFrontend:
        clf = nfc.ContactlessFrontend()
        port = self._tty_port()
        try:
            if port is not None:
                # nfcpy's path syntax names /dev/NAME only: build the pn532 device directly.
                transport = nfc.clf.transport.TTY(port)
                try:
                    device = nfc.clf.pn532.init(transport)
                except BaseException:
                    transport.close()
                    raise
                device._path = port
                clf.device = device
            elif not clf.open(self.path):
                raise ReaderUnavailableError(f"{self.name}: nfcpy finds no reader at {self.path!r}")
        except (OSError, termios.error, nfc.clf.pn53x.Chipset.Error) as exc:
            raise ReaderUnavailableError(f"{self.name}: cannot open the reader: {exc!r}") from exc
        if not isinstance(getattr(clf.device, "chipset", None), nfc.clf.pn53x.Chipset):
            description = str(clf.device)
            clf.close()
            raise ReaderUnavailableError(
                f"{self.name}: {description} has no PN53x chipset, so no MIFARE Classic (needs one of nfcpy's"
                f" drivers {', '.join(sorted(PN53X_DRIVERS))})"
            )
        log.info("%s: %s", self.name, clf.device)
        return clf

    def _tty_port(self) -> str | None:
        if self.path.startswith("tty:/"):
            port = self.path[4:]
            return port.removesuffix(":pn532")
        return None

    def _chipset(self) -> nfc.clf.pn53x.Chipset:
        return self._frontend().device.chipset

    def _drop(self) -> None:
        """Forget a device whose port or USB connection failed, without talking to it."""
        clf, self._clf = self._clf, None
        self._forget_selection()
        if clf is None or clf.device is None:
            return
        transport = getattr(clf.device.chipset, "transport", None)
        clf.device = None
        if transport is not None:
            try:
                transport.close()
            except (OSError, termios.error) as exc:
                # The port failed already; closing it fails the same way.
                log.debug("%s: closing the lost port: %s", self.name, exc)

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """nfcpy's and pyserial's exceptions as ours, the original as the cause."""
        try:
            yield
        except nfc.clf.pn53x.Chipset.Error as exc:
            if exc.errno == ERROR_FRAME:
                raise ReaderProtocolError(f"{self.name}: {what}: the chip answered with an error frame") from exc
            raise status_error(what, exc.errno) from exc
        except nfc.clf.TimeoutError as exc:
            raise ReaderTimeoutError(f"{self.name}: {what}: timeout ({exc})") from exc
        except nfc.clf.CommunicationError as exc:
            raise ReaderProtocolError(f"{self.name}: {what}: {type(exc).__name__} {exc}") from exc
        except (OSError, termios.error) as exc:
            if _port_lost(exc):
                self._drop()
                raise ReaderUnavailableError(f"{self.name}: {what}: the device is gone: {exc!r}") from exc
            # nfcpy turns a missing ACK (ETIMEDOUT) into EIO, keeping the timeout as the context.
            if _no_ack(exc):
                raise ReaderTimeoutError(f"{self.name}: {what}: the reader did not answer in time") from exc
            raise ReaderProtocolError(f"{self.name}: {what}: garbled exchange with the reader: {exc!r}") from exc

    # -- what Pn53xClassicReader needs ----------------------------------------------------------

    def _idempotent(self, what: str, code: int, data: bytearray) -> bytearray:
        """A chip command that may safely run twice, sent once more when the
        chip did not acknowledge it: nfcpy waits a fixed 100 ms for the ACK,
        and a missing ACK means the PN532 did not take the command (its manual
        lets the host send it again). Never used for InDataExchange, whose
        MIFARE value operations must not run twice."""
        chipset = self._chipset()
        with self._translated(what):
            try:
                return chipset.command(code, data, timeout=self.timeout)
            except OSError as exc:
                if not _no_ack(exc):
                    raise
                log.debug("%s: %s was not acknowledged; sending it again", self.name, what)
            return chipset.command(code, data, timeout=self.timeout)

    def _list_targets(self) -> list[PassiveTarget]:
        data = self._idempotent("InListPassiveTarget", 0x4A, bytearray([2, BRTY_106A]))
        return parse_passive_targets(bytes(data))

    def _exchange(self, data: bytes) -> bytes:
        chipset = self._chipset()
        with self._translated("InDataExchange"):
            answer, _more = chipset.in_data_exchange(bytearray(data), self.timeout)
        return bytes(answer)

    def _release(self) -> None:
        self._idempotent("InRelease", 0x52, bytearray([0]))

    # -- discovery with nfcpy's sense --------------------------------------------------------------

    def _sense(self) -> PassiveTarget | None:
        """One ``sense(RemoteTarget("106A"))``: the card it selected, or ``None``."""
        clf = self._frontend()
        with self._translated("sense"):
            target = clf.sense(nfc.clf.RemoteTarget("106A"))
            if target is None or target.sel_res is None:
                self._forget_selection()
                return None
            if target.sel_res[0] & 0x60 == 0:
                # Undo nfcpy's Type 2 Tag setting: MIFARE Classic answers carry a CRC the chip must check and strip.
                chipset = clf.device.chipset
                chipset.write_register(CIU_RX_MODE, chipset.read_register(CIU_RX_MODE) | RX_CRC_EN)
        found = PassiveTarget(1, int.from_bytes(bytes(target.sens_res[::-1]), "big"), target.sel_res[0],
                              bytes(target.sdd_res))
        self._target, self._idle = found, False
        return found

    def card_present(self) -> bool:
        """Whether a card is in the field (one nfcpy sense, which selects it again).

        :raises HardwareError: when the reader fails.
        """
        return self._sense() is not None

    def wait_for_card(self, timeout: float) -> bytes:
        """Sense until a card is in the field; check it is a MIFARE Classic 1K, then select it (:meth:`uid`).

        :raises ReaderTimeoutError: when no card came within ``timeout`` seconds.
        :raises MultipleCardsError: when more than one card is in the field.
        :raises CardCommandError: when the card is not a MIFARE Classic 1K.
        :raises ReaderUnavailableError: when the reader is gone.
        """
        deadline = time.monotonic() + timeout
        while True:
            target = self._sense()
            if target is not None:
                check_classic_1k(target)
                return self.uid()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReaderTimeoutError(f"{self.name}: no card in the field within {timeout:g} s")
            time.sleep(min(POLL_INTERVAL, remaining))

    def wait_for_removal(self, timeout: float) -> bool:
        """Sense until the field is empty; ``False`` if a card is still there after ``timeout`` s.

        :raises ReaderUnavailableError: when the reader is gone.
        """
        deadline = time.monotonic() + timeout
        while self._sense() is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(POLL_INTERVAL, remaining))
        return True

    def close(self) -> None:
        """Close the device (nfcpy puts a PN532 to sleep). Idempotent; a device
        that stopped answering is dropped without complaint."""
        clf, self._clf = self._clf, None
        self._forget_selection()
        if clf is None:
            return
        try:
            clf.close()
        except (OSError, termios.error, nfc.clf.pn53x.Chipset.Error) as exc:
            log.debug("%s: closing: %r", self.name, exc)

    def __enter__(self) -> NfcpyReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NfcpyReader({self.path!r})"




def open_nfcpy(uri: ReaderUri) -> NfcpyReader:
    """The reader of ``nfcpy:usb[:VID:PID]``, ``nfcpy:tty:/PATH`` or
    ``nfcpy:tty:NAME:DRIVER`` (parameter ``timeout``), connected.

    :raises ReaderUriError: for a target or parameter nfcpy cannot take.
    :raises ReaderUnavailableError: when the reader is not found, cannot be
        opened, or has no PN53x chipset.
    """
    uri.check_params(("timeout",))
    target = uri.target
    if not (_USB.match(target) or target.startswith("tty:/") or _TTY_NAME.match(target)):
        raise ReaderUriError(
            f"reader URI {uri}: expected nfcpy:usb, nfcpy:usb:VID:PID (4 hex digits each),"
            " nfcpy:tty:/dev/PATH or nfcpy:tty:NAME:DRIVER"
        )
    reader = NfcpyReader(target, timeout=uri.float_param("timeout", 0.0, 60.0) or DEFAULT_RESPONSE_TIMEOUT)
    reader.connect()
    return reader


def list_readers() -> list[tuple[str, str]]:
    """``(uri, description)`` of the USB readers with a PN53x that nfcpy knows,
    from one libusb enumeration (nothing is opened); empty when there are none
    or libusb cannot enumerate here (no USB bus in a container)."""
    try:
        found = nfc.clf.transport.USB.find("usb") or []
    except (OSError, usb1.USBError) as exc:
        log.debug("no USB enumeration: %r", exc)
        return []
    readers = []
    for vid, pid, bus, dev in found:
        driver = nfc.clf.device.usb_device_map.get((vid, pid))
        if driver in PN53X_DRIVERS:
            readers.append((f"nfcpy:usb:{vid:04x}:{pid:04x}", f"{driver} reader, usb:{bus:03}:{dev:03}"))
    return readers
