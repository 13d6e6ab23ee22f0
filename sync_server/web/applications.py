"""Card applications under ``/api/v1/applications``: submit (a kiosk only
tourist cards), the review queue oldest first, approve, reject with a
reason, cancel, and issue at the issuance point."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..db.models import APPLICATION_KINDS, APPLICATION_STATUSES, CARD_KINDS, FARE_PROFILES
from ..errors import UnknownApplicationError
from ..registry import applications, issuance
from ..registry.base import CARD_NUMBER_MAX
from . import inputs
from .auth import current_actor, require
from .errors import ApiError
from .holders import ID_MAX, day, path_id, registry, time
from .idempotency import HEADER, REUSED_RESPONSE, header_parameter, idempotent_when_keyed, keyed_transaction
from .paging import NEXT_CURSOR, page_of, page_request, parameters
from .spec import (
    CARD_NUMBER,
    CONFLICT,
    DATE,
    DATE_TIME,
    ERROR,
    NOT_FOUND,
    NULLABLE_DATE_TIME,
    UID_HEX,
    json_body,
    json_response,
    path_parameter,
    query_parameter,
    ref,
    secured,
)

bp = Blueprint("applications", __name__, url_prefix="/api/v1")

SUBMIT_ROLES = ("admin", "card_office", "kiosk")
READ_ROLES = ("admin", "card_office", "auditor", "issuance_point")
REVIEW_ROLES = ("admin", "card_office")
ISSUE_ROLES = ("issuance_point",)
PAGE_DEFAULT = 50
PAGE_MAX = applications.QUEUE_MAX - 1  # one more is read to tell whether more follow


def application_json(application: applications.Application) -> dict[str, Any]:
    return {"id": application.id, "kind": application.kind, "status": application.status,
            "holder_id": application.holder_id, "card_kind": application.card_kind, "profile": application.profile,
            "replaces_card": application.replaces_card, "balance_cents": application.balance_cents,
            "note": application.note, "submitted_at": time(application.submitted_at),
            "submitted_by": application.submitted_by, "decided_at": time(application.decided_at),
            "decided_by": application.decided_by, "decision_reason": application.decision_reason,
            "card_number": application.card_number}


def _id(application_id: int) -> int:
    return path_id(application_id, UnknownApplicationError, "application")


@bp.post("/applications")
@require(*SUBMIT_ROLES)
@idempotent_when_keyed
def submit() -> tuple[Response, int]:
    """Apply for a card."""
    body = inputs.json_object(("kind", "holder_id", "card_kind", "profile", "replaces_card", "balance_cents",
                               "note"), required=("kind",))
    kind = inputs.choice(body, "kind", APPLICATION_KINDS)
    actor = current_actor()
    if actor.role == "kiosk" and kind != "tourist":
        raise ApiError(403, "forbidden", "a kiosk may apply for tourist cards only")
    fields = {
        "holder_id": inputs.integer(body, "holder_id", 1, ID_MAX, default=None),
        "card_kind": inputs.choice(body, "card_kind", CARD_KINDS, default=None),
        "profile": inputs.choice(body, "profile", FARE_PROFILES, default=None),
        "replaces_card": inputs.card_number(body, "replaces_card", default=None),
        "balance_cents": inputs.integer(body, "balance_cents", 0, applications.TOURIST_BALANCE_MAX, default=0),
        "note": inputs.text(body, "note", max_length=applications.NOTE_MAX, default=None)}
    conn = keyed_transaction()
    if conn is not None:
        application = applications.submit_within(conn, actor, registry().now(), kind=kind, **fields)
    elif fields["balance_cents"]:
        raise ApiError(400, "idempotency_key_required", f"a card sold with a prepaid balance moves money: send an "
                                                        f"{HEADER} header, the same one when retrying", field=HEADER)
    else:
        application = applications.submit(registry(), actor, kind=kind, **fields)
    return jsonify(application_json(application)), 201


@bp.get("/applications")
@require(*READ_ROLES)
def queue() -> Response:
    """Applications oldest first, of one status if given, a page at a time."""
    status = request.args.get("status")
    if status is not None and status not in APPLICATION_STATUSES:
        raise ApiError(400, "invalid_field", f"status must be one of {', '.join(APPLICATION_STATUSES)}",
                       field="status")
    after, limit = page_request(PAGE_MAX, PAGE_DEFAULT)
    found = applications.queue(registry(), status=status, after_id=after, limit=limit + 1)
    page, next_cursor = page_of(found, limit, lambda application: application.id)
    return jsonify(applications=[application_json(a) for a in page], next_cursor=next_cursor)


@bp.get("/applications/<int:application_id>")
@require(*READ_ROLES)
def get(application_id: int) -> Response:
    """One application."""
    return jsonify(application_json(applications.get(registry(), _id(application_id))))


@bp.post("/applications/<int:application_id>/approve")
@require(*REVIEW_ROLES)
def approve(application_id: int) -> Response:
    """Approve a pending application."""
    return jsonify(application_json(applications.approve(registry(), current_actor(), _id(application_id))))


@bp.post("/applications/<int:application_id>/reject")
@require(*REVIEW_ROLES)
def reject(application_id: int) -> Response:
    """Reject a pending application, saying why."""
    body = inputs.json_object(("reason",), required=("reason",))
    reason = inputs.text(body, "reason", max_length=applications.REASON_MAX)
    return jsonify(application_json(applications.reject(registry(), current_actor(), _id(application_id), reason)))


@bp.post("/applications/<int:application_id>/cancel")
@require(*REVIEW_ROLES)
def cancel(application_id: int) -> Response:
    """Cancel an application not issued yet."""
    body = inputs.json_object(("reason",)) if request.content_length else {}
    reason = inputs.text(body, "reason", max_length=applications.REASON_MAX, default=None)
    return jsonify(application_json(applications.cancel(registry(), current_actor(), _id(application_id), reason)))


@bp.post("/applications/<int:application_id>/issue")
@require(*ISSUE_ROLES)
def issue(application_id: int) -> tuple[Response, int]:
    """Issue an approved application to the blank with this UID: what to personalise it with."""
    body = inputs.json_object(("uid",), required=("uid",))
    uid = inputs.uid(body)
    made, created = issuance.issue(registry(), current_actor(), _id(application_id), uid)
    return jsonify({
        "application_id": made.application_id, "card_number": made.card_number, "uid": made.uid.hex().upper(),
        "kind": made.kind, "profile": made.profile, "holder_id": made.holder_id,
        "issued_on": day(made.issued_on), "expires_on": day(made.expires_on), "balance_cents": made.balance_cents,
        "contracts": [{"kind": c.kind, "valid_from": day(c.valid_from), "valid_until": day(c.valid_until),
                       "operator": c.operator, "product": c.product} for c in made.contracts],
        "replaces": made.replaces}), 201 if created else 200


_APPLICATION_ID = path_parameter("application_id", {"type": "integer", "minimum": 1}, "The application's id")
_APPLICATION = json_response("The application", ref("Application"))
_NULLABLE_TEXT = {"type": ["string", "null"]}


def _action(operation_id: str, summary: str, roles: tuple[str, ...], body: dict[str, Any] | None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id, "summary": summary, "parameters": [_APPLICATION_ID],
        "responses": {"200": _APPLICATION, "400": ERROR, "404": NOT_FOUND, "409": CONFLICT}}
    if body is not None:
        operation["requestBody"] = body
    return {"post": secured(operation, roles)}


_REASON = {"type": "string", "minLength": 1, "maxLength": applications.REASON_MAX}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/applications": {
        "post": secured({
            "operationId": "submitApplication",
            "summary": "Apply for a new card, a duplicate, a renewal or a tourist card",
            "description": "A kiosk may apply for tourist cards only (403 otherwise). A tourist card sold with a "
                           f"prepaid balance moves money: it needs an `{HEADER}`.",
            "parameters": [header_parameter(required=False)],
            "requestBody": json_body(ref("ApplicationRequest")),
            "responses": {"201": _APPLICATION, "400": ERROR, "404": NOT_FOUND, "409": CONFLICT,
                          "422": REUSED_RESPONSE},
        }, SUBMIT_ROLES),
        "get": secured({
            "operationId": "listApplications",
            "summary": "The applications, oldest first (a review queue with status=pending)",
            "parameters": [
                query_parameter("status", {"enum": list(APPLICATION_STATUSES)}, "Only applications of this status"),
                *parameters("Applications", PAGE_MAX, PAGE_DEFAULT)],
            "responses": {"200": json_response("A page of applications", {
                "type": "object", "additionalProperties": False, "required": ["applications", "next_cursor"],
                "properties": {"applications": {"type": "array", "items": ref("Application")},
                               "next_cursor": NEXT_CURSOR}}),
                "400": ERROR},
        }, READ_ROLES),
    },
    "/api/v1/applications/{application_id}": {"get": secured({
        "operationId": "getApplication", "summary": "One application", "parameters": [_APPLICATION_ID],
        "responses": {"200": _APPLICATION, "404": NOT_FOUND}}, READ_ROLES)},
    "/api/v1/applications/{application_id}/approve": _action(
        "approveApplication", "Approve a pending application", REVIEW_ROLES, None),
    "/api/v1/applications/{application_id}/reject": _action(
        "rejectApplication", "Reject a pending application, saying why", REVIEW_ROLES, json_body({
            "type": "object", "additionalProperties": False, "required": ["reason"],
            "properties": {"reason": _REASON}})),
    "/api/v1/applications/{application_id}/cancel": _action(
        "cancelApplication", "Cancel an application not issued yet (pending or approved)", REVIEW_ROLES,
        {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False,
            "properties": {"reason": {**_REASON, "type": ["string", "null"]}}}}}}),
    "/api/v1/applications/{application_id}/issue": {"post": secured({
        "operationId": "issueApplication",
        "summary": "Issue an approved application to a blank card: what to personalise it with",
        "description": "The server assigns the card number. Asked again with the same UID it answers the same card "
                       "(200); another UID for an application issued already is a 409.",
        "parameters": [_APPLICATION_ID],
        "requestBody": json_body({"type": "object", "additionalProperties": False, "required": ["uid"],
                                  "properties": {"uid": UID_HEX}}),
        "responses": {"201": json_response("The new card", ref("Personalisation")),
                      "200": json_response("The card issued before to this UID", ref("Personalisation")),
                      "400": ERROR, "404": NOT_FOUND, "409": CONFLICT},
    }, ISSUE_ROLES)},
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Application": {"type": "object", "additionalProperties": False, "required": [
        "id", "kind", "status", "holder_id", "card_kind", "profile", "replaces_card", "balance_cents", "note",
        "submitted_at", "submitted_by", "decided_at", "decided_by", "decision_reason", "card_number"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "kind": {"enum": list(APPLICATION_KINDS)},
            "status": {"enum": list(APPLICATION_STATUSES)},
            "holder_id": {"type": ["integer", "null"], "minimum": 1},
            "card_kind": {"enum": list(CARD_KINDS)},
            "profile": {"enum": list(FARE_PROFILES)},
            "replaces_card": {**CARD_NUMBER, "type": ["integer", "null"]},
            "balance_cents": {"type": "integer", "minimum": 0},
            "note": _NULLABLE_TEXT,
            "submitted_at": DATE_TIME,
            "submitted_by": {"type": "string"},
            "decided_at": NULLABLE_DATE_TIME,
            "decided_by": _NULLABLE_TEXT,
            "decision_reason": _NULLABLE_TEXT,
            "card_number": {**CARD_NUMBER, "type": ["integer", "null"], "description": "Once issued"}}},
    "ApplicationRequest": {"type": "object", "additionalProperties": False, "required": ["kind"],
                           "description": "holder_id is required except for a tourist card; a duplicate or "
                                          "renewal names replaces_card; only a tourist card has a balance.",
                           "properties": {
        "kind": {"enum": list(APPLICATION_KINDS)},
        "holder_id": {"type": ["integer", "null"], "minimum": 1, "maximum": ID_MAX},
        "card_kind": {"enum": [*CARD_KINDS, None]},
        "profile": {"enum": [*FARE_PROFILES, None], "description": "Default general; a duplicate keeps the card's"},
        "replaces_card": {"type": ["integer", "null"], "minimum": 0, "maximum": CARD_NUMBER_MAX},
        "balance_cents": {"type": ["integer", "null"], "minimum": 0, "maximum": applications.TOURIST_BALANCE_MAX},
        "note": {"type": ["string", "null"], "minLength": 1, "maxLength": applications.NOTE_MAX}}},
    "Personalisation": {"type": "object", "additionalProperties": False, "required": [
        "application_id", "card_number", "uid", "kind", "profile", "holder_id", "issued_on", "expires_on",
        "balance_cents", "contracts", "replaces"], "properties": {
        "application_id": {"type": "integer", "minimum": 1},
        "card_number": CARD_NUMBER,
        "uid": UID_HEX,
        "kind": {"enum": list(CARD_KINDS)},
        "profile": {"enum": list(FARE_PROFILES)},
        "holder_id": {"type": ["integer", "null"], "minimum": 1},
        "issued_on": DATE,
        "expires_on": DATE,
        "balance_cents": {"type": "integer", "minimum": 0, "description": "The purse's initial balance"},
        "contracts": {"type": "array", "items": ref("Contract")},
        "replaces": {**CARD_NUMBER, "type": ["integer", "null"]}}},
}
