"""Operators and services under ``/api/v1`` (:mod:`sync_server.operators`):
admins add them, finance, auditors and operators read them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from ..operators import CODE_MAX, NAME_MAX, OPERATOR_ID_MAX, OperatorInfo, Operators, ServiceInfo
from ..store import utc_now
from . import inputs
from .auth import current_actor, require
from .extensions import database
from .spec import CONFLICT, DATE_TIME, ERROR, json_body, json_response, ref, secured

bp = Blueprint("operators", __name__, url_prefix="/api/v1")

WRITE_ROLES = ("admin",)
READ_ROLES = ("admin", "finance", "auditor", "operator")


def registry() -> Operators:
    return Operators(database.engine, current_app.config.get("CLOCK") or utc_now)


def _operator_json(operator: OperatorInfo) -> dict[str, Any]:
    return {"id": operator.id, "name": operator.name, "created_at": operator.created_at.isoformat()}


def _service_json(service: ServiceInfo) -> dict[str, Any]:
    return {"code": service.code, "name": service.name, "created_at": service.created_at.isoformat()}


@bp.get("/operators")
@require(*READ_ROLES)
def list_operators() -> Response:
    """Every operator, by id."""
    return jsonify(operators=[_operator_json(operator) for operator in registry().operators()])


@bp.post("/operators")
@require(*WRITE_ROLES)
def add_operator() -> tuple[Response, int]:
    """Register an operator."""
    body = inputs.json_object(("id", "name"), required=("id", "name"))
    operator = registry().add_operator(current_actor(), inputs.integer(body, "id", 0, OPERATOR_ID_MAX),
                                       inputs.text(body, "name", max_length=NAME_MAX))
    return jsonify(_operator_json(operator)), 201


@bp.get("/services")
@require(*READ_ROLES)
def list_services() -> Response:
    """Every service, by code."""
    return jsonify(services=[_service_json(service) for service in registry().services()])


@bp.post("/services")
@require(*WRITE_ROLES)
def add_service() -> tuple[Response, int]:
    """Register a service."""
    body = inputs.json_object(("code", "name"), required=("code", "name"))
    code = inputs.text(body, "code", max_length=CODE_MAX)
    service = registry().add_service(current_actor(), code, inputs.text(body, "name", max_length=NAME_MAX))
    return jsonify(_service_json(service)), 201


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/operators": {
        "get": secured({
            "operationId": "listOperators",
            "summary": "Every operator, by id",
            "responses": {"200": json_response("The operators", {
                "type": "object", "additionalProperties": False, "required": ["operators"],
                "properties": {"operators": {"type": "array", "items": ref("Operator")}}})},
        }, READ_ROLES),
        "post": secured({
            "operationId": "addOperator",
            "summary": "Register an operator",
            "requestBody": json_body(ref("OperatorRequest")),
            "responses": {"201": json_response("The operator", ref("Operator")), "400": ERROR, "409": CONFLICT},
        }, WRITE_ROLES),
    },
    "/api/v1/services": {
        "get": secured({
            "operationId": "listServices",
            "summary": "Every service, by code",
            "responses": {"200": json_response("The services", {
                "type": "object", "additionalProperties": False, "required": ["services"],
                "properties": {"services": {"type": "array", "items": ref("Service")}}})},
        }, READ_ROLES),
        "post": secured({
            "operationId": "addService",
            "summary": "Register a service (its code is the mode of its devices)",
            "requestBody": json_body(ref("ServiceRequest")),
            "responses": {"201": json_response("The service", ref("Service")), "400": ERROR, "409": CONFLICT},
        }, WRITE_ROLES),
    },
}

_OPERATOR_ID = {"type": "integer", "minimum": 0, "maximum": OPERATOR_ID_MAX, "description": "As on the card"}
_NAME = {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": "\\S"}
_CODE = {"type": "string", "minLength": 1, "maxLength": CODE_MAX, "pattern": "\\S",
         "description": "The devices' mode: bus, bike, ev"}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Operator": {"type": "object", "additionalProperties": False, "required": ["id", "name", "created_at"],
                 "properties": {"id": _OPERATOR_ID, "name": _NAME, "created_at": DATE_TIME}},
    "OperatorRequest": {"type": "object", "additionalProperties": False, "required": ["id", "name"],
                        "properties": {"id": _OPERATOR_ID, "name": _NAME}},
    "Service": {"type": "object", "additionalProperties": False, "required": ["code", "name", "created_at"],
                "properties": {"code": _CODE, "name": _NAME, "created_at": DATE_TIME}},
    "ServiceRequest": {"type": "object", "additionalProperties": False, "required": ["code", "name"],
                       "properties": {"code": _CODE, "name": _NAME}},
}
