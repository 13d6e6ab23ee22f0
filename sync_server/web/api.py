"""The REST API under ``/api/v1`` (described by :mod:`sync_server.web.openapi`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from ..db.migrate import current_revision, head_revision
from ..db.types import UNSIGNED_MAX
from .auth import require
from .errors import ApiError, bad_field
from .extensions import database
from .openapi import document

bp = Blueprint("api", __name__, url_prefix="/api/v1")

REASON_MAX = 200
"""Characters of a block's reason (shown to the rider at the validator)."""

UID_HEX_LENGTHS = (8, 14)
"""A UID is 4 or 7 bytes: 8 or 14 hex digits."""


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


@bp.get("/health")
def health() -> tuple[Response, int]:
    """Whether the database answers, and its schema revision against this code's."""
    head = head_revision()
    try:
        with database.engine.connect() as conn:
            revision = current_revision(conn)
    except SQLAlchemyError:
        return jsonify(status="unavailable", database="unreachable", schema={"revision": None, "head": head}), 503
    healthy = revision == head
    return jsonify(status="ok" if healthy else "degraded", database="ok",
                   schema={"revision": revision, "head": head}), 200 if healthy else 503


@bp.get("/openapi.json")
def openapi() -> Response:
    """This API's OpenAPI 3.1 description."""
    return jsonify(document())


@bp.get("/devices")
@require("admin", "technician", "auditor")
def devices() -> Response:
    """Every registered device: its last status, the list versions it holds and how far behind they are."""
    store = database.store
    versions = store.device_list_versions()
    lag = store.list_lag()
    return jsonify(devices=[{
        "device_id": device.device_id,
        "mode": device.mode,
        "operator": device.operator,
        "location": device.location,
        "registered_at": _time(device.registered_at),
        "last_seen_at": _time(device.last_seen_at),
        "online": device.online,
        "backlog": device.backlog,
        "last_seq": device.last_seq,
        "list_versions": versions.get(device.device_id, {}),
        "list_lag": lag.get(device.device_id, {}),
    } for device in store.devices()])


def _json_object() -> dict[str, Any]:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "the request body must be a JSON object")
    return body


@bp.post("/cards/block")
@require("admin", "card_office")
def block_card() -> Response:
    """Put a card on the deny-list by number, UID or both."""
    body = _json_object()
    for field in body:
        if field not in ("card_number", "uid", "reason"):
            raise bad_field(field, f"unknown field {field!r:.40}; the fields are card_number, uid, reason")
    card_number = body.get("card_number")
    if card_number is not None and (isinstance(card_number, bool) or not isinstance(card_number, int)
                                    or not 0 <= card_number <= UNSIGNED_MAX):
        raise bad_field("card_number", f"card_number must be an integer in 0..{UNSIGNED_MAX} or null")
    uid_hex = body.get("uid")
    uid = None
    if uid_hex is not None:
        if not isinstance(uid_hex, str) or len(uid_hex) not in UID_HEX_LENGTHS:
            raise bad_field("uid", "uid must be the card's UID as hex: 8 or 14 hex digits (4 or 7 bytes), or null")
        try:
            uid = bytes.fromhex(uid_hex)
        except ValueError:
            raise bad_field("uid", "uid must be hex digits only") from None
    if card_number is None and uid is None:
        raise bad_field("card_number", "give card_number, uid or both")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > REASON_MAX:
        raise bad_field("reason", f"reason must be a non-empty string of at most {REASON_MAX} characters "
                                  "(it is shown to the rider)")
    version = database.store.block(card_number=card_number, uid=uid, reason=reason)
    return jsonify(denylist_version=version)
