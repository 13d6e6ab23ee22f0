"""The staff pages over the web app of tests/sync_server/web/conftest.py:
``user_with_password(role)`` makes a user who can sign in; ``sign_in`` signs a
test client in; ``live_server`` serves the app on a free port over real HTTP;
``browser`` is a headless Chromium (Debian's, driven by Playwright), skipped
locally when missing and a failure on CI. ``issue_card`` puts a holder's card
in the registry as the card office and the issuance point would; ``post_form``
posts a page's form as a browser would (with the page's CSRF token)."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from sync_server.audit import Actor
from sync_server.operators import Operators
from sync_server.registry import applications, holders, issuance
from sync_server.web.extensions import database
from sync_server.web.holders import registry
from tests.sync_server.conftest import Clock, _unavailable
from tests.sync_server.ledger import register, send, tx

PASSWORD = "correct horse battery"
CHROMIUM = "/usr/bin/chromium"

OFFICE = Actor("desk-ana", "card_office")
POINT = Actor("point-1", "issuance_point")
_documents = count(1)
_uids = count(0x04A1B2C3)

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    match = _CSRF.search(html)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


def post_form(client: FlaskClient, page_path: str, action_path: str, **fields: str) -> Any:
    """Open ``page_path`` for its CSRF token (and one-time form key, when the page has one) and post
    ``fields`` to ``action_path``; the response."""
    html = client.get(page_path).get_data(as_text=True)
    key = re.search(r'name="form_key" value="([^"]+)"', html)
    return client.post(action_path, data={"csrf_token": csrf_of(html), **({"form_key": key[1]} if key else {}),
                                          **fields})


def new_holder(app: Flask, name: str = "Marta Álvarez", document_id: str | None = None) -> int:
    """A holder registered by the card office; its id."""
    with app.app_context():
        return holders.create(registry(), OFFICE, name=name,
                              document_id=document_id or f"DOC-{next(_documents)}").id


def issue_card(app: Flask, holder_id: int | None = None, *, uid: bytes | None = None) -> int:
    """An active citizen card of ``holder_id`` (a new holder by default), applied for, approved and issued; its
    number."""
    holder_id = holder_id or new_holder(app)
    with app.app_context():
        reg = registry()
        application = applications.submit(reg, OFFICE, kind="new", holder_id=holder_id)
        applications.approve(reg, OFFICE, application.id)
        made, _ = issuance.issue(reg, POINT, application.id, uid or next(_uids).to_bytes(4, "big"))
        return made.card_number


@dataclass(frozen=True)
class User:
    username: str
    role: str
    password: str = PASSWORD


@pytest.fixture
def user_with_password(app: Flask) -> Callable[[str], User]:
    """``user_with_password(role)``: a new user of ``role`` with the password :data:`PASSWORD`."""
    numbers = count(1)

    def make(role: str) -> User:
        username = f"{role}-page-{next(numbers)}"
        with app.app_context():
            database.staff.add_user(username, role)
            database.staff.set_password(username, PASSWORD)
        return User(username, role)

    return make


def sign_in_client(client: FlaskClient, user: User, password: str | None = None, **extra: str) -> Any:
    """Post the sign-in form as a browser would (the form first, for its token); the response."""
    form = client.get("/staff/sign-in")
    data = {"csrf_token": csrf_of(form.get_data(as_text=True)), "username": user.username,
            "password": user.password if password is None else password, **extra}
    return client.post("/staff/sign-in", data=data)


@pytest.fixture
def signed_in(client: FlaskClient, user_with_password: Callable[[str], User]) -> Callable[[str], FlaskClient]:
    """``signed_in(role)``: the test client, signed in as a new user of ``role``."""

    def make(role: str) -> FlaskClient:
        response = sign_in_client(client, user_with_password(role))
        assert response.status_code == 303, response.get_data(as_text=True)
        return client

    return make


@pytest.fixture
def synced(app: Flask, clock: Clock) -> None:
    """Operator 7 (buses and bikes, devices 1 and 2) and 9 (device 3), and their transactions of 2026-05-01:
    operator 7 is owed 3.50 € for two bus rides and 0.90 € for a bike (an intent moves no money); the clock
    then 10 minutes later, so that a cut-off of 5 minutes ago covers them."""
    with app.app_context():
        register(database.store, {1: ("bus", 7), 2: ("bike", 7), 3: ("bus", 9)})
        operators = Operators(database.engine, clock)
        operators.add_operator(Actor("root", "admin"), 7, "Buses and bikes")
        operators.add_operator(Actor("root", "admin"), 9, "Night buses")
        send(database.store, 1, [tx(1, hours=1), tx(2, hours=2, amount=-200), tx(3, hours=3, state="intent")])
        send(database.store, 2, [tx(1, kind="bike_end", amount=-90, hours=4, card=1002)])
        send(database.store, 3, [tx(1, hours=2)])
    clock.advance(minutes=10)


@pytest.fixture
def client_as(app: Flask, user_with_password: Callable[[str], User]) -> Callable[[str], FlaskClient]:
    """``client_as(role)``: a new test client (a browser of its own), signed in as a new user of ``role``."""

    def make(role: str) -> FlaskClient:
        client = app.test_client()
        response = sign_in_client(client, user_with_password(role))
        assert response.status_code == 303, response.get_data(as_text=True)
        return client

    return make


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served over HTTP on a free port of 127.0.0.1 (a thread); its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Chromium driven by Playwright, for the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e .[test])")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        _unavailable(f"{CHROMIUM} is missing (./dev installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, live_server: str) -> Iterator[Any]:
    """A new browser tab in a fresh context (no cookies), pointed at nothing yet."""
    context = chromium.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()
