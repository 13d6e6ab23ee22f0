"""Versions of the lists sent down to devices (deny-list, pending loads,
configuration): each change makes the next version of its list and is logged
item by item in ``list_changes``, so a delta from any kept version can be
computed. Used inside a caller's transaction, by the sync store and by the
parts of the back office that change a list as part of a larger action."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from device.denylist import DenyEntry
from device.protocol import items

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


def fold(name: str, changes: Iterable[tuple[str, dict[str, Any]]]) -> tuple[list[dict[str, Any]],
                                                                          list[dict[str, Any]]]:
    """The net effect of ``changes`` (in order) as (added, removed) items:
    each key touched ends up in exactly one of them."""
    state: dict[Any, dict[str, Any] | None] = {}
    if name == "denylist":
        for op, item in changes:
            entry = items.deny_removal_from_item({"card_number": item["card_number"], "uid": item["uid"]})
            for column, value in deny_keys(entry):
                state[column, value] = item["reason"] if op == "add" else None  # type: ignore[assignment]
        added, removed = [], []
        for (column, value), reason in state.items():
            card_number, uid = (value, None) if column == "card_number" else (None, value)
            if reason is None:
                removed.append(items.deny_removal_to_item(card_number, uid))
            else:
                added.append(items.deny_entry_to_item(DenyEntry(card_number, uid, reason)))  # type: ignore[arg-type]
        return added, removed
    if name == "loads":
        for op, item in changes:
            state[item["card_number"], item["load_seq"]] = item if op == "add" else None
        return ([item for item in state.values() if item is not None],
                [items.load_removal_to_item(*key) for key, item in state.items() if item is None])
    for _op, item in changes:  # config: documents are only ever replaced
        state[item["name"]] = item
    return [item for item in state.values() if item is not None], []


def deny_keys(entry: DenyEntry) -> list[tuple[str, Any]]:
    """The ``deny_entries`` column and value of each key ``entry`` names."""
    keys: list[tuple[str, Any]] = []
    if entry.card_number is not None:
        keys.append(("card_number", entry.card_number))
    if entry.uid is not None:
        keys.append(("uid", entry.uid))
    return keys
