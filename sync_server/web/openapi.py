"""The OpenAPI 3.1 description of the REST API, served at
``/api/v1/openapi.json``: the ``OPENAPI_PATHS`` and ``OPENAPI_SCHEMAS`` of
each module in :data:`SOURCES` (the blueprints under ``/api/v1``), merged. A
test checks that it names exactly the app's routes under ``/api/v1`` and, for
each operation, the roles the view requires (``x-roles``)."""

from __future__ import annotations

import functools
import re
from types import ModuleType
from typing import Any

from flask import Blueprint, Response, jsonify, request

from . import anomalies, api, applications, cards, holders, loads, operators, reports, settlements, transactions
from .errors import bad_field
from .spec import COMMON_RESPONSES, COMMON_SCHEMAS, json_response

API_VERSION = "1.0.0"

SOURCES: tuple[ModuleType, ...] = (api, loads, anomalies, transactions, operators, reports, settlements, holders, cards,
                                   applications)
"""The modules whose ``OPENAPI_PATHS``/``OPENAPI_SCHEMAS`` make the document."""

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

_SELF = {"/api/v1/openapi.json": {"get": {
    "operationId": "openapi",
    "summary": "This document",
    "security": [],
    "responses": {"200": json_response("The OpenAPI 3.1 document", {"type": "object"})},
}}}


def document() -> dict[str, Any]:
    """The OpenAPI document (a new dict each call).

    :raises ValueError: when two sources describe the same path or schema.
    """
    paths: dict[str, Any] = dict(_SELF)
    schemas: dict[str, Any] = dict(COMMON_SCHEMAS)
    for source in SOURCES:
        for into, part in ((paths, source.OPENAPI_PATHS), (schemas, source.OPENAPI_SCHEMAS)):
            clash = into.keys() & part.keys()
            if clash:
                raise ValueError(f"{source.__name__} describes {sorted(clash)} again")
            into.update(part)
    return {
        "openapi": "3.1.0",
        "info": {"title": "citizencard back office API", "version": API_VERSION,
                 "description": "The city citizen-card platform's back office."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "An API token of `citizencard server user-add`, as `Authorization: Bearer <token>`."}},
            "schemas": schemas,
            "responses": dict(COMMON_RESPONSES),
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    """This API's OpenAPI 3.1 description."""
    return jsonify(document())


@functools.cache
def _query_parameters() -> dict[tuple[str, str], frozenset[str]]:
    """(OpenAPI path, method) -> the query parameters the document names."""
    return {(path, method.upper()): frozenset(p["name"] for p in operation.get("parameters", ()) if p["in"] == "query")
            for path, operations in document()["paths"].items() for method, operation in operations.items()}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


@bp.before_app_request
def refuse_unknown_query_parameters() -> None:
    """A query parameter the document does not name for the operation is a
    mistake (a misspelt filter would silently widen a pull): 400 naming it."""
    rule = request.url_rule
    if rule is None or not rule.rule.startswith("/api/v1/"):
        return
    known = _query_parameters().get((_openapi_path(rule.rule), request.method))
    if known is None:
        return
    for name in request.args:
        if name not in known:
            raise bad_field(name[:40] or "(empty)", f"unknown query parameter {name!r:.40}; this operation takes "
                                                    f"{', '.join(sorted(known)) or 'none'}")
