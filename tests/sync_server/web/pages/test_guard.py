"""Signing in and out, sessions, CSRF, roles and security headers of the
staff pages, through the Flask test client (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sync_server import passwords
from sync_server.errors import ServerConfigError
from sync_server.web import create_app
from sync_server.web.extensions import database
from sync_server.web.pages.blueprint import CONTENT_SECURITY_POLICY
from tests.sync_server.conftest import Clock
from tests.sync_server.web.pages.conftest import User, csrf_of, sign_in_client

SIGN_IN_FAILED = "Wrong username or password."


def _cookie_header(response: object, name: str) -> str:
    headers = [value for value in response.headers.get_all("Set-Cookie") if value.startswith(f"{name}=")]  # type: ignore[attr-defined]
    assert len(headers) == 1, headers
    return headers[0]


def test_a_page_sends_a_browser_without_a_session_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/staff/devices")
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff/sign-in?next=/staff/devices"


def test_signing_in_sets_a_strict_session_cookie_and_goes_on(client: FlaskClient,
                                                             user_with_password: Callable[[str], User]) -> None:
    response = sign_in_client(client, user_with_password("technician"), next="/staff/devices")
    assert response.status_code == 303 and response.headers["Location"] == "/staff/devices"
    cookie = _cookie_header(response, "citizencard_staff")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/staff" in cookie
    assert "Secure" not in cookie
    assert client.get("/staff/devices").status_code == 200


def test_behind_https_the_cookies_are_secure(db_url: str, clock: Clock) -> None:
    app = create_app({"TESTING": True, "DATABASE": db_url, "CLOCK": clock, "STAFF_SECURE_COOKIES": True})
    try:
        with app.app_context():
            database.staff.add_user("ann", "admin")
            database.staff.set_password("ann", "correct horse battery")
        client = app.test_client()
        form = client.get("/staff/sign-in")
        assert "Secure" in _cookie_header(form, "citizencard_sign_in")
        response = sign_in_client(client, User("ann", "admin"))
        assert "Secure" in _cookie_header(response, "citizencard_staff")
    finally:
        database.dispose(app)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/staff/", "/api/v1/devices",
                                    "/staffer", "/staff\\..\\x"])
def test_sign_in_never_sends_the_browser_elsewhere(client: FlaskClient, user_with_password: Callable[[str], User],
                                                   target: str) -> None:
    response = sign_in_client(client, user_with_password("admin"), next=target)
    assert response.headers["Location"] == "/staff/"


def test_failed_sign_ins_look_alike(app: Flask, client: FlaskClient, user_with_password: Callable[[str], User],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    user = user_with_password("admin")
    with app.app_context():
        database.staff.add_user("robot", "kiosk")  # API only
    derived: list[passwords.Cost] = []
    real_derive = passwords._derive

    def counting(password: str, salt: bytes, cost: passwords.Cost) -> bytes:
        derived.append(cost)
        return real_derive(password, salt, cost)

    monkeypatch.setattr(passwords, "_derive", counting)
    attempts = {"wrong password": (user.username, "not the password"), "unknown user": ("nobody", user.password),
                "API-only user": ("robot", user.password)}
    for name, (username, password) in attempts.items():
        derived.clear()
        response = sign_in_client(client, User(username, "admin", password))
        assert response.status_code == 401, name
        assert SIGN_IN_FAILED in response.get_data(as_text=True), name
        assert "citizencard_staff=" not in " ".join(response.headers.get_all("Set-Cookie")), name
        # Each costs one full password check, as a real one does: no early return to time.
        assert derived == [passwords.DEFAULT_COST], name


@pytest.mark.parametrize("token", [None, "forged"])
def test_the_sign_in_form_is_refused_without_its_token(client: FlaskClient,
                                                       user_with_password: Callable[[str], User],
                                                       token: str | None) -> None:
    user = user_with_password("admin")
    client.get("/staff/sign-in")
    data = {"username": user.username, "password": user.password}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/staff/sign-in", data=data)
    assert response.status_code == 403
    assert client.get("/staff/devices").status_code == 303


def test_signing_out_needs_the_token_and_ends_the_session(signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("admin")
    page = client.get("/staff/devices")
    assert client.post("/staff/sign-out").status_code == 403
    assert client.get("/staff/devices").status_code == 200
    response = client.post("/staff/sign-out", data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert response.status_code == 303 and response.headers["Location"] == "/staff/sign-in"
    assert "Max-Age=0" in _cookie_header(response, "citizencard_staff")
    assert client.get("/staff/devices").status_code == 303


def test_a_stolen_cookie_is_useless_after_sign_out(app: Flask, signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("admin")
    stolen = client.get_cookie("citizencard_staff", path="/staff")
    assert stolen is not None
    page = client.get("/staff/devices")
    client.post("/staff/sign-out", data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    other = app.test_client()
    other.set_cookie("citizencard_staff", stolen.value, path="/staff")
    assert other.get("/staff/devices").status_code == 303


def test_an_idle_session_ends(signed_in: Callable[[str], FlaskClient], clock: Clock) -> None:
    client = signed_in("admin")
    clock.advance(minutes=29)
    assert client.get("/staff/devices").status_code == 200
    clock.advance(minutes=29)
    assert client.get("/staff/devices").status_code == 200
    clock.advance(minutes=30, seconds=1)
    response = client.get("/staff/devices")
    assert response.status_code == 303 and response.headers["Location"].startswith("/staff/sign-in")


@pytest.fixture
def short_app(db_url: str, clock: Clock) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE": db_url, "CLOCK": clock, "STAFF_SESSION_IDLE_MINUTES": 10,
                      "STAFF_SESSION_LIFETIME_HOURS": 1})
    yield app
    database.dispose(app)


def test_a_session_ends_after_its_lifetime_however_busy(short_app: Flask, clock: Clock) -> None:
    with short_app.app_context():
        database.staff.add_user("ann", "admin")
        database.staff.set_password("ann", "correct horse battery")
    client = short_app.test_client()
    sign_in_client(client, User("ann", "admin"))
    for _ in range(6):  # every 9 minutes: never idle for 10
        clock.advance(minutes=9)
        assert client.get("/staff/devices").status_code == 200
    clock.advance(minutes=7)  # 61 minutes after signing in
    assert client.get("/staff/devices").status_code == 303


@pytest.mark.parametrize("setting", [{"STAFF_SESSION_IDLE_MINUTES": 0}, {"STAFF_SESSION_LIFETIME_HOURS": "12"},
                                     {"STAFF_SESSION_IDLE_MINUTES": float("nan")}])
def test_unusable_session_settings_are_refused(db_url: str, setting: dict[str, object]) -> None:
    with pytest.raises(ServerConfigError):
        create_app({"TESTING": True, "DATABASE": db_url, **setting})


def test_a_post_without_the_csrf_token_is_refused(app: Flask, signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("card_office")
    response = client.post("/staff/denylist", data={"card_number": "1234", "reason": "lost"})
    assert response.status_code == 403
    assert "security token" in response.get_data(as_text=True)
    with app.app_context():
        assert database.store.full_list("denylist").added == ()


def test_a_csrf_token_of_another_session_is_refused(app: Flask, signed_in: Callable[[str], FlaskClient],
                                                    user_with_password: Callable[[str], User]) -> None:
    other = app.test_client()
    sign_in_client(other, user_with_password("card_office"))
    foreign = csrf_of(other.get("/staff/denylist").get_data(as_text=True))
    client = signed_in("card_office")
    response = client.post("/staff/denylist", data={"csrf_token": foreign, "card_number": "1234", "reason": "lost"})
    assert response.status_code == 403
    with app.app_context():
        assert database.store.full_list("denylist").added == ()


@pytest.mark.parametrize(("role", "path"), [("technician", "/staff/dashboard"), ("finance", "/staff/devices"),
                                            ("operator", "/staff/denylist"), ("technician", "/staff/anomalies")])
def test_a_page_refuses_roles_it_does_not_name(signed_in: Callable[[str], FlaskClient], role: str,
                                               path: str) -> None:
    response = signed_in(role).get(path)
    assert response.status_code == 403
    assert f"Your role ({role}) may not open this page" in response.get_data(as_text=True)


def test_an_action_refuses_roles_it_does_not_name(app: Flask, signed_in: Callable[[str], FlaskClient]) -> None:
    client = signed_in("auditor")
    page = client.get("/staff/denylist")
    assert page.status_code == 200 and 'action="/staff/denylist"' not in page.get_data(as_text=True)
    response = client.post("/staff/denylist", data={"csrf_token": csrf_of(page.get_data(as_text=True)),
                                                    "card_number": "1234", "reason": "lost"})
    assert response.status_code == 403
    with app.app_context():
        assert database.store.full_list("denylist").added == ()


@pytest.mark.parametrize(("role", "links"), [
    ("admin", ["Dashboard", "Cards", "Applications", "Transactions", "Settlements", "Devices", "Deny-list",
               "Anomalies"]),
    ("technician", ["Devices"]),
    ("finance", ["Dashboard", "Transactions", "Settlements"]),
    ("card_office", ["Cards", "Applications", "Deny-list", "Anomalies"]),
    ("operator", ["Dashboard", "Cards", "Transactions", "Settlements"]),
    ("auditor", ["Dashboard", "Cards", "Applications", "Transactions", "Settlements", "Devices", "Deny-list",
                 "Anomalies"]),
    ("issuance_point", ["Applications"]),
])
def test_the_menu_shows_the_pages_of_the_role(signed_in: Callable[[str], FlaskClient], role: str,
                                              links: list[str]) -> None:
    client = signed_in(role)
    home = client.get("/staff/")
    assert home.status_code == 303
    html = client.get(home.headers["Location"]).get_data(as_text=True)
    nav = html.split('<nav aria-label="Pages">')[1].split("</nav>")[0]
    assert [label for label in ("Dashboard", "Cards", "Applications", "Transactions", "Settlements", "Devices",
                                "Deny-list", "Anomalies") if f">{label}</a>" in nav] == links


def test_a_role_without_pages_is_told_so(signed_in: Callable[[str], FlaskClient]) -> None:
    response = signed_in("kiosk").get("/staff/")
    assert response.status_code == 403 and "No pages for your role" in response.get_data(as_text=True)


def test_pages_carry_security_headers(client: FlaskClient, signed_in: Callable[[str], FlaskClient]) -> None:
    for response in (client.get("/staff/sign-in"), signed_in("admin").get("/staff/devices")):
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
    assert "script-src" not in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY
    css = client.get("/staff/static/pages.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert css.headers["X-Content-Type-Options"] == "nosniff" and css.headers.get("Cache-Control") != "no-store"


def test_the_api_is_unchanged_by_the_pages(client: FlaskClient, signed_in: Callable[[str], FlaskClient]) -> None:
    signed_in("admin")  # a page session is no API credential
    response = client.get("/api/v1/devices")
    assert response.status_code == 401 and response.is_json
