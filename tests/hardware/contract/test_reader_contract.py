"""The reader contract: what every backend (sim, pcsc, pn532, nfcpy, and a
physical reader on request) must do identically, from a single card command to
a whole tap."""

from __future__ import annotations

import time

import pytest

from card_layout.access import KeyType
from card_layout.errors import AuthenticationError, CardAccessError, CardCommandError, CardRemovedError
from card_layout.operations.audit import audit_card
from card_layout.operations.personalise import Issuance, personalise, wipe
from card_layout.operations.state import open_channel, read_card, read_state
from card_layout.operations.transaction import credit, debit
from card_layout.trailer import TRANSPORT_KEY
from card_layout.value_block import ValueBlock
from hardware.errors import MultipleCardsError, ReaderTimeoutError
from tests.factories import ISSUED_AT, UID, identity, issued_card, masters

from .conftest import Rig

KEYS = masters()
WRONG = bytes.fromhex("010203040506")
sim_field = pytest.mark.sim_field


def _ready(rig: Rig) -> bytes:
    """A blank card in the field, selected, with value blocks 8 (100) and 9 (5)
    and block 10 clear, written through the reader under test."""
    rig.place_blank()
    uid = rig.reader.wait_for_card(5.0)
    rig.reader.authenticate(8, KeyType.A, TRANSPORT_KEY)
    rig.reader.write_block(8, ValueBlock(100, 8).encode())
    rig.reader.write_block(9, ValueBlock(5, 9).encode())
    rig.reader.write_block(10, bytes(16))
    return uid


def test_a_card_is_found_and_selected(rig: Rig) -> None:
    uid = _ready(rig)
    assert rig.reader.card_present()
    assert rig.reader.uid() == uid
    if rig.field is not None:
        assert uid == UID


@sim_field
def test_no_card_times_out_in_bounded_time(rig: Rig) -> None:
    start = time.monotonic()
    with pytest.raises(ReaderTimeoutError):
        rig.reader.wait_for_card(0.3)
    assert time.monotonic() - start < 2.0
    assert not rig.reader.card_present()


@sim_field
def test_two_cards_are_refused(rig: Rig) -> None:
    rig.place_blank()
    rig.place_blank(bytes.fromhex("0A0B0C0D"))
    with pytest.raises(MultipleCardsError):
        rig.reader.wait_for_card(2.0)


@sim_field
def test_removal_is_seen(rig: Rig) -> None:
    _ready(rig)
    rig.take()
    assert rig.reader.wait_for_removal(2.0)
    assert not rig.reader.card_present()


def test_authenticate_right_and_wrong_key(rig: Rig) -> None:
    _ready(rig)
    rig.reader.authenticate(4, KeyType.A, TRANSPORT_KEY)
    with pytest.raises(AuthenticationError):
        rig.reader.authenticate(8, KeyType.A, WRONG)
    rig.reader.uid()  # a refused command leaves the chip idle: select it again
    rig.reader.authenticate(8, KeyType.A, TRANSPORT_KEY)
    assert rig.reader.read_block(8) == ValueBlock(100, 8).encode()


def test_read_and_write(rig: Rig) -> None:
    _ready(rig)
    rig.reader.authenticate(4, KeyType.A, TRANSPORT_KEY)
    data = bytes(range(16))
    rig.reader.write_block(5, data)
    assert rig.reader.read_block(5) == data
    rig.reader.write_block(5, bytes(16))
    assert rig.reader.read_block(5) == bytes(16)


def test_every_value_operation(rig: Rig) -> None:
    _ready(rig)
    rig.reader.decrement(8, 30)
    rig.reader.transfer(8)                       # in place: 70
    rig.reader.increment(8, 7)
    rig.reader.transfer(9)                       # into another block: 77
    rig.reader.restore(9)
    rig.reader.transfer(10)                      # a copy: 77
    rig.reader.decrement(10, 80)
    rig.reader.transfer(10)                      # negative values are values: -3
    values = [ValueBlock.decode(rig.reader.read_block(b)).value for b in (8, 9, 10)]
    assert values == [70, 77, -3]
    if rig.cards:
        image = rig.cards[-1].image()
        assert [ValueBlock.decode(image[b * 16 : b * 16 + 16]).value for b in (8, 9, 10)] == [70, 77, -3]


def test_a_value_operation_on_a_data_block_is_refused(rig: Rig) -> None:
    _ready(rig)
    rig.reader.write_block(10, bytes(range(16)))
    with pytest.raises((CardAccessError, CardCommandError)):  # the chip NAKs: not a value block
        rig.reader.decrement(10, 1)
        rig.reader.transfer(10)


@sim_field
def test_access_bits_are_enforced(rig: Rig) -> None:
    rig.place(issued_card(500))
    uid = rig.reader.wait_for_card(2.0)
    keys = KEYS.for_card(uid)
    rig.reader.authenticate(8, KeyType.A, keys.sector_key(2, KeyType.A))
    with pytest.raises(CardAccessError):
        rig.reader.increment(8, 1000)            # a validator's key may not raise a balance
        rig.reader.transfer(8)
    rig.reader.uid()
    rig.reader.authenticate(4, KeyType.A, keys.sector_key(1, KeyType.A))
    with pytest.raises(CardAccessError):
        rig.reader.write_block(4, bytes(16))     # identity is written with key B only
    assert read_card(rig.reader, KEYS).balance_cents == 500


@sim_field
def test_card_removed_mid_operation(rig: Rig) -> None:
    _ready(rig)
    card = rig.cards[-1]
    rig.reader.authenticate(4, KeyType.A, TRANSPORT_KEY)
    card.reset_tear(1)
    rig.reader.read_block(4)
    with pytest.raises(CardRemovedError):
        rig.reader.write_block(5, bytes(range(16)))
    assert rig.reader.wait_for_removal(2.0)
    rig.place(card)
    assert rig.reader.wait_for_card(2.0) == UID
    rig.reader.authenticate(4, KeyType.A, TRANSPORT_KEY)
    assert rig.reader.read_block(5) == bytes(16)


def test_card_operations_end_to_end(rig: Rig) -> None:
    rig.place_blank()
    rig.reader.wait_for_card(5.0)
    issued = personalise(rig.reader, KEYS, Issuance(identity(), 1000, issued_at=ISSUED_AT))
    try:
        assert issued.balance_cents == 1000
        ch = open_channel(rig.reader, KEYS.validator_subset())
        debit(ch, read_state(ch), 150)
        ch = open_channel(rig.reader, KEYS)
        state = credit(ch, read_state(ch), 500)
        assert state.balance_cents == 1350
        assert read_card(rig.reader, KEYS.validator_subset()).balance_cents == 1350
        assert audit_card(rig.reader, KEYS).genuine
    finally:
        rig.reader.uid()
        wipe(rig.reader, KEYS)  # a physical test card leaves as blank as it came


@sim_field
@pytest.mark.parametrize("tear_after", [2, 3, 4, 5, 6])
def test_a_tap_torn_through_the_backend_recovers(rig: Rig, tear_after: int) -> None:
    card = rig.place(issued_card(1000))
    rig.reader.wait_for_card(2.0)
    ch = open_channel(rig.reader, KEYS)
    state = read_state(ch)
    card.reset_tear(tear_after)
    with pytest.raises(CardRemovedError):
        debit(ch, state, 150)
    assert rig.reader.wait_for_removal(2.0)
    rig.place(card)
    rig.reader.wait_for_card(2.0)
    after = read_card(rig.reader, KEYS)
    assert (after.counter, after.balance_cents) in ((0, 1000), (1, 850))
