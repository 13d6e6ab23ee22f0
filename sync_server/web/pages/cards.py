"""Card search and a card's page.

Search takes one text and tries it every way it can mean: a card number, a
UID (hex), a holder's document id, the start of a holder's name; it lists the
cards found and the holders found (with their cards). A card's page shows
:func:`sync_server.registry.cards.detail`: holder, kind and fare profile,
state and its history, expiry, the card it replaces and the one that
replaced it, contracts, shadow balance and counter, pending load orders, open
anomalies and the latest transactions; and, for admin and card_office, the
actions: block, suspend or reactivate with a reason
(:func:`~sync_server.registry.states.set_state`), report it lost or stolen
with a duplicate application (:func:`~sync_server.registry.states.report_lost`)
and a top-up paid at the desk (:class:`sync_server.loads.LoadOrders`, channel
``office``). The registry audits every action in its transaction.

A top-up form carries a one-time key: sending the same form twice (a double
click, a reload that posts again) queues the top-up once. The key is kept
with the API's idempotency keys, in the top-up's transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flask import g, redirect, render_template, request, url_for
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Response

from ...db.types import UNSIGNED_MAX
from ...errors import (
    InvalidValueError,
    LoadSequenceExhaustedError,
    StateConflictError,
    StoreError,
    UnknownCardError,
)
from ...loads import MAX_LOAD_CENTS, LoadOrders
from ...registry import cards, holders, states
from ..auth import current_actor
from ..cards import READ_ROLES, WRITE_ROLES
from ..extensions import database
from ..holders import registry
from ..idempotency import KeyReusedError, run_once
from ..loads import purse_key_for
from . import once
from .blueprint import PageError, bp
from .fields import Fields, digits, has_control, parse_uid
from .guard import page
from .nav import allows

CARDS_ROLES = READ_ROLES
ACTION_ROLES = WRITE_ROLES
HOLDERS_SHOWN = 20
"""Holders listed for one search (the first by id)."""

DONE = {
    "state": "The card's state is changed; the deny-list holds the change.",
    "lost": "The card is blocked as reported.",
    "topup": "The top-up is queued: the card collects it at its next tap on any device.",
    "topup-again": "This top-up form was sent already: the top-up was queued once.",
}
"""What the card's page says after an action (``?done=``): fixed texts, nothing of the request is echoed."""


@dataclass(frozen=True)
class FoundHolder:
    holder: holders.Holder
    cards: list[cards.Card]


def _lookup_number(text: str) -> list[cards.Card]:
    if not digits(text) or len(text) > 20 or int(text) > UNSIGNED_MAX:
        return []
    with registry().read("finding a card") as conn:
        try:
            return [cards.fetch(conn, int(text))]
        except UnknownCardError:
            return []


def _search(text: str) -> tuple[list[tuple[cards.Card, str]], list[FoundHolder]]:
    """The cards ``text`` names (with how it names them), and the holders it names."""
    reg = registry()
    found: list[tuple[cards.Card, str]] = [(card, "card number") for card in _lookup_number(text)]
    uid = parse_uid(text)
    if uid is not None:
        found.extend((card, "UID") for card in cards.search(reg, uid=uid))
    people: dict[int, holders.Holder] = {}
    if len(text) <= holders.DOCUMENT_MAX:
        people.update((holder.id, holder) for holder in holders.search(reg, document_id=text, limit=HOLDERS_SHOWN))
    if len(text) <= holders.NAME_MAX:
        people.update((holder.id, holder) for holder in holders.search(reg, name_prefix=text, limit=HOLDERS_SHOWN))
    chosen = sorted(people.values(), key=lambda holder: holder.id)[:HOLDERS_SHOWN]
    return found, [FoundHolder(holder, cards.search(reg, holder_id=holder.id)) for holder in chosen]


@bp.get("/cards", endpoint="cards")
@page(*CARDS_ROLES)
def cards_search() -> tuple[str, int]:
    """The search form, and what the text typed finds."""
    text = request.args.get("q", "").strip()
    found: list[tuple[cards.Card, str]] = []
    people: list[FoundHolder] = []
    error = None
    if len(text) > holders.NAME_MAX:
        error = f"Type at most {holders.NAME_MAX} characters."
    elif has_control(text):
        error = "Use no control characters (such as a tab or a line break)."
    elif text:
        found, people = _search(text)
    names = {person.holder.id: person.holder.name for person in people}
    for card, _ in found:
        if card.holder_id is not None and card.holder_id not in names:
            names[card.holder_id] = _holder_name(card.holder_id)
    return render_template("pages/cards.html", q=text[:holders.NAME_MAX], found=found, people=people, names=names,
                           error=error, can_apply=allows("pages.application_new", g.staff_member.role)), \
        400 if error else 200


def _holder_name(holder_id: int) -> str:
    with registry().read("reading a holder") as conn:
        return holders.fetch(conn, holder_id).name


def _card_number(value: int) -> int:
    if value > UNSIGNED_MAX:
        raise PageError(404, "Not found", f"No card {value}: card numbers are at most {UNSIGNED_MAX}.")
    return value


def _render_card(card_number: int, *, status: int = 200, problem: str | None = None,
                 form: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> tuple[str, int]:
    detail = cards.detail(registry(), card_number)
    done = request.args.get("done")
    application = request.args.get("application")
    role = g.staff_member.role
    return render_template(
        "pages/card.html", detail=detail, card=detail.card, problem=problem, form=form or {}, errors=errors or {},
        done=DONE.get(done or ""), application=application if application and digits(application) else None,
        can_act=allows("pages.card_state", role), can_see_anomalies=allows("pages.anomalies", role),
        can_see_applications=allows("pages.application", role),
        moves=sorted(states.MOVES[detail.card.state]), reason_max=states.REASON_MAX,
        lost_reasons=states.LOST_REASONS, form_key=once.new_key(),
        pending_cents=sum(order.amount_cents for order in detail.pending_loads),
        max_load=MAX_LOAD_CENTS), status


@bp.get("/cards/<int:card_number>")
@page(*CARDS_ROLES)
def card(card_number: int) -> tuple[str, int]:
    """Everything about one card, and the actions of the desk."""
    return _render_card(_card_number(card_number))


def _refused(card_number: int, exc: StoreError, form: dict[str, str]) -> tuple[str, int]:
    """The card's page again, saying why the registry refused the action (409 for a state that does not
    allow it, 400 for a value)."""
    status = 409 if isinstance(exc, StateConflictError | LoadSequenceExhaustedError) else 400
    return _render_card(card_number, status=status, problem=str(exc), form=form)


@bp.post("/cards/<int:card_number>/state")
@page(*ACTION_ROLES)
def card_state(card_number: int) -> Response | tuple[str, int]:
    """Block, suspend or reactivate the card, with a reason."""
    card_number = _card_number(card_number)
    fields = Fields(request.form)
    to_state = fields.choice("state", states.STAFF_STATES)
    reason = fields.text("reason", states.REASON_MAX, required="Give the reason: the rider sees it at the validator.")
    form = fields.values("state", "reason")
    if fields.errors:
        return _render_card(card_number, status=400, form=form, errors=fields.errors)
    assert to_state is not None and reason is not None
    try:
        states.set_state(registry(), current_actor(), card_number, to_state, reason)
    except (InvalidValueError, StateConflictError) as exc:
        return _refused(card_number, exc, form)
    return redirect(url_for("pages.card", card_number=card_number, done="state"), 303)


@bp.post("/cards/<int:card_number>/report-lost")
@page(*ACTION_ROLES)
def card_report_lost(card_number: int) -> Response | tuple[str, int]:
    """The holder reports the card lost or stolen: blocked now, and a duplicate application if asked."""
    card_number = _card_number(card_number)
    fields = Fields(request.form)
    reason = fields.choice("lost_reason", states.LOST_REASONS)
    duplicate = fields.raw("duplicate") == "yes"
    form = fields.values("lost_reason", "duplicate")
    if fields.errors:
        return _render_card(card_number, status=400, form=form, errors=fields.errors)
    assert reason is not None
    try:
        report = states.report_lost(registry(), current_actor(), card_number, reason, duplicate=duplicate)
    except (InvalidValueError, StateConflictError) as exc:
        return _refused(card_number, exc, form)
    extra: dict[str, Any] = {} if report.application is None else {"application": report.application.id}
    return redirect(url_for("pages.card", card_number=card_number, done="lost", **extra), 303)


@bp.post("/cards/<int:card_number>/top-up")
@page(*ACTION_ROLES)
def card_top_up(card_number: int) -> Response | tuple[str, int]:
    """Queue a top-up paid at the desk, once per form sent."""
    card_number = _card_number(card_number)
    fields = Fields(request.form)
    amount = fields.cents("amount", MAX_LOAD_CENTS)
    if amount is None:
        fields.errors.setdefault("amount", "Give the amount paid, in euros.")
    key = once.form_key(fields, "amount")
    form = fields.values("amount")
    if fields.errors:
        return _render_card(card_number, status=400, form=form, errors=fields.errors)
    assert amount is not None and key is not None
    store = database.store
    orders = LoadOrders(store, purse_key_for(), store.now)
    fingerprint = hashlib.sha256(f"{request.path} {amount}".encode()).hexdigest()

    def queue(conn: Connection) -> tuple[int, dict[str, Any]]:
        return 303, {"order": orders.queue(conn, card_number, amount, "office", current_actor()).id}

    try:
        outcome = run_once(g.staff_member.id, key, fingerprint, f"a top-up of card {card_number} at the desk", queue)
    except (InvalidValueError, StateConflictError, LoadSequenceExhaustedError) as exc:
        return _refused(card_number, exc, form)
    except KeyReusedError:  # a one-time key names one form: only a forged form sends it with another amount
        return redirect(url_for("pages.card", card_number=card_number, done="topup-again"), 303)
    if outcome.replayed:  # the same form sent twice (a double click, a reload that posts again)
        return redirect(url_for("pages.card", card_number=card_number, done="topup-again"), 303)
    return redirect(url_for("pages.card", card_number=card_number, done="topup"), 303)
