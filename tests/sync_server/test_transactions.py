"""The transaction pull: pages in id order that never skip or repeat a row
while devices keep syncing, filters, cursors, and the streamed CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from sync_server.db.engine import create_engine
from sync_server.errors import InvalidValueError
from sync_server.store import SyncStore
from sync_server.transactions import (
    CSV_COLUMNS,
    TX,
    InvalidCursorError,
    TransactionFilter,
    csv_stream,
    decode_cursor,
    encode_cursor,
    page,
)
from tests.sync_server.conftest import Clock
from tests.sync_server.ledger import DAY, register, send, tx

BIG_CARD = 2**64 - 5  # stored wrapped to a negative number


@pytest.fixture
def city(store: SyncStore) -> SyncStore:
    register(store, {1: ("bus", 7), 2: ("bike", 7), 3: ("bus", 9)})
    send(store, 1, [tx(1, hours=1), tx(2, hours=2, card=BIG_CARD), tx(3, hours=30, kind="load", amount=500)])
    send(store, 2, [tx(1, kind="bike_start", amount=0, hours=3), tx(2, kind="bike_end", amount=-90, hours=4)])
    send(store, 3, [tx(1, hours=5, decision="denied", reason="blocked", amount=0, uid=None, card=None)])
    return store


def _all(engine: Engine, filters: TransactionFilter, limit: int) -> list[int]:
    seen: list[int] = []
    after = 0
    while True:
        result = page(engine, filters, after=after, limit=limit)
        seen += [row.id for row in result.rows]
        if not result.more:
            return seen
        after = result.rows[-1].id


def test_pages_cover_every_row_once_in_id_order(city: SyncStore) -> None:
    everything = _all(city.engine, TransactionFilter(), 1000)
    assert len(everything) == 6 and everything == sorted(everything)
    for limit in (1, 2, 5):
        assert _all(city.engine, TransactionFilter(), limit) == everything
    last = page(city.engine, TransactionFilter(), after=everything[-1])
    assert last.rows == [] and not last.more


@pytest.mark.parametrize(("filters", "expected"), [
    (TransactionFilter(service="bus"), [(1, 1), (1, 2), (1, 3), (3, 1)]),
    (TransactionFilter(operator=9), [(3, 1)]),
    (TransactionFilter(device_id=2), [(2, 1), (2, 2)]),
    (TransactionFilter(card_number=BIG_CARD), [(1, 2)]),
    (TransactionFilter(created_from=DAY + dt.timedelta(hours=2), created_to=DAY + dt.timedelta(hours=4)),
     [(1, 2), (2, 1)]),
    (TransactionFilter(service="bus", operator=7, created_to=DAY + dt.timedelta(hours=24)), [(1, 1), (1, 2)]),
    (TransactionFilter(service="ev"), []),
])
def test_filters(city: SyncStore, filters: TransactionFilter, expected: list[tuple[int, int]]) -> None:
    rows = page(city.engine, filters, limit=100).rows
    assert [(row.device_id, row.seq) for row in rows] == expected


def test_rows_carry_service_operator_and_unsigned_card_numbers(city: SyncStore) -> None:
    row = page(city.engine, TransactionFilter(card_number=BIG_CARD)).rows[0]
    assert (row.service, row.operator, row.card_number, row.uid) == ("bus", 7, BIG_CARD, "04a1b2c3")
    assert row.created_at == DAY + dt.timedelta(hours=2)
    assert row.amount_cents == -150 and row.state == "done" and row.details == {"line": 12}


def test_rows_arriving_between_pages_come_after_the_cursor(city: SyncStore, clock: Clock) -> None:
    first = page(city.engine, TransactionFilter(service="bus"), limit=2)
    send(city, 3, [tx(2, hours=1), tx(3, hours=2)])  # created earlier than rows already pulled
    send(city, 1, [tx(4, hours=0.5)])
    rest = _all(city.engine, TransactionFilter(service="bus"), 2)
    rest = [row_id for row_id in rest if row_id > first.rows[-1].id]
    ids = [row.id for row in first.rows] + rest
    assert ids == sorted(set(ids)) and len(ids) == 7


def test_limit_out_of_range_is_refused(city: SyncStore) -> None:
    for limit in (0, 1001):
        with pytest.raises(InvalidValueError):
            page(city.engine, TransactionFilter(), limit=limit)


@given(st.integers(0, 2**63 - 1))
def test_cursors_round_trip(last_id: int) -> None:
    assert decode_cursor(encode_cursor(last_id)) == last_id


@given(st.text(max_size=60))
def test_any_other_cursor_is_refused_or_names_an_id(text: str) -> None:
    try:
        decoded = decode_cursor(text)
    except InvalidCursorError:
        return
    assert 0 <= decoded < 10**19


def test_a_page_waits_for_a_lower_id_still_being_inserted(db_url: str, city: SyncStore) -> None:
    """PostgreSQL hands out ids before commit: a row of a transaction still open
    must not be jumped over by a page that sees a higher id committed later."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite commits ids in order (one writer)")
    engine = create_engine(db_url)
    row = {"device_id": 1, "rev": 1, "kind": "bus", "state": "done", "created_at": DAY, "amount_cents": -150,
           "decision": "approved", "reason": "approved", "details": {}, "received_at": DAY}
    try:
        slow = engine.connect()
        slow_tx = slow.begin()
        low_id = slow.execute(TX.insert().values(seq=100, **row).returning(TX.c.id)).scalar_one()
        with engine.begin() as fast:
            high_id = fast.execute(TX.insert().values(seq=101, **row).returning(TX.c.id)).scalar_one()
        assert low_id < high_id
        pulled: list[int] = []
        reader = threading.Thread(target=lambda: pulled.extend(
            r.id for r in page(city.engine, TransactionFilter(device_id=1), limit=1000).rows))
        reader.start()
        time.sleep(0.3)
        assert reader.is_alive()  # waiting for the open insert
        slow_tx.commit()
        reader.join(10)
        assert pulled[-2:] == [low_id, high_id]
    finally:
        slow.close()
        engine.dispose()


def _parse(chunks: list[bytes]) -> list[list[str]]:
    text = b"".join(chunks).decode("utf-8")
    assert text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_has_a_header_and_a_row_per_transaction(city: SyncStore) -> None:
    rows = _parse(list(csv_stream(city.engine, TransactionFilter())))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [row["id"] for row in body] == [str(i) for i in _all(city.engine, TransactionFilter(), 100)]
    big = next(row for row in body if row["card_number"] == str(BIG_CARD))
    assert big["created_at"] == "2026-05-01 02:00:00.000000"
    assert big["received_at"] == "2026-05-01 07:30:00.000000"
    assert (big["service"], big["operator"], big["uid"], big["amount_cents"]) == ("bus", "7", "04a1b2c3", "-150")
    assert json.loads(big["details"]) == {"line": 12}
    denied = next(row for row in body if row["reason"] == "blocked")
    assert (denied["card_number"], denied["uid"], denied["balance_cents"]) == ("", "", "")


def test_csv_quotes_what_needs_quoting(store: SyncStore) -> None:
    register(store, {1: ("bus", 7)})
    send(store, 1, [tx(1, details={"note": 'a "quoted", multi\nline ñ'})])
    rows = _parse(list(csv_stream(store.engine, TransactionFilter())))
    assert json.loads(rows[1][CSV_COLUMNS.index("details")]) == {"note": 'a "quoted", multi\nline ñ'}


def test_csv_streams_in_chunks_with_the_filters(city: SyncStore) -> None:
    chunks = list(csv_stream(city.engine, TransactionFilter(service="bus"), chunk_rows=2))
    assert len(chunks) == 3  # the header, then two chunks of two rows
    assert [row[CSV_COLUMNS.index("service")] for row in _parse(chunks)[1:]] == ["bus"] * 4
