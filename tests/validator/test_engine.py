"""The tap engine end to end on a simulated reader, with the real journal,
deny-list and list store: every outcome, journaled."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from card_layout.access import KeyType
from card_layout.layout import PURSE_SECTOR
from card_layout.operations.state import read_card
from card_layout.records.contracts import Contract, ContractKind
from card_layout.records.identity import CardKind
from device.denylist import DenyEntry, DenyList
from device.journal import EntryState, Journal
from device.lists import ListStore, PendingLoad
from hardware.sim.card import SimulatedCard
from hardware.sim.field import SimField
from hardware.sim.reader import SimReader
from tests.factories import UID, issued_card, masters
from validator.bike import BikePolicy
from validator.bus import BusPolicy
from validator.devices import SimDock
from validator.engine import TapEngine
from validator.fares import DEFAULT_FARES, FareTable
from validator.outcome import Decision, Reason

from .cards import MADRID, local

KEYS = masters()
FARES = FareTable.from_mapping(DEFAULT_FARES)
T0 = local(2026, 11, 21, 8, 0)


@dataclass
class Rig:
    field: SimField
    reader: SimReader
    engine: TapEngine
    journal: Journal
    denylist: DenyList
    lists: ListStore
    data_dir: Path

    def tap(self, at: dt.datetime = T0):
        return self.engine.tap(card_timeout=0.05, at=at)

    def balance(self, card: SimulatedCard) -> int:
        return read_card(SimReader(card), KEYS).balance_cents


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    field = SimField()
    reader = SimReader(field=field)
    journal = Journal(tmp_path / "journal.sqlite3", 7001)
    denylist = DenyList(tmp_path / "denylist.sqlite3")
    lists = ListStore(tmp_path / "lists.sqlite3")
    engine = TapEngine(reader, KEYS.validator_subset(), BusPolicy(FARES.bus), journal, denylist,
                       lists.pending_loads, 7001, 1, 12, MADRID)
    yield Rig(field, reader, engine, journal, denylist, lists, tmp_path)
    journal.close()
    denylist.close()
    lists.close()


def test_an_approved_tap_is_charged_and_journaled(rig: Rig) -> None:
    card = rig.field.place(issued_card(1000))
    result = rig.tap()
    assert (result.decision, result.reason, result.amount_cents, result.balance_cents) == \
        (Decision.APPROVED, Reason.APPROVED, 150, 850)
    entry = rig.journal.entry(result.journal_seq)
    assert (entry.state, entry.amount_cents, entry.counter_before, entry.counter_after) == (EntryState.DONE, -150, 0, 1)
    assert rig.balance(card) == 850


def test_a_second_tap_is_already_validated_and_still_journaled(rig: Rig) -> None:
    card = rig.field.place(issued_card(1000))
    rig.tap()
    again = rig.tap(T0 + dt.timedelta(seconds=20))
    assert (again.decision, again.amount_cents, again.balance_cents) == (Decision.ALREADY_VALIDATED, 0, 850)
    assert rig.journal.entry(again.journal_seq).reason == "already_validated"
    assert rig.balance(card) == 850


def test_a_blocked_card_is_refused_by_card_number_or_uid(rig: Rig) -> None:
    card = rig.field.place(issued_card(1000))
    rig.denylist.apply_full(1, [DenyEntry(card_number=None, uid=UID, reason="lost")])
    result = rig.tap()
    assert (result.decision, result.reason, result.details["block_reason"]) == (Decision.DENIED, Reason.BLOCKED, "lost")
    assert rig.balance(card) == 1000
    assert card.log[-1].command == "read_block"  # nothing written


def test_the_deny_list_is_taken_up_again_while_no_card_comes(rig: Rig) -> None:
    """Idle, the engine reloads a list the agent's process changed, so the
    next rider does not wait for it."""
    with DenyList(rig.data_dir / "denylist.sqlite3") as agents:
        agents.apply_full(1, [DenyEntry(card_number=None, uid=UID, reason="lost")])
    assert rig.denylist.version == 0
    assert rig.tap().reason is Reason.NO_CARD
    assert rig.denylist.version == 1
    rig.field.place(issued_card(1000))
    assert rig.tap().details["block_reason"] == "lost"


def test_a_deny_list_that_cannot_be_read_again_is_logged_and_the_list_held_stays(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.denylist.apply_full(1, [DenyEntry(card_number=None, uid=UID, reason="lost")])
    with DenyList(rig.data_dir / "denylist.sqlite3") as agents:
        agents.apply_delta(1, 2, [DenyEntry(card_number=1, uid=None, reason="stolen")], [])
    with sqlite3.connect(rig.data_dir / "denylist.sqlite3") as conn:
        conn.execute("UPDATE base SET crc = crc + 1 WHERE space = 1")
    rig.field.place(issued_card(1000))
    with caplog.at_level(logging.ERROR, logger="validator.engine"):
        result = rig.tap()
    assert result.details["block_reason"] == "lost"
    assert rig.denylist.version == 1
    assert "the deny-list could not be read again" in caplog.text
    assert any(record.exc_info for record in caplog.records)  # with its traceback


def test_expired_and_wrong_kind(rig: Rig) -> None:
    rig.field.place(issued_card(1000, expires=dt.date(2026, 11, 20), issued=dt.date(2021, 11, 20)))
    assert rig.tap().reason is Reason.EXPIRED
    rig.field.take()
    rig.field.place(issued_card(1000, expires=dt.date(2026, 11, 21), uid=bytes.fromhex("0A0B0C0D")))
    assert rig.tap().reason is Reason.APPROVED  # valid on its expiry day
    bike = TapEngine(rig.reader, KEYS.validator_subset(), BikePolicy(FARES.bike, SimDock(5)), rig.journal,
                     rig.denylist, None, 7001, 1, 12, MADRID)
    rig.field.take()
    rig.field.place(issued_card(1000, kind=CardKind.COMPANY, uid=bytes.fromhex("0C0C0C0C")))
    assert bike.tap(card_timeout=0.05, at=T0).reason is Reason.WRONG_KIND


def test_a_tampered_card_is_refused_and_journaled(rig: Rig) -> None:
    image = bytearray(issued_card(1000).image())
    image[4 * 16 + 3] ^= 0x40  # identity, card number
    rig.field.place(SimulatedCard(bytes(image)))
    result = rig.tap()
    assert (result.decision, result.reason) == (Decision.DENIED, Reason.INTEGRITY_FAILURE)
    assert "MAC" in rig.journal.entry(result.journal_seq).details["error"]


def test_no_card_and_two_cards(rig: Rig) -> None:
    assert rig.tap().reason is Reason.NO_CARD
    rig.field.place(issued_card(1000))
    rig.field.place(issued_card(1000, uid=bytes.fromhex("0A0B0C0D")))
    assert rig.tap().reason is Reason.MULTIPLE_CARDS


@pytest.mark.parametrize("tear_after", range(14, 22))
def test_a_torn_tap_is_resolved_by_the_next_and_charged_once(rig: Rig, tear_after: int) -> None:
    card = rig.field.place(issued_card(1000))
    card.reset_tear(tear_after)
    torn = rig.tap()
    assert (torn.decision, torn.reason) == (Decision.DENIED, Reason.TORN_RETRY)
    intents = rig.journal.unresolved()
    assert len(intents) == 1 and intents[0].amount_cents == -150
    rig.field.place(card)
    again = rig.tap(T0 + dt.timedelta(seconds=5))
    assert again.may_go
    assert rig.journal.unresolved() == []
    resolved = rig.journal.entry(intents[0].seq)
    charged = [e for e in (resolved, rig.journal.entry(again.journal_seq)) if e.state is EntryState.DONE
               and e.amount_cents]
    assert len(charged) == 1                     # one charge, either the torn tap's or the retry's
    assert rig.balance(card) == 850


def test_a_pending_top_up_is_collected_once(rig: Rig) -> None:
    card = rig.field.place(issued_card(100))
    key = KEYS.for_card(UID).sector_key(PURSE_SECTOR, KeyType.B)
    number = read_card(SimReader(card), KEYS).identity.card_number
    rig.lists.pending_loads.apply_full(1, [PendingLoad(number, 1, 2000, key, T0), PendingLoad(number, 2, 500, key, T0)])
    result = rig.tap()
    assert (result.amount_cents, result.balance_cents) == (150, 2450)
    assert read_card(SimReader(card), KEYS).record.load_seq == 2
    assert rig.lists.pending_loads.for_card(number, 0) == []
    rig.lists.pending_loads.apply_full(2, [PendingLoad(number, 2, 500, key, T0)])  # the server sends it again
    assert rig.tap(T0 + dt.timedelta(hours=1)).balance_cents == 2300                 # not applied twice
    loads = [e for e in rig.journal.unacked() if e.kind == "load"]
    assert [(e.amount_cents, e.state) for e in loads] == [(2500, EntryState.DONE)]


def test_a_full_journal_denies_without_touching_the_card(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    from device.errors import JournalFullError

    card = rig.field.place(issued_card(1000))

    def full(**_: object) -> int:
        raise JournalFullError("database or disk is full")

    monkeypatch.setattr(rig.journal, "begin", full)
    result = rig.tap()
    assert (result.decision, result.reason) == (Decision.DENIED, Reason.JOURNAL_FULL)
    assert rig.balance(card) == 1000


def test_a_bike_lock_failure_is_undone_on_the_card(rig: Rig) -> None:
    dock = SimDock(5)
    dock.fail_release = True
    engine = TapEngine(rig.reader, KEYS.validator_subset(), BikePolicy(FARES.bike, dock), rig.journal, rig.denylist,
                       None, 7001, 1, 12, MADRID)
    card = rig.field.place(issued_card(1000, contracts=(Contract(ContractKind.BIKE, dt.date(2026, 1, 1),
                                                                 dt.date(2026, 12, 31)),)))
    result = engine.tap(card_timeout=0.05, at=T0)
    assert (result.decision, result.reason) == (Decision.DENIED, Reason.DEVICE_FAULT)
    state = read_card(SimReader(card), KEYS)
    assert not state.record.session_open and state.balance_cents == 1000
    kinds = [e.kind for e in rig.journal.unacked()]
    assert kinds == ["bike_start", "bike_start_failed"]
