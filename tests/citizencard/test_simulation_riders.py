"""The demo's card population: cards issued through the registry's real
paths and personalised with exactly what it answered; subscriptions recorded
in the registry; a lost card's duplicate takes its money and contracts."""

from __future__ import annotations

import random
from pathlib import Path

from card_layout.operations.state import read_card
from card_layout.records.contracts import ContractKind
from card_layout.records.identity import CardKind, FareProfile
from citizencard.simulation.riders import TOURIST_PREPAID, Plan, population
from citizencard.simulation.story import STORY_PLANS
from hardware.sim.field import SimField
from hardware.sim.reader import SimReader
from sync_server import audit
from sync_server.registry import applications, cards, holders

from .simulation_city import offline_city


def _read(rider, keys):
    field = SimField()
    field.place(rider.chip)
    try:
        return read_card(SimReader(field=field), keys)
    finally:
        field.take()


def test_the_population_keeps_the_story_cards_and_has_two_tourists() -> None:
    plans = population(12, random.Random(3), STORY_PLANS)
    assert plans[:4] == [STORY_PLANS[i] for i in range(4)]
    assert [p.kind for p in plans[-2:]] == ["tourist", "tourist"]
    assert all(p.kind in ("citizen", "company") for p in plans[4:-2])
    assert [p.kind for p in population(5, random.Random(3), STORY_PLANS)].count("tourist") == 0


def test_a_card_is_issued_through_the_registry_and_personalised_with_its_answer(tmp_path: Path) -> None:
    with offline_city(tmp_path) as town:
        rider = town.office.issue(0, Plan("citizen", "senior", (ContractKind.BIKE,)))
        tourist = town.office.issue(1, Plan("tourist", "general"))
        keys = town.office.issuer.validator_subset()
        detail = cards.detail(town.registry, rider.number)
        assert detail.card.state == "active" and detail.card.uid == rider.uid
        assert [c.kind for c in detail.contracts] == ["bike"] and rider.contracts == ("bike",)
        holder = holders.get(town.registry, rider.holder_id)
        assert holder.document_id == "DEMO000000"
        assert applications.get(town.registry, detail.card.application_id).status == "issued"
        state = _read(rider, keys)
        assert state.identity.card_number == rider.number
        assert (state.identity.kind, state.identity.profile) == (CardKind.CITIZEN, FareProfile.SENIOR)
        assert state.identity.expires == detail.card.expires_on
        assert state.balance_cents == 0 == rider.issued_cents
        assert [c.kind for c in state.contracts.valid(ContractKind.BIKE, state.identity.issued)] == [ContractKind.BIKE]
        assert tourist.holder_id is None and _read(tourist, keys).balance_cents == TOURIST_PREPAID
        with town.registry.read("audit") as conn:
            actions = [e.action for e in audit.entries(conn, target=f"card:{rider.number}")]
        assert "card.issue" in actions and "card.contract_sold" in actions
        assert rider.dump.exists()


def test_a_lost_cards_duplicate_takes_its_money_and_contracts(tmp_path: Path) -> None:
    with offline_city(tmp_path) as town:
        lost = town.office.issue(0, Plan("citizen", "general", (ContractKind.BIKE,)))
        order = town.office.top_up(lost, 1500, "office")
        report = town.office.report_lost(lost)
        assert report.card.state == "blocked" and report.application is not None
        new = town.office.duplicate(lost, report.application.id, 1)
        assert lost.replaced and new.replaces == 0
        assert new.issued_cents == order.amount_cents  # never tapped: its pending top-up moved
        assert new.contracts == ("bike",) and new.holder_id == lost.holder_id
        assert cards.detail(town.registry, lost.number).card.state == "replaced"
        assert _read(new, town.office.issuer.validator_subset()).balance_cents == 1500
