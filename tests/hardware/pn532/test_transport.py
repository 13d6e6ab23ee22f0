"""The serial transport on a bare pseudo-terminal: bounded reads, the wake-up
sequence, and a port that disappears and comes back."""

from __future__ import annotations

import os
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from hardware.errors import ReaderTimeoutError, ReaderUnavailableError
from hardware.pn532.transport import HSU_WAKE_UP, SerialTransport


class Pty:
    """The chip's side of a pty, reachable by the host at a stable link."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master = -1
        self.slave = -1
        self.plug()

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.link.unlink(missing_ok=True)
        self.link.symlink_to(os.ttyname(self.slave))

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)
        self.link.unlink()

    def read(self, size: int) -> bytes:
        return os.read(self.master, size)


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[Pty]:
    pty = Pty(tmp_path / "ttyS9")
    yield pty
    if pty.link.exists():
        pty.unplug()


@pytest.fixture
def transport(pty: Pty) -> Iterator[SerialTransport]:
    transport = SerialTransport(str(pty.link))
    transport.open()
    yield transport
    transport.close()


def test_write_and_read(pty: Pty, transport: SerialTransport) -> None:
    transport.write(b"\x01\x02")
    assert pty.read(10) == b"\x01\x02"
    os.write(pty.master, b"abcdef")
    assert transport.read_exact(2, 1.0) == b"ab"
    time.sleep(0.01)
    assert transport.read_some(1.0) == b"cdef"


def test_reads_are_bounded_and_show_what_came(pty: Pty, transport: SerialTransport) -> None:
    os.write(pty.master, b"\xd5\x03")
    started = time.monotonic()
    with pytest.raises(ReaderTimeoutError, match=r"2 of 5 bytes in 0.050 s: D5 03"):
        transport.read_exact(5, 0.05)
    with pytest.raises(ReaderTimeoutError, match="nothing received"):
        transport.read_some(0.05)
    assert time.monotonic() - started < 0.5


def test_discard_input_drops_what_was_not_read(pty: Pty, transport: SerialTransport) -> None:
    os.write(pty.master, b"stale")
    time.sleep(0.01)
    transport.discard_input()
    os.write(pty.master, b"new")
    assert transport.read_exact(3, 1.0) == b"new"


def test_wake_up_sends_55_55_and_a_long_preamble(pty: Pty, transport: SerialTransport) -> None:
    transport.wake_up()
    assert pty.read(64) == HSU_WAKE_UP
    assert HSU_WAKE_UP[:2] == b"\x55\x55" and set(HSU_WAKE_UP[2:]) == {0}


def test_a_missing_port_is_unavailable_with_the_cause(tmp_path: Path) -> None:
    transport = SerialTransport(str(tmp_path / "ttyNONE"))
    with pytest.raises(ReaderUnavailableError, match="cannot open") as info:
        transport.write(b"\x00")
    assert isinstance(info.value.__cause__, serial.SerialException)
    assert not transport.is_open and transport.connection == 0


def test_an_unplugged_port_fails_then_reconnects(pty: Pty, transport: SerialTransport) -> None:
    assert transport.connection == 1
    pty.unplug()
    with pytest.raises(ReaderUnavailableError, match="read failed") as info:
        transport.read_some(0.5)
    assert isinstance(info.value.__cause__, serial.SerialException)
    assert not transport.is_open
    with pytest.raises(ReaderUnavailableError, match="cannot open"):
        transport.write(b"\x00")
    pty.plug()
    transport.write(b"\x42")  # the next call opens the port again
    assert pty.read(1) == b"\x42"
    assert transport.connection == 2


def test_close_is_idempotent(transport: SerialTransport) -> None:
    transport.close()
    transport.close()
    assert not transport.is_open
    assert "closed" in repr(transport)
