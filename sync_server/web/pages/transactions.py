"""The transactions page: the synced transactions filtered by creation time
(from, to; UTC), service, operator, device and card, in id order a page at a
time (:func:`sync_server.transactions.page`, with its cursor: no row is
skipped or repeated while devices keep syncing), and a link to the same
transactions as CSV, streamed by the API's generator
(:func:`sync_server.transactions.csv_stream`) for the signed-in user."""

from __future__ import annotations

from flask import render_template, request
from werkzeug.wrappers import Response

from ...transactions import InvalidCursorError, TransactionFilter, decode_cursor, encode_cursor
from ...transactions import page as tx_page
from ..extensions import database
from ..transactions import DEVICE_MAX, OPERATOR_MAX, ROLES, SERVICE_MAX, csv_response
from ..transactions import csv_stream as _csv_stream
from .blueprint import bp
from .fields import Fields
from .guard import page

TRANSACTIONS_ROLES = ROLES
PAGE_SIZE = 100
FILTER_FIELDS = ("from", "to", "service", "operator", "device", "card")


def _filters(fields: Fields) -> TransactionFilter:
    """The filters of the query string; what cannot be used is in ``fields.errors``."""
    created_from, created_to = fields.moment("from"), fields.moment("to")
    if created_from is not None and created_to is not None and not created_to > created_from:
        fields.errors["to"] = "The end must be after the start."
    return TransactionFilter(created_from=created_from, created_to=created_to,
                             service=fields.text("service", SERVICE_MAX),
                             operator=fields.integer("operator", 0, OPERATOR_MAX, what="an operator number"),
                             device_id=fields.integer("device", 0, DEVICE_MAX, what="a device id"),
                             card_number=fields.card_number("card"))


@bp.get("/transactions")
@page(*TRANSACTIONS_ROLES)
def transactions() -> tuple[str, int]:
    """A page of the transactions matching the filters, and the link to the next page and to the CSV."""
    fields = Fields(request.args)
    filters = _filters(fields)
    after = 0
    cursor = fields.raw("cursor")
    if cursor:
        try:
            after = decode_cursor(cursor)
        except InvalidCursorError:
            fields.errors["cursor"] = "This page link is not one of this server: start from the first page."
    values = {name: value for name, value in fields.values(*FILTER_FIELDS).items() if value}
    if fields.errors:
        return render_template("pages/transactions.html", rows=[], filters=values, errors=fields.errors,
                               next_cursor=None, first=True), 400
    result = tx_page(database.engine, filters, after=after, limit=PAGE_SIZE)
    next_cursor = encode_cursor(result.rows[-1].id) if result.more and result.rows else None
    return render_template("pages/transactions.html", rows=result.rows, filters=values, errors={},
                           next_cursor=next_cursor, first=not cursor), 200


@bp.get("/transactions.csv")
@page(*TRANSACTIONS_ROLES)
def transactions_csv() -> Response | tuple[str, int]:
    """The transactions matching the filters as CSV, streamed (the API's ``/transactions.csv``)."""
    fields = Fields(request.args)
    filters = _filters(fields)
    if fields.errors:
        values = {name: value for name, value in fields.values(*FILTER_FIELDS).items() if value}
        return render_template("pages/transactions.html", rows=[], filters=values, errors=fields.errors,
                               next_cursor=None, first=True), 400
    return csv_response(_csv_stream(database.engine, filters), "transactions.csv")
