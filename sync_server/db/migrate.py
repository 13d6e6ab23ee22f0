"""Schema migrations, run from code: Alembic's ``upgrade``/``downgrade`` with
a configuration built here (no ``alembic.ini`` needed at run time). The
revisions live in the package (``migrations/versions``, shipped as package
data), so an installed server migrates its database with
``upgrade("postgresql+psycopg://...")``.

Each command runs in one transaction on one connection (``BEGIN IMMEDIATE``
on SQLite), so a failed migration leaves the schema as it was.

To draft a new revision after changing :mod:`sync_server.db.models`, from
the repository root (``-x url`` names a scratch database)::

    INI=sync_server/db/migrations/alembic.ini URL=sqlite:////tmp/draft.sqlite3
    alembic -c $INI -x url=$URL upgrade head
    alembic -c $INI -x url=$URL revision --autogenerate --rev-id 0002 -m "what changes"

then read the draft (autogenerate misses renames and data moves), and check
it on PostgreSQL too: ``tests/sync_server/test_migrations.py`` compares the
migrated schema with the models on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import MigrationError
from .engine import create_engine, writer

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The Alembic environment (``env.py``, ``script.py.mako``, ``versions/``)."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the package's migrations, bound to
    ``connection`` when given (``env.py`` then uses it)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration revisions found"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (``None``: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _connection(target: Engine | URL | str) -> Iterator[Connection]:
    engine = target if isinstance(target, Engine) else create_engine(target)
    try:
        with writer(engine).begin() as connection:
            yield connection
    finally:
        if engine is not target:
            engine.dispose()


def upgrade(target: Engine | URL | str, revision: str = "head") -> None:
    """Bring the database of ``target`` (an engine or a URL) up to ``revision``.

    :raises MigrationError: when a revision fails or is unknown; nothing was changed.
    :raises DatabaseURLError: for a URL that cannot be used.
    """
    _run("upgrade", target, revision)


def downgrade(target: Engine | URL | str, revision: str = "base") -> None:
    """Take the database of ``target`` down to ``revision`` (``base``: no tables).

    :raises MigrationError: when a revision fails or is unknown; nothing was changed.
    :raises DatabaseURLError: for a URL that cannot be used.
    """
    _run("downgrade", target, revision)


def _run(direction: str, target: Engine | URL | str, revision: str) -> None:
    try:
        with _connection(target) as connection:
            getattr(command, direction)(alembic_config(connection), revision)
    except (CommandError, SQLAlchemyError) as exc:
        raise MigrationError(f"{direction} to {revision} failed: {exc}") from exc
