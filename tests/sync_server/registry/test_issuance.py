"""The issuance point: card numbers, validity, the retry that answers the
same card, the refusals."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from sync_server.errors import ApplicationStateError, InvalidValueError, UidInUseError
from sync_server.registry import Registry, applications, cards, issuance
from tests.sync_server.conftest import START
from tests.sync_server.registry.conftest import OFFICE, POINT, holder, new_card, new_uid


def test_a_new_card_is_active_numbered_and_valid_five_years(registry: Registry) -> None:
    holder_id = holder(registry)
    application = applications.submit(registry, OFFICE, kind="new", holder_id=holder_id, profile="student")
    applications.approve(registry, OFFICE, application.id)
    uid = new_uid()
    made, created = issuance.issue(registry, POINT, application.id, uid)
    assert created and 10**15 <= made.card_number < 10**16
    assert (made.kind, made.profile, made.holder_id, made.balance_cents, made.contracts) == (
        "citizen", "student", holder_id, 0, ())
    assert made.issued_on == START.date() and made.expires_on == dt.date(2031, 5, 1)
    card = cards.detail(registry, made.card_number).card
    assert (card.state, card.uid, card.application_id) == ("active", uid, application.id)
    assert applications.get(registry, application.id).status == "issued"
    assert applications.get(registry, application.id).card_number == made.card_number


def test_a_tourist_card_carries_its_prepaid_balance_for_one_year(registry: Registry) -> None:
    made = new_card(registry, kind="tourist", balance=2000)
    assert (made.kind, made.holder_id, made.balance_cents, made.expires_on) == (
        "tourist", None, 2000, dt.date(2027, 5, 1))


def test_issuing_again_to_the_same_uid_answers_the_same_card(registry: Registry) -> None:
    application = applications.submit(registry, OFFICE, kind="new", holder_id=holder(registry))
    applications.approve(registry, OFFICE, application.id)
    uid = new_uid()
    first, created = issuance.issue(registry, POINT, application.id, uid)
    again, created_again = issuance.issue(registry, POINT, application.id, uid)
    assert created and not created_again and again == first
    with pytest.raises(ApplicationStateError, match="issued as card"):
        issuance.issue(registry, POINT, application.id, new_uid())


def test_only_an_approved_application_is_issued_and_a_uid_names_one_card(registry: Registry) -> None:
    made = new_card(registry)
    application = applications.submit(registry, OFFICE, kind="new", holder_id=holder(registry))
    with pytest.raises(ApplicationStateError, match="pending"):
        issuance.issue(registry, POINT, application.id, new_uid())
    applications.approve(registry, OFFICE, application.id)
    with pytest.raises(UidInUseError):
        issuance.issue(registry, POINT, application.id, made.uid)
    with pytest.raises(InvalidValueError):
        issuance.issue(registry, POINT, application.id, b"\x01\x02")
    assert applications.get(registry, application.id).status == "approved"


def test_a_card_number_taken_is_drawn_again(registry: Registry) -> None:
    first = new_card(registry)
    numbers = itertools.chain([first.card_number, first.card_number], itertools.count(10**15 + 7))
    drawing = Registry(registry.store, registry.clock, lambda: next(numbers))
    made = new_card(drawing)
    assert made.card_number == 10**15 + 7
