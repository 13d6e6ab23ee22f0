"""Top-ups through the API: queued once per idempotency key whatever the
retries (also racing copies), refused for cards that would never collect
them, pending until ingest stores the device's load entry, then applied and
off the loads list. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from card_layout.access import KeyType
from card_layout.layout import PURSE_SECTOR
from device.protocol import items
from sync_server.db.models import AuditEntry, Card, LoadOrder
from sync_server.web.extensions import database
from tests.factories import masters
from tests.sync_server.builders import DEVICE_KEY, batch, entry
from tests.sync_server.conftest import START
from tests.sync_server.web.conftest import bearer

TokenFor = Callable[[str], str]

CARD = 7_000_000_000_000_001
UID = bytes.fromhex("04a1b2c3")


@pytest.fixture
def card(app: Flask) -> int:
    with app.app_context(), database.engine.begin() as conn:
        conn.execute(Card.__table__.insert().values(
            card_number=CARD, uid=UID, holder_id=None, kind="citizen", profile="general", state="active",
            state_changed_at=START, issued_at=START, expires_on=START.date().replace(year=2031),
            initial_balance_cents=0))
    return CARD


def _set_state(app: Flask, state: str) -> None:
    with app.app_context(), database.engine.begin() as conn:
        conn.execute(Card.__table__.update().where(Card.__table__.c.card_number == CARD).values(state=state))


def _post(client: FlaskClient, token: str, key: str | None, body: object, card: int = CARD):
    headers = bearer(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(f"/api/v1/cards/{card}/loads", json=body, headers=headers)


def _orders(app: Flask) -> list[LoadOrder]:
    with app.app_context(), database.engine.connect() as conn:
        return list(conn.execute(select(LoadOrder.__table__).order_by(LoadOrder.__table__.c.id)))  # type: ignore


def _pending_items(app: Flask) -> list[dict]:
    with app.app_context():
        return [item for item in database.store.full_list("loads").added]


def test_a_top_up_is_queued_pending_with_the_cards_purse_key(app: Flask, client: FlaskClient, card: int,
                                                             token_for: TokenFor) -> None:
    response = _post(client, token_for("kiosk"), "order-1", {"amount_cents": 2000})
    assert response.status_code == 201, response.json
    load = response.json["load"]
    assert (load["card_number"], load["load_seq"], load["amount_cents"], load["channel"], load["status"]) == \
        (CARD, 1, 2000, "kiosk", "pending")
    listed = client.get(f"/api/v1/cards/{CARD}/loads", headers=bearer(token_for("auditor"))).json
    assert listed == {"loads": [load], "pending_cents": 2000}
    [item] = _pending_items(app)
    pending = items.load_from_item(item)
    assert (pending.card_number, pending.load_seq, pending.amount_cents) == (CARD, 1, 2000)
    assert pending.purse_key_b == masters().for_card(UID).sector_key(PURSE_SECTOR, KeyType.B)
    with app.app_context(), database.engine.connect() as conn:
        [audit] = conn.execute(select(AuditEntry.__table__)).all()
    assert (audit.action, audit.target, audit.role) == ("load.queue", f"card:{CARD}", "kiosk")


def test_a_retry_with_the_same_key_answers_the_first_response_and_queues_nothing(
        app: Flask, client: FlaskClient, card: int, token_for: TokenFor) -> None:
    token = token_for("card_office")
    first = _post(client, token, "order-1", {"amount_cents": 500})
    again = _post(client, token, "order-1", {"amount_cents": 500})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(_orders(app)) == 1 and len(_pending_items(app)) == 1
    other = _post(client, token, "order-2", {"amount_cents": 500})  # a new key is a new top-up
    assert other.json["load"]["load_seq"] == 2
    assert len(_orders(app)) == 2


def test_the_same_key_for_another_request_is_refused(client: FlaskClient, card: int, token_for: TokenFor) -> None:
    token = token_for("card_office")
    assert _post(client, token, "k", {"amount_cents": 500}).status_code == 201
    reused = _post(client, token, "k", {"amount_cents": 600})
    assert reused.status_code == 422
    assert reused.json["error"]["code"] == "idempotency_key_reused"


def test_keys_are_per_user(app: Flask, client: FlaskClient, card: int, token_for: TokenFor) -> None:
    assert _post(client, token_for("kiosk"), "same", {"amount_cents": 500}).status_code == 201
    second = _post(client, token_for("kiosk"), "same", {"amount_cents": 500})
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert len(_orders(app)) == 2


@pytest.mark.parametrize("key", [None, "", "x" * 129, "has space", "naïve"])
def test_a_money_moving_call_needs_a_usable_key(app: Flask, client: FlaskClient, card: int, token_for: TokenFor,
                                               key: str | None) -> None:
    response = _post(client, token_for("kiosk"), key, {"amount_cents": 500})
    assert response.status_code == 400
    assert response.json["error"]["field"] == "Idempotency-Key"
    assert _orders(app) == []


@pytest.mark.parametrize(("body", "field"), [
    ({}, "amount_cents"), ({"amount_cents": 0}, "amount_cents"), ({"amount_cents": 25_001}, "amount_cents"),
    ({"amount_cents": True}, "amount_cents"), ({"amount_cents": "5"}, "amount_cents"),
    ({"amount_cents": 5, "channel": "bank"}, "channel"), ({"amount_cents": 5, "extra": 1}, "extra"),
    ({"amount_cents": 5, "uid": "zz"}, "uid"),
])
def test_bad_requests_are_refused_naming_the_field_and_a_corrected_retry_may_reuse_the_key(
        app: Flask, client: FlaskClient, card: int, token_for: TokenFor, body: dict, field: str) -> None:
    token = token_for("kiosk")
    response = _post(client, token, "k1", body)
    assert response.status_code == 400
    assert response.json["error"]["field"] == field
    assert _orders(app) == []
    assert _post(client, token, "k1", {"amount_cents": 100}).status_code == 201


@pytest.mark.parametrize("state", ["blocked", "suspended", "expired", "replaced"])
def test_a_card_that_would_never_collect_it_is_refused(app: Flask, client: FlaskClient, card: int,
                                                      token_for: TokenFor, state: str) -> None:
    _set_state(app, state)
    response = _post(client, token_for("kiosk"), "k", {"amount_cents": 500})
    assert response.status_code == 409
    assert state in response.json["error"]["message"]
    assert _orders(app) == [] and _pending_items(app) == []


def test_a_card_the_registry_does_not_hold_needs_its_uid(app: Flask, client: FlaskClient,
                                                        token_for: TokenFor) -> None:
    token = token_for("card_office")
    assert _post(client, token, "a", {"amount_cents": 500}, card=42).status_code == 404
    response = _post(client, token, "b", {"amount_cents": 500, "uid": "0A0B0C0D"}, card=42)
    assert response.status_code == 201
    pending = items.load_from_item(_pending_items(app)[0])
    assert pending.purse_key_b == masters().for_card(bytes.fromhex("0a0b0c0d")).sector_key(PURSE_SECTOR, KeyType.B)


def test_a_uid_that_is_not_the_registered_cards_is_refused(client: FlaskClient, card: int,
                                                          token_for: TokenFor) -> None:
    response = _post(client, token_for("card_office"), "a", {"amount_cents": 500, "uid": "01020304"})
    assert response.status_code == 400


@pytest.mark.parametrize("role", ["operator", "technician", "auditor", "finance", "issuance_point"])
def test_roles_that_may_not_move_money_are_refused(client: FlaskClient, card: int, token_for: TokenFor,
                                                   role: str) -> None:
    assert _post(client, token_for(role), "k", {"amount_cents": 500}).status_code == 403


def test_a_card_number_beyond_64_bits_is_not_found(client: FlaskClient, token_for: TokenFor) -> None:
    response = client.get(f"/api/v1/cards/{2**64}/loads", headers=bearer(token_for("auditor")))
    assert response.status_code == 404


def test_copies_of_one_call_racing_each_other_queue_one_top_up(app: Flask, card: int,
                                                               token_for: TokenFor) -> None:
    token, copies = token_for("kiosk"), 6
    barrier = threading.Barrier(copies)
    responses: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        response = _post(client, token, "racing", {"amount_cents": 700})
        with lock:
            responses.append((response.status_code, response.json))

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(responses) == copies
    assert {status for status, _ in responses} == {201}
    assert all(body == responses[0][1] for _, body in responses)
    assert len(_orders(app)) == 1 and len(_pending_items(app)) == 1


def test_the_devices_load_entry_marks_it_applied_and_takes_it_off_the_list(
        app: Flask, client: FlaskClient, card: int, token_for: TokenFor) -> None:
    token = token_for("kiosk")
    for key in ("a", "b", "c"):
        assert _post(client, token, key, {"amount_cents": 100}).status_code == 201
    with app.app_context():
        store = database.store
        store.register_device(1201, DEVICE_KEY, mode="bus", operator=7, location=40)
        version = store.list_version("loads")
        # The card took loads 1 and 2 at one tap; 3 was queued after (still pending).
        store.ingest([batch(1201, entry(5, kind="load", card=CARD, before=3, after=4, amount=200, balance=900,
                                        reason="load_applied", details={"loads": [1, 2]}))])
        assert store.list_version("loads") == version + 1
        assert [items.load_from_item(item).load_seq for item in store.full_list("loads").added] == [3]
        delta = store.delta("loads", version)
        assert delta is not None and [items.load_removal_from_item(item) for item in delta.removed] == \
            [(CARD, 1), (CARD, 2)]
        # A redelivered batch changes nothing more.
        store.ingest([batch(1201, entry(5, kind="load", card=CARD, before=3, after=4, amount=200, balance=900,
                                        reason="load_applied", details={"loads": [1, 2]}))])
        assert store.list_version("loads") == version + 1
    listed = client.get(f"/api/v1/cards/{CARD}/loads", headers=bearer(token)).json
    assert [(load["load_seq"], load["status"], load["applied_device"], load["applied_seq"])
            for load in listed["loads"]] == [(1, "applied", 1201, 5), (2, "applied", 1201, 5),
                                             (3, "pending", None, None)]
    assert listed["pending_cents"] == 100


def test_without_issuer_keys_a_top_up_is_a_clear_503(app: Flask, client: FlaskClient, card: int,
                                                     token_for: TokenFor) -> None:
    token = token_for("kiosk")
    app.config["ISSUER_KEYS"] = None
    response = _post(client, token, "k", {"amount_cents": 100})
    assert response.status_code == 503
    assert response.json["error"]["code"] == "issuer_keys_missing"
    assert _orders(app) == []
