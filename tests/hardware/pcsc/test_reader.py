"""PcscReader through the real stack: pyscard -> pcscd -> vpcd -> VirtualCard ->
SimulatedCard. Card commands, value operations emulated on the host, errors,
presence, two cards, a pcscd killed and restarted, and the card operations end
to end, compared with the sim backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("smartcard", reason="pyscard (the pcsc extra) is not installed")

from smartcard import scard
from smartcard.pcsc.PCSCExceptions import BaseSCardException

from card_layout.access import (
    DATA_READ_ONLY,
    DATA_TRANSPORT,
    DATA_VALUE_RECHARGEABLE,
    TRAILER_KEY_B_MANAGES,
    AccessConditions,
    KeyType,
)
from card_layout.errors import (
    AuthenticationError,
    CardAccessError,
    CardCommandError,
    CardRemovedError,
)
from card_layout.operations import transaction
from card_layout.operations.personalise import Issuance, personalise
from card_layout.operations.state import open_channel, read_card, read_state
from card_layout.reader import ClassicReader
from card_layout.trailer import TRANSPORT_KEY
from hardware.errors import (
    MultipleCardsError,
    ReaderTimeoutError,
    ReaderUnavailableError,
    ReaderUriError,
)
from hardware.pcsc.apdu import ValueOperationError
from hardware.pcsc.pcscd import Pcscd
from hardware.pcsc.reader import PcscReader, is_contactless, list_readers, open_pcsc
from hardware.pcsc.vcard import VirtualCard
from hardware.reader import Reader
from hardware.sim.card import CommandRecord, SimulatedCard
from hardware.sim.field import SimField
from hardware.sim.reader import SimReader
from hardware.uri import ReaderUri, open_reader
from tests.builders import KEY_A, KEY_B, UID, UID7, blank_image, block_of, value_block, with_sector
from tests.factories import ISSUED_AT, identity, issued_card, masters
from tests.factories import UID as ISSUED_UID

A, B = KeyType.A, KeyType.B
WAIT = 5.0
# Sector 1: two rechargeable value blocks (increment with key B only) and a data block.
VALUE_SECTOR = AccessConditions(DATA_VALUE_RECHARGEABLE, DATA_VALUE_RECHARGEABLE, DATA_TRANSPORT, TRAILER_KEY_B_MANAGES)
READ_ONLY_SECTOR = AccessConditions(DATA_READ_ONLY, DATA_TRANSPORT, DATA_TRANSPORT, TRAILER_KEY_B_MANAGES)


def value_image() -> bytes:
    image = with_sector(blank_image(), 1, VALUE_SECTOR,
                        data={0: value_block(1000, 4), 1: value_block(0, 5), 2: b"not a value blk!"})
    return with_sector(image, 2, READ_ONLY_SECTOR, data={0: b"read only block!"})


@pytest.fixture
def reader(pcscd: Pcscd, vcard: VirtualCard) -> Iterator[PcscReader]:
    device = PcscReader(pcscd.reader_name)
    yield device
    device.close()


def tap(field: SimField, reader: PcscReader, card: SimulatedCard) -> bytes:
    field.place(card)
    return reader.wait_for_card(WAIT)


class Apdus:
    """Counts the APDUs the virtual card answers inside a ``with`` block."""

    def __init__(self, vcard: VirtualCard) -> None:
        self.vcard = vcard
        self.count = 0

    def __enter__(self) -> Apdus:
        self._start = self.vcard.apdu_count
        return self

    def __exit__(self, *exc: object) -> None:
        self.count = self.vcard.apdu_count - self._start


def trace(log: list[CommandRecord]) -> list[tuple[object, ...]]:
    return [(r.command, r.block, r.key_type, r.outcome) for r in log]


# -- the device --------------------------------------------------------------------------


def test_a_pcsc_reader_is_a_reader(reader: PcscReader, pcscd: Pcscd, field: SimField) -> None:
    assert isinstance(reader, Reader)
    assert tap(field, reader, SimulatedCard.blank(UID)) == UID
    assert reader.name == pcscd.reader_name
    assert reader.card_present()


def test_a_seven_byte_uid(reader: PcscReader, field: SimField) -> None:
    assert tap(field, reader, SimulatedCard.blank(UID7)) == UID7


# -- card commands ---------------------------------------------------------------------------


def test_authenticate_read_and_write(reader: PcscReader, field: SimField) -> None:
    card = SimulatedCard(value_image())
    tap(field, reader, card)
    reader.authenticate(0, A, TRANSPORT_KEY)
    assert reader.read_block(0) == block_of(card.image(), 0)
    reader.authenticate(4, B, KEY_B)
    reader.write_block(6, b"written by pcsc!")
    assert reader.read_block(6) == b"written by pcsc!"
    assert block_of(card.image(), 6) == b"written by pcsc!"
    assert trace(card.log)[-5:] == [("authenticate", 0, A, "ok"), ("read_block", 0, A, "ok"),
                                    ("authenticate", 4, B, "ok"), ("write_block", 6, B, "ok"),
                                    ("read_block", 6, B, "ok")]


def test_a_wrong_key_is_refused_and_the_card_must_be_selected_again(reader: PcscReader, field: SimField) -> None:
    card = SimulatedCard(value_image())
    tap(field, reader, card)
    with pytest.raises(AuthenticationError) as refused:
        reader.authenticate(4, A, bytes(6))
    assert refused.value.block == 4
    with pytest.raises(CardCommandError, match="idle"):
        reader.authenticate(4, A, KEY_A)
    assert reader.uid() == UID
    reader.authenticate(4, A, KEY_A)
    assert reader.read_block(4) == value_block(1000, 4)
    assert [r.outcome for r in card.log[-5:]] == ["AuthenticationError", "CardCommandError", "ok", "ok", "ok"]


def test_access_bits_are_enforced_through_pcsc(reader: PcscReader, field: SimField) -> None:
    card = SimulatedCard(value_image())
    tap(field, reader, card)
    with pytest.raises(CardAccessError):  # nothing authenticated
        reader.read_block(8)
    reader.uid()
    reader.authenticate(8, A, KEY_A)
    with pytest.raises(CardAccessError) as denied:
        reader.write_block(8, bytes(16))
    assert not isinstance(denied.value, AuthenticationError) and denied.value.block == 8
    reader.uid()
    reader.authenticate(0, A, TRANSPORT_KEY)
    with pytest.raises(CardAccessError):
        reader.write_block(0, bytes(16))
    assert block_of(card.image(), 8) == b"read only block!"
    assert card.image()[:4] == UID


def test_bad_arguments_are_refused_on_the_host(reader: PcscReader, field: SimField, vcard: VirtualCard) -> None:
    tap(field, reader, SimulatedCard(value_image()))
    with Apdus(vcard) as sent:
        with pytest.raises(CardCommandError):
            reader.read_block(64)
        with pytest.raises(CardCommandError):
            reader.write_block(4, bytes(15))
        with pytest.raises(CardCommandError):
            reader.authenticate(4, A, bytes(5))
        with pytest.raises(CardCommandError):
            reader.decrement(4, -1)
    assert sent.count == 0


def test_keys_are_loaded_once_per_slot_and_connection(reader: PcscReader, field: SimField,
                                                      vcard: VirtualCard) -> None:
    card = SimulatedCard(value_image())
    tap(field, reader, card)
    costs = []
    for block, key_type, key in [(4, A, KEY_A), (4, A, KEY_A), (4, B, KEY_B), (4, A, KEY_A), (12, A, TRANSPORT_KEY),
                                 (4, A, KEY_A), (4, B, KEY_B)]:
        with Apdus(vcard) as sent:
            reader.authenticate(block, key_type, key)
        costs.append(sent.count)
    # two slots, least recently used one reloaded: TRANSPORT_KEY evicts KEY_B
    assert costs == [2, 1, 2, 1, 2, 1, 2]
    field.take()
    assert reader.wait_for_removal(WAIT)
    tap(field, reader, card)
    with Apdus(vcard) as sent:
        reader.authenticate(4, A, KEY_A)
    assert sent.count == 2  # a new connection does not trust the slots


# -- value operations, emulated on the host ------------------------------------------------


def run_on_sim(steps: Callable[[ClassicReader], None]) -> SimulatedCard:
    card = SimulatedCard(value_image())
    reader = SimReader(card)
    reader.uid()
    steps(reader)
    return card


def test_every_value_operation_lands_as_on_the_chip(reader: PcscReader, field: SimField,
                                                   vcard: VirtualCard) -> None:
    card = SimulatedCard(value_image())
    tap(field, reader, card)
    loads, counts = 0, []

    def steps(device: ClassicReader) -> None:
        nonlocal loads
        device.authenticate(4, B, KEY_B)
        for load, target in [(lambda: device.increment(4, 5), 4), (lambda: device.decrement(4, 30), 5),
                             (lambda: device.restore(5), 4), (lambda: device.increment(5, 7), 5),
                             (lambda: device.decrement(5, 0), 4), (lambda: device.restore(4), 4)]:
            with Apdus(vcard) as sent:
                load()
            loads += sent.count
            with Apdus(vcard) as sent:
                device.transfer(target)
            counts.append(sent.count)

    steps(reader)
    expected = run_on_sim(steps)
    assert card.image() == expected.image()
    assert block_of(card.image(), 5) == value_block(982, 4)  # 1005 - 30 + 7, with block 4's address byte
    assert loads == 0  # a load sends nothing
    # in place: 1 APDU; into another block: restore, then the operation in place: 2; a restore: 1
    assert counts[:6] == [1, 2, 1, 1, 2, 1]


def test_transfer_with_nothing_pending_is_refused_without_an_apdu(reader: PcscReader, field: SimField,
                                                                  vcard: VirtualCard) -> None:
    tap(field, reader, SimulatedCard(value_image()))
    reader.authenticate(4, B, KEY_B)
    with Apdus(vcard) as sent:
        with pytest.raises(CardCommandError, match="transfer buffer is empty"):
            reader.transfer(5)
        reader.decrement(4, 1)
        with pytest.raises(CardAccessError, match="within a sector"):
            reader.transfer(8)
        with pytest.raises(CardCommandError):  # the refused transfer emptied the buffer
            reader.transfer(4)
    assert sent.count == 0


def test_value_refusals_are_both_access_and_command_errors(reader: PcscReader, field: SimField) -> None:
    card = SimulatedCard(value_image())
    tap(field, reader, card)
    reader.authenticate(4, A, KEY_A)
    reader.increment(4, 1)  # increment is key B's
    with pytest.raises(ValueOperationError) as denied:
        reader.transfer(4)
    assert isinstance(denied.value, CardAccessError) and denied.value.block == 4
    reader.uid()
    reader.authenticate(4, B, KEY_B)
    reader.decrement(6, 1)  # block 6 is not a value block
    with pytest.raises(ValueOperationError) as refused:
        reader.transfer(6)
    assert isinstance(refused.value, CardCommandError) and refused.value.block == 6
    assert [r.outcome for r in card.log if r.outcome != "ok"] == ["CardAccessError", "CardCommandError"]
    assert block_of(card.image(), 4) == value_block(1000, 4)


def test_a_tear_between_the_two_apdus_leaves_the_old_value_in_the_target(reader: PcscReader,
                                                                         field: SimField) -> None:
    card = SimulatedCard(value_image())
    tap(field, reader, card)
    reader.authenticate(4, B, KEY_B)
    reader.decrement(4, 100)
    card.reset_tear(2)  # restore and its transfer land, the decrement is cut
    with pytest.raises(CardRemovedError):
        reader.transfer(5)
    assert block_of(card.image(), 5) == value_block(1000, 4)
    assert block_of(card.image(), 4) == value_block(1000, 4)


# -- tears, presence, two cards ------------------------------------------------------------------


def test_a_card_torn_away_mid_write_raises_card_removed(reader: PcscReader, field: SimField) -> None:
    card = SimulatedCard(value_image())
    tap(field, reader, card)
    reader.authenticate(4, B, KEY_B)
    card.reset_tear(0, torn_bytes=8)
    with pytest.raises(CardRemovedError) as torn:
        reader.write_block(6, b"\xee" * 16)
    assert torn.value.block == 6
    assert block_of(card.image(), 6) == b"\xee" * 8 + b"not a value blk!"[8:]
    with pytest.raises(CardRemovedError):
        reader.uid()
    assert tap(field, reader, card) == UID  # back in the field: selected again
    reader.authenticate(4, B, KEY_B)
    assert reader.read_block(6)[:8] == b"\xee" * 8


def test_no_card(reader: PcscReader) -> None:
    assert reader.wait_for_removal(WAIT)
    started = time.monotonic()
    with pytest.raises(ReaderTimeoutError):
        reader.wait_for_card(0.3)
    assert 0.3 <= time.monotonic() - started < 1.5
    assert not reader.card_present()
    with pytest.raises(CardRemovedError):
        reader.uid()


def test_close_from_another_thread_ends_a_wait(reader: PcscReader) -> None:
    failures: list[BaseException] = []

    def wait() -> None:
        try:
            reader.wait_for_card(WAIT)
        except BaseException as exc:
            failures.append(exc)

    waiter = threading.Thread(target=wait)
    started = time.monotonic()
    waiter.start()
    time.sleep(0.2)
    reader.close()
    waiter.join(WAIT)
    assert not waiter.is_alive() and time.monotonic() - started < 2
    assert len(failures) == 1 and isinstance(failures[0], ReaderUnavailableError)


def test_wait_for_removal(reader: PcscReader, field: SimField) -> None:
    tap(field, reader, SimulatedCard.blank(UID))
    started = time.monotonic()
    assert reader.wait_for_removal(0.2) is False
    assert time.monotonic() - started >= 0.2
    field.take()
    assert reader.wait_for_removal(WAIT) is True
    assert not reader.card_present()


def test_two_cards_are_refused(reader: PcscReader, field: SimField) -> None:
    first, second = SimulatedCard.blank(UID), SimulatedCard.blank(UID7)
    field.place(first)
    field.place(second)
    with pytest.raises(MultipleCardsError, match="2 cards"):
        reader.wait_for_card(WAIT)
    with pytest.raises(MultipleCardsError):
        reader.uid()
    field.take(second)
    assert reader.wait_for_card(WAIT) == UID


# -- pcscd goes away and comes back ----------------------------------------------------------------


def test_pcscd_killed_then_restarted(reader: PcscReader, field: SimField, pcscd: Pcscd) -> None:
    card = SimulatedCard(value_image())
    tap(field, reader, card)
    pcscd.kill()
    with pytest.raises(ReaderUnavailableError, match="pcscd is not running") as down:
        reader.authenticate(4, A, KEY_A)
    assert isinstance(down.value.__cause__, BaseSCardException)
    assert down.value.__cause__.hresult & 0xFFFFFFFF == scard.SCARD_E_NO_SERVICE & 0xFFFFFFFF
    for call in (reader.card_present, lambda: reader.wait_for_card(1), reader.uid, list_readers):
        with pytest.raises(ReaderUnavailableError, match="pcscd is not running"):
            call()
    pcscd.start()
    # the same reader object finds pcscd, its reader and the card again by itself
    assert reader.wait_for_card(WAIT) == UID
    reader.authenticate(4, A, KEY_A)
    assert reader.read_block(4) == value_block(1000, 4)


def test_a_connection_from_before_a_pcscd_restart_is_not_an_error_once_pcscd_is_back(
        reader: PcscReader, field: SimField, pcscd: Pcscd) -> None:
    tap(field, reader, SimulatedCard(value_image()))
    pcscd.restart()  # nothing called meanwhile: the reader still holds the old context and card
    assert reader.wait_for_card(WAIT) == UID
    pcscd.restart()
    with PcscReader(pcscd.reader_name) as observer:  # until the card is back in the new pcscd's reader
        deadline = time.monotonic() + WAIT
        while not observer.card_present() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert reader.uid() == UID


# -- opening and listing ----------------------------------------------------------------------------


def test_open_by_uri(pcscd: Pcscd, vcard: VirtualCard) -> None:
    for uri in ("pcsc:Virtual PCD", "pcsc:virtual pcd 00 00?timeout=1"):
        with open_reader(uri) as device:  # type: ignore[attr-defined]
            assert isinstance(device, PcscReader)
            assert device.name == pcscd.reader_name
    with open_pcsc(ReaderUri("pcsc", "")) as first:
        assert first.name == pcscd.reader_name  # the first contactless reader


@pytest.mark.parametrize("uri", ["pcsc:X?timeout=soon", "pcsc:X?timeout=-1", "pcsc:X?timeout=nan", "pcsc:X?speed=1"])
def test_bad_uris(uri: str) -> None:
    with pytest.raises(ReaderUriError):
        open_reader(uri)


def test_a_missing_reader_names_the_ones_there(pcscd: Pcscd) -> None:
    started = time.monotonic()
    with pytest.raises(ReaderUnavailableError, match="Virtual PCD 00 00"):
        open_reader("pcsc:ACR122?timeout=0.3")
    assert time.monotonic() - started >= 0.3


def test_list_readers(reader: PcscReader, field: SimField, pcscd: Pcscd) -> None:
    tap(field, reader, SimulatedCard.blank(UID))
    listed = dict(list_readers())
    assert listed[f"pcsc:{pcscd.reader_name}"] == "contactless PC/SC reader, card present"
    assert listed["pcsc:Virtual PCD 00 01"] == "contactless PC/SC reader, no card"


@pytest.mark.parametrize(("name", "contactless"), [
    ("ACS ACR122U PICC Interface 00 00", True), ("ACS ACR1252 1S CL Reader [ACR1252 Dual Reader PICC] 00 00", True),
    ("Identiv uTrust 4701 F Dual Interface Reader [uTrust 4701 F CL Reader] 01 00", True),
    ("Virtual PCD 00 00", True), ("Gemalto PC Twin Reader 00 00", False), ("Alcor Micro AU9540 00 00", False)])
def test_contactless_readers_are_told_by_name(name: str, contactless: bool) -> None:
    assert is_contactless(name) is contactless


# -- the card operations end to end, against the sim backend ------------------------------------


def test_round_trip_time(reader: PcscReader, field: SimField, vcard: VirtualCard) -> None:
    tap(field, reader, SimulatedCard.blank(UID))
    with Apdus(vcard) as sent:
        started = time.perf_counter()
        for _ in range(200):
            reader.uid()
        elapsed = time.perf_counter() - started
    assert sent.count == 200
    # ~0.2 ms here; without TCP_QUICKACK in the virtual card each would take ~40 ms
    assert elapsed / 200 < 0.01


def test_personalise_and_read_issue_the_same_commands_as_the_sim_backend(reader: PcscReader,
                                                                         field: SimField) -> None:
    issuance = Issuance(identity(), 2000, issued_at=ISSUED_AT)
    on_sim, on_pcsc = SimulatedCard.blank(UID), SimulatedCard.blank(UID)
    tap(field, reader, on_pcsc)
    on_pcsc.log.clear()
    personalise(reader, masters(), issuance)
    personalise(SimReader(on_sim), masters(), issuance)
    assert on_pcsc.image() == on_sim.image()
    assert trace(on_pcsc.log) == trace(on_sim.log)
    on_sim.log.clear()
    on_pcsc.log.clear()
    state = read_card(reader, masters())
    assert state == read_card(SimReader(on_sim), masters())
    assert state.balance_cents == 2000
    assert trace(on_pcsc.log) == trace(on_sim.log)


def emulated(log: list[CommandRecord]) -> list[tuple[object, ...]]:
    """The sim backend's log as the PC/SC reader's value emulation turns it
    into chip commands (module docstring of hardware.pcsc.reader)."""
    out: list[tuple[object, ...]] = []
    pending: CommandRecord | None = None
    for record in log:
        if record.command in ("increment", "decrement", "restore"):
            pending = record
            continue
        if record.command == "transfer" and pending is not None:
            src, dst, key = pending.block, record.block, pending.key_type
            if pending.command == "restore" or src != dst:
                out += [("restore", src, key, "ok"), ("transfer", dst, key, "ok")]
            if pending.command != "restore":
                out += [(pending.command, dst, key, "ok"), ("transfer", dst, key, "ok")]
            pending = None
            continue
        out.append((record.command, record.block, record.key_type, record.outcome))
    return out


@pytest.mark.parametrize("operation", ["debit", "credit"])
def test_debit_and_credit_end_to_end(reader: PcscReader, field: SimField, operation: str) -> None:
    on_sim, on_pcsc = issued_card(), issued_card()
    tap(field, reader, on_pcsc)
    results = []
    for card, device in ((on_sim, SimReader(on_sim)), (on_pcsc, reader)):
        channel = open_channel(device, masters())
        state = read_state(channel)
        card.log.clear()
        move = transaction.debit if operation == "debit" else transaction.credit
        results.append(move(channel, state, 150).balance_cents)
    assert results == [1850, 1850] if operation == "debit" else [2150, 2150]
    assert on_pcsc.image() == on_sim.image()
    # the only difference: a load into another block becomes restore + in-place operation
    assert trace(on_pcsc.log) == emulated(on_sim.log)
    assert trace(on_pcsc.log) != trace(on_sim.log)
    assert read_card(reader, masters()).balance_cents == results[0]


def test_a_debit_torn_at_any_command_leaves_the_old_or_the_new_balance(reader: PcscReader,
                                                                       field: SimField) -> None:
    card = issued_card()
    tap(field, reader, card)
    balance, torn = 2000, []
    for tear_after in range(11):
        channel = open_channel(reader, masters())
        state = read_state(channel)
        card.reset_tear(tear_after, torn_bytes=8)
        try:
            transaction.debit(channel, state, 100)
        except CardRemovedError:
            cut = card.log[-1]
            assert tap(field, reader, card) == ISSUED_UID
        else:
            cut = None
            card.reset_tear(None)
        after = read_card(reader, masters()).balance_cents
        assert after in (balance, balance - 100)  # value is never created, a fare never charged twice
        if cut is not None:
            torn.append((cut.command, cut.block, after != balance))
        balance = after
    # Torn between the restore into the new slot and the decrement in place:
    # the new slot holds the old value, the new record does not verify yet.
    purse_blocks = {block for command, block, _ in torn if command == "decrement"}
    assert purse_blocks and all(not changed for command, _, changed in torn if command == "decrement")
    # torn after the commit point (the retiring restore / transfer): the new balance
    assert any(changed for _, _, changed in torn)
    assert any(not changed for _, _, changed in torn)
    assert card.log[-1].outcome == "ok" and balance < 2000
