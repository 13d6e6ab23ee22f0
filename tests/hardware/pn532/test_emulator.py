"""The PN532 emulator itself, driven with literal frames over pyserial (not
through our chipset code): what it answers, its life cycle, and a thread that
fails loudly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from hardware.pn532.emulator import EmulatorError, Pn532Emulator
from hardware.pn532.frames import ACK, ERROR, NACK, TFI_HOST, TFI_PN532, encode_information
from hardware.sim.card import SimulatedCard
from hardware.sim.field import SimField
from tests.builders import UID


@pytest.fixture
def port(emulator: Pn532Emulator) -> Iterator[serial.Serial]:
    port = serial.Serial(emulator.port, 115200, timeout=0.5)
    yield port
    port.close()


def ask(port: serial.Serial, command: bytes, *, extended: bool | None = None) -> bytes:
    """Send ``D4 command``; what came back (ACK and response)."""
    port.write(encode_information(TFI_HOST, command, extended=extended))
    answer = port.read(6)
    assert answer == ACK, answer.hex()
    head = port.read(5)
    if head[3:5] == b"\xff\xff":
        head += port.read(3)
        length = int.from_bytes(head[5:7], "big")
    else:
        length = head[3]
    return head + port.read(length + 2)


def response(data: bytes) -> bytes:
    return encode_information(TFI_PN532, data)


def test_answers_nfcpys_opening_frames_byte_for_byte(port: serial.Serial) -> None:
    port.write(bytes(10) + bytes.fromhex("0000ff02fed4022a00"))  # nfcpy's long preamble, GetFirmwareVersion
    assert port.read(6) == ACK
    assert port.read(13) == bytes.fromhex("0000ff06fad50332010607e800")
    port.write(bytes(10) + bytes.fromhex("0000ff05fbd4140100001700"))  # SAMConfiguration
    assert port.read(6) == ACK
    assert port.read(9) == bytes.fromhex("0000ff02fed5151600")


def test_diagnose_echoes_an_extended_frame(port: serial.Serial) -> None:
    line_test = b"\x00\x00" + bytes(x & 0xFF for x in range(262))
    assert ask(port, line_test) == response(b"\x01" + line_test[1:])
    assert ask(port, b"\x00\x01") == response(b"\x01\x00")  # ROM test passed


def test_registers_and_the_crc_setting(emulator: Pn532Emulator, port: serial.Serial) -> None:
    assert ask(port, b"\x06\x63\x03\x63\x39") == response(b"\x07\x80\x00")  # CIU_RxMode, CIU_FIFOData
    assert ask(port, b"\x08\x63\x03\x00") == response(b"\x09")
    assert ask(port, b"\x06\x63\x03") == response(b"\x07\x00")
    emulator.field.take()
    assert ask(port, b"\x32\x05\xff\x01\x01") == response(b"\x33")
    assert ask(port, b"\x4a\x01\x00") == response(b"\x4b\x00")
    assert ask(port, b"\x06\x63\x39") == response(b"\x07\x26")  # REQA still in the FIFO: nobody answered


def test_lists_a_card_and_exchanges_with_it(port: serial.Serial, card: SimulatedCard) -> None:
    assert ask(port, b"\x32\x05\xff\x01\x01") == response(b"\x33")
    assert ask(port, b"\x4a\x02\x00") == response(b"\x4b\x01\x01\x00\x04\x08\x04" + UID)
    assert ask(port, b"\x40\x01\x60\x04" + b"\xff" * 6 + UID) == response(b"\x41\x00")
    assert ask(port, b"\x40\x01\x30\x04") == response(b"\x41\x00" + bytes(16))
    assert ask(port, b"\x40\x01\x60\x04" + bytes(6) + UID) == response(b"\x41\x14")
    assert ask(port, b"\x40\x01\x30\x04") == response(b"\x41\x13")  # NAK: not authenticated any more
    assert ask(port, b"\x40\x02\x30\x04") == response(b"\x41\x27")  # no target 2
    assert ask(port, b"\x04") == response(b"\x05\x00\x01\x01\x01\x00\x00\x10\x00")  # GetGeneralStatus
    assert ask(port, b"\x52\x00") == response(b"\x53\x00")
    assert [record.command for record in card.log] == ["uid", "authenticate", "read_block", "authenticate",
                                                       "read_block"]


def test_unknown_and_malformed_commands_get_the_error_frame(port: serial.Serial) -> None:
    for command in (b"\x8c\x00", b"\x14", b"\x4a\x03\x00", b"\x06\x63"):
        assert ask(port, command) == ERROR


def test_a_nack_from_the_host_repeats_the_last_response(port: serial.Serial) -> None:
    first = ask(port, b"\x02")
    port.write(NACK)
    assert port.read(len(first)) == first


def test_power_down_loses_the_waking_byte(emulator: Pn532Emulator, port: serial.Serial) -> None:
    assert ask(port, b"\x16\xb0\x00") == response(b"\x17\x00")
    # Without a preamble the byte that wakes the chip is the frame's first: it is lost.
    port.write(encode_information(TFI_HOST, b"\x02")[1:])
    assert port.read(6) == b""
    port.write(b"\x55\x55" + bytes(14))
    assert ask(port, b"\x02") == response(b"\x03\x32\x01\x06\x07")
    assert emulator.commands[-2:] == ["PowerDown", "GetFirmwareVersion"]


def test_the_host_can_close_and_reopen_the_port(emulator: Pn532Emulator, port: serial.Serial) -> None:
    port.close()
    port.open()
    assert ask(port, b"\x02") == response(b"\x03\x32\x01\x06\x07")


def test_unplug_and_replug_move_the_link(emulator: Pn532Emulator, tmp_path: Path) -> None:
    first = emulator.slave_path
    assert os.readlink(emulator.port) == first
    emulator.unplug()
    assert not os.path.lexists(emulator.port)
    assert emulator.faults["unplugged"] == 1
    emulator.replug()
    assert os.readlink(emulator.port) == emulator.slave_path
    with serial.Serial(emulator.port, 115200, timeout=0.5) as port:
        assert ask(port, b"\x02") == response(b"\x03\x32\x01\x06\x07")


def test_life_cycle() -> None:
    emulator = Pn532Emulator(SimField())
    emulator.stop()  # never started: closes the pty
    with pytest.raises(EmulatorError, match="not running"):
        emulator.unplug()
    started = Pn532Emulator(SimField()).start()
    with pytest.raises(EmulatorError, match="already started"):
        started.start()
    started.stop()
    started.stop()
    assert not started._thread.is_alive()


def test_the_emulator_fails_loudly() -> None:
    broken = Pn532Emulator(SimField())
    broken._handle = None  # type: ignore[assignment,method-assign]  # the next frame crashes the thread
    broken.start()
    with serial.Serial(broken.port, 115200, timeout=0.1) as port:
        port.write(encode_information(TFI_HOST, b"\x02"))
        assert port.read(6) == b""
    broken._thread.join(1.0)
    with pytest.raises(EmulatorError, match="not running"):
        broken.mute(1)
        broken.replug()
    with pytest.raises(TypeError, match="not callable"):
        broken.stop()
    assert isinstance(broken.error, TypeError)
