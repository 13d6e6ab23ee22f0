"""Card applications: a new card, a duplicate (the card was lost, stolen or
broken), a renewal, a tourist card. Submitted ``pending``; the card office
approves or rejects it (with a reason); an approved one is issued at the
issuance point (:mod:`sync_server.registry.issuance`) or cancelled. Reviewers
work the queue oldest first, a page at a time. Every change is audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from .. import audit
from ..audit import Actor
from ..db.models import APPLICATION_KINDS, APPLICATION_STATUSES, CARD_KINDS, FARE_PROFILES
from ..errors import ApplicationStateError, CardStateError, InvalidValueError, UnknownApplicationError
from . import holders
from .base import APPLICATIONS, CARDS, Registry, check_card_number

REPLACING_KINDS = ("duplicate", "renewal")
"""Applications that replace a card (``replaces_card``)."""

OPEN_STATUSES = ("pending", "approved")
"""An application under way: one per card to replace."""

TOURIST_BALANCE_MAX = 50_000
"""Cents a tourist card may be sold with at most."""

NOTE_MAX = 500
REASON_MAX = 500
QUEUE_MAX = 200


@dataclass(frozen=True)
class Application:
    id: int
    kind: str
    status: str
    holder_id: int | None
    card_kind: str
    profile: str
    replaces_card: int | None
    balance_cents: int
    note: str | None
    submitted_at: dt.datetime
    submitted_by: str
    decided_at: dt.datetime | None
    decided_by: str | None
    decision_reason: str | None
    card_number: int | None


def _application(row: Any) -> Application:
    return Application(*(getattr(row, name) for name in Application.__dataclass_fields__))


def fetch(conn: Connection, application_id: int, *, for_update: bool = False) -> Application:
    """The application within ``conn``'s transaction.

    :raises UnknownApplicationError: when there is none.
    """
    query = select(APPLICATIONS).where(APPLICATIONS.c.id == application_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    if row is None:
        raise UnknownApplicationError(f"no application with id {application_id}")
    return _application(row)


def _text(name: str, value: object, max_length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidValueError(f"{name} must be a non-empty string of at most {max_length} characters")
    return value.strip()


def submit_within(conn: Connection, actor: Actor, now: dt.datetime, *, kind: str, holder_id: int | None = None,
                  card_kind: str | None = None, profile: str | None = None, replaces_card: int | None = None,
                  balance_cents: int = 0, note: str | None = None) -> Application:
    """Submit an application within ``conn``'s transaction (see :func:`submit`)."""
    if kind not in APPLICATION_KINDS:
        raise InvalidValueError(f"kind must be one of {', '.join(APPLICATION_KINDS)}")
    if card_kind is not None and card_kind not in CARD_KINDS:
        raise InvalidValueError(f"card_kind must be one of {', '.join(CARD_KINDS)}")
    if profile is not None and profile not in FARE_PROFILES:
        raise InvalidValueError(f"profile must be one of {', '.join(FARE_PROFILES)}")
    if isinstance(balance_cents, bool) or not isinstance(balance_cents, int) \
            or not 0 <= balance_cents <= TOURIST_BALANCE_MAX:
        raise InvalidValueError(f"balance_cents must be an integer in 0..{TOURIST_BALANCE_MAX}")
    if kind != "tourist" and balance_cents:
        raise InvalidValueError("only a tourist card is sold with a balance (a duplicate takes the old card's)")
    if kind in REPLACING_KINDS:
        if replaces_card is None:
            raise InvalidValueError(f"a {kind} names the card it replaces (replaces_card)")
    elif replaces_card is not None:
        raise InvalidValueError(f"a {kind} card replaces no card")
    if kind != "tourist" and holder_id is None:
        raise InvalidValueError(f"a {kind} application needs the holder (holder_id)")
    if holder_id is not None:
        holders.fetch(conn, holder_id)
    if kind == "tourist":
        if card_kind not in (None, "tourist"):
            raise InvalidValueError("a tourist application is for a tourist card")
        card_kind = "tourist"
    elif kind == "new":
        if card_kind == "tourist":
            raise InvalidValueError("a tourist card is applied for with kind tourist")
        card_kind = card_kind or "citizen"
    else:
        assert replaces_card is not None
        check_card_number(replaces_card)
        old = conn.execute(select(CARDS.c.holder_id, CARDS.c.state, CARDS.c.kind, CARDS.c.profile)
                           .where(CARDS.c.card_number == replaces_card)).first()
        if old is None:
            raise InvalidValueError(f"replaces_card: the registry holds no card {replaces_card}")
        if old.holder_id != holder_id:
            raise InvalidValueError(f"replaces_card: card {replaces_card} is not holder {holder_id}'s")
        if old.state == "replaced":
            raise CardStateError(f"card {replaces_card} was replaced already")
        under_way = conn.execute(select(APPLICATIONS.c.id).where(
            (APPLICATIONS.c.replaces_card == replaces_card) & APPLICATIONS.c.status.in_(OPEN_STATUSES))).first()
        if under_way is not None:
            raise ApplicationStateError(f"application {under_way.id} replaces card {replaces_card} already")
        card_kind = card_kind or old.kind
        profile = profile or old.profile
    values = {"kind": kind, "status": "pending", "holder_id": holder_id, "card_kind": card_kind,
              "profile": profile or "general", "replaces_card": replaces_card, "balance_cents": balance_cents,
              "note": _text("note", note, NOTE_MAX), "submitted_at": now, "submitted_by": actor.name}
    application_id = conn.execute(APPLICATIONS.insert().values(**values).returning(APPLICATIONS.c.id)).scalar_one()
    audit.record(conn, actor, "application.submit", f"application:{application_id}", now,
                 {name: value for name, value in values.items() if name not in ("submitted_at", "status")})
    return Application(application_id, **values, decided_at=None, decided_by=None,  # type: ignore[arg-type]
                       decision_reason=None, card_number=None)


def submit(registry: Registry, actor: Actor, *, kind: str, holder_id: int | None = None,
           card_kind: str | None = None, profile: str | None = None, replaces_card: int | None = None,
           balance_cents: int = 0, note: str | None = None) -> Application:
    """Submit an application, ``pending``. ``holder_id`` is required except
    for a tourist card; a duplicate or renewal names the holder's card it
    replaces (its kind and profile by default); only a tourist card carries a
    prepaid ``balance_cents``.

    :raises InvalidValueError: for a value out of range or a combination that makes no sense.
    :raises UnknownHolderError: for a holder the registry does not hold.
    :raises CardStateError: when the card to replace was replaced already.
    :raises ApplicationStateError: when another application replaces that card already.
    :raises StoreError: when the database fails.
    """
    now = registry.now()
    with registry.write("submitting an application") as conn:
        return submit_within(conn, actor, now, kind=kind, holder_id=holder_id, card_kind=card_kind,
                             profile=profile, replaces_card=replaces_card, balance_cents=balance_cents, note=note)


def get(registry: Registry, application_id: int) -> Application:
    """The application ``application_id``.

    :raises UnknownApplicationError: when there is none.
    :raises StoreError: when the database fails.
    """
    with registry.read(f"reading application {application_id}") as conn:
        return fetch(conn, application_id)


def queue(registry: Registry, *, status: str | None = None, after_id: int = 0, limit: int = 50) -> list[Application]:
    """Applications oldest first (of ``status`` if given), from after ``after_id``, at most ``limit``.

    :raises InvalidValueError: for an unknown status or a limit out of 1..:data:`QUEUE_MAX`.
    :raises StoreError: when the database fails.
    """
    if status is not None and status not in APPLICATION_STATUSES:
        raise InvalidValueError(f"status must be one of {', '.join(APPLICATION_STATUSES)}")
    if not 0 < limit <= QUEUE_MAX:
        raise InvalidValueError(f"limit must be in 1..{QUEUE_MAX}")
    query = select(APPLICATIONS).where(APPLICATIONS.c.id > after_id).order_by(APPLICATIONS.c.id).limit(limit)
    if status is not None:
        query = query.where(APPLICATIONS.c.status == status)
    with registry.read("reading the application queue") as conn:
        return [_application(row) for row in conn.execute(query)]


def _decide(registry: Registry, actor: Actor, application_id: int, action: str, to_status: str,
            from_statuses: tuple[str, ...], reason: str | None) -> Application:
    now = registry.now()
    with registry.write(f"{action} application {application_id}") as conn:
        application = fetch(conn, application_id, for_update=True)
        if application.status not in from_statuses:
            raise ApplicationStateError(f"application {application_id} is {application.status}: it cannot be "
                                        f"{to_status}")
        conn.execute(update(APPLICATIONS).where(APPLICATIONS.c.id == application_id).values(
            status=to_status, decided_at=now, decided_by=actor.name, decision_reason=reason))
        audit.record(conn, actor, f"application.{action}", f"application:{application_id}", now,
                     {"from": application.status, "to": to_status, "reason": reason})
        return fetch(conn, application_id)


def approve(registry: Registry, actor: Actor, application_id: int) -> Application:
    """Approve a pending application: it can be issued.

    :raises UnknownApplicationError: when there is none.
    :raises ApplicationStateError: when it is not pending.
    :raises StoreError: when the database fails.
    """
    return _decide(registry, actor, application_id, "approve", "approved", ("pending",), None)


def reject(registry: Registry, actor: Actor, application_id: int, reason: str) -> Application:
    """Reject a pending application, saying why.

    :raises InvalidValueError: for a blank reason.
    :raises UnknownApplicationError: when there is none.
    :raises ApplicationStateError: when it is not pending.
    :raises StoreError: when the database fails.
    """
    text = _text("reason", reason, REASON_MAX)
    if text is None:
        raise InvalidValueError("a rejection needs a reason")
    return _decide(registry, actor, application_id, "reject", "rejected", ("pending",), text)


def cancel(registry: Registry, actor: Actor, application_id: int, reason: str | None = None) -> Application:
    """Cancel an application not issued yet (pending or approved).

    :raises InvalidValueError: for a blank reason.
    :raises UnknownApplicationError: when there is none.
    :raises ApplicationStateError: when it was rejected, issued or cancelled already.
    :raises StoreError: when the database fails.
    """
    return _decide(registry, actor, application_id, "cancel", "cancelled", OPEN_STATUSES,
                   _text("reason", reason, REASON_MAX))
