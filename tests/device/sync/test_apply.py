"""List updates applied to the device's stores, without a network: each
list's full and differential updates, replays, gaps, and bad items that
leave the store as it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.denylist import DenyEntry, DenyList
from device.errors import DenyListEntryError
from device.lists import ListStore, PendingLoad
from device.protocol.errors import MalformedMessageError
from device.protocol.items import (
    config_to_item,
    deny_entry_to_item,
    deny_removal_to_item,
    load_removal_to_item,
    load_to_item,
)
from device.sync.apply import ListApplier, Outcome
from tests.mqtt import list_update

CARD = DenyEntry(6033000000000001, None, "lost")
UID = DenyEntry(None, bytes.fromhex("0a0b0c0d"), "stolen")
LOAD = PendingLoad(6033000000000001, 1, 1000, bytes(6), dt.datetime(2026, 11, 21, tzinfo=dt.UTC))


@pytest.fixture
def applier(tmp_path: Path) -> Iterator[ListApplier]:
    with DenyList(tmp_path / "deny.sqlite3") as denylist, ListStore(tmp_path / "lists.sqlite3") as lists:
        yield ListApplier(denylist, lists)


def test_versions_start_at_zero(applier: ListApplier) -> None:
    assert applier.versions() == {"denylist": 0, "loads": 0, "config": 0}


def test_denylist_full_delta_stale_and_conflict(applier: ListApplier) -> None:
    assert applier.apply(list_update("denylist", 3, added=[deny_entry_to_item(CARD)])) == (Outcome.APPLIED, None)
    delta = list_update("denylist", 4, from_version=3, added=[deny_entry_to_item(UID)],
                        removed=[deny_removal_to_item(CARD.card_number, None)])
    assert applier.apply(delta) == (Outcome.APPLIED, None)
    assert applier.denylist.is_denied(CARD.card_number, UID.uid) == "stolen"
    outcome, conflict = applier.apply(delta)
    assert outcome is Outcome.STALE and conflict is not None and conflict.held == 4
    outcome, conflict = applier.apply(list_update("denylist", 9, from_version=7))
    assert outcome is Outcome.CONFLICT and conflict is not None and (conflict.held, conflict.from_version) == (4, 7)
    assert applier.held("denylist") == 4


def test_loads_and_config(applier: ListApplier) -> None:
    assert applier.apply(list_update("loads", 1, added=[load_to_item(LOAD)]))[0] is Outcome.APPLIED
    assert applier.lists.pending_loads.for_card(LOAD.card_number) == [LOAD]
    removal = list_update("loads", 2, from_version=1, removed=[load_removal_to_item(LOAD.card_number, 1)])
    assert applier.apply(removal)[0] is Outcome.APPLIED
    assert len(applier.lists.pending_loads) == 0
    assert applier.apply(list_update("config", 2, added=[config_to_item("fares", {"version": 2})]))[0] \
        is Outcome.APPLIED
    config = list_update("config", 3, from_version=2, added=[config_to_item("device", {"x": 1})],
                         removed=[{"name": "fares"}])  # removals are ignored: documents are replaced
    assert applier.apply(config)[0] is Outcome.APPLIED
    assert applier.lists.config.versions() == {"device": 3, "fares": 2}
    assert applier.versions() == {"denylist": 0, "loads": 2, "config": 3}
    assert applier.apply(list_update("config", 5, from_version=4))[0] is Outcome.CONFLICT


@pytest.mark.parametrize(
    ("update", "error", "message"),
    [
        (list_update("parking", 1), MalformedMessageError, "unknown list 'parking'"),
        (list_update("denylist", 2, from_version=1).__class__(
            list="denylist", full=True, from_version=1, to_version=2, issued_at="t", device_id=None, added=(),
            removed=()), MalformedMessageError, "no from_version"),
        (list_update("denylist", 1, added=[{"card_number": 1}]), MalformedMessageError, r"added\[0\]: deny-list"),
        (list_update("denylist", 1, added=[deny_entry_to_item(CARD), {"card_number": None, "uid": None,
                                                                     "reason": "x"}]),
         MalformedMessageError, r"added\[1\]"),
        (list_update("denylist", 1, from_version=0, added=[deny_entry_to_item(CARD)],
                     removed=[deny_removal_to_item(CARD.card_number, None)]), DenyListEntryError, "both added"),
        (list_update("loads", 1, added=[{**load_to_item(LOAD), "amount_cents": 0}]), MalformedMessageError,
         "amount_cents"),
        (list_update("config", 1, added=[{"name": "", "document": {}}]), MalformedMessageError, "name"),
    ],
)
def test_bad_updates_change_nothing(applier: ListApplier, update, error, message: str) -> None:
    with pytest.raises(error, match=message):
        applier.apply(update)
    assert applier.versions() == {"denylist": 0, "loads": 0, "config": 0}
    assert len(applier.denylist) == 0
