"""A card's life: the moves staff may make between ``active``,
``suspended`` and ``blocked``, a card reported lost or stolen, a block asked
for by number or UID, and expiry. Each change writes the card row, a
``card_events`` row, the deny-list change (a blocked, suspended, expired or
replaced card is denied by number and by UID; an active one is not) and the
audit record in one transaction, so the registry's state and the deny-list
never disagree.

``replaced`` is set only by issuing the card's duplicate or renewal
(:mod:`sync_server.registry.issuance`), ``expired`` only by :func:`expire`;
neither is ever left."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from .. import audit
from ..audit import Actor
from ..errors import CardStateError, InvalidValueError
from . import applications
from .base import CARD_EVENTS, CARDS, Registry, check_card_number
from .cards import Card, card_from_row, fetch, find_by_uid

STAFF_STATES = ("active", "suspended", "blocked")
"""The states staff may set (``POST /cards/{n}/state``)."""

MOVES: dict[str, frozenset[str]] = {
    "active": frozenset({"suspended", "blocked"}),
    "suspended": frozenset({"active", "blocked"}),
    "blocked": frozenset({"active", "suspended"}),
    "expired": frozenset(),
    "replaced": frozenset(),
}
"""state -> the states staff may move a card to from it."""

DENIED_STATES = frozenset({"blocked", "suspended", "expired", "replaced"})
"""Cards in these states are on the deny-list."""

LOST_REASONS = ("lost", "stolen")
REASON_MAX = 200
"""Characters of a reason (the deny-list shows it to the rider)."""

EXPIRY_BATCH = 500
"""Cards expired per transaction."""


@dataclass(frozen=True)
class StateChange:
    card: Card
    denylist_version: int


def record_event(conn: Connection, card_number: int, at: dt.datetime, event: str, actor: Actor, *,
                 from_state: str | None = None, to_state: str | None = None, reason: str | None = None) -> None:
    """Add ``event`` to the card's history within ``conn``'s transaction."""
    conn.execute(CARD_EVENTS.insert().values(card_number=card_number, at=at, event=event, from_state=from_state,
                                             to_state=to_state, reason=reason, actor=actor.name))


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > REASON_MAX:
        raise InvalidValueError(f"a reason is a non-empty string of at most {REASON_MAX} characters")
    return reason.strip()


def move(registry: Registry, conn: Connection, card: Card, to_state: str, reason: str, actor: Actor,
         now: dt.datetime, *, event: str = "state") -> int:
    """Move ``card`` to ``to_state`` within ``conn``'s transaction: its row,
    its history, the deny-list. Staff moves are checked against
    :data:`MOVES`; ``expired`` and ``replaced`` are the system's.

    :returns: the deny-list version after the move.
    :raises CardStateError: for a move :data:`MOVES` does not allow, or back to active after expiry.
    """
    if to_state in STAFF_STATES:
        if to_state not in MOVES[card.state]:
            raise CardStateError(f"card {card.card_number} is {card.state}: it cannot become {to_state}")
        if to_state == "active" and card.expires_on < now.date():
            raise CardStateError(f"card {card.card_number} expired on {card.expires_on}: it cannot be active again")
    elif card.state in ("expired", "replaced"):
        raise CardStateError(f"card {card.card_number} is {card.state} already")
    changed = conn.execute(update(CARDS).where((CARDS.c.card_number == card.card_number)
                                               & (CARDS.c.state == card.state))
                           .values(state=to_state, state_reason=reason, state_changed_at=now)).rowcount
    if changed != 1:
        raise CardStateError(f"card {card.card_number} changed meanwhile; read it again")
    record_event(conn, card.card_number, now, event, actor, from_state=card.state, to_state=to_state, reason=reason)
    if to_state in DENIED_STATES:
        return registry.store.block(card_number=card.card_number, uid=card.uid, reason=reason, within=conn)
    return registry.store.unblock(card_number=card.card_number, uid=card.uid, within=conn)


def set_state(registry: Registry, actor: Actor, card_number: int, to_state: str, reason: str) -> StateChange:
    """Staff move ``card_number`` to ``to_state`` (active, suspended, blocked), audited.

    :raises InvalidValueError: for another state or a blank reason.
    :raises UnknownCardError: when the registry holds no such card.
    :raises CardStateError: for a move that is not allowed (see :data:`MOVES`).
    :raises StoreError: when the database fails.
    """
    check_card_number(card_number)
    if to_state not in STAFF_STATES:
        raise InvalidValueError(f"state must be one of {', '.join(STAFF_STATES)}")
    reason = _reason(reason)
    now = registry.now()
    with registry.write(f"changing the state of card {card_number}") as conn:
        card = fetch(conn, card_number, for_update=True)
        version = move(registry, conn, card, to_state, reason, actor, now)
        audit.record(conn, actor, "card.state", f"card:{card_number}", now,
                     {"from": card.state, "to": to_state, "reason": reason, "denylist_version": version})
        return StateChange(fetch(conn, card_number), version)


def block_keys(registry: Registry, actor: Actor, *, card_number: int | None, uid: bytes | None,
               reason: str) -> int:
    """Deny a card by number, UID or both, known to the registry or not
    (``POST /cards/block``). A registered card (found by number, else by UID)
    that is active or suspended becomes ``blocked`` as :func:`set_state`
    would make it; one blocked, expired or replaced keeps its state and its
    keys are denied again with ``reason``. Audited.

    :returns: the deny-list version that holds the block.
    :raises InvalidValueError: with neither key, a blank reason, or the number of one registered card and
        the UID of another.
    :raises StoreError: when the database fails.
    """
    if card_number is None and uid is None:
        raise InvalidValueError("give a card number, a UID or both")
    reason = _reason(reason)
    now = registry.now()
    with registry.write("blocking a card") as conn:
        card = None
        if card_number is not None:
            row = conn.execute(select(CARDS.c.card_number).where(CARDS.c.card_number == card_number)).first()
            card = None if row is None else fetch(conn, card_number, for_update=True)
        if card is None and uid is not None:
            card = find_by_uid(conn, uid)
        elif card is not None and uid is not None and uid != card.uid:
            other = find_by_uid(conn, uid)
            if other is not None:
                raise InvalidValueError(f"UID {uid.hex().upper()} is card {other.card_number}'s, not card "
                                        f"{card.card_number}'s: block each card by its own keys")
        details: dict[str, object] = {"card_number": card_number, "uid": None if uid is None else uid.hex().upper(),
                                      "reason": reason, "registered": card is not None}
        if card is not None and card.state in ("active", "suspended"):
            version = move(registry, conn, card, "blocked", reason, actor, now)
            details["from"] = card.state
        elif card is not None:
            version = registry.store.block(card_number=card.card_number, uid=card.uid, reason=reason, within=conn)
        else:
            version = registry.store.block(card_number=card_number, uid=uid, reason=reason, within=conn)
        if card is not None and uid is not None and uid != card.uid:
            version = registry.store.block(uid=uid, reason=reason, within=conn)
        target = f"card:{card.card_number if card else card_number}" if card or card_number is not None \
            else f"uid:{details['uid']}"
        details["denylist_version"] = version
        audit.record(conn, actor, "card.block", target, now, details)
        return version


@dataclass(frozen=True)
class LostReport:
    card: Card
    denylist_version: int
    application: applications.Application | None


def report_lost(registry: Registry, actor: Actor, card_number: int, reason: str, *,
                duplicate: bool) -> LostReport:
    """The holder reports ``card_number`` lost or stolen: it is blocked now
    (denied by number and UID), and with ``duplicate`` a pending duplicate
    application is made for its holder, all in one transaction.

    :raises InvalidValueError: for a reason other than lost or stolen.
    :raises UnknownCardError: when the registry holds no such card.
    :raises CardStateError: for a card expired or replaced, or a duplicate asked for a card without holder.
    :raises ApplicationStateError: when a duplicate or renewal of the card is already under way.
    :raises StoreError: when the database fails.
    """
    check_card_number(card_number)
    if reason not in LOST_REASONS:
        raise InvalidValueError(f"reason must be one of {', '.join(LOST_REASONS)}")
    now = registry.now()
    with registry.write(f"reporting card {card_number} {reason}") as conn:
        card = fetch(conn, card_number, for_update=True)
        if card.state in ("expired", "replaced"):
            raise CardStateError(f"card {card_number} is {card.state}: it is denied already and has no duplicate")
        if duplicate and card.holder_id is None:
            raise CardStateError(f"card {card_number} has no holder: a duplicate needs one (issue a new card)")
        if card.state == "blocked":
            version = registry.store.block(card_number=card_number, uid=card.uid, reason=reason, within=conn)
            record_event(conn, card_number, now, "reported", actor, from_state="blocked", to_state="blocked",
                         reason=reason)
        else:
            version = move(registry, conn, card, "blocked", reason, actor, now, event="reported")
        application = None
        if duplicate:
            application = applications.submit_within(
                conn, actor, now, kind="duplicate", holder_id=card.holder_id, replaces_card=card_number,
                note=f"card reported {reason}")
        audit.record(conn, actor, "card.report_lost", f"card:{card_number}", now,
                     {"reason": reason, "from": card.state, "denylist_version": version,
                      "application": None if application is None else application.id})
        return LostReport(fetch(conn, card_number), version, application)


def expire(registry: Registry, actor: Actor | None = None) -> list[int]:
    """Mark every card past its expiry date (``expires_on`` before today,
    UTC) that is active, suspended or blocked as ``expired`` and deny it,
    :data:`EXPIRY_BATCH` cards per transaction (one deny-list version each).

    :returns: the numbers of the cards expired.
    :raises StoreError: when the database fails (the batches committed before stay).
    """
    actor = actor or Actor.system("expiry")
    expired: list[int] = []
    while True:
        now = registry.now()
        with registry.write("expiring cards") as conn:
            rows = conn.execute(select(CARDS).where(CARDS.c.state.in_(("active", "suspended", "blocked"))
                                                    & (CARDS.c.expires_on < now.date()))
                                .limit(EXPIRY_BATCH).with_for_update()).all()
            cards = [card_from_row(row) for row in rows]
            for card in cards:
                conn.execute(update(CARDS).where(CARDS.c.card_number == card.card_number)
                             .values(state="expired", state_reason="expired", state_changed_at=now))
                record_event(conn, card.card_number, now, "state", actor, from_state=card.state,
                             to_state="expired", reason="expired")
            if cards:
                version = registry.store.block_many([(card.card_number, card.uid, "expired") for card in cards],
                                                    within=conn)
                for card in cards:
                    audit.record(conn, actor, "card.expire", f"card:{card.card_number}", now,
                                 {"from": card.state, "expires_on": card.expires_on.isoformat(),
                                  "denylist_version": version})
            expired.extend(card.card_number for card in cards)
        if len(cards) < EXPIRY_BATCH:
            return expired
