"""GET /api/v1/reports/kpis through the API."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sync_server.web.extensions import database
from tests.sync_server.ledger import register, send, tx
from tests.sync_server.web.conftest import bearer


def test_key_figures(app: Flask, client: FlaskClient, token_for: Callable[[str], str]) -> None:
    with app.app_context():
        register(database.store, {1: ("bus", 7)})
        send(database.store, 1, [tx(1, hours=1), tx(2, hours=30, amount=-200),
                                 tx(3, kind="load", amount=500, hours=2),
                                 tx(4, kind="denied", amount=0, decision="denied", reason="expired")])
    response = client.get("/api/v1/reports/kpis?from=2026-05-01&to=2026-05-03", headers=bearer(token_for("finance")))
    assert response.status_code == 200
    assert response.json == {
        "from": "2026-05-01", "to": "2026-05-03",
        "uses": [{"day": "2026-05-01", "service": "bus", "count": 1},
                 {"day": "2026-05-02", "service": "bus", "count": 1}],
        "revenue": [{"day": "2026-05-01", "service": "bus", "cents": 150},
                    {"day": "2026-05-02", "service": "bus", "cents": 200}],
        "top_ups": [{"day": "2026-05-01", "count": 1, "cents": 500}],
        "active_cards": 1,
        "cards_by_state": {"active": 0, "blocked": 0, "suspended": 0, "expired": 0, "replaced": 0},
        "denials_by_reason": {"expired": 1},
        "totals": {"transactions": 4, "uses": 2, "revenue_cents": 350, "top_ups": 1, "top_up_cents": 500,
                   "denials": 1},
    }


@pytest.mark.parametrize(("query", "field"), [
    ("", "from"), ("from=2026-05-01", "to"), ("from=2026-5-1&to=2026-05-02", "from"),
    ("from=2026-05-02&to=2026-05-02", "to"), ("from=2026-05-01&to=2040-01-01", "to"),
    ("from=2026-05-01&to=2026-02-30", "to"),
])
def test_bad_periods_are_400(client: FlaskClient, token_for: Callable[[str], str], query: str, field: str) -> None:
    response = client.get(f"/api/v1/reports/kpis?{query}", headers=bearer(token_for("auditor")))
    assert response.status_code == 400 and response.json["error"]["field"] == field


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("finance", 200), ("auditor", 200), ("operator", 200),
                                              ("card_office", 403), ("technician", 403)])
def test_roles(client: FlaskClient, token_for: Callable[[str], str], role: str, status: int) -> None:
    response = client.get("/api/v1/reports/kpis?from=2026-05-01&to=2026-05-02", headers=bearer(token_for(role)))
    assert response.status_code == status
