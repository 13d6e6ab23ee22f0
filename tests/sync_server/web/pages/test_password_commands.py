"""``citizencard server user-add --password`` and ``citizencard server
passwd``: the password is typed twice, checked, and then signs in to the
staff pages; a new password signs the user's browsers out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from citizencard.cli import main
from sync_server.setup import init_server
from sync_server.web import create_app
from sync_server.web.extensions import database
from tests.sync_server.conftest import Clock
from tests.sync_server.web.pages.conftest import User, sign_in_client

PASSWORD = "correct horse battery"


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> Path:
    return init_server(tmp_path / "server", database=db_url)


@pytest.fixture
def pages_app(db_url: str, clock: Clock) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE": db_url, "CLOCK": clock})
    yield app
    database.dispose(app)


def test_user_add_with_a_password_can_sign_in(runner: FlaskCliRunner, config: Path, pages_app: Flask) -> None:
    result = runner.invoke(main, ["server", "user-add", "--config", str(config), "--username", "ana", "--role",
                                  "admin", "--password"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "may sign in to the staff pages" in result.stderr
    assert len(result.stdout.strip().splitlines()[-1]) == 43  # the token, after the prompts
    assert PASSWORD not in result.output
    response = sign_in_client(pages_app.test_client(), User("ana", "admin", PASSWORD))
    assert response.status_code == 303


def test_a_password_must_be_typed_the_same_twice(runner: FlaskCliRunner, config: Path, pages_app: Flask) -> None:
    typed = f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n"
    result = runner.invoke(main, ["server", "user-add", "--config", str(config), "--username", "ana", "--role",
                                  "admin", "--password"], input=typed)
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert sign_in_client(pages_app.test_client(), User("ana", "admin", PASSWORD)).status_code == 303


def test_a_short_password_is_refused_before_anything_is_written(runner: FlaskCliRunner, config: Path,
                                                                pages_app: Flask) -> None:
    result = runner.invoke(main, ["server", "user-add", "--config", str(config), "--username", "ana", "--role",
                                  "admin", "--password"], input="short\nshort\n")
    assert result.exit_code == 2
    assert "a password is 10 to 1024 characters" in result.output
    with pages_app.app_context():
        assert database.staff.verify("ana", "short") is None
    again = runner.invoke(main, ["server", "user-add", "--config", str(config), "--username", "ana", "--role",
                                 "admin"])
    assert again.exit_code == 0, again.output  # the name was not taken by the refused attempt


def test_user_add_without_a_password_cannot_sign_in(runner: FlaskCliRunner, config: Path, pages_app: Flask) -> None:
    result = runner.invoke(main, ["server", "user-add", "--config", str(config), "--username", "bot", "--role",
                                  "kiosk"])
    assert result.exit_code == 0, result.output
    assert sign_in_client(pages_app.test_client(), User("bot", "kiosk", PASSWORD)).status_code == 401


def test_passwd_changes_the_password_and_signs_browsers_out(runner: FlaskCliRunner, config: Path,
                                                           pages_app: Flask) -> None:
    runner.invoke(main, ["server", "user-add", "--config", str(config), "--username", "ana", "--role", "admin",
                         "--password"], input=f"{PASSWORD}\n{PASSWORD}\n")
    browser = pages_app.test_client()
    sign_in_client(browser, User("ana", "admin", PASSWORD))
    assert browser.get("/staff/devices").status_code == 200
    new = "a brand new passphrase"
    result = runner.invoke(main, ["server", "passwd", "--config", str(config), "ana"], input=f"{new}\n{new}\n")
    assert result.exit_code == 0, result.output
    assert browser.get("/staff/devices").status_code == 303
    assert sign_in_client(pages_app.test_client(), User("ana", "admin", PASSWORD)).status_code == 401
    assert sign_in_client(pages_app.test_client(), User("ana", "admin", new)).status_code == 303


def test_passwd_of_an_unknown_user_fails(runner: FlaskCliRunner, config: Path) -> None:
    result = runner.invoke(main, ["server", "passwd", "--config", str(config), "nobody"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 1
    assert "no staff user named 'nobody'" in result.output
