"""List items on the wire: every object round-trips through its item, and
every malformed item is refused as a MalformedMessageError naming the fault."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.denylist import DenyEntry
from device.errors import DenyListEntryError, ListEntryError
from device.lists import PendingLoad
from device.protocol import items
from device.protocol.errors import MalformedMessageError

KEY = bytes.fromhex("a0a1a2a3a4a5")
CARDS = st.integers(0, 2**64 - 1)
UIDS = st.binary(min_size=4, max_size=4) | st.binary(min_size=7, max_size=7)


def wire(item: dict[str, Any]) -> Any:
    """The item as the receiver gets it: through JSON."""
    return json.loads(json.dumps(item))


@given(card=st.none() | CARDS, uid=st.none() | UIDS, reason=st.text(min_size=1))
def test_deny_entries_round_trip(card: int | None, uid: bytes | None, reason: str) -> None:
    if card is None and uid is None:
        return
    entry = DenyEntry(card, uid, reason)
    assert items.deny_entry_from_item(wire(items.deny_entry_to_item(entry))) == entry
    removal = items.deny_removal_from_item(wire(items.deny_removal_to_item(card, uid)))
    assert (removal.card_number, removal.uid, removal.reason) == (card, uid, "")


@given(card=CARDS, seq=st.integers(1, 0xFFFF), amount=st.integers(1, 2**31 - 1),
       key=st.binary(min_size=6, max_size=6),
       created_at=st.datetimes(min_value=dt.datetime(2000, 1, 1), timezones=st.timezones()))
def test_loads_round_trip(card: int, seq: int, amount: int, key: bytes, created_at: dt.datetime) -> None:
    load = PendingLoad(card, seq, amount, key, created_at)
    item = wire(items.load_to_item(load))
    assert item["created_at"].endswith("+00:00")
    back = items.load_from_item(item)
    assert (back.card_number, back.load_seq, back.amount_cents, back.purse_key_b) == (card, seq, amount, key)
    # the same instant, in UTC (compared in UTC: Python never equates a time in a DST gap or fold across zones)
    assert back.created_at == created_at.astimezone(dt.UTC) and back.created_at.utcoffset() == dt.timedelta(0)
    assert items.load_removal_from_item(wire(items.load_removal_to_item(card, seq))) == (card, seq)


def test_config_documents_round_trip() -> None:
    document = {"adult": 150, "zones": [1, 2], "night": {"factor": 1.5}}
    assert items.config_from_item(wire(items.config_to_item("fares", document))) == ("fares", document)


GOOD_DENY = {"card_number": 5000, "uid": "04a1b2c3", "reason": "lost"}
GOOD_LOAD = {"card_number": 5000, "load_seq": 1, "amount_cents": 2000, "purse_key_b": "a0a1a2a3a4a5",
             "created_at": "2026-05-01T07:30:00+00:00"}


@pytest.mark.parametrize(("item", "message"), [
    ([], "expected an object"),
    ({"card_number": 5000, "reason": "lost"}, r"missing \['uid'\]"),
    ({**GOOD_DENY, "extra": 1}, r"unknown \['extra'\]"),
    ({**GOOD_DENY, "card_number": "5000"}, "card_number must be an integer"),
    ({**GOOD_DENY, "card_number": True}, "card_number must be an integer"),
    ({**GOOD_DENY, "card_number": 2**64}, "64 bits"),
    ({**GOOD_DENY, "uid": "04a1b2"}, "4 or 7 bytes"),
    ({**GOOD_DENY, "uid": "04 a1 b2 c3"}, "hex"),
    ({**GOOD_DENY, "uid": "zzzzzzzz"}, "hex"),
    ({**GOOD_DENY, "reason": ""}, "reason"),
    ({**GOOD_DENY, "card_number": None, "uid": None}, "card number, a UID or both"),
])
def test_bad_deny_items_are_refused(item: Any, message: str) -> None:
    with pytest.raises(MalformedMessageError, match=message):
        items.deny_entry_from_item(item)


def test_a_bad_deny_item_keeps_the_entry_error_as_its_cause() -> None:
    with pytest.raises(MalformedMessageError) as caught:
        items.deny_removal_from_item({"card_number": None, "uid": None})
    assert isinstance(caught.value.__cause__, DenyListEntryError)


@pytest.mark.parametrize(("item", "message"), [
    ({**GOOD_LOAD, "amount_cents": 0}, "amount_cents"),
    ({**GOOD_LOAD, "load_seq": 0x10000}, "load_seq"),
    ({**GOOD_LOAD, "purse_key_b": "a0a1"}, "6 bytes"),
    ({**GOOD_LOAD, "purse_key_b": None}, "purse_key_b"),
    ({**GOOD_LOAD, "purse_key_b": "not hex!"}, "purse_key_b"),
    ({**GOOD_LOAD, "created_at": "2026-05-01T07:30:00"}, "time zone"),
    ({**GOOD_LOAD, "created_at": 1714548600}, "created_at"),
    ({k: v for k, v in GOOD_LOAD.items() if k != "load_seq"}, "missing"),
])
def test_bad_load_items_are_refused(item: Any, message: str) -> None:
    with pytest.raises(MalformedMessageError, match=message) as caught:
        items.load_from_item(item)
    assert "a0a1a2a3a4a5" not in str(caught.value)  # a card key never reaches a log


def test_a_bad_load_item_keeps_the_entry_error_as_its_cause() -> None:
    with pytest.raises(MalformedMessageError) as caught:
        items.load_from_item({**GOOD_LOAD, "amount_cents": -1})
    assert isinstance(caught.value.__cause__, ListEntryError)


@pytest.mark.parametrize(("item", "message"), [
    ({"card_number": 1}, "missing"),
    ({"card_number": 1, "load_seq": "1"}, "load_seq must be an integer"),
])
def test_bad_load_removals_are_refused(item: Any, message: str) -> None:
    with pytest.raises(MalformedMessageError, match=message):
        items.load_removal_from_item(item)


@pytest.mark.parametrize(("item", "message"), [
    ({"name": "", "document": {}}, "name"),
    ({"name": "fares", "document": [1]}, "JSON object"),
    ({"name": "fares"}, "missing"),
    ("fares", "expected an object"),
])
def test_bad_config_items_are_refused(item: Any, message: str) -> None:
    with pytest.raises(MalformedMessageError, match=message):
        items.config_from_item(item)
