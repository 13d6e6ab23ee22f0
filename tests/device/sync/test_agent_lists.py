"""Lists coming down to the agent through a real Mosquitto: signed deltas
are applied, replays ignored, a delta from a version not held makes the
device ask for the full list (unless a delta applied meanwhile overtook it:
then the device reports its version again), forged lists change nothing,
the status reports the versions held, and a validator running beside the
agent follows the lists it applies, tap by tap."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from device.config import load_config
from device.denylist import DENYLIST_FILENAME, DenyEntry, DenyList
from device.lists import LISTS_FILENAME, ListStore, PendingLoad
from device.protocol.items import (
    config_to_item,
    deny_entry_to_item,
    deny_removal_to_item,
    load_removal_to_item,
    load_to_item,
)
from device.protocol.signing import generate
from tests.factories import identity, validator_files
from tests.mqtt import StandInServer, list_update, wait_for
from validator.app import open_validator
from validator.fares import DEFAULT_FARES
from validator.outcome import Reason, TapResult

from .conftest import DEVICE, running

LOST = DenyEntry(6033000000000001, None, "lost")
STOLEN = DenyEntry(None, bytes.fromhex("0a0b0c0d"), "stolen")
FRAUD = DenyEntry(6033000000000003, bytes.fromhex("01020304050607"), "fraud")
T0 = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC)


def deny_list(device) -> DenyList:
    return DenyList(device.data_dir / DENYLIST_FILENAME)


def denied(device) -> dict[str, str | None]:
    with deny_list(device) as held:
        return {"lost": held.is_denied(LOST.card_number, None), "stolen": held.is_denied(None, STOLEN.uid),
                "fraud": held.is_denied(FRAUD.card_number, None), "version": str(held.version)}


def subscribed(server: StandInServer) -> bool:
    """Whether the agent's subscriptions are in place: its online status
    reached the server, and it sent its SUBSCRIBE before that status on the
    same connection. (Its ``connected`` event comes before the broker's
    SUBACK: a list published at once could reach the broker first and miss it.)"""
    return wait_for(lambda: server.last_status(DEVICE, online=True) is not None)


def versions_reported(server: StandInServer) -> dict[str, int] | None:
    status = server.last_status(DEVICE, online=True)
    return None if status is None else status.list_versions


def test_a_signed_delta_is_applied_and_reported(device, server: StandInServer) -> None:
    with running(device) as agent:
        assert subscribed(server)
        server.publish_list(list_update("denylist", 1, added=[deny_entry_to_item(LOST)]), device_id=DEVICE)
        assert wait_for(lambda: versions_reported(server) == {"denylist": 1, "loads": 0, "config": 0})
        server.publish_list(list_update("denylist", 2, from_version=1, added=[deny_entry_to_item(STOLEN)]))
        assert wait_for(lambda: versions_reported(server) == {"denylist": 2, "loads": 0, "config": 0})
        assert denied(device) == {"lost": "lost", "stolen": "stolen", "fraud": None, "version": "2"}
        server.publish_list(list_update("denylist", 3, from_version=2, added=[deny_entry_to_item(FRAUD)],
                                        removed=[deny_removal_to_item(LOST.card_number, None)]))
        assert wait_for(lambda: agent.counters.lists_applied == 3)
        assert denied(device) == {"lost": None, "stolen": "stolen", "fraud": "fraud", "version": "3"}
        assert agent.counters.rejected_total == 0


def test_a_replayed_delta_is_ignored(device, server: StandInServer) -> None:
    with running(device) as agent:
        assert subscribed(server)
        server.publish_list(list_update("denylist", 1, added=[deny_entry_to_item(LOST)]))  # a full broadcast
        delta = list_update("denylist", 2, from_version=1, added=[deny_entry_to_item(STOLEN)])
        server.publish_list(delta)
        assert wait_for(lambda: agent.counters.lists_applied == 2)
        server.publish_list(delta)  # again, e.g. from a second ingest worker
        server.publish_list(list_update("denylist", 1, added=[]))  # an old full list: would empty the list
        assert wait_for(lambda: agent.counters.lists_stale == 2)
        assert agent.counters.list_requests == 0 and agent.counters.lists_applied == 2
        assert denied(device)["version"] == "2" and denied(device)["lost"] == "lost"


def test_a_delta_from_a_version_not_held_asks_for_the_full_list(device, server: StandInServer) -> None:
    with running(device) as agent:
        assert subscribed(server)
        server.publish_list(list_update("denylist", 5, from_version=4, added=[deny_entry_to_item(FRAUD)]))
        server.publish_list(list_update("denylist", 6, from_version=5, added=[deny_entry_to_item(STOLEN)]))
        assert wait_for(lambda: agent.counters.list_conflicts == 2 and len(server.list_requests) == 1)
        [request] = server.list_requests
        assert (request.device_id, request.list, request.held_version) == (DEVICE, "denylist", 0)
        assert agent.counters.list_requests == 1  # one request in flight is enough
        assert denied(device)["version"] == "0"
        # the server answers with the full list on the device's own topic: it replaces what is held
        server.publish_list(list_update("denylist", 6, added=[deny_entry_to_item(FRAUD), deny_entry_to_item(STOLEN)],
                                        device_id=DEVICE), device_id=DEVICE)
        assert wait_for(lambda: versions_reported(server) == {"denylist": 6, "loads": 0, "config": 0})
        assert denied(device) == {"lost": None, "stolen": "stolen", "fraud": "fraud", "version": "6"}


def test_a_delta_overtaken_by_one_applied_meanwhile_needs_no_full_list(device, server: StandInServer) -> None:
    """A catch-up delta computed from the device's status at version 1 comes
    after a broadcast delta took it to 2 (the device came back and both were
    on their way): the device lacks nothing a delta from 2 cannot bring, so it
    reports version 2 again instead of asking for the whole list."""
    with running(device) as agent:
        assert subscribed(server)
        server.publish_list(list_update("denylist", 1, added=[deny_entry_to_item(LOST)]))
        server.publish_list(list_update("denylist", 2, from_version=1, added=[deny_entry_to_item(STOLEN)]))
        assert wait_for(lambda: versions_reported(server) == {"denylist": 2, "loads": 0, "config": 0})
        reports_of_2 = sum(status.list_versions["denylist"] == 2 for status in server.statuses)
        server.publish_list(list_update("denylist", 3, from_version=1, device_id=DEVICE,
                                        added=[deny_entry_to_item(STOLEN), deny_entry_to_item(FRAUD)]),
                            device_id=DEVICE)
        assert wait_for(lambda: agent.counters.lists_overtaken == 1)
        assert wait_for(lambda: sum(status.list_versions["denylist"] == 2 for status in server.statuses)
                        > reports_of_2)  # the status again, which the server answers with a delta from 2
        assert agent.counters.list_requests == 0 and server.list_requests == []
        assert denied(device)["version"] == "2"
        server.publish_list(list_update("denylist", 3, from_version=2, device_id=DEVICE,
                                        added=[deny_entry_to_item(FRAUD)]), device_id=DEVICE)
        assert wait_for(lambda: versions_reported(server) == {"denylist": 3, "loads": 0, "config": 0})
        assert denied(device) == {"lost": "lost", "stolen": "stolen", "fraud": "fraud", "version": "3"}
        assert agent.counters.list_conflicts == 0 and agent.counters.list_requests == 0


def test_forged_or_misdirected_lists_change_nothing(device, server: StandInServer) -> None:
    with running(device) as agent:
        assert subscribed(server)
        server.publish_list(list_update("denylist", 1, added=[deny_entry_to_item(LOST)]), key=generate())
        server.publish_list(list_update("denylist", 1, added=[deny_entry_to_item(LOST)], device_id=1202))
        server.publish_list(list_update("denylist", 1, added=[deny_entry_to_item(LOST)]), device_id=DEVICE)
        wrong_topic = server.sign(list_update("loads", 1))
        server.publish("cc/v1/lists/denylist", wrong_topic)  # a loads list on the deny-list's topic
        server.publish_list(list_update("denylist", 1, added=[{"card_number": "x", "uid": None, "reason": "r"}]))
        assert wait_for(lambda: agent.counters.rejected_total == 4)
        assert agent.counters.rejected == {"SignatureError": 1, "wrong_device": 1, "wrong_topic": 1, "bad_item": 1}
        # the one genuine list was applied; nothing else was
        assert agent.counters.lists_applied == 1 and denied(device)["version"] == "1"


def test_loads_and_config_lists(device, server: StandInServer) -> None:
    first = PendingLoad(6033000000000001, 1, 1000, bytes(range(6)), T0)
    second = PendingLoad(6033000000000001, 2, 500, bytes(range(6)), T0)
    with running(device) as agent:
        assert subscribed(server)
        server.publish_list(list_update("loads", 1, added=[load_to_item(first)]), device_id=DEVICE)
        server.publish_list(list_update("loads", 2, from_version=1, added=[load_to_item(second)],
                                        removed=[load_removal_to_item(first.card_number, first.load_seq)]))
        server.publish_list(list_update("config", 1, from_version=0,
                                        added=[config_to_item("device", {"tap": {"card_timeout": 4.0}})]))
        assert wait_for(lambda: versions_reported(server) == {"denylist": 0, "loads": 2, "config": 1})
        assert agent.counters.lists_applied == 3
    with ListStore(device.data_dir / LISTS_FILENAME) as lists:
        assert lists.pending_loads.for_card(first.card_number) == [second]
        assert lists.config.get("device") == (1, {"tap": {"card_timeout": 4.0}})


def test_a_running_validator_follows_the_lists_the_agent_applies(device, server: StandInServer) -> None:
    """The validator of the same data directory, open before the agent and
    running throughout: a card the server blocks is refused at its next tap
    and accepted again once unblocked; a fare table the server sends is
    charged from the next tap."""
    validator_files(device.config.parent, 10_000)
    card = identity().card_number
    config = replace(load_config(device.config, environ={}), fares=DEFAULT_FARES)
    days = iter(range(100))

    def tap() -> TapResult:  # a day apart: a new journey every time
        return app.engine.tap(card_timeout=0.05, at=T0 + dt.timedelta(days=next(days)))

    with open_validator(config, feedback=False) as app, running(device) as agent:
        assert subscribed(server)
        assert tap().reason is Reason.APPROVED
        server.publish_list(list_update("denylist", 1, added=[deny_entry_to_item(DenyEntry(card, None, "stolen"))]),
                            device_id=DEVICE)
        assert wait_for(lambda: agent.counters.lists_applied == 1)
        blocked = tap()
        assert (blocked.reason, blocked.details["block_reason"]) == (Reason.BLOCKED, "stolen")
        server.publish_list(list_update("denylist", 2, from_version=1, removed=[deny_removal_to_item(card, None)]))
        fares = {**DEFAULT_FARES, "version": 2, "bus": {**DEFAULT_FARES["bus"], "fare": {"general": 175}}}
        server.publish_list(list_update("config", 2, from_version=0, added=[config_to_item("fares", fares)]))
        assert wait_for(lambda: agent.counters.lists_applied == 3)
        again = tap()
        assert (again.reason, again.amount_cents) == (Reason.APPROVED, 175)
