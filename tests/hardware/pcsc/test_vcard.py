"""The virtual card: what it answers (as an ACR122U would, by driving the
simulated card), vpcd's framing over a real socket, and a serving thread that
never dies silently. These tests need no pcscd: a listening socket stands in
for vpcd."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest

from card_layout.access import KeyType
from card_layout.errors import CardRemovedError
from card_layout.trailer import TRANSPORT_KEY
from hardware.errors import ReaderTimeoutError
from hardware.pcsc.apdu import (
    ATR_MIFARE_CLASSIC_1K,
    GeneralAuthenticate,
    GetUid,
    InListPassiveTarget,
    InListPassiveTargetResponse,
    LoadKey,
    ReadBinary,
    ReadValueBlock,
    Response,
    RestoreValueBlock,
    UpdateBinary,
    ValueBlockOperation,
    ValueOp,
)
from hardware.pcsc.vcard import VirtualCard
from hardware.sim.card import SimulatedCard
from hardware.sim.field import SimField
from tests.builders import UID, UID7, blank_image, block_of, value_block, with_block

OK = b"\x90\x00"
FAILED = b"\x63\x00"


def ask(vcard: VirtualCard, command: object) -> Response:
    return Response.decode(vcard.respond(command.encode()))  # type: ignore[attr-defined]


@pytest.fixture
def card() -> SimulatedCard:
    return SimulatedCard(with_block(blank_image(), 4, value_block(100, 4)))


@pytest.fixture
def vcard(card: SimulatedCard) -> VirtualCard:
    return VirtualCard(SimField(card), port=1)


def authenticated(vcard: VirtualCard, block: int = 4) -> None:
    assert ask(vcard, LoadKey(0, TRANSPORT_KEY)).sw == 0x9000
    assert ask(vcard, GeneralAuthenticate(block, KeyType.A, 0)).sw == 0x9000


# -- answers ---------------------------------------------------------------------------


def test_get_data_selects_the_card(vcard: VirtualCard, card: SimulatedCard) -> None:
    assert vcard.respond(GetUid().encode()) == UID + OK
    assert [(r.command, r.outcome) for r in card.log] == [("uid", "ok")]


def test_memory_commands_drive_the_simulated_card(vcard: VirtualCard, card: SimulatedCard) -> None:
    authenticated(vcard)
    assert vcard.respond(UpdateBinary(5, b"sixteen bytes!!!").encode()) == OK
    assert vcard.respond(ReadBinary(5).encode()) == b"sixteen bytes!!!" + OK
    assert [(r.command, r.block, r.key_type) for r in card.log] == [
        ("authenticate", 4, KeyType.A), ("write_block", 5, KeyType.A), ("read_block", 5, KeyType.A)]
    assert block_of(card.image(), 5) == b"sixteen bytes!!!"


def test_a_key_authenticates_only_from_the_slot_it_was_loaded_into(vcard: VirtualCard, card: SimulatedCard) -> None:
    assert ask(vcard, LoadKey(1, TRANSPORT_KEY)).sw == 0x9000
    assert vcard.respond(GeneralAuthenticate(4, KeyType.A, 0).encode()) == FAILED
    card.uid()
    assert vcard.respond(GeneralAuthenticate(4, KeyType.A, 1).encode()) == OK


def test_whatever_the_card_refuses_answers_63_00(vcard: VirtualCard, card: SimulatedCard) -> None:
    assert ask(vcard, LoadKey(0, bytes(6))).sw == 0x9000
    assert vcard.respond(GeneralAuthenticate(4, KeyType.A, 0).encode()) == FAILED
    assert vcard.respond(ReadBinary(4).encode()) == FAILED
    assert [r.outcome for r in card.log] == ["AuthenticationError", "CardAccessError"]


def test_value_operations_are_the_chips_load_then_transfer(vcard: VirtualCard, card: SimulatedCard) -> None:
    authenticated(vcard)
    assert vcard.respond(RestoreValueBlock(4, 5).encode()) == OK
    assert vcard.respond(ValueBlockOperation(5, ValueOp.DECREMENT, 30).encode()) == OK
    assert vcard.respond(ValueBlockOperation(4, ValueOp.INCREMENT, 5).encode()) == OK
    assert vcard.respond(ValueBlockOperation(6, ValueOp.STORE, -7).encode()) == OK
    assert vcard.respond(ReadValueBlock(5).encode()) == struct.pack(">i", 70) + OK
    assert [(r.command, r.block) for r in card.log[1:]] == [
        ("restore", 4), ("transfer", 5), ("decrement", 5), ("transfer", 5), ("increment", 4), ("transfer", 4),
        ("write_block", 6), ("read_block", 5)]
    # the copy keeps the source's address byte, as the chip's transfer does
    assert block_of(card.image(), 5) == value_block(70, 4)
    assert block_of(card.image(), 4) == value_block(105, 4)
    assert block_of(card.image(), 6) == value_block(-7, 6)


def test_a_value_command_on_a_data_block_answers_63_00(vcard: VirtualCard) -> None:
    authenticated(vcard)
    assert vcard.respond(ValueBlockOperation(5, ValueOp.DECREMENT, 1).encode()) == FAILED
    assert vcard.respond(GetUid().encode()) == UID + OK  # a refusal leaves the card idle
    authenticated(vcard)
    assert vcard.respond(ReadValueBlock(5).encode()) == FAILED


def test_unknown_and_malformed_commands(vcard: VirtualCard) -> None:
    assert vcard.respond(bytes.fromhex("FF 84 00 00 00")) == b"\x6a\x81"
    assert vcard.respond(bytes.fromhex("00 A4 04 00 00")) == b"\x6a\x81"
    assert vcard.respond(bytes.fromhex("FF B0 00 04 04")) == FAILED
    assert vcard.respond(bytes.fromhex("FF 00 00 00 02 D4 02")) == b"\x6a\x81"  # GetFirmwareVersion


def test_in_list_passive_target_counts_cards_without_selecting_them() -> None:
    first, second = SimulatedCard.blank(UID), SimulatedCard.blank(UID7)
    field = SimField(first, second)
    vcard = VirtualCard(field, port=1)
    answer = ask(vcard, InListPassiveTarget(2).apdu())
    listed = InListPassiveTargetResponse.decode(answer.data)
    assert [(t.tg, t.nfcid1, t.sens_res, t.sel_res) for t in listed.targets] == [
        (1, UID, b"\x00\x04", 0x08), (2, UID7, b"\x00\x44", 0x08)]
    assert InListPassiveTargetResponse.decode(ask(vcard, InListPassiveTarget(1).apdu()).data).nb_tg == 1
    assert first.log == [] and second.log == []
    # the pseudo-APDUs address one card: with two in the field they fail
    assert vcard.respond(GetUid().encode()) == FAILED
    field.take(second)
    assert vcard.respond(GetUid().encode()) == UID + OK


def test_a_tear_raises_instead_of_answering(vcard: VirtualCard, card: SimulatedCard) -> None:
    authenticated(vcard)
    card.reset_tear(0, torn_bytes=4)
    with pytest.raises(CardRemovedError):
        vcard.respond(UpdateBinary(5, b"\xaa" * 16).encode())
    assert block_of(card.image(), 5) == b"\xaa" * 4 + bytes(12)
    with pytest.raises(CardRemovedError):
        vcard.respond(GetUid().encode())


# -- vpcd's framing, over a socket ----------------------------------------------------------


class FakeVpcd:
    """The server end of vpcd's protocol: accepts the virtual card and exchanges messages."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(5)
        self.port = self.server.getsockname()[1]
        self.client: socket.socket | None = None

    def accept(self) -> None:
        self.client, _ = self.server.accept()
        self.client.settimeout(5)

    def send(self, payload: bytes) -> None:
        assert self.client is not None
        self.client.sendall(struct.pack(">H", len(payload)))
        self.client.sendall(payload)  # vpcd writes length and payload separately, too

    def receive(self) -> bytes:
        assert self.client is not None
        header = self._exactly(2)
        return self._exactly(struct.unpack(">H", header)[0])

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.client.recv(count - len(data))  # type: ignore[union-attr]
            if not chunk:
                raise EOFError("the virtual card closed the connection")
            data += chunk
        return data

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.server.close()


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    server = FakeVpcd()
    yield server
    server.close()


def test_the_virtual_card_speaks_vpcds_framing(vpcd: FakeVpcd, card: SimulatedCard) -> None:
    with VirtualCard(SimField(card), vpcd.port) as vcard:
        vpcd.accept()
        vpcd.send(b"\x01")  # power on: no answer
        vpcd.send(b"\x04")
        assert vpcd.receive() == ATR_MIFARE_CLASSIC_1K
        started = time.perf_counter()
        for _ in range(50):
            vpcd.send(GetUid().encode())
            assert vpcd.receive() == UID + OK
        per_apdu = (time.perf_counter() - started) / 50
        assert vcard.connected and vcard.connections == 1
    # no 40 ms delayed-ACK stall per exchange (TCP_QUICKACK)
    assert per_apdu < 0.02
    assert vcard.apdu_count == 50


def test_an_emptied_field_closes_the_connection_and_a_placed_card_reconnects(vpcd: FakeVpcd,
                                                                              card: SimulatedCard) -> None:
    field = SimField(card)
    with VirtualCard(field, vpcd.port, poll_interval=0.01) as vcard:
        vpcd.accept()
        field.take()
        with pytest.raises(EOFError):
            vpcd.receive()
        assert not vcard.connected
        field.place(card)
        vpcd.accept()
        vpcd.send(b"\x04")
        assert vpcd.receive() == ATR_MIFARE_CLASSIC_1K
        assert vcard.connections == 2


def test_a_tear_closes_the_connection_without_an_answer(vpcd: FakeVpcd, card: SimulatedCard) -> None:
    field = SimField(card)
    with VirtualCard(field, vpcd.port):
        vpcd.accept()
        card.reset_tear(0)
        vpcd.send(GetUid().encode())
        with pytest.raises(EOFError):
            vpcd.receive()
    assert not card.present


def test_no_card_no_connection(vpcd: FakeVpcd) -> None:
    vpcd.server.settimeout(0.2)
    with VirtualCard(SimField(), vpcd.port), pytest.raises(TimeoutError):
        vpcd.accept()


def test_a_vpcd_that_is_not_there_yet_is_waited_for(card: SimulatedCard) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with VirtualCard(SimField(card), port, poll_interval=0.01) as vcard:
        time.sleep(0.1)  # connection refused meanwhile: not a failure
        server = socket.create_server(("127.0.0.1", port))
        try:
            server.settimeout(5)
            client, _ = server.accept()
            client.close()
        finally:
            server.close()
        assert vcard.error is None and vcard.running


# -- the thread never dies silently ------------------------------------------------------


class BrokenField(SimField):
    @property
    def cards(self) -> tuple[SimulatedCard, ...]:
        raise ZeroDivisionError("a bug in the field")


def test_a_failing_thread_keeps_its_error_and_stop_raises_it() -> None:
    vcard = VirtualCard(BrokenField(), port=1).start()
    deadline = time.monotonic() + 5
    while vcard.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not vcard.running
    assert isinstance(vcard.error, ZeroDivisionError)
    with pytest.raises(ZeroDivisionError, match="a bug in the field"):
        vcard.stop()
    with pytest.raises(ZeroDivisionError):
        vcard.join()


def test_stop_ends_the_thread_and_join_times_out_on_a_running_one(vpcd: FakeVpcd, card: SimulatedCard) -> None:
    vcard = VirtualCard(SimField(card), vpcd.port).start()
    with pytest.raises(ReaderTimeoutError):
        vcard.join(timeout=0.05)
    vcard.stop()
    assert not vcard.running and not vcard.connected


def test_the_reader_name_follows_vpcds_stock_configuration() -> None:
    assert VirtualCard(SimField()).reader_name == "Virtual PCD 00 00"
    assert VirtualCard(SimField(), port=35964).reader_name == "Virtual PCD 00 01"
    assert VirtualCard(SimField(), port=40000, reader_name="Lab PCD 00 00").reader_name == "Lab PCD 00 00"
