"""The pn532: reader against the emulator on a real pty: every card command,
the card's refusals, tearing, presence, line faults, a lost port, URIs,
discovery, and the card operations giving what the sim: reader gives."""

from __future__ import annotations

import os
import termios
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import serial

from card_layout.access import KeyType
from card_layout.errors import AuthenticationError, CardAccessError, CardCommandError, CardRemovedError
from card_layout.trailer import TRANSPORT_KEY
from hardware.errors import (
    MultipleCardsError,
    ReaderTimeoutError,
    ReaderUnavailableError,
    ReaderUriError,
)
from hardware.pn532 import reader as reader_module
from hardware.pn532.emulator import Pn532Emulator
from hardware.pn532.mifare import CardRefusedError
from hardware.pn532.reader import Pn532Reader, list_readers
from hardware.reader import Reader
from hardware.sim.card import SimulatedCard
from hardware.uri import open_reader
from tests.builders import KEY_A, KEY_B, UID, UID7, blank_image, value_block
from tests.hardware.pn532.emulated import OPERATIONS, Operation, outcome, restricted_card, running, through_sim

A, B = KeyType.A, KeyType.B
INIT = ["SAMConfiguration", "GetFirmwareVersion", "RFConfiguration"]


def commands(card: SimulatedCard) -> list[tuple[str, int | None, str]]:
    return [(record.command, record.block, record.outcome) for record in card.log]


def test_is_a_reader(reader: Pn532Reader, emulator: Pn532Emulator) -> None:
    assert isinstance(reader, Reader)
    assert reader.name == f"pn532:{emulator.port}"
    assert reader.firmware is not None and reader.firmware.name == "PN532 v1.6"
    assert emulator.commands == INIT


def test_card_commands(reader: Pn532Reader, card: SimulatedCard) -> None:
    assert reader.uid() == UID
    reader.authenticate(4, A, TRANSPORT_KEY)
    reader.write_block(4, value_block(100, 4))
    reader.write_block(6, b"sixteen bytes!!!")
    assert reader.read_block(6) == b"sixteen bytes!!!"
    reader.increment(4, 5)
    reader.transfer(5)  # into another block of the sector
    reader.decrement(5, 1)
    reader.transfer(5)
    reader.restore(4)
    reader.transfer(4)
    assert [reader.read_block(block) for block in (4, 5)] == [value_block(100, 4), value_block(104, 4)]
    assert [(name, block) for name, block, _ in commands(card)] == [
        ("uid", None), ("authenticate", 4), ("write_block", 4), ("write_block", 6), ("read_block", 6),
        ("increment", 4), ("transfer", 5), ("decrement", 5), ("transfer", 5), ("restore", 4), ("transfer", 4),
        ("read_block", 4), ("read_block", 5),
    ]  # fmt: skip
    assert all(outcome == "ok" for _, _, outcome in commands(card))


def test_a_wrong_key_is_refused_and_the_card_must_be_selected_again(reader: Pn532Reader,
                                                                    card: SimulatedCard) -> None:
    reader.uid()
    with pytest.raises(AuthenticationError, match="sector 2 block 8: the key was refused") as info:
        reader.authenticate(8, B, bytes(6))
    assert info.value.block == 8
    with pytest.raises(CardCommandError, match="idle after a refused command"):
        reader.authenticate(8, B, TRANSPORT_KEY)
    reader.uid()
    reader.authenticate(8, B, TRANSPORT_KEY)
    assert [outcome for _, _, outcome in commands(card)] == [
        "ok", "AuthenticationError", "CardCommandError", "ok", "ok"]


def test_access_conditions_are_enforced_by_the_card(emulator: Pn532Emulator, reader: Pn532Reader) -> None:
    emulator.field.take()
    card = emulator.field.place(restricted_card())
    reader.uid()
    reader.authenticate(4, A, KEY_A)
    with pytest.raises(CardAccessError, match="block 4: the card refused read_block") as info:
        reader.read_block(4)
    assert type(info.value) is CardAccessError
    reader.uid()
    reader.authenticate(5, A, KEY_A)
    with pytest.raises(CardRefusedError, match="block 5: the card refused increment"):
        reader.increment(5, 1)  # increment needs key B
    reader.uid()
    reader.authenticate(6, A, KEY_A)
    with pytest.raises(CardCommandError):
        reader.decrement(6, 1)  # not a value block
    reader.uid()
    reader.authenticate(4, B, KEY_B)
    assert reader.read_block(4) == b"key B reads me!!"
    assert [outcome for _, _, outcome in commands(card)][-8:] == [
        "ok", "CardAccessError", "ok", "ok", "CardCommandError", "ok", "ok", "ok"]


def test_local_argument_checks_send_nothing(reader: Pn532Reader, card: SimulatedCard) -> None:
    with pytest.raises(CardCommandError, match="no card selected"):
        reader.read_block(4)
    reader.uid()
    with pytest.raises(CardCommandError, match="does not exist"):
        reader.read_block(64)
    with pytest.raises(CardCommandError, match="6 bytes"):
        reader.authenticate(4, A, b"\xff")
    with pytest.raises(CardCommandError, match="16 bytes"):
        reader.write_block(4, b"short")
    with pytest.raises(CardCommandError, match="outside"):
        reader.increment(4, -1)
    assert len(card.log) == 1


def test_a_card_torn_mid_write(reader: Pn532Reader, emulator: Pn532Emulator, card: SimulatedCard) -> None:
    reader.uid()
    card.reset_tear(tear_after=1, torn_bytes=3)
    reader.authenticate(4, A, TRANSPORT_KEY)
    with pytest.raises(CardRemovedError, match="block 4: the card did not answer write_block") as info:
        reader.write_block(4, b"\xaa" * 16)
    assert info.value.block == 4
    assert card.image()[64:80] == b"\xaa" * 3 + bytes(13)
    with pytest.raises(CardRemovedError, match="no card in the field"):
        reader.uid()
    emulator.field.place(card)
    assert reader.uid() == UID


def test_a_seven_byte_uid_authenticates_with_its_last_four_bytes(emulator: Pn532Emulator,
                                                                 reader: Pn532Reader) -> None:
    emulator.field.take()
    card = emulator.field.place(SimulatedCard(blank_image(UID7), uid_size=7))
    assert reader.uid() == UID7
    reader.authenticate(1, A, TRANSPORT_KEY)
    assert reader.read_block(0)[:7] == UID7
    assert commands(card)[-1] == ("read_block", 0, "ok")


def test_two_cards_are_refused(emulator: Pn532Emulator, reader: Pn532Reader) -> None:
    emulator.field.place(SimulatedCard.blank(UID7))
    with pytest.raises(MultipleCardsError, match="2 cards"):
        reader.uid()
    assert emulator.commands[-1] == "InRelease"
    with pytest.raises(MultipleCardsError):
        reader.wait_for_card(0.5)
    with pytest.raises(CardCommandError, match="no card selected"):
        reader.read_block(0)


def test_a_card_of_another_kind_is_refused(emulator: Pn532Emulator, reader: Pn532Reader,
                                           card: SimulatedCard) -> None:
    emulator.present_as(card, sens_res=0x0344, sel_res=0x20)
    with pytest.raises(CardCommandError, match=r"ATQA 0344, SAK 20\) is an ISO/IEC 14443-4 card"):
        reader.uid()
    with pytest.raises(CardCommandError, match=r"SAK 20\) is an ISO/IEC 14443-4 card"):
        reader.wait_for_card(0.5)


def test_presence(emulator: Pn532Emulator, reader: Pn532Reader, card: SimulatedCard) -> None:
    assert reader.card_present()
    assert reader.wait_for_card(0.5) == UID
    assert reader.wait_for_removal(0.05) is False
    threading.Timer(0.05, emulator.field.take).start()
    assert reader.wait_for_removal(2.0) is True
    assert not reader.card_present()
    started = time.monotonic()
    with pytest.raises(ReaderTimeoutError, match=r"no card in the field within 0\.1 s"):
        reader.wait_for_card(0.1)
    assert time.monotonic() - started < 0.5
    with pytest.raises(CardRemovedError, match="no card in the field"):
        reader.uid()
    threading.Timer(0.05, emulator.field.place, [card]).start()
    assert reader.wait_for_card(2.0) == UID


def test_line_faults_surface_typed_and_the_reader_recovers(emulator: Pn532Emulator, reader: Pn532Reader) -> None:
    reader.uid()
    emulator.corrupt_responses(1)
    emulator.inject_garbage(b"\x55\x00\xff\x10", frames=2)
    emulator.nack_commands(1)
    reader.authenticate(4, A, TRANSPORT_KEY)  # all three absorbed by NACK, resynchronisation and resend
    assert reader.read_block(4) == bytes(16)
    assert emulator.faults == {"corrupt": 1, "garbage": 2, "nack": 1}
    emulator.mute(10)
    with pytest.raises(ReaderTimeoutError, match="InDataExchange: the PN532 did not acknowledge"):
        reader.read_block(4)
    emulator.unmute()
    emulator.garbage_instead_of_responses(b"\x99" * 5)
    with pytest.raises(ReaderTimeoutError, match=r"InDataExchange: no response .* 99 99 99 99 99"):
        reader.read_block(4)
    assert reader.read_block(4) == bytes(16)


def test_an_unplugged_port_is_unavailable_until_it_comes_back(emulator: Pn532Emulator,
                                                              reader: Pn532Reader) -> None:
    reader.uid()
    emulator.unplug()
    with pytest.raises(ReaderUnavailableError, match="failed, port closed") as info:
        reader.authenticate(4, A, TRANSPORT_KEY)
    assert isinstance(info.value.__cause__, serial.SerialException | termios.error)
    with pytest.raises(ReaderUnavailableError, match="cannot open"):
        reader.uid()
    emulator.replug()
    assert reader.uid() == UID  # reconnected and initialised again, by itself
    assert emulator.commands[-4:] == [*INIT, "InListPassiveTarget"]
    reader.authenticate(4, A, TRANSPORT_KEY)
    assert reader.read_block(4) == bytes(16)


def test_a_port_replugged_between_two_calls(emulator: Pn532Emulator, reader: Pn532Reader) -> None:
    reader.uid()
    emulator.unplug()
    emulator.replug()
    with pytest.raises(ReaderUnavailableError):
        reader.authenticate(4, A, TRANSPORT_KEY)  # the old file descriptor is dead
    with pytest.raises(CardCommandError, match="no card selected"):
        reader.authenticate(4, A, TRANSPORT_KEY)  # a new chip: nothing is selected on it
    assert reader.uid() == UID


def test_close_switches_the_field_off(emulator: Pn532Emulator, reader: Pn532Reader) -> None:
    reader.close()
    assert emulator.commands[-1] == "RFConfiguration"
    reader.close()
    assert emulator.commands.count("RFConfiguration") == 2
    assert reader.uid() == UID  # a closed reader opens and initialises again when used
    assert emulator.commands[-4:] == [*INIT, "InListPassiveTarget"]


def test_the_port_is_taken_exclusively(emulator: Pn532Emulator, reader: Pn532Reader) -> None:
    with pytest.raises(ReaderUnavailableError, match="cannot open"):
        Pn532Reader(emulator.port).connect()
    assert list_readers([emulator.port]) == []  # a busy port is left out, not probed
    assert reader.uid() == UID


# -- opening and finding readers -----------------------------------------------------------------


def test_open_reader_by_uri(emulator: Pn532Emulator) -> None:
    reader = open_reader(f"pn532:{emulator.port}?baudrate=115200&timeout=0.3")
    try:
        assert isinstance(reader, Pn532Reader) and reader.timeout == 0.3
        assert reader.uid() == UID
    finally:
        reader.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [("baudrate=1000", "not a PN532 HSU speed"), ("timeout=0", "outside"), ("timeout=x", "not a number"),
     ("speed=1", "unknown parameter")],
)
def test_uri_parameters_are_checked(emulator: Pn532Emulator, query: str, message: str) -> None:
    with pytest.raises(ReaderUriError, match=message):
        open_reader(f"pn532:{emulator.port}?{query}")


def test_opening_a_port_without_a_pn532_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ReaderUnavailableError, match="cannot open"):
        open_reader(f"pn532:{tmp_path}/ttyNONE")
    master, slave = os.openpty()
    try:
        started = time.monotonic()
        with pytest.raises(ReaderUnavailableError, match="no PN532 answers") as info:
            Pn532Reader(os.ttyname(slave), timeout=0.05, ack_timeout=0.02).connect()
        assert isinstance(info.value.__cause__, ReaderTimeoutError)
        assert time.monotonic() - started < 1.0
    finally:
        os.close(master)
        os.close(slave)


def test_list_readers_probes_ports(emulator: Pn532Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = str(tmp_path / "ttyUSB7")
    assert list_readers([emulator.port, missing]) == [(f"pn532:{emulator.port}", f"PN532 v1.6 on {emulator.port}")]
    ports = [SimpleNamespace(device=missing), SimpleNamespace(device=emulator.port)]
    monkeypatch.setattr(reader_module.serial.tools.list_ports, "comports", lambda: ports)
    assert [uri for uri, _ in list_readers()] == [f"pn532:{emulator.port}"]


# -- card operations: the same card commands as through sim: -------------------------------------


def through_pn532(operation: Operation, tear_after: int | None = None) -> object:
    card = operation.card()
    card.reset_tear(tear_after)
    with running(card) as emulator:
        reader = Pn532Reader(emulator.port, timeout=0.2, ack_timeout=0.02)
        try:
            return outcome(card, lambda: operation.run(reader))
        finally:
            reader.close()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.name)
def test_operations_match_the_sim_reader(operation: Operation) -> None:
    expected, got = through_sim(operation), through_pn532(operation)
    assert got == expected
    assert not isinstance(expected.result, type)  # the operation succeeded
    assert len(expected.log) > 10


@pytest.mark.parametrize("tear_after", [3, 9, 11, 13])
def test_a_torn_debit_matches_the_sim_reader(tear_after: int) -> None:
    debit = next(operation for operation in OPERATIONS if operation.name == "debit")
    expected = through_sim(debit, tear_after)
    assert expected.result is CardRemovedError
    assert through_pn532(debit, tear_after) == expected
