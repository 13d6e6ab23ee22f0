"""The staff pages in a real headless Chromium (Debian's, driven by
Playwright) against the app served over HTTP on a free port. SQLite only:
the pages' database work is tested on both databases by test_pages.py and
test_guard.py; here what matters is what a browser does with the pages."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from sync_server.registry import applications, cards
from sync_server.settlement import Settlements
from sync_server.web.extensions import database
from sync_server.web.holders import registry
from tests.sync_server.builders import DEVICE_KEY, batch, entry, read, write
from tests.sync_server.conftest import Clock
from tests.sync_server.web.pages.conftest import OFFICE, User, issue_card, new_holder


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'server.sqlite3'}"


def _sign_in(page: Any, user: User, password: str | None = None) -> None:
    page.goto("/staff/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", user.password if password is None else password)
    page.click("button[type=submit]")


def test_signing_in_opens_the_first_page_of_the_role(page: Any, user_with_password: Callable[[str], User]) -> None:
    user = user_with_password("technician")
    _sign_in(page, user)
    page.wait_for_url("**/staff/devices")
    assert page.locator("h1").inner_text() == "Devices"
    assert user.username in page.locator("header .who").inner_text()
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    session = cookies["citizencard_staff"]
    assert session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/staff"
    assert page.evaluate("document.cookie") == ""  # nothing readable by a script of the page


def test_a_wrong_password_is_refused(page: Any, user_with_password: Callable[[str], User]) -> None:
    user = user_with_password("admin")
    _sign_in(page, user, password="not the password at all")
    assert page.locator("p.error").inner_text() == "Wrong username or password."
    assert page.url.endswith("/staff/sign-in")
    assert page.locator("input[name=username]").input_value() == user.username
    assert "citizencard_staff" not in {cookie["name"] for cookie in page.context.cookies()}


def test_signing_out_returns_to_the_sign_in_form(page: Any, user_with_password: Callable[[str], User]) -> None:
    _sign_in(page, user_with_password("admin"))
    page.wait_for_url("**/staff/dashboard")
    page.click("form.sign-out button")
    page.wait_for_url("**/staff/sign-in")
    page.goto("/staff/devices")
    assert page.locator("h1").inner_text() == "Sign in"


def test_an_idle_session_expires(page: Any, user_with_password: Callable[[str], User], clock: Clock) -> None:
    _sign_in(page, user_with_password("admin"))
    page.wait_for_url("**/staff/dashboard")
    clock.advance(minutes=31)
    page.goto("/staff/anomalies")
    assert page.locator("h1").inner_text() == "Sign in"
    assert page.url.endswith("/staff/sign-in?next=/staff/anomalies")


def test_a_post_without_the_csrf_token_is_refused(page: Any, app: Flask,
                                                  user_with_password: Callable[[str], User]) -> None:
    _sign_in(page, user_with_password("card_office"))
    page.wait_for_url("**/staff/cards")
    # The browser's own cookies, a form without the token: what a forged cross-site form would send.
    response = page.request.post("/staff/denylist", form={"card_number": "77", "reason": "lost"},
                                 max_redirects=0)
    assert response.status == 403
    with app.app_context():
        assert database.store.full_list("denylist").added == ()


def test_a_page_of_another_role_is_refused(page: Any, user_with_password: Callable[[str], User]) -> None:
    _sign_in(page, user_with_password("technician"))
    page.wait_for_url("**/staff/devices")
    response = page.goto("/staff/dashboard")
    assert response.status == 403
    assert page.locator("h1").inner_text() == "Not for your role"
    assert [link.inner_text() for link in page.locator("header nav a").all()] == ["Devices"]


def test_blocking_a_card_from_the_denylist_page(page: Any, app: Flask,
                                                user_with_password: Callable[[str], User]) -> None:
    _sign_in(page, user_with_password("card_office"))
    page.wait_for_url("**/staff/cards")
    page.goto("/staff/denylist")
    page.fill("input[name=card_number]", "1234567890")
    page.fill("input[name=uid]", "04A1B2C3")
    page.fill("input[name=reason]", "lost")
    page.click("form.block button")
    page.wait_for_url("**/staff/denylist?blocked=1")
    assert "deny-list version 1 holds the block" in page.locator("p.notice").inner_text()
    rows = [row.inner_text() for row in page.locator("#denylist tbody tr").all()]
    assert any("1234567890" in row and "lost" in row for row in rows)
    assert any("04A1B2C3" in row for row in rows)
    with app.app_context():
        denied = database.store.full_list("denylist").added
    assert {"card_number": 1234567890, "uid": None, "reason": "lost"} in denied
    assert {"card_number": None, "uid": "04a1b2c3", "reason": "lost"} in denied


def test_a_bad_block_is_explained_in_the_form(page: Any, app: Flask,
                                              user_with_password: Callable[[str], User]) -> None:
    _sign_in(page, user_with_password("admin"))
    page.goto("/staff/denylist")
    page.fill("input[name=uid]", "04A1")
    page.fill("input[name=reason]", "lost")
    page.click("form.block button")
    assert page.locator("form.block p.error").inner_text() == "A UID is 4 or 7 bytes in hex: 8 or 14 hex digits."
    assert page.locator("input[name=uid]").input_value() == "04A1"
    with app.app_context():
        assert database.store.list_version("denylist") == 0


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_dashboard_renders_its_charts(page: Any, app: Flask, user_with_password: Callable[[str], User],
                                          tmp_path: Path) -> None:
    with app.app_context():
        store = database.store
        store.register_device(7, DEVICE_KEY, mode="bus", operator=1, location=3)
        store.register_device(8, bytes(32), mode="bike", operator=2, location=4)
        store.ingest([batch(7, write(1, 500, 4, 1000), write(2, 501, 9, 700, amount=-250), read(3, 502, 2, 0),
                            entry(4, kind="load", card=500, before=4, after=5, amount=2000, balance=3000)),
                      batch(8, entry(1, kind="bike_start", card=503, before=1, after=2, amount=-100, balance=900))])
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    _sign_in(page, user_with_password("finance"))
    page.wait_for_url("**/staff/dashboard")
    charts = page.locator("figure.chart svg")
    assert charts.count() == 5
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 20
    assert page.locator("figure.chart svg rect.bar").count() >= 5
    stylesheet = page.evaluate("getComputedStyle(document.querySelector('main')).paddingLeft")
    assert stylesheet != "0px"  # pages.css loaded under the Content-Security-Policy
    assert not [text for text in messages if "Content Security Policy" in text], messages
    shot = tmp_path / "dashboard.png"
    data = page.screenshot(path=str(shot))
    assert shot.stat().st_size == len(data) > 10_000
    assert _png_size(data) == (1280, 900)


def test_a_card_found_by_its_holder_is_blocked_from_its_page(page: Any, app: Flask,
                                                             user_with_password: Callable[[str], User]) -> None:
    number = issue_card(app, new_holder(app, "Marta Álvarez", "X1234567"))
    _sign_in(page, user_with_password("card_office"))
    page.wait_for_url("**/staff/cards")
    page.fill("input[name=q]", "marta")
    page.click("form.search button")
    page.click(f"#holders-found a[href='/staff/cards/{number}']")
    page.wait_for_url(f"**/staff/cards/{number}")
    assert page.locator("#card-state").inner_text() == "active"
    page.select_option("#state-form select[name=state]", "blocked")
    page.fill("#state-form input[name=reason]", "holder asked")
    page.click("#state-form button")
    page.wait_for_url(f"**/staff/cards/{number}?done=state")
    assert page.locator("#card-state").inner_text() == "blocked"
    assert "holder asked" in page.locator("#history tbody tr").last.inner_text()
    with app.app_context():
        assert cards.detail(registry(), number).card.state == "blocked"
        assert {"card_number": number, "uid": None, "reason": "holder asked"} in \
            database.store.full_list("denylist").added


def test_an_application_is_approved_from_the_queue(page: Any, app: Flask,
                                                   user_with_password: Callable[[str], User]) -> None:
    holder = new_holder(app, "Joan Puig")
    with app.app_context():
        application_id = applications.submit(registry(), OFFICE, kind="new", holder_id=holder).id
    _sign_in(page, user_with_password("card_office"))
    page.wait_for_url("**/staff/cards")
    page.click("header nav a:text('Applications')")
    row = page.locator("#applications tbody tr").first
    assert "Joan Puig" in row.inner_text() and "pending" in row.inner_text()
    row.locator("a").click()
    page.wait_for_url(f"**/staff/applications/{application_id}")
    page.click("#approve-form button")
    page.wait_for_url(f"**/staff/applications/{application_id}?done=approve")
    assert page.locator("#application-status").inner_text() == "approved"
    with app.app_context():
        assert applications.get(registry(), application_id).status == "approved"


@pytest.mark.usefixtures("synced")
def test_the_transactions_page_filters(page: Any, user_with_password: Callable[[str], User]) -> None:
    _sign_in(page, user_with_password("finance"))
    page.wait_for_url("**/staff/dashboard")
    page.goto("/staff/transactions")
    assert page.locator("#transactions tbody tr").count() == 5
    page.fill("form.filters input[name=service]", "bike")
    page.click("form.filters button")
    page.wait_for_url("**/staff/transactions?*service=bike*")
    rows = page.locator("#transactions tbody tr")
    assert rows.count() == 1 and "bike_end" in rows.first.inner_text()
    assert page.locator("#csv-link").get_attribute("href").endswith("service=bike")
    download = page.request.get(page.locator("#csv-link").get_attribute("href"))
    assert download.status == 200 and download.text().count("\r\n") == 2  # the header and one row


@pytest.mark.usefixtures("synced")
def test_a_settlement_is_previewed_and_closed(page: Any, app: Flask, clock: Clock,
                                              user_with_password: Callable[[str], User]) -> None:
    _sign_in(page, user_with_password("finance"))
    page.wait_for_url("**/staff/dashboard")
    page.goto("/staff/settlements")
    page.select_option("#preview-form select[name=operator]", "7")
    page.fill("#preview-form input[name=start]", "2026-05-01")
    page.fill("#preview-form input[name=end]", "2026-05-02")
    page.click("#preview-form button")
    assert page.locator("#draft-total").inner_text() == "3 transactions · owed 4.40 €"
    page.click("#close-form button")
    page.wait_for_url("**/staff/settlements/*?closed=1")
    assert "3 transactions · owed 4.40 €" in page.locator("#settlement-facts").inner_text()
    page.click("#verify-link")
    assert page.locator("#verification").inner_text().startswith("Verified")
    with app.app_context():
        [closed] = Settlements(database.engine, clock).closed()
    assert (closed.scope.operator_id, closed.amount_cents) == (7, 440)
