"""The PN532 chipset against the emulator on a real pty: commands, ACK and
response handling, status errors, and every fault the line can bring."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from hardware.errors import ReaderProtocolError, ReaderTimeoutError
from hardware.pn532.chipset import (
    CMD,
    CMD_BY_NAME,
    ERR,
    ContextError,
    FirmwareVersion,
    FormatError,
    InvalidParameterError,
    MifareAuthenticationError,
    PassiveTarget,
    Pn532Chipset,
    Pn532StatusError,
    RfConfigItem,
    RfTransmissionError,
    TargetTimeoutError,
    parse_passive_targets,
    status_error,
)
from hardware.pn532.emulator import CIU_RX_MODE, Pn532Emulator, crc_a
from hardware.pn532.transport import SerialTransport
from hardware.sim.card import SimulatedCard
from tests.builders import UID, UID7, blank_image


@pytest.fixture
def chipset(emulator: Pn532Emulator) -> Iterator[Pn532Chipset]:
    transport = SerialTransport(emulator.port)
    chipset = Pn532Chipset(transport, ack_timeout=0.02, response_timeout=0.2)
    chipset.wake_up()
    chipset.sam_configuration()
    yield chipset
    transport.close()


def test_the_command_table_uses_the_manuals_names() -> None:
    assert CMD[0x4A] == "InListPassiveTarget" and CMD[0x40] == "InDataExchange"
    assert CMD_BY_NAME["GetFirmwareVersion"] == 0x02 and CMD_BY_NAME["RFConfiguration"] == 0x32
    assert ERR[0x14] == "MIFARE: authentication error"


def test_firmware_version(chipset: Pn532Chipset, emulator: Pn532Emulator) -> None:
    firmware = chipset.get_firmware_version()
    assert firmware == FirmwareVersion(0x32, 1, 6, 7) and firmware.name == "PN532 v1.6"
    assert emulator.commands == ["SAMConfiguration", "GetFirmwareVersion"]


def test_in_list_passive_target_lists_and_selects(chipset: Pn532Chipset, card: SimulatedCard) -> None:
    chipset.rf_configuration(RfConfigItem.MAX_RETRIES, b"\xff\x01\x01")
    assert chipset.in_list_passive_target(2) == [PassiveTarget(1, 0x0004, 0x08, UID)]
    assert [record.command for record in card.log] == ["uid"]


def test_two_cards_and_a_seven_byte_uid(emulator: Pn532Emulator, chipset: Pn532Chipset) -> None:
    emulator.field.place(SimulatedCard(blank_image(UID7), uid_size=7))
    chipset.rf_configuration(RfConfigItem.MAX_RETRIES, b"\xff\x01\x01")
    targets = chipset.in_list_passive_target(2)
    assert targets == [PassiveTarget(1, 0x0004, 0x08, UID), PassiveTarget(2, 0x0044, 0x08, UID7)]
    assert chipset.in_list_passive_target(1, UID7) == [PassiveTarget(1, 0x0044, 0x08, UID7)]
    with pytest.raises(ValueError, match="1 or 2"):
        chipset.in_list_passive_target(3)


def test_with_the_power_up_retries_a_poll_waits_for_a_card(emulator: Pn532Emulator, chipset: Pn532Chipset,
                                                           card: SimulatedCard) -> None:
    emulator.field.take()
    started = time.monotonic()
    with pytest.raises(ReaderTimeoutError, match=r"InListPassiveTarget: no response in 0.100 s \(command aborted\)"):
        chipset.in_list_passive_target(1, timeout=0.1)
    assert time.monotonic() - started < 0.5
    # The abort left the chip ready; a card placed during the next poll answers it.
    threading.Timer(0.05, emulator.field.place, [card]).start()
    assert [t.uid for t in chipset.in_list_passive_target(1, timeout=2.0)] == [UID]


def test_an_empty_field_answers_at_once_with_one_retry(emulator: Pn532Emulator, chipset: Pn532Chipset) -> None:
    emulator.field.take()
    chipset.rf_configuration(RfConfigItem.MAX_RETRIES, b"\xff\x01\x01")
    assert chipset.in_list_passive_target(2) == []


def test_in_data_exchange_and_status_errors(chipset: Pn532Chipset) -> None:
    chipset.rf_configuration(RfConfigItem.MAX_RETRIES, b"\xff\x01\x01")
    chipset.in_list_passive_target(1)
    assert chipset.in_data_exchange(1, b"\x60\x04" + b"\xff" * 6 + UID) == b""
    assert chipset.in_data_exchange(1, b"\x30\x04") == bytes(16)
    with pytest.raises(MifareAuthenticationError, match=r"InDataExchange: status 0x14, MIFARE: authentication error"):
        chipset.in_data_exchange(1, b"\x60\x04" + bytes(6) + UID)
    with pytest.raises(ContextError, match="0x27"):
        chipset.in_data_exchange(2, b"\x30\x04")
    chipset.in_release(0)
    with pytest.raises(ContextError):
        chipset.in_data_exchange(1, b"\x30\x04")


def test_without_the_crc_check_a_read_carries_the_crc(chipset: Pn532Chipset) -> None:
    chipset.rf_configuration(RfConfigItem.MAX_RETRIES, b"\xff\x01\x01")
    chipset.in_list_passive_target(1)
    chipset.in_data_exchange(1, b"\x60\x00" + b"\xff" * 6 + UID)
    block0 = chipset.in_data_exchange(1, b"\x30\x00")
    chipset.command(CMD_BY_NAME["WriteRegister"], CIU_RX_MODE.to_bytes(2, "big") + b"\x00")
    assert chipset.in_data_exchange(1, b"\x30\x00") == block0 + crc_a(block0)
    assert crc_a(b"\x30\x00") == b"\x02\xa8"  # ISO/IEC 14443-3 example: READ block 0


def test_status_error_types() -> None:
    assert type(status_error("InDataExchange", 0x01)) is TargetTimeoutError
    assert type(status_error("InDataExchange", 0x02)) is RfTransmissionError
    assert type(status_error("InDataExchange", 0x13)) is FormatError
    assert type(status_error("InDataExchange", 0x14)) is MifareAuthenticationError
    assert type(status_error("InDataExchange", 0x27)) is ContextError
    assert type(status_error("InDataExchange", 0x10)) is InvalidParameterError
    unknown = status_error("InRelease", 0x3E, b"\x3e")
    assert type(unknown) is Pn532StatusError and isinstance(unknown, ReaderProtocolError)
    assert str(unknown) == "InRelease: status 0x3E, unknown error code (response 3E)"


def test_parse_passive_targets_round_trip_and_refusals() -> None:
    desfire = PassiveTarget(2, 0x0344, 0x20, UID7, ats=bytes.fromhex("75778002"))
    targets = [PassiveTarget(1, 0x0004, 0x08, UID), desfire]
    assert parse_passive_targets(b"\x02" + b"".join(t.encode() for t in targets)) == targets
    assert parse_passive_targets(b"\x00") == []
    for bad in (b"", b"\x01\x01\x00\x04\x08\x04\xc0\xff", b"\x00\x99"):
        with pytest.raises(ReaderProtocolError, match="cannot parse"):
            parse_passive_targets(bad)


# -- faults on the line ---------------------------------------------------------------------


def test_garbage_before_the_ack_and_response_is_skipped(emulator: Pn532Emulator, chipset: Pn532Chipset) -> None:
    emulator.inject_garbage(b"\x55\xaa\x12\x00\xff\x03", frames=2)
    assert chipset.get_firmware_version().ic == 0x32
    assert emulator.faults["garbage"] == 2


def test_a_corrupt_response_is_asked_again_with_a_nack(emulator: Pn532Emulator, chipset: Pn532Chipset) -> None:
    emulator.corrupt_responses(2)
    assert chipset.get_firmware_version().ic == 0x32
    assert emulator.faults["corrupt"] == 2
    assert emulator.commands.count("GetFirmwareVersion") == 1  # resent by the chip, not run again


def test_a_response_that_stays_corrupt_is_a_protocol_error(emulator: Pn532Emulator, chipset: Pn532Chipset) -> None:
    emulator.corrupt_responses(10)
    with pytest.raises(ReaderProtocolError, match=r"GetFirmwareVersion: response corrupt after 2 NACKs.*D5 03 32"):
        chipset.get_firmware_version()
    emulator.clear_faults()
    assert chipset.get_firmware_version().ic == 0x32


def test_a_nacked_command_is_sent_again(emulator: Pn532Emulator, chipset: Pn532Chipset) -> None:
    emulator.nack_commands(2)
    assert chipset.get_firmware_version().ic == 0x32
    assert emulator.faults["nack"] == 2
    emulator.nack_commands(3)
    with pytest.raises(ReaderProtocolError, match=r"sent 3 times, answered NACK, NACK, NACK; received 00 00 FF FF"):
        chipset.get_firmware_version()
    assert chipset.get_firmware_version().ic == 0x32


def test_a_mute_chip_times_out_then_recovers(emulator: Pn532Emulator, chipset: Pn532Chipset) -> None:
    emulator.mute(0.2)
    started = time.monotonic()
    with pytest.raises(ReaderTimeoutError, match="did not acknowledge the command, sent 3 times"):
        chipset.get_firmware_version()
    assert time.monotonic() - started < 0.2
    assert emulator.faults["muted"] >= 1
    time.sleep(0.2)
    assert chipset.get_firmware_version().ic == 0x32


def test_garbage_instead_of_the_response_times_out_showing_it(emulator: Pn532Emulator,
                                                              chipset: Pn532Chipset) -> None:
    emulator.garbage_instead_of_responses(b"\xde\xad\xbe\xef")
    with pytest.raises(ReaderTimeoutError, match=r"GetFirmwareVersion: no response .* 00 FF 00 FF 00 DE AD BE EF"):
        chipset.get_firmware_version()
    assert chipset.get_firmware_version().ic == 0x32


def test_an_unknown_command_gets_the_error_frame(chipset: Pn532Chipset) -> None:
    with pytest.raises(ReaderProtocolError, match="error frame"):
        chipset.command(0x8C, b"\x00")  # TgInitAsTarget: not emulated
    assert chipset.get_firmware_version().ic == 0x32


def test_a_response_to_another_command_is_refused(emulator: Pn532Emulator, chipset: Pn532Chipset) -> None:
    emulator.garbage_instead_of_responses(bytes.fromhex("0000ff02fed5151600"))  # SAMConfiguration's response
    with pytest.raises(ReaderProtocolError, match="expected a response D5 03, got D5 15"):
        chipset.get_firmware_version()

