"""``citizencard server user-add`` prints a token that works in the API,
once; the token's role is the user's; ``users``, ``user-disable``,
``user-enable``, ``token-add`` and ``token-revoke`` manage them. SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from citizencard.cli import main
from sync_server.setup import init_server
from sync_server.staff import hash_token
from sync_server.web import create_app
from sync_server.web.extensions import database
from tests.sync_server.conftest import Clock
from tests.sync_server.web.conftest import bearer


def test_user_add_prints_a_working_token(runner: FlaskCliRunner, db_url: str, tmp_path: Path) -> None:
    config = init_server(tmp_path / "server", database=db_url)
    args = ["server", "user-add", "--config", str(config), "--username", "ana", "--role", "card_office"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert len(token) == 43 and "\n" not in token
    assert "shown only now" in result.stderr

    app = create_app({"TESTING": True, "DATABASE": db_url})
    try:
        client = app.test_client()
        response = client.post("/api/v1/cards/block", headers=bearer(token), json={"uid": "04a1b2c3", "reason": "lost"})
        assert response.status_code == 200, response.json
        assert response.json == {"denylist_version": 1}
        assert client.get("/api/v1/devices", headers=bearer(token)).status_code == 403
        with app.app_context(), database.engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT token_hash FROM api_tokens")).scalars().all()
        assert stored == [hash_token(token)]  # the hash only
    finally:
        database.dispose(app)

    again = runner.invoke(main, args)
    assert again.exit_code == 1
    assert "exists already" in again.output
    bad_role = runner.invoke(main, [*args[:-1], "mayor"])
    assert bad_role.exit_code == 2
    assert "mayor" in bad_role.output


def test_staff_users_are_listed_disabled_enabled_and_their_tokens_managed(runner: FlaskCliRunner, db_url: str,
                                                                          tmp_path: Path) -> None:
    config = str(init_server(tmp_path / "server", database=db_url))
    first = runner.invoke(main, ["server", "user-add", "--config", config, "--username", "kiosk-7", "--role", "kiosk"])
    assert first.exit_code == 0, first.output
    token = first.stdout.strip()
    app = create_app({"TESTING": True, "DATABASE": db_url})
    client = app.test_client()

    def loads_status(with_token: str) -> int:
        return client.get("/api/v1/cards/1/loads", headers=bearer(with_token)).status_code

    try:
        assert loads_status(token) == 200
        listed = runner.invoke(main, ["server", "users", "--config", config])
        assert listed.exit_code == 0
        assert re.search(r"^kiosk-7 +kiosk +enabled +no password +1 token\(s\), last used \d{4}-", listed.stdout, re.M)

        assert runner.invoke(main, ["server", "user-disable", "--config", config, "kiosk-7"]).exit_code == 0
        assert loads_status(token) == 401
        assert "DISABLED" in runner.invoke(main, ["server", "users", "--config", config]).stdout
        assert runner.invoke(main, ["server", "user-enable", "--config", config, "kiosk-7"]).exit_code == 0
        assert loads_status(token) == 200

        added = runner.invoke(main, ["server", "token-add", "--config", config, "kiosk-7"])
        assert added.exit_code == 0 and "shown only now" in added.stderr
        second = added.stdout.strip()
        assert loads_status(second) == 200
        revoked = runner.invoke(main, ["server", "token-revoke", "--config", config, "kiosk-7"])
        assert revoked.exit_code == 0 and "2 token(s) of 'kiosk-7' revoked" in revoked.stderr
        assert loads_status(token) == loads_status(second) == 401
    finally:
        database.dispose(app)
    unknown = runner.invoke(main, ["server", "user-disable", "--config", config, "nobody"])
    assert unknown.exit_code == 1 and "no staff user named 'nobody'" in unknown.output


def test_a_tokens_use_is_noted_at_most_once_a_minute(app: Flask, token_for, clock: Clock) -> None:
    token = token_for("auditor")
    client = app.test_client()

    def last_used() -> object:
        with app.app_context(), database.engine.connect() as conn:
            return conn.execute(sa.text("SELECT last_used_at FROM api_tokens")).scalar_one()

    assert client.get("/api/v1/anomalies", headers=bearer(token)).status_code == 200
    first = last_used()
    assert first is not None
    clock.advance(seconds=30)
    client.get("/api/v1/anomalies", headers=bearer(token))
    assert last_used() == first  # a read within the minute wrote nothing
    clock.advance(seconds=31)
    client.get("/api/v1/anomalies", headers=bearer(token))
    assert last_used() != first
