"""card_layout.manufacturer: block 0 (UID, BCC, SAK, ATQA)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_layout.errors import CardFormatError
from card_layout.manufacturer import (
    ATQA_CLASSIC_1K_4B,
    ATQA_CLASSIC_1K_7B,
    SAK_CLASSIC_1K,
    ManufacturerBlock,
    bcc,
    check_uid,
)

uid4 = st.binary(min_size=4, max_size=4)
uid7 = st.binary(min_size=7, max_size=7)

# UID DE AD BE EF: BCC = DE ^ AD ^ BE ^ EF = 73 ^ BE ^ EF = CD ^ EF = 22.
#                                 UID      BCC SAK ATQA manufacturer data
BLOCK0_DEADBEEF = bytes.fromhex("DEADBEEF 22 08 0400 6263646566676869")


def test_bcc_is_the_xor_of_the_uid():
    assert bcc(bytes.fromhex("DEADBEEF")) == 0x22
    assert bcc(bytes.fromhex("00000000")) == 0x00
    assert bcc(bytes.fromhex("01020408")) == 0x0F
    assert bcc(bytes.fromhex("FFFFFFFF")) == 0x00


def test_hand_written_block_zero():
    block = ManufacturerBlock.decode(BLOCK0_DEADBEEF)
    assert block.uid == bytes.fromhex("DEADBEEF")
    assert block.sak == SAK_CLASSIC_1K == 0x08
    assert block.atqa == ATQA_CLASSIC_1K_4B == bytes.fromhex("0400")
    assert block.manufacturer_data == bytes.fromhex("6263646566676869")
    assert block.encode() == BLOCK0_DEADBEEF
    assert ManufacturerBlock.for_uid(bytes.fromhex("DEADBEEF")).encode() == BLOCK0_DEADBEEF


@given(uid4, st.integers(0, 255), st.binary(min_size=2, max_size=2), st.binary(min_size=8, max_size=8))
def test_round_trip_4_byte_uid(uid, sak, atqa, data):
    block = ManufacturerBlock(uid=uid, sak=sak, atqa=atqa, manufacturer_data=data)
    raw = block.encode()
    assert len(raw) == 16
    assert raw[4] == bcc(uid)
    assert ManufacturerBlock.decode(raw) == block


@given(uid7, st.integers(0, 255), st.binary(min_size=2, max_size=2), st.binary(min_size=6, max_size=6))
def test_round_trip_7_byte_uid(uid, sak, atqa, data):
    block = ManufacturerBlock(uid=uid, sak=sak, atqa=atqa, manufacturer_data=data)
    raw = block.encode()
    assert raw[:7] == uid
    assert raw[7] == sak
    assert ManufacturerBlock.decode(raw, uid_size=7) == block


@given(uid7)
def test_7_byte_uid_with_the_default_fields(uid):
    # The defaults must make a valid block for either UID size.
    raw = ManufacturerBlock(uid=uid).encode()
    assert len(raw) == 16
    assert ManufacturerBlock.decode(raw, uid_size=7).uid == uid


@given(st.one_of(uid4, uid7))
def test_for_uid(uid):
    block = ManufacturerBlock.for_uid(uid)
    assert block.atqa == (ATQA_CLASSIC_1K_4B if len(uid) == 4 else ATQA_CLASSIC_1K_7B)
    assert ManufacturerBlock.decode(block.encode(), uid_size=len(uid)) == block


@given(uid4, st.integers(0, 4), st.integers(1, 255))
def test_bcc_mismatch_is_detected(uid, position, mask):
    # A change of any one UID byte or of the BCC itself breaks the XOR.
    bad = bytearray(ManufacturerBlock.for_uid(uid).encode())
    bad[position] ^= mask
    with pytest.raises(CardFormatError, match="BCC") as info:
        ManufacturerBlock.decode(bytes(bad))
    assert info.value.block == 0
    assert "sector 0 block 0" in str(info.value)


@pytest.mark.parametrize("length", [0, 3, 5, 6, 8, 10])
def test_uid_length_is_checked(length):
    with pytest.raises(CardFormatError):
        check_uid(bytes(length))
    with pytest.raises(CardFormatError):
        ManufacturerBlock(uid=bytes(length)).encode()
    with pytest.raises(CardFormatError):
        ManufacturerBlock.for_uid(bytes(length))


def test_decode_checks_length_and_uid_size():
    with pytest.raises(CardFormatError):
        ManufacturerBlock.decode(bytes(15))
    with pytest.raises(CardFormatError):
        ManufacturerBlock.decode(BLOCK0_DEADBEEF, uid_size=10)
