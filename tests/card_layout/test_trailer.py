"""card_layout.trailer: the sector trailer (keys, access bits, general purpose byte)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_layout.access import TRANSPORT, AccessConditions
from card_layout.errors import CardFormatError
from card_layout.trailer import (
    KEY_SIZE,
    TRANSPORT_GPB,
    TRANSPORT_KEY,
    WELL_KNOWN_KEYS,
    SectorTrailer,
    check_key,
    encode_raw_trailer,
)

keys = st.binary(min_size=6, max_size=6)
conditions = st.builds(AccessConditions, *[st.integers(0, 7)] * 4)
gpbs = st.integers(0, 255)

#                                  key A        access GPB key B
TRANSPORT_TRAILER = bytes.fromhex("FFFFFFFFFFFF FF0780 69 FFFFFFFFFFFF")


def test_transport_trailer_bytes():
    assert KEY_SIZE == 6
    assert TRANSPORT_KEY == b"\xff" * 6
    assert TRANSPORT_GPB == 0x69
    assert SectorTrailer.transport().encode() == TRANSPORT_TRAILER
    trailer = SectorTrailer.decode(TRANSPORT_TRAILER)
    assert trailer == SectorTrailer.transport()
    assert trailer.access == TRANSPORT


def test_field_positions():
    trailer = SectorTrailer(
        key_a=bytes.fromhex("A0A1A2A3A4A5"),
        access=AccessConditions(0b000, 0b000, 0b000, 0b011),
        key_b=bytes.fromhex("B0B1B2B3B4B5"),
        gpb=0xC1,
    )
    assert trailer.encode() == bytes.fromhex("A0A1A2A3A4A5 7F0788 C1 B0B1B2B3B4B5")


@given(keys, conditions, gpbs, keys)
def test_round_trip(key_a, access, gpb, key_b):
    trailer = SectorTrailer(key_a=key_a, access=access, key_b=key_b, gpb=gpb)
    raw = trailer.encode()
    assert len(raw) == 16
    assert raw[6:9] == access.encode()
    assert SectorTrailer.decode(raw) == trailer
    assert SectorTrailer.decode(raw, sector=5) == trailer


@given(keys, conditions, gpbs, keys)
def test_raw_trailer_agrees_with_the_record(key_a, access, gpb, key_b):
    assert encode_raw_trailer(key_a, access.encode(), gpb, key_b) == SectorTrailer(key_a, access, key_b, gpb).encode()


@given(st.binary(min_size=3, max_size=3))
def test_encode_raw_trailer_refuses_inconsistent_access_bytes(access_bytes):
    try:
        access = AccessConditions.decode(access_bytes)
    except CardFormatError:
        with pytest.raises(CardFormatError):
            encode_raw_trailer(TRANSPORT_KEY, access_bytes, 0x69, TRANSPORT_KEY)
    else:
        raw = encode_raw_trailer(TRANSPORT_KEY, access_bytes, 0x69, TRANSPORT_KEY)
        assert SectorTrailer.decode(raw).access == access


def test_encode_raw_trailer_refuses_a_blocking_trailer():
    # FF 07 80 with one bit flipped would lock a sector for ever.
    with pytest.raises(CardFormatError):
        encode_raw_trailer(TRANSPORT_KEY, bytes.fromhex("FF0781"), 0x69, TRANSPORT_KEY)
    with pytest.raises(CardFormatError):
        encode_raw_trailer(TRANSPORT_KEY, bytes.fromhex("FF07"), 0x69, TRANSPORT_KEY)


def test_decode_names_the_trailer_block():
    bad = bytearray(TRANSPORT_TRAILER)
    bad[8] ^= 0x01
    with pytest.raises(CardFormatError) as info:
        SectorTrailer.decode(bytes(bad), sector=5)
    assert info.value.sector == 5
    assert info.value.block == 23
    assert "sector 5 block 23" in str(info.value)
    assert isinstance(info.value.__cause__, CardFormatError)


@pytest.mark.parametrize("length", [0, 15, 17])
def test_decode_refuses_wrong_length(length):
    with pytest.raises(CardFormatError, match="block 7"):
        SectorTrailer.decode(bytes(length), sector=1)


@pytest.mark.parametrize("length", [0, 5, 7, 16])
def test_keys_are_six_bytes(length):
    with pytest.raises(CardFormatError):
        check_key(bytes(length))
    with pytest.raises(CardFormatError):
        SectorTrailer(key_a=bytes(length), access=TRANSPORT, key_b=TRANSPORT_KEY).encode()
    with pytest.raises(CardFormatError):
        SectorTrailer(key_a=TRANSPORT_KEY, access=TRANSPORT, key_b=bytes(length)).encode()
    with pytest.raises(CardFormatError):
        encode_raw_trailer(bytes(length), bytes.fromhex("FF0780"), 0x69, TRANSPORT_KEY)


@pytest.mark.parametrize("gpb", [-1, 256])
def test_gpb_is_a_byte(gpb):
    with pytest.raises(CardFormatError):
        SectorTrailer(key_a=TRANSPORT_KEY, access=TRANSPORT, key_b=TRANSPORT_KEY, gpb=gpb).encode()


def test_well_known_keys():
    assert TRANSPORT_KEY in WELL_KNOWN_KEYS
    assert bytes.fromhex("A0A1A2A3A4A5") in WELL_KNOWN_KEYS  # MAD key A
    assert bytes.fromhex("D3F7D3F7D3F7") in WELL_KNOWN_KEYS  # NFC Forum key
    assert bytes(6) in WELL_KNOWN_KEYS
    assert all(len(key) == KEY_SIZE for key in WELL_KNOWN_KEYS)
