"""The settlements pages: preview, close (finance), a settlement with its
lines, its verification and CSV downloads, through the Flask test client
(SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sync_server import audit
from sync_server.audit import Actor
from sync_server.settlement import Settlements
from sync_server.web.extensions import database
from tests.sync_server.conftest import Clock
from tests.sync_server.web.pages.conftest import csrf_of

SignedIn = Callable[[str], FlaskClient]
PERIOD = "operator=7&start=2026-05-01&end=2026-05-02"
FORM = {"operator": "7", "start": "2026-05-01", "end": "2026-05-02", "cutoff": ""}

pytestmark = pytest.mark.usefixtures("synced")


def _closed(app: Flask, clock: Clock) -> list[int]:
    with app.app_context():
        return [item.id for item in Settlements(database.engine, clock).closed()]


def test_a_preview_shows_the_lines_and_finance_closes_it(app: Flask, clock: Clock, client_as: SignedIn) -> None:
    auditor = client_as("auditor")
    assert "No settlement is closed." in auditor.get("/staff/settlements").get_data(as_text=True)
    preview = auditor.get(f"/staff/settlements/preview?{PERIOD}").get_data(as_text=True)
    assert '<p id="draft-total">3 transactions · owed 4.40 €</p>' in preview
    assert re.search(r"<td>bike</td><td>bike_end</td><td class=\"num\">1</td><td class=\"num\">0.90 €</td>", preview)
    assert 'id="close-form"' not in preview  # an auditor previews only
    finance = client_as("finance")
    page = finance.get(f"/staff/settlements/preview?{PERIOD}").get_data(as_text=True)
    assert 'id="close-form"' in page and '<input type="hidden" name="start" value="2026-05-01">' in page
    response = finance.post("/staff/settlements", data={"csrf_token": csrf_of(page), **FORM})
    assert response.status_code == 303
    [settlement_id] = _closed(app, clock)
    assert response.headers["Location"] == f"/staff/settlements/{settlement_id}?closed=1"
    html = finance.get(response.headers["Location"]).get_data(as_text=True)
    assert "Closed. A closed settlement never changes" in html
    assert "3 transactions · owed 4.40 €" in html and "Buses and bikes" in html
    listed = auditor.get("/staff/settlements").get_data(as_text=True)
    assert f'<a href="/staff/settlements/{settlement_id}">{settlement_id}</a>' in listed
    assert "No settlement is closed for this operator." in auditor.get("/staff/settlements?operator=9").get_data(
        as_text=True)
    with app.app_context(), database.engine.connect() as conn:
        [record] = audit.entries(conn, target=f"settlement:{settlement_id}")
    assert record.action == "settlement.close" and record.role == "finance"


def test_a_settlement_is_verified_and_downloaded(app: Flask, clock: Clock, signed_in: SignedIn) -> None:
    with app.app_context():
        closed = Settlements(database.engine, clock).close(Actor("fin", "finance"), 7, dt.datetime(2026, 5, 1,
                                                           tzinfo=dt.UTC), dt.datetime(2026, 5, 2, tzinfo=dt.UTC))
    client = signed_in("operator")
    verified = client.get(f"/staff/settlements/{closed.id}?verify=1").get_data(as_text=True)
    assert "Verified: recomputed from the transactions, the digest is the same." in verified
    lines = client.get(f"/staff/settlements/{closed.id}/lines.csv")
    assert lines.mimetype == "text/csv" and hashlib.sha256(lines.get_data()).hexdigest() == closed.digest
    assert closed.digest in verified
    transactions = client.get(f"/staff/settlements/{closed.id}/transactions.csv")
    rows = list(csv.DictReader(io.StringIO(transactions.get_data(as_text=True), newline="")))
    assert sorted((row["device_id"], row["seq"]) for row in rows) == [("1", "1"), ("1", "2"), ("2", "1")]


@pytest.mark.parametrize(("query", "status", "message"), [
    ("start=2026-05-01&end=2026-05-02", 400, "Choose the operator."),
    ("operator=7&end=2026-05-02", 400, "Give the period&#39;s first and last moments"),
    ("operator=7&start=2026-05-02&end=2026-05-01", 400, "The end must be after the start."),
    ("operator=7&start=1%2F5%2F2026&end=2026-05-02", 400, "Write a date as YYYY-MM-DD"),
    ("operator=300&start=2026-05-01&end=2026-05-02", 400, "Give an operator number from 0 to 255."),
    ("operator=5&start=2026-05-01&end=2026-05-02", 400, "no operator 5"),
    (PERIOD + "&cutoff=2026-05-01+07:39", 400, "the cut-off must be at least 300 s in the past"),
])
def test_a_bad_preview_is_explained(signed_in: SignedIn, query: str, status: int, message: str) -> None:
    response = signed_in("finance").get(f"/staff/settlements/preview?{query}")
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert message in html and 'id="preview-form"' in html and 'id="draft"' not in html


def test_an_overlapping_close_is_refused_in_the_page(app: Flask, clock: Clock, signed_in: SignedIn) -> None:
    client = signed_in("finance")
    page = client.get("/staff/settlements").get_data(as_text=True)
    assert client.post("/staff/settlements", data={"csrf_token": csrf_of(page), **FORM}).status_code == 303
    overlapping = {**FORM, "start": "2026-05-01 12:00", "end": "2026-05-03"}
    response = client.post("/staff/settlements", data={"csrf_token": csrf_of(page), **overlapping})
    assert response.status_code == 409
    assert "has a settlement of a period overlapping" in response.get_data(as_text=True)
    assert len(_closed(app, clock)) == 1


def test_closing_is_for_finance_with_the_csrf_token(app: Flask, clock: Clock, client_as: SignedIn) -> None:
    admin = client_as("admin")
    page = admin.get("/staff/settlements").get_data(as_text=True)
    assert admin.post("/staff/settlements", data={"csrf_token": csrf_of(page), **FORM}).status_code == 403
    assert client_as("finance").post("/staff/settlements", data=FORM).status_code == 403
    assert client_as("card_office").get("/staff/settlements").status_code == 403
    assert _closed(app, clock) == []


@pytest.mark.parametrize("path", ["/staff/settlements/77", "/staff/settlements/9223372036854775808",
                                  "/staff/settlements/77/lines.csv", "/staff/settlements/77/transactions.csv"])
def test_a_settlement_that_is_not_there_is_a_404_page(signed_in: SignedIn, path: str) -> None:
    response = signed_in("auditor").get(path)
    assert response.status_code == 404 and response.mimetype == "text/html"
