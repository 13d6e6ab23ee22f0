"""GET /api/v1/transactions (cursor pages) and /transactions.csv through the
Flask test client, with real tokens of each role."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sync_server.transactions import CSV_COLUMNS
from sync_server.web.extensions import database
from tests.sync_server.ledger import register, send, tx
from tests.sync_server.web.conftest import bearer

BIG_CARD = 2**64 - 2


@pytest.fixture
def finance(app: Flask, token_for: Callable[[str], str]) -> dict[str, str]:
    with app.app_context():
        store = database.store
        register(store, {1: ("bus", 7), 2: ("bike", 8)})
        send(store, 1, [tx(seq, hours=seq, card=BIG_CARD if seq == 3 else 1000 + seq) for seq in range(1, 8)])
        send(store, 2, [tx(1, kind="bike_start", amount=0, hours=2), tx(2, kind="bike_end", amount=-90, hours=3)])
    return bearer(token_for("finance"))


def _pull(client: FlaskClient, headers: dict[str, str], query: str) -> list[dict]:
    rows: list[dict] = []
    cursor = None
    while True:
        response = client.get(f"/api/v1/transactions?{query}" + (f"&cursor={cursor}" if cursor else ""),
                              headers=headers)
        assert response.status_code == 200, response.json
        rows += response.json["transactions"]
        cursor = response.json["next_cursor"]
        if cursor is None:
            return rows


def test_pages_through_every_transaction(client: FlaskClient, finance: dict[str, str]) -> None:
    rows = _pull(client, finance, "limit=2")
    assert len(rows) == 9 and [row["id"] for row in rows] == sorted({row["id"] for row in rows})
    assert _pull(client, finance, "limit=1000") == rows
    big = next(row for row in rows if row["card_number"] == BIG_CARD)
    assert (big["service"], big["operator"], big["uid"], big["created_at"]) == (
        "bus", 7, "04a1b2c3", "2026-05-01T03:00:00+00:00")


def test_a_resume_cursor_picks_up_later_rows(app: Flask, client: FlaskClient, finance: dict[str, str]) -> None:
    body = client.get("/api/v1/transactions?limit=1000", headers=finance).json
    assert body["next_cursor"] is None
    with app.app_context():
        send(database.store, 2, [tx(3, hours=1)])
    later = client.get(f"/api/v1/transactions?cursor={body['resume_cursor']}", headers=finance).json
    assert [(row["device_id"], row["seq"]) for row in later["transactions"]] == [(2, 3)]


@pytest.mark.parametrize(("query", "expected"), [
    ("service=bike", 2), ("operator=7", 7), ("device=2", 2), (f"card={BIG_CARD}", 1),
    ("from=2026-05-01T02:00:00Z&to=2026-05-01T04:00:00%2B00:00", 4), ("to=2026-05-01", 0), ("from=2026-05-02", 0),
    ("service=bus&card=1001", 1),
])
def test_filters(client: FlaskClient, finance: dict[str, str], query: str, expected: int) -> None:
    assert len(_pull(client, finance, query)) == expected


@pytest.mark.parametrize(("query", "field"), [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("cursor=nonsense", "cursor"),
    ("cursor=", "cursor"), ("from=yesterday", "from"), ("to=2026-05-01T00:00:00", "to"), ("card=-1", "card"),
    (f"card={2**64}", "card"), ("service=", "service"), ("service=" + "x" * 17, "service"), ("device=1.5", "device"),
])
def test_bad_parameters_are_400_naming_them(client: FlaskClient, finance: dict[str, str], query: str,
                                            field: str) -> None:
    for path in ("/api/v1/transactions", "/api/v1/transactions.csv"):
        if path.endswith("csv") and field in ("limit", "cursor"):
            continue
        response = client.get(f"{path}?{query}", headers=finance)
        assert response.status_code == 400, (path, query)
        assert response.json["error"]["field"] == field


def test_csv_export(client: FlaskClient, finance: dict[str, str]) -> None:
    response = client.get("/api/v1/transactions.csv?service=bus", headers=finance)
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and "charset=utf-8" in response.headers["Content-Type"]
    assert 'filename="transactions.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert list(rows[0]) == list(CSV_COLUMNS) and len(rows) == 7
    assert [row["card_number"] for row in rows if row["seq"] == "3"] == [str(BIG_CARD)]
    pulled = _pull(client, finance, "service=bus")
    assert [row["id"] for row in rows] == [str(row["id"]) for row in pulled]


@pytest.mark.parametrize("role", ["admin", "finance", "auditor", "operator"])
def test_roles_that_may_pull(client: FlaskClient, token_for: Callable[[str], str], role: str) -> None:
    for path in ("/api/v1/transactions", "/api/v1/transactions.csv"):
        assert client.get(path, headers=bearer(token_for(role))).status_code == 200


@pytest.mark.parametrize("role", ["card_office", "technician", "kiosk", "issuance_point"])
def test_other_roles_may_not(client: FlaskClient, token_for: Callable[[str], str], role: str) -> None:
    for path in ("/api/v1/transactions", "/api/v1/transactions.csv"):
        assert client.get(path, headers=bearer(token_for(role))).status_code == 403
        assert client.get(path).status_code == 401
