"""Building blocks of the OpenAPI description. Each blueprint module that
serves part of ``/api/v1`` declares its own ``OPENAPI_PATHS`` and
``OPENAPI_SCHEMAS`` with these; :mod:`sync_server.web.openapi` merges them."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/responses/Error"}
"""A 400 (a bad body, field or parameter)."""
NOT_FOUND = {"$ref": "#/components/responses/NotFound"}
CONFLICT = {"$ref": "#/components/responses/Conflict"}
UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
FORBIDDEN = {"$ref": "#/components/responses/Forbidden"}
BEARER = [{"bearerAuth": []}]

LIST_NUMBERS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0},
                "description": "list name (denylist, loads, config) -> number"}
CARD_NUMBER = {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}
UID_HEX = {"type": "string", "pattern": "^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{14})$",
           "description": "The card's UID, 4 or 7 bytes as hex"}
DATE_TIME = {"type": "string", "format": "date-time"}
NULLABLE_DATE_TIME = {"type": ["string", "null"], "format": "date-time"}
DATE = {"type": "string", "format": "date"}


def ref(name: str) -> dict[str, str]:
    """A reference to the schema ``name`` of the components."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON media type with ``schema``."""
    return {"application/json": {"schema": schema}}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": json_content(schema)}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body."""
    return {"required": True, "content": json_content(schema)}


def path_parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def query_parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def secured(operation: dict[str, Any], roles: tuple[str, ...]) -> dict[str, Any]:
    """``operation`` behind the bearer token of one of ``roles``: the roles
    in its description and ``x-roles`` (a test checks them against the
    view's ``@require``), 401 and 403 among its responses."""
    operation = dict(operation)
    operation["description"] = f"{operation.get('description', '')} Roles: {', '.join(roles)}.".strip()
    operation["security"] = BEARER
    operation["x-roles"] = list(roles)
    operation["responses"] = {**operation["responses"], "401": UNAUTHORIZED, "403": FORBIDDEN}
    return operation


def _error_response(description: str) -> dict[str, Any]:
    return json_response(description, ref("Error"))


COMMON_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "examples": ["invalid_field", "unauthorized", "not_found"]},
            "message": {"type": "string"},
            "field": {"type": "string", "description": "The request field at fault, if one is"}}}}},
}

COMMON_RESPONSES: dict[str, Any] = {
    "Error": _error_response("A bad request: the body, a field or a parameter (named) is wrong"),
    "NotFound": _error_response("No such resource"),
    "Conflict": _error_response("The resource is not in a state that allows this"),
    "Unauthorized": _error_response("No API token, or one unknown or revoked"),
    "Forbidden": _error_response("The token's role may not do this"),
}
