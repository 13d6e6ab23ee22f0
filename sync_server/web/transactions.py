"""The transaction pull under ``/api/v1``: ``GET /transactions`` a page at a
time with an opaque cursor, and ``GET /transactions.csv``, the same
transactions streamed as CSV (:mod:`sync_server.transactions`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..db.models import Device
from ..db.types import UNSIGNED_MAX
from ..transactions import (
    PAGE_DEFAULT,
    PAGE_MAX,
    InvalidCursorError,
    TransactionFilter,
    TransactionRow,
    csv_stream,
    decode_cursor,
    encode_cursor,
    page,
)
from . import inputs
from .auth import require
from .errors import bad_field
from .extensions import database
from .spec import CARD_NUMBER, DATE_TIME, ERROR, json_response, query_parameter, ref, secured

bp = Blueprint("transactions", __name__, url_prefix="/api/v1")

ROLES = ("admin", "finance", "auditor", "operator")
SERVICE_MAX = Device.__table__.c.mode.type.length  # type: ignore[attr-defined]
DEVICE_MAX = 2**63 - 1
OPERATOR_MAX = 2**31 - 1


def time_text(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _service(name: str) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw or len(raw) > SERVICE_MAX:
        raise bad_field(name, f"{name} must be a service code (a device mode) of 1 to {SERVICE_MAX} characters")
    return raw


def query_filter() -> TransactionFilter:
    """The filters of the request's query string (``from``, ``to``, ``service``, ``operator``, ``device``, ``card``)."""
    return TransactionFilter(
        created_from=inputs.query_timestamp("from"),
        created_to=inputs.query_timestamp("to"),
        service=_service("service"),
        operator=inputs.query_integer("operator", 0, OPERATOR_MAX),
        device_id=inputs.query_integer("device", 0, DEVICE_MAX),
        card_number=inputs.query_integer("card", 0, UNSIGNED_MAX),
    )


def transaction_json(row: TransactionRow) -> dict[str, Any]:
    return {
        "id": row.id, "device_id": row.device_id, "seq": row.seq, "rev": row.rev,
        "created_at": time_text(row.created_at), "received_at": time_text(row.received_at),
        "service": row.service, "operator": row.operator, "kind": row.kind, "state": row.state,
        "decision": row.decision, "reason": row.reason, "card_number": row.card_number, "uid": row.uid,
        "counter_before": row.counter_before, "counter_after": row.counter_after,
        "amount_cents": row.amount_cents, "balance_cents": row.balance_cents, "details": row.details,
    }


def _then(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    # A generator (not itertools.chain): closing it when the client goes away closes ``rest``, whose
    # database connection is then returned at once.
    yield first
    yield from rest


def csv_response(chunks: Iterator[bytes], filename: str) -> Response:
    """A streamed CSV download; the first chunk is taken now, so a database
    that cannot be used is answered 503 rather than cutting a 200 short."""
    first = next(chunks)
    return Response(_then(first, chunks), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Content-Type": "text/csv; charset=utf-8; header=present"})


@bp.get("/transactions")
@require(*ROLES)
def list_transactions() -> Response:
    """A page of transactions in id order, and the cursor of the next page."""
    filters = query_filter()
    limit = inputs.query_integer("limit", 1, PAGE_MAX, PAGE_DEFAULT) or PAGE_DEFAULT
    cursor = request.args.get("cursor")
    try:
        after = 0 if cursor is None else decode_cursor(cursor)
    except InvalidCursorError as exc:
        raise bad_field("cursor", str(exc)) from None
    result = page(database.engine, filters, after=after, limit=limit)
    last = result.last_id
    resume = cursor if last is None else encode_cursor(last)
    return jsonify(transactions=[transaction_json(row) for row in result.rows],
                   next_cursor=resume if result.more else None, resume_cursor=resume)


@bp.get("/transactions.csv")
@require(*ROLES)
def export_transactions() -> Response:
    """The transactions matching the filters, streamed as CSV."""
    return csv_response(csv_stream(database.engine, query_filter()), "transactions.csv")


FILTER_PARAMETERS = [
    query_parameter("from", {"type": "string"}, "Created at or after: an ISO 8601 date-time with an offset, or a "
                                                "date (midnight UTC)"),
    query_parameter("to", {"type": "string"}, "Created before (exclusive), as from"),
    query_parameter("service", {"type": "string", "minLength": 1, "maxLength": SERVICE_MAX},
                    "The service: the device's mode (bus, bike, ev, kiosk, ...)"),
    query_parameter("operator", {"type": "integer", "minimum": 0, "maximum": OPERATOR_MAX},
                    "The operator of the device"),
    query_parameter("device", {"type": "integer", "minimum": 0, "maximum": DEVICE_MAX}, "The device id"),
    query_parameter("card", CARD_NUMBER, "The card number"),
]

CSV_DESCRIPTION = ("UTF-8, RFC 4180 (CRLF line ends), a header row: id, device_id, seq, rev, created_at, "
                   "received_at, service, operator, kind, state, decision, reason, card_number, uid, "
                   "counter_before, counter_after, amount_cents, balance_cents, details (canonical JSON). Times "
                   "are UTC, YYYY-MM-DD HH:MM:SS.ffffff; empty fields are nulls.")

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/transactions": {"get": secured({
        "operationId": "listTransactions",
        "summary": "A page of synced transactions, in id order",
        "description": "Cursor pagination: pass next_cursor as cursor for the next page (null: no more rows now). "
                       "Rows inserted while paging come after the cursor, never before it: no row is skipped or "
                       "repeated. resume_cursor resumes after this page later, to pick up new rows.",
        "parameters": [*FILTER_PARAMETERS,
                       query_parameter("cursor", {"type": "string"}, "The next_cursor of the previous page"),
                       query_parameter("limit", {"type": "integer", "minimum": 1, "maximum": PAGE_MAX,
                                                 "default": PAGE_DEFAULT}, "Rows per page")],
        "responses": {
            "200": json_response("The page", ref("TransactionPage")),
            "400": ERROR,
        },
    }, ROLES)},
    "/api/v1/transactions.csv": {"get": secured({
        "operationId": "exportTransactions",
        "summary": "The synced transactions matching the filters, streamed as CSV",
        "description": CSV_DESCRIPTION,
        "parameters": FILTER_PARAMETERS,
        "responses": {
            "200": {"description": "The CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
            "400": ERROR,
        },
    }, ROLES)},
}

_NULLABLE_INT = {"type": ["integer", "null"]}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Transaction": {"type": "object", "additionalProperties": False, "required": [
        "id", "device_id", "seq", "rev", "created_at", "received_at", "service", "operator", "kind", "state",
        "decision", "reason", "card_number", "uid", "counter_before", "counter_after", "amount_cents",
        "balance_cents", "details"], "properties": {
        "id": {"type": "integer", "minimum": 1},
        "device_id": {"type": "integer"},
        "seq": {"type": "integer"},
        "rev": {"type": "integer"},
        "created_at": DATE_TIME,
        "received_at": DATE_TIME,
        "service": {"type": "string", "description": "The device's mode"},
        "operator": {"type": "integer"},
        "kind": {"type": "string", "examples": ["bus", "bike_start", "bike_end", "ev_start", "ev_end", "load"]},
        "state": {"enum": ["intent", "done", "aborted"], "description": "Only done moves money"},
        "decision": {"type": "string"},
        "reason": {"type": "string"},
        "card_number": {**CARD_NUMBER, "type": ["integer", "null"]},
        "uid": {"type": ["string", "null"], "description": "The card's UID as hex"},
        "counter_before": _NULLABLE_INT,
        "counter_after": _NULLABLE_INT,
        "amount_cents": {"type": "integer", "description": "Signed: negative is charged to the card"},
        "balance_cents": _NULLABLE_INT,
        "details": {"type": "object"}}},
    "TransactionPage": {"type": "object", "additionalProperties": False,
                        "required": ["transactions", "next_cursor", "resume_cursor"], "properties": {
                            "transactions": {"type": "array", "items": ref("Transaction")},
                            "next_cursor": {"type": ["string", "null"]},
                            "resume_cursor": {"type": ["string", "null"]}}},
}
