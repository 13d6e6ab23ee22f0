"""The reconciliation policy: the cards of open anomalies of the kinds it
names are blocked (deny-list and registry, audited), once; integrity failures
are counted per UID; reviews close anomalies. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from device.protocol import items
from sync_server.audit import Actor
from sync_server.db.models import AuditEntry, Card, CardEvent
from sync_server.errors import InvalidValueError, NotFoundError, StateConflictError
from sync_server.reconciliation import BLOCK_REASON, Policy, Reconciliation
from sync_server.store import IngestResult, SyncStore

from .builders import DEVICE_KEY, batch, entry, write
from .conftest import START

CARD = 7_000_000_001
UID = bytes.fromhex("04a1b2c3")
FORGED_UID = "0badcafe"
STAFF = Actor("officer", "card_office")


@pytest.fixture
def devices(store: SyncStore) -> SyncStore:
    for device_id in (1, 2):
        store.register_device(device_id, DEVICE_KEY, mode="bus", operator=7, location=40)
    return store


def _register(engine: Engine, card_number: int = CARD, uid: bytes = UID, state: str = "active") -> None:
    with engine.begin() as conn:
        conn.execute(Card.__table__.insert().values(
            card_number=card_number, uid=uid, holder_id=None, kind="citizen", profile="general", state=state,
            state_changed_at=START, issued_at=START, expires_on=START.date().replace(year=2031),
            initial_balance_cents=1000))


def _clone_taps(store: SyncStore) -> IngestResult:
    """Two writes of one counter on two buses: a clone (repeated_counter on both entries)."""
    result = store.ingest([batch(1, write(1, CARD, 1, 850)), batch(2, write(1, CARD, 1, 850))])
    assert result.anomalies == 2
    return result


def _denied(store: SyncStore) -> dict[tuple[int | None, str | None], str]:
    entries = [items.deny_entry_from_item(item) for item in store.full_list("denylist").added]
    return {(e.card_number, None if e.uid is None else e.uid.hex()): e.reason for e in entries}


def _state(engine: Engine, card_number: int = CARD) -> str:
    with engine.connect() as conn:
        return conn.scalar(select(Card.__table__.c.state).where(Card.__table__.c.card_number == card_number))


def test_an_anomaly_of_a_policy_kind_blocks_the_registered_card_by_number_and_uid(devices: SyncStore,
                                                                                engine: Engine) -> None:
    _register(engine)
    reconciliation = Reconciliation(devices)
    assert reconciliation.after_ingest(_clone_taps(devices)) == 1
    assert _denied(devices) == {(CARD, None): BLOCK_REASON, (None, UID.hex()): BLOCK_REASON}
    assert _state(engine) == "blocked"
    with engine.connect() as conn:
        [event] = conn.execute(select(CardEvent.__table__)).all()
        [audit] = conn.execute(select(AuditEntry.__table__)).all()
    assert (event.from_state, event.to_state, event.actor) == ("active", "blocked", "system:reconciliation")
    assert (audit.actor, audit.action, audit.target) == ("system:reconciliation", "card.auto_block", f"card:{CARD}")
    version = devices.list_version("denylist")
    assert reconciliation.enforce() == 0  # done once: nothing more
    assert devices.list_version("denylist") == version


def test_a_card_the_registry_does_not_hold_is_blocked_by_number(devices: SyncStore) -> None:
    assert Reconciliation(devices).after_ingest(_clone_taps(devices)) == 1
    assert _denied(devices) == {(CARD, None): BLOCK_REASON}


def test_a_policy_without_the_kind_blocks_nothing(devices: SyncStore, engine: Engine) -> None:
    _register(engine)
    _clone_taps(devices)
    for policy in (Policy(auto_block=frozenset()), Policy(auto_block=frozenset({"balance_above_shadow"}))):
        assert Reconciliation(devices, policy).enforce() == 0
    assert _denied(devices) == {}
    assert _state(engine) == "active"
    assert {a.kind for a in devices.anomalies()} == {"repeated_counter"}


def test_a_card_already_denied_is_not_blocked_again(devices: SyncStore, engine: Engine) -> None:
    _register(engine, state="blocked")
    devices.block(card_number=CARD, uid=UID, reason="stolen")
    version = devices.list_version("denylist")
    assert Reconciliation(devices).after_ingest(_clone_taps(devices)) == 0
    assert devices.list_version("denylist") == version
    assert _denied(devices)[(CARD, None)] == "stolen"


def _integrity_denials(store: SyncStore, count: int, uid: str = FORGED_UID, first_seq: int = 1) -> IngestResult:
    for seq in range(first_seq, first_seq + count):
        result = store.ingest([batch(1, entry(seq, uid=uid, card=None, decision="denied",
                                              reason="integrity_failure"))])
        assert result.integrity_uids == {bytes.fromhex(uid)}
    return result


def test_repeated_integrity_failures_flag_the_uid_once_and_block_it(devices: SyncStore) -> None:
    reconciliation = Reconciliation(devices, Policy(integrity_failures=3))
    assert reconciliation.after_ingest(_integrity_denials(devices, 2)) == 0
    assert devices.anomalies() == []
    assert reconciliation.after_ingest(_integrity_denials(devices, 1, first_seq=3)) == 1
    [anomaly] = reconciliation.anomalies()
    assert (anomaly.kind, anomaly.card_number, anomaly.uid, anomaly.device_id, anomaly.seq) == \
        ("integrity_failures", None, bytes.fromhex(FORGED_UID), 1, 3)
    assert _denied(devices) == {(None, FORGED_UID): BLOCK_REASON}
    assert reconciliation.after_ingest(_integrity_denials(devices, 2, first_seq=4)) == 0
    assert len(reconciliation.anomalies()) == 1


def test_integrity_failures_of_a_registered_uid_name_its_card(devices: SyncStore, engine: Engine) -> None:
    _register(engine, uid=bytes.fromhex(FORGED_UID))
    reconciliation = Reconciliation(devices, Policy(integrity_failures=1))
    assert reconciliation.after_ingest(_integrity_denials(devices, 1)) == 1
    assert reconciliation.anomalies()[0].card_number == CARD
    assert _state(engine) == "blocked"


def test_an_unblocked_card_with_an_open_anomaly_is_blocked_again_a_dismissed_one_is_not(devices: SyncStore) -> None:
    reconciliation = Reconciliation(devices)
    reconciliation.after_ingest(_clone_taps(devices))
    devices.unblock(card_number=CARD)
    assert reconciliation.enforce() == 1
    for anomaly in reconciliation.anomalies(status="open"):
        reconciliation.review(anomaly.id, "dismissed", "a bus replayed its journal after a repair", STAFF)
    devices.unblock(card_number=CARD)
    assert reconciliation.enforce() == 0
    assert _denied(devices) == {}


def test_a_review_closes_an_open_anomaly_once(devices: SyncStore, engine: Engine) -> None:
    reconciliation = Reconciliation(devices, Policy(auto_block=frozenset()))
    _clone_taps(devices)
    first, second = reconciliation.anomalies()
    reviewed = reconciliation.review(first.id, "confirmed", "  cloned card seized  ", STAFF)
    assert (reviewed.status, reviewed.reviewed_by, reviewed.review_note) == ("confirmed", "officer",
                                                                             "cloned card seized")
    assert reviewed.reviewed_at == START
    with pytest.raises(StateConflictError, match="confirmed by officer"):
        reconciliation.review(first.id, "dismissed", "again", STAFF)
    with pytest.raises(NotFoundError):
        reconciliation.review(second.id + 100, "confirmed", "x", STAFF)
    for outcome, note in (("open", "x"), ("confirmed", ""), ("confirmed", " "), ("confirmed", "x" * 1001)):
        with pytest.raises(InvalidValueError):
            reconciliation.review(second.id, outcome, note, STAFF)
    assert [a.id for a in reconciliation.anomalies(status="open")] == [second.id]
    assert [a.id for a in reconciliation.anomalies(status="confirmed")] == [first.id]
    assert [a.id for a in reconciliation.anomalies(card_number=CARD, after_id=first.id)] == [second.id]
    with engine.connect() as conn:
        [audit] = conn.execute(select(AuditEntry.__table__)).all()
    assert (audit.actor, audit.role, audit.action, audit.target) == ("officer", "card_office", "anomaly.confirmed",
                                                                     f"card:{CARD}")


@pytest.mark.parametrize("bad", [{"auto_block": frozenset({"nonsense"})}, {"integrity_failures": 0},
                                 {"integrity_failures": True}])
def test_a_policy_is_checked(bad: dict) -> None:
    with pytest.raises(InvalidValueError):
        Policy(**bad)


def test_money_moved_on_a_replaced_card_is_flagged_once(devices: SyncStore, engine: Engine) -> None:
    _register(engine, state="replaced")  # replaced at START: its balance went to the duplicate
    reconciliation = Reconciliation(devices)
    before = devices.ingest([batch(1, entry(1, card=CARD, before=0, after=1, amount=-150, balance=850,
                                            created_at="2026-05-01T07:29:59+00:00"))])
    assert reconciliation.after_ingest(before) == 0 and devices.anomalies() == []
    after = devices.ingest([batch(1, entry(2, card=CARD, before=1, after=2, amount=-150, balance=700,
                                           created_at="2026-05-01T07:31:00+00:00"),
                                  entry(3, card=CARD, after=2, balance=700, decision="denied", reason="blocked",
                                        created_at="2026-05-01T07:32:00+00:00"))])
    assert after.paying_cards == {CARD}
    reconciliation.after_ingest(after)
    reconciliation.after_ingest(after)  # once
    [anomaly] = reconciliation.anomalies()
    assert (anomaly.kind, anomaly.card_number, anomaly.device_id, anomaly.seq) == ("replaced_card_used", CARD, 1, 2)
    assert "-150 cents" in anomaly.detail


def test_a_commit_with_nothing_to_flag_writes_nothing(devices: SyncStore, engine: Engine) -> None:
    _register(engine)
    result = devices.ingest([batch(1, write(1, CARD, 1, 850))])
    assert result.paying_cards == {CARD}
    assert Reconciliation(devices).after_ingest(result) == 0
    assert devices.anomalies() == []
