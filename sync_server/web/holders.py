"""Card holders under ``/api/v1/holders``: register one, read one, find
holders by document id or name prefix, update how to reach them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ..errors import NotFoundError, UnknownHolderError
from ..registry import Registry, holders
from ..store import utc_now
from . import inputs
from .auth import current_actor, require
from .errors import bad_field
from .extensions import database
from .paging import NEXT_CURSOR, page_of, page_request, parameters
from .spec import (
    DATE,
    DATE_TIME,
    ERROR,
    NOT_FOUND,
    json_body,
    json_response,
    path_parameter,
    query_parameter,
    ref,
    secured,
)

bp = Blueprint("holders", __name__, url_prefix="/api/v1")

WRITE_ROLES = ("admin", "card_office")
READ_ROLES = ("admin", "card_office", "auditor")
ID_MAX = 2**63 - 1
PAGE_DEFAULT = 50
PAGE_MAX = holders.SEARCH_MAX - 1  # one more is read to tell whether more follow


def registry() -> Registry:
    """The registry of the current app (its store and clock)."""
    return Registry(database.store, current_app.config.get("CLOCK") or utc_now)


def time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def day(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def path_id(value: int, not_found: type[NotFoundError], what: str) -> int:
    """An id from the path: one out of range names nothing (``not_found``, a 404)."""
    if not 0 < value <= ID_MAX:
        raise not_found(f"no {what} with id {value}")
    return value


def holder_json(holder: holders.Holder) -> dict[str, Any]:
    return {"id": holder.id, "name": holder.name, "document_id": holder.document_id,
            "birth_date": day(holder.birth_date), "email": holder.email, "phone": holder.phone,
            "address": holder.address, "created_at": time(holder.created_at)}


@bp.post("/holders")
@require(*WRITE_ROLES)
def create_holder() -> tuple[Response, int]:
    """Register a holder."""
    body = inputs.json_object(("name", "document_id", "birth_date", "email", "phone", "address"),
                              required=("name",))
    holder = holders.create(
        registry(), current_actor(),
        name=inputs.text(body, "name", max_length=holders.NAME_MAX),
        document_id=inputs.text(body, "document_id", max_length=holders.DOCUMENT_MAX, default=None),
        birth_date=inputs.date(body, "birth_date", default=None),
        email=inputs.text(body, "email", max_length=holders.EMAIL_MAX, default=None),
        phone=inputs.text(body, "phone", max_length=holders.PHONE_MAX, default=None),
        address=inputs.text(body, "address", max_length=holders.ADDRESS_MAX, default=None))
    return jsonify(holder_json(holder)), 201


@bp.get("/holders")
@require(*READ_ROLES)
def search_holders() -> Response:
    """Holders by document id or name prefix, a page at a time."""
    document_id = request.args.get("document_id")
    name = request.args.get("name")
    if (document_id is None) == (name is None):
        raise bad_field("document_id", "give document_id or name (a prefix), one of them")
    for field, value in (("document_id", document_id), ("name", name)):
        if value is not None and not 0 < len(value.strip()) <= holders.NAME_MAX:
            raise bad_field(field, f"{field} must be 1 to {holders.NAME_MAX} characters")
    after, limit = page_request(PAGE_MAX, PAGE_DEFAULT)
    found = holders.search(registry(), document_id=document_id, name_prefix=name, after_id=after, limit=limit + 1)
    page, next_cursor = page_of(found, limit, lambda holder: holder.id)
    return jsonify(holders=[holder_json(holder) for holder in page], next_cursor=next_cursor)


@bp.get("/holders/<int:holder_id>")
@require(*READ_ROLES)
def get_holder(holder_id: int) -> Response:
    """One holder."""
    return jsonify(holder_json(holders.get(registry(), path_id(holder_id, UnknownHolderError, "holder"))))


@bp.patch("/holders/<int:holder_id>")
@require(*WRITE_ROLES)
def update_holder(holder_id: int) -> Response:
    """Change a holder's email, phone or address (null clears one)."""
    body = inputs.json_object(holders.CONTACT_FIELDS)
    if not body:
        raise bad_field("email", "give email, phone or address")
    limits = {"email": holders.EMAIL_MAX, "phone": holders.PHONE_MAX, "address": holders.ADDRESS_MAX}
    changes = {field: inputs.text(body, field, max_length=limits[field], default=None) for field in body}
    holder_id = path_id(holder_id, UnknownHolderError, "holder")
    holder = holders.update_contact(registry(), current_actor(), holder_id, changes)
    return jsonify(holder_json(holder))


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


_NAME = {"type": "string", "minLength": 1, "maxLength": holders.NAME_MAX}
_CONTACT = {
    "email": {"type": ["string", "null"], "minLength": 1, "maxLength": holders.EMAIL_MAX},
    "phone": {"type": ["string", "null"], "minLength": 1, "maxLength": holders.PHONE_MAX},
    "address": {"type": ["string", "null"], "minLength": 1, "maxLength": holders.ADDRESS_MAX},
}
_HOLDER_ID = path_parameter("holder_id", {"type": "integer", "minimum": 1}, "The holder's id")

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/holders": {
        "post": secured({
            "operationId": "createHolder",
            "summary": "Register a card holder",
            "requestBody": json_body(ref("HolderRequest")),
            "responses": {"201": json_response("The holder", ref("Holder")), "400": ERROR,
                          "409": json_response("A holder with that document id exists", ref("Error"))},
        }, WRITE_ROLES),
        "get": secured({
            "operationId": "searchHolders",
            "summary": "Find holders by document id, or by the start of their name (case ignored)",
            "parameters": [
                query_parameter("document_id", {"type": "string", "minLength": 1}, "Exactly this document id"),
                query_parameter("name", {"type": "string", "minLength": 1}, "Names starting with this"),
                *parameters("Holders", PAGE_MAX, PAGE_DEFAULT)],
            "responses": {"200": json_response("Holders by id", {
                "type": "object", "required": ["holders", "next_cursor"], "properties": {
                    "holders": {"type": "array", "items": ref("Holder")},
                    "next_cursor": NEXT_CURSOR}}),
                "400": ERROR},
        }, READ_ROLES),
    },
    "/api/v1/holders/{holder_id}": {
        "get": secured({
            "operationId": "getHolder",
            "summary": "One holder",
            "parameters": [_HOLDER_ID],
            "responses": {"200": json_response("The holder", ref("Holder")), "404": NOT_FOUND},
        }, READ_ROLES),
        "patch": secured({
            "operationId": "updateHolder",
            "summary": "Change how to reach a holder",
            "parameters": [_HOLDER_ID],
            "requestBody": json_body(ref("HolderContactRequest")),
            "responses": {"200": json_response("The holder", ref("Holder")), "400": ERROR, "404": NOT_FOUND},
        }, WRITE_ROLES),
    },
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Holder": {"type": "object", "additionalProperties": False, "required": [
        "id", "name", "document_id", "birth_date", "email", "phone", "address", "created_at"], "properties": {
        "id": {"type": "integer", "minimum": 1},
        "name": _NAME,
        "document_id": {"type": ["string", "null"]},
        "birth_date": _nullable(DATE),
        **_CONTACT,
        "created_at": DATE_TIME}},
    "HolderRequest": {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
        "name": _NAME,
        "document_id": {"type": ["string", "null"], "minLength": 1, "maxLength": holders.DOCUMENT_MAX,
                        "description": "National ID, passport or tax ID; unique"},
        "birth_date": _nullable(DATE),
        **_CONTACT}},
    "HolderContactRequest": {"type": "object", "additionalProperties": False, "minProperties": 1,
                             "properties": _CONTACT},
}
