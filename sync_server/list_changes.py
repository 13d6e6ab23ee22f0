"""Versions of the lists sent down to devices (deny-list, pending loads,
configuration): each change makes the next version of its list and is logged
item by item in ``list_changes``, so a delta from any kept version can be
computed. Used inside a caller's transaction, by the sync store and by the
parts of the back office that change a list as part of a larger action."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .db import models

VERSIONS: Table = models.ListVersion.__table__  # type: ignore[assignment]
CHANGES: Table = models.ListChange.__table__  # type: ignore[assignment]

Change = tuple[str, dict[str, Any]]
"""``("add" | "remove", item)``: an item of ``device.protocol.items``."""


def next_version(conn: Connection, name: str, changes: Sequence[Change]) -> int:
    """Make the next version of list ``name`` with ``changes`` logged; the
    version row stays locked until the commit, so changes are serialised."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(VERSIONS).values(list_name=name, version=1)
    version = int(conn.scalar(stmt.on_conflict_do_update(
        index_elements=[VERSIONS.c.list_name],
        set_={"version": VERSIONS.c.version + 1}).returning(VERSIONS.c.version)))
    conn.execute(CHANGES.insert(), [{"list_name": name, "version": version, "ordinal": ordinal, "op": op,
                                     "item": item} for ordinal, (op, item) in enumerate(changes)])
    return version


def current_version(conn: Connection, name: str) -> int:
    """The version list ``name`` is at (0: never changed)."""
    return int(conn.scalar(select(VERSIONS.c.version).where(VERSIONS.c.list_name == name)) or 0)
