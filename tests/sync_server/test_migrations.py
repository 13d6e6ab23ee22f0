"""The Alembic migrations make exactly the models' schema, go down and up
again, and ship with the package. SQLite and PostgreSQL."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from sync_server.db import migrate
from sync_server.db.models import Base
from sync_server.errors import MigrationError, SchemaVersionError
from sync_server.store import SyncStore

ROOT = Path(__file__).resolve().parents[2]


def differences(engine: Engine, metadata: sa.MetaData = Base.metadata) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, metadata))


def tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_the_migrations_make_the_models_schema(raw_engine: Engine) -> None:
    migrate.upgrade(raw_engine)
    assert differences(raw_engine) == []
    assert tables(raw_engine) == {table.name for table in Base.metadata.sorted_tables} | {"alembic_version"}
    with raw_engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()


def test_the_comparison_sees_a_difference(raw_engine: Engine) -> None:
    # Guards the test above: a model the migrations do not make must show.
    migrate.upgrade(raw_engine)
    changed = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["devices"].append_column(sa.Column("firmware", sa.Text()))
    sa.Table("not_made_by_migrations", changed, sa.Column("id", sa.Integer, primary_key=True))
    found = {diff[0] for diff in differences(raw_engine, changed) if isinstance(diff, tuple)}
    assert found == {"add_column", "add_table"}


def test_down_to_nothing_and_up_again(raw_engine: Engine) -> None:
    migrate.upgrade(raw_engine)
    migrate.downgrade(raw_engine, "base")
    assert tables(raw_engine) == {"alembic_version"}
    with raw_engine.connect() as conn:
        assert migrate.current_revision(conn) is None
    migrate.upgrade(raw_engine)
    assert differences(raw_engine) == []


def test_upgrade_by_url(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = sa.create_engine(db_url)
    try:
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_an_unknown_revision_is_a_migration_error(raw_engine: Engine) -> None:
    with pytest.raises(MigrationError, match="9999"):
        migrate.upgrade(raw_engine, "9999")
    assert tables(raw_engine) <= {"alembic_version"}


def test_the_store_refuses_a_database_not_migrated(raw_engine: Engine) -> None:
    with pytest.raises(SchemaVersionError, match="never migrated"):
        SyncStore(raw_engine)
    migrate.upgrade(raw_engine)
    SyncStore(raw_engine)


def test_the_migration_files_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["sync_server.db"]
    package = ROOT / "sync_server" / "db"
    shipped = [path.relative_to(package).as_posix() for path in migrate.MIGRATIONS.rglob("*")
               if path.is_file() and "__pycache__" not in path.parts]
    assert {"migrations/env.py", "migrations/script.py.mako", "migrations/versions/0001_sync_schema.py"} <= set(shipped)
    included = {path.relative_to(package).as_posix() for pattern in patterns for path in package.glob(pattern)}
    assert sorted(set(shipped) - included) == []
