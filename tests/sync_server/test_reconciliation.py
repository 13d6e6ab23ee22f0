"""Reconciliation at ingest: card shadows and the three anomaly rules, each
firing, not firing on normal histories, and giving the same result whatever
the order and grouping in which the entries arrive. SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from device.protocol.messages import EntryRecord
from sync_server.store import SyncStore

from .builders import DEVICE_KEY, batch, entry, read, write
from .conftest import wipe

CARD = 7_000_000_001


@pytest.fixture
def devices(store: SyncStore) -> SyncStore:
    for device_id in (1, 2, 3):
        store.register_device(device_id, DEVICE_KEY, mode="bus", operator=7, location=40)
    return store


def flags(store: SyncStore) -> set[tuple[str, int, int]]:
    return {(anomaly.kind, anomaly.device_id, anomaly.seq) for anomaly in store.anomalies()}


# -- shadow -------------------------------------------------------------------------------------------

def test_the_shadow_follows_the_highest_counter(devices: SyncStore) -> None:
    devices.ingest([batch(1, write(1, CARD, 1, 850), write(2, CARD, 2, 700))])
    assert devices.shadow(CARD) == (2, 700)
    devices.ingest([batch(2, write(1, CARD, 5, 100), write(2, CARD, 3, 550))])  # 5 before 3 and 4
    assert devices.shadow(CARD) == (5, 100)
    devices.ingest([batch(3, read(1, CARD, 6, 100))])  # a read past the last write seen: the card holds it
    assert devices.shadow(CARD) == (6, 100)
    assert devices.shadow(CARD + 1) is None


def test_entries_that_did_not_complete_or_carry_no_balance_leave_the_shadow_alone(devices: SyncStore) -> None:
    devices.ingest([batch(1, write(1, CARD, 1, 850),
                          write(2, CARD, 2, 700, state="aborted"),
                          write(3, CARD, 3, 600, state="intent", rev=0),
                          entry(4, card=CARD, before=3, after=4, amount=-150, balance=None),
                          entry(5, card=None, decision="denied"))])
    assert devices.shadow(CARD) == (1, 850)
    assert flags(devices) == set()


def test_the_first_entry_at_a_counter_keeps_the_shadow(devices: SyncStore) -> None:
    devices.ingest([batch(1, write(1, CARD, 4, 300))])
    devices.ingest([batch(2, read(1, CARD, 4, 999))])
    assert devices.shadow(CARD) == (4, 300)


# -- repeated_counter ---------------------------------------------------------------------------------

def test_two_writes_to_one_counter_flag_both(devices: SyncStore) -> None:
    devices.ingest([batch(1, write(1, CARD, 1, 850), write(2, CARD, 2, 700))])
    result = devices.ingest([batch(2, write(9, CARD, 2, 700))])  # a clone, tapped on another bus
    assert result.anomalies == 2
    assert flags(devices) == {("repeated_counter", 1, 2), ("repeated_counter", 2, 9)}
    anomaly = next(a for a in devices.anomalies() if a.device_id == 2)
    assert anomaly.card_number == CARD and "device 1 seq 2" in anomaly.detail


def test_a_read_at_a_written_counter_is_normal(devices: SyncStore) -> None:
    devices.ingest([batch(1, write(1, CARD, 3, 500), read(2, CARD, 3, 500)), batch(2, read(1, CARD, 3, 500))])
    assert flags(devices) == set()


def test_redelivery_flags_nothing_twice(devices: SyncStore) -> None:
    clash = [batch(1, write(1, CARD, 2, 700)), batch(2, write(1, CARD, 2, 700))]
    assert devices.ingest(clash).anomalies == 2
    assert devices.ingest(clash).anomalies == 0
    assert devices.ingest(clash[::-1]).anomalies == 0
    assert len(devices.anomalies()) == 2


def test_an_intent_is_compared_when_it_completes(devices: SyncStore) -> None:
    devices.ingest([batch(1, write(1, CARD, 2, 700)),
                    batch(2, write(1, CARD, 2, 700, state="intent", rev=0))])
    assert flags(devices) == set()
    devices.ingest([batch(2, write(1, CARD, 2, 700, rev=1))])
    assert flags(devices) == {("repeated_counter", 1, 1), ("repeated_counter", 2, 1)}


# -- counter_back -------------------------------------------------------------------------------------

def test_a_device_seeing_the_counter_go_back_flags_the_later_entry(devices: SyncStore) -> None:
    result = devices.ingest([batch(1, write(1, CARD, 7, 300), write(2, CARD, 8, 150), write(3, CARD, 4, 900))])
    assert result.anomalies == 1
    assert flags(devices) == {("counter_back", 1, 3)}
    assert devices.anomalies()[0].detail.startswith("counter 4 after counter ")


def test_counter_back_found_when_the_earlier_entry_arrives_last(devices: SyncStore) -> None:
    devices.ingest([batch(1, write(5, CARD, 4, 900))])
    devices.ingest([batch(1, write(6, CARD, 5, 750))])
    assert flags(devices) == set()
    devices.ingest([batch(1, write(2, CARD, 8, 150))])  # seq 2 arrives after seqs 5 and 6
    assert flags(devices) == {("counter_back", 1, 5), ("counter_back", 1, 6)}


def test_counter_back_across_a_read(devices: SyncStore) -> None:
    devices.ingest([batch(1, read(1, CARD, 9, 300), write(2, CARD, 3, 900))])
    assert flags(devices) == {("counter_back", 1, 2)}


def test_different_devices_are_not_ordered_by_sequence(devices: SyncStore) -> None:
    devices.ingest([batch(1, write(50, CARD, 8, 150)), batch(2, write(1, CARD, 4, 900))])
    assert flags(devices) == set()


# -- balance_above_shadow ----------------------------------------------------------------------------

def test_a_balance_no_write_explains_is_flagged(devices: SyncStore) -> None:
    devices.ingest([batch(1, write(1, CARD, 1, 850), write(2, CARD, 2, 700))])
    result = devices.ingest([batch(2, write(1, CARD, 3, 5000, amount=-150))])
    assert result.anomalies == 1
    assert flags(devices) == {("balance_above_shadow", 2, 1)}
    assert "balance 5000 at counter 3, but counter 2 left 700" in devices.anomalies()[0].detail


def test_charges_and_loads_that_add_up_are_not_flagged(devices: SyncStore) -> None:
    devices.ingest([batch(1, write(1, CARD, 1, 850), write(2, CARD, 2, 700), write(3, CARD, 3, 2700, amount=2000),
                          write(4, CARD, 4, 2700, amount=0), write(5, CARD, 5, 2550))])
    assert flags(devices) == set()


def test_balance_checked_when_the_earlier_counter_arrives_later(devices: SyncStore) -> None:
    devices.ingest([batch(2, write(1, CARD, 3, 5000))])
    assert flags(devices) == set()  # nothing to compare with yet: a gap is no anomaly
    devices.ingest([batch(1, write(1, CARD, 2, 700))])
    assert flags(devices) == {("balance_above_shadow", 2, 1)}


def test_a_gap_is_no_anomaly(devices: SyncStore) -> None:
    devices.ingest([batch(1, write(1, CARD, 1, 850)), batch(2, write(1, CARD, 9, 5000))])
    assert flags(devices) == set()


def test_a_read_may_show_a_load_not_arrived_yet(devices: SyncStore) -> None:
    devices.ingest([batch(1, write(1, CARD, 4, 100))])
    devices.ingest([batch(2, read(1, CARD, 5, 2100))])  # the kiosk's load (counter 5) comes later
    devices.ingest([batch(3, write(1, CARD, 5, 2100, amount=2000))])
    assert flags(devices) == set()


# -- any order ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Final:
    device_id: int
    seq: int
    card: int
    write: bool
    counter: int
    amount: int
    balance: int
    done: bool


def expected_flags(finals: list[Final]) -> set[tuple[str, int, int]]:
    """The rules of sync_server.store's docstring, by brute force over every pair."""
    found: set[tuple[str, int, int]] = set()
    entries = [f for f in finals if f.done]
    for a in entries:
        for b in entries:
            if a is b or a.card != b.card:
                continue
            if a.counter == b.counter and a.write and b.write:
                found.add(("repeated_counter", a.device_id, a.seq))
            if b.counter == a.counter + 1 and b.write and b.balance > a.balance + b.amount:
                found.add(("balance_above_shadow", b.device_id, b.seq))
            if a.device_id == b.device_id and a.seq < b.seq and b.counter < a.counter:
                found.add(("counter_back", b.device_id, b.seq))
    return found


@st.composite
def histories(draw: st.DrawFn) -> list[Final]:
    finals = []
    for device_id in (1, 2):
        for seq in range(1, draw(st.integers(0, 6)) + 1):
            finals.append(Final(device_id, seq, draw(st.sampled_from([CARD, 2**64 - 1])), draw(st.booleans()),
                                draw(st.integers(1, 5)), draw(st.sampled_from([-150, 0, 500])),
                                draw(st.sampled_from([0, 100, 250, 600])), draw(st.booleans())))
    return finals


def _record(final: Final, rev: int) -> EntryRecord:
    state = "intent" if rev == 0 else "done" if final.done else "aborted"
    before = final.counter - 1 if final.write else None
    return entry(final.seq, rev=rev, state=state, card=final.card, before=before, after=final.counter,
                 amount=final.amount, balance=final.balance)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
@given(finals=histories(), data=st.data())
def test_the_anomalies_found_do_not_depend_on_the_order_of_arrival(
        devices: SyncStore, engine: Engine, finals: list[Final], data: st.DataObject) -> None:
    wipe(engine)
    for device_id in (1, 2):
        devices.register_device(device_id, DEVICE_KEY, mode="bus", operator=7, location=40)
    sent = [(final, 1) for final in finals]
    sent += [(final, 0) for final in finals if data.draw(st.booleans())]  # published first as an open intent
    sent += data.draw(st.lists(st.sampled_from(sent), max_size=5)) if sent else []  # redeliveries
    sent = data.draw(st.permutations(sent))
    position = 0
    while position < len(sent):
        size = data.draw(st.integers(1, 6))
        batches = [batch(final.device_id, _record(final, rev)) for final, rev in sent[position:position + size]]
        devices.ingest(batches)
        position += size
    expected = expected_flags(finals)
    event("anomalies expected" if expected else "no anomaly expected")
    assert flags(devices) == expected
    for card in (CARD, 2**64 - 1):
        counted = [f for f in finals if f.done and f.card == card]
        shadow = devices.shadow(card)
        if not counted:
            assert shadow is None
        else:
            top = max(f.counter for f in counted)
            assert shadow is not None and shadow[0] == top
            assert shadow[1] in {f.balance for f in counted if f.counter == top}
