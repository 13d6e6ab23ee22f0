"""Contracts sold on a card: recorded with the card's history and the audit
log, in the issuance answer and the card detail, refused for a card not
active or with values the card cannot hold. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from sync_server.db.models import AuditEntry
from sync_server.errors import CardStateError, InvalidValueError, UnknownCardError
from sync_server.registry import Registry, applications, cards, contracts, issuance, states

from .conftest import OFFICE, POINT, holder, new_uid

DAY = dt.date(2026, 5, 1)
YEAR = dt.date(2027, 4, 30)


def test_a_contract_sold_is_in_the_issuance_answer_the_detail_and_the_history(registry: Registry) -> None:
    application = applications.submit(registry, OFFICE, kind="new", holder_id=holder(registry))
    applications.approve(registry, OFFICE, application.id)
    uid = new_uid()
    first, _ = issuance.issue(registry, POINT, application.id, uid)
    sold = contracts.sell(registry, OFFICE, first.card_number, kind="bike", valid_from=DAY, valid_until=YEAR,
                          operator=3, product=12)
    assert sold == cards.Contract("bike", DAY, YEAR, 3, 12)
    again, created = issuance.issue(registry, POINT, application.id, uid)  # the point asks again: same card
    assert not created and again.contracts == (sold,)
    detail = cards.detail(registry, first.card_number)
    assert detail.contracts == (sold,)
    assert detail.history[-1].event == "contract"
    assert "bike 2026-05-01..2027-04-30" in (detail.history[-1].reason or "")
    with registry.store.engine.connect() as conn:
        audit = conn.execute(select(AuditEntry.__table__).where(AuditEntry.__table__.c.action == "card.contract_sold")
                             ).one()
    assert (audit.actor, audit.target, audit.details["kind"]) == ("ana", f"card:{first.card_number}", "bike")


@pytest.mark.parametrize("changes", [{"kind": "rocket"}, {"valid_until": DAY - dt.timedelta(days=1)},
                                     {"operator": 256}, {"product": -1}, {"operator": True}])
def test_values_the_card_cannot_hold_are_refused(registry: Registry, changes: dict) -> None:
    application = applications.submit(registry, OFFICE, kind="new", holder_id=holder(registry))
    applications.approve(registry, OFFICE, application.id)
    card, _ = issuance.issue(registry, POINT, application.id, new_uid())
    with pytest.raises(InvalidValueError):
        contracts.sell(registry, OFFICE, card.card_number, **{"kind": "bike", "valid_from": DAY,
                                                              "valid_until": YEAR, **changes})
    assert cards.detail(registry, card.card_number).contracts == ()


def test_only_an_active_card_takes_a_contract(registry: Registry) -> None:
    with pytest.raises(UnknownCardError):
        contracts.sell(registry, OFFICE, 42, kind="bike", valid_from=DAY, valid_until=YEAR)
    application = applications.submit(registry, OFFICE, kind="new", holder_id=holder(registry))
    applications.approve(registry, OFFICE, application.id)
    card, _ = issuance.issue(registry, POINT, application.id, new_uid())
    states.set_state(registry, OFFICE, card.card_number, "blocked", "lost")
    with pytest.raises(CardStateError, match="blocked"):
        contracts.sell(registry, OFFICE, card.card_number, kind="ev_charging", valid_from=DAY, valid_until=YEAR)
