"""card_layout.value_block: the value block format of the MF1S50yyX datasheet."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_layout.errors import CardFormatError
from card_layout.value_block import VALUE_MAX, VALUE_MIN, ValueBlock, is_value_block

values = st.integers(min_value=-(2**31), max_value=2**31 - 1)
addresses = st.integers(min_value=0, max_value=255)

# Value 100 (0x00000064, little-endian), address 5, written out by hand:
#                                  value    ~value   value    addr ~addr addr ~addr
EXAMPLE_100_AT_5 = bytes.fromhex("64000000 9BFFFFFF 64000000 05   FA    05   FA")

SAMPLES = [
    ValueBlock(100, 5),
    ValueBlock(0, 0),
    ValueBlock(-1, 0xFF),
    ValueBlock(VALUE_MIN, 0x80),
    ValueBlock(VALUE_MAX, 0x7F),
]


def test_range_constants():
    assert VALUE_MIN == -(2**31)
    assert VALUE_MAX == 2**31 - 1


def test_datasheet_example():
    assert ValueBlock(100, 5).encode() == EXAMPLE_100_AT_5
    assert ValueBlock.decode(EXAMPLE_100_AT_5) == ValueBlock(100, 5)
    assert is_value_block(EXAMPLE_100_AT_5)


@pytest.mark.parametrize(
    ("block", "hex_bytes"),
    [
        (ValueBlock(-1, 0), "FFFFFFFF 00000000 FFFFFFFF 00FF00FF"),
        (ValueBlock(0, 0x3C), "00000000 FFFFFFFF 00000000 3CC33CC3"),
        (ValueBlock(VALUE_MIN, 1), "00000080 FFFFFF7F 00000080 01FE01FE"),
        (ValueBlock(VALUE_MAX, 1), "FFFFFF7F 00000080 FFFFFF7F 01FE01FE"),
        (ValueBlock(0x12345678, 9), "78563412 87A9CBED 78563412 09F609F6"),
    ],
)
def test_hand_written_encodings(block, hex_bytes):
    assert block.encode() == bytes.fromhex(hex_bytes)
    assert ValueBlock.decode(bytes.fromhex(hex_bytes)) == block


@given(values, addresses)
def test_round_trip(value, address):
    data = ValueBlock(value, address).encode()
    assert len(data) == 16
    assert ValueBlock.decode(data) == ValueBlock(value, address)
    assert is_value_block(data)


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_single_byte_corruption_is_detected(sample):
    good = sample.encode()
    for position in range(16):
        for mask in range(1, 256):
            bad = bytearray(good)
            bad[position] ^= mask
            with pytest.raises(CardFormatError) as info:
                ValueBlock.decode(bytes(bad), block=9)
            assert info.value.block == 9
            assert "block 9" in str(info.value)
            assert not is_value_block(bytes(bad))


@given(values, addresses, st.integers(0, 15), st.integers(1, 255))
def test_corruption_of_any_value_block_is_detected(value, address, position, mask):
    bad = bytearray(ValueBlock(value, address).encode())
    bad[position] ^= mask
    with pytest.raises(CardFormatError):
        ValueBlock.decode(bytes(bad))


@pytest.mark.parametrize(
    "hex_bytes",
    [
        # Each copy is consistent with its own inverse, but the copies disagree.
        "64000000 9BFFFFFF 64000000 05 FA 06 F9",  # address 5 vs 6
        "64000000 9BFFFFFF 65000000 05 FA 05 FA",  # value 100 vs 101
        "64000000 9AFFFFFF 64000000 05 FA 05 FA",  # ~value is not the inverse
    ],
)
def test_copies_that_disagree_are_refused(hex_bytes):
    with pytest.raises(CardFormatError, match="not a value block"):
        ValueBlock.decode(bytes.fromhex(hex_bytes))


@pytest.mark.parametrize("length", [0, 15, 17])
def test_wrong_length_is_refused(length):
    with pytest.raises(CardFormatError, match="block 13"):
        ValueBlock.decode(bytes(length), block=13)


def test_blank_and_erased_blocks_are_not_value_blocks():
    assert not is_value_block(bytes(16))
    assert not is_value_block(b"\xff" * 16)


@pytest.mark.parametrize("value", [VALUE_MIN - 1, VALUE_MAX + 1, 2**40])
def test_value_out_of_range_is_refused(value):
    with pytest.raises(CardFormatError):
        ValueBlock(value, 0).encode()


@pytest.mark.parametrize("address", [-1, 256])
def test_address_out_of_range_is_refused(address):
    with pytest.raises(CardFormatError):
        ValueBlock(0, address).encode()
