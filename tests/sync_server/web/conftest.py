"""The back office's web app over a temporary database (SQLite and
PostgreSQL, through ``db_url``): fixtures ``app``, ``client``, ``runner``
and ``token_for`` (a new user of a role and its API token)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from sync_server.web import create_app
from sync_server.web.extensions import database
from tests.sync_server.conftest import Clock


@pytest.fixture
def app(db_url: str, clock: Clock) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE": db_url, "CLOCK": clock})
    yield app
    database.dispose(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def token_for(app: Flask) -> Callable[[str], str]:
    """``token_for(role)``: the API token of a new user with ``role``."""
    numbers = count(1)

    def make(role: str) -> str:
        with app.app_context():
            member = database.staff.add_user(f"{role}-{next(numbers)}", role)
            return database.staff.issue_token(member.id)

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
