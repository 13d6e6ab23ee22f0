"""Settlements through the API: preview, close (finance), list, get, verify,
exports; immutable (no update or delete: 405), overlaps 409."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sync_server.audit import Actor
from sync_server.operators import Operators
from sync_server.web.extensions import database
from tests.sync_server.conftest import Clock
from tests.sync_server.ledger import register, send, tx
from tests.sync_server.web.conftest import bearer

PERIOD = {"operator_id": 7, "period_start": "2026-05-01T00:00:00Z", "period_end": "2026-05-02T00:00:00+00:00"}


@pytest.fixture
def finance(app: Flask, clock: Clock, token_for: Callable[[str], str]) -> dict[str, str]:
    with app.app_context():
        register(database.store, {1: ("bus", 7), 2: ("bike", 7), 3: ("bus", 9)})
        Operators(database.engine, clock).add_operator(Actor("root", "admin"), 7, "Buses and bikes")
        send(database.store, 1, [tx(1, hours=1), tx(2, hours=2, amount=-200), tx(3, hours=3, state="intent")])
        send(database.store, 2, [tx(1, kind="bike_end", amount=-90, hours=4)])
        send(database.store, 3, [tx(1, hours=2)])
    clock.advance(minutes=10)
    return bearer(token_for("finance"))


def test_preview_close_get_list_verify(client: FlaskClient, finance: dict[str, str],
                                       token_for: Callable[[str], str]) -> None:
    preview = client.post("/api/v1/settlements/preview", json=PERIOD, headers=finance)
    assert preview.status_code == 200
    assert preview.json == {
        "operator_id": 7, "period_start": "2026-05-01T00:00:00.000000Z", "period_end": "2026-05-02T00:00:00.000000Z",
        "received_after": None, "cutoff": "2026-05-01T07:35:00.000000Z", "adjustment": False,
        "transaction_count": 3, "amount_cents": 440, "digest": preview.json["digest"],
        "lines": [{"service": "bike", "kind": "bike_end", "transaction_count": 1, "amount_cents": 90},
                  {"service": "bus", "kind": "bus", "transaction_count": 2, "amount_cents": 350}]}
    closed = client.post("/api/v1/settlements", json=PERIOD, headers=finance)
    assert closed.status_code == 201
    assert closed.json == {"id": closed.json["id"], **preview.json, "closed_at": "2026-05-01T07:40:00.000000Z",
                           "closed_by": "finance-1"}
    auditor = bearer(token_for("auditor"))
    settlement_id = closed.json["id"]
    assert client.get(f"/api/v1/settlements/{settlement_id}", headers=auditor).json == closed.json
    assert client.get("/api/v1/settlements", headers=auditor).json == {"settlements": [closed.json]}
    assert client.get("/api/v1/settlements?operator=9", headers=auditor).json == {"settlements": []}
    verified = client.get(f"/api/v1/settlements/{settlement_id}/verify", headers=auditor).json
    assert verified == {"id": settlement_id, "digest": closed.json["digest"], "recomputed": closed.json["digest"],
                        "reproducible": True}


def test_exports(client: FlaskClient, finance: dict[str, str]) -> None:
    settlement = client.post("/api/v1/settlements", json=PERIOD, headers=finance).json
    lines = client.get(f"/api/v1/settlements/{settlement['id']}/lines.csv", headers=finance)
    assert lines.status_code == 200 and lines.mimetype == "text/csv"
    assert hashlib.sha256(lines.get_data()).hexdigest() == settlement["digest"]
    rows = list(csv.DictReader(io.StringIO(lines.get_data(as_text=True), newline="")))
    assert [(row["service"], row["kind"], row["amount_cents"]) for row in rows] == [
        ("bike", "bike_end", "90"), ("bus", "bus", "350")]
    transactions = client.get(f"/api/v1/settlements/{settlement['id']}/transactions.csv", headers=finance)
    rows = list(csv.DictReader(io.StringIO(transactions.get_data(as_text=True), newline="")))
    assert sorted((row["device_id"], row["seq"]) for row in rows) == [("1", "1"), ("1", "2"), ("2", "1")]
    assert sum(-int(row["amount_cents"]) for row in rows) == settlement["amount_cents"]


def test_late_transactions_are_settled_by_an_adjustment(app: Flask, client: FlaskClient, clock: Clock,
                                                        finance: dict[str, str]) -> None:
    first = client.post("/api/v1/settlements", json=PERIOD, headers=finance).json
    with app.app_context():
        send(database.store, 1, [tx(4, hours=5, amount=-300)])
    clock.advance(minutes=10)
    adjustment = client.post("/api/v1/settlements", json=PERIOD, headers=finance)
    assert adjustment.status_code == 201
    assert adjustment.json["adjustment"] and adjustment.json["received_after"] == first["cutoff"]
    assert (adjustment.json["transaction_count"], adjustment.json["amount_cents"]) == (1, 300)
    assert client.get(f"/api/v1/settlements/{first['id']}/verify", headers=finance).json["reproducible"]


def test_conflicts_and_bad_requests(client: FlaskClient, finance: dict[str, str]) -> None:
    client.post("/api/v1/settlements", json=PERIOD, headers=finance)
    overlapping = {**PERIOD, "period_start": "2026-05-01T12:00:00Z", "period_end": "2026-05-03T00:00:00Z"}
    for body in (overlapping, PERIOD):
        response = client.post("/api/v1/settlements", json=body, headers=finance)
        assert response.status_code == 409 and response.json["error"]["code"] == "conflict"
    assert client.post("/api/v1/settlements", json={**PERIOD, "operator_id": 8}, headers=finance).status_code == 404
    for body, field in (({**PERIOD, "cutoff": "2026-05-01T07:39:00Z"}, None),
                        ({**PERIOD, "period_end": "2026-04-30T00:00:00Z"}, None),
                        ({**PERIOD, "period_start": "noon"}, "period_start"),
                        ({**PERIOD, "cutoff": "2026-05-01T07:00:00"}, "cutoff"),
                        ({**PERIOD, "operator_id": 256}, "operator_id"),
                        ({"operator_id": 7}, "period_start"),
                        ({**PERIOD, "note": "x"}, "note")):
        response = client.post("/api/v1/settlements/preview", json=body, headers=finance)
        assert response.status_code == 400, body
        assert response.json["error"].get("field") == field


def test_closed_settlements_cannot_be_changed(client: FlaskClient, finance: dict[str, str],
                                              token_for: Callable[[str], str]) -> None:
    settlement = client.post("/api/v1/settlements", json=PERIOD, headers=finance).json
    admin = bearer(token_for("admin"))
    for method in ("put", "patch", "delete"):
        response = getattr(client, method)(f"/api/v1/settlements/{settlement['id']}", json=PERIOD, headers=admin)
        assert response.status_code == 405 and response.json["error"]["code"] == "method_not_allowed"
    assert client.get(f"/api/v1/settlements/{settlement['id']}", headers=admin).json == settlement


def test_unknown_settlements_are_404(client: FlaskClient, finance: dict[str, str]) -> None:
    for path in ("", "/verify", "/lines.csv", "/transactions.csv"):
        for settlement_id in (99, 2**64):
            assert client.get(f"/api/v1/settlements/{settlement_id}{path}", headers=finance).status_code == 404


@pytest.mark.parametrize("role", ["admin", "auditor", "operator", "card_office"])
def test_only_finance_closes(client: FlaskClient, finance: dict[str, str], token_for: Callable[[str], str],
                             role: str) -> None:
    assert client.post("/api/v1/settlements", json=PERIOD, headers=bearer(token_for(role))).status_code == 403


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("auditor", 200), ("operator", 200),
                                              ("card_office", 403), ("kiosk", 403)])
def test_who_reads(client: FlaskClient, token_for: Callable[[str], str], role: str, status: int) -> None:
    assert client.get("/api/v1/settlements", headers=bearer(token_for(role))).status_code == status
