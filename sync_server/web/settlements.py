"""Settlements under ``/api/v1`` (:mod:`sync_server.settlement`): preview,
close (finance), list, get, verify, and export of a settlement's lines and
transactions as CSV. A closed settlement has no update or delete: those
methods are answered 405."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from ..errors import UnknownSettlementError
from ..settlement import Closed, Draft, Settlements, render, time_text
from ..store import utc_now
from ..transactions import csv_stream
from . import inputs
from .auth import current_actor, require
from .extensions import database
from .spec import (
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
from .transactions import csv_response

bp = Blueprint("settlements", __name__, url_prefix="/api/v1")

CLOSE_ROLES = ("finance",)
READ_ROLES = ("admin", "finance", "auditor", "operator")
ID_MAX = 2**63 - 1
OPERATOR_MAX = 255


def settlements() -> Settlements:
    return Settlements(database.engine, current_app.config.get("CLOCK") or utc_now)


def _request() -> tuple[int, Any, Any, Any]:
    body = inputs.json_object(("operator_id", "period_start", "period_end", "cutoff"),
                              required=("operator_id", "period_start", "period_end"))
    operator_id = inputs.integer(body, "operator_id", 0, OPERATOR_MAX)
    start = inputs.timestamp(body["period_start"], "period_start")
    end = inputs.timestamp(body["period_end"], "period_end")
    cutoff = None if body.get("cutoff") is None else inputs.timestamp(body["cutoff"], "cutoff")
    return operator_id, start, end, cutoff


def draft_json(draft: Draft) -> dict[str, Any]:
    scope = draft.scope
    return {
        "operator_id": scope.operator_id, "period_start": time_text(scope.period_start),
        "period_end": time_text(scope.period_end), "received_after": time_text(scope.received_after) or None,
        "cutoff": time_text(scope.cutoff), "adjustment": scope.adjustment,
        "transaction_count": draft.transaction_count, "amount_cents": draft.amount_cents, "digest": draft.digest,
        "lines": [{"service": line.service, "kind": line.kind, "transaction_count": line.transaction_count,
                   "amount_cents": line.amount_cents} for line in draft.lines],
    }


def closed_json(settlement: Closed) -> dict[str, Any]:
    return {"id": settlement.id, **draft_json(settlement), "closed_at": time_text(settlement.closed_at),
            "closed_by": settlement.closed_by}


def _get(settlement_id: int) -> Closed:
    if settlement_id > ID_MAX:  # beyond a 64-bit key: none such, rather than a database error
        raise UnknownSettlementError(f"no settlement {settlement_id}")
    return settlements().get(settlement_id)


@bp.post("/settlements/preview")
@require(*READ_ROLES)
def preview_settlement() -> Response:
    """What closing would store now, without storing it."""
    return jsonify(draft_json(settlements().preview(*_request())))


@bp.post("/settlements")
@require(*CLOSE_ROLES)
def close_settlement() -> tuple[Response, int]:
    """Close (compute and store) a settlement: the period's first, or an adjustment of a settled period."""
    operator_id, start, end, cutoff = _request()
    return jsonify(closed_json(settlements().close(current_actor(), operator_id, start, end, cutoff))), 201


@bp.get("/settlements")
@require(*READ_ROLES)
def list_settlements() -> Response:
    """The closed settlements, by id (of one operator with ``operator``)."""
    operator_id = inputs.query_integer("operator", 0, OPERATOR_MAX)
    return jsonify(settlements=[closed_json(item) for item in settlements().closed(operator_id)])


@bp.get("/settlements/<int:settlement_id>")
@require(*READ_ROLES)
def get_settlement(settlement_id: int) -> Response:
    """One closed settlement with its lines."""
    return jsonify(closed_json(_get(settlement_id)))


@bp.get("/settlements/<int:settlement_id>/verify")
@require(*READ_ROLES)
def verify_settlement(settlement_id: int) -> Response:
    """Recompute a settlement from the transactions and compare the digests."""
    verification = settlements().verify(_get(settlement_id).id)
    return jsonify(id=settlement_id, digest=verification.settlement.digest, recomputed=verification.recomputed,
                   reproducible=verification.reproducible)


@bp.get("/settlements/<int:settlement_id>/lines.csv")
@require(*READ_ROLES)
def export_settlement_lines(settlement_id: int) -> Response:
    """The settlement's lines as CSV: exactly the text whose SHA-256 is its digest."""
    return lines_csv_response(_get(settlement_id))


@bp.get("/settlements/<int:settlement_id>/transactions.csv")
@require(*READ_ROLES)
def export_settlement_transactions(settlement_id: int) -> Response:
    """The transactions the settlement covers, streamed as CSV (as ``/transactions.csv``)."""
    return transactions_csv_response(_get(settlement_id))


def lines_csv_response(settlement: Closed) -> Response:
    """A download of ``settlement``'s lines (the API's and the staff pages')."""
    return Response(render(settlement.scope, settlement.lines), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="settlement-{settlement.id}-lines.csv"',
                             "Content-Type": "text/csv; charset=utf-8; header=present"})


def transactions_csv_response(settlement: Closed) -> Response:
    """A download of the transactions ``settlement`` covers, streamed."""
    return csv_response(csv_stream(database.engine, settlement.scope.transactions()),
                        f"settlement-{settlement.id}-transactions.csv")


_ID = path_parameter("settlement_id", {"type": "integer", "minimum": 0}, "The settlement's id")
_CSV = {"text/csv": {"schema": {"type": "string"}}}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/settlements/preview": {"post": secured({
        "operationId": "previewSettlement",
        "summary": "Compute a settlement without storing it",
        "description": "The same answer as closing now, without id, closed_at and closed_by.",
        "requestBody": json_body(ref("SettlementRequest")),
        "responses": {"200": json_response("The settlement as it would be closed", ref("SettlementDraft")),
                      "400": ERROR, "404": NOT_FOUND, "409": CONFLICT},
    }, READ_ROLES)},
    "/api/v1/settlements": {
        "post": secured({
            "operationId": "closeSettlement",
            "summary": "Close a settlement of an operator's period",
            "description": "The done transactions of the operator's devices created in [period_start, period_end) "
                           "and received in (received_after, cutoff]. The first settlement of a period has "
                           "received_after null; closing the same period again makes an adjustment covering what "
                           "arrived after the previous cut-off. A period overlapping a settled one other than "
                           "exactly is refused (409). The cut-off defaults to 5 minutes ago and may not be later. "
                           "Closed settlements are immutable.",
            "requestBody": json_body(ref("SettlementRequest")),
            "responses": {"201": json_response("The closed settlement", ref("Settlement")),
                          "400": ERROR, "404": NOT_FOUND, "409": CONFLICT},
        }, CLOSE_ROLES),
        "get": secured({
            "operationId": "listSettlements",
            "summary": "The closed settlements, by id",
            "parameters": [query_parameter("operator", {"type": "integer", "minimum": 0, "maximum": OPERATOR_MAX},
                                           "Only this operator's")],
            "responses": {"200": json_response("The settlements", {
                "type": "object", "additionalProperties": False, "required": ["settlements"],
                "properties": {"settlements": {"type": "array", "items": ref("Settlement")}}}), "400": ERROR},
        }, READ_ROLES),
    },
    "/api/v1/settlements/{settlement_id}": {"get": secured({
        "operationId": "getSettlement",
        "summary": "A closed settlement with its lines",
        "parameters": [_ID],
        "responses": {"200": json_response("The settlement", ref("Settlement")), "404": NOT_FOUND},
    }, READ_ROLES)},
    "/api/v1/settlements/{settlement_id}/verify": {"get": secured({
        "operationId": "verifySettlement",
        "summary": "Recompute a settlement from the transactions and compare its digest",
        "parameters": [_ID],
        "responses": {"200": json_response("The comparison", ref("SettlementVerification")), "404": NOT_FOUND},
    }, READ_ROLES)},
    "/api/v1/settlements/{settlement_id}/lines.csv": {"get": secured({
        "operationId": "exportSettlementLines",
        "summary": "A settlement's lines as CSV; its SHA-256 is the settlement's digest",
        "parameters": [_ID],
        "responses": {"200": {"description": "The lines", "content": _CSV}, "404": NOT_FOUND},
    }, READ_ROLES)},
    "/api/v1/settlements/{settlement_id}/transactions.csv": {"get": secured({
        "operationId": "exportSettlementTransactions",
        "summary": "The transactions a settlement covers, as CSV (the columns of /transactions.csv)",
        "parameters": [_ID],
        "responses": {"200": {"description": "The transactions", "content": _CSV}, "404": NOT_FOUND},
    }, READ_ROLES)},
}

_COUNT = {"type": "integer", "minimum": 0}
_DRAFT_PROPERTIES: dict[str, Any] = {
    "operator_id": {"type": "integer", "minimum": 0, "maximum": OPERATOR_MAX},
    "period_start": DATE_TIME,
    "period_end": DATE_TIME,
    "received_after": {**NULLABLE_DATE_TIME, "description": "Null for a period's first settlement"},
    "cutoff": DATE_TIME,
    "adjustment": {"type": "boolean"},
    "transaction_count": _COUNT,
    "amount_cents": {**_COUNT, "description": "What the operator is owed: the charges, as positive cents"},
    "digest": {"type": "string", "pattern": "^[0-9a-f]{64}$",
               "description": "SHA-256 of the lines export (lines.csv)"},
    "lines": {"type": "array", "items": ref("SettlementLine")},
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "SettlementRequest": {"type": "object", "additionalProperties": False,
                          "required": ["operator_id", "period_start", "period_end"], "properties": {
                              "operator_id": {"type": "integer", "minimum": 0, "maximum": OPERATOR_MAX},
                              "period_start": DATE_TIME,
                              "period_end": DATE_TIME,
                              "cutoff": {**NULLABLE_DATE_TIME,
                                         "description": "Received up to; default and latest: 5 minutes ago"}}},
    "SettlementLine": {"type": "object", "additionalProperties": False,
                       "required": ["service", "kind", "transaction_count", "amount_cents"], "properties": {
                           "service": {"type": "string"}, "kind": {"type": "string"},
                           "transaction_count": _COUNT, "amount_cents": _COUNT}},
    "SettlementDraft": {"type": "object", "additionalProperties": False, "required": list(_DRAFT_PROPERTIES),
                        "properties": _DRAFT_PROPERTIES},
    "Settlement": {"type": "object", "additionalProperties": False,
                   "required": ["id", *_DRAFT_PROPERTIES, "closed_at", "closed_by"], "properties": {
                       "id": {"type": "integer", "minimum": 1}, **_DRAFT_PROPERTIES,
                       "closed_at": DATE_TIME, "closed_by": {"type": "string"}}},
    "SettlementVerification": {"type": "object", "additionalProperties": False,
                               "required": ["id", "digest", "recomputed", "reproducible"], "properties": {
                                   "id": {"type": "integer"}, "digest": {"type": "string"},
                                   "recomputed": {"type": "string"}, "reproducible": {"type": "boolean"}}},
}
