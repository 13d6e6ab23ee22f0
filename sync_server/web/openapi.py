"""The OpenAPI 3.1 description of the REST API, served at
``/api/v1/openapi.json``. A test checks that it names exactly the app's
routes under ``/api/v1`` and, for each operation, the roles the view requires
(``x-roles``)."""

from __future__ import annotations

from typing import Any

API_VERSION = "1.0.0"

_ERROR = {"$ref": "#/components/responses/Error"}
_UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
_FORBIDDEN = {"$ref": "#/components/responses/Forbidden"}
_BEARER = [{"bearerAuth": []}]

_LIST_NUMBERS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0},
                 "description": "list name (denylist, loads, config) -> number"}


def _roles_text(roles: tuple[str, ...]) -> str:
    return "Roles: " + ", ".join(roles) + "."


def _secured(operation: dict[str, Any], roles: tuple[str, ...]) -> dict[str, Any]:
    operation = dict(operation)
    operation["description"] = f"{operation.get('description', '')} {_roles_text(roles)}".strip()
    operation["security"] = _BEARER
    operation["x-roles"] = list(roles)
    operation["responses"] = {**operation["responses"], "401": _UNAUTHORIZED, "403": _FORBIDDEN}
    return operation


DEVICES_ROLES = ("admin", "technician", "auditor")
BLOCK_ROLES = ("admin", "card_office")


def document() -> dict[str, Any]:
    """The OpenAPI document (a new dict each call)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "citizencard back office API", "version": API_VERSION,
                 "description": "The city citizen-card platform's back office."},
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/health": {"get": {
                "operationId": "health",
                "summary": "Whether the database answers, and its schema revision",
                "security": [],
                "responses": {
                    "200": {"description": "Healthy", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Health"}}}},
                    "503": {"description": "The database is unreachable or not at this code's schema",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                },
            }},
            "/api/v1/openapi.json": {"get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "The OpenAPI 3.1 document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
            "/api/v1/devices": {"get": _secured({
                "operationId": "listDevices",
                "summary": "Every registered device with its last status and list versions",
                "responses": {"200": {"description": "The devices, by id", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["devices"], "properties": {
                        "devices": {"type": "array", "items": {"$ref": "#/components/schemas/Device"}}}}}}}},
            }, DEVICES_ROLES)},
            "/api/v1/cards/block": {"post": _secured({
                "operationId": "blockCard",
                "summary": "Put a card on the deny-list",
                "description": "By card number, UID or both; every device receives the change.",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/BlockRequest"}}}},
                "responses": {
                    "200": {"description": "The deny-list version that holds the block",
                            "content": {"application/json": {"schema": {
                                "type": "object", "required": ["denylist_version"],
                                "properties": {"denylist_version": {"type": "integer", "minimum": 0}}}}}},
                    "400": _ERROR,
                },
            }, BLOCK_ROLES)},
        },
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "An API token of `citizencard server user-add`, as `Authorization: Bearer <token>`."}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string", "examples": ["invalid_field", "unauthorized", "not_found"]},
                        "message": {"type": "string"},
                        "field": {"type": "string", "description": "The request field at fault, if one is"}}}}},
                "Health": {"type": "object", "required": ["status", "database", "schema"], "properties": {
                    "status": {"enum": ["ok", "degraded", "unavailable"]},
                    "database": {"enum": ["ok", "unreachable"]},
                    "schema": {"type": "object", "required": ["revision", "head"], "properties": {
                        "revision": {"type": ["string", "null"]}, "head": {"type": "string"}}}}},
                "Device": {"type": "object", "required": [
                    "device_id", "mode", "operator", "location", "registered_at", "last_seen_at", "online",
                    "backlog", "last_seq", "list_versions", "list_lag"], "properties": {
                    "device_id": {"type": "integer", "minimum": 1},
                    "mode": {"type": "string"},
                    "operator": {"type": "integer", "minimum": 0},
                    "location": {"type": "integer", "minimum": 0},
                    "registered_at": {"type": "string", "format": "date-time"},
                    "last_seen_at": {"type": ["string", "null"], "format": "date-time",
                                     "description": "When its last status arrived; null: never"},
                    "online": {"type": "boolean", "description": "As its last status said"},
                    "backlog": {"type": "integer", "minimum": 0,
                                "description": "Journal entries not acknowledged yet, as its last status said"},
                    "last_seq": {"type": "integer", "minimum": 0},
                    "list_versions": {**_LIST_NUMBERS, "description": "list name -> the version it holds"},
                    "list_lag": {**_LIST_NUMBERS, "description": "list name -> versions behind the server"}}},
                "BlockRequest": {
                    "type": "object", "additionalProperties": False, "required": ["reason"],
                    "description": "card_number, uid or both must be given.",
                    "properties": {
                        "card_number": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**64 - 1},
                        "uid": {"type": ["string", "null"], "pattern": "^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{14})$",
                                "description": "The card's UID, 4 or 7 bytes as hex"},
                        "reason": {"type": "string", "minLength": 1, "maxLength": 200,
                                   "description": "Shown to the rider at the validator"}}},
            },
            "responses": {
                "Error": {"description": "A bad request: the body or a field (named) is wrong",
                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "Unauthorized": {"description": "No API token, or one unknown or revoked",
                                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "Forbidden": {"description": "The token's role may not do this",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        },
    }
