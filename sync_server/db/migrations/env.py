"""Alembic's environment for the sync server's schema.

Run programmatically by :mod:`sync_server.db.migrate`, which hands over an
open connection in ``config.attributes["connection"]``. From the command
line (``alembic -x url=sqlite:///server.sqlite3 revision --autogenerate -m ...``,
with ``script_location`` pointing here) the URL comes from ``-x url=...`` or
``sqlalchemy.url``. Every revision runs in one transaction (both SQLite and
PostgreSQL have transactional DDL).
"""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

from sync_server.db.engine import create_engine
from sync_server.db.models import Base

config = context.config
target_metadata = Base.metadata


def _render_item(kind: str, item: Any, _context: AutogenContext) -> str | bool:
    # A revision spells our column types (UnsignedBigInt, UtcDateTime, JsonText) as what the
    # database stores, so that editing sync_server.db.types never changes an old revision.
    if kind == "type" and isinstance(item, TypeDecorator):
        return f"sa.{item.impl_instance!r}"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_item=_render_item,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database URL: alembic -x url=... (or sqlalchemy.url in alembic.ini)")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
