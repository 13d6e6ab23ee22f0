"""``citizencard server user-add`` prints a token that works in the API,
once; the token's role is the user's. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask.testing import FlaskCliRunner

from citizencard.cli import main
from sync_server.setup import init_server
from sync_server.staff import hash_token
from sync_server.web import create_app
from sync_server.web.extensions import database
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
