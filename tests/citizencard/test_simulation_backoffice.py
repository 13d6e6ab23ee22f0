"""The demo's back office: its operator, services and staff user, and the
web server in a thread, where the demo user signs in over HTTP and blocks a
card with the deny-list page's form."""

from __future__ import annotations

import socket
import urllib.error
from pathlib import Path

import pytest

from citizencard.simulation import backoffice
from sync_server.operators import Operators
from sync_server.staff import Staff

from .simulation_city import offline_city
from .staff_browser import StaffBrowser


def test_the_back_office_is_set_up_for_the_demos_devices(tmp_path: Path) -> None:
    with offline_city(tmp_path) as town:
        engine = town.store.engine
        operators = Operators(engine, town.registry.now)
        assert [o.id for o in operators.operators()] == [backoffice.OPERATOR_ID]
        assert sorted(s.code for s in operators.services()) == ["bike", "bus", "ev"]
        member = Staff(engine).verify(backoffice.DEMO_USER, backoffice.DEMO_PASSWORD)
        assert member is not None and member.role == "admin"


def test_the_demo_user_signs_in_and_blocks_a_card_over_http(tmp_path: Path) -> None:
    with offline_city(tmp_path) as town, backoffice.WebServer(town.city.server_config, "127.0.0.1", 0) as web:
        assert web.port > 0 and web.url == f"http://127.0.0.1:{web.port}"
        browser = StaffBrowser(web.url)
        assert "Wrong username or password" in _refused(browser)
        assert "Sign out" in browser.sign_in("demo", "citizencard-demo")
        page, where = browser.block(6033000000000042, "lost at the library")
        assert "blocked=1" in where and "6033000000000042" in page
        assert town.store.list_version("denylist") == 1
        web.check()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", web.port), timeout=2):
        pass


def _refused(browser: StaffBrowser) -> str:
    try:
        browser.sign_in("demo", "not-the-password")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
        return exc.read().decode()
    raise AssertionError("a wrong password signed in")
