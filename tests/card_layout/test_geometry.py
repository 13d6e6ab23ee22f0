"""card_layout.geometry: blocks and sectors of a MIFARE Classic 1K."""

import pytest

from card_layout import geometry as g
from card_layout.errors import CardFormatError


def test_constants():
    assert (g.SECTORS, g.BLOCKS_PER_SECTOR, g.BLOCK_SIZE) == (16, 4, 16)
    assert g.BLOCKS == 64
    assert g.CARD_SIZE == 1024
    assert g.DATA_BLOCKS_PER_SECTOR == 3
    assert g.TRAILER_INDEX == 3


@pytest.mark.parametrize(
    ("block", "sector", "index"),
    [(0, 0, 0), (3, 0, 3), (4, 1, 0), (7, 1, 3), (9, 2, 1), (62, 15, 2), (63, 15, 3)],
)
def test_block_helpers(block, sector, index):
    assert g.check_block(block) == block
    assert g.sector_of(block) == sector
    assert g.block_index(block) == index
    assert g.block_number(sector, index) == block
    assert g.is_trailer(block) == (index == 3)


def test_every_block_round_trips_through_sector_and_index():
    for block in range(64):
        assert g.block_number(g.sector_of(block), g.block_index(block)) == block


def test_trailer_blocks():
    assert [g.trailer_block(s) for s in range(16)] == list(range(3, 64, 4))
    assert [b for b in range(64) if g.is_trailer(b)] == list(range(3, 64, 4))


@pytest.mark.parametrize("block", [-1, 64, 1000])
def test_blocks_outside_the_card(block):
    for helper in (g.check_block, g.sector_of, g.block_index, g.is_trailer):
        with pytest.raises(CardFormatError, match=str(block)):
            helper(block)


@pytest.mark.parametrize("sector", [-1, 16])
def test_sectors_outside_the_card(sector):
    with pytest.raises(CardFormatError, match=str(sector)):
        g.check_sector(sector)
    with pytest.raises(CardFormatError):
        g.block_number(sector, 0)
    with pytest.raises(CardFormatError):
        g.trailer_block(sector)


def test_sector_check_passes_valid_sectors():
    assert [g.check_sector(s) for s in range(16)] == list(range(16))


@pytest.mark.parametrize("index", [-1, 4])
def test_block_index_outside_the_sector_names_the_sector(index):
    with pytest.raises(CardFormatError) as info:
        g.block_number(3, index)
    assert info.value.sector == 3
    assert "sector 3" in str(info.value)


def test_check_block_data():
    data = bytearray(range(16))
    result = g.check_block_data(data)
    assert result == bytes(range(16))
    assert type(result) is bytes


@pytest.mark.parametrize("length", [0, 15, 17, 32])
def test_check_block_data_refuses_other_lengths(length):
    with pytest.raises(CardFormatError) as info:
        g.check_block_data(bytes(length), block=42)
    assert info.value.block == 42
    assert info.value.sector == 10
    assert "sector 10 block 42" in str(info.value)
    with pytest.raises(ValueError):
        g.check_block_data(bytes(length))
