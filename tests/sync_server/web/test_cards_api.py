"""/api/v1/cards: a card's detail, search by UID or holder, state changes
with the deny-list, a lost card, and POST /cards/block on a registered card;
roles; JSON errors. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from sync_server.db.models import STAFF_ROLES
from sync_server.registry.base import ANOMALIES, LOAD_ORDERS
from sync_server.web.extensions import database
from tests.sync_server.builders import DEVICE_KEY, batch, entry, write
from tests.sync_server.conftest import START
from tests.sync_server.web.conftest import bearer

TokenFor = Callable[[str], str]
READERS = ("admin", "card_office", "auditor", "operator")


@pytest.fixture
def card(client: FlaskClient, token_for: TokenFor) -> dict[str, Any]:
    """An active citizen card of a holder, issued through the API."""
    office, point = bearer(token_for("card_office")), bearer(token_for("issuance_point"))
    holder_id = client.post("/api/v1/holders", headers=office, json={"name": "Marta"}).json["id"]
    application = client.post("/api/v1/applications", headers=office,
                              json={"kind": "new", "holder_id": holder_id}).json["id"]
    client.post(f"/api/v1/applications/{application}/approve", headers=office)
    made: dict[str, Any] = client.post(f"/api/v1/applications/{application}/issue", headers=point,
                                       json={"uid": "04A1B2C3"}).json
    return made


def test_the_detail_shows_everything_the_back_office_needs(app: Flask, client: FlaskClient, token_for: TokenFor,
                                                           card: dict[str, Any]) -> None:
    number = card["card_number"]
    with app.app_context():
        store = database.store
        store.register_device(1201, DEVICE_KEY, mode="bus", operator=7, location=40)
        taps = [write(seq, number, seq, 1000 - 150 * seq) for seq in range(1, 6)]
        store.ingest([batch(1201, entry(100, card=number, decision="denied", reason="other card")), batch(1201, *taps)])
        store.ingest([batch(1201, *(entry(200 + i, card=number) for i in range(20)))])
        store.ingest([batch(1201, write(300, number, 5, 9999, 0))])  # a second write at counter 5
        with store.transaction("a top-up") as conn:
            load_seq, _ = store.add_load(number, 500, bytes(6), within=conn)
            conn.execute(insert(LOAD_ORDERS).values(card_number=number, load_seq=load_seq, amount_cents=500,
                                                    channel="kiosk", created_at=START, created_by="kiosk-1"))
    detail = client.get(f"/api/v1/cards/{number}", headers=bearer(token_for("operator")))
    assert detail.status_code == 200
    body = detail.json
    assert (body["state"], body["uid"], body["holder"]["name"], body["kind"]) == ("active", "04A1B2C3", "Marta",
                                                                                   "citizen")
    assert body["shadow"]["counter"] == 5 and body["shadow"]["balance_cents"] == 250
    assert [(o["load_seq"], o["amount_cents"], o["channel"]) for o in body["pending_loads"]] == [(1, 500, "kiosk")]
    assert "repeated_counter" in {a["kind"] for a in body["anomalies"]}
    assert len(body["transactions"]) == 20
    assert body["transactions"][0]["seq"] == 300  # newest first
    assert [e["event"] for e in body["history"]] == ["issued"]
    with app.app_context(), database.engine.begin() as conn:
        conn.execute(ANOMALIES.update().values(status="dismissed"))
    assert client.get(f"/api/v1/cards/{number}", headers=bearer(token_for("auditor"))).json["anomalies"] == []


def test_cards_are_found_by_uid_or_holder(client: FlaskClient, token_for: TokenFor, card: dict[str, Any]) -> None:
    auditor = bearer(token_for("auditor"))
    by_uid = client.get("/api/v1/cards?uid=04a1b2c3", headers=auditor).json["cards"]
    assert [c["card_number"] for c in by_uid] == [card["card_number"]]
    by_holder = client.get(f"/api/v1/cards?holder_id={card['holder_id']}", headers=auditor).json["cards"]
    assert [c["card_number"] for c in by_holder] == [card["card_number"]]
    assert client.get("/api/v1/cards?uid=01020304", headers=auditor).json["cards"] == []
    for query in ("", "?uid=xyz", "?holder_id=abc", "?uid=04A1B2C3&holder_id=1", "?uid=04A1B2"):
        response = client.get(f"/api/v1/cards{query}", headers=auditor)
        assert response.status_code == 400, query


def test_state_changes_keep_the_deny_list_in_step(app: Flask, client: FlaskClient, token_for: TokenFor,
                                                  card: dict[str, Any]) -> None:
    office = bearer(token_for("card_office"))
    number = card["card_number"]

    def denied() -> set[Any]:
        with app.app_context():
            return {item["card_number"] or item["uid"].upper() for item in database.store.full_list("denylist").added}

    blocked = client.post(f"/api/v1/cards/{number}/state", headers=office, json={"state": "blocked", "reason": "x"})
    assert blocked.status_code == 200 and blocked.json["card"]["state"] == "blocked"
    assert denied() == {number, "04A1B2C3"}
    assert client.post(f"/api/v1/cards/{number}/state", headers=office,
                       json={"state": "blocked", "reason": "x"}).status_code == 409
    active = client.post(f"/api/v1/cards/{number}/state", headers=office, json={"state": "active", "reason": "ok"})
    assert active.json["card"]["state"] == "active" and denied() == set()
    for body in ({"state": "expired", "reason": "x"}, {"state": "blocked"}, {"state": "blocked", "reason": ""},
                 {"state": "blocked", "reason": "x", "extra": 1}):
        assert client.post(f"/api/v1/cards/{number}/state", headers=office, json=body).status_code == 400, body
    for path in (f"/api/v1/cards/{number + 1}", f"/api/v1/cards/{2**64}", "/api/v1/cards/-1", "/api/v1/cards/abc"):
        assert client.get(path, headers=office).status_code in (404, 405), path
    assert client.post(f"/api/v1/cards/{2**64}/state", headers=office,
                       json={"state": "blocked", "reason": "x"}).status_code == 404


def test_the_old_block_endpoint_changes_a_registered_cards_state(app: Flask, client: FlaskClient,
                                                                 token_for: TokenFor, card: dict[str, Any]) -> None:
    office = bearer(token_for("card_office"))
    number = card["card_number"]
    response = client.post("/api/v1/cards/block", headers=office, json={"card_number": number, "reason": "lost"})
    assert response.status_code == 200
    detail = client.get(f"/api/v1/cards/{number}", headers=office).json
    assert (detail["state"], detail["state_reason"]) == ("blocked", "lost")
    with app.app_context():
        denied = database.store.full_list("denylist").added
    assert {item["card_number"] or item["uid"].upper() for item in denied} == {number, "04A1B2C3"}
    stranger = client.post("/api/v1/cards/block", headers=office, json={"card_number": 77, "reason": "lost"})
    assert stranger.status_code == 200 and stranger.json["denylist_version"] == response.json["denylist_version"] + 1


def test_a_lost_report_is_checked(client: FlaskClient, token_for: TokenFor, card: dict[str, Any]) -> None:
    office = bearer(token_for("card_office"))
    number = card["card_number"]
    for body in ({}, {"reason": "broken"}, {"reason": "lost", "duplicate": "yes"}):
        assert client.post(f"/api/v1/cards/{number}/report-lost", headers=office, json=body).status_code == 400
    plain = client.post(f"/api/v1/cards/{number}/report-lost", headers=office, json={"reason": "stolen"})
    assert plain.status_code == 200 and plain.json["application"] is None
    assert plain.json["card"]["state"] == "blocked"


def test_each_role_may_do_what_it_is_allowed_and_nothing_else(client: FlaskClient, token_for: TokenFor,
                                                              card: dict[str, Any]) -> None:
    number = card["card_number"]
    for role in STAFF_ROLES:
        headers = bearer(token_for(role))
        read = client.get(f"/api/v1/cards/{number}", headers=headers)
        search = client.get("/api/v1/cards?uid=04A1B2C3", headers=headers)
        assert read.status_code == search.status_code == (200 if role in READERS else 403), role
        suspend = client.post(f"/api/v1/cards/{number}/state", headers=headers,
                              json={"state": "suspended", "reason": "check"})
        lost = client.post(f"/api/v1/cards/{number}/report-lost", headers=headers, json={"reason": "lost"})
        allowed = role in ("admin", "card_office")
        assert suspend.status_code == (200 if allowed else 403), role
        assert lost.status_code == (200 if allowed else 403), role
        if allowed:
            client.post(f"/api/v1/cards/{number}/state", headers=headers, json={"state": "active", "reason": "ok"})


def test_a_contract_sold_shows_on_the_card_and_is_checked(client: FlaskClient, token_for: TokenFor,
                                                         card: dict[str, Any]) -> None:
    office = bearer(token_for("card_office"))
    url = f"/api/v1/cards/{card['card_number']}/contracts"
    sold = client.post(url, headers=office, json={"kind": "bike", "valid_from": "2026-05-01",
                                                  "valid_until": "2027-04-30", "operator": 2})
    assert sold.status_code == 201, sold.json
    assert sold.json["contract"] == {"kind": "bike", "valid_from": "2026-05-01", "valid_until": "2027-04-30",
                                     "operator": 2, "product": 0}
    assert client.get(f"/api/v1/cards/{card['card_number']}", headers=office).json["contracts"] == \
        [sold.json["contract"]]
    for body, field in (({"kind": "rocket", "valid_from": "2026-05-01", "valid_until": "2027-04-30"}, "kind"),
                        ({"kind": "bike", "valid_from": "2026-13-01", "valid_until": "2027-04-30"}, "valid_from"),
                        ({"kind": "bike", "valid_from": "2026-05-01", "valid_until": "2027-04-30", "product": 70000},
                         "product")):
        refused = client.post(url, headers=office, json=body)
        assert refused.status_code == 400 and refused.json["error"]["field"] == field
    backwards = client.post(url, headers=office, json={"kind": "bike", "valid_from": "2027-05-01",
                                                       "valid_until": "2026-04-30"})
    assert backwards.status_code == 400
    assert client.post(url, headers=bearer(token_for("kiosk")), json={}).status_code == 403
    assert client.post("/api/v1/cards/42/contracts", headers=office, json={
        "kind": "bike", "valid_from": "2026-05-01", "valid_until": "2027-04-30"}).status_code == 404
