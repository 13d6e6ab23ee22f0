"""The REST API under ``/api/v1`` (described by :mod:`sync_server.web.openapi`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy.exc import SQLAlchemyError

from ..db.migrate import current_revision, head_revision
from ..registry import states
from . import inputs
from .auth import current_actor, require
from .errors import bad_field
from .extensions import database
from .holders import registry
from .spec import CARD_NUMBER, ERROR, LIST_NUMBERS, NULLABLE_DATE_TIME, UID_HEX, json_body, json_response, ref, secured

bp = Blueprint("api", __name__, url_prefix="/api/v1")

REASON_MAX = 200
"""Characters of a block's reason (shown to the rider at the validator)."""

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


DEVICES_ROLES = ("admin", "technician", "auditor")
BLOCK_ROLES = ("admin", "card_office")


@bp.get("/devices")
@require(*DEVICES_ROLES)
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


@bp.post("/cards/block")
@require(*BLOCK_ROLES)
def block_card() -> Response:
    """Put a card on the deny-list by number, UID or both."""
    body = inputs.json_object(("card_number", "uid", "reason"), required=("reason",))
    card_number = inputs.card_number(body, default=None)
    uid = inputs.uid(body, default=None)
    if card_number is None and uid is None:
        raise bad_field("card_number", "give card_number, uid or both")
    reason = inputs.text(body, "reason", max_length=REASON_MAX)
    # A registered card changes state with its deny-list entry, so the two never disagree.
    version = states.block_keys(registry(), current_actor(), card_number=card_number, uid=uid, reason=reason)
    return jsonify(denylist_version=version)


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/health": {"get": {
        "operationId": "health",
        "summary": "Whether the database answers, and its schema revision",
        "security": [],
        "responses": {
            "200": json_response("Healthy", ref("Health")),
            "503": json_response("The database is unreachable or not at this code's schema", ref("Health")),
        },
    }},
    "/api/v1/devices": {"get": secured({
        "operationId": "listDevices",
        "summary": "Every registered device with its last status and list versions",
        "responses": {"200": json_response("The devices, by id", {
            "type": "object", "required": ["devices"], "properties": {
                "devices": {"type": "array", "items": ref("Device")}}})},
    }, DEVICES_ROLES)},
    "/api/v1/cards/block": {"post": secured({
        "operationId": "blockCard",
        "summary": "Put a card on the deny-list",
        "description": "By card number, UID or both; every device receives the change.",
        "requestBody": json_body(ref("BlockRequest")),
        "responses": {
            "200": json_response("The deny-list version that holds the block", {
                "type": "object", "required": ["denylist_version"],
                "properties": {"denylist_version": {"type": "integer", "minimum": 0}}}),
            "400": ERROR,
        },
    }, BLOCK_ROLES)},
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Health": {"type": "object", "required": ["status", "database", "schema"], "properties": {
        "status": {"enum": ["ok", "degraded", "unavailable"]},
        "database": {"enum": ["ok", "unreachable"]},
        "schema": {"type": "object", "required": ["revision", "head"], "properties": {
            "revision": {"type": ["string", "null"]}, "head": {"type": "string"}}}}},
    "Device": {"type": "object", "required": [
        "device_id", "mode", "operator", "location", "registered_at", "last_seen_at", "online",
        "backlog", "last_seq", "list_versions", "list_lag"], "properties": {
        "device_id": {"type": "integer", "minimum": 1},
        "mode": {"type": "string"},
        "operator": {"type": "integer", "minimum": 0},
        "location": {"type": "integer", "minimum": 0},
        "registered_at": {"type": "string", "format": "date-time"},
        "last_seen_at": {**NULLABLE_DATE_TIME, "description": "When its last status arrived; null: never"},
        "online": {"type": "boolean", "description": "As its last status said"},
        "backlog": {"type": "integer", "minimum": 0,
                    "description": "Journal entries not acknowledged yet, as its last status said"},
        "last_seq": {"type": "integer", "minimum": 0},
        "list_versions": {**LIST_NUMBERS, "description": "list name -> the version it holds"},
        "list_lag": {**LIST_NUMBERS, "description": "list name -> versions behind the server"}}},
    "BlockRequest": {
        "type": "object", "additionalProperties": False, "required": ["reason"],
        "description": "card_number, uid or both must be given.",
        "anyOf": [{"required": ["card_number"], "properties": {"card_number": {"type": "integer"}}},
                  {"required": ["uid"], "properties": {"uid": {"type": "string"}}}],
        "properties": {
            "card_number": {**CARD_NUMBER, "type": ["integer", "null"]},
            "uid": {**UID_HEX, "type": ["string", "null"]},
            "reason": {"type": "string", "minLength": 1, "maxLength": 200,
                       "description": "Shown to the rider at the validator"}}},
}
