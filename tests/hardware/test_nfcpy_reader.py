"""The nfcpy: reader, with nfcpy 1.0.4's own pn532 driver, against the PN532
emulator on a real pty: nfcpy's initialisation, MIFARE Classic through the
chipset, discovery with sense, nfcpy's errors as ours, and the card
operations giving what the sim: reader gives."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nfc.clf
import pytest

from card_layout.access import KeyType
from card_layout.errors import AuthenticationError, CardAccessError, CardCommandError, CardRemovedError
from card_layout.trailer import TRANSPORT_KEY
from hardware.errors import (
    MultipleCardsError,
    ReaderProtocolError,
    ReaderTimeoutError,
    ReaderUnavailableError,
    ReaderUriError,
)
from hardware.nfcpy_reader import NfcpyReader, list_readers
from hardware.pn532.emulator import CIU_RX_MODE, RX_CRC_EN, Pn532Emulator
from hardware.pn532.mifare import CardRefusedError
from hardware.reader import Reader
from hardware.sim.card import SimulatedCard
from hardware.sim.field import SimField
from hardware.uri import open_reader
from tests.builders import KEY_A, UID, UID7, blank_image, value_block
from tests.hardware.pn532.emulated import OPERATIONS, Operation, outcome, restricted_card, running, through_sim

A, B = KeyType.A, KeyType.B
# nfc.clf.pn532.init and nfc.clf.pn532.Device.__init__, in nfcpy 1.0.4.
NFCPY_INIT = ["GetFirmwareVersion", "SAMConfiguration", "SetSerialBaudrate", "Diagnose", "GetFirmwareVersion",
              "SetParameters", *["RFConfiguration"] * 8]


@pytest.fixture
def card() -> SimulatedCard:
    return SimulatedCard(blank_image(UID))


@pytest.fixture
def emulator(card: SimulatedCard, tmp_path: Path) -> Iterator[Pn532Emulator]:
    emulator = Pn532Emulator(SimField(card), link=tmp_path / "ttyPN532").start()
    yield emulator
    emulator.stop()


@pytest.fixture
def reader(emulator: Pn532Emulator) -> Iterator[NfcpyReader]:
    reader = NfcpyReader(f"tty:{emulator.port}", timeout=0.2)
    reader.connect()
    yield reader
    reader.close()


def outcomes(card: SimulatedCard) -> list[str]:
    return [record.outcome for record in card.log]


def test_nfcpy_initialises_the_emulated_pn532(reader: NfcpyReader, emulator: Pn532Emulator) -> None:
    assert isinstance(reader, Reader)
    assert reader.name == f"nfcpy:tty:{emulator.port}"
    assert reader.device == f"PN532v1.6 at {emulator.port}"
    assert emulator.commands == NFCPY_INIT


def test_card_commands_through_the_chipset(reader: NfcpyReader, card: SimulatedCard) -> None:
    assert reader.uid() == UID
    reader.authenticate(4, A, TRANSPORT_KEY)
    reader.write_block(4, value_block(100, 4))
    reader.increment(4, 5)
    reader.transfer(5)
    reader.decrement(5, 1)
    reader.transfer(6)
    reader.restore(4)
    reader.transfer(4)
    assert [reader.read_block(block) for block in (4, 5, 6)] == [
        value_block(100, 4), value_block(105, 4), value_block(104, 4)]
    assert [record.command for record in card.log] == [
        "uid", "authenticate", "write_block", "increment", "transfer", "decrement", "transfer", "restore",
        "transfer", "read_block", "read_block", "read_block"]
    assert set(outcomes(card)) == {"ok"}


def test_refusals_become_card_errors(reader: NfcpyReader, emulator: Pn532Emulator) -> None:
    reader.uid()
    with pytest.raises(AuthenticationError, match="block 8") as info:
        reader.authenticate(8, B, bytes(6))
    assert isinstance(info.value.__cause__.__cause__, nfc.clf.pn53x.Chipset.Error)  # nfcpy's, kept
    with pytest.raises(CardCommandError, match="idle"):
        reader.authenticate(8, B, TRANSPORT_KEY)
    emulator.field.take()
    emulator.field.place(restricted_card())
    reader.uid()
    reader.authenticate(4, A, KEY_A)
    with pytest.raises(CardAccessError, match="block 4: the card refused read_block"):
        reader.read_block(4)
    reader.uid()
    reader.authenticate(5, A, KEY_A)
    with pytest.raises(CardRefusedError):
        reader.increment(5, 1)


def test_a_card_torn_mid_transfer(reader: NfcpyReader, card: SimulatedCard, emulator: Pn532Emulator) -> None:
    reader.uid()
    reader.authenticate(4, A, TRANSPORT_KEY)
    reader.write_block(4, value_block(100, 4))
    reader.decrement(4, 30)
    card.reset_tear(tear_after=0, torn_bytes=16)
    with pytest.raises(CardRemovedError, match="block 4: the card did not answer transfer"):
        reader.transfer(4)
    assert card.image()[64:80] == value_block(70, 4)  # the whole block landed before the card left
    with pytest.raises(CardRemovedError, match="no card in the field"):
        reader.uid()
    emulator.field.place(card)
    assert reader.uid() == UID


def test_two_cards_seen_by_max_tg_2_not_by_nfcpys_sense(reader: NfcpyReader, emulator: Pn532Emulator) -> None:
    emulator.field.place(SimulatedCard(blank_image(UID7), uid_size=7))
    assert reader.card_present()  # nfcpy's sense lists one target only
    with pytest.raises(MultipleCardsError, match="2 cards"):
        reader.uid()
    with pytest.raises(MultipleCardsError):
        reader.wait_for_card(0.5)


def test_presence_with_sense(reader: NfcpyReader, emulator: Pn532Emulator, card: SimulatedCard) -> None:
    assert reader.card_present()
    # nfcpy switched the CRC check off for what it takes for a Type 2 Tag; the reader switched it back on.
    assert emulator._registers[CIU_RX_MODE] & RX_CRC_EN
    reader.authenticate(0, A, TRANSPORT_KEY)  # the card sense selected
    assert reader.read_block(0)[:4] == UID
    assert reader.wait_for_card(0.5) == UID
    assert reader.wait_for_removal(0.05) is False
    threading.Timer(0.05, emulator.field.take).start()
    assert reader.wait_for_removal(2.0) is True
    assert not reader.card_present()
    with pytest.raises(ReaderTimeoutError, match=r"no card in the field within 0\.1 s"):
        reader.wait_for_card(0.1)
    threading.Timer(0.05, emulator.field.place, [card]).start()
    assert reader.wait_for_card(2.0) == UID


def test_a_card_of_another_kind_is_refused(reader: NfcpyReader, emulator: Pn532Emulator, card: SimulatedCard) -> None:
    emulator.present_as(card, sens_res=0x0044, sel_res=0x00)
    with pytest.raises(CardCommandError, match=r"SAK 00\) is a MIFARE Ultralight"):
        reader.wait_for_card(0.5)


def test_nfcpy_errors_become_ours_and_the_reader_recovers(reader: NfcpyReader, emulator: Pn532Emulator) -> None:
    reader.uid()
    reader.authenticate(4, A, TRANSPORT_KEY)
    emulator.inject_garbage(b"\x12\x34")
    with pytest.raises(ReaderProtocolError, match="InDataExchange: garbled exchange") as garbled:
        reader.read_block(4)  # nfcpy reads a frame from where it expects one: it cannot resynchronise
    assert isinstance(garbled.value.__cause__, OSError) and garbled.value.__cause__.errno == errno.EIO
    emulator.mute(10)
    with pytest.raises(ReaderTimeoutError, match="did not answer in time"):
        reader.read_block(4)
    emulator.unmute()
    reader.uid()
    reader.authenticate(4, A, TRANSPORT_KEY)
    assert reader.read_block(4) == bytes(16)


def test_a_selection_the_chip_did_not_acknowledge_is_sent_again(reader: NfcpyReader, emulator: Pn532Emulator) -> None:
    emulator.ignore_commands(1)  # InListPassiveTarget lost on the line: nfcpy's 100 ms ACK wait runs out
    assert reader.uid()
    assert emulator.faults["ignored"] == 1
    reader.authenticate(4, A, TRANSPORT_KEY)
    emulator.ignore_commands(1)  # a card command is never sent twice (a value operation must not run twice)
    with pytest.raises(ReaderTimeoutError, match="did not answer in time"):
        reader.read_block(4)


def test_an_unplugged_port_is_unavailable_until_it_comes_back(reader: NfcpyReader, emulator: Pn532Emulator) -> None:
    reader.uid()
    emulator.unplug()
    with pytest.raises(ReaderUnavailableError, match="the device is gone"):
        reader.authenticate(4, A, TRANSPORT_KEY)
    with pytest.raises(ReaderUnavailableError, match="cannot open"):
        reader.uid()
    emulator.replug()
    assert reader.uid() == UID
    assert emulator.commands[-len(NFCPY_INIT) - 1 :] == [*NFCPY_INIT, "InListPassiveTarget"]


def test_close_puts_the_pn532_to_sleep(reader: NfcpyReader, emulator: Pn532Emulator) -> None:
    reader.close()
    assert emulator.commands[-2:] == ["SetSerialBaudrate", "PowerDown"]
    reader.close()
    assert reader.device == ""
    assert reader.uid() == UID  # woken up and initialised again


# -- opening and finding readers -----------------------------------------------------------------


def test_open_reader_by_uri(emulator: Pn532Emulator) -> None:
    reader = open_reader(f"nfcpy:tty:{emulator.port}:pn532?timeout=0.3")
    try:
        assert isinstance(reader, NfcpyReader) and reader.timeout == 0.3
        assert reader.uid() == UID
    finally:
        reader.close()


@pytest.mark.parametrize(
    ("uri", "message"),
    [("nfcpy:usb:12", "expected nfcpy:usb"), ("nfcpy:ttyUSB0", "expected"), ("nfcpy:usb?timeout=-1", "outside"),
     ("nfcpy:usb?retries=1", "unknown parameter")],
)
def test_uris_are_checked(uri: str, message: str) -> None:
    with pytest.raises(ReaderUriError, match=message):
        open_reader(uri)


def test_missing_readers_are_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ReaderUnavailableError, match="finds no reader"):
        open_reader("nfcpy:usb:054c:06c3")
    with pytest.raises(ReaderUnavailableError, match="cannot open"):
        open_reader(f"nfcpy:tty:{tmp_path}/ttyNONE")
    master, slave = os.openpty()
    try:
        started = time.monotonic()
        with pytest.raises(ReaderUnavailableError, match="cannot open") as info:
            NfcpyReader(f"tty:{os.ttyname(slave)}").connect()  # nothing answers on this pty
        assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.ETIMEDOUT
        assert time.monotonic() - started < 1.0
    finally:
        os.close(master)
        os.close(slave)


def test_list_readers_without_usb_is_empty_and_quick() -> None:
    started = time.monotonic()
    assert list_readers() == []
    assert time.monotonic() - started < 2.0


# -- card operations: the same card commands as through sim: -------------------------------------


def through_nfcpy(operation: Operation, tear_after: int | None = None) -> object:
    card = operation.card()
    with running(card) as emulator:
        reader = NfcpyReader(f"tty:{emulator.port}", timeout=0.2)
        try:
            reader.connect()
            card.reset_tear(tear_after)
            return outcome(card, lambda: operation.run(reader))
        finally:
            reader.close()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.name)
def test_operations_match_the_sim_reader(operation: Operation) -> None:
    expected, got = through_sim(operation), through_nfcpy(operation)
    assert got == expected
    assert not isinstance(expected.result, type)
    assert len(expected.log) > 10


@pytest.mark.parametrize("tear_after", [5, 12])
def test_a_torn_credit_matches_the_sim_reader(tear_after: int) -> None:
    credit = next(operation for operation in OPERATIONS if operation.name == "credit")
    expected = through_sim(credit, tear_after)
    assert expected.result is CardRemovedError
    assert through_nfcpy(credit, tear_after) == expected
