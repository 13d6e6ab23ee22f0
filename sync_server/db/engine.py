"""The database engine: SQLite by default, PostgreSQL by URL, the same code on both.

SQLite (``sqlite:///path/to/server.sqlite3``), every connection set up on
connect:

- ``journal_mode=WAL``: readers (the back office) never block the writer
  (ingest), and the writer never blocks them;
- ``synchronous=FULL``: a commit is on disk when it returns, power cut
  included. Ingest acknowledges entries to devices only after its commit,
  and a device then forgets them, so "committed" must mean "durable"
  (``NORMAL`` in WAL mode may lose the last commits on a power cut);
- ``busy_timeout``: a writer waits for another process's write to finish
  instead of failing at once;
- ``foreign_keys=ON`` (off by default in SQLite).

pysqlite's own transaction handling is switched off (it starts no
transaction before a ``SELECT``, so two reads could see two states): every
transaction starts with an explicit ``BEGIN``, and ``BEGIN IMMEDIATE`` on the
engine returned by :func:`writer`, so that a read-then-write transaction
takes the write lock first and never fails half-way with ``SQLITE_BUSY``.

PostgreSQL (``postgresql+psycopg://user@host/db``; a bare ``postgresql://``
gets the psycopg 3 driver): the default pool with ``pool_pre_ping``, so a
connection dropped by a server restart is replaced rather than failing the
next ingest.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ..errors import DatabaseURLError

BUSY_TIMEOUT = 5.0
"""Seconds an SQLite write waits, by default, for another connection's write."""

_IMMEDIATE = "citizencard_begin_immediate"  # execution option read by the SQLite "begin" hook


SQLITE_CACHE_KIB = 65536
"""SQLite's page cache per connection, KiB."""


def parse_url(url: str | URL) -> URL:
    """``url`` as a SQLAlchemy URL for SQLite or PostgreSQL (psycopg 3).

    :raises DatabaseURLError: when it is not a URL, or names another database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise DatabaseURLError(f"unsupported database {backend!r}: use sqlite:///path or postgresql+psycopg://...")
    return parsed


def create_engine(url: str | URL, *, busy_timeout: float = BUSY_TIMEOUT, echo: bool = False) -> Engine:
    """An engine for ``url``, set up as the module docstring says.

    :raises DatabaseURLError: for a URL that is not SQLite or PostgreSQL, or
        whose driver is not installed.
    """
    parsed = parse_url(url)
    # hide_parameters: statement errors (kept as causes, logged with tracebacks) must not carry
    # parameters, which include card keys (pending loads) and run to kilobytes (batches).
    options: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if parsed.get_backend_name() == "postgresql":
        options["pool_pre_ping"] = True
    try:
        engine = sqlalchemy.create_engine(parsed, **options)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise DatabaseURLError(f"cannot use {parsed.render_as_string(hide_password=True)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        _set_up_sqlite(engine, busy_timeout)
    return engine


def writer(engine: Engine) -> Engine:
    """``engine`` for read-then-write transactions: on SQLite they begin with
    ``BEGIN IMMEDIATE`` (the write lock first); on PostgreSQL, the same engine."""
    return engine.execution_options(**{_IMMEDIATE: True})


def _set_up_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN/COMMIT: _on_begin emits BEGIN
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")  # a :memory: database answers "memory": fine
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # 64 MiB of page cache (the default is 2 MiB): the transactions' indexes outgrow it within
            # minutes of ingest, and every insert then reads its index pages back through the OS.
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
