"""Reports under ``/api/v1``: ``GET /reports/kpis``, the key figures of a
period (:func:`sync_server.reports.kpis`) as JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..db.models import CARD_STATES
from ..reports import DAYS_MAX, Kpis, kpis
from . import inputs
from .auth import require
from .errors import bad_field
from .extensions import database
from .spec import DATE, ERROR, json_response, ref, secured

bp = Blueprint("reports", __name__, url_prefix="/api/v1")

ROLES = ("admin", "finance", "auditor", "operator")


def _query_date(name: str) -> dt.date:
    raw = request.args.get(name)
    if raw is None:
        raise bad_field(name, f"{name} is required: a date, YYYY-MM-DD")
    parsed: dt.date = inputs.date({name: raw}, name)
    return parsed


def kpis_json(figures: Kpis) -> dict[str, Any]:
    """The JSON of :class:`~sync_server.reports.Kpis` (``KpiReport`` in the OpenAPI document)."""
    return {
        "from": figures.start.isoformat(),
        "to": figures.end.isoformat(),
        "uses": [{"day": item.day.isoformat(), "service": item.service, "count": item.value}
                 for item in figures.uses],
        "revenue": [{"day": item.day.isoformat(), "service": item.service, "cents": item.value}
                    for item in figures.revenue],
        "top_ups": [{"day": item.day.isoformat(), "count": item.count, "cents": item.cents}
                    for item in figures.top_ups],
        "active_cards": figures.active_cards,
        "cards_by_state": figures.cards_by_state,
        "denials_by_reason": figures.denials_by_reason,
        "totals": {
            "transactions": figures.totals.transactions, "uses": figures.totals.uses,
            "revenue_cents": figures.totals.revenue_cents, "top_ups": figures.totals.top_ups,
            "top_up_cents": figures.totals.top_up_cents, "denials": figures.totals.denials},
    }


@bp.get("/reports/kpis")
@require(*ROLES)
def report_kpis() -> Response:
    """The key figures of the days in [from, to)."""
    start, end = _query_date("from"), _query_date("to")
    if not end > start:
        raise bad_field("to", "to must be after from (to is excluded)")
    if (end - start).days > DAYS_MAX:
        raise bad_field("to", f"a report covers at most {DAYS_MAX} days")
    return jsonify(kpis_json(kpis(database.engine, start, end)))


_COUNT = {"type": "integer", "minimum": 0}


def _items(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                       "required": list(properties), "properties": properties}}


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/reports/kpis": {"get": secured({
        "operationId": "reportKpis",
        "summary": "Key figures of a period: uses, revenue and top-ups per day, active cards, denials",
        "description": "Days are UTC; the period is [from, to). Uses are approved taps, rentals and charges; "
                       "revenue is what was charged to cards; cards_by_state is the registry now.",
        "parameters": [
            {"name": "from", "in": "query", "required": True, "schema": DATE, "description": "First day"},
            {"name": "to", "in": "query", "required": True, "schema": DATE, "description": "Day after the last"},
        ],
        "responses": {"200": json_response("The figures", ref("KpiReport")), "400": ERROR},
    }, ROLES)},
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "KpiReport": {"type": "object", "additionalProperties": False, "required": [
        "from", "to", "uses", "revenue", "top_ups", "active_cards", "cards_by_state", "denials_by_reason",
        "totals"], "properties": {
        "from": DATE,
        "to": DATE,
        "uses": _items({"day": DATE, "service": {"type": "string"}, "count": _COUNT}),
        "revenue": _items({"day": DATE, "service": {"type": "string"}, "cents": _COUNT}),
        "top_ups": _items({"day": DATE, "count": _COUNT, "cents": _COUNT}),
        "active_cards": _COUNT,
        "cards_by_state": {"type": "object", "required": list(CARD_STATES),
                           "additionalProperties": _COUNT, "description": "Card state -> cards now"},
        "denials_by_reason": {"type": "object", "additionalProperties": _COUNT,
                              "description": "Reason -> denied transactions"},
        "totals": {"type": "object", "additionalProperties": False, "required": [
            "transactions", "uses", "revenue_cents", "top_ups", "top_up_cents", "denials"],
            "properties": {name: _COUNT for name in (
                "transactions", "uses", "revenue_cents", "top_ups", "top_up_cents", "denials")}}}},
}
