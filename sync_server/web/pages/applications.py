"""The applications queue and an application's page, a form to submit a new
application for a registered holder, and a form to register a holder
(:mod:`sync_server.registry.applications`, :mod:`sync_server.registry.holders`).

The queue lists pending applications first, oldest first (the order they
are reviewed in), then the others oldest first; it can be filtered by status.
On an application's page the card office approves it, rejects it (with a
reason) or cancels it; each is audited by the registry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from flask import g, redirect, render_template, request, url_for
from sqlalchemy import case, select
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Response

from ...db.models import APPLICATION_KINDS, APPLICATION_STATUSES, CARD_KINDS, FARE_PROFILES
from ...errors import InvalidValueError, StateConflictError, UnknownHolderError
from ...registry import applications as registry_applications
from ...registry import holders
from ...registry.base import APPLICATIONS, HOLDERS
from ..applications import READ_ROLES, REVIEW_ROLES
from ..auth import current_actor
from ..holders import ID_MAX, registry
from ..holders import WRITE_ROLES as HOLDER_ROLES
from ..idempotency import KeyReusedError, run_once
from . import once
from .blueprint import PageError, bp, reading
from .fields import Fields, digits
from .guard import page
from .nav import allows

APPLICATIONS_ROLES = READ_ROLES
SUBMIT_ROLES = ("admin", "card_office")
PAGE_SIZE = 50

DONE = {
    "submitted": "The application is submitted, pending review.",
    "approve": "Approved: it can be issued at the issuance point.",
    "reject": "Rejected.",
    "cancel": "Cancelled.",
    "holder": "The holder is registered.",
}
"""What a page says after an action (``?done=``): fixed texts, nothing of the request is echoed."""

_APPLICATION_FIELDS = ("kind", "holder_id", "card_kind", "profile", "replaces_card", "balance", "note")
_HOLDER_FIELDS = ("name", "document_id", "birth_date", "email", "phone", "address")


def _page_number() -> int:
    raw = request.args.get("page", "")
    return int(raw) if digits(raw) and 0 < len(raw) <= 6 and int(raw) > 0 else 1


@bp.get("/applications", endpoint="applications")
@page(*APPLICATIONS_ROLES)
def applications_queue() -> tuple[str, int]:
    """The queue: pending first, oldest first; ``?status=`` for one status."""
    fields = Fields(request.args)
    status = fields.choice("status", APPLICATION_STATUSES, required=False)
    number = _page_number()
    query = (select(APPLICATIONS, HOLDERS.c.name.label("holder_name"))
             .select_from(APPLICATIONS.outerjoin(HOLDERS, HOLDERS.c.id == APPLICATIONS.c.holder_id))
             .order_by(case((APPLICATIONS.c.status == "pending", 0), else_=1), APPLICATIONS.c.id)
             .offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))
    if status is not None:
        query = query.where(APPLICATIONS.c.status == status)
    with reading("reading the application queue") as conn:
        rows = conn.execute(query).all()
    return render_template("pages/applications.html", rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE,
                           number=number, status=status, statuses=APPLICATION_STATUSES, errors=fields.errors,
                           can_submit=allows("pages.application_new", g.staff_member.role)), \
        400 if fields.errors else 200


def _application_id(value: int) -> int:
    if not 0 < value <= ID_MAX:
        raise PageError(404, "Not found", f"No application {value}.")
    return value


def _render_application(application_id: int, *, status: int = 200, problem: str | None = None,
                        errors: dict[str, str] | None = None, form: dict[str, str] | None = None) -> tuple[str, int]:
    reg = registry()
    with reg.read(f"reading application {application_id}") as conn:
        application = registry_applications.fetch(conn, application_id)
        holder = None if application.holder_id is None else holders.fetch(conn, application.holder_id)
    done = request.args.get("done")
    role = g.staff_member.role
    return render_template("pages/application.html", application=application, holder=holder, problem=problem,
                           errors=errors or {}, form=form or {}, done=DONE.get(done or ""),
                           can_review=allows("pages.application_approve", role),
                           can_see_cards=allows("pages.card", role),
                           reason_max=registry_applications.REASON_MAX), status


@bp.get("/applications/<int:application_id>")
@page(*APPLICATIONS_ROLES)
def application(application_id: int) -> tuple[str, int]:
    """One application, and its review."""
    return _render_application(_application_id(application_id))


def _decide(application_id: int, action: str) -> Response | tuple[str, int]:
    application_id = _application_id(application_id)
    fields = Fields(request.form)
    reason = fields.text("reason", registry_applications.REASON_MAX,
                         required="Give the reason: the applicant is told it." if action == "reject" else None)
    form = fields.values("reason")
    if fields.errors:
        return _render_application(application_id, status=400, errors=fields.errors, form=form)
    reg, actor = registry(), current_actor()
    try:
        if action == "approve":
            registry_applications.approve(reg, actor, application_id)
        elif action == "reject":
            assert reason is not None
            registry_applications.reject(reg, actor, application_id, reason)
        else:
            registry_applications.cancel(reg, actor, application_id, reason)
    except (InvalidValueError, StateConflictError) as exc:
        return _render_application(application_id, status=409 if isinstance(exc, StateConflictError) else 400,
                                   problem=str(exc), form=form)
    return redirect(url_for("pages.application", application_id=application_id, done=action), 303)


@bp.post("/applications/<int:application_id>/approve")
@page(*REVIEW_ROLES)
def application_approve(application_id: int) -> Response | tuple[str, int]:
    """Approve a pending application."""
    return _decide(application_id, "approve")


@bp.post("/applications/<int:application_id>/reject")
@page(*REVIEW_ROLES)
def application_reject(application_id: int) -> Response | tuple[str, int]:
    """Reject a pending application, with a reason."""
    return _decide(application_id, "reject")


@bp.post("/applications/<int:application_id>/cancel")
@page(*REVIEW_ROLES)
def application_cancel(application_id: int) -> Response | tuple[str, int]:
    """Cancel an application not issued yet."""
    return _decide(application_id, "cancel")


def _render_new(*, status: int = 200, application_form: dict[str, str] | None = None,
                holder_form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                holder_errors: dict[str, str] | None = None, problem: str | None = None) -> tuple[str, int]:
    holder = None
    holder_id = request.values.get("holder_id", "")
    if digits(holder_id) and 0 < len(holder_id) <= 19 and 0 < int(holder_id) <= ID_MAX:
        try:
            holder = holders.get(registry(), int(holder_id))
        except UnknownHolderError:
            holder = None
    done = request.args.get("done")
    return render_template("pages/application_new.html", holder=holder, problem=problem,
                           form=application_form or {"holder_id": holder_id if holder else ""},
                           holder_form=holder_form or {}, errors=errors or {}, holder_errors=holder_errors or {},
                           done=DONE.get(done or ""), kinds=APPLICATION_KINDS, card_kinds=CARD_KINDS,
                           profiles=FARE_PROFILES, note_max=registry_applications.NOTE_MAX,
                           balance_max=registry_applications.TOURIST_BALANCE_MAX, form_key=once.new_key(),
                           can_register=allows("pages.holder_new", g.staff_member.role)), status


@bp.get("/applications/new")
@page(*SUBMIT_ROLES)
def application_new() -> tuple[str, int]:
    """The forms: a new application (for the holder of ``?holder_id=``), and a new holder."""
    return _render_new()


@bp.post("/applications/new")
@page(*SUBMIT_ROLES)
def application_submit() -> Response | tuple[str, int]:
    """Submit an application; on to its page."""
    fields = Fields(request.form)
    kind = fields.choice("kind", APPLICATION_KINDS)
    holder_id = fields.integer("holder_id", 1, ID_MAX, what="a holder number")
    card_kind = fields.choice("card_kind", CARD_KINDS, required=False)
    profile = fields.choice("profile", FARE_PROFILES, required=False)
    replaces = fields.card_number("replaces_card")
    balance = fields.cents("balance", registry_applications.TOURIST_BALANCE_MAX)
    note = fields.text("note", registry_applications.NOTE_MAX)
    key = once.form_key(fields, "balance") if balance else None  # a card sold with money: once per form
    form = fields.values(*_APPLICATION_FIELDS)
    if fields.errors:
        return _render_new(status=400, application_form=form, errors=fields.errors)
    assert kind is not None
    actor = current_actor()

    def submit(conn: Connection) -> tuple[int, dict[str, Any]]:
        made = registry_applications.submit_within(
            conn, actor, registry().now(), kind=kind, holder_id=holder_id, card_kind=card_kind, profile=profile,
            replaces_card=replaces, balance_cents=balance or 0, note=note)
        return 303, {"application": made.id}

    try:
        if key is None:
            application_id = registry_applications.submit(
                registry(), actor, kind=kind, holder_id=holder_id, card_kind=card_kind, profile=profile,
                replaces_card=replaces, balance_cents=0, note=note).id
        else:
            fingerprint = hashlib.sha256(f"{request.path} {sorted(form.items())}".encode()).hexdigest()
            application_id = run_once(g.staff_member.id, key, fingerprint, "a tourist card sold at the desk",
                                      submit).body["application"]
    except (InvalidValueError, StateConflictError, UnknownHolderError) as exc:
        return _render_new(status=409 if isinstance(exc, StateConflictError) else 400, application_form=form,
                           problem=str(exc))
    except KeyReusedError:  # a one-time key names one form: only a forged form sends it with other values
        return _render_new(status=400, application_form=form, problem="This form was sent already.")
    return redirect(url_for("pages.application", application_id=application_id, done="submitted"), 303)


@bp.post("/holders", endpoint="holder_new")
@page(*HOLDER_ROLES)
def holder_create() -> Response | tuple[str, int]:
    """Register a holder; back to the application form, for that holder."""
    fields = Fields(request.form)
    name = fields.text("name", holders.NAME_MAX, required="Give the holder's name.")
    document_id = fields.text("document_id", holders.DOCUMENT_MAX)
    birth = fields.moment("birth_date")
    email = fields.text("email", holders.EMAIL_MAX)
    phone = fields.text("phone", holders.PHONE_MAX)
    address = fields.text("address", holders.ADDRESS_MAX)
    form = fields.values(*_HOLDER_FIELDS)
    if fields.errors:
        return _render_new(status=400, holder_form=form, holder_errors=fields.errors)
    assert name is not None
    birth_date: dt.date | None = None if birth is None else birth.date()
    try:
        holder = holders.create(registry(), current_actor(), name=name, document_id=document_id,
                                birth_date=birth_date, email=email, phone=phone, address=address)
    except (InvalidValueError, StateConflictError) as exc:
        return _render_new(status=409 if isinstance(exc, StateConflictError) else 400, holder_form=form,
                           problem=str(exc))
    return redirect(url_for("pages.application_new", holder_id=holder.id, done="holder"), 303)
