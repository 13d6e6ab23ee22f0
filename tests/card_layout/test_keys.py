"""card_layout.keys: per-card key diversification from master secrets."""

import itertools
import random

import pytest
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC
from hypothesis import given
from hypothesis import strategies as st

from card_layout.access import KeyType
from card_layout.errors import CardFormatError, KeyMaterialError
from card_layout.keys import SYSTEM_IDENTIFIER, MasterKeys, cmac, diversify
from card_layout.trailer import WELL_KNOWN_KEYS

MASTERS = MasterKeys(key_a=bytes(range(16)), mac=bytes(range(16, 32)), key_b=bytes(range(32, 48)))
UID = bytes.fromhex("DEADBEEF")

uids = st.one_of(st.binary(min_size=4, max_size=4), st.binary(min_size=7, max_size=7))
sectors = st.integers(0, 15)


def test_cmac_rfc4493_vectors():
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    assert cmac(key, b"") == bytes.fromhex("bb1d6929e95937287fa37d129b756746")
    assert cmac(key, bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")) == bytes.fromhex(
        "070a16b46b4d4144f79bdd9dd04a287c"
    )


def test_diversification_input_is_as_documented():
    # CMAC(master, 0x01 || len(UID) || UID || sector || role || system identifier),
    # computed here without card_layout.keys: a change of the derivation would
    # lock every issued card out, so it must be deliberate.
    mac = CMAC(algorithms.AES128(MASTERS.key_a))
    mac.update(b"\x01" + b"\x04" + UID + b"\x05" + b"A" + SYSTEM_IDENTIFIER)
    expected = mac.finalize()
    assert diversify(MASTERS.key_a, UID, b"A", 5) == expected
    assert MASTERS.for_card(UID).sector_key(5, KeyType.A) == expected[:6]


@given(uids, sectors)
def test_derivation_is_deterministic(uid, sector):
    first = MASTERS.for_card(uid)
    second = MasterKeys(key_a=MASTERS.key_a, mac=MASTERS.mac, key_b=MASTERS.key_b).for_card(uid)
    for key_type in KeyType:
        assert first.sector_key(sector, key_type) == second.sector_key(sector, key_type)
        assert first.sector_key(sector, key_type) == first.sector_key(sector, key_type)  # cached
    assert first.mac_key == second.mac_key


@given(uids, uids, sectors)
def test_keys_differ_per_uid(uid, other, sector):
    if uid == other:
        return
    for key_type in KeyType:
        assert MASTERS.for_card(uid).sector_key(sector, key_type) != MASTERS.for_card(other).sector_key(
            sector, key_type
        )
    assert MASTERS.for_card(uid).mac_key != MASTERS.for_card(other).mac_key


@given(uids)
def test_keys_differ_per_sector_and_key_type(uid):
    card = MASTERS.for_card(uid)
    all_keys = [card.sector_key(sector, key_type) for sector, key_type in itertools.product(range(16), KeyType)]
    assert len(set(all_keys)) == 32
    assert all(len(key) == 6 and isinstance(key, bytes) for key in all_keys)
    assert card.mac_key[:6] not in all_keys


def test_four_and_seven_byte_uids_do_not_collide():
    # The UID length is part of the input: a 7-byte UID starting with a 4-byte one is another card.
    short, long = bytes.fromhex("01020304"), bytes.fromhex("01020304000000")
    assert MASTERS.for_card(short).sector_key(1, KeyType.A) != MASTERS.for_card(long).sector_key(1, KeyType.A)


def test_mac_key_is_a_full_aes_key():
    assert len(MASTERS.for_card(UID).mac_key) == 16


def test_no_derived_key_is_well_known():
    rng = random.Random(2024)
    for _ in range(200):
        uid = rng.randbytes(rng.choice((4, 7)))
        card = MASTERS.for_card(uid)
        for sector, key_type in itertools.product(range(16), KeyType):
            assert card.sector_key(sector, key_type) not in WELL_KNOWN_KEYS


def test_different_masters_give_different_keys():
    other = MasterKeys(key_a=bytes(range(100, 116)), mac=MASTERS.mac, key_b=MASTERS.key_b)
    assert other.for_card(UID).sector_key(1, KeyType.A) != MASTERS.for_card(UID).sector_key(1, KeyType.A)
    assert other.for_card(UID).sector_key(1, KeyType.B) == MASTERS.for_card(UID).sector_key(1, KeyType.B)


def test_store_without_key_b_cannot_derive_key_b():
    validator = MasterKeys(key_a=MASTERS.key_a, mac=MASTERS.mac)
    card = validator.for_card(UID)
    assert not validator.can_credit
    assert card.has(KeyType.A)
    assert not card.has(KeyType.B)
    with pytest.raises(KeyMaterialError):
        card.sector_key(1, KeyType.B)
    # Key A and the MAC key are the same as the full store's.
    full = MASTERS.for_card(UID)
    assert card.sector_key(1, KeyType.A) == full.sector_key(1, KeyType.A)
    assert card.mac_key == full.mac_key


def test_validator_subset_drops_key_b():
    subset = MASTERS.validator_subset()
    assert MASTERS.can_credit
    assert subset.key_b is None
    assert not subset.can_credit
    assert subset.key_a == MASTERS.key_a
    assert subset.mac == MASTERS.mac
    with pytest.raises(KeyMaterialError):
        subset.for_card(UID).sector_key(0, KeyType.B)
    assert MASTERS.key_b is not None  # the original is untouched


@pytest.mark.parametrize("length", [0, 6, 15, 17, 32])
def test_masters_of_wrong_length_are_refused(length):
    with pytest.raises(KeyMaterialError):
        MasterKeys(key_a=bytes(length), mac=MASTERS.mac)
    with pytest.raises(KeyMaterialError):
        MasterKeys(key_a=MASTERS.key_a, mac=bytes(length))
    with pytest.raises(KeyMaterialError):
        MasterKeys(key_a=MASTERS.key_a, mac=MASTERS.mac, key_b=bytes(length))


def test_equal_masters_are_refused():
    a, b, c = MASTERS.key_a, MASTERS.mac, MASTERS.key_b
    for key_a, mac, key_b in [(a, a, None), (a, a, c), (a, b, a), (a, b, b), (a, a, a)]:
        with pytest.raises(KeyMaterialError, match="differ"):
            MasterKeys(key_a=key_a, mac=mac, key_b=key_b)


def test_key_material_error_is_a_value_error():
    with pytest.raises(ValueError):
        MasterKeys(key_a=b"short", mac=MASTERS.mac)


@pytest.mark.parametrize("uid", [b"", bytes(3), bytes(5), bytes(10)])
def test_uid_must_be_4_or_7_bytes(uid):
    with pytest.raises(CardFormatError):
        MASTERS.for_card(uid)


@pytest.mark.parametrize("sector", [-1, 16])
def test_sector_must_exist(sector):
    with pytest.raises(CardFormatError):
        MASTERS.for_card(UID).sector_key(sector, KeyType.A)
