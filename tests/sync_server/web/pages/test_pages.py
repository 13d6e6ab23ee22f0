"""The staff pages' content through the Flask test client (SQLite and
PostgreSQL): devices, deny-list and its block form, anomalies, dashboard."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from device.protocol.messages import Status
from sync_server import audit
from sync_server.db.models import Anomaly
from sync_server.web.extensions import database
from tests.sync_server.builders import DEVICE_KEY, batch, entry, read, write
from tests.sync_server.conftest import START
from tests.sync_server.web.pages.conftest import csrf_of

DAY = "2026-05-01T{}:00.000000+00:00"  # the clock's day (tests/sync_server/conftest.py START)


def _block(client: FlaskClient, **fields: str) -> object:
    page = client.get("/staff/denylist")
    return client.post("/staff/denylist", data={"csrf_token": csrf_of(page.get_data(as_text=True)), **fields})


def _denied(app: Flask) -> list[dict[str, object]]:
    with app.app_context():
        return list(database.store.full_list("denylist").added)


def test_blocking_by_number_lists_the_card_and_audits_it(app: Flask,
                                                         signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("card_office")
    response = _block(client, card_number="18446744073709551615", reason="lost")
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["Location"] == "/staff/denylist?blocked=1"  # type: ignore[attr-defined]
    html = client.get("/staff/denylist?blocked=1").get_data(as_text=True)
    assert "deny-list version 1 holds the block" in html
    assert re.search(r"<td>18446744073709551615</td>.*?<td>lost</td>", html, re.S)
    assert _denied(app) == [{"card_number": 2**64 - 1, "uid": None, "reason": "lost"}]
    with app.app_context(), database.engine.connect() as conn:
        [record] = audit.entries(conn, target="card:18446744073709551615")
    assert (record.actor, record.role, record.action) == ("card_office-page-1", "card_office", "card.block")
    assert record.details["reason"] == "lost" and record.details["denylist_version"] == 1


def test_blocking_by_uid_and_number_makes_one_version(app: Flask, signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("admin")
    response = _block(client, card_number="42", uid="04:a1:b2:c3:d4:e5:f6", reason="stolen")
    assert response.headers["Location"] == "/staff/denylist?blocked=1"  # type: ignore[attr-defined]
    html = client.get("/staff/denylist").get_data(as_text=True)
    assert "04A1B2C3D4E5F6" in html and "<td>42</td>" in html and "2 entries" in html
    assert sorted(_denied(app), key=str) == [{"card_number": 42, "uid": None, "reason": "stolen"},
                                             {"card_number": None, "uid": "04a1b2c3d4e5f6", "reason": "stolen"}]
    with app.app_context():
        assert database.store.list_version("denylist") == 1


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"reason": "lost"}, "card_number", "Give the card number, the UID or both."),
    ({"card_number": "12x", "reason": "lost"}, "card_number", "A card number is a whole number"),
    ({"card_number": "18446744073709551616", "reason": "lost"}, "card_number", "A card number is a whole number"),
    ({"uid": "04a1b2", "reason": "lost"}, "uid", "A UID is 4 or 7 bytes"),
    ({"uid": "zzzzzzzz", "reason": "lost"}, "uid", "A UID is 4 or 7 bytes"),
    ({"card_number": "7", "reason": "  "}, "reason", "Give the reason"),
    ({"card_number": "7", "reason": "x" * 201}, "reason", "at most 200 characters"),
    ({"card_number": "7", "reason": "lo\x00st"}, "reason", "Use no control characters"),
    ({"card_number": "１２", "reason": "lost"}, "card_number", "A card number is a whole number"),
])
def test_a_bad_block_form_is_shown_again_with_what_is_wrong(app: Flask, signed_in: Callable[[str], FlaskClient],
                                                            fields: dict[str, str], field: str,
                                                            message: str) -> None:
    response = _block(signed_in("card_office"), **fields)
    assert response.status_code == 400  # type: ignore[attr-defined]
    html = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert message in html
    assert _denied(app) == []


def test_the_denylist_page_escapes_what_it_shows(signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("admin")
    _block(client, card_number="9", reason="<script>alert(1)</script>")
    html = client.get("/staff/denylist").get_data(as_text=True)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_devices_page_shows_status_versions_and_lag(app: Flask,
                                                        signed_in: Callable[[str], FlaskClient]) -> None:
    with app.app_context():
        store = database.store
        store.register_device(7, DEVICE_KEY, mode="bus", operator=1, location=3)
        store.register_device(8, bytes(32), mode="bike", operator=2, location=4)
        store.block(card_number=1, reason="lost")
        store.block(card_number=2, reason="lost")
        store.record_status(Status(device_id=7, online=True, sent_at=DAY.format("07:29"),
                                   list_versions={"denylist": 1, "loads": 0}, backlog=12, last_seq=345))
    html = signed_in("technician").get("/staff/devices").get_data(as_text=True)
    rows = re.findall(r"<tr[^>]*>\s*<td>(\d+)</td>(.*?)</tr>", html, re.S)
    assert [device for device, _ in rows] == ["7", "8"]
    seven, eight = rows[0][1], rows[1][1]
    assert '<td class="num">12</td>' in seven and '<td class="num">345</td>' in seven
    assert 'v1 <span class="lag">(1)</span>' in seven and 'v0 <span class="ok">(0)</span>' in seven
    assert "never" in eight
    assert "2 devices · 12 journal entries not acknowledged yet · 1 behind on a list" in html


def test_the_anomalies_page_lists_open_ones_first(app: Flask, signed_in: Callable[[str], FlaskClient]) -> None:
    with app.app_context():
        store = database.store
        store.register_device(7, DEVICE_KEY, mode="bus", operator=1, location=3)
        # Two writes leaving card 500 at counter 5, twice: both flagged (repeated_counter); then card 600 too.
        store.ingest([batch(7, write(1, 500, 4, 1000), write(2, 500, 5, 850), write(3, 500, 5, 850))])
        store.ingest([batch(7, write(4, 600, 5, 1000), write(5, 600, 5, 1000))])
        anomalies = Anomaly.__table__
        with database.engine.begin() as conn:
            first = conn.execute(anomalies.select().order_by(anomalies.c.id)).first()
            conn.execute(update(anomalies).where(anomalies.c.id == first.id)
                         .values(status="dismissed", reviewed_by="ann", reviewed_at=START, review_note="a test card"))
    html = signed_in("auditor").get("/staff/anomalies").get_data(as_text=True)
    statuses = re.findall(r'<tr class="status-(\w+)">', html)
    assert statuses == ["open", "open", "open", "dismissed"]
    assert "3 open · 0 confirmed · 1 dismissed" in html
    assert "ann, 2026-05-01 07:30:00 UTC: a test card" in html


def test_the_dashboard_shows_the_figures_and_charts(app: Flask, signed_in: Callable[[str], FlaskClient]) -> None:
    with app.app_context():
        store = database.store
        store.register_device(7, DEVICE_KEY, mode="bus", operator=1, location=3)
        store.ingest([batch(7, write(1, 500, 4, 1000, amount=-150), write(2, 501, 9, 700, amount=-250),
                            read(3, 502, 2, 0),
                            entry(4, kind="load", card=500, before=4, after=5, amount=2000, balance=3000))])
    response = signed_in("finance").get("/staff/dashboard")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    kpis = html.split('id="kpis"')[1].split("</div>\n</div>")[0]
    assert '<span class="value">2</span><span class="label">uses</span>' in kpis
    assert "4.00 €</span><span class=\"label\">revenue" in kpis
    assert "top-ups, 20.00 €" in kpis
    assert html.count('<figure class="chart">') == 5 and html.count("<svg") == 5
    assert "2026-05-01 bus: 2</title>" in html
    assert "blocked: 1</title>" in html


@pytest.mark.parametrize(("query", "message"), [("from=2026-13-01", "Dates are written YYYY-MM-DD."),
                                                ("from=2026-05-02&to=2026-05-01", "cannot be before"),
                                                ("from=2024-01-01&to=2026-01-01", "at most 366 days")])
def test_a_bad_dashboard_period_is_said_and_the_default_shown(signed_in: Callable[[str], FlaskClient], query: str,
                                                              message: str) -> None:
    response = signed_in("admin").get(f"/staff/dashboard?{query}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html and 'name="from" value="2026-04-02"' in html and html.count("<svg") == 5


def test_the_dashboard_period_can_be_chosen(signed_in: Callable[[str], FlaskClient]) -> None:
    html = signed_in("admin").get("/staff/dashboard?from=2026-03-01&to=2026-03-31").get_data(as_text=True)
    assert "2026-03-01 to 2026-03-31" in html and "No data in this period" in html
