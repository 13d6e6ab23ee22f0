"""List updates in parts: whatever the order the parts arrive in, the device
gets back exactly the update the server split, each part fits a message,
and a bad part number is refused."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.protocol.codec import MAX_MESSAGE_BYTES, SERVER_SIGNER, encode
from device.protocol.errors import MalformedMessageError
from device.protocol.messages import ListUpdate
from device.protocol.parts import Assembler, split
from device.protocol.signing import generate

ITEM = st.fixed_dictionaries({"card_number": st.integers(0, 2**64 - 1), "uid": st.none(),
                              "reason": st.text(max_size=40)})


def _update(added: list[dict], removed: list[dict], full: bool = False) -> ListUpdate:
    return ListUpdate(list="denylist", full=full, from_version=None if full else 3, to_version=9,
                      issued_at="2026-11-21T08:00:00+00:00", device_id=None, added=tuple(added),
                      removed=() if full else tuple(removed))


@given(added=st.lists(ITEM, max_size=60), removed=st.lists(ITEM, max_size=30), budget=st.integers(50, 2000),
       seed=st.integers(0, 1000))
def test_parts_in_any_order_assemble_to_the_update(added, removed, budget, seed) -> None:
    update = _update(added, removed)
    parts = split(update, budget)
    assert [p.part for p in parts] == list(range(1, len(parts) + 1))
    assert {p.parts for p in parts} == {len(parts)}
    random.Random(seed).shuffle(parts)
    assembler = Assembler()
    results = [assembler.add(part) for part in parts]
    assert results[:-1] == [None] * (len(parts) - 1)
    assert results[-1] == update
    assert assembler.pending == 0


def test_a_city_sized_full_list_goes_in_parts_that_each_fit_a_message() -> None:
    added = [{"card_number": 6033_0000_0000_0000 + n, "uid": f"{n:08x}", "reason": "lost"} for n in range(20_000)]
    update = _update(added, [], full=True)
    key = generate()
    with pytest.raises(ValueError):
        encode(update, key, SERVER_SIGNER)
    parts = split(update)
    assert len(parts) > 1
    assert all(len(encode(part, key, SERVER_SIGNER)) <= MAX_MESSAGE_BYTES for part in parts)
    assembler = Assembler()
    assert [assembler.add(part) for part in parts][-1] == update


@pytest.mark.parametrize(("part", "parts"), [(0, 2), (3, 2), (1, 0), (1, 10**6)])
def test_a_part_number_out_of_range_is_refused(part: int, parts: int) -> None:
    update = ListUpdate(list="denylist", full=True, from_version=None, to_version=1, issued_at="x", device_id=None,
                        added=(), removed=(), part=part, parts=parts)
    with pytest.raises(MalformedMessageError, match="part"):
        Assembler().add(update)


def test_unfinished_assemblies_are_bounded() -> None:
    assembler = Assembler(max_assemblies=2)
    for version in range(1, 6):
        first = split(_update([{"card_number": n, "uid": None, "reason": "lost"} for n in range(50)], []), 200)[0]
        assert assembler.add(ListUpdate(**{**first.__dict__, "to_version": version})) is None
    assert assembler.pending == 2
