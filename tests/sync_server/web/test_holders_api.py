"""/api/v1/holders: register, read, search by document id or name prefix,
update contact fields; roles; JSON errors. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from sync_server import audit
from sync_server.db.models import STAFF_ROLES
from sync_server.web.extensions import database
from tests.sync_server.web.conftest import bearer

TokenFor = Callable[[str], str]
MARTA = {"name": "Marta Álvarez", "document_id": "12345678Z", "birth_date": "1980-02-29",
         "email": "marta@example.org", "phone": "+34 600 000 000", "address": "Calle Corrida 1, Gijón"}


def test_a_holder_is_registered_read_found_and_updated(app: Flask, client: FlaskClient, token_for: TokenFor) -> None:
    office = bearer(token_for("card_office"))
    created = client.post("/api/v1/holders", headers=office, json=MARTA)
    assert created.status_code == 201, created.json
    holder = created.json
    assert {key: holder[key] for key in MARTA} == MARTA
    client.post("/api/v1/holders", headers=office, json={"name": "Martín Pérez"})
    auditor = bearer(token_for("auditor"))
    assert client.get(f"/api/v1/holders/{holder['id']}", headers=auditor).json == holder
    by_document = client.get("/api/v1/holders?document_id=12345678Z", headers=auditor).json
    assert [h["id"] for h in by_document["holders"]] == [holder["id"]] and by_document["next_cursor"] is None
    by_name = client.get("/api/v1/holders?name=mart", headers=auditor).json["holders"]
    assert [h["name"] for h in by_name] == ["Marta Álvarez", "Martín Pérez"]
    page = client.get("/api/v1/holders?name=mar&limit=1", headers=auditor).json
    assert len(page["holders"]) == 1 and page["next_cursor"] is not None
    rest = client.get(f"/api/v1/holders?name=mar&limit=1&cursor={page['next_cursor']}", headers=auditor).json
    assert [h["name"] for h in rest["holders"]] == ["Martín Pérez"] and rest["next_cursor"] is None
    assert client.get("/api/v1/holders?name=50%25", headers=auditor).json["holders"] == []
    updated = client.patch(f"/api/v1/holders/{holder['id']}", headers=office,
                           json={"email": "marta@gijon.example", "phone": None})
    assert updated.status_code == 200
    assert (updated.json["email"], updated.json["phone"], updated.json["name"]) == (
        "marta@gijon.example", None, "Marta Álvarez")
    with app.app_context(), database.engine.connect() as conn:
        logged = [(e.actor.split("-")[0], e.action) for e in audit.entries(conn, target=f"holder:{holder['id']}")]
    assert logged == [("card_office", "holder.create"), ("card_office", "holder.update")]


def test_bad_requests_are_clear_json_errors(client: FlaskClient, token_for: TokenFor) -> None:
    office = bearer(token_for("card_office"))
    assert client.post("/api/v1/holders", headers=office, json=MARTA).status_code == 201
    duplicate = client.post("/api/v1/holders", headers=office, json={**MARTA, "name": "Other"})
    assert duplicate.status_code == 409 and duplicate.json["error"]["code"] == "conflict"
    for body, field in (({}, "name"), ({"name": " "}, "name"), ({"name": "A", "birth_date": "1980-13-01"},
                                                                 "birth_date"),
                        ({"name": "A", "shoe_size": 42}, "shoe_size"), ({"name": "A", "email": 7}, "email")):
        response = client.post("/api/v1/holders", headers=office, json=body)
        assert response.status_code == 400 and response.json["error"]["field"] == field, body
    future = client.post("/api/v1/holders", headers=office, json={"name": "A", "birth_date": "2999-01-01"})
    assert future.status_code == 400
    assert client.get("/api/v1/holders/999", headers=office).status_code == 404
    assert client.get(f"/api/v1/holders/{2**70}", headers=office).status_code == 404
    assert client.get("/api/v1/holders", headers=office).status_code == 400
    assert client.get("/api/v1/holders?name=a&cursor=x", headers=office).status_code == 400
    assert client.patch("/api/v1/holders/1", headers=office, json={"name": "New"}).status_code == 400
    assert client.patch("/api/v1/holders/1", headers=office, json={}).status_code == 400


def test_each_role_may_do_what_it_is_allowed_and_nothing_else(client: FlaskClient, token_for: TokenFor) -> None:
    holder_id = client.post("/api/v1/holders", headers=bearer(token_for("admin")), json={"name": "Ana"}).json["id"]
    for role in STAFF_ROLES:
        headers = bearer(token_for(role))
        read = client.get(f"/api/v1/holders/{holder_id}", headers=headers)
        write = client.patch(f"/api/v1/holders/{holder_id}", headers=headers, json={"phone": "1"})
        create = client.post("/api/v1/holders", headers=headers, json={"name": f"{role} test"})
        assert read.status_code == (200 if role in ("admin", "card_office", "auditor") else 403), role
        assert write.status_code == (200 if role in ("admin", "card_office") else 403), role
        assert create.status_code == (201 if role in ("admin", "card_office") else 403), role
