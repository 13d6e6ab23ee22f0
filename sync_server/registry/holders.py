"""Card holders: citizens and companies (tourist cards may have none).
Create one (its document id unique), read it, find holders by document id or
by the start of their name, and update how to reach them (email, phone,
address). Every change is audited in its transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from .. import audit
from ..audit import Actor
from ..errors import DuplicateHolderError, InvalidValueError, StoreError, UnknownHolderError
from .base import HOLDERS, Registry, unique_violation

CONTACT_FIELDS = ("email", "phone", "address")
"""What :func:`update_contact` may change."""

NAME_MAX = 200
DOCUMENT_MAX = 32
EMAIL_MAX = 254
PHONE_MAX = 32
ADDRESS_MAX = 500
SEARCH_MAX = 200
"""Holders per search page at most."""


@dataclass(frozen=True)
class Holder:
    id: int
    name: str
    document_id: str | None
    birth_date: dt.date | None
    email: str | None
    phone: str | None
    address: str | None
    created_at: dt.datetime

    def details(self) -> dict[str, Any]:
        """The fields an audit record keeps (dates as ISO text)."""
        values = asdict(self)
        values["birth_date"] = None if self.birth_date is None else self.birth_date.isoformat()
        values["created_at"] = self.created_at.isoformat()
        return values


def _holder(row: Any) -> Holder:
    return Holder(row.id, row.name, row.document_id, row.birth_date, row.email, row.phone, row.address,
                  row.created_at)


def _text(name: str, value: object, max_length: int, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidValueError(f"{name} must be a non-empty string of at most {max_length} characters")
    return value.strip()


def create(registry: Registry, actor: Actor, *, name: str, document_id: str | None = None,
           birth_date: dt.date | None = None, email: str | None = None, phone: str | None = None,
           address: str | None = None) -> Holder:
    """Register a holder.

    :raises InvalidValueError: for a blank or too long value, or a birth date in the future.
    :raises DuplicateHolderError: when a holder with ``document_id`` exists.
    :raises StoreError: when the database fails.
    """
    now = registry.now()
    values = {
        "name": _text("name", name, NAME_MAX, optional=False),
        "document_id": _text("document_id", document_id, DOCUMENT_MAX),
        "birth_date": birth_date,
        "email": _text("email", email, EMAIL_MAX),
        "phone": _text("phone", phone, PHONE_MAX),
        "address": _text("address", address, ADDRESS_MAX),
    }
    if birth_date is not None and birth_date > now.date():
        raise InvalidValueError(f"birth_date {birth_date} is in the future")
    try:
        with registry.write("registering a holder") as conn:
            holder_id = conn.execute(HOLDERS.insert().values(**values, created_at=now)
                                     .returning(HOLDERS.c.id)).scalar_one()
            holder = Holder(holder_id, **values, created_at=now)  # type: ignore[arg-type]
            audit.record(conn, actor, "holder.create", f"holder:{holder_id}", now, holder.details())
    except StoreError as exc:
        if unique_violation(exc):
            raise DuplicateHolderError(f"a holder with document id {document_id!r} is registered already") \
                from exc.__cause__
        raise
    return holder


def fetch(conn: Connection, holder_id: int) -> Holder:
    """The holder ``holder_id`` within ``conn``'s transaction.

    :raises UnknownHolderError: when there is none.
    """
    row = conn.execute(select(HOLDERS).where(HOLDERS.c.id == holder_id)).first()
    if row is None:
        raise UnknownHolderError(f"no holder with id {holder_id}")
    return _holder(row)


def get(registry: Registry, holder_id: int) -> Holder:
    """The holder ``holder_id``.

    :raises UnknownHolderError: when there is none.
    :raises StoreError: when the database fails.
    """
    with registry.read(f"reading holder {holder_id}") as conn:
        return fetch(conn, holder_id)


def search(registry: Registry, *, document_id: str | None = None, name_prefix: str | None = None,
           after_id: int = 0, limit: int = 50) -> list[Holder]:
    """Holders by ``document_id`` (exact), or whose name starts with
    ``name_prefix`` (ignoring case), by id from after ``after_id``, at most ``limit``.

    :raises InvalidValueError: without exactly one of ``document_id`` and ``name_prefix``, or with a
        ``limit`` out of 1..:data:`SEARCH_MAX`.
    :raises StoreError: when the database fails.
    """
    if (document_id is None) == (name_prefix is None):
        raise InvalidValueError("search holders by document_id or by name, one of them")
    if not 0 < limit <= SEARCH_MAX:
        raise InvalidValueError(f"limit must be in 1..{SEARCH_MAX}")
    query = select(HOLDERS).where(HOLDERS.c.id > after_id).order_by(HOLDERS.c.id).limit(limit)
    if document_id is not None:
        query = query.where(HOLDERS.c.document_id == document_id.strip())
    else:
        assert name_prefix is not None
        escaped = name_prefix.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(HOLDERS.c.name).like(f"{escaped}%", escape="\\"))
    with registry.read("searching holders") as conn:
        return [_holder(row) for row in conn.execute(query)]


def update_contact(registry: Registry, actor: Actor, holder_id: int, changes: Mapping[str, str | None]) -> Holder:
    """Set the contact fields of ``changes`` (email, phone, address; ``None`` clears one).

    :raises InvalidValueError: for another field, no field, or a blank or too long value.
    :raises UnknownHolderError: when there is no such holder.
    :raises StoreError: when the database fails.
    """
    unknown = set(changes) - set(CONTACT_FIELDS)
    if unknown or not changes:
        raise InvalidValueError(f"only {', '.join(CONTACT_FIELDS)} can be changed, at least one of them")
    limits = {"email": EMAIL_MAX, "phone": PHONE_MAX, "address": ADDRESS_MAX}
    values = {name: _text(name, value, limits[name]) for name, value in changes.items()}
    now = registry.now()
    with registry.write(f"updating holder {holder_id}") as conn:
        before = fetch(conn, holder_id)
        conn.execute(update(HOLDERS).where(HOLDERS.c.id == holder_id).values(**values))
        audit.record(conn, actor, "holder.update", f"holder:{holder_id}", now,
                     {name: {"from": getattr(before, name), "to": value} for name, value in values.items()})
        return fetch(conn, holder_id)
