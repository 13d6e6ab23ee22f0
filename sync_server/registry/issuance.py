"""The issuance point: an approved application becomes a card. The server
chooses the card number (random, 16 digits, unique), records the card
(``active``, valid 5 years, a tourist card 1), its ``issued`` event, marks
the application ``issued``, and answers with everything the blank must be
personalised with. A duplicate or renewal takes over the old card's money
and contracts (:mod:`sync_server.registry.duplicates`) in the same
transaction.

Issuing again for the same application and UID answers the same card (the
technician retrying after a failed write); another UID for an application
issued already is refused."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from .. import audit
from ..audit import Actor
from ..errors import ApplicationStateError, InvalidValueError, StoreError, UidInUseError
from . import applications, duplicates
from .base import APPLICATIONS, CARDS, Registry, add_years, unique_violation
from .cards import Card, Contract, contracts_of, fetch, find_by_uid
from .states import record_event

VALIDITY_YEARS = {"citizen": 5, "company": 5, "tourist": 1}
UID_SIZES = (4, 7)
NUMBER_ATTEMPTS = 20
"""Card numbers tried before giving up (a collision among 9 * 10**15 is rare)."""


@dataclass(frozen=True)
class Personalisation:
    """What the issuance point writes on the blank."""

    application_id: int
    card_number: int
    uid: bytes
    kind: str
    profile: str
    holder_id: int | None
    issued_on: dt.date
    expires_on: dt.date
    balance_cents: int
    contracts: tuple[Contract, ...]
    replaces: int | None


def _personalisation(conn: Connection, application_id: int, card: Card) -> Personalisation:
    return Personalisation(application_id, card.card_number, card.uid, card.kind, card.profile, card.holder_id,
                           card.issued_at.astimezone(dt.UTC).date(), card.expires_on, card.initial_balance_cents,
                           contracts_of(conn, card.card_number), card.replaces)


def _new_number(registry: Registry, conn: Connection) -> int:
    for _ in range(NUMBER_ATTEMPTS):
        number = registry.card_numbers()
        if conn.execute(select(CARDS.c.card_number).where(CARDS.c.card_number == number)).first() is None:
            return number
    raise StoreError(f"no free card number in {NUMBER_ATTEMPTS} attempts: check the card number generator")


def issue(registry: Registry, actor: Actor, application_id: int, uid: bytes) -> tuple[Personalisation, bool]:
    """Issue the approved application ``application_id`` to the blank ``uid``.

    :returns: the personalisation and whether the card was made now
        (``False``: it was issued to this UID before, the same card again).
    :raises InvalidValueError: for a UID that is not 4 or 7 bytes.
    :raises UnknownApplicationError: when there is no such application.
    :raises ApplicationStateError: when it is not approved, or was issued to another UID.
    :raises UidInUseError: when another card has this UID.
    :raises CardStateError: when the card a duplicate replaces was replaced already.
    :raises StoreError: when the database fails.
    """
    if not isinstance(uid, bytes) or len(uid) not in UID_SIZES:
        raise InvalidValueError("a UID is 4 or 7 bytes")
    now = registry.now()
    try:
        with registry.write(f"issuing application {application_id}") as conn:
            application = applications.fetch(conn, application_id, for_update=True)
            if application.status == "issued":
                assert application.card_number is not None
                card = fetch(conn, application.card_number)
                if card.uid != uid:
                    raise ApplicationStateError(
                        f"application {application_id} was issued as card {card.card_number} to UID "
                        f"{card.uid.hex().upper()}, not {uid.hex().upper()}")
                return _personalisation(conn, application_id, card), False
            if application.status != "approved":
                raise ApplicationStateError(f"application {application_id} is {application.status}: only an "
                                            "approved application is issued")
            holder = find_by_uid(conn, uid)
            if holder is not None:
                raise UidInUseError(f"UID {uid.hex().upper()} is card {holder.card_number}'s")
            takeover = None
            if application.replaces_card is not None:
                takeover = duplicates.plan(conn, fetch(conn, application.replaces_card, for_update=True), now.date())
            card_number = _new_number(registry, conn)
            balance = application.balance_cents if takeover is None else takeover.amount_cents
            expires_on = add_years(now.date(), VALIDITY_YEARS[application.card_kind])
            conn.execute(CARDS.insert().values(
                card_number=card_number, uid=uid, holder_id=application.holder_id, kind=application.card_kind,
                profile=application.profile, state="active", state_reason=None, state_changed_at=now,
                issued_at=now, expires_on=expires_on, initial_balance_cents=balance, application_id=application_id,
                replaces=application.replaces_card, replaced_by=None))
            record_event(conn, card_number, now, "issued", actor, to_state="active",
                         reason=f"application {application_id}")
            conn.execute(update(APPLICATIONS).where(APPLICATIONS.c.id == application_id)
                         .values(status="issued", card_number=card_number))
            details: dict[str, object] = {"application": application_id, "uid": uid.hex().upper(),
                                          "kind": application.card_kind, "profile": application.profile,
                                          "balance_cents": balance, "expires_on": expires_on.isoformat()}
            if takeover is not None:
                details["replaces"] = application.replaces_card
                details["denylist_version"] = duplicates.retire(registry, conn, takeover, card_number, actor, now)
            audit.record(conn, actor, "card.issue", f"card:{card_number}", now, details)
            return _personalisation(conn, application_id, fetch(conn, card_number)), True
    except StoreError as exc:
        if unique_violation(exc):  # another issuance took the UID (or the number) meanwhile
            raise UidInUseError(f"UID {uid.hex().upper()} or the card number was taken meanwhile; try again") \
                from exc.__cause__
        raise
