"""Card states: the moves staff may make, the deny-list that follows each
in the same transaction, lost cards, blocks by number or UID, expiry."""

from __future__ import annotations

import datetime as dt

import pytest

from sync_server import audit
from sync_server.errors import ApplicationStateError, CardStateError, InvalidValueError, UnknownCardError
from sync_server.registry import Registry, cards, states
from sync_server.registry.base import CARDS
from tests.sync_server.conftest import Clock
from tests.sync_server.registry.conftest import OFFICE, new_card


def denied(registry: Registry) -> set[tuple[int | None, str | None]]:
    return {(item.get("card_number"), item.get("uid")) for item in registry.store.full_list("denylist").added}


def card_keys(card_number: int, uid: bytes) -> set[tuple[int | None, str | None]]:
    return {(card_number, None), (None, uid.hex())}


def test_blocking_and_reactivating_moves_the_card_and_the_deny_list_together(registry: Registry) -> None:
    made = new_card(registry)
    change = states.set_state(registry, OFFICE, made.card_number, "blocked", "fraud suspected")
    assert change.card.state == "blocked" and change.card.state_reason == "fraud suspected"
    assert denied(registry) == card_keys(made.card_number, made.uid)
    assert states.set_state(registry, OFFICE, made.card_number, "suspended", "review").card.state == "suspended"
    back = states.set_state(registry, OFFICE, made.card_number, "active", "cleared")
    assert back.card.state == "active" and denied(registry) == set()
    history = cards.detail(registry, made.card_number).history
    assert [(e.event, e.from_state, e.to_state) for e in history] == [
        ("issued", None, "active"), ("state", "active", "blocked"), ("state", "blocked", "suspended"),
        ("state", "suspended", "active")]
    with registry.read("audit") as conn:
        actions = [e.action for e in audit.entries(conn, target=f"card:{made.card_number}")]
    assert actions == ["card.issue", "card.state", "card.state", "card.state"]


@pytest.mark.parametrize("terminal", ["replaced", "expired"])
def test_a_replaced_or_expired_card_never_comes_back(registry: Registry, terminal: str) -> None:
    made = new_card(registry)
    with registry.write("forcing a state") as conn:
        conn.execute(CARDS.update().where(CARDS.c.card_number == made.card_number).values(state=terminal))
    for state in states.STAFF_STATES:
        with pytest.raises(CardStateError, match=terminal):
            states.set_state(registry, OFFICE, made.card_number, state, "try")


def test_impossible_requests_are_refused_and_change_nothing(registry: Registry) -> None:
    made = new_card(registry)
    with pytest.raises(CardStateError, match="active"):
        states.set_state(registry, OFFICE, made.card_number, "active", "again")
    with pytest.raises(InvalidValueError):
        states.set_state(registry, OFFICE, made.card_number, "expired", "by hand")
    with pytest.raises(InvalidValueError):
        states.set_state(registry, OFFICE, made.card_number, "blocked", "  ")
    with pytest.raises(UnknownCardError):
        states.set_state(registry, OFFICE, made.card_number + 1, "blocked", "lost")
    assert registry.store.list_version("denylist") == 0


def test_a_card_past_its_expiry_cannot_be_reactivated(registry: Registry, clock: Clock) -> None:
    made = new_card(registry)
    states.set_state(registry, OFFICE, made.card_number, "blocked", "lost")
    clock.now = dt.datetime.combine(made.expires_on + dt.timedelta(days=1), dt.time(9), dt.UTC)
    with pytest.raises(CardStateError, match="expired"):
        states.set_state(registry, OFFICE, made.card_number, "active", "found")


def test_expiry_marks_and_denies_only_the_cards_past_their_date(registry: Registry, clock: Clock) -> None:
    tourist = new_card(registry, kind="tourist")  # 1 year
    citizen = new_card(registry)  # 5 years
    blocked = new_card(registry, kind="tourist")
    states.set_state(registry, OFFICE, blocked.card_number, "blocked", "lost")
    clock.now = dt.datetime.combine(tourist.expires_on, dt.time(23), dt.UTC)
    assert states.expire(registry) == []
    clock.advance(hours=2)
    assert sorted(states.expire(registry)) == sorted([tourist.card_number, blocked.card_number])
    assert cards.detail(registry, tourist.card_number).card.state == "expired"
    assert cards.detail(registry, citizen.card_number).card.state == "active"
    numbers = {number for number, _ in denied(registry) if number is not None}
    assert numbers == {tourist.card_number, blocked.card_number}
    assert states.expire(registry) == []


def test_a_lost_card_is_blocked_and_its_duplicate_applied_for_in_one_go(registry: Registry) -> None:
    made = new_card(registry)
    report = states.report_lost(registry, OFFICE, made.card_number, "stolen", duplicate=True)
    assert report.card.state == "blocked" and report.card.state_reason == "stolen"
    assert report.application is not None
    assert (report.application.kind, report.application.status, report.application.replaces_card) == (
        "duplicate", "pending", made.card_number)
    assert denied(registry) == card_keys(made.card_number, made.uid)
    with pytest.raises(ApplicationStateError):
        states.report_lost(registry, OFFICE, made.card_number, "lost", duplicate=True)
    again = states.report_lost(registry, OFFICE, made.card_number, "lost", duplicate=False)
    assert again.card.state == "blocked" and again.application is None


def test_a_tourist_card_without_holder_is_blocked_but_gets_no_duplicate(registry: Registry) -> None:
    made = new_card(registry, kind="tourist")
    with pytest.raises(CardStateError, match="holder"):
        states.report_lost(registry, OFFICE, made.card_number, "lost", duplicate=True)
    assert states.report_lost(registry, OFFICE, made.card_number, "lost", duplicate=False).card.state == "blocked"


def test_a_block_by_number_or_uid_of_a_registered_card_changes_its_state(registry: Registry) -> None:
    by_number, by_uid = new_card(registry), new_card(registry)
    states.block_keys(registry, OFFICE, card_number=by_number.card_number, uid=None, reason="lost")
    states.block_keys(registry, OFFICE, card_number=None, uid=by_uid.uid, reason="stolen")
    for made in (by_number, by_uid):
        card = cards.detail(registry, made.card_number).card
        assert card.state == "blocked"
        assert card_keys(made.card_number, made.uid) <= denied(registry)
    version = states.block_keys(registry, OFFICE, card_number=4242, uid=None, reason="lost")
    assert version == registry.store.list_version("denylist") and (4242, None) in denied(registry)


def test_a_block_naming_two_registered_cards_is_refused(registry: Registry) -> None:
    first, second = new_card(registry), new_card(registry)
    with pytest.raises(InvalidValueError, match="its own keys"):
        states.block_keys(registry, OFFICE, card_number=first.card_number, uid=second.uid, reason="lost")
    assert registry.store.list_version("denylist") == 0
