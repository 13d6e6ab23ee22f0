"""The REST API: health, token auth with roles, devices, blocking a card,
JSON errors. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from device.protocol.messages import Status
from sync_server.db import migrate
from sync_server.db.models import STAFF_ROLES
from sync_server.errors import ServerConfigError
from sync_server.web import CONFIG_ENV, create_app
from sync_server.web.extensions import database
from tests.sync_server.builders import DEVICE_KEY
from tests.sync_server.conftest import START, Clock
from tests.sync_server.web.conftest import bearer

TokenFor = Callable[[str], str]


def test_health_needs_no_token(client: FlaskClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    head = migrate.head_revision()
    assert response.json == {"status": "ok", "database": "ok", "schema": {"revision": head, "head": head}}


def test_the_app_reads_the_server_toml_named_by_the_environment(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    with pytest.raises(ServerConfigError, match=CONFIG_ENV):
        create_app()
    (tmp_path / "server.toml").write_text('[server]\ndatabase = "sqlite:///office.sqlite3"\n')
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "server.toml"))
    monkeypatch.delenv("CITIZENCARD_SERVER_DATABASE", raising=False)
    app = create_app()
    try:
        assert app.config["DATABASE"] == f"sqlite:///{tmp_path / 'office.sqlite3'}"
        assert app.test_client().get("/api/v1/health").json["status"] == "ok"
        assert (tmp_path / "office.sqlite3").exists()
    finally:
        database.dispose(app)


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Bearer not-a-token",
                                    "Bearer " + "x" * 300])
def test_no_usable_token_is_401(client: FlaskClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, path in (("GET", "/api/v1/devices"), ("POST", "/api/v1/cards/block")):
        response = client.open(path, method=method, headers=headers, json={"card_number": 1, "reason": "lost"})
        assert response.status_code == 401, (method, path)
        assert response.json["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_each_role_may_do_what_it_is_allowed_and_nothing_else(client: FlaskClient, token_for: TokenFor) -> None:
    allowed = {"/api/v1/devices": {"admin", "technician", "auditor"}, "/api/v1/cards/block": {"admin", "card_office"}}
    for role in STAFF_ROLES:
        token = token_for(role)
        devices = client.get("/api/v1/devices", headers=bearer(token))
        block = client.post("/api/v1/cards/block", headers=bearer(token), json={"card_number": 7, "reason": "lost"})
        for path, response in (("/api/v1/devices", devices), ("/api/v1/cards/block", block)):
            expected = 200 if role in allowed[path] else 403
            assert response.status_code == expected, (role, path, response.json)
            if expected == 403:
                assert response.json["error"]["code"] == "forbidden"
                assert role in response.json["error"]["message"]


def test_a_revoked_token_or_a_disabled_user_is_401(app: Flask, client: FlaskClient, token_for: TokenFor,
                                                   clock: Clock) -> None:
    token, other = token_for("admin"), token_for("admin")
    assert client.get("/api/v1/devices", headers=bearer(token)).status_code == 200
    with app.app_context():
        assert database.staff.revoke_token(token)
        assert not database.staff.revoke_token(token)
        engine = database.engine
    assert client.get("/api/v1/devices", headers=bearer(token)).status_code == 401
    clock.advance(minutes=5)
    assert client.get("/api/v1/devices", headers=bearer(other)).status_code == 200
    with engine.begin() as conn:
        used = conn.execute(sa.text("SELECT last_used_at FROM api_tokens WHERE revoked = :no"),
                            {"no": False}).scalar_one()
        assert used is not None and str(used).startswith("2026-05-01")
        conn.execute(sa.text("UPDATE staff_users SET disabled = :yes"), {"yes": True})
    assert client.get("/api/v1/devices", headers=bearer(other)).status_code == 401


def test_devices_with_their_status_versions_and_lag(app: Flask, client: FlaskClient, token_for: TokenFor,
                                                    clock: Clock) -> None:
    with app.app_context():
        store = database.store
        store.register_device(1201, DEVICE_KEY, mode="bus", operator=3, location=12)
        store.register_device(1202, DEVICE_KEY, mode="kiosk", operator=1, location=4)
        store.block(card_number=10, reason="lost")
        store.block(card_number=11, reason="stolen")
        clock.advance(minutes=1)
        store.record_status(Status(device_id=1201, online=True, sent_at="2026-05-01T07:30:59+00:00",
                                   list_versions={"denylist": 1, "loads": 0}, backlog=4, last_seq=99))
    response = client.get("/api/v1/devices", headers=bearer(token_for("technician")))
    assert response.status_code == 200
    assert response.json == {"devices": [
        {"device_id": 1201, "mode": "bus", "operator": 3, "location": 12,
         "registered_at": START.isoformat(), "last_seen_at": "2026-05-01T07:31:00+00:00", "online": True,
         "backlog": 4, "last_seq": 99, "list_versions": {"denylist": 1, "loads": 0},
         "list_lag": {"denylist": 1, "loads": 0}},
        {"device_id": 1202, "mode": "kiosk", "operator": 1, "location": 4,
         "registered_at": START.isoformat(), "last_seen_at": None, "online": False,
         "backlog": 0, "last_seq": 0, "list_versions": {}, "list_lag": {}},
    ]}


def test_block_returns_the_denylist_version(app: Flask, client: FlaskClient, token_for: TokenFor) -> None:
    headers = bearer(token_for("card_office"))

    def block(body: object) -> int:
        response = client.post("/api/v1/cards/block", headers=headers, json=body)
        assert response.status_code == 200, response.json
        version: int = response.json["denylist_version"]
        return version

    assert block({"card_number": 2**64 - 1, "reason": "lost"}) == 1
    assert block({"card_number": 2**64 - 1, "reason": "lost"}) == 1  # blocked already, for that reason
    assert block({"uid": "04A1B2C3D4E5F6", "reason": "stolen"}) == 2
    assert block({"card_number": 5, "uid": "04a1b2c3", "reason": "fraud"}) == 3
    with app.app_context():
        update = database.store.full_list("denylist")
    assert update.to_version == 3
    assert {(item["card_number"], item["uid"], item["reason"]) for item in update.added} == {
        (2**64 - 1, None, "lost"), (None, "04a1b2c3d4e5f6", "stolen"), (5, None, "fraud"), (None, "04a1b2c3", "fraud")}


BAD_BLOCKS: list[tuple[object, str | None]] = [
    # (body, the field named; None: the body as a whole)
    ("not json", None),
    ([1, 2], None),
    (None, None),
    ({"card_number": 1, "reason": "lost", "colour": "red"}, "colour"),
    ({"card_number": "12", "reason": "lost"}, "card_number"),
    ({"card_number": True, "reason": "lost"}, "card_number"),
    ({"card_number": 1.5, "reason": "lost"}, "card_number"),
    ({"card_number": -1, "reason": "lost"}, "card_number"),
    ({"card_number": 2**64, "reason": "lost"}, "card_number"),
    ({"uid": "04a1b2", "reason": "lost"}, "uid"),
    ({"uid": "04a1b2zz", "reason": "lost"}, "uid"),
    ({"uid": 12345678, "reason": "lost"}, "uid"),
    ({"card_number": None, "uid": None, "reason": "lost"}, "card_number"),
    ({"reason": "lost"}, "card_number"),
    ({"card_number": 1}, "reason"),
    ({"card_number": 1, "reason": ""}, "reason"),
    ({"card_number": 1, "reason": "   "}, "reason"),
    ({"card_number": 1, "reason": 7}, "reason"),
    ({"card_number": 1, "reason": "x" * 201}, "reason"),
]


def test_each_bad_block_is_a_400_naming_the_field(app: Flask, client: FlaskClient, token_for: TokenFor) -> None:
    headers = bearer(token_for("admin"))
    for body, field in BAD_BLOCKS:
        if isinstance(body, str):
            response = client.post("/api/v1/cards/block", headers=headers, data=body,
                                   content_type="application/json")
        else:
            response = client.post("/api/v1/cards/block", headers=headers, json=body)
        assert response.status_code == 400, body
        error = response.json["error"]
        assert error["code"] == ("invalid_body" if field is None else "invalid_field"), body
        assert error.get("field") == field, body
        assert error["message"], body
    with app.app_context():
        assert database.store.list_version("denylist") == 0


def test_errors_are_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    response = client.delete("/api/v1/devices")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]
    response = client.get("/api/v1/cards/block")
    assert response.status_code == 405


def test_an_unexpected_exception_is_a_json_500(tmp_path: Path) -> None:
    app = create_app({"DATABASE": f"sqlite:///{tmp_path / 'server.sqlite3'}", "PROPAGATE_EXCEPTIONS": False})

    @app.get("/api/v1/boom")
    def boom() -> str:
        raise RuntimeError("secret detail")

    try:
        response = app.test_client().get("/api/v1/boom")
    finally:
        database.dispose(app)
    assert response.status_code == 500
    assert response.json == {"error": {"code": "internal_error", "message": "the server failed; the error is logged"}}
