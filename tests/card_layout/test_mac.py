"""card_layout.mac: record MACs bound to type, UID, counter and bound bytes."""

from hypothesis import given
from hypothesis import strategies as st

from card_layout.keys import cmac
from card_layout.mac import MAC_SIZE, mac_matches, record_mac

KEY = bytes(range(16))

types = st.integers(0, 255)
uids = st.one_of(st.binary(min_size=4, max_size=4), st.binary(min_size=7, max_size=7))
counters = st.integers(0, 2**32 - 1)
bounds = st.binary(max_size=8)
bodies = st.binary(max_size=48)
fields = st.tuples(types, uids, counters, bounds, bodies)


def mac_of(fields_: tuple) -> bytes:
    record_type, uid, counter, bound, body = fields_
    return record_mac(KEY, record_type, uid, counter, body, bound)


def test_mac_input_is_as_documented():
    # type || len(UID) || UID || counter (4, big-endian) || bound || body, CMAC truncated to 8 bytes.
    uid = bytes.fromhex("DEADBEEF")
    message = bytes.fromhex("02 04 DEADBEEF 00000007 02 0A0B CAFE")
    assert record_mac(KEY, 0x02, uid, 7, bytes.fromhex("CAFE"), bytes.fromhex("0A0B")) == cmac(KEY, message)[:8]


@given(fields)
def test_mac_is_eight_bytes_and_deterministic(f):
    assert MAC_SIZE == 8
    assert len(mac_of(f)) == MAC_SIZE
    assert mac_of(f) == mac_of(f)


@given(fields, types)
def test_type_changes_the_mac(f, other):
    if other != f[0]:
        assert mac_of(f) != mac_of((other, *f[1:]))


@given(fields, uids)
def test_uid_changes_the_mac(f, other):
    if other != f[1]:
        assert mac_of(f) != mac_of((f[0], other, *f[2:]))


@given(fields, counters)
def test_counter_changes_the_mac(f, other):
    if other != f[2]:
        assert mac_of(f) != mac_of((*f[:2], other, *f[3:]))


@given(fields, bounds)
def test_bound_changes_the_mac(f, other):
    if other != f[3]:
        assert mac_of(f) != mac_of((*f[:3], other, f[4]))


@given(fields, bodies)
def test_body_changes_the_mac(f, other):
    if other != f[4]:
        assert mac_of(f) != mac_of((*f[:4], other))


@given(fields, st.binary(min_size=16, max_size=16))
def test_key_changes_the_mac(f, other_key):
    record_type, uid, counter, bound, body = f
    if other_key != KEY:
        assert record_mac(other_key, record_type, uid, counter, body, bound) != mac_of(f)


@given(fields, st.integers(0, MAC_SIZE - 1), st.integers(1, 255))
def test_mac_matches(f, position, mask):
    mac = mac_of(f)
    assert mac_matches(mac, mac)
    forged = bytearray(mac)
    forged[position] ^= mask
    assert not mac_matches(mac, bytes(forged))
    assert not mac_matches(mac, mac[:-1])
