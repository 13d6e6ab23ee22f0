"""The simulated chip enforces what a MIFARE Classic 1K enforces: keys, access
bits, trailer masking and field rights, value block rules, and tears."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_layout.access import (
    DATA_READ_ONLY,
    DATA_TRANSPORT,
    DATA_VALUE_DEBIT_ONLY,
    DATA_VALUE_RECHARGEABLE,
    DATA_WRITE_B,
    TRAILER_KEY_B_MANAGES,
    TRANSPORT,
    AccessConditions,
    KeyType,
    decode_access_bits,
)
from card_layout.errors import (
    AuthenticationError,
    CardAccessError,
    CardCommandError,
    CardFormatError,
    CardRemovedError,
)
from card_layout.manufacturer import ManufacturerBlock
from card_layout.trailer import TRANSPORT_KEY, SectorTrailer
from card_layout.value_block import VALUE_MAX, VALUE_MIN, ValueBlock
from hardware.sim.card import CommandRecord, SimulatedCard
from tests.builders import (
    KEY_A,
    KEY_B,
    UID,
    UID7,
    blank_image,
    block_of,
    value_block,
    with_block,
    with_sector,
)

A, B = KeyType.A, KeyType.B

# Sector 1 (blocks 4..7): a purse. Block 4 a record (key B writes), block 5 a
# rechargeable value (A debits, B credits), block 6 a debit-only value.
PURSE = AccessConditions(DATA_WRITE_B, DATA_VALUE_RECHARGEABLE, DATA_VALUE_DEBIT_ONLY, TRAILER_KEY_B_MANAGES)
RECORD = b"citizen record 1"
# Sector 2 (blocks 8..11): a read-only block, an open block holding text, a value.
SHARED = AccessConditions(DATA_READ_ONLY, DATA_TRANSPORT, DATA_VALUE_RECHARGEABLE, TRAILER_KEY_B_MANAGES)
NOTICE = b"read-only notice"
TEXT = b"not a value blk!"
# Sector 3 (blocks 12..15): trailer condition 000 makes key B readable.
KEY_B_READABLE = AccessConditions(DATA_TRANSPORT, DATA_TRANSPORT, DATA_TRANSPORT, 0b000)
# Sectors 0 and 4..15 stay in transport configuration (key FFFFFFFFFFFF).


def purse_image() -> bytes:
    image = with_sector(blank_image(), 1, PURSE, data={0: RECORD, 1: value_block(1000, 5), 2: value_block(50, 6)})
    image = with_sector(image, 2, SHARED, data={0: NOTICE, 1: TEXT, 2: value_block(300, 10)})
    return with_sector(image, 3, KEY_B_READABLE, data={0: value_block(7, 12)})


def make_card(**kwargs: object) -> SimulatedCard:
    return SimulatedCard(purse_image(), **kwargs)  # type: ignore[arg-type]


def key_for(sector: int, key_type: KeyType) -> bytes:
    """The key ``key_type`` of ``sector`` on the purse card."""
    return TRANSPORT_KEY if sector in (0, *range(4, 16)) else (KEY_A if key_type is A else KEY_B)


def authed(sector: int, key_type: KeyType, **kwargs: object) -> SimulatedCard:
    card = make_card(**kwargs)
    card.authenticate(sector * 4, key_type, key_for(sector, key_type))
    return card


def reauth(card: SimulatedCard, block: int, key_type: KeyType, key: bytes | None = None) -> None:
    """What a reader does after a refused command, which leaves the chip idle:
    select the card again and authenticate the sector of ``block``."""
    card.uid()
    card.authenticate(block, key_type, key_for(block // 4, key_type) if key is None else key)
    assert card.authenticated == (block // 4, key_type)


def assert_idle(card: SimulatedCard) -> None:
    """The chip dropped to idle: no sector authenticated, transfer buffer empty."""
    assert card.authenticated is None
    assert card.transfer_buffer is None


# -- construction -------------------------------------------------------------------


def test_blank_card_is_in_factory_transport_state() -> None:
    card = SimulatedCard.blank(UID)
    image = card.image()

    assert len(image) == 1024
    assert ManufacturerBlock.decode(image[0:16]) == ManufacturerBlock.for_uid(UID)
    for sector in range(16):
        assert SectorTrailer.decode(block_of(image, sector * 4 + 3), sector) == SectorTrailer.transport()
        for index in range(3):
            if sector or index:
                assert block_of(image, sector * 4 + index) == bytes(16)
    assert image == blank_image(UID)
    assert card.uid() == UID


def test_blank_card_with_seven_byte_uid_selects_with_it() -> None:
    card = SimulatedCard.blank(UID7)
    assert card.uid_size == 7
    assert card.uid() == UID7


def test_image_of_wrong_size_is_refused() -> None:
    with pytest.raises(CardFormatError, match="1024 bytes, got 4096"):
        SimulatedCard(bytes(4096))


def test_bad_construction_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="uid_size"):
        SimulatedCard(blank_image(), uid_size=5)
    with pytest.raises(ValueError, match="torn_bytes"):
        SimulatedCard(blank_image(), tear_after=1, torn_bytes=17)
    with pytest.raises(ValueError, match="tear_after"):
        SimulatedCard(blank_image(), tear_after=-1)


def test_image_is_a_copy_not_a_view() -> None:
    source = bytearray(blank_image())
    card = SimulatedCard(bytes(source))
    source[100] = 0xAA
    assert card.image()[100] == 0
    assert isinstance(card.image(), bytes)


# -- select and authenticate ------------------------------------------------------------


def test_uid_ends_the_session_and_empties_the_buffer() -> None:
    card = authed(1, A)
    card.decrement(5, 1)
    assert card.authenticated == (1, A)
    assert card.transfer_buffer == (999, 5)

    assert card.uid() == UID

    assert card.authenticated is None
    assert card.transfer_buffer is None
    with pytest.raises(CardAccessError, match="no sector is authenticated"):
        card.read_block(4)


def test_uid_with_bad_bcc_fails_anticollision() -> None:
    image = with_block(blank_image(), 0, bytes.fromhex("C0FFEE4200") + bytes(11))
    with pytest.raises(CardCommandError, match="BCC") as info:
        SimulatedCard(image).uid()
    assert info.value.block == 0


def test_wrong_key_is_refused_and_ends_the_session() -> None:
    card = authed(1, A)
    assert card.read_block(4) == RECORD

    with pytest.raises(AuthenticationError) as info:
        card.authenticate(4, A, KEY_B)

    assert (info.value.sector, info.value.block) == (1, 4)
    assert card.authenticated is None
    with pytest.raises(CardAccessError, match="no sector is authenticated"):
        card.read_block(4)


def test_key_a_and_key_b_are_compared_with_their_own_trailer_field() -> None:
    card = make_card()
    with pytest.raises(AuthenticationError, match="key B refused"):
        card.authenticate(5, B, KEY_A)
    reauth(card, 5, B, KEY_B)
    with pytest.raises(AuthenticationError, match="key A refused"):
        card.authenticate(8, A, KEY_B)


def test_authentication_argument_errors_are_command_errors() -> None:
    card = make_card()
    with pytest.raises(CardCommandError, match="6 bytes, got 5"):
        card.authenticate(4, A, KEY_A[:5])
    with pytest.raises(CardCommandError, match="does not exist"):
        card.authenticate(64, A, KEY_A)
    with pytest.raises(CardCommandError, match="key type"):
        card.authenticate(4, 0x60, KEY_A)  # type: ignore[arg-type]


def test_sector_with_inconsistent_access_bits_is_blocked() -> None:
    inconsistent = KEY_A + bytes.fromhex("FF0700") + b"\x69" + KEY_B
    card = SimulatedCard(with_block(blank_image(), 7, inconsistent))
    for key_type, key in ((A, KEY_A), (B, KEY_B)):
        card.uid()  # each refusal leaves the chip idle: select it before trying the next key
        with pytest.raises(AuthenticationError, match="blocked") as info:
            card.authenticate(4, key_type, key)
        assert info.value.sector == 1


def test_readable_key_b_authenticates_but_grants_no_access() -> None:
    card = make_card()
    for command in (
        lambda: card.read_block(12),
        lambda: card.read_block(15),
        lambda: card.write_block(13, bytes(16)),
        lambda: card.decrement(12, 1),
        lambda: card.increment(12, 1),
    ):
        reauth(card, 12, B)  # key B authenticates: each refusal below comes from a live session
        with pytest.raises(CardAccessError, match="key B is readable"):
            command()
        assert_idle(card)
    assert card.image() == purse_image()
    reauth(card, 12, A)
    assert ValueBlock.decode(card.read_block(12)).value == 7


def test_commands_outside_the_authenticated_sector_are_refused() -> None:
    card = authed(1, B)
    with pytest.raises(CardAccessError, match="sector 1 is authenticated") as info:
        card.read_block(8)
    assert (info.value.sector, info.value.block) == (2, 8)
    with pytest.raises(CardAccessError, match="no sector is authenticated"):
        make_card().write_block(4, bytes(16))


# -- read and write ---------------------------------------------------------------------


def test_read_only_block_refuses_writes_with_either_key() -> None:
    for key_type in (A, B):
        card = authed(2, key_type)
        with pytest.raises(CardAccessError, match=r"may not write this block \(access condition 010\)"):
            card.write_block(8, bytes(16))
        reauth(card, 8, key_type)
        assert card.read_block(8) == NOTICE
    assert block_of(card.image(), 8) == NOTICE


def test_write_b_block_refuses_key_a_and_accepts_key_b() -> None:
    card = authed(1, A)
    with pytest.raises(CardAccessError, match="key A may not write"):
        card.write_block(4, b"x" * 16)
    reauth(card, 4, B)
    card.write_block(4, b"y" * 16)
    assert card.read_block(4) == b"y" * 16


def test_block_zero_is_read_only_even_with_all_rights() -> None:
    card = authed(0, A)
    new_block0 = ManufacturerBlock.for_uid(bytes.fromhex("11223344")).encode()
    with pytest.raises(CardAccessError, match="manufacturer block") as info:
        card.write_block(0, new_block0)
    assert info.value.block == 0
    assert card.uid() == UID


def test_magic_card_block_zero_is_writable_and_changes_the_uid() -> None:
    card = authed(0, A, magic=True)
    new_uid = bytes.fromhex("11223344")
    card.write_block(0, ManufacturerBlock.for_uid(new_uid).encode())
    assert card.uid() == new_uid


def test_write_needs_sixteen_bytes() -> None:
    card = authed(4, A)
    for data in (bytes(15), bytes(17)):
        reauth(card, 16, A)
        with pytest.raises(CardCommandError, match="16 bytes") as info:
            card.write_block(16, data)
        assert info.value.block == 16
    assert block_of(card.image(), 16) == bytes(16)


def test_block_outside_the_card_is_a_command_error() -> None:
    card = authed(1, A)
    with pytest.raises(CardCommandError, match="block 64 does not exist"):
        card.read_block(64)


# -- sector trailers ---------------------------------------------------------------------


def test_trailer_read_hides_key_a_and_unreadable_key_b() -> None:
    for key_type in (A, B):
        trailer = authed(1, key_type).read_block(7)
        assert trailer == bytes(6) + PURSE.encode() + b"\x00" + bytes(6)
        assert SectorTrailer.decode(trailer, 1).access == PURSE


def test_trailer_read_shows_key_b_where_the_condition_makes_it_readable() -> None:
    transport = authed(4, A).read_block(19)
    assert transport == bytes(6) + TRANSPORT.encode() + b"\x69" + TRANSPORT_KEY
    key_b_readable = make_card()
    key_b_readable.authenticate(15, A, KEY_A)
    assert key_b_readable.read_block(15) == bytes(6) + KEY_B_READABLE.encode() + b"\x00" + KEY_B


def test_trailer_write_needs_the_right_for_each_field_changed() -> None:
    stored = block_of(purse_image(), 7)
    new_key_b = bytes.fromhex("0102030405F0")
    changes_key_b = stored[:10] + new_key_b

    card = authed(1, A)  # condition 011: key A writes nothing in the trailer
    with pytest.raises(CardAccessError, match=r"key A may not change key B \(trailer access condition 011\)"):
        card.write_block(7, changes_key_b)
    reauth(card, 7, A)
    with pytest.raises(CardAccessError, match="key A may not change key A"):
        card.write_block(7, bytes.fromhex("0A0B0C0D0E0F") + stored[6:])
    assert card.image() == purse_image()
    reauth(card, 7, A)
    card.write_block(7, stored)  # rewriting what is stored changes no field: allowed
    assert card.image() == purse_image()

    card.authenticate(7, B, KEY_B)  # key B writes key A, access bits and key B
    new_trailer = SectorTrailer(bytes.fromhex("0A0B0C0D0E0F"), PURSE, new_key_b, gpb=0x42).encode()
    card.write_block(7, new_trailer)
    assert block_of(card.image(), 7) == new_trailer
    card.authenticate(7, B, new_key_b)
    assert card.read_block(4) == RECORD


def test_trailer_write_refused_when_the_condition_freezes_a_field() -> None:
    frozen = AccessConditions(DATA_TRANSPORT, DATA_TRANSPORT, DATA_TRANSPORT, 0b110)
    image = with_sector(blank_image(), 5, frozen)
    card = SimulatedCard(image)
    card.authenticate(20, B, KEY_B)
    changed = SectorTrailer(KEY_A, frozen, bytes.fromhex("0102030405F0")).encode()
    with pytest.raises(CardAccessError, match="may not change key B") as info:
        card.write_block(23, changed)
    assert (info.value.sector, info.value.block) == (5, 23)
    assert card.image() == image


def test_writing_inconsistent_access_bits_blocks_the_sector_for_ever() -> None:
    card = authed(4, A)  # transport: key A may write the access bits
    card.write_block(16, b"data before lock")
    inconsistent = TRANSPORT_KEY + bytes.fromhex("FF0700") + b"\x69" + TRANSPORT_KEY

    card.write_block(19, inconsistent)

    assert block_of(card.image(), 19) == inconsistent
    with pytest.raises(CardAccessError, match="blocked"):
        card.read_block(16)
    card.uid()
    with pytest.raises(AuthenticationError, match="blocked"):
        card.authenticate(16, A, TRANSPORT_KEY)
    card.remove()
    card.insert()
    with pytest.raises(AuthenticationError, match="blocked"):
        card.authenticate(16, B, TRANSPORT_KEY)
    reauth(card, 20, A, TRANSPORT_KEY)  # the neighbour sector is untouched
    assert card.read_block(20) == bytes(16)


# -- value blocks -----------------------------------------------------------------------


def test_key_a_cannot_increment_a_rechargeable_value_but_can_decrement_it() -> None:
    card = authed(1, A)
    with pytest.raises(CardAccessError, match=r"key A may not increment this block \(access condition 110\)"):
        card.increment(5, 10)
    assert card.transfer_buffer is None

    reauth(card, 5, A)
    card.decrement(5, 10)

    assert card.transfer_buffer == (990, 5)
    assert ValueBlock.decode(card.read_block(5)) == ValueBlock(1000, 5)  # memory unchanged before transfer
    card.transfer(5)
    assert ValueBlock.decode(card.read_block(5)) == ValueBlock(990, 5)


def test_key_b_increments_a_rechargeable_value() -> None:
    card = authed(1, B)
    card.increment(5, 25)
    card.transfer(5)
    assert ValueBlock.decode(block_of(card.image(), 5)) == ValueBlock(1025, 5)


def test_debit_only_value_refuses_increment_even_with_key_b() -> None:
    card = authed(1, B)
    with pytest.raises(CardAccessError, match="may not increment"):
        card.increment(6, 1)
    reauth(card, 6, B)
    card.decrement(6, 50)
    card.transfer(6)
    assert ValueBlock.decode(block_of(card.image(), 6)).value == 0


def test_value_operation_on_a_block_not_in_value_format() -> None:
    card = make_card()  # block 9 (condition 000) holds text
    for command in (lambda: card.decrement(9, 1), lambda: card.increment(9, 1), lambda: card.restore(9)):
        reauth(card, 8, A)
        with pytest.raises(CardCommandError, match="not a value block") as info:
            command()
        assert info.value.block == 9
        assert isinstance(info.value.__cause__, CardFormatError)
        assert card.transfer_buffer is None
    assert card.image() == purse_image()


def test_value_operations_refuse_the_trailer() -> None:
    card = authed(4, A)
    with pytest.raises(CardAccessError, match="sector trailer"):
        card.restore(19)
    reauth(card, 16, A)
    with pytest.raises(CardAccessError, match="sector trailer"):
        card.transfer(19)

    card = authed(1, A)  # a loaded buffer does not go into a trailer either
    card.decrement(5, 1)
    with pytest.raises(CardAccessError, match="sector trailer"):
        card.transfer(7)
    assert card.image() == purse_image()


def test_transfer_across_sectors_is_refused() -> None:
    card = authed(1, A)
    card.decrement(5, 1)
    with pytest.raises(CardAccessError, match="sector 1 is authenticated"):
        card.transfer(10)
    assert_idle(card)  # the refusal dropped the session, and the buffer with it
    reauth(card, 10, A)
    with pytest.raises(CardCommandError, match="transfer buffer is empty"):
        card.transfer(10)
    assert ValueBlock.decode(block_of(card.image(), 10)) == ValueBlock(300, 10)


def test_decrement_then_transfer_into_another_block() -> None:
    card = authed(1, A)
    card.decrement(5, 100)
    card.transfer(6)  # block 6 (debit-only) allows transfer with key A

    image = card.image()
    assert block_of(image, 6) == ValueBlock(900, 5).encode()  # the source's address byte travels
    assert block_of(image, 5) == value_block(1000, 5)
    assert card.transfer_buffer is None
    with pytest.raises(CardCommandError, match="transfer buffer is empty"):
        card.transfer(6)


def test_restore_then_transfer_copies_a_value_block() -> None:
    card = authed(1, A)
    card.restore(5)
    card.transfer(6)
    assert block_of(card.image(), 6) == block_of(card.image(), 5) == value_block(1000, 5)


def test_transfer_keeps_the_source_address_byte_whatever_it_is() -> None:
    card = SimulatedCard(with_block(blank_image(), 16, value_block(42, 0xA5)))
    card.authenticate(16, A, TRANSPORT_KEY)
    card.restore(16)
    assert card.transfer_buffer == (42, 0xA5)
    card.transfer(17)
    assert block_of(card.image(), 17) == value_block(42, 0xA5)


def test_transfer_overwrites_whatever_the_block_held() -> None:
    card = authed(2, A)
    card.restore(10)
    card.transfer(9)  # block 9 (condition 000) held text
    assert block_of(card.image(), 9) == value_block(300, 10)


def test_transfer_needs_the_decrement_right_on_the_target() -> None:
    card = authed(1, B)
    card.restore(5)
    with pytest.raises(
        CardAccessError, match=r"may not decrement/transfer/restore this block \(access condition 100\)"
    ):
        card.transfer(4)
    assert block_of(card.image(), 4) == RECORD


def test_transfer_without_a_loaded_buffer() -> None:
    with pytest.raises(CardCommandError, match="transfer buffer is empty") as info:
        authed(1, A).transfer(5)
    assert info.value.block == 5


def test_results_outside_signed_32_bits_are_refused() -> None:
    image = with_block(blank_image(), 16, value_block(VALUE_MAX - 5, 16))
    image = with_block(image, 17, value_block(VALUE_MIN + 5, 17))
    card = SimulatedCard(image)
    card.authenticate(16, A, TRANSPORT_KEY)
    card.increment(16, 5)
    assert card.transfer_buffer == (VALUE_MAX, 16)
    with pytest.raises(CardCommandError, match="signed 32-bit"):
        card.increment(16, 6)
    reauth(card, 16, A, TRANSPORT_KEY)
    card.decrement(17, 5)
    assert card.transfer_buffer == (VALUE_MIN, 17)
    with pytest.raises(CardCommandError, match="signed 32-bit"):
        card.decrement(17, 6)
    assert card.image() == image


def test_amounts_outside_the_command_range_are_refused() -> None:
    card = make_card()
    for amount in (-1, 2**31):
        reauth(card, 5, A)
        with pytest.raises(CardCommandError, match="amount"):
            card.decrement(5, amount)
        assert card.transfer_buffer is None


@given(value=st.integers(VALUE_MIN, VALUE_MAX), amount=st.integers(0, VALUE_MAX), credit=st.booleans())
def test_value_arithmetic_matches_signed_32_bits(value: int, amount: int, credit: bool) -> None:
    card = SimulatedCard(with_block(blank_image(), 16, value_block(value, 0x5A)))
    card.authenticate(16, A, TRANSPORT_KEY)
    expected = value + amount if credit else value - amount
    operation = card.increment if credit else card.decrement
    if VALUE_MIN <= expected <= VALUE_MAX:
        operation(16, amount)
        card.transfer(17)
        assert ValueBlock.decode(block_of(card.image(), 17)) == ValueBlock(expected, 0x5A)
    else:
        with pytest.raises(CardCommandError):
            operation(16, amount)


# -- the field and tears --------------------------------------------------------------


def test_tear_after_n_runs_n_commands_then_removes_the_card() -> None:
    card = make_card(tear_after=3)
    card.uid()
    card.authenticate(4, B, KEY_B)
    card.write_block(4, b"first write ok!!")  # command 3 lands

    with pytest.raises(CardRemovedError) as info:
        card.write_block(4, b"second write....")  # command 4: torn, no byte lands
    assert info.value.block == 4
    assert not card.present
    for command in (card.uid, lambda: card.read_block(4), lambda: card.authenticate(4, B, KEY_B)):
        with pytest.raises(CardRemovedError):
            command()
    assert block_of(card.image(), 4) == b"first write ok!!"
    assert [record.outcome for record in card.log] == ["ok"] * 3 + ["CardRemovedError"] * 4


def test_tear_after_zero_removes_the_card_on_the_first_command() -> None:
    card = make_card(tear_after=0)
    with pytest.raises(CardRemovedError):
        card.uid()
    assert not card.present


def test_torn_write_lands_its_first_bytes_only() -> None:
    card = authed(1, B)
    card.reset_tear(tear_after=0, torn_bytes=5)
    with pytest.raises(CardRemovedError, match="5 of 16 bytes"):
        card.write_block(4, b"ABCDEFGHIJKLMNOP")
    assert block_of(card.image(), 4) == b"ABCDE" + RECORD[5:]
    assert card.write_count == 1


def test_torn_transfer_lands_its_first_bytes_only() -> None:
    card = authed(1, A)
    card.decrement(5, 0x101)  # 1000 - 257 = 743 = 0x2E7
    card.reset_tear(tear_after=0, torn_bytes=6)
    with pytest.raises(CardRemovedError):
        card.transfer(5)
    new = ValueBlock(743, 5).encode()
    old = value_block(1000, 5)
    assert block_of(card.image(), 5) == new[:6] + old[6:]
    assert block_of(card.image(), 5) == bytes.fromhex("E702000018FDFFFFE803000005FA05FA")
    card.insert()
    card.authenticate(5, A, KEY_A)
    with pytest.raises(CardCommandError, match="not a value block"):
        card.restore(5)  # the torn block no longer decodes: the backup must be used


def test_torn_command_the_chip_would_refuse_lands_nothing() -> None:
    card = authed(1, A)
    card.reset_tear(tear_after=0, torn_bytes=16)
    with pytest.raises(CardRemovedError) as info:
        card.write_block(4, b"key A cant write")
    assert isinstance(info.value.__cause__, CardAccessError)
    assert card.image() == purse_image()
    assert card.write_count == 0


def test_torn_trailer_write_can_block_the_sector() -> None:
    card = authed(4, A)
    new_trailer = SectorTrailer(KEY_A, PURSE, KEY_B).encode()
    card.reset_tear(tear_after=0, torn_bytes=7)  # key A and the first access byte land
    with pytest.raises(CardRemovedError):
        card.write_block(19, new_trailer)
    landed = block_of(card.image(), 19)
    assert landed == new_trailer[:7] + SectorTrailer.transport().encode()[7:]
    with pytest.raises(CardFormatError):
        decode_access_bits(landed[6:9])
    card.insert()
    with pytest.raises(AuthenticationError, match="blocked"):
        card.authenticate(16, A, KEY_A)


@given(torn=st.integers(0, 16), new=st.binary(min_size=16, max_size=16))
def test_torn_write_keeps_old_bytes_after_the_torn_prefix(torn: int, new: bytes) -> None:
    card = authed(4, A, tear_after=1, torn_bytes=torn)
    old = block_of(card.image(), 17)
    with pytest.raises(CardRemovedError):
        card.write_block(17, new)
    assert block_of(card.image(), 17) == new[:torn] + old[torn:]


def test_insert_after_a_tear_gives_a_fresh_untorn_card() -> None:
    card = make_card(tear_after=1)
    card.uid()
    with pytest.raises(CardRemovedError):
        card.authenticate(4, A, KEY_A)
    card.insert()
    assert card.present
    assert card.authenticated is None
    card.authenticate(4, A, KEY_A)
    card.decrement(5, 1)
    card.transfer(5)  # no tear pending any more
    assert ValueBlock.decode(block_of(card.image(), 5)).value == 999


def test_removed_card_answers_nothing_and_insert_resets_the_session() -> None:
    card = authed(1, A)
    card.decrement(5, 1)
    card.remove()
    assert not card.present
    with pytest.raises(CardRemovedError):
        card.transfer(5)
    card.insert()
    assert card.transfer_buffer is None
    with pytest.raises(CardAccessError, match="no sector is authenticated"):
        card.read_block(4)


def test_reset_tear_counts_from_the_reset() -> None:
    card = make_card(tear_after=1)
    card.uid()
    card.reset_tear(tear_after=2)
    card.uid()
    card.uid()
    with pytest.raises(CardRemovedError):
        card.uid()
    card.insert()
    card.reset_tear(None)
    for _ in range(5):
        assert card.uid() == UID


# -- a refused command leaves the chip idle ---------------------------------------------

# A buffer-loading command per (sector, key) session, and the buffer it leaves.
LOADS = {
    (1, A): (lambda card: card.decrement(5, 1), (999, 5)),
    (1, B): (lambda card: card.increment(5, 1), (1001, 5)),
    (2, A): (lambda card: card.decrement(10, 1), (299, 10)),
}
# What a successful read of the first block of each sector returns, after key A authentication.
FIRST_BLOCK = {0: block_of(purse_image(), 0), 1: RECORD, 2: NOTICE, 3: value_block(7, 12)}

# (sector, key type of the session, the refused command, error, message)
MEMORY_REFUSALS = {
    "read in another sector": (1, A, lambda card: card.read_block(8), CardAccessError, "sector 1 is authenticated"),
    "read of a block that does not exist": (1, A, lambda card: card.read_block(64), CardCommandError, "does not exist"),
    "read with a readable key B": (3, B, lambda card: card.read_block(12), CardAccessError, "key B is readable"),
    "write without the right": (1, A, lambda card: card.write_block(4, bytes(16)), CardAccessError, "may not write"),
    "write of 15 bytes": (1, B, lambda card: card.write_block(4, bytes(15)), CardCommandError, "16 bytes"),
    "write of block 0": (0, A, lambda card: card.write_block(0, bytes(16)), CardAccessError, "manufacturer block"),
    "trailer write without the right": (
        1,
        A,
        lambda card: card.write_block(7, SectorTrailer(KEY_A, PURSE, KEY_A).encode()),
        CardAccessError,
        "may not change key B",
    ),
    "increment without the right": (1, A, lambda card: card.increment(5, 1), CardAccessError, "may not increment"),
    "decrement of a block not in value format": (
        2,
        A,
        lambda card: card.decrement(9, 1),
        CardCommandError,
        "not a value block",
    ),
    "decrement by an amount out of range": (1, A, lambda card: card.decrement(5, -1), CardCommandError, "amount"),
    "increment past signed 32 bits": (1, B, lambda card: card.increment(5, VALUE_MAX), CardCommandError, "32-bit"),
    "restore of a trailer": (1, A, lambda card: card.restore(7), CardAccessError, "sector trailer"),
}

# (sector, key type, load the buffer first, the refused transfer, error, message)
TRANSFER_REFUSALS = {
    "transfer without the right": (
        1,
        B,
        True,
        lambda card: card.transfer(4),
        CardAccessError,
        "may not decrement/transfer/restore",
    ),
    "transfer into a trailer": (1, A, True, lambda card: card.transfer(7), CardAccessError, "sector trailer"),
    "transfer into another sector": (
        1,
        A,
        True,
        lambda card: card.transfer(10),
        CardAccessError,
        "sector 1 is authenticated",
    ),
    "transfer into a block that does not exist": (
        1,
        A,
        True,
        lambda card: card.transfer(64),
        CardCommandError,
        "does not exist",
    ),
    "transfer with an empty buffer": (1, A, False, lambda card: card.transfer(5), CardCommandError, "buffer is empty"),
}


def assert_needs_a_new_authentication(card: SimulatedCard, sector: int) -> None:
    """Every memory command on the idle card is refused for want of a session;
    a new authentication (after a select) restores access."""
    first = sector * 4
    for command in (
        lambda: card.read_block(first),
        lambda: card.write_block(first + 1, block_of(card.image(), first + 1)),
        lambda: card.increment(first + 1, 0),
        lambda: card.decrement(first + 1, 0),
        lambda: card.restore(first + 1),
        lambda: card.transfer(first + 1),
    ):
        with pytest.raises(CardAccessError, match="no sector is authenticated") as info:
            command()
        assert info.value.sector == sector
        assert_idle(card)
    reauth(card, first, A)
    assert card.read_block(first) == FIRST_BLOCK[sector]


@pytest.mark.parametrize(
    ("sector", "key_type", "command", "error", "match"), MEMORY_REFUSALS.values(), ids=list(MEMORY_REFUSALS)
)
def test_a_refused_memory_command_leaves_the_chip_idle(
    sector: int, key_type: KeyType, command: Callable[[SimulatedCard], object], error: type[Exception], match: str
) -> None:
    card = authed(sector, key_type)
    load = LOADS.get((sector, key_type))
    if load is not None:  # a loaded buffer, so that its loss shows
        load[0](card)
        assert card.transfer_buffer == load[1]
    assert card.authenticated == (sector, key_type)

    with pytest.raises(error, match=match):
        command(card)

    assert_idle(card)
    assert_needs_a_new_authentication(card, sector)
    assert card.image() == purse_image()  # nothing refused wrote anything


@pytest.mark.parametrize(
    ("sector", "key_type", "loaded", "command", "error", "match"),
    TRANSFER_REFUSALS.values(),
    ids=list(TRANSFER_REFUSALS),
)
def test_a_refused_transfer_leaves_the_chip_idle(
    sector: int,
    key_type: KeyType,
    loaded: bool,
    command: Callable[[SimulatedCard], object],
    error: type[Exception],
    match: str,
) -> None:
    card = authed(sector, key_type)
    if loaded:
        load, buffer = LOADS[(sector, key_type)]
        load(card)
        assert card.transfer_buffer == buffer

    with pytest.raises(error, match=match):
        command(card)

    assert_idle(card)
    assert_needs_a_new_authentication(card, sector)
    assert card.image() == purse_image()


def test_a_refused_authentication_leaves_the_chip_idle() -> None:
    card = authed(1, A)
    card.decrement(5, 1)
    with pytest.raises(AuthenticationError):
        card.authenticate(4, B, KEY_A)
    assert_idle(card)
    assert_needs_a_new_authentication(card, 1)


def test_removal_leaves_the_chip_idle() -> None:
    card = authed(1, A)
    card.decrement(5, 1)
    card.remove()
    with pytest.raises(CardRemovedError):
        card.read_block(4)
    assert_idle(card)
    card.insert()
    assert_idle(card)
    assert_needs_a_new_authentication(card, 1)


def test_the_idle_chip_stays_idle_until_a_successful_authentication() -> None:
    card = authed(1, A)
    with pytest.raises(CardAccessError):
        card.write_block(4, bytes(16))
    card.uid()  # a select alone opens no session
    with pytest.raises(CardAccessError, match="no sector is authenticated"):
        card.read_block(4)
    card.uid()  # that refusal left the chip idle too: select it again
    with pytest.raises(AuthenticationError):
        card.authenticate(4, A, KEY_B)  # nor does a failed authentication
    with pytest.raises(CardAccessError, match="no sector is authenticated"):
        card.read_block(4)
    card.uid()  # the refusals above left the chip idle: select it again
    card.authenticate(4, A, KEY_A)
    assert card.read_block(4) == RECORD


def test_successful_commands_keep_the_session_and_the_buffer() -> None:
    card = authed(1, B)
    steps: list[tuple[Callable[[], object], tuple[int, int] | None]] = [
        (lambda: card.increment(5, 10), (1010, 5)),
        (lambda: card.read_block(4), (1010, 5)),
        (lambda: card.read_block(7), (1010, 5)),
        (lambda: card.write_block(4, b"y" * 16), (1010, 5)),
        (lambda: card.write_block(7, block_of(card.image(), 7)), (1010, 5)),
        (lambda: card.transfer(5), None),
        (lambda: card.decrement(6, 20), (30, 6)),
        (lambda: card.restore(5), (1010, 5)),
        (lambda: card.transfer(6), None),
    ]
    for step, buffer in steps:
        step()
        assert card.authenticated == (1, B)
        assert card.transfer_buffer == buffer
    image = card.image()
    assert block_of(image, 4) == b"y" * 16
    assert block_of(image, 5) == block_of(image, 6) == value_block(1010, 5)
    assert all(record.outcome == "ok" for record in card.log)


def test_a_new_authentication_ends_the_session_and_the_buffer() -> None:
    card = authed(1, A)
    card.decrement(5, 1)
    card.authenticate(4, A, KEY_A)  # the same sector again: a new session all the same
    assert card.authenticated == (1, A)
    assert card.transfer_buffer is None
    with pytest.raises(CardCommandError, match="transfer buffer is empty"):
        card.transfer(5)


# -- after a refusal, only a new select (uid) gets an answer to an authentication ---------


def _wrong_key(card: SimulatedCard) -> None:
    card.authenticate(4, A, KEY_B)


def _write_refused(card: SimulatedCard) -> None:
    card.authenticate(4, A, KEY_A)
    card.write_block(4, bytes(16))  # block 4: only key B writes


def _read_without_session(card: SimulatedCard) -> None:
    card.read_block(4)


def _transfer_of_empty_buffer(card: SimulatedCard) -> None:
    card.authenticate(4, A, KEY_A)
    card.transfer(5)


def _read_of_block_64(card: SimulatedCard) -> None:
    card.authenticate(4, A, KEY_A)
    card.read_block(64)


def _key_of_five_bytes(card: SimulatedCard) -> None:
    card.authenticate(4, A, KEY_A[:5])


# A refusal of each kind on a fresh purse card, and the error it raises.
NAKS = {
    "wrong key": (_wrong_key, AuthenticationError),
    "access refused": (_write_refused, CardAccessError),
    "no session": (_read_without_session, CardAccessError),
    "command error": (_transfer_of_empty_buffer, CardCommandError),
    "block that does not exist": (_read_of_block_64, CardCommandError),
    "authentication argument error": (_key_of_five_bytes, CardCommandError),
}


@pytest.mark.parametrize(("refuse", "error"), NAKS.values(), ids=list(NAKS))
def test_after_a_refusal_authentication_needs_a_new_select(
    refuse: Callable[[SimulatedCard], None], error: type[Exception]
) -> None:
    card = make_card()
    with pytest.raises(error):
        refuse(card)

    for block, key_type in ((4, A), (4, B), (16, A)):  # even the right key, in any sector
        with pytest.raises(CardCommandError, match=r"idle after a refused command: select it \(uid\) first") as info:
            card.authenticate(block, key_type, key_for(block // 4, key_type))
        assert (info.value.sector, info.value.block) == (block // 4, block)
        assert card.log[-1] == CommandRecord(len(card.log), "authenticate", block, key_type, "CardCommandError")
        assert_idle(card)

    assert card.uid() == UID
    card.authenticate(4, A, KEY_A)
    assert card.authenticated == (1, A)
    assert card.read_block(4) == RECORD
    assert card.image() == purse_image()


def test_every_refusal_needs_its_own_select() -> None:
    card = make_card()
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            card.authenticate(4, A, KEY_B)
        for _ in range(2):  # refused for want of a select is a refusal too: the chip stays idle
            with pytest.raises(CardCommandError, match="select it"):
                card.authenticate(4, A, KEY_A)
        reauth(card, 4, A)
        assert card.read_block(4) == RECORD


def test_a_failed_select_does_not_select_the_card() -> None:
    image = with_block(purse_image(), 0, bytes.fromhex("C0FFEE4200") + bytes(11))  # wrong BCC
    card = SimulatedCard(image)
    with pytest.raises(AuthenticationError):
        card.authenticate(4, A, KEY_B)
    with pytest.raises(CardCommandError, match="BCC"):
        card.uid()
    with pytest.raises(CardCommandError, match="select it"):
        card.authenticate(4, A, KEY_A)


def test_authentication_argument_errors_come_before_the_select_check() -> None:
    card = make_card()
    with pytest.raises(AuthenticationError):
        card.authenticate(4, A, KEY_B)
    for block, key_type, key, match in (
        (4, A, KEY_A[:5], "6 bytes, got 5"),
        (64, A, KEY_A, "block 64 does not exist"),
        (4, 0x60, KEY_A, "key type"),
    ):
        with pytest.raises(CardCommandError, match=match) as info:
            card.authenticate(block, key_type, key)  # type: ignore[arg-type]
        assert "select it" not in str(info.value)
    with pytest.raises(CardCommandError, match="select it"):
        card.authenticate(4, A, KEY_A)
    reauth(card, 4, A)


def test_a_fresh_card_needs_no_select_before_its_first_authentication() -> None:
    card = make_card()
    card.authenticate(4, A, KEY_A)
    assert card.read_block(4) == RECORD
    assert card.log == [
        CommandRecord(1, "authenticate", 4, A, "ok"),
        CommandRecord(2, "read_block", 4, A, "ok"),
    ]
    for blank in (SimulatedCard.blank(UID), SimulatedCard.blank(UID7)):
        blank.authenticate(63, B, TRANSPORT_KEY)
        assert blank.authenticated == (15, B)


def test_an_inserted_card_needs_no_select_before_its_first_authentication() -> None:
    card = make_card()
    with pytest.raises(AuthenticationError):
        card.authenticate(4, A, KEY_B)
    with pytest.raises(CardCommandError, match="select it"):
        card.authenticate(4, A, KEY_A)
    card.remove()
    with pytest.raises(CardRemovedError):  # out of the field, it answers nothing at all
        card.authenticate(4, A, KEY_A)
    card.insert()  # put back in the field: powered up and selected
    card.authenticate(4, A, KEY_A)
    assert card.read_block(4) == RECORD

    card.reset_tear(tear_after=0)  # a tear is a refusal too; insert selects again
    with pytest.raises(CardRemovedError):
        card.read_block(4)
    card.insert()
    card.authenticate(4, B, KEY_B)
    assert card.authenticated == (1, B)
    assert card.read_block(4) == RECORD


# -- the command log ---------------------------------------------------------------------


def test_command_log_records_every_command_and_its_outcome() -> None:
    card = make_card()
    card.uid()
    with pytest.raises(AuthenticationError):
        card.authenticate(4, A, KEY_B)
    card.uid()  # the refusal left the chip idle
    card.authenticate(4, A, KEY_A)
    card.read_block(4)
    with pytest.raises(CardAccessError):
        card.write_block(4, bytes(16))
    with pytest.raises(CardAccessError):
        card.read_block(4)  # the refusal left the chip idle
    card.uid()
    card.authenticate(4, A, KEY_A)
    card.decrement(5, 1)
    card.transfer(5)

    assert card.log == [
        CommandRecord(1, "uid", None, None, "ok"),
        CommandRecord(2, "authenticate", 4, A, "AuthenticationError"),
        CommandRecord(3, "uid", None, None, "ok"),
        CommandRecord(4, "authenticate", 4, A, "ok"),
        CommandRecord(5, "read_block", 4, A, "ok"),
        CommandRecord(6, "write_block", 4, A, "CardAccessError"),
        CommandRecord(7, "read_block", 4, None, "CardAccessError"),
        CommandRecord(8, "uid", None, None, "ok"),
        CommandRecord(9, "authenticate", 4, A, "ok"),
        CommandRecord(10, "decrement", 5, A, "ok"),
        CommandRecord(11, "transfer", 5, A, "ok"),
    ]
    assert card.command_count == 11
    assert card.write_count == 1


def test_command_records_are_frozen() -> None:
    card = make_card()
    card.uid()
    with pytest.raises(AttributeError):
        card.log[0].outcome = "forged"  # type: ignore[misc]


def test_clearing_the_log_restarts_the_count() -> None:
    card = make_card()
    card.uid()
    card.uid()
    card.log.clear()
    card.uid()
    assert card.command_count == 1
    assert card.log == [CommandRecord(1, "uid", None, None, "ok")]
