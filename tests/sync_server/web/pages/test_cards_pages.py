"""Card search, a card's page and its actions (state, lost or stolen,
top-up at the desk), and the deny-list's block form on a registered card,
through the Flask test client (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from sync_server import audit
from sync_server.registry import applications, cards
from sync_server.registry.base import LOAD_ORDERS
from sync_server.web.extensions import database
from sync_server.web.holders import registry
from tests.sync_server.builders import DEVICE_KEY, batch, write
from tests.sync_server.web.pages.conftest import csrf_of, issue_card, new_holder, post_form

SignedIn = Callable[[str], FlaskClient]


def _card(app: Flask, number: int) -> cards.CardDetail:
    with app.app_context():
        return cards.detail(registry(), number)


def _denied(app: Flask) -> list[dict[str, object]]:
    with app.app_context():
        return list(database.store.full_list("denylist").added)


def _action(client: FlaskClient, number: int, action: str, **fields: str) -> object:
    return post_form(client, f"/staff/cards/{number}", f"/staff/cards/{number}/{action}", **fields)


def test_search_finds_cards_by_number_uid_document_and_name(app: Flask, signed_in: SignedIn) -> None:
    holder = new_holder(app, "Marta Álvarez", "X1234567")
    number = issue_card(app, holder, uid=bytes.fromhex("04A1B2C3"))
    new_holder(app, "Martín Ruiz", "Y7654321")
    client = signed_in("operator")
    by_number = client.get(f"/staff/cards?q={number}").get_data(as_text=True)
    assert re.search(rf'<a href="/staff/cards/{number}">{number}</a></td><td>card number</td>', by_number)
    assert "Marta Álvarez" in by_number
    by_uid = client.get("/staff/cards?q=04:a1:b2:c3").get_data(as_text=True)
    assert f">{number}</a></td><td>UID</td>" in by_uid
    by_document = client.get("/staff/cards?q=X1234567").get_data(as_text=True)
    assert "Marta Álvarez" in by_document and f">{number}</a> (active)" in by_document
    by_name = client.get("/staff/cards?q=mart").get_data(as_text=True)
    holders_table = by_name.split('id="holders-found"')[1]
    assert "Marta Álvarez" in holders_table and "Martín Ruiz" in holders_table and "none" in holders_table
    nothing = client.get("/staff/cards?q=zzz").get_data(as_text=True)
    assert "No card has this number or UID." in nothing and "No holder has this document id" in nothing


@pytest.mark.parametrize("query", ["q=" + "x" * 201, "q=%C2%B2", "q=99999999999999999999999", "q=%25_%5C", "q=a%00b"])
def test_odd_search_text_is_answered_with_a_page(signed_in: SignedIn, query: str) -> None:
    response = signed_in("card_office").get(f"/staff/cards?{query}")
    assert response.status_code in (200, 400)
    html = response.get_data(as_text=True)
    assert "<h1>Cards</h1>" in html
    if response.status_code == 400:
        assert "Type at most 200 characters." in html or "Use no control characters" in html


def test_the_card_page_shows_what_the_registry_knows(app: Flask, signed_in: SignedIn) -> None:
    number = issue_card(app, new_holder(app, "Marta Álvarez", "X1"))
    with app.app_context():
        store = database.store
        store.register_device(1201, DEVICE_KEY, mode="bus", operator=7, location=40)
        store.ingest([batch(1201, write(1, number, 1, 850, -150), write(2, number, 1, 850, -150))])
    html = signed_in("auditor").get(f"/staff/cards/{number}").get_data(as_text=True)
    facts = html.split('id="card-facts"')[1].split("</dl>")[0]
    assert "Marta Álvarez" in facts and "citizen / general" in facts
    assert "8.50 €, counter 1" in facts
    assert re.search(r"<td>issued</td><td>—</td><td>active</td>", html)
    assert "repeated_counter" in html.split('id="card-anomalies"')[1]
    assert 'href="/staff/anomalies"' in html
    assert html.count("<tr><td>2026-05-01") >= 2  # the two transactions
    assert 'id="state-form"' not in html  # an auditor reads only


def test_blocking_from_the_card_page_changes_the_registry_and_the_denylist(app: Flask, signed_in: SignedIn) -> None:
    number = issue_card(app, uid=bytes.fromhex("04A1B2C4"))
    client = signed_in("card_office")
    response = _action(client, number, "state", state="blocked", reason="holder asked")
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["Location"] == f"/staff/cards/{number}?done=state"  # type: ignore[attr-defined]
    html = client.get(f"/staff/cards/{number}?done=state").get_data(as_text=True)
    assert '<span class="state state-blocked" id="card-state">blocked</span>' in html
    assert "The card&#39;s state is changed" in html
    assert _card(app, number).card.state == "blocked"
    assert {"card_number": number, "uid": None, "reason": "holder asked"} in _denied(app)
    with app.app_context(), database.engine.connect() as conn:
        [record] = [entry for entry in audit.entries(conn, target=f"card:{number}") if entry.action == "card.state"]
    assert record.actor.startswith("card_office-page-") and record.details["to"] == "blocked"
    # and back: reactivated, off the deny-list
    assert _action(client, number, "state", state="active", reason="found it").status_code == 303  # type: ignore[attr-defined]
    assert _card(app, number).card.state == "active" and _denied(app) == []


@pytest.mark.parametrize(("fields", "message"), [
    ({"state": "blocked", "reason": "  "}, "Give the reason"),
    ({"state": "expired", "reason": "x"}, "Choose one of: active, suspended, blocked."),
    ({"reason": "x"}, "Choose one of"),
    ({"state": "blocked", "reason": "x" * 201}, "At most 200 characters."),
])
def test_a_bad_state_form_says_what_is_wrong(app: Flask, signed_in: SignedIn, fields: dict[str, str],
                                             message: str) -> None:
    number = issue_card(app)
    response = _action(signed_in("admin"), number, "state", **fields)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert message in response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert _card(app, number).card.state == "active"


def test_a_move_the_state_does_not_allow_is_refused_in_the_page(app: Flask, signed_in: SignedIn) -> None:
    number = issue_card(app)
    client = signed_in("card_office")
    _action(client, number, "state", state="suspended", reason="unpaid")
    response = _action(client, number, "state", state="suspended", reason="again")
    assert response.status_code == 409  # type: ignore[attr-defined]
    html = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert f"card {number} is suspended: it cannot become suspended" in html and 'class="error problem"' in html


def test_reporting_a_card_lost_blocks_it_and_applies_for_a_duplicate(app: Flask, signed_in: SignedIn) -> None:
    number = issue_card(app)
    client = signed_in("card_office")
    response = _action(client, number, "report-lost", lost_reason="stolen", duplicate="yes")
    assert response.status_code == 303  # type: ignore[attr-defined]
    location = response.headers["Location"]  # type: ignore[attr-defined]
    assert location.startswith(f"/staff/cards/{number}?done=lost&application=")
    html = client.get(location).get_data(as_text=True)
    application_id = int(location.rsplit("=", 1)[1])
    assert f'href="/staff/applications/{application_id}">#{application_id}</a> is pending' in html
    assert _card(app, number).card.state == "blocked"
    with app.app_context():
        made = applications.get(registry(), application_id)
    assert (made.kind, made.status, made.replaces_card) == ("duplicate", "pending", number)
    again = _action(client, number, "report-lost", lost_reason="lost", duplicate="yes")
    assert again.status_code == 409  # type: ignore[attr-defined]
    assert "replaces card" in again.get_data(as_text=True)  # type: ignore[attr-defined]
    assert _action(client, number, "report-lost", lost_reason="broken").status_code == 400  # type: ignore[attr-defined]


def _orders(app: Flask, number: int) -> list[tuple[int, str, str]]:
    with app.app_context(), database.engine.connect() as conn:
        return [(row.amount_cents, row.channel, row.created_by) for row in conn.execute(
            select(LOAD_ORDERS).where(LOAD_ORDERS.c.card_number == number).order_by(LOAD_ORDERS.c.id))]


def test_a_top_up_at_the_desk_is_queued_once_per_form(app: Flask, signed_in: SignedIn) -> None:
    number = issue_card(app)
    client = signed_in("card_office")
    html = client.get(f"/staff/cards/{number}").get_data(as_text=True)
    token = csrf_of(html)
    form_key = re.search(r'name="form_key" value="([^"]+)"', html)[1]  # type: ignore[index]
    data = {"csrf_token": token, "form_key": form_key, "amount": "12,5"}
    first = client.post(f"/staff/cards/{number}/top-up", data=data)
    assert first.headers["Location"] == f"/staff/cards/{number}?done=topup"
    second = client.post(f"/staff/cards/{number}/top-up", data=data)  # a double click
    assert second.headers["Location"] == f"/staff/cards/{number}?done=topup-again"
    assert _orders(app, number) == [(1250, "office", "card_office-page-1")]
    page = client.get(f"/staff/cards/{number}?done=topup").get_data(as_text=True)
    assert "The top-up is queued" in page and "12.50 €" in page.split('id="pending-loads"')[1]
    with app.app_context():
        assert database.store.list_version("loads") == 1
        with database.engine.connect() as conn:
            [record] = [entry for entry in audit.entries(conn, target=f"card:{number}")
                        if entry.action == "load.queue"]
    assert record.details["amount_cents"] == 1250 and record.details["channel"] == "office"


@pytest.mark.parametrize(("amount", "message"), [("", "Give the amount paid"), ("abc", "Give an amount in euros"),
                                                 ("0", "from 0.01 to 250.00"), ("250.01", "from 0.01 to 250.00"),
                                                 ("1.234", "Give an amount"), ("-5", "Give an amount")])
def test_a_bad_top_up_amount_is_explained(app: Flask, signed_in: SignedIn, amount: str, message: str) -> None:
    number = issue_card(app)
    client = signed_in("admin")
    html = client.get(f"/staff/cards/{number}").get_data(as_text=True)
    form_key = re.search(r'name="form_key" value="([^"]+)"', html)[1]  # type: ignore[index]
    response = client.post(f"/staff/cards/{number}/top-up",
                           data={"csrf_token": csrf_of(html), "form_key": form_key, "amount": amount})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _orders(app, number) == []


def test_a_top_up_without_its_form_key_or_for_a_blocked_card_is_refused(app: Flask, signed_in: SignedIn) -> None:
    number = issue_card(app)
    client = signed_in("card_office")
    missing = _action(client, number, "top-up", amount="5", form_key="")
    assert missing.status_code == 400  # type: ignore[attr-defined]
    assert "The form has expired" in missing.get_data(as_text=True)  # type: ignore[attr-defined]
    _action(client, number, "state", state="blocked", reason="lost")
    blocked = _action(client, number, "top-up", amount="5", form_key="k1")
    assert blocked.status_code == 409  # type: ignore[attr-defined]
    assert "a top-up would never be collected" in blocked.get_data(as_text=True)  # type: ignore[attr-defined]
    assert _orders(app, number) == []


def test_a_top_up_without_issuer_keys_is_a_clear_page(app: Flask, signed_in: SignedIn) -> None:
    number = issue_card(app)
    app.config["ISSUER_KEYS"] = None
    response = _action(signed_in("card_office"), number, "top-up", amount="5", form_key="k1")
    assert response.status_code == 503  # type: ignore[attr-defined]
    assert "no issuer keys configured" in response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert _orders(app, number) == []


@pytest.mark.parametrize("action", ["state", "report-lost", "top-up"])
def test_card_actions_are_for_the_card_office_and_need_the_csrf_token(app: Flask, client_as: SignedIn,
                                                                      action: str) -> None:
    number = issue_card(app)
    fields = {"state": "blocked", "reason": "x", "lost_reason": "lost", "amount": "5", "form_key": "k1"}
    operator = client_as("operator")
    page = operator.get(f"/staff/cards/{number}")
    assert page.status_code == 200 and f'action="/staff/cards/{number}/{action}"' not in page.get_data(as_text=True)
    refused = operator.post(f"/staff/cards/{number}/{action}",
                            data={"csrf_token": csrf_of(page.get_data(as_text=True)), **fields})
    assert refused.status_code == 403
    office = client_as("card_office")
    assert office.post(f"/staff/cards/{number}/{action}", data=fields).status_code == 403  # no token
    assert _card(app, number).card.state == "active" and _orders(app, number) == []


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/staff/cards/18446744073709551616", 404, "card numbers are at most"),
    ("/staff/cards/12345", 404, "the registry holds no card 12345"),
])
def test_a_card_that_is_not_there_is_a_404_page(signed_in: SignedIn, path: str, status: int, message: str) -> None:
    response = signed_in("card_office").get(path)
    assert response.status_code == status and message in response.get_data(as_text=True)


def test_the_cards_pages_refuse_other_roles(client_as: SignedIn) -> None:
    for role in ("technician", "finance", "issuance_point"):
        assert client_as(role).get("/staff/cards").status_code == 403


def test_the_denylist_form_blocks_a_registered_card_in_the_registry(app: Flask, signed_in: SignedIn) -> None:
    number = issue_card(app, uid=bytes.fromhex("04A1B2C5"))
    other = issue_card(app, uid=bytes.fromhex("04A1B2C6"))
    client = signed_in("card_office")
    response = post_form(client, "/staff/denylist", "/staff/denylist", card_number=str(number), reason="lost")
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert _card(app, number).card.state == "blocked"
    assert {"card_number": number, "uid": None, "reason": "lost"} in _denied(app)
    assert {"card_number": None, "uid": "04a1b2c5", "reason": "lost"} in _denied(app)
    mixed = post_form(client, "/staff/denylist", "/staff/denylist", card_number=str(number), uid="04A1B2C6",
                      reason="lost")
    assert mixed.status_code == 400  # type: ignore[attr-defined]
    assert "block each card by its own keys" in mixed.get_data(as_text=True)  # type: ignore[attr-defined]
    assert _card(app, other).card.state == "active"
