"""The list store: pending loads and configuration documents, versioned,
all-or-nothing, durable across reopening and shared between connections."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from device.errors import DeviceError, ListEntryError, ListStoreError, ListVersionError
from device.lists import CARD_NUMBER_MAX, LISTS_FILENAME, ConfigStore, ListStore, PendingLoad, PendingLoads

T0 = dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC)
CARD = 4_000_123_456_789_012
OTHER = 4_000_999_000_000_001
KEY = bytes.fromhex("A1B2C3D4E5F6")


def load(card: int = CARD, seq: int = 1, amount: int = 1000, key: bytes = KEY) -> PendingLoad:
    return PendingLoad(card, seq, amount, key, T0 + dt.timedelta(minutes=seq))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / LISTS_FILENAME


@pytest.fixture
def store(path: Path) -> Iterator[ListStore]:
    with ListStore(path) as opened:
        yield opened


@pytest.fixture
def loads(store: ListStore) -> PendingLoads:
    return store.pending_loads


@pytest.fixture
def config(store: ListStore) -> ConfigStore:
    return store.config


def snapshot(loads: PendingLoads) -> tuple[int, list[PendingLoad]]:
    return loads.version, loads.for_card(CARD) + loads.for_card(OTHER)


# -- the file -----------------------------------------------------------------


def test_file_is_private_and_in_wal_mode(store: ListStore, path: Path) -> None:
    assert os.stat(path).st_mode & 0o777 == 0o600
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_refuses_another_sqlite_file(tmp_path: Path) -> None:
    other = tmp_path / "journal.sqlite3"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE entry (seq INTEGER)")
    conn.close()
    with pytest.raises(ListStoreError, match="is not a list store"):
        ListStore(other)


def test_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a database at all, not at all" * 100)
    with pytest.raises(ListStoreError, match="cannot use the list store") as caught:
        ListStore(junk)
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    assert isinstance(caught.value, DeviceError)


def test_refuses_a_newer_schema(path: Path) -> None:
    ListStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ListStoreError, match="schema 99 is newer"):
        ListStore(path)


def test_cannot_create_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ListStoreError, match="cannot create"):
        ListStore(tmp_path / "missing" / LISTS_FILENAME)


def test_survives_reopening(path: Path) -> None:
    with ListStore(path) as first:
        first.pending_loads.apply_full(3, [load(seq=1), load(seq=2)])
        first.config.put("fares", 7, {"single": 150})
    with ListStore(path) as second:
        assert second.pending_loads.version == 3
        assert second.pending_loads.for_card(CARD) == [load(seq=1), load(seq=2)]
        assert second.config.get("fares") == (7, {"single": 150})


def test_a_second_connection_sees_committed_changes(path: Path, store: ListStore) -> None:
    with ListStore(path) as reader:
        assert reader.pending_loads.version == 0
        store.pending_loads.apply_full(1, [load()])
        assert reader.pending_loads.version == 1
        assert reader.pending_loads.for_card(CARD) == [load()]


def test_closed_store_raises_a_list_store_error(path: Path) -> None:
    opened = ListStore(path)
    opened.close()
    opened.close()  # idempotent
    with pytest.raises(ListStoreError):
        opened.pending_loads.apply_full(1, [])
    with pytest.raises(ListStoreError):
        _ = opened.pending_loads.version


# -- pending loads ------------------------------------------------------------


def test_starts_empty_at_version_zero(loads: PendingLoads) -> None:
    assert loads.version == 0
    assert loads.for_card(CARD) == []
    assert len(loads) == 0


def test_full_list_replaces_everything(loads: PendingLoads) -> None:
    loads.apply_full(1, [load(seq=1), load(OTHER, 1)])
    loads.apply_full(2, [load(seq=2, amount=500)])
    assert loads.version == 2
    assert loads.for_card(CARD) == [load(seq=2, amount=500)]
    assert loads.for_card(OTHER) == []


def test_for_card_is_in_seq_order_after_the_cards_last(loads: PendingLoads) -> None:
    loads.apply_full(1, [load(seq=5), load(seq=2), load(seq=9), load(OTHER, 3)])
    assert [item.load_seq for item in loads.for_card(CARD)] == [2, 5, 9]
    assert [item.load_seq for item in loads.for_card(CARD, after_seq=2)] == [5, 9]
    assert loads.for_card(CARD, after_seq=9) == []
    assert [item.card_number for item in loads.for_card(OTHER)] == [OTHER]


def test_fields_come_back_exactly(loads: PendingLoads) -> None:
    madrid = dt.timezone(dt.timedelta(hours=1))
    item = PendingLoad(CARD_NUMBER_MAX, 65535, 2**31 - 1, bytes(6), dt.datetime(2025, 1, 1, 10, 0, 0, 123456, madrid))
    loads.apply_full(1, [item, PendingLoad(0, 1, 1, b"\xff" * 6, T0)])
    (back,) = loads.for_card(CARD_NUMBER_MAX)
    assert back == item  # same instant; stored in UTC
    assert back.created_at.utcoffset() == dt.timedelta(0)
    assert loads.for_card(0)[0].purse_key_b == b"\xff" * 6


def test_delta_removes_then_adds(loads: PendingLoads) -> None:
    loads.apply_full(4, [load(seq=1), load(seq=2), load(OTHER, 1)])
    loads.apply_delta(4, 5, added=[load(seq=3), load(seq=2, amount=2500)], removed_seqs=[(CARD, 1), (OTHER, 7)])
    assert loads.version == 5
    assert loads.for_card(CARD) == [load(seq=2, amount=2500), load(seq=3)]
    assert loads.for_card(OTHER) == [load(OTHER, 1)]


def test_delta_from_nothing(loads: PendingLoads) -> None:
    loads.apply_delta(0, 1, [load()], [])
    assert loads.version == 1 and len(loads) == 1


@pytest.mark.parametrize(
    ("from_version", "to_version", "stale"),
    [(5, 7, False), (0, 1, True), (3, 4, True), (2, 5, False)],
    ids=["missed an update", "replayed first delta", "replayed last delta", "from an older version"],
)
def test_delta_must_start_from_the_version_held(
    loads: PendingLoads, from_version: int, to_version: int, stale: bool
) -> None:
    loads.apply_full(4, [load()])
    with pytest.raises(ListVersionError, match="does not start from the version held, 4; a full list") as caught:
        loads.apply_delta(from_version, to_version, [load(seq=2)], [(CARD, 1)])
    error = caught.value
    assert (error.held, error.from_version, error.to_version, error.stale) == (4, from_version, to_version, stale)
    assert snapshot(loads) == (4, [load()])


@pytest.mark.parametrize("to_version", [4, 3])
def test_delta_must_go_forward(loads: PendingLoads, to_version: int) -> None:
    loads.apply_full(4, [load()])
    with pytest.raises(ListVersionError, match="does not go forward") as caught:
        loads.apply_delta(4, to_version, [], [])
    assert caught.value.stale
    assert loads.version == 4


def test_a_load_both_added_and_removed_is_refused(loads: PendingLoads) -> None:
    loads.apply_full(1, [load(seq=1)])
    with pytest.raises(ListEntryError, match="both added and removed"):
        loads.apply_delta(1, 2, [load(seq=1, amount=5)], [(CARD, 1)])
    assert snapshot(loads) == (1, [load(seq=1)])


def test_full_list_may_not_go_back(loads: PendingLoads) -> None:
    loads.apply_full(4, [load()])
    with pytest.raises(ListVersionError, match="older than the version held, 4") as caught:
        loads.apply_full(3, [])
    assert caught.value.stale and caught.value.from_version is None
    assert snapshot(loads) == (4, [load()])
    loads.apply_full(4, [load(seq=2)])  # the same version again: a re-sent list
    assert snapshot(loads) == (4, [load(seq=2)])


def test_mark_applied_tidies_up_without_changing_the_version(loads: PendingLoads) -> None:
    loads.apply_full(2, [load(seq=1), load(seq=2), load(seq=3), load(OTHER, 1)])
    assert loads.mark_applied(CARD, 2) == 2
    assert loads.for_card(CARD) == [load(seq=3)]
    assert loads.for_card(OTHER) == [load(OTHER, 1)]
    assert loads.mark_applied(CARD, 2) == 0
    assert loads.version == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seq": 0}, r"load_seq must be an integer in 1..65535, got 0"),
        ({"seq": 65536}, r"load_seq must be an integer in 1..65535"),
        ({"amount": 0}, r"amount_cents must be an integer in 1..2147483647, got 0"),
        ({"amount": -100}, r"amount_cents"),
        ({"amount": True}, r"amount_cents .* got True"),
        ({"card": -1}, r"card_number must be an integer in 0..18446744073709551615"),
        ({"card": 2**64}, r"card_number"),
        ({"key": bytes(5)}, r"purse_key_b must be 6 bytes, got 5 bytes$"),
        ({"key": "A1B2C3D4E5F6"}, r"purse_key_b must be 6 bytes, got str$"),
    ],
)
def test_bad_loads_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ListEntryError, match=message) as caught:
        load(**kwargs)
    assert isinstance(caught.value, ValueError)


def test_the_key_stays_out_of_reprs() -> None:
    assert KEY.hex() not in repr(load()).lower() and repr(KEY) not in repr(load())


def test_created_at_needs_a_zone() -> None:
    with pytest.raises(ListEntryError, match="created_at must be a datetime with a time zone"):
        PendingLoad(CARD, 1, 100, KEY, dt.datetime(2025, 1, 1))


@pytest.mark.parametrize("version", [0, -1, True, 2**63, "3"])
def test_bad_versions_are_refused(loads: PendingLoads, version: Any) -> None:
    with pytest.raises(ListEntryError, match="a version is an integer from 1"):
        loads.apply_full(version, [])


def test_bad_card_numbers_in_queries(loads: PendingLoads) -> None:
    with pytest.raises(ListEntryError, match="a card number"):
        loads.for_card(2**64)
    with pytest.raises(ListEntryError, match="a card number"):
        loads.mark_applied(-1, 3)


# -- all or nothing -----------------------------------------------------------


def _raising_after(items: list[Any], exc: Exception) -> Iterator[Any]:
    yield from items
    raise exc


def test_full_list_is_all_or_nothing_when_the_source_fails(loads: PendingLoads) -> None:
    loads.apply_full(1, [load(seq=1), load(OTHER, 1)])
    before = snapshot(loads)
    with pytest.raises(ConnectionError, match="lost"):
        loads.apply_full(2, _raising_after([load(seq=7), load(seq=8)], ConnectionError("lost")))
    assert snapshot(loads) == before


@pytest.mark.parametrize(
    "entries",
    [
        [load(seq=7), "not a load"],
        [load(seq=7), load(seq=7)],
    ],
    ids=["not a load", "duplicate"],
)
def test_full_list_is_all_or_nothing_on_a_bad_entry(loads: PendingLoads, entries: list[Any]) -> None:
    loads.apply_full(1, [load(seq=1)])
    with pytest.raises(ListEntryError):
        loads.apply_full(2, entries)
    assert snapshot(loads) == (1, [load(seq=1)])


def test_delta_is_all_or_nothing(loads: PendingLoads) -> None:
    loads.apply_full(1, [load(seq=1), load(seq=2)])
    before = snapshot(loads)
    with pytest.raises(ConnectionError):
        loads.apply_delta(1, 2, [load(seq=3)], _raising_after([(CARD, 1)], ConnectionError("lost")))
    assert snapshot(loads) == before
    with pytest.raises(ConnectionError):
        loads.apply_delta(1, 2, _raising_after([load(seq=3)], ConnectionError("lost")), [(CARD, 1), (CARD, 2)])
    assert snapshot(loads) == before
    with pytest.raises(ListEntryError, match="a removal is"):
        loads.apply_delta(1, 2, [load(seq=3)], [(CARD, 1), (CARD,)])  # type: ignore[list-item]
    assert snapshot(loads) == before
    loads.apply_delta(1, 2, [load(seq=3)], [(CARD, 1)])
    assert snapshot(loads) == (2, [load(seq=2), load(seq=3)])


def test_an_sqlite_failure_mid_apply_rolls_back(path: Path, loads: PendingLoads) -> None:
    loads.apply_full(1, [load(seq=1)])
    with sqlite3.connect(path) as conn:  # a fault planted in the file: the third insert fails
        conn.execute("CREATE TRIGGER fail BEFORE INSERT ON pending_load WHEN NEW.load_seq = 9"
                     " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    conn.close()
    with pytest.raises(ListStoreError, match="disk on fire; nothing was changed") as caught:
        loads.apply_full(2, [load(seq=7), load(seq=8), load(seq=9)])
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    assert snapshot(loads) == (1, [load(seq=1)])


def test_a_writer_gives_up_after_the_busy_timeout(path: Path, store: ListStore) -> None:
    with ListStore(path, busy_timeout=0.05) as impatient, sqlite3.connect(path, isolation_level=None) as other:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        with pytest.raises(ListStoreError, match="cannot start a change: database is locked"):
            impatient.pending_loads.apply_full(1, [load()])
        assert impatient.pending_loads.version == 0  # readers are not blocked (WAL)
        other.execute("ROLLBACK")
        impatient.pending_loads.apply_full(1, [load()])
    other.close()
    assert store.pending_loads.version == 1


# -- configuration documents ---------------------------------------------------


def test_config_documents(config: ConfigStore) -> None:
    assert config.get("fares") is None
    assert config.versions() == {}
    config.put("fares", 1, {"single": {"general": 150}, "currency": "EUR"})
    config.put("device", 3, {"tap": {"card_timeout": 4.0}})
    config.put("fares", 2, {"single": {"general": 160}, "currency": "EUR"})
    assert config.get("fares") == (2, {"single": {"general": 160}, "currency": "EUR"})
    assert config.versions() == {"device": 3, "fares": 2}


@pytest.mark.parametrize("version", [2, 1])
def test_config_version_must_be_newer(config: ConfigStore, version: int) -> None:
    config.put("fares", 2, {"v": 2})
    with pytest.raises(ListVersionError, match=f"version {version} is not newer than the version held, 2") as caught:
        config.put("fares", version, {"v": "stale"})
    assert caught.value.stale and (caught.value.held, caught.value.to_version) == (2, version)
    assert config.get("fares") == (2, {"v": 2})


@pytest.mark.parametrize(
    ("name", "version", "document", "message"),
    [
        ("", 1, {}, "a document name is a non-empty string"),
        ("fares", 0, {}, "a version is an integer from 1"),
        ("fares", 1, [1, 2], "a document is a JSON object, got list"),
        ("fares", 1, {"x": b"bytes"}, "not a JSON document"),
        ("fares", 1, {"x": float("nan")}, "not a JSON document"),
    ],
)
def test_bad_documents_are_refused(config: ConfigStore, name: str, version: int, document: Any, message: str) -> None:
    with pytest.raises(ListEntryError, match=message):
        config.put(name, version, document)
    assert config.versions() == {}


def test_config_list_updates_hold_the_list_version(config: ConfigStore) -> None:
    assert config.version == 0
    config.put("fares", 9, {"v": "local"})  # the config file's own fare table, newer than the server's
    assert config.apply_update(None, 3, [("fares", {"v": 3}), ("device", {"tap": 1})]) == ["device"]
    assert config.version == 3 and config.versions() == {"device": 3, "fares": 9}
    assert config.apply_update(3, 4, [("device", {"tap": 2})]) == ["device"]
    assert config.get("device") == (4, {"tap": 2}) and config.get("fares") == (9, {"v": "local"})
    assert config.apply_update(None, 4, [("device", {"tap": 2})]) == []  # a re-sent full list changes nothing
    with pytest.raises(ListVersionError) as replay:
        config.apply_update(3, 4, [("device", {"tap": 3})])
    assert replay.value.stale
    with pytest.raises(ListVersionError) as gap:
        config.apply_update(5, 6, [("device", {"tap": 3})])
    assert not gap.value.stale and gap.value.held == 4
    with pytest.raises(ListVersionError) as old:
        config.apply_update(None, 2, [])
    assert old.value.stale
    with pytest.raises(ListEntryError, match="given twice"):
        config.apply_update(4, 5, [("a", {}), ("a", {})])
    with pytest.raises(ListEntryError, match="JSON object"):
        config.apply_update(4, 5, [("a", {}), ("b", [1])])  # type: ignore[list-item]
    assert config.version == 4 and config.get("a") is None  # nothing of a refused update


def test_config_and_loads_share_the_file_but_not_versions(store: ListStore) -> None:
    store.config.put("fares", 5, {})
    store.pending_loads.apply_full(2, [])
    assert store.config.versions() == {"fares": 5}
    assert store.pending_loads.version == 2
