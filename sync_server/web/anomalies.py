"""Anomalies for review: ``GET /api/v1/anomalies`` (filters, cursor
pagination) and ``POST /api/v1/anomalies/{id}/review`` (confirmed or
dismissed, with a note), over :mod:`sync_server.reconciliation`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ..db.models import ANOMALY_KINDS, ANOMALY_STATUSES
from ..db.types import UNSIGNED_MAX
from ..reconciliation import NOTE_MAX, REVIEW_OUTCOMES, AnomalyRecord, Policy, Reconciliation
from . import inputs
from .auth import current_actor, require
from .errors import ApiError, bad_field
from .extensions import database
from .paging import NEXT_CURSOR, page_of, page_request, parameters
from .spec import (
    CARD_NUMBER,
    CONFLICT,
    DATE_TIME,
    ERROR,
    NOT_FOUND,
    NULLABLE_DATE_TIME,
    json_body,
    json_response,
    path_parameter,
    query_parameter,
    ref,
    secured,
)

bp = Blueprint("anomalies", __name__, url_prefix="/api/v1")

READ_ROLES = ("admin", "card_office", "auditor", "finance")
REVIEW_ROLES = ("admin", "card_office")
PAGE_MAX = 500
PAGE_DEFAULT = 100


def _reconciliation() -> Reconciliation:
    config = current_app.config.get("SERVER_CONFIG")
    policy: Policy | None = getattr(config, "policy", None)
    return Reconciliation(database.store, policy)


def anomaly_json(anomaly: AnomalyRecord) -> dict[str, Any]:
    """The API's view of an anomaly (also used by the card detail)."""
    return {
        "id": anomaly.id,
        "card_number": anomaly.card_number,
        "uid": None if anomaly.uid is None else anomaly.uid.hex().upper(),
        "kind": anomaly.kind,
        "device_id": anomaly.device_id,
        "seq": anomaly.seq,
        "detail": anomaly.detail,
        "detected_at": anomaly.detected_at.isoformat(),
        "status": anomaly.status,
        "reviewed_at": None if anomaly.reviewed_at is None else anomaly.reviewed_at.isoformat(),
        "reviewed_by": anomaly.reviewed_by,
        "review_note": anomaly.review_note,
    }


@bp.get("/anomalies")
@require(*READ_ROLES)
def list_anomalies() -> Response:
    """Anomalies in the order flagged, filtered by status and card."""
    status = request.args.get("status")
    if status is not None and status not in ANOMALY_STATUSES:
        raise bad_field("status", f"status must be one of {', '.join(ANOMALY_STATUSES)}")
    card_number = inputs.query_integer("card", 0, UNSIGNED_MAX)
    after, limit = page_request(PAGE_MAX, PAGE_DEFAULT)
    found = _reconciliation().anomalies(status=status, card_number=card_number, after_id=after, limit=limit + 1)
    page, next_cursor = page_of(found, limit, lambda anomaly: anomaly.id)
    return jsonify(anomalies=[anomaly_json(anomaly) for anomaly in page], next_cursor=next_cursor)


@bp.post("/anomalies/<int:anomaly_id>/review")
@require(*REVIEW_ROLES)
def review_anomaly(anomaly_id: int) -> Response:
    """Close an open anomaly as confirmed or dismissed, with a note."""
    if anomaly_id > 2**63 - 1:
        raise ApiError(404, "not_found", f"no anomaly {anomaly_id}")
    body = inputs.json_object(("outcome", "note"), required=("outcome", "note"))
    outcome = inputs.choice(body, "outcome", REVIEW_OUTCOMES)
    note = inputs.text(body, "note", max_length=NOTE_MAX)
    return jsonify(anomaly=anomaly_json(_reconciliation().review(anomaly_id, outcome, note, current_actor())))


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/anomalies": {"get": secured({
        "operationId": "listAnomalies",
        "summary": "Impossible card histories flagged by ingest, for review",
        "description": "In the order flagged. With the reconciliation policy (server.toml [reconciliation]), "
                       "the card of an open anomaly of the kinds it names is blocked at once.",
        "parameters": [
            query_parameter("status", {"enum": list(ANOMALY_STATUSES)}, "Only anomalies of this status"),
            query_parameter("card", CARD_NUMBER, "Only this card's anomalies"),
            *parameters("Anomalies", PAGE_MAX, PAGE_DEFAULT),
        ],
        "responses": {
            "200": json_response("A page of anomalies", {
                "type": "object", "required": ["anomalies", "next_cursor"], "properties": {
                    "anomalies": {"type": "array", "items": ref("Anomaly")},
                    "next_cursor": NEXT_CURSOR}}),
            "400": ERROR,
        },
    }, READ_ROLES)},
    "/api/v1/anomalies/{anomaly_id}/review": {"post": secured({
        "operationId": "reviewAnomaly",
        "summary": "Close an open anomaly: confirmed (the card stays blocked) or dismissed",
        "parameters": [path_parameter("anomaly_id", {"type": "integer", "minimum": 0}, "The anomaly's id")],
        "requestBody": json_body(ref("AnomalyReview")),
        "responses": {
            "200": json_response("The anomaly, reviewed", {
                "type": "object", "required": ["anomaly"], "properties": {"anomaly": ref("Anomaly")}}),
            "400": ERROR, "404": NOT_FOUND, "409": CONFLICT,
        },
    }, REVIEW_ROLES)},
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Anomaly": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "card_number", "uid", "kind", "device_id", "seq", "detail", "detected_at", "status",
                     "reviewed_at", "reviewed_by", "review_note"],
        "properties": {
            "id": {"type": "integer"},
            "card_number": {**CARD_NUMBER, "type": ["integer", "null"],
                            "description": "null: a UID the registry does not know (integrity_failures)"},
            "uid": {"type": ["string", "null"], "description": "For integrity_failures: the card's UID, hex"},
            "kind": {"enum": list(ANOMALY_KINDS)},
            "device_id": {"type": "integer", "description": "The device of the entry that shows it"},
            "seq": {"type": "integer", "description": "That entry's sequence number on its device"},
            "detail": {"type": "string"},
            "detected_at": DATE_TIME,
            "status": {"enum": list(ANOMALY_STATUSES)},
            "reviewed_at": NULLABLE_DATE_TIME,
            "reviewed_by": {"type": ["string", "null"]},
            "review_note": {"type": ["string", "null"]}}},
    "AnomalyReview": {
        "type": "object", "additionalProperties": False, "required": ["outcome", "note"],
        "properties": {
            "outcome": {"enum": list(REVIEW_OUTCOMES)},
            "note": {"type": "string", "minLength": 1, "maxLength": NOTE_MAX}}},
}
