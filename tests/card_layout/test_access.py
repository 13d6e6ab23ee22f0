"""card_layout.access against the MF1S50yyX datasheet, transcribed here on its own.

The two tables below are copied from the datasheet ("Access conditions for the
sector trailer" and "Access conditions for data blocks") as text, without
looking at card_layout.access, and parsed into rights. Every condition, every
operation and both key types are checked against them, as is the byte layout
of the access bits ("Access conditions" figure: bytes 6, 7 and 8).
"""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_layout.access import (
    DATA_ACCESS,
    TRAILER_ACCESS,
    TRANSPORT,
    AccessConditions,
    KeyType,
    Op,
    decode_access_bits,
    encode_access_bits,
)
from card_layout.errors import CardFormatError

# C1 C2 C3 | read | write | increment | decrement, transfer, restore
DATA_TABLE = """
0 0 0 | key A|B | key A|B | key A|B | key A|B
0 1 0 | key A|B | never   | never   | never
1 0 0 | key A|B | key B   | never   | never
1 1 0 | key A|B | key B   | key B   | key A|B
0 0 1 | key A|B | never   | never   | key A|B
0 1 1 | key B   | key B   | never   | never
1 0 1 | key B   | never   | never   | never
1 1 1 | never   | never   | never   | never
"""

# C1 C2 C3 | key A read | key A write | access bits read | access bits write | key B read | key B write
TRAILER_TABLE = """
0 0 0 | never | key A | key A   | never | key A | key A
0 1 0 | never | never | key A   | never | key A | never
1 0 0 | never | key B | key A|B | never | never | key B
1 1 0 | never | never | key A|B | never | never | never
0 0 1 | never | key A | key A   | key A | key A | key A
0 1 1 | never | key B | key A|B | key B | never | key B
1 0 1 | never | never | key A|B | key B | never | never
1 1 1 | never | never | key A|B | never | never | never
"""

DATA_COLUMNS = (Op.READ, Op.WRITE, Op.INCREMENT, Op.DECREMENT)
TRAILER_COLUMNS = ("key_a_read", "key_a_write", "access_read", "access_write", "key_b_read", "key_b_write")

# The datasheet's figure of the access bytes, most significant bit first. "_C1_3" is C1 of
# block 3 (the trailer) inverted.
BYTE_LAYOUT = (
    "_C2_3 _C2_2 _C2_1 _C2_0 _C1_3 _C1_2 _C1_1 _C1_0",  # byte 6
    " C1_3  C1_2  C1_1  C1_0 _C3_3 _C3_2 _C3_1 _C3_0",  # byte 7
    " C3_3  C3_2  C3_1  C3_0  C2_3  C2_2  C2_1  C2_0",  # byte 8
)

ALL_CONDITIONS = [AccessConditions(*c) for c in itertools.product(range(8), repeat=4)]


def parse_keys(cell: str) -> frozenset[KeyType]:
    cell = cell.strip()
    return {
        "never": frozenset(),
        "key A": frozenset({KeyType.A}),
        "key B": frozenset({KeyType.B}),
        "key A|B": frozenset({KeyType.A, KeyType.B}),
    }[cell]


def parse_table(table: str, columns: tuple) -> dict[int, dict]:
    """Rows of "C1 C2 C3 | cell | cell ...": cells are separated by " | ", so "key A|B" stays whole."""
    rows = {}
    for line in table.strip().splitlines():
        bits, *cells = line.split(" | ")
        assert len(cells) == len(columns), line
        c1, c2, c3 = (int(b) for b in bits.split())
        rows[c1 << 2 | c2 << 1 | c3] = {col: parse_keys(cell) for col, cell in zip(columns, cells, strict=True)}
    assert sorted(rows) == list(range(8))
    return rows


EXPECTED_DATA = parse_table(DATA_TABLE, DATA_COLUMNS)
EXPECTED_TRAILER = parse_table(TRAILER_TABLE, TRAILER_COLUMNS)
KEY_B_READABLE = {c for c, row in EXPECTED_TRAILER.items() if row["key_b_read"]}


def reference_encode(access: AccessConditions) -> bytes:
    """The access bytes built bit by bit from BYTE_LAYOUT."""
    out = []
    for layout in BYTE_LAYOUT:
        byte = 0
        for name in layout.split():
            inverted = name.startswith("_")
            c, block = name.lstrip("_").split("_")
            condition = access.conditions[int(block)]
            bit = (condition >> (3 - int(c[1]))) & 1  # C1 is the high bit of the condition
            byte = byte << 1 | (bit ^ inverted)
        out.append(byte)
    return bytes(out)


def test_the_transcription_parses_as_the_datasheet_reads():
    # A check on the parser itself, so a parsing slip cannot make the table agree with the code.
    assert EXPECTED_DATA[0b110][Op.INCREMENT] == {KeyType.B}
    assert EXPECTED_DATA[0b110][Op.DECREMENT] == {KeyType.A, KeyType.B}
    assert EXPECTED_TRAILER[0b011]["access_read"] == {KeyType.A, KeyType.B}
    assert EXPECTED_TRAILER[0b001]["access_write"] == {KeyType.A}
    assert KEY_B_READABLE == {0b000, 0b010, 0b001}


@pytest.mark.parametrize("condition", range(8))
def test_data_access_matches_the_datasheet(condition):
    rights = DATA_ACCESS[condition]
    for op in Op:
        assert rights.keys_for(op) == EXPECTED_DATA[condition][op], (f"{condition:03b}", op)


@pytest.mark.parametrize("condition", range(8))
def test_trailer_access_matches_the_datasheet(condition):
    rights = TRAILER_ACCESS[condition]
    expected = EXPECTED_TRAILER[condition]
    assert expected["key_a_read"] == frozenset()
    # Key A is never readable: the record has no field that could grant it.
    assert not hasattr(rights, "key_a_read")
    for column in TRAILER_COLUMNS[1:]:
        assert getattr(rights, column) == expected[column], (f"{condition:03b}", column)
    assert rights.key_b_readable == (condition in KEY_B_READABLE)


def test_tables_cover_exactly_the_eight_conditions():
    assert sorted(DATA_ACCESS) == list(range(8))
    assert sorted(TRAILER_ACCESS) == list(range(8))


def test_allows_every_condition_op_and_key():
    for access in ALL_CONDITIONS:
        key_b_dead = access.trailer in KEY_B_READABLE
        for index in range(3):
            expected_rights = EXPECTED_DATA[access.conditions[index]]
            for op in Op:
                for key in KeyType:
                    want = key in expected_rights[op] and not (key is KeyType.B and key_b_dead)
                    assert access.allows(index, op, key) == want, (access, index, op, key)


@pytest.mark.parametrize("trailer", sorted(KEY_B_READABLE))
def test_readable_key_b_grants_nothing(trailer):
    # Datasheet: when key B may be read it cannot serve for authentication; the
    # card refuses any memory access after an authentication with it.
    for data in itertools.product(range(8), repeat=3):
        access = AccessConditions(*data, trailer)
        assert not access.key_usable(KeyType.B)
        assert access.key_usable(KeyType.A)
        for index, op in itertools.product(range(3), Op):
            assert not access.allows(index, op, KeyType.B)
    # Even the transport configuration, where the data table says "key A|B".
    assert not TRANSPORT.allows(0, Op.WRITE, KeyType.B)
    assert TRANSPORT.allows(0, Op.WRITE, KeyType.A)


@pytest.mark.parametrize("trailer", sorted(set(range(8)) - KEY_B_READABLE))
def test_secret_key_b_is_usable(trailer):
    access = AccessConditions(0b110, 0b100, 0b000, trailer)
    assert access.key_usable(KeyType.B)
    assert access.allows(0, Op.INCREMENT, KeyType.B)
    assert not access.allows(0, Op.INCREMENT, KeyType.A)


def test_data_access_index_outside_the_data_blocks():
    with pytest.raises(CardFormatError):
        TRANSPORT.data_access(3)
    with pytest.raises(CardFormatError):
        TRANSPORT.allows(-1, Op.READ, KeyType.A)


@pytest.mark.parametrize("bad", [-1, 8, 0b1000])
def test_conditions_are_three_bits(bad):
    with pytest.raises(CardFormatError):
        AccessConditions(0, 0, 0, bad)
    with pytest.raises(CardFormatError):
        AccessConditions(bad, 0, 0, 0)


def test_every_access_conditions_round_trips_and_matches_the_byte_layout():
    seen = set()
    for access in ALL_CONDITIONS:
        raw = encode_access_bits(access)
        assert raw == reference_encode(access), access
        assert access.encode() == raw
        assert decode_access_bits(raw) == access
        assert AccessConditions.decode(raw, 3) == access
        seen.add(raw)
    assert len(seen) == 8**4


def test_transport_bytes():
    assert TRANSPORT == AccessConditions(0b000, 0b000, 0b000, 0b001)
    assert TRANSPORT.encode() == bytes.fromhex("FF0780")
    assert decode_access_bits(bytes.fromhex("FF0780")) == TRANSPORT


@pytest.mark.parametrize(
    ("conditions", "hex_bytes"),
    [
        # Value blocks 0 and 1 (110), write-with-B block 2 (100), trailer managed by key B (011):
        #   C1 per block 3..0 = 0 1 1 1 = 0x7   C2 = 1 0 1 1 = 0xB   C3 = 1 0 0 0 = 0x8
        #   byte 6 = ~C2 ~C1 = 0x4 0x8 -> 48
        #   byte 7 =  C1 ~C3 = 0x7 0x7 -> 77
        #   byte 8 =  C3  C2 = 0x8 0xB -> 8B
        ((0b110, 0b110, 0b100, 0b011), "48778B"),
        # Transport data blocks, trailer 011: the widely published 7F 07 88.
        #   C1 = 0000, C2 = 1000, C3 = 1000 -> byte 6 = 7F, byte 7 = 07, byte 8 = 88
        ((0b000, 0b000, 0b000, 0b011), "7F0788"),
        # All three blocks value blocks (110), trailer 011: the widely published 08 77 8F.
        #   C1 = 0111, C2 = 1111, C3 = 1000 -> byte 6 = 08, byte 7 = 77, byte 8 = 8F
        ((0b110, 0b110, 0b110, 0b011), "08778F"),
    ],
)
def test_known_encodings(conditions, hex_bytes):
    access = AccessConditions(*conditions)
    assert access.encode() == bytes.fromhex(hex_bytes)
    assert decode_access_bits(bytes.fromhex(hex_bytes)) == access


def test_every_single_bit_flip_is_refused_and_names_the_sector():
    for access in ALL_CONDITIONS:
        raw = int.from_bytes(access.encode(), "big")
        for bit in range(24):
            flipped = (raw ^ (1 << bit)).to_bytes(3, "big")
            with pytest.raises(CardFormatError) as info:
                decode_access_bits(flipped, sector=7)
            assert info.value.sector == 7
            assert "sector 7" in str(info.value)
            with pytest.raises(CardFormatError) as info:
                AccessConditions.decode(flipped)
            assert info.value.sector is None


@pytest.mark.parametrize("length", [0, 2, 4, 16])
def test_wrong_length_is_refused(length):
    with pytest.raises(CardFormatError, match="sector 2"):
        decode_access_bits(bytes(length), sector=2)


def consistent(raw: bytes) -> bool:
    b6, b7, b8 = raw
    return (b6 & 0xF) ^ (b7 >> 4) == 0xF and (b6 >> 4) ^ (b8 & 0xF) == 0xF and (b7 & 0xF) ^ (b8 >> 4) == 0xF


@given(st.binary(min_size=3, max_size=3))
def test_random_bytes_decode_and_reencode_or_are_refused(raw):
    try:
        access = decode_access_bits(raw)
    except CardFormatError:
        assert not consistent(raw)
    else:
        assert consistent(raw)
        assert access.encode() == raw
