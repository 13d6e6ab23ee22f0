"""Top-ups through the API: ``POST /api/v1/cards/{card_number}/loads`` (with
an ``Idempotency-Key``) queues a pending load the card collects at its next
tap on any device; ``GET`` lists the card's load orders, pending or applied
(see :mod:`sync_server.loads`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify

from card_layout.access import KeyType
from card_layout.layout import PURSE_SECTOR
from device import keystore
from device.errors import KeyStoreError

from ..db.models import LOAD_CHANNELS
from ..db.types import UNSIGNED_MAX
from ..loads import MAX_LOAD_CENTS, LoadOrder, LoadOrders
from . import inputs
from .auth import current_actor, require
from .errors import ApiError
from .extensions import database
from .idempotency import HEADER, REUSED_RESPONSE, header_parameter, idempotent, transaction
from .spec import (
    CARD_NUMBER,
    CONFLICT,
    DATE_TIME,
    ERROR,
    NOT_FOUND,
    NULLABLE_DATE_TIME,
    UID_HEX,
    json_body,
    json_response,
    path_parameter,
    ref,
    secured,
)

bp = Blueprint("loads", __name__, url_prefix="/api/v1")

QUEUE_ROLES = ("admin", "card_office", "kiosk")
READ_ROLES = ("admin", "card_office", "kiosk", "finance", "auditor")
CHANNEL_OF_ROLE = {"kiosk": "kiosk", "card_office": "office", "admin": "office"}

_PURSE_KEYS = "citizencard.purse_keys"


def purse_key_for() -> Callable[[bytes], bytes]:
    """The card's purse key B from the issuer's master keys (app config
    ``ISSUER_KEYS``, read once per app)."""
    derive: Callable[[bytes], bytes] | None = current_app.extensions.get(_PURSE_KEYS)
    if derive is None:
        path = current_app.config.get("ISSUER_KEYS")
        if not path:
            raise ApiError(503, "issuer_keys_missing", "the server has no issuer keys configured: top-ups "
                                                       "cannot be signed for the card ([server] issuer_keys)")
        try:
            masters = keystore.load(Path(path), role="issuer")
        except KeyStoreError as exc:
            current_app.logger.error("cannot read the issuer keys: %s", exc)
            raise ApiError(503, "issuer_keys_unusable", "the server's issuer keys cannot be read; "
                                                        "the error is logged") from exc

        def derive(uid: bytes) -> bytes:
            return masters.for_card(uid).sector_key(PURSE_SECTOR, KeyType.B)

        current_app.extensions[_PURSE_KEYS] = derive
    return derive


def _card_number(value: int) -> int:
    if value > UNSIGNED_MAX:
        raise ApiError(404, "not_found", f"no card {value}: card numbers are at most {UNSIGNED_MAX}")
    return value


def _order_json(order: LoadOrder) -> dict[str, Any]:
    return {
        "id": order.id,
        "card_number": order.card_number,
        "load_seq": order.load_seq,
        "amount_cents": order.amount_cents,
        "channel": order.channel,
        "status": order.status,
        "created_at": order.created_at.isoformat(),
        "created_by": order.created_by,
        "applied_at": None if order.applied_at is None else order.applied_at.isoformat(),
        "applied_device": order.applied_device,
        "applied_seq": order.applied_seq,
        "cancelled_at": None if order.cancelled_at is None else order.cancelled_at.isoformat(),
    }


@bp.post("/cards/<int:card_number>/loads")
@require(*QUEUE_ROLES)
@idempotent
def queue_load(card_number: int) -> tuple[Response, int]:
    """Queue a top-up for the card's next tap."""
    card_number = _card_number(card_number)
    body = inputs.json_object(("amount_cents", "channel", "uid"), required=("amount_cents",))
    amount = inputs.integer(body, "amount_cents", 1, MAX_LOAD_CENTS)
    channel = inputs.choice(body, "channel", LOAD_CHANNELS, default=CHANNEL_OF_ROLE.get(g.staff_member.role))
    uid = inputs.uid(body, default=None)
    orders = LoadOrders(database.store, purse_key_for(), database.store.now)
    order = orders.queue(transaction(), card_number, amount, channel, current_actor(), uid=uid)
    return jsonify(load=_order_json(order)), 201


@bp.get("/cards/<int:card_number>/loads")
@require(*READ_ROLES)
def card_loads(card_number: int) -> Response:
    """The card's load orders, oldest first: pending until a device credits them (or the card is replaced)."""
    card_number = _card_number(card_number)
    with database.engine.connect() as conn:
        orders = LoadOrders.for_card(conn, card_number)
    return jsonify(loads=[_order_json(order) for order in orders],
                   pending_cents=sum(order.amount_cents for order in orders if order.status == "pending"))


_CARD_PARAMETER = path_parameter("card_number", CARD_NUMBER, "The card's number")

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/cards/{card_number}/loads": {
        "post": secured({
            "operationId": "queueLoad",
            "summary": "Queue a top-up for the card's next tap",
            "description": f"Moves money: needs an `{HEADER}` header; a retry with the same key answers the "
                           "first response again (header `Idempotent-Replayed: true`) and queues nothing. "
                           "The card must be active; a card the registry does not hold needs its `uid`.",
            "parameters": [_CARD_PARAMETER, header_parameter(required=True)],
            "requestBody": json_body(ref("LoadRequest")),
            "responses": {
                "201": json_response("The load order, pending", {
                    "type": "object", "required": ["load"], "properties": {"load": ref("LoadOrder")}}),
                "400": ERROR, "404": NOT_FOUND, "409": CONFLICT,
                "422": REUSED_RESPONSE,
            },
        }, QUEUE_ROLES),
        "get": secured({
            "operationId": "listCardLoads",
            "summary": "The card's load orders, pending or applied",
            "parameters": [_CARD_PARAMETER],
            "responses": {"200": json_response("Its load orders, oldest first", {
                "type": "object", "required": ["loads", "pending_cents"], "properties": {
                    "loads": {"type": "array", "items": ref("LoadOrder")},
                    "pending_cents": {"type": "integer", "minimum": 0}}}),
                "404": NOT_FOUND},
        }, READ_ROLES),
    },
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "LoadRequest": {
        "type": "object", "additionalProperties": False, "required": ["amount_cents"],
        "properties": {
            "amount_cents": {"type": "integer", "minimum": 1, "maximum": MAX_LOAD_CENTS},
            "channel": {"enum": list(LOAD_CHANNELS),
                        "description": "Where it was paid (default: kiosk for kiosks, office otherwise)"},
            "uid": {**UID_HEX, "description": "Only for a card the registry does not hold"}}},
    "LoadOrder": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "card_number", "load_seq", "amount_cents", "channel", "status", "created_at",
                     "created_by", "applied_at", "applied_device", "applied_seq", "cancelled_at"],
        "properties": {
            "id": {"type": "integer"},
            "card_number": CARD_NUMBER,
            "load_seq": {"type": "integer", "minimum": 1, "maximum": 65535},
            "amount_cents": {"type": "integer", "minimum": 1},
            "channel": {"enum": list(LOAD_CHANNELS)},
            "status": {"enum": ["pending", "applied", "cancelled"],
                       "description": "cancelled: the card was replaced first; the amount moved to the duplicate"},
            "created_at": DATE_TIME,
            "created_by": {"type": "string"},
            "applied_at": NULLABLE_DATE_TIME,
            "applied_device": {"type": ["integer", "null"]},
            "applied_seq": {"type": ["integer", "null"]},
            "cancelled_at": NULLABLE_DATE_TIME}},
}
