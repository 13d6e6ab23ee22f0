"""/api/v1/applications: submit, the queue, approve / reject / cancel,
issue at the issuance point; roles; and the whole workflow of a lost card at
the API level. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from sync_server.db.models import STAFF_ROLES
from sync_server.registry.base import CONTRACTS, LOAD_ORDERS
from sync_server.web.extensions import database
from tests.sync_server.builders import DEVICE_KEY, batch, write
from tests.sync_server.conftest import START
from tests.sync_server.web.conftest import bearer

TokenFor = Callable[[str], str]


def _holder(client: FlaskClient, headers: dict[str, str], name: str = "Marta") -> int:
    return int(client.post("/api/v1/holders", headers=headers, json={"name": name}).json["id"])


def _submit(client: FlaskClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/applications", headers=headers, json=body)


def test_the_queue_is_oldest_first_by_status_a_page_at_a_time(client: FlaskClient, token_for: TokenFor) -> None:
    office = bearer(token_for("card_office"))
    holder_id = _holder(client, office)
    ids = [_submit(client, office, kind="new", holder_id=holder_id, note=f"n{i}").json["id"] for i in range(3)]
    assert client.post(f"/api/v1/applications/{ids[1]}/approve", headers=office).json["status"] == "approved"
    auditor = bearer(token_for("auditor"))
    pending = client.get("/api/v1/applications?status=pending&limit=1", headers=auditor).json
    assert [a["id"] for a in pending["applications"]] == [ids[0]] and pending["next_cursor"] is not None
    rest = client.get(f"/api/v1/applications?status=pending&cursor={pending['next_cursor']}", headers=auditor).json
    assert [a["id"] for a in rest["applications"]] == [ids[2]] and rest["next_cursor"] is None
    everything = client.get("/api/v1/applications", headers=auditor).json["applications"]
    assert [a["id"] for a in everything] == ids


def test_decisions_follow_the_status_rules(client: FlaskClient, token_for: TokenFor) -> None:
    office = bearer(token_for("card_office"))
    holder_id = _holder(client, office)
    first = _submit(client, office, kind="new", holder_id=holder_id).json["id"]
    no_reason = client.post(f"/api/v1/applications/{first}/reject", headers=office, json={})
    assert no_reason.status_code == 400 and no_reason.json["error"]["field"] == "reason"
    rejected = client.post(f"/api/v1/applications/{first}/reject", headers=office, json={"reason": "no photo"})
    assert (rejected.json["status"], rejected.json["decision_reason"]) == ("rejected", "no photo")
    for action in ("approve", "cancel"):
        assert client.post(f"/api/v1/applications/{first}/{action}", headers=office).status_code == 409
    second = _submit(client, office, kind="new", holder_id=holder_id).json["id"]
    client.post(f"/api/v1/applications/{second}/approve", headers=office)
    cancelled = client.post(f"/api/v1/applications/{second}/cancel", headers=office, json={"reason": "moved away"})
    assert cancelled.json["status"] == "cancelled"
    point = bearer(token_for("issuance_point"))
    issued = client.post(f"/api/v1/applications/{second}/issue", headers=point, json={"uid": "04A1B2C3"})
    assert issued.status_code == 409
    assert client.post("/api/v1/applications/999/approve", headers=office).status_code == 404


def test_submissions_are_checked(client: FlaskClient, token_for: TokenFor) -> None:
    office = bearer(token_for("card_office"))
    holder_id = _holder(client, office)
    for body, status in (
            ({"kind": "new"}, 400),  # no holder
            ({"kind": "new", "holder_id": 999}, 404),
            ({"kind": "new", "holder_id": holder_id, "balance_cents": 100}, 400),
            ({"kind": "duplicate", "holder_id": holder_id}, 400),
            ({"kind": "duplicate", "holder_id": holder_id, "replaces_card": 1234}, 400),
            ({"kind": "tourist", "card_kind": "citizen"}, 400),
            ({"kind": "tourist", "balance_cents": -1}, 400),
            ({"kind": "tourist", "balance_cents": True}, 400),
            ({"kind": "gold"}, 400),
            ({"kind": "new", "holder_id": holder_id, "profile": "vip"}, 400)):
        response = _submit(client, office, **body)
        assert response.status_code == status, (body, response.json)
    unkeyed = _submit(client, office, kind="tourist", balance_cents=1500, profile="general")
    assert unkeyed.status_code == 400 and unkeyed.json["error"]["field"] == "Idempotency-Key"
    keyed = {**office, "Idempotency-Key": "sale-1"}
    tourist = _submit(client, keyed, kind="tourist", balance_cents=1500, profile="general").json
    assert (tourist["card_kind"], tourist["holder_id"], tourist["balance_cents"]) == ("tourist", None, 1500)
    again = _submit(client, keyed, kind="tourist", balance_cents=1500, profile="general")
    assert again.json == tourist and again.headers["Idempotent-Replayed"] == "true"
    listed = client.get("/api/v1/applications?status=pending", headers=office).json["applications"]
    assert [a["id"] for a in listed if a["balance_cents"]] == [tourist["id"]]  # the retry sold nothing more


def test_each_role_may_do_what_it_is_allowed_and_nothing_else(client: FlaskClient, token_for: TokenFor) -> None:
    admin = bearer(token_for("admin"))
    holder_id = _holder(client, admin)
    for role in STAFF_ROLES:
        headers = bearer(token_for(role))
        tourist = _submit(client, headers, kind="tourist")
        new = _submit(client, headers, kind="new", holder_id=holder_id)
        listing = client.get("/api/v1/applications", headers=headers)
        assert tourist.status_code == (201 if role in ("admin", "card_office", "kiosk") else 403), role
        assert new.status_code == (201 if role in ("admin", "card_office") else 403), role
        assert listing.status_code == (200 if role in ("admin", "card_office", "auditor", "issuance_point")
                                       else 403), role
        target = _submit(client, admin, kind="tourist").json["id"]
        approve = client.post(f"/api/v1/applications/{target}/approve", headers=headers)
        assert approve.status_code == (200 if role in ("admin", "card_office") else 403), role
        if role != "issuance_point":
            client.post(f"/api/v1/applications/{target}/approve", headers=admin)
            issue = client.post(f"/api/v1/applications/{target}/issue", headers=headers, json={"uid": "0A0B0C0D"})
            assert issue.status_code == 403, role


def test_a_lost_card_is_replaced_with_its_balance_and_contracts(app: Flask, client: FlaskClient,
                                                                token_for: TokenFor) -> None:
    office, point = bearer(token_for("card_office")), bearer(token_for("issuance_point"))
    holder_id = _holder(client, office, "Marta Álvarez")
    application = _submit(client, office, kind="new", holder_id=holder_id, profile="student").json
    assert client.post(f"/api/v1/applications/{application['id']}/approve", headers=office).status_code == 200
    issued = client.post(f"/api/v1/applications/{application['id']}/issue", headers=point, json={"uid": "04A1B2C3"})
    assert issued.status_code == 201, issued.json
    old = issued.json
    again = client.post(f"/api/v1/applications/{application['id']}/issue", headers=point, json={"uid": "04a1b2c3"})
    assert again.status_code == 200 and again.json == old
    other = client.post(f"/api/v1/applications/{application['id']}/issue", headers=point, json={"uid": "04A1B2C4"})
    assert other.status_code == 409
    number = old["card_number"]
    with app.app_context():  # what other desks do: a pass sold, rides synced, a top-up bought
        store = database.store
        with store.transaction("test setup") as conn:
            conn.execute(insert(CONTRACTS).values(card_number=number, kind="transit_pass",
                                                  valid_from=dt.date(2026, 5, 1), valid_until=dt.date(2026, 5, 31),
                                                  operator=1, product=30))
        store.register_device(1201, DEVICE_KEY, mode="bus", operator=7, location=40)
        store.ingest([batch(1201, write(1, number, 1, 0, 0))])
        with store.transaction("test top-up") as conn:
            load_seq, _ = store.add_load(number, 2000, bytes(6), within=conn)
            conn.execute(insert(LOAD_ORDERS).values(card_number=number, load_seq=load_seq, amount_cents=2000,
                                                    channel="online", created_at=START,
                                                    created_by="web"))
    lost = client.post(f"/api/v1/cards/{number}/report-lost", headers=office,
                       json={"reason": "lost", "duplicate": True})
    assert lost.status_code == 200, lost.json
    assert lost.json["card"]["state"] == "blocked"
    duplicate = lost.json["application"]
    assert (duplicate["kind"], duplicate["status"], duplicate["replaces_card"]) == ("duplicate", "pending", number)
    assert client.post(f"/api/v1/applications/{duplicate['id']}/approve", headers=office).status_code == 200
    new = client.post(f"/api/v1/applications/{duplicate['id']}/issue", headers=point, json={"uid": "04D5E6F7"})
    assert new.status_code == 201, new.json
    assert (new.json["balance_cents"], new.json["replaces"], new.json["profile"]) == (2000, number, "student")
    assert new.json["contracts"] == [{"kind": "transit_pass", "valid_from": "2026-05-01",
                                      "valid_until": "2026-05-31", "operator": 1, "product": 30}]
    auditor = bearer(token_for("auditor"))
    old_card = client.get(f"/api/v1/cards/{number}", headers=auditor).json
    new_card = client.get(f"/api/v1/cards/{new.json['card_number']}", headers=auditor).json
    assert (old_card["state"], old_card["replaced_by"], old_card["pending_loads"]) == (
        "replaced", new.json["card_number"], [])
    assert (new_card["state"], new_card["replaces"], new_card["initial_balance_cents"]) == ("active", number, 2000)
    assert new_card["holder"]["name"] == "Marta Álvarez"
    assert "balance_moved" in [event["event"] for event in old_card["history"]]
    with app.app_context():
        denied = database.store.full_list("denylist").added
        loads = database.store.full_list("loads").added
    assert {item["card_number"] for item in denied if item["card_number"]} == {number}
    assert {item["uid"].upper() for item in denied if item["uid"]} == {"04A1B2C3"}
    assert [load for load in loads if load["card_number"] == number] == []
