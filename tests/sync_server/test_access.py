"""sync_server.db.access: a write commits or rolls back whole; the driver's
errors leave as StoreError naming what was being done, with the driver's
message (not the statement and its parameters) and the cause inside."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from sync_server.db.access import DETAIL_MAX, reading, writing
from sync_server.errors import StoreError


def _names(engine: Engine) -> list[str]:
    with reading(engine, "reading", snapshot=True) as conn:
        return list(conn.execute(sa.text("SELECT name FROM operators ORDER BY id")).scalars())


def test_a_write_commits_or_rolls_back_whole(engine: Engine) -> None:
    insert = sa.text("INSERT INTO operators (id, name, created_at) VALUES (:id, :name, '2026-05-01 00:00:00+00')")
    with writing(engine, "adding") as conn:
        conn.execute(insert, {"id": 1, "name": "Bus"})
    with pytest.raises(RuntimeError), writing(engine, "adding") as conn:
        conn.execute(insert, {"id": 2, "name": "Bike"})
        raise RuntimeError("a failure after the first statement")
    assert _names(engine) == ["Bus"]


def test_driver_errors_name_what_was_done_and_keep_the_cause(engine: Engine) -> None:
    secret = "x" * (DETAIL_MAX * 4)
    with pytest.raises(StoreError) as raised, writing(engine, "adding an operator") as conn:
        conn.execute(sa.text("INSERT INTO no_such_table VALUES (:secret)"), {"secret": secret})
    message = str(raised.value)
    assert message.startswith("adding an operator: ") and "no_such_table" in message
    assert secret not in message and len(message) < DETAIL_MAX + 100  # no parameters, bounded
    assert isinstance(raised.value.__cause__, SQLAlchemyError)
    with pytest.raises(StoreError, match=r"^counting: "), reading(engine, "counting") as conn:
        conn.execute(sa.text("SELECT count(*) FROM no_such_table"))
