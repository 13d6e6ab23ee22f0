"""The settlements pages (:mod:`sync_server.settlement`): the closed
settlements (of one operator if chosen), a preview of what closing an
operator's period would store now, the close button for finance, one
settlement with its lines, its verification (recomputed from the
transactions, the digests compared), and its CSV downloads (the lines, whose
SHA-256 is the digest, and the transactions it covers)."""

from __future__ import annotations

import datetime as dt

from flask import Response as FlaskResponse
from flask import g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ...errors import InvalidValueError, StateConflictError, UnknownOperatorError, UnknownSettlementError
from ...operators import Operators
from ...settlement import CUTOFF_LAG, Closed
from ..auth import current_actor
from ..extensions import database
from ..settlements import (
    CLOSE_ROLES,
    ID_MAX,
    OPERATOR_MAX,
    READ_ROLES,
    lines_csv_response,
    settlements,
    transactions_csv_response,
)
from .blueprint import bp, now
from .fields import Fields
from .guard import page
from .nav import allows

SETTLEMENTS_ROLES = READ_ROLES
SCOPE_FIELDS = ("operator", "start", "end", "cutoff")


def _scope(fields: Fields) -> tuple[int | None, dt.datetime | None, dt.datetime | None, dt.datetime | None]:
    operator = fields.integer("operator", 0, OPERATOR_MAX, what="an operator number")
    if operator is None:
        fields.errors.setdefault("operator", "Choose the operator.")
    start, end, cutoff = fields.moment("start"), fields.moment("end"), fields.moment("cutoff")
    for name, value in (("start", start), ("end", end)):
        if value is None:
            fields.errors.setdefault(name, "Give the period's first and last moments (UTC).")
    if start is not None and end is not None and not end > start:
        fields.errors["end"] = "The end must be after the start."
    return operator, start, end, cutoff


def _render_list(*, status: int = 200, form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                 problem: str | None = None, draft: object = None) -> tuple[str, int]:
    operator = Fields(request.args).integer("operator", 0, OPERATOR_MAX)  # also the preview's operator
    operators = Operators(database.engine, now).operators()
    return render_template("pages/settlements.html", settlements=list(reversed(settlements().closed(operator))),
                           operators=operators, names={item.id: item.name for item in operators},
                           chosen=operator, form=form or {}, errors=errors or {}, problem=problem, draft=draft,
                           lag_minutes=int(CUTOFF_LAG.total_seconds() // 60),
                           can_close=allows("pages.settlement_close", g.staff_member.role)), status


@bp.get("/settlements", endpoint="settlements")
@page(*SETTLEMENTS_ROLES)
def settlements_list() -> tuple[str, int]:
    """The closed settlements, newest first, and the preview form."""
    return _render_list()


@bp.get("/settlements/preview")
@page(*SETTLEMENTS_ROLES)
def settlement_preview() -> tuple[str, int]:
    """What closing the period would store now, with the close button for finance."""
    fields = Fields(request.args)
    operator, start, end, cutoff = _scope(fields)
    form = fields.values(*SCOPE_FIELDS)
    if fields.errors:
        return _render_list(status=400, form=form, errors=fields.errors)
    assert operator is not None and start is not None and end is not None
    try:
        draft = settlements().preview(operator, start, end, cutoff)
    except (InvalidValueError, StateConflictError, UnknownOperatorError) as exc:
        return _render_list(status=409 if isinstance(exc, StateConflictError) else 400, form=form,
                            problem=str(exc))
    return _render_list(form=form, draft=draft)


@bp.post("/settlements")
@page(*CLOSE_ROLES)
def settlement_close() -> Response | tuple[str, int]:
    """Close the settlement previewed; on to it."""
    fields = Fields(request.form)
    operator, start, end, cutoff = _scope(fields)
    form = fields.values(*SCOPE_FIELDS)
    if fields.errors:
        return _render_list(status=400, form=form, errors=fields.errors)
    assert operator is not None and start is not None and end is not None
    try:
        closed = settlements().close(current_actor(), operator, start, end, cutoff)
    except (InvalidValueError, StateConflictError, UnknownOperatorError) as exc:
        return _render_list(status=409 if isinstance(exc, StateConflictError) else 400, form=form,
                            problem=str(exc))
    return redirect(url_for("pages.settlement", settlement_id=closed.id, closed=1), 303)


def _get(settlement_id: int) -> Closed:
    if not 0 < settlement_id <= ID_MAX:
        raise UnknownSettlementError(f"No settlement {settlement_id}.")
    return settlements().get(settlement_id)


@bp.get("/settlements/<int:settlement_id>")
@page(*SETTLEMENTS_ROLES)
def settlement(settlement_id: int) -> str:
    """One settlement with its lines; ``?verify=1`` recomputes it from the transactions."""
    closed = _get(settlement_id)
    verification = settlements().verify(closed.id) if request.args.get("verify") == "1" else None
    operator = Operators(database.engine, now).operator(closed.scope.operator_id)
    return render_template("pages/settlement.html", settlement=closed, verification=verification,
                           operator=operator, just_closed=request.args.get("closed") == "1")


@bp.get("/settlements/<int:settlement_id>/lines.csv")
@page(*SETTLEMENTS_ROLES)
def settlement_lines_csv(settlement_id: int) -> FlaskResponse:
    """The lines as CSV: exactly the text whose SHA-256 is the settlement's digest."""
    return lines_csv_response(_get(settlement_id))


@bp.get("/settlements/<int:settlement_id>/transactions.csv")
@page(*SETTLEMENTS_ROLES)
def settlement_transactions_csv(settlement_id: int) -> FlaskResponse:
    """The transactions the settlement covers, streamed as CSV."""
    return transactions_csv_response(_get(settlement_id))
