"""The audit log: every action of a staff member, and every action the
system takes by itself (the reconciliation policy blocking a card), written in
the same database transaction as the action, so the log never claims what did
not happen nor misses what did."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from .db.models import AuditEntry

AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff member (``name`` their username, ``role`` theirs)
    or a part of the system (``system:<part>``, no role)."""

    name: str
    role: str | None

    @classmethod
    def system(cls, part: str) -> Actor:
        return cls(f"system:{part}", None)


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: dt.datetime
    actor: str
    role: str | None
    action: str
    target: str
    details: dict[str, Any]


def record(conn: Connection, actor: Actor, action: str, target: str, at: dt.datetime,
           details: Mapping[str, Any] | None = None) -> None:
    """Log ``actor`` doing ``action`` on ``target`` (``"card:1234"``,
    ``"application:7"``) within ``conn``'s transaction."""
    conn.execute(AUDIT.insert().values(at=at, actor=actor.name, role=actor.role, action=action, target=target,
                                       details=dict(details or {})))


def entries(conn: Connection, *, target: str | None = None, after_id: int = 0,
            limit: int = 100) -> list[AuditRecord]:
    """The log in order, from after ``after_id``, at most ``limit``, of one ``target`` if given."""
    query = select(AUDIT).where(AUDIT.c.id > after_id).order_by(AUDIT.c.id).limit(limit)
    if target is not None:
        query = query.where(AUDIT.c.target == target)
    return [AuditRecord(row.id, row.at, row.actor, row.role, row.action, row.target, row.details)
            for row in conn.execute(query)]
