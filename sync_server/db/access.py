"""How the server's modules use the database: a read-write transaction
(``BEGIN IMMEDIATE`` on SQLite: the write lock first), a read (optionally one
snapshot, so that several statements see one state), and the driver's errors
turned into :class:`~sync_server.errors.StoreError` with the cause inside."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError
from .engine import writer

DETAIL_MAX = 500
"""Characters of the driver's message kept in a :class:`StoreError`."""


def store_error(doing: str, exc: SQLAlchemyError | sqlite3.Error) -> StoreError:
    """A :class:`StoreError` saying what was being done and what the driver said."""
    # The driver's message, not SQLAlchemy's rendering of the statement and its parameters
    # (which may hold card keys and run to kilobytes).
    cause = getattr(exc, "orig", None) or exc
    return StoreError(f"{doing}: {type(cause).__name__}: {str(cause).strip()[:DETAIL_MAX]}")


@contextmanager
def writing(engine: Engine, doing: str) -> Iterator[Connection]:
    """One read-write transaction, committed when the block ends, rolled back on any exception.

    :raises StoreError: when the database fails (the SQLAlchemy error is the ``__cause__``).
    """
    try:
        with writer(engine).begin() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise store_error(doing, exc) from exc


@contextmanager
def reading(engine: Engine, doing: str, *, snapshot: bool = False) -> Iterator[Connection]:
    """One read transaction (``snapshot``: REPEATABLE READ on PostgreSQL, so
    that several statements see one state; SQLite's transactions are snapshots).

    :raises StoreError: when the database fails (the SQLAlchemy error is the ``__cause__``).
    """
    if snapshot and engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn, conn.begin():
            yield conn
    except SQLAlchemyError as exc:
        raise store_error(doing, exc) from exc
