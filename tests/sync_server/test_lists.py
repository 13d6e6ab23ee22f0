"""The server side of the versioned lists: versions, full lists and deltas,
checked against a model and against the devices' own list stores (the
deny-list, pending loads and configuration a field device applies them to).
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine

from device.denylist import DenyList
from device.lists import ListStore
from device.protocol import items
from device.protocol.messages import ListUpdate, Status, from_body, to_body
from sync_server.db.models import CardLoadSequence, ListChange
from sync_server.errors import InvalidValueError, LoadSequenceExhaustedError, UnknownListError
from sync_server.store import SyncStore

from .builders import DEVICE_KEY
from .conftest import Clock, wipe

PURSE_KEY = bytes.fromhex("a0a1a2a3a4a5")
UID4, UID7 = bytes.fromhex("04a1b2c3"), bytes.fromhex("04112233445566")


def deny_state(update: ListUpdate) -> dict[tuple[str, Any], str]:
    """The keys a full deny-list denies, with their reasons."""
    state = {}
    for item in update.added:
        entry = items.deny_entry_from_item(item)
        if entry.card_number is not None:
            state["card", entry.card_number] = entry.reason
        if entry.uid is not None:
            state["uid", entry.uid] = entry.reason
    return state


def apply_deny_delta(state: dict[tuple[str, Any], str], update: ListUpdate) -> dict[tuple[str, Any], str]:
    """A device's deny-list semantics: remove the keys named, then deny those added."""
    state = dict(state)
    removed = [items.deny_removal_from_item(item) for item in update.removed]
    added = [items.deny_entry_from_item(item) for item in update.added]
    gone = {("card", e.card_number) for e in removed if e.card_number is not None}
    gone |= {("uid", e.uid) for e in removed if e.uid is not None}
    for key in gone:
        state.pop(key, None)
    for entry in added:
        for key in (("card", entry.card_number), ("uid", entry.uid)):
            if key[1] is not None:
                assert key not in gone, f"{key} both added and removed"
                state[key] = entry.reason
    return state


# -- versions -----------------------------------------------------------------------------------------

def test_every_list_starts_at_version_zero(store: SyncStore) -> None:
    for name in ("denylist", "loads", "config"):
        assert store.list_version(name) == 0
        assert store.delta(name, 0) is None
        full = store.full_list(name)
        assert (full.full, full.from_version, full.to_version, full.added, full.removed) == (True, None, 0, (), ())


@pytest.mark.parametrize("call", [
    lambda s: s.list_version("fares"), lambda s: s.full_list("deny"), lambda s: s.delta("", 0),
])
def test_an_unknown_list_name_is_refused(store: SyncStore, call: Callable[[SyncStore], object]) -> None:
    with pytest.raises(UnknownListError, match="denylist, loads, config") as caught:
        call(store)
    assert isinstance(caught.value, ValueError)


def test_each_change_makes_the_next_version_of_its_list_only(store: SyncStore) -> None:
    assert store.block(card_number=5000, reason="lost") == 1
    assert store.block(uid=UID4, reason="stolen") == 2
    assert store.add_load(5000, 2000, PURSE_KEY) == (1, 1)
    assert store.put_config("fares", {"adult": 150}) == 1
    assert store.unblock(card_number=5000) == 3
    assert [store.list_version(name) for name in ("denylist", "loads", "config")] == [3, 1, 1]


def test_a_change_that_changes_nothing_makes_no_version(store: SyncStore) -> None:
    assert store.block(card_number=5000, reason="lost") == 1
    assert store.block(card_number=5000, reason="lost") == 1
    assert store.unblock(card_number=6000) == 1
    assert store.unblock(uid=UID7) == 1
    assert store.block(card_number=5000, reason="stolen") == 2  # a new reason is a change
    assert deny_state(store.full_list("denylist")) == {("card", 5000): "stolen"}
    assert store.put_config("fares", {"adult": 150, "child": 75}) == 1
    assert store.put_config("fares", {"child": 75, "adult": 150}) == 1
    assert store.list_version("config") == 1


# -- deny-list ----------------------------------------------------------------------------------------

def test_the_full_deny_list_denies_each_key_blocked(store: SyncStore, clock: Clock) -> None:
    store.block(card_number=5000, reason="lost")
    store.block(card_number=2**64 - 1, uid=UID7, reason="stolen")
    store.block(uid=UID4, reason="cloned")
    full = store.full_list("denylist", device_id=1201)
    assert (full.list, full.full, full.from_version, full.to_version, full.device_id, full.issued_at) == (
        "denylist", True, None, 3, 1201, clock.now.isoformat())
    assert deny_state(full) == {("card", 5000): "lost", ("card", 2**64 - 1): "stolen", ("uid", UID7): "stolen",
                                ("uid", UID4): "cloned"}
    assert from_body(ListUpdate, to_body(full)) == full  # fits the wire schema


def test_block_then_unblock(store: SyncStore) -> None:
    store.block(card_number=5000, uid=UID4, reason="lost")
    store.unblock(card_number=5000)
    assert deny_state(store.full_list("denylist")) == {("uid", UID4): "lost"}
    delta = store.delta("denylist", 1)
    assert delta is not None and (delta.full, delta.from_version, delta.to_version) == (False, 1, 2)
    assert (delta.added, delta.removed) == ((), ({"card_number": 5000, "uid": None},))
    from_start = store.delta("denylist", 0)
    assert from_start is not None
    assert apply_deny_delta({}, from_start) == {("uid", UID4): "lost"}
    assert from_start.removed == ({"card_number": 5000, "uid": None},)  # net effect: never added and removed


@pytest.mark.parametrize("keys", [{}, {"uid": b"\x01\x02"}, {"card_number": -1}, {"card_number": 2**64}])
def test_a_block_needs_a_valid_key(store: SyncStore, keys: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError):
        store.block(reason="lost", **keys)
    with pytest.raises(InvalidValueError):
        store.unblock(**keys)
    assert store.list_version("denylist") == 0


def test_a_block_needs_a_reason(store: SyncStore) -> None:
    with pytest.raises(InvalidValueError, match="reason"):
        store.block(card_number=5000, reason="")


def test_a_device_ahead_of_the_server_or_behind_the_log_gets_the_full_list(store: SyncStore,
                                                                            engine: Engine) -> None:
    for number in range(1, 6):
        store.block(card_number=number, reason="lost")
    assert store.delta("denylist", 5) is None
    ahead = store.delta("denylist", 9)  # the server's database was restored from a backup, say
    assert ahead is not None and ahead.full and ahead.to_version == 5 and len(ahead.added) == 5
    with engine.begin() as conn:  # the change log was pruned up to version 2
        conn.execute(delete(ListChange).where(ListChange.list_name == "denylist", ListChange.version <= 2))
    behind = store.delta("denylist", 1)
    assert behind is not None and behind.full and len(behind.added) == 5
    kept = store.delta("denylist", 2)
    assert kept is not None and not kept.full and len(kept.added) == 3
    with pytest.raises(InvalidValueError):
        store.delta("denylist", -1)


_KEYS = st.sampled_from([("card", 5000), ("card", 2**64 - 1), ("uid", UID4), ("uid", UID7), ("both", None)])


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
@given(operations=st.lists(st.tuples(st.booleans(), _KEYS, st.sampled_from(["lost", "stolen"])), max_size=12))
def test_a_delta_from_any_version_leads_to_the_full_list(store: SyncStore, engine: Engine,
                                                         operations: list[tuple[bool, tuple[str, Any], str]]) -> None:
    wipe(engine)
    states = {0: {}}
    for blocking, (kind, key), reason in operations:
        keys = ({"card_number": 6000, "uid": UID4} if kind == "both" else
                {"card_number": key} if kind == "card" else {"uid": key})
        version = store.block(**keys, reason=reason) if blocking else store.unblock(**keys)
        states[version] = deny_state(store.full_list("denylist"))
    current = store.list_version("denylist")
    for version, state in states.items():
        delta = store.delta("denylist", version)
        if version == current:
            assert delta is None
        else:
            assert delta is not None and (delta.from_version, delta.to_version) == (version, current)
            assert apply_deny_delta(state, delta) == states[current]


# -- pending loads ------------------------------------------------------------------------------------

def test_loads_are_numbered_per_card(store: SyncStore, clock: Clock) -> None:
    assert store.add_load(5000, 2000, PURSE_KEY) == (1, 1)
    clock.advance(minutes=1)
    assert store.add_load(5000, 500, PURSE_KEY) == (2, 2)
    assert store.add_load(2**64 - 1, 100, PURSE_KEY) == (1, 3)
    loads = [items.load_from_item(item) for item in store.full_list("loads").added]
    assert [(load.card_number, load.load_seq, load.amount_cents, load.purse_key_b, load.created_at)
            for load in loads] == [(5000, 1, 2000, PURSE_KEY, clock.now - dt.timedelta(minutes=1)),
                                   (5000, 2, 500, PURSE_KEY, clock.now),
                                   (2**64 - 1, 1, 100, PURSE_KEY, clock.now)]
    delta = store.delta("loads", 1)
    assert delta is not None and [(i["card_number"], i["load_seq"]) for i in delta.added] == [(5000, 2),
                                                                                               (2**64 - 1, 1)]


@pytest.mark.parametrize(("card", "amount", "key"), [
    (5000, 0, PURSE_KEY), (5000, -5, PURSE_KEY), (5000, 2**40, PURSE_KEY), (5000, 100, PURSE_KEY[:5]),
    (-1, 100, PURSE_KEY), (2**64, 100, PURSE_KEY), (5000, 100, "a0a1a2a3a4a5"),
])
def test_a_load_out_of_range_is_refused(store: SyncStore, card: int, amount: int, key: bytes) -> None:
    with pytest.raises(InvalidValueError):
        store.add_load(card, amount, key)
    assert store.list_version("loads") == 0


def test_a_card_has_65535_load_numbers(store: SyncStore, engine: Engine) -> None:
    assert store.add_load(5000, 100, PURSE_KEY) == (1, 1)
    with engine.begin() as conn:
        conn.execute(update(CardLoadSequence).values(last_load_seq=65534))
    assert store.add_load(5000, 100, PURSE_KEY) == (65535, 2)
    with pytest.raises(LoadSequenceExhaustedError):
        store.add_load(5000, 100, PURSE_KEY)
    assert store.list_version("loads") == 2 and len(store.full_list("loads").added) == 2
    assert store.add_load(5001, 100, PURSE_KEY) == (1, 3)


# -- configuration ------------------------------------------------------------------------------------

def test_configuration_documents(store: SyncStore) -> None:
    assert store.put_config("fares", {"adult": 150}) == 1
    assert store.put_config("device", {"beep": True}) == 2
    assert store.put_config("fares", {"adult": 160}) == 3
    assert store.full_list("config").added == ({"name": "device", "document": {"beep": True}},
                                               {"name": "fares", "document": {"adult": 160}})
    delta = store.delta("config", 1)
    assert delta is not None and delta.removed == ()
    assert delta.added == ({"name": "device", "document": {"beep": True}},
                           {"name": "fares", "document": {"adult": 160}})


@pytest.mark.parametrize(("name", "document"), [
    ("", {}), ("x" * 65, {}), ("fares", [1, 2]), ("fares", {"a": float("inf")}), ("fares", {1: "a"}),
    ("fares", {"a": object()}),
])
def test_a_configuration_document_is_a_named_json_object(store: SyncStore, name: str, document: Any) -> None:
    with pytest.raises(InvalidValueError):
        store.put_config(name, document)
    assert store.list_version("config") == 0


# -- devices' versions --------------------------------------------------------------------------------

def test_list_lag_per_device(store: SyncStore) -> None:
    for device_id in (1201, 1202, 1203):
        store.register_device(device_id, DEVICE_KEY, mode="bus", operator=7, location=40)
    for number in range(3):
        store.block(card_number=number, reason="lost")
    store.put_config("fares", {"adult": 150})
    store.record_status(Status(device_id=1201, online=True, sent_at="", backlog=0, last_seq=0,
                               list_versions={"denylist": 1, "loads": 0, "config": 1}))
    store.record_status(Status(device_id=1202, online=True, sent_at="", backlog=0, last_seq=0,
                               list_versions={"denylist": 3, "fares": 7}))
    assert store.device_list_versions() == {1201: {"denylist": 1, "loads": 0, "config": 1},
                                            1202: {"denylist": 3, "fares": 7}}
    assert store.list_lag() == {1201: {"denylist": 2, "loads": 0, "config": 0}, 1202: {"denylist": 0}}


# -- the devices' own stores --------------------------------------------------------------------------

class FieldDevice:
    """The three list stores of a field device, fed with the server's updates as its agent would."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.denylist = DenyList(directory / "denylist.sqlite3")
        self.lists = ListStore(directory / "lists.sqlite3")
        self.config_version = 0

    def apply(self, update: ListUpdate) -> None:
        if update.list == "denylist":
            added = [items.deny_entry_from_item(item) for item in update.added]
            if update.full:
                self.denylist.apply_full(update.to_version, added)
            else:
                assert update.from_version is not None
                self.denylist.apply_delta(update.from_version, update.to_version, added,
                                          [items.deny_removal_from_item(item) for item in update.removed])
        elif update.list == "loads":
            loads = [items.load_from_item(item) for item in update.added]
            if update.full:
                self.lists.pending_loads.apply_full(update.to_version, loads)
            else:
                assert update.from_version is not None
                self.lists.pending_loads.apply_delta(update.from_version, update.to_version, loads,
                                                     [items.load_removal_from_item(i) for i in update.removed])
        else:
            for item in update.added:
                self.lists.config.put(*_config(item, update.to_version))
            self.config_version = update.to_version

    def version(self, name: str) -> int:
        return {"denylist": self.denylist.version, "loads": self.lists.pending_loads.version,
                "config": self.config_version}[name]

    def state(self) -> tuple[Any, ...]:
        cards = (5000, 5001, 6000, 2**64 - 1)
        return (
            len(self.denylist),
            tuple(self.denylist.is_denied(card, None) for card in cards),
            tuple(self.denylist.is_denied(None, uid) for uid in (UID4, UID7)),
            tuple((load.card_number, load.load_seq, load.amount_cents, load.purse_key_b, load.created_at)
                  for card in cards for load in self.lists.pending_loads.for_card(card)),
            tuple(sorted((name, self.lists.config.get(name)[1]) for name in self.lists.config.versions())),
        )

    def close(self) -> None:
        self.denylist.close()
        self.lists.close()


def _config(item: dict[str, Any], version: int) -> tuple[str, int, dict[str, Any]]:
    name, document = items.config_from_item(item)
    return name, version, document


def test_devices_at_any_version_catch_up_with_one_delta(store: SyncStore, clock: Clock, tmp_path: Path) -> None:
    changes: list[Callable[[], object]] = [
        lambda: store.block(card_number=5000, reason="lost"),
        lambda: store.add_load(5001, 2000, PURSE_KEY),
        lambda: store.put_config("fares", {"adult": 150}),
        lambda: store.block(card_number=6000, uid=UID4, reason="stolen"),
        lambda: store.add_load(5001, 500, PURSE_KEY),
        lambda: store.unblock(card_number=5000),
        lambda: store.put_config("device", {"beep": True}),
        lambda: store.block(uid=UID7, reason="cloned"),
        lambda: store.unblock(uid=UID4),
        lambda: store.put_config("fares", {"adult": 160}),
        lambda: store.add_load(2**64 - 1, 100, PURSE_KEY),
        lambda: store.block(card_number=5000, reason="found and lost again"),
    ]
    history: list[dict[str, ListUpdate]] = []  # the full lists after each change
    for change in changes:
        change()
        clock.advance(seconds=1)
        history.append({name: store.full_list(name) for name in ("denylist", "loads", "config")})
    reference = FieldDevice(tmp_path / "reference")
    for full in history[-1].values():
        reference.apply(full)
    for step, fulls in enumerate([{}, *history]):
        device = FieldDevice(tmp_path / f"device-{step}")
        for full in fulls.values():
            if full.to_version:  # a device holds nothing until the first version
                device.apply(full)
        for name in ("denylist", "loads", "config"):
            delta = store.delta(name, device.version(name))
            if delta is not None:
                assert not delta.full
                device.apply(delta)
            assert device.version(name) == store.list_version(name)
        assert device.state() == reference.state(), f"a device at step {step}"
        device.close()
    assert reference.state()[0] == 3  # card 5000, card 6000 and UID7
    reference.close()
