"""Databases for the sync server's tests: every test that takes ``db_url``
(or ``engine``, ``store``) runs once on SQLite and once on PostgreSQL.

PostgreSQL is a private throwaway cluster for the session (tests/postgres.py,
on a free port, never the machine's own server). Each test gets an empty
database: the session's one database with its ``public`` schema dropped and
made again (a few milliseconds, against some 150 ms for CREATE DATABASE).
Without the PostgreSQL binaries the PostgreSQL half is skipped locally and
fails on CI (CI set), where ./dev installs them.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_server.db.engine import create_engine
from sync_server.db.migrate import upgrade
from sync_server.db.models import Base
from sync_server.store import SyncStore
from tests.postgres import Postgres, PostgresUnavailable

DATABASE = "sync_test"
START = dt.datetime(2026, 5, 1, 7, 30, tzinfo=dt.UTC)


def _unavailable(reason: str) -> None:
    # CI installs PostgreSQL (./dev): a missing piece there is a failure, not a skip.
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    try:
        server = Postgres().start()
    except PostgresUnavailable as exc:
        _unavailable(str(exc))
    admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
    admin.dispose()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: Postgres) -> str:
    """The URL of the session's test database on the throwaway server."""
    return postgres_server.url(DATABASE)


def _empty_postgres(url: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, SQLite or PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'server.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def raw_engine(db_url: str) -> Iterator[Engine]:
    """An engine on the empty database of ``db_url`` (not migrated)."""
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(raw_engine: Engine) -> Engine:
    """An engine on a database migrated to the newest schema."""
    upgrade(raw_engine)
    return raw_engine


class Clock:
    """A settable clock: ``now`` until moved by :meth:`advance`."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(engine: Engine, clock: Clock) -> SyncStore:
    return SyncStore(engine, clock=clock)


def wipe(engine: Engine) -> None:
    """Delete every row of every table (for hypothesis, whose examples share a test's database)."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
