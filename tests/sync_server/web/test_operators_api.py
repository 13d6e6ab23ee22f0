"""Operators and services through the API: admins add them (audited),
finance, auditors and operators read them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sync_server import audit
from sync_server.web.extensions import database
from tests.sync_server.web.conftest import bearer


def test_admins_add_operators_and_others_read_them(app: Flask, client: FlaskClient,
                                                   token_for: Callable[[str], str]) -> None:
    admin = bearer(token_for("admin"))
    response = client.post("/api/v1/operators", json={"id": 7, "name": " City Buses "}, headers=admin)
    assert response.status_code == 201
    assert response.json == {"id": 7, "name": "City Buses", "created_at": "2026-05-01T07:30:00+00:00"}
    assert client.post("/api/v1/operators", json={"id": 0, "name": "Bikes"}, headers=admin).status_code == 201
    for role in ("admin", "finance", "auditor", "operator"):
        listed = client.get("/api/v1/operators", headers=bearer(token_for(role))).json["operators"]
        assert [(item["id"], item["name"]) for item in listed] == [(0, "Bikes"), (7, "City Buses")]
    with app.app_context(), database.engine.connect() as conn:
        [entry] = audit.entries(conn, target="operator:7")
    assert (entry.action, entry.actor, entry.details) == ("operator.add", "admin-1", {"id": 7, "name": "City Buses"})


def test_admins_add_services_and_others_read_them(client: FlaskClient, token_for: Callable[[str], str]) -> None:
    admin = bearer(token_for("admin"))
    for code, name in (("bus", "Urban buses"), ("bike", "Public bikes")):
        assert client.post("/api/v1/services", json={"code": code, "name": name}, headers=admin).status_code == 201
    listed = client.get("/api/v1/services", headers=bearer(token_for("finance"))).json["services"]
    assert [(item["code"], item["name"]) for item in listed] == [("bike", "Public bikes"), ("bus", "Urban buses")]


def test_duplicates_are_409(client: FlaskClient, token_for: Callable[[str], str]) -> None:
    admin = bearer(token_for("admin"))
    client.post("/api/v1/operators", json={"id": 7, "name": "City Buses"}, headers=admin)
    client.post("/api/v1/services", json={"code": "bus", "name": "Buses"}, headers=admin)
    for path, body in (("/api/v1/operators", {"id": 7, "name": "Other"}),
                       ("/api/v1/operators", {"id": 8, "name": "City Buses"}),
                       ("/api/v1/services", {"code": "bus", "name": "Other"})):
        response = client.post(path, json=body, headers=admin)
        assert response.status_code == 409 and response.json["error"]["code"] == "conflict"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/operators", {"id": 256, "name": "x"}, "id"),
    ("/api/v1/operators", {"id": -1, "name": "x"}, "id"),
    ("/api/v1/operators", {"id": True, "name": "x"}, "id"),
    ("/api/v1/operators", {"id": 1, "name": "  "}, "name"),
    ("/api/v1/operators", {"id": 1}, "name"),
    ("/api/v1/operators", {"id": 1, "name": "x", "extra": 1}, "extra"),
    ("/api/v1/services", {"code": "x" * 17, "name": "x"}, "code"),
    ("/api/v1/services", {"code": "bus", "name": "x" * 129}, "name"),
])
def test_bad_bodies_are_400(client: FlaskClient, token_for: Callable[[str], str], path: str, body: dict,
                            field: str) -> None:
    response = client.post(path, json=body, headers=bearer(token_for("admin")))
    assert response.status_code == 400 and response.json["error"]["field"] == field


@pytest.mark.parametrize("role", ["finance", "auditor", "operator", "card_office"])
def test_only_admins_write(client: FlaskClient, token_for: Callable[[str], str], role: str) -> None:
    headers = bearer(token_for(role))
    assert client.post("/api/v1/operators", json={"id": 1, "name": "x"}, headers=headers).status_code == 403
    assert client.post("/api/v1/services", json={"code": "x", "name": "x"}, headers=headers).status_code == 403


def test_other_roles_may_not_read(client: FlaskClient, token_for: Callable[[str], str]) -> None:
    assert client.get("/api/v1/operators", headers=bearer(token_for("kiosk"))).status_code == 403
    assert client.get("/api/v1/services").status_code == 401
