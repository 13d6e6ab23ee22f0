"""The back office's web app over a temporary database (SQLite and
PostgreSQL, through ``db_url``): fixtures ``app``, ``client``, ``runner``,
``issuer_keys`` and ``token_for`` (a new user of a role and its API token)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from device import keystore
from sync_server.web import create_app
from sync_server.web.extensions import database
from tests.factories import masters
from tests.sync_server.conftest import Clock


@pytest.fixture
def issuer_keys(tmp_path: Path) -> Path:
    """The issuer's master keys (:func:`tests.factories.masters`) in a key file."""
    return keystore.save(tmp_path / "issuer.keys", masters())


@pytest.fixture
def app(db_url: str, clock: Clock, issuer_keys: Path) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE": db_url, "CLOCK": clock, "ISSUER_KEYS": issuer_keys})
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
