"""Cards under ``/api/v1/cards``: one card's detail for the back office,
finding cards by UID or holder, staff state changes (blocked, suspended,
active, with the deny-list in the same transaction) and a card reported lost
or stolen (blocked now, a duplicate application if asked), contracts sold
on a card. ``POST
/cards/block`` (:mod:`sync_server.web.api`) goes through the same state
change for a registered card."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..db.models import CARD_KINDS, CARD_STATES, FARE_PROFILES
from ..errors import UnknownCardError
from ..registry import cards, contracts, states
from ..registry.base import CARD_NUMBER_MAX
from . import inputs
from .applications import application_json
from .auth import current_actor, require
from .errors import bad_field
from .holders import ID_MAX, day, registry, time
from .spec import (
    CARD_NUMBER,
    CONFLICT,
    DATE,
    DATE_TIME,
    ERROR,
    NOT_FOUND,
    UID_HEX,
    json_body,
    json_response,
    path_parameter,
    query_parameter,
    ref,
    secured,
)

bp = Blueprint("cards", __name__, url_prefix="/api/v1")

READ_ROLES = ("admin", "card_office", "auditor", "operator")
WRITE_ROLES = ("admin", "card_office")


def _card_number(value: int) -> int:
    if value > CARD_NUMBER_MAX:
        raise UnknownCardError(f"the registry holds no card {value}")
    return value


def contract_json(contract: cards.Contract) -> dict[str, Any]:
    return {"kind": contract.kind, "valid_from": day(contract.valid_from), "valid_until": day(contract.valid_until),
            "operator": contract.operator, "product": contract.product}


def card_json(card: cards.Card) -> dict[str, Any]:
    return {"card_number": card.card_number, "uid": card.uid.hex().upper(), "holder_id": card.holder_id,
            "kind": card.kind, "profile": card.profile, "state": card.state, "state_reason": card.state_reason,
            "state_changed_at": time(card.state_changed_at), "issued_at": time(card.issued_at),
            "expires_on": day(card.expires_on), "initial_balance_cents": card.initial_balance_cents,
            "application_id": card.application_id, "replaces": card.replaces, "replaced_by": card.replaced_by}


def detail_json(detail: cards.CardDetail) -> dict[str, Any]:
    shadow = detail.shadow
    holder = detail.holder
    return {
        **card_json(detail.card),
        "holder": None if holder is None else {"id": holder.id, "name": holder.name,
                                               "document_id": holder.document_id},
        "history": [{"at": time(e.at), "event": e.event, "from_state": e.from_state, "to_state": e.to_state,
                     "reason": e.reason, "actor": e.actor} for e in detail.history],
        "contracts": [contract_json(c) for c in detail.contracts],
        "shadow": None if shadow is None else {"counter": shadow.counter, "balance_cents": shadow.balance_cents,
                                               "updated_at": time(shadow.updated_at)},
        "pending_loads": [{"id": o.id, "load_seq": o.load_seq, "amount_cents": o.amount_cents,
                           "channel": o.channel, "created_at": time(o.created_at)} for o in detail.pending_loads],
        "anomalies": [{"id": a.id, "kind": a.kind, "device_id": a.device_id, "seq": a.seq, "detail": a.detail,
                       "detected_at": time(a.detected_at)} for a in detail.anomalies],
        "transactions": [{"device_id": t.device_id, "seq": t.seq, "kind": t.kind, "state": t.state,
                          "created_at": time(t.created_at), "amount_cents": t.amount_cents,
                          "balance_cents": t.balance_cents, "counter_after": t.counter_after,
                          "decision": t.decision, "reason": t.reason} for t in detail.transactions],
    }


@bp.get("/cards/<int:card_number>")
@require(*READ_ROLES)
def get_card(card_number: int) -> Response:
    """Everything the back office shows about a card."""
    return jsonify(detail_json(cards.detail(registry(), _card_number(card_number))))


@bp.get("/cards")
@require(*READ_ROLES)
def search_cards() -> Response:
    """The card with a UID, or a holder's cards."""
    has_uid, has_holder = "uid" in request.args, "holder_id" in request.args
    if has_uid == has_holder:
        raise bad_field("uid", "give uid or holder_id, one of them")
    uid = inputs.uid(request.args, default=None) if has_uid else None
    holder_id = inputs.query_integer("holder_id", 1, ID_MAX)
    found = cards.search(registry(), uid=uid, holder_id=holder_id)
    return jsonify(cards=[card_json(card) for card in found])


@bp.post("/cards/<int:card_number>/state")
@require(*WRITE_ROLES)
def set_card_state(card_number: int) -> Response:
    """Block, suspend or reactivate a card; the deny-list follows."""
    body = inputs.json_object(("state", "reason"), required=("state", "reason"))
    state = inputs.choice(body, "state", states.STAFF_STATES)
    reason = inputs.text(body, "reason", max_length=states.REASON_MAX)
    change = states.set_state(registry(), current_actor(), _card_number(card_number), state, reason)
    return jsonify(card=card_json(change.card), denylist_version=change.denylist_version)


@bp.post("/cards/<int:card_number>/report-lost")
@require(*WRITE_ROLES)
def report_lost(card_number: int) -> Response:
    """Block a card reported lost or stolen now; with duplicate, apply for its duplicate."""
    body = inputs.json_object(("reason", "duplicate"), required=("reason",))
    reason = inputs.choice(body, "reason", states.LOST_REASONS)
    duplicate = body.get("duplicate", False)
    if not isinstance(duplicate, bool):
        raise bad_field("duplicate", "duplicate must be true or false")
    report = states.report_lost(registry(), current_actor(), _card_number(card_number), reason, duplicate=duplicate)
    return jsonify(card=card_json(report.card), denylist_version=report.denylist_version,
                   application=None if report.application is None else application_json(report.application))


@bp.post("/cards/<int:card_number>/contracts")
@require(*WRITE_ROLES)
def sell_contract(card_number: int) -> tuple[Response, int]:
    """Record a contract sold on an active card (the desk or kiosk writes it on the chip)."""
    body = inputs.json_object(("kind", "valid_from", "valid_until", "operator", "product"),
                              required=("kind", "valid_from", "valid_until"))
    sold = contracts.sell(registry(), current_actor(), _card_number(card_number),
                          kind=inputs.choice(body, "kind", contracts.KINDS),
                          valid_from=inputs.date(body, "valid_from"), valid_until=inputs.date(body, "valid_until"),
                          operator=inputs.integer(body, "operator", 0, contracts.OPERATOR_MAX, default=0),
                          product=inputs.integer(body, "product", 0, contracts.PRODUCT_MAX, default=0))
    return jsonify(contract=contract_json(sold)), 201


_NULLABLE_INT = {"type": ["integer", "null"], "minimum": 0}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_CARD_NUMBER_PATH = path_parameter("card_number", CARD_NUMBER, "The card number")
_STATE_RESULT = {"type": "object", "additionalProperties": False, "required": ["card", "denylist_version"],
                 "properties": {"card": ref("Card"), "denylist_version": {"type": "integer", "minimum": 0}}}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/cards": {"get": secured({
        "operationId": "searchCards",
        "summary": "The card with a UID, or the cards of a holder (newest first)",
        "parameters": [query_parameter("uid", UID_HEX, "The card's UID"),
                       query_parameter("holder_id", {"type": "integer", "minimum": 1}, "The holder's id")],
        "responses": {"200": json_response("The cards found", {
            "type": "object", "additionalProperties": False, "required": ["cards"],
            "properties": {"cards": {"type": "array", "items": ref("Card")}}}), "400": ERROR},
    }, READ_ROLES)},
    "/api/v1/cards/{card_number}": {"get": secured({
        "operationId": "getCard",
        "summary": "A card: holder, state history, contracts, shadow balance, pending loads, open anomalies, "
                   "the last 20 transactions received",
        "parameters": [_CARD_NUMBER_PATH],
        "responses": {"200": json_response("The card", ref("CardDetail")), "404": NOT_FOUND},
    }, READ_ROLES)},
    "/api/v1/cards/{card_number}/state": {"post": secured({
        "operationId": "setCardState",
        "summary": "Block, suspend or reactivate a card",
        "description": "Blocked and suspended cards are denied by number and UID; an active one is not. A replaced "
                       "or expired card never changes state (409).",
        "parameters": [_CARD_NUMBER_PATH],
        "requestBody": json_body(ref("CardStateRequest")),
        "responses": {"200": json_response("The card and the deny-list version", _STATE_RESULT), "400": ERROR,
                      "404": NOT_FOUND, "409": CONFLICT},
    }, WRITE_ROLES)},
    "/api/v1/cards/{card_number}/contracts": {"post": secured({
        "operationId": "sellContract",
        "summary": "Record a contract sold on an active card",
        "description": "A transit pass, a bike or EV-charging subscription, ...: the desk or kiosk writes it on "
                       "the chip; the registry keeps it, so a duplicate carries it again.",
        "parameters": [_CARD_NUMBER_PATH],
        "requestBody": json_body(ref("ContractRequest")),
        "responses": {"201": json_response("The contract recorded", {
            "type": "object", "additionalProperties": False, "required": ["contract"],
            "properties": {"contract": ref("Contract")}}), "400": ERROR, "404": NOT_FOUND, "409": CONFLICT},
    }, WRITE_ROLES)},
    "/api/v1/cards/{card_number}/report-lost": {"post": secured({
        "operationId": "reportCardLost",
        "summary": "Block a card reported lost or stolen; optionally apply for its duplicate",
        "parameters": [_CARD_NUMBER_PATH],
        "requestBody": json_body(ref("LostCardRequest")),
        "responses": {"200": json_response("The card, the deny-list version, the duplicate application", {
            **_STATE_RESULT, "required": ["card", "denylist_version", "application"],
            "properties": {**_STATE_RESULT["properties"],
                           "application": {"oneOf": [ref("Application"), {"type": "null"}]}}}),
            "400": ERROR, "404": NOT_FOUND, "409": CONFLICT},
    }, WRITE_ROLES)},
}

_CARD_PROPERTIES: dict[str, Any] = {
    "card_number": CARD_NUMBER,
    "uid": UID_HEX,
    "holder_id": {"type": ["integer", "null"], "minimum": 1},
    "kind": {"enum": list(CARD_KINDS)},
    "profile": {"enum": list(FARE_PROFILES)},
    "state": {"enum": list(CARD_STATES)},
    "state_reason": _NULLABLE_TEXT,
    "state_changed_at": DATE_TIME,
    "issued_at": DATE_TIME,
    "expires_on": DATE,
    "initial_balance_cents": {"type": "integer", "minimum": 0},
    "application_id": {"type": ["integer", "null"], "minimum": 1},
    "replaces": {**CARD_NUMBER, "type": ["integer", "null"]},
    "replaced_by": {**CARD_NUMBER, "type": ["integer", "null"]},
}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": list(properties), "properties": properties}


OPENAPI_SCHEMAS: dict[str, Any] = {
    "Card": _object(_CARD_PROPERTIES),
    "Contract": _object({
        "kind": {"type": "string", "examples": ["transit_pass", "bike"]},
        "valid_from": DATE, "valid_until": DATE,
        "operator": {"type": "integer", "minimum": 0, "maximum": 255},
        "product": {"type": "integer", "minimum": 0, "maximum": 65535}}),
    "CardDetail": _object({
        **_CARD_PROPERTIES,
        "holder": {"oneOf": [{"type": "null"}, _object({
            "id": {"type": "integer", "minimum": 1}, "name": {"type": "string"}, "document_id": _NULLABLE_TEXT})]},
        "history": {"type": "array", "items": _object({
            "at": DATE_TIME, "event": {"type": "string", "examples": ["issued", "state", "replaced", "balance_moved"]},
            "from_state": {"enum": [*CARD_STATES, None]}, "to_state": {"enum": [*CARD_STATES, None]},
            "reason": _NULLABLE_TEXT, "actor": {"type": "string"}})},
        "contracts": {"type": "array", "items": ref("Contract")},
        "shadow": {"oneOf": [{"type": "null"}, _object({
            "counter": {"type": "integer", "minimum": 0}, "balance_cents": {"type": "integer"},
            "updated_at": DATE_TIME})], "description": "What the server believes the card holds; null: never synced"},
        "pending_loads": {"type": "array", "items": _object({
            "id": {"type": "integer", "minimum": 1}, "load_seq": {"type": "integer", "minimum": 1},
            "amount_cents": {"type": "integer", "minimum": 1}, "channel": {"type": "string"},
            "created_at": DATE_TIME}), "description": "Load orders no device applied yet"},
        "anomalies": {"type": "array", "items": _object({
            "id": {"type": "integer", "minimum": 1}, "kind": {"type": "string"},
            "device_id": {"type": "integer"}, "seq": {"type": "integer"}, "detail": {"type": "string"},
            "detected_at": DATE_TIME}), "description": "Open anomalies"},
        "transactions": {"type": "array", "maxItems": cards.LATEST_TRANSACTIONS, "items": _object({
            "device_id": {"type": "integer"}, "seq": {"type": "integer"}, "kind": {"type": "string"},
            "state": {"type": "string"}, "created_at": DATE_TIME, "amount_cents": {"type": "integer"},
            "balance_cents": {"type": ["integer", "null"]}, "counter_after": _NULLABLE_INT,
            "decision": {"type": "string"}, "reason": {"type": "string"}}),
            "description": "The last 20 received, newest first"},
    }),
    "CardStateRequest": {"type": "object", "additionalProperties": False, "required": ["state", "reason"],
                         "properties": {"state": {"enum": list(states.STAFF_STATES)},
                                        "reason": {"type": "string", "minLength": 1,
                                                   "maxLength": states.REASON_MAX}}},
    "ContractRequest": {"type": "object", "additionalProperties": False,
                        "required": ["kind", "valid_from", "valid_until"],
                        "properties": {"kind": {"enum": list(contracts.KINDS)}, "valid_from": DATE,
                                       "valid_until": DATE,
                                       "operator": {"type": "integer", "minimum": 0,
                                                    "maximum": contracts.OPERATOR_MAX, "default": 0},
                                       "product": {"type": "integer", "minimum": 0,
                                                   "maximum": contracts.PRODUCT_MAX, "default": 0}}},
    "LostCardRequest": {"type": "object", "additionalProperties": False, "required": ["reason"],
                        "properties": {"reason": {"enum": list(states.LOST_REASONS)},
                                       "duplicate": {"type": "boolean", "default": False}}},
}
