"""card_layout.mad: MIFARE Application Directory v1 (AN10787)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_layout.errors import CardFormatError
from card_layout.mad import MAD_GPB_V1, MAD_SECTORS, Mad, crc8

NDEF_AID = 0xE103

# An NFC Forum (NDEF-formatted) MIFARE Classic 1K: info byte 01, every sector
# 1..15 holds AID E103 (stored little-endian: 03 E1). The published block 1
# starts 14 01 03 E1: CRC 14, info 01, then the AIDs.
NFC_FORUM_MAD = bytes.fromhex("14 01" + " 03E1" * 15)

aids = st.tuples(*[st.integers(0, 0xFFFF)] * MAD_SECTORS)
publishers = st.integers(0, 15)


def test_gpb_announces_mad_v1():
    # DA (bit 7) | MA (bit 6) | ADV = 01
    assert MAD_GPB_V1 == 0b1100_0001


def test_nfc_forum_vector():
    assert len(NFC_FORUM_MAD) == 32
    assert crc8(NFC_FORUM_MAD[1:]) == 0x14
    mad = Mad(aids=(NDEF_AID,) * 15, publisher_sector=1)
    assert mad.encode() == NFC_FORUM_MAD
    assert Mad.decode(NFC_FORUM_MAD) == mad


def test_hand_built_mad():
    aids_ = (0x4001, 0x4001, 0x0000, 0x0001, 0x0002, 0x0004) + (0x0000,) * 9
    body = bytes([0x00]) + bytes.fromhex("0140 0140 0000 0100 0200 0400") + bytes(18)
    raw = Mad(aids=aids_).encode()
    assert raw[1:] == body
    assert raw[0] == crc8(body)


@given(aids, publishers)
def test_round_trip(aid_values, publisher):
    mad = Mad(aids=aid_values, publisher_sector=publisher)
    raw = mad.encode()
    assert len(raw) == 32
    assert Mad.decode(raw) == mad


def test_every_single_byte_change_of_the_vector_is_detected():
    for position in range(32):
        for mask in range(1, 256):
            bad = bytearray(NFC_FORUM_MAD)
            bad[position] ^= mask
            # A change of byte 1 can also point the info byte past the card; either way it is refused.
            with pytest.raises(CardFormatError) as info:
                Mad.decode(bytes(bad))
            assert info.value.sector == 0


@given(aids, publishers, st.integers(0, 31), st.integers(1, 255))
def test_single_byte_change_of_any_mad_is_detected(aid_values, publisher, position, mask):
    bad = bytearray(Mad(aids=aid_values, publisher_sector=publisher).encode())
    bad[position] ^= mask
    with pytest.raises(CardFormatError):
        Mad.decode(bytes(bad))


@pytest.mark.parametrize("info", [0x10, 0x1F, 0x3F])
def test_publisher_pointer_outside_the_card_is_refused(info):
    body = bytes([info]) + bytes(30)
    with pytest.raises(CardFormatError, match="outside"):
        Mad.decode(bytes([crc8(body)]) + body)


def test_reserved_info_bits_are_ignored():
    body = bytes([0xC3]) + bytes(30)
    assert Mad.decode(bytes([crc8(body)]) + body).publisher_sector == 3


@pytest.mark.parametrize("length", [0, 16, 31, 33, 48])
def test_wrong_length_is_refused(length):
    with pytest.raises(CardFormatError):
        Mad.decode(bytes(length))


def test_sectors_of_and_aid_of():
    mad = Mad(aids=(0x4001, 0x4001, 0x4002) + (0x0000,) * 11 + (0x4001,))
    assert mad.sectors_of(0x4001) == (1, 2, 15)
    assert mad.sectors_of(0x4002) == (3,)
    assert mad.sectors_of(0x0000) == tuple(range(4, 15))
    assert mad.sectors_of(0xBEEF) == ()
    assert mad.aid_of(1) == 0x4001
    assert mad.aid_of(3) == 0x4002
    assert mad.aid_of(15) == 0x4001
    for sector in (0, 16, -1):
        with pytest.raises(CardFormatError):
            mad.aid_of(sector)


@given(aids)
def test_sectors_of_inverts_aid_of(aid_values):
    mad = Mad(aids=aid_values)
    for sector in range(1, 16):
        assert sector in mad.sectors_of(mad.aid_of(sector))


def test_invalid_mads_are_refused():
    with pytest.raises(CardFormatError):
        Mad(aids=(0,) * 14)
    with pytest.raises(CardFormatError):
        Mad(aids=(0,) * 16)
    with pytest.raises(CardFormatError):
        Mad(aids=(0x10000,) + (0,) * 14)
    with pytest.raises(CardFormatError):
        Mad(aids=(-1,) + (0,) * 14)
    with pytest.raises(CardFormatError):
        Mad(aids=(0,) * 15, publisher_sector=16)
