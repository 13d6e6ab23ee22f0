"""The applications queue, an application's review, and the forms to apply
for a card and to register a holder, through the Flask test client (SQLite
and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sync_server import audit
from sync_server.registry import applications, holders
from sync_server.web.extensions import database
from sync_server.web.holders import registry
from sync_server.web.pages import applications as application_pages
from tests.sync_server.web.pages.conftest import OFFICE, csrf_of, issue_card, new_holder, post_form

SignedIn = Callable[[str], FlaskClient]


def _submit(app: Flask, holder_id: int | None = None, kind: str = "new") -> int:
    with app.app_context():
        return applications.submit(registry(), OFFICE, kind=kind, holder_id=holder_id).id


def _status(app: Flask, application_id: int) -> applications.Application:
    with app.app_context():
        return applications.get(registry(), application_id)


def _queue_ids(html: str) -> list[tuple[int, str]]:
    return [(int(number), status) for status, number in
            re.findall(r'<tr class="status-(\w+)"><td><a href="/staff/applications/\d+">(\d+)</a>', html)]


def test_the_queue_lists_pending_first_oldest_first_and_filters(app: Flask, signed_in: SignedIn) -> None:
    holder = new_holder(app, "Marta Álvarez")
    first, second, third = (_submit(app, holder) for _ in range(3))
    with app.app_context():
        applications.reject(registry(), OFFICE, first, "no photo")
    client = signed_in("card_office")
    html = client.get("/staff/applications").get_data(as_text=True)
    assert _queue_ids(html) == [(second, "pending"), (third, "pending"), (first, "rejected")]
    assert "Marta Álvarez" in html
    assert _queue_ids(client.get("/staff/applications?status=rejected").get_data(as_text=True)) == [
        (first, "rejected")]
    bad = client.get("/staff/applications?status=lost")
    assert bad.status_code == 400 and "Choose one of: pending, approved" in bad.get_data(as_text=True)


def test_the_queue_is_paged(app: Flask, signed_in: SignedIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(application_pages, "PAGE_SIZE", 2)
    holder = new_holder(app)
    made = [_submit(app, holder) for _ in range(3)]
    client = signed_in("auditor")
    first = client.get("/staff/applications").get_data(as_text=True)
    assert [number for number, _ in _queue_ids(first)] == made[:2]
    assert 'href="/staff/applications?status=&amp;page=2">Next</a>' in first
    second = client.get("/staff/applications?page=2").get_data(as_text=True)
    assert [number for number, _ in _queue_ids(second)] == made[2:] and "Next</a>" not in second
    assert client.get("/staff/applications?page=x").status_code == 200  # the first page


def test_approving_from_the_application_page(app: Flask, signed_in: SignedIn) -> None:
    application_id = _submit(app, new_holder(app))
    client = signed_in("card_office")
    page = client.get(f"/staff/applications/{application_id}").get_data(as_text=True)
    assert 'id="approve-form"' in page and 'id="reject-form"' in page
    response = post_form(client, f"/staff/applications/{application_id}",
                         f"/staff/applications/{application_id}/approve")
    assert response.headers["Location"] == f"/staff/applications/{application_id}?done=approve"
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="application-status">approved</span>' in html and "Approved: it can be issued" in html
    assert 'id="approve-form"' not in html and 'id="cancel-form"' in html
    assert _status(app, application_id).status == "approved"
    with app.app_context(), database.engine.connect() as conn:
        actions = [entry.action for entry in audit.entries(conn, target=f"application:{application_id}")]
    assert actions == ["application.submit", "application.approve"]
    again = post_form(client, f"/staff/applications/{application_id}",
                      f"/staff/applications/{application_id}/approve")
    assert again.status_code == 409
    assert f"application {application_id} is approved: it cannot be approved" in again.get_data(as_text=True)


def test_a_rejection_needs_a_reason_and_a_cancel_takes_one(app: Flask, signed_in: SignedIn) -> None:
    holder = new_holder(app)
    rejected, cancelled = _submit(app, holder), _submit(app, holder)
    client = signed_in("admin")
    path = f"/staff/applications/{rejected}"
    refused = post_form(client, path, f"{path}/reject", reason="   ")
    assert refused.status_code == 400 and "Give the reason" in refused.get_data(as_text=True)
    assert _status(app, rejected).status == "pending"
    assert post_form(client, path, f"{path}/reject", reason="no photo").status_code == 303
    assert (_status(app, rejected).status, _status(app, rejected).decision_reason) == ("rejected", "no photo")
    path = f"/staff/applications/{cancelled}"
    assert post_form(client, path, f"{path}/cancel", reason="").status_code == 303
    assert _status(app, cancelled).status == "cancelled"


def test_submitting_an_application_for_a_holder(app: Flask, signed_in: SignedIn) -> None:
    holder = new_holder(app, "Marta Álvarez")
    client = signed_in("card_office")
    form = client.get(f"/staff/applications/new?holder_id={holder}").get_data(as_text=True)
    assert "For Marta Álvarez" in form and f'name="holder_id" value="{holder}"' in form
    response = client.post("/staff/applications/new", data={
        "csrf_token": csrf_of(form), "kind": "new", "holder_id": str(holder), "profile": "student",
        "note": "first card"})
    assert response.status_code == 303
    application_id = int(response.headers["Location"].split("/")[-1].split("?")[0])
    made = _status(app, application_id)
    assert (made.kind, made.holder_id, made.profile, made.status, made.note) == ("new", holder, "student",
                                                                                 "pending", "first card")


def test_a_duplicate_application_names_the_card_it_replaces(app: Flask, signed_in: SignedIn) -> None:
    holder = new_holder(app)
    number = issue_card(app, holder)
    client = signed_in("card_office")
    response = post_form(client, "/staff/applications/new", "/staff/applications/new", kind="duplicate",
                         holder_id=str(holder), replaces_card=str(number))
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'href="/staff/cards/{number}">{number}</a>' in html


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"holder_id": "1"}, 400, "Choose one of: new, duplicate, renewal, tourist."),
    ({"kind": "new", "holder_id": "abc"}, 400, "Give a holder number from 1 to"),
    ({"kind": "new"}, 400, "a new application needs the holder (holder_id)"),
    ({"kind": "new", "holder_id": "99999"}, 400, "no holder with id 99999"),
    ({"kind": "tourist", "balance": "600"}, 400, "from 0.01 to 500.00"),
    ({"kind": "new", "holder_id": "1", "profile": "vip"}, 400, "Choose one of: general"),
    ({"kind": "duplicate", "holder_id": "1", "replaces_card": "77"}, 400, "the registry holds no card 77"),
    ({"kind": "new", "holder_id": "1", "note": "x" * 501}, 400, "At most 500 characters."),
    ({"kind": "tourist", "note": "a\x00b"}, 400, "Use no control characters"),
])
def test_a_bad_application_is_explained_in_the_form(app: Flask, signed_in: SignedIn, fields: dict[str, str],
                                                    status: int, message: str) -> None:
    new_holder(app)  # holder 1
    response = post_form(signed_in("admin"), "/staff/applications/new", "/staff/applications/new", **fields)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert message in html and 'id="application-form"' in html
    with app.app_context():
        assert applications.queue(registry()) == []


def test_a_tourist_card_is_applied_for_without_holder(app: Flask, signed_in: SignedIn) -> None:
    response = post_form(signed_in("card_office"), "/staff/applications/new", "/staff/applications/new",
                         kind="tourist", balance="20")
    assert response.status_code == 303
    [made] = [application for application in _all(app)]
    assert (made.kind, made.holder_id, made.balance_cents) == ("tourist", None, 2000)


def test_a_tourist_card_form_sent_twice_sells_one_card(app: Flask, signed_in: SignedIn) -> None:
    client = signed_in("card_office")
    html = client.get("/staff/applications/new").get_data(as_text=True)
    data = {"csrf_token": csrf_of(html), "form_key": re.search(r'name="form_key" value="([^"]+)"', html)[1],
            "kind": "tourist", "balance": "20"}
    first = client.post("/staff/applications/new", data=data)
    again = client.post("/staff/applications/new", data=data)  # a double click, a reload that posts again
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert len(_all(app)) == 1
    without_key = client.post("/staff/applications/new", data={**data, "form_key": ""})
    assert without_key.status_code == 400 and "The form has expired" in without_key.get_data(as_text=True)
    assert len(_all(app)) == 1


def _all(app: Flask) -> list[applications.Application]:
    with app.app_context():
        return applications.queue(registry())


def test_registering_a_holder_leads_to_the_application_form(app: Flask, signed_in: SignedIn) -> None:
    client = signed_in("card_office")
    response = post_form(client, "/staff/applications/new", "/staff/holders", name="Joan Puig",
                         document_id="Z999", birth_date="1990-02-03", email="joan@example.org")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/staff/applications/new?holder_id=") and location.endswith("&done=holder")
    html = client.get(location).get_data(as_text=True)
    assert "The holder is registered." in html and "For Joan Puig" in html
    with app.app_context():
        [holder] = holders.search(registry(), document_id="Z999")
    assert (holder.name, str(holder.birth_date), holder.email) == ("Joan Puig", "1990-02-03", "joan@example.org")
    again = post_form(client, "/staff/applications/new", "/staff/holders", name="Someone", document_id="Z999")
    assert again.status_code == 409 and "is registered already" in again.get_data(as_text=True)


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": " "}, "Give the holder&#39;s name."),
    ({"name": "A", "birth_date": "03/02/1990"}, "Write a date as YYYY-MM-DD"),
    ({"name": "A", "birth_date": "2030-01-01"}, "is in the future"),
    ({"name": "A", "document_id": "x" * 33}, "At most 32 characters."),
    ({"name": "A\x00B"}, "Use no control characters"),
])
def test_a_bad_holder_is_explained_in_the_form(app: Flask, signed_in: SignedIn, fields: dict[str, str],
                                               message: str) -> None:
    response = post_form(signed_in("card_office"), "/staff/applications/new", "/staff/holders", **fields)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert holders.search(registry(), name_prefix="") == []


def test_the_applications_pages_and_their_roles(app: Flask, client_as: SignedIn) -> None:
    application_id = _submit(app, new_holder(app))
    auditor = client_as("auditor")
    page = auditor.get(f"/staff/applications/{application_id}")
    assert page.status_code == 200 and 'id="approve-form"' not in page.get_data(as_text=True)
    refused = auditor.post(f"/staff/applications/{application_id}/approve",
                           data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert refused.status_code == 403
    assert auditor.get("/staff/applications/new").status_code == 403
    assert client_as("issuance_point").get("/staff/applications").status_code == 200
    assert client_as("technician").get("/staff/applications").status_code == 403
    office = client_as("card_office")
    assert office.post(f"/staff/applications/{application_id}/approve").status_code == 403  # no CSRF token
    assert office.post("/staff/holders", data={"name": "X"}).status_code == 403
    assert _status(app, application_id).status == "pending"


@pytest.mark.parametrize("path", ["/staff/applications/424242", "/staff/applications/9223372036854775808"])
def test_an_application_that_is_not_there_is_a_404_page(signed_in: SignedIn, path: str) -> None:
    response = signed_in("card_office").get(path)
    assert response.status_code == 404 and "<h1>Not found</h1>" in response.get_data(as_text=True)
