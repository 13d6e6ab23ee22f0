"""The database layer: the engine's set-up, the column types on both
databases, the bulk helpers."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sync_server.db.bulk import TupleRelation
from sync_server.db.engine import create_engine, parse_url, writer
from sync_server.db.models import CardShadow, Rejection
from sync_server.db.types import UtcDateTime, from_signed, to_signed
from sync_server.errors import DatabaseURLError

# -- engine -------------------------------------------------------------------------------------------

def test_sqlite_connections_are_set_up_for_durable_commits(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'server.sqlite3'}", busy_timeout=2.5)
    with engine.connect() as conn:
        pragmas = [conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                   for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")]
    engine.dispose()
    assert pragmas == ["wal", 2, 1, 2500]  # synchronous 2 is FULL


def test_a_writer_takes_the_write_lock_when_it_begins(tmp_path: Path) -> None:
    path = tmp_path / "server.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    # No statement yet: BEGIN IMMEDIATE already holds the lock.
    with writer(engine).begin(), pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("BEGIN IMMEDIATE")
    with engine.begin():  # a plain transaction takes no lock until it writes
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    other.close()
    engine.dispose()


def test_a_sqlite_read_transaction_sees_one_state(tmp_path: Path) -> None:
    path = tmp_path / "server.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    other = sqlite3.connect(path, isolation_level=None)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
        other.execute("INSERT INTO t VALUES (1)")
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
    other.close()
    engine.dispose()


def test_database_urls() -> None:
    assert parse_url("postgresql://u@db/cc").drivername == "postgresql+psycopg"
    assert parse_url("postgresql+psycopg://u@db/cc").drivername == "postgresql+psycopg"
    assert parse_url("sqlite:////var/lib/cc/server.sqlite3").database == "/var/lib/cc/server.sqlite3"
    for url in ("mysql://u@db/cc", "not a url", "oracle+cx_oracle://db"):
        with pytest.raises(DatabaseURLError):
            create_engine(url)
    with pytest.raises(DatabaseURLError):
        create_engine("postgresql+nosuchdriver://u@db/cc")


# -- types --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 1, 2**63 - 1, 2**63, 2**64 - 1])
def test_unsigned_64_bit_numbers_round_trip(engine: Engine, value: int) -> None:
    moment = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(sa.insert(CardShadow).values(card_number=value, counter=1, balance_cents=0, updated_at=moment))
    with engine.connect() as conn:
        assert conn.execute(sa.select(CardShadow.card_number)).scalar_one() == value
        assert conn.execute(sa.select(CardShadow.counter).where(CardShadow.card_number == value)).scalar_one() == 1


@given(st.integers(0, 2**64 - 1))
def test_the_signed_form_is_a_bijection(value: int) -> None:
    signed = to_signed(value)
    assert -(2**63) <= signed < 2**63 and from_signed(signed) == value


@pytest.mark.parametrize("value", [-1, 2**64, True, 1.0])
def test_outside_64_bits_unsigned_is_refused(value: object) -> None:
    with pytest.raises(ValueError):
        to_signed(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("moment", [
    dt.datetime(2026, 5, 1, 7, 30, tzinfo=dt.UTC),
    dt.datetime(2026, 5, 1, 9, 30, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
])
def test_times_round_trip_as_aware_utc(engine: Engine, moment: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(Rejection).values(received_at=moment, topic="t", error_class="E", detail=""))
    with engine.connect() as conn:
        stored = conn.execute(sa.select(Rejection.received_at)).scalar_one()
    assert stored == moment and stored.tzinfo == dt.UTC


def test_naive_times_are_refused(engine: Engine) -> None:
    with pytest.raises(sa.exc.StatementError, match="time zone"), engine.begin() as conn:
        conn.execute(sa.insert(Rejection).values(received_at=dt.datetime(2026, 5, 1), topic="t", error_class="E",
                                                 detail=""))


@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), timezones=st.timezones()),
       st.sampled_from(["auto", "microseconds", "seconds"]))
def test_iso_text_binds_as_the_datetime_would(moment: dt.datetime, timespec: str) -> None:
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        column = UtcDateTime()
        bind = column.bind_processor(dialect) or (lambda value: value)
        text = moment.isoformat(timespec=timespec)
        expected = bind(dt.datetime.fromisoformat(text))
        assert column.iso_bind_processor(dialect)(text) == expected


@pytest.mark.parametrize("text", ["2026-05-01T07:30:00", "2026-05-01T07:30:00.000000", "yesterday",
                                  "2026-13-01T07:30:00.000000+00:00", "2026-05-01T25:30:00.000000+00:00"])
def test_iso_text_without_a_zone_or_not_a_time_is_refused(text: str) -> None:
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        with pytest.raises(ValueError):
            UtcDateTime().iso_bind_processor(dialect)(text)


# -- bulk ---------------------------------------------------------------------------------------------

def test_a_tuple_relation_joins_many_rows_in_one_parameter(engine: Engine) -> None:
    relation = TupleRelation(engine.dialect, "pairs", ("a", "b"))
    query = sa.select(relation.c["a"].label("a"), relation.c["b"].label("b")).select_from(relation.relation)
    rows = [(i, -(2**63) + i) for i in range(1000)] + [(2**63 - 1, 0)]
    with engine.connect() as conn:
        assert sorted(tuple(row) for row in conn.execute(query, relation.params(rows))) == sorted(rows)
        assert conn.execute(query, relation.params([])).all() == []
