"""The transactions page: filters, pages, and the CSV download (the same
bytes as the API's export), through the Flask test client (SQLite and
PostgreSQL)."""

from __future__ import annotations

import csv
import html as html_text
import io
import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from sync_server.web.pages import transactions as transaction_pages
from tests.sync_server.web.conftest import bearer

SignedIn = Callable[[str], FlaskClient]

pytestmark = pytest.mark.usefixtures("synced")


def _rows(html: str) -> list[tuple[str, str, str]]:
    """(service, operator, device / seq) of each row of the page."""
    table = html.split('id="transactions"')[1].split("</table>")[0] if 'id="transactions"' in html else ""
    return re.findall(r"<tr><td>\d+</td><td>[^<]+</td><td>(\w+)</td><td>(\d+)</td><td>(\d+ / \d+)</td>", table)


@pytest.mark.parametrize(("query", "rows"), [
    ("", [("bus", "7", "1 / 1"), ("bus", "7", "1 / 2"), ("bus", "7", "1 / 3"), ("bike", "7", "2 / 1"),
          ("bus", "9", "3 / 1")]),
    ("service=bike", [("bike", "7", "2 / 1")]),
    ("operator=9", [("bus", "9", "3 / 1")]),
    ("device=1&from=2026-05-01T01:30", [("bus", "7", "1 / 2"), ("bus", "7", "1 / 3")]),
    ("from=2026-05-01&to=2026-05-01+02:00", [("bus", "7", "1 / 1")]),
    ("card=1002", [("bike", "7", "2 / 1")]),
    ("service=ev", []),
])
def test_the_filters_choose_the_transactions(signed_in: SignedIn, query: str,
                                             rows: list[tuple[str, str, str]]) -> None:
    response = signed_in("operator").get(f"/staff/transactions?{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert _rows(html) == rows
    if not rows:
        assert "No transaction matches." in html


def test_the_pages_follow_one_another(signed_in: SignedIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transaction_pages, "PAGE_SIZE", 2)
    client = signed_in("finance")
    seen = []
    path = "/staff/transactions?operator=7"
    while True:
        html = client.get(path).get_data(as_text=True)
        seen.extend(_rows(html))
        link = re.search(r'<a id="next-page" href="([^"]+)"', html)
        if link is None:
            break
        path = html_text.unescape(link[1])
        assert "operator=7" in path and "cursor=" in path
    assert seen == [("bus", "7", "1 / 1"), ("bus", "7", "1 / 2"), ("bus", "7", "1 / 3"), ("bike", "7", "2 / 1")]


@pytest.mark.parametrize(("query", "message"), [
    ("from=yesterday", "Write a date as YYYY-MM-DD"),
    ("from=2026-05-02&to=2026-05-01", "The end must be after the start."),
    ("operator=abc", "Give an operator number from 0 to"),
    ("device=-1", "Give a device id from 0 to"),
    ("card=18446744073709551616", "Give a card number, a whole number from 0 to 18446744073709551615."),
    ("service=" + "x" * 40, "At most"),
    ("service=a%00b", "Use no control characters"),
    ("cursor=bm90IG91cnM", "This page link is not one of this server"),
])
def test_bad_filters_are_explained(signed_in: SignedIn, query: str, message: str) -> None:
    client = signed_in("auditor")
    for path in ("/staff/transactions", "/staff/transactions.csv"):
        if path.endswith(".csv") and query.startswith("cursor"):
            continue
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, path
        assert response.mimetype == "text/html" and message in response.get_data(as_text=True)


def test_the_csv_link_downloads_the_filtered_transactions_as_the_api_does(
        signed_in: SignedIn, token_for: Callable[[str], str]) -> None:
    client = signed_in("finance")
    html = client.get("/staff/transactions?service=bus&operator=7").get_data(as_text=True)
    link = html_text.unescape(re.search(r'<a id="csv-link" href="([^"]+)"', html)[1])  # type: ignore[index]
    assert link == "/staff/transactions.csv?service=bus&operator=7"
    download = client.get(link)
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert download.headers["Content-Disposition"] == 'attachment; filename="transactions.csv"'
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True), newline="")))
    assert [(row["device_id"], row["seq"], row["service"]) for row in rows] == [("1", "1", "bus"), ("1", "2", "bus"),
                                                                               ("1", "3", "bus")]
    api = client.get("/api/v1/transactions.csv?service=bus&operator=7", headers=bearer(token_for("finance")))
    assert download.get_data() == api.get_data()


def test_the_transactions_pages_refuse_other_roles(client_as: SignedIn) -> None:
    for role in ("card_office", "technician"):
        client = client_as(role)
        assert client.get("/staff/transactions").status_code == 403
        assert client.get("/staff/transactions.csv").status_code == 403
