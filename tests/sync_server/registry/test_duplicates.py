"""A duplicate takes over the old card: state, deny-list, contracts, and
the money, which is never created nor lost (a hypothesis state machine over
issue / spend / load / lost / duplicate)."""

from __future__ import annotations

import datetime as dt

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import func, select

from sync_server.errors import CardStateError
from sync_server.registry import Registry, applications, cards, states
from sync_server.registry.base import CARDS, CONTRACTS, LOAD_ORDERS, SHADOWS
from tests.sync_server.builders import DEVICE_KEY
from tests.sync_server.conftest import wipe
from tests.sync_server.registry.conftest import DEVICE, OFFICE, issue, new_card, queue_load, spend


def add_contract(registry: Registry, card_number: int, kind: str, until: dt.date) -> None:
    with registry.write("adding a contract") as conn:
        conn.execute(CONTRACTS.insert().values(card_number=card_number, kind=kind, valid_from=dt.date(2026, 1, 1),
                                               valid_until=until, operator=1, product=30))


def test_the_duplicate_takes_the_balance_loads_and_valid_contracts(registry: Registry) -> None:
    old = new_card(registry, profile="senior")
    add_contract(registry, old.card_number, "transit_pass", dt.date(2026, 12, 31))
    add_contract(registry, old.card_number, "bike", dt.date(2026, 1, 31))  # over: not copied
    queue_load(registry, old.card_number, 1000)
    spend(registry, old.card_number, 0)  # synced with balance 0
    queue_load(registry, old.card_number, 500)
    report = states.report_lost(registry, OFFICE, old.card_number, "lost", duplicate=True)
    assert report.application is not None and report.application.profile == "senior"
    new = issue(registry, report.application.id)
    assert new.replaces == old.card_number and new.balance_cents == 1500
    assert [(c.kind, c.valid_until) for c in new.contracts] == [("transit_pass", dt.date(2026, 12, 31))]
    before = cards.detail(registry, old.card_number)
    after = cards.detail(registry, new.card_number)
    assert (before.card.state, before.card.replaced_by, before.pending_loads) == ("replaced", new.card_number, ())
    assert (after.card.state, after.card.replaces, after.card.profile) == ("active", old.card_number, "senior")
    assert [e.event for e in before.history][-2:] == ["replaced", "balance_moved"]
    assert "1500 cents" in (after.history[-1].reason or "") and after.history[-1].event == "balance_moved"
    loads = registry.store.full_list("loads").added
    assert [item for item in loads if item["card_number"] == old.card_number] == []
    denied = {item["card_number"] for item in registry.store.full_list("denylist").added}
    assert old.card_number in denied and new.card_number not in denied


def test_a_card_is_replaced_once(registry: Registry) -> None:
    old = new_card(registry)
    renewal = applications.submit(registry, OFFICE, kind="renewal", holder_id=old.holder_id,
                                  replaces_card=old.card_number)
    issue(registry, renewal.id)
    with pytest.raises(CardStateError, match="replaced already"):
        applications.submit(registry, OFFICE, kind="duplicate", holder_id=old.holder_id,
                            replaces_card=old.card_number)


def _money(registry: Registry) -> int:
    """Balances of the cards in use (shadow, or initial before any sync) plus their pending loads."""
    with registry.read("counting money") as conn:
        shadow = select(SHADOWS.c.balance_cents).where(SHADOWS.c.card_number == CARDS.c.card_number) \
            .scalar_subquery()
        balances = conn.execute(select(func.coalesce(func.sum(func.coalesce(shadow, CARDS.c.initial_balance_cents)),
                                                     0)).where(CARDS.c.state != "replaced")).scalar_one()
        pending = conn.execute(select(func.coalesce(func.sum(LOAD_ORDERS.c.amount_cents), 0)).where(
            LOAD_ORDERS.c.applied_at.is_(None) & LOAD_ORDERS.c.cancelled_at.is_(None))).scalar_one()
    return int(balances) + int(pending)


STEPS = st.lists(st.tuples(st.sampled_from(["issue", "spend", "load", "lost", "duplicate"]),
                           st.integers(0, 50), st.integers(1, 3000)), max_size=14)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_money_is_never_created_nor_lost(registry: Registry, steps: list[tuple[str, int, int]]) -> None:
    wipe(registry.store.engine)
    registry.store.register_device(DEVICE, DEVICE_KEY, mode="bus", operator=7, location=40)
    paid_in = 0  # prepaid tourist balances + loads bought - charges
    in_use: list[int] = []
    waiting: list[int] = []  # duplicate applications of lost cards, not issued yet
    for action, pick, amount in steps:
        if action == "issue" or not in_use:
            if pick % 2:
                in_use.append(new_card(registry, kind="tourist", balance=amount).card_number)
                paid_in += amount
            else:
                in_use.append(new_card(registry).card_number)
            continue
        card = in_use[pick % len(in_use)]
        if action == "spend":
            charge = min(amount, _balance(registry, card))
            spend(registry, card, charge)
            paid_in -= charge
        elif action == "load":
            queue_load(registry, card, amount)
            paid_in += amount
        elif _holder_of(registry, card) is not None:  # lost, or lost and its duplicate issued
            report = states.report_lost(registry, OFFICE, card, "lost", duplicate=True)
            assert report.application is not None
            in_use.remove(card)
            waiting.append(report.application.id)
            if action == "duplicate":
                in_use.append(issue(registry, waiting.pop(0)).card_number)
        assert _money(registry) == paid_in, (action, card)
    for application_id in waiting:
        issue(registry, application_id)
    assert _money(registry) == paid_in


def _balance(registry: Registry, card_number: int) -> int:
    with registry.read("reading") as conn:
        shadow = cards.shadow_of(conn, card_number)
        return shadow.balance_cents if shadow else cards.fetch(conn, card_number).initial_balance_cents


def _holder_of(registry: Registry, card_number: int) -> int | None:
    with registry.read("reading") as conn:
        return cards.fetch(conn, card_number).holder_id
