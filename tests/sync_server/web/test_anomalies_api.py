"""Anomalies through the API: listed with filters and a cursor, reviewed once
by the roles that may. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sync_server.web.extensions import database
from tests.sync_server.builders import DEVICE_KEY, batch, write
from tests.sync_server.web.conftest import bearer

TokenFor = Callable[[str], str]
CARD = 7_000_000_001


@pytest.fixture
def flagged(app: Flask) -> int:
    """Four anomalies: two cards, each written at one counter by two buses."""
    with app.app_context():
        store = database.store
        for device_id in (1, 2):
            store.register_device(device_id, DEVICE_KEY, mode="bus", operator=7, location=40)
        for card in (CARD, CARD + 1):
            store.ingest([batch(1, write(card - CARD + 1, card, 1, 850)),
                          batch(2, write(card - CARD + 1, card, 1, 850))])
        return len(store.anomalies())


def test_anomalies_are_listed_page_by_page(client: FlaskClient, flagged: int, token_for: TokenFor) -> None:
    assert flagged == 4
    headers = bearer(token_for("auditor"))
    seen, cursor = [], None
    while True:
        query = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/anomalies", query_string=query, headers=headers).json
        seen += page["anomalies"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 4 and len({a["id"] for a in seen}) == 4
    assert {a["kind"] for a in seen} == {"repeated_counter"} and {a["status"] for a in seen} == {"open"}
    only = client.get("/api/v1/anomalies", query_string={"card": CARD + 1}, headers=headers).json["anomalies"]
    assert {a["card_number"] for a in only} == {CARD + 1} and len(only) == 2


def test_a_review_closes_an_anomaly_and_is_refused_twice(client: FlaskClient, flagged: int,
                                                         token_for: TokenFor) -> None:
    headers = bearer(token_for("card_office"))
    first = client.get("/api/v1/anomalies", headers=headers).json["anomalies"][0]
    url = f"/api/v1/anomalies/{first['id']}/review"
    reviewed = client.post(url, json={"outcome": "dismissed", "note": "duplicate upload"}, headers=headers)
    assert reviewed.status_code == 200
    assert reviewed.json["anomaly"]["status"] == "dismissed"
    assert reviewed.json["anomaly"]["reviewed_by"].startswith("card_office-")
    again = client.post(url, json={"outcome": "confirmed", "note": "x"}, headers=headers)
    assert again.status_code == 409
    open_ones = client.get("/api/v1/anomalies", query_string={"status": "open"}, headers=headers).json
    assert first["id"] not in {a["id"] for a in open_ones["anomalies"]}


@pytest.mark.parametrize(("query", "field"), [({"status": "closed"}, "status"), ({"card": "-1"}, "card"),
                                              ({"limit": "0"}, "limit"), ({"cursor": "nope"}, "cursor")])
def test_bad_filters_name_the_parameter(client: FlaskClient, token_for: TokenFor, query: dict, field: str) -> None:
    response = client.get("/api/v1/anomalies", query_string=query, headers=bearer(token_for("auditor")))
    assert response.status_code == 400 and response.json["error"]["field"] == field


@pytest.mark.parametrize(("body", "status"), [({"outcome": "dismissed"}, 400), ({"outcome": "open", "note": "x"}, 400),
                                              ({"outcome": "dismissed", "note": ""}, 400)])
def test_bad_reviews_are_refused(client: FlaskClient, flagged: int, token_for: TokenFor, body: dict,
                                 status: int) -> None:
    headers = bearer(token_for("admin"))
    first = client.get("/api/v1/anomalies", headers=headers).json["anomalies"][0]
    assert client.post(f"/api/v1/anomalies/{first['id']}/review", json=body, headers=headers).status_code == status


def test_unknown_anomalies_and_roles(client: FlaskClient, flagged: int, token_for: TokenFor) -> None:
    body = {"outcome": "dismissed", "note": "x"}
    assert client.post("/api/v1/anomalies/999999/review", json=body,
                       headers=bearer(token_for("admin"))).status_code == 404
    assert client.post("/api/v1/anomalies/1/review", json=body,
                       headers=bearer(token_for("auditor"))).status_code == 403
    assert client.get("/api/v1/anomalies", headers=bearer(token_for("kiosk"))).status_code == 403
