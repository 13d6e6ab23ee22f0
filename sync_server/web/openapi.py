"""The OpenAPI 3.1 description of the REST API, served at
``/api/v1/openapi.json``: the ``OPENAPI_PATHS`` and ``OPENAPI_SCHEMAS`` of
each module in :data:`SOURCES` (the blueprints under ``/api/v1``), merged. A
test checks that it names exactly the app's routes under ``/api/v1`` and, for
each operation, the roles the view requires (``x-roles``)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from flask import Blueprint, Response, jsonify

from . import anomalies, api, applications, cards, holders, loads, operators, reports, settlements, transactions
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
