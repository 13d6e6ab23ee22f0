"""Benchmark of the back office's reads on a city-sized SQLite database,
each beside the raw database query of the same rows in the same run.

The database (in a temporary directory, migrated by the server's code) is
filled quickly through the raw sqlite3 connection (``executemany``):
``--cards`` registry cards and ``--transactions`` synced transactions of
200 devices (bus, bike and EV, three operators) over 30 days, on cards
drawn at random. Then, through the Flask app (its test client: the whole
request path, token auth included, without a network):

- *card lookup*: ``GET /api/v1/cards/{card_number}`` of ``--lookups`` random
  cards, median and p99 latency, beside the raw ``SELECT`` of the card row.
  Aim: p99 below 20 ms.
- *transaction pull*: ``GET /api/v1/transactions`` pages of 1,000 from the
  start for ``--pull-rows`` rows, rows/s, beside the raw query of the same
  pages (the same joined ``SELECT ... WHERE id > ? ORDER BY id LIMIT 1000``).
- *CSV export*: ``GET /api/v1/transactions.csv`` of every transaction,
  rows/s, beside the raw query of the same rows (the export's own SQL,
  fetched and dropped), and how much the process's memory grew meanwhile
  (the export streams: it should not grow with the size). Aim: at least
  200,000 rows/s.

    ./dev bench server [--cards 1000000] [--transactions 10000000] [--lookups 2000] [--pull-rows 200000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from sync_server.db.engine import create_engine
from sync_server.db.migrate import upgrade
from sync_server.db.types import to_signed
from sync_server.transactions import TransactionFilter, csv_query
from sync_server.web import create_app
from sync_server.web.extensions import database

AIM_LOOKUP_P99_MS = 20.0
AIM_CSV_ROWS = 200_000
START = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
DAYS = 30
DEVICES = 200
MODES = ("bus", "bus", "bus", "bike", "ev")  # device i has mode MODES[i % 5]
OPERATORS = {"bus": 1, "bike": 2, "ev": 3}
PAGE = 1000
_SPREAD = 0x9E3779B97F4A7C15  # odd: i -> i * _SPREAD mod 2**64 is a bijection, so card numbers are unique

# (kind, amount_cents, decision, reason) a device of each mode journals, in turn
PATTERNS = {
    "bus": [("bus", -150, "approved", "approved")] * 8 + [("bus", 0, "approved", "transfer"),
                                                          ("denied", 0, "denied", "insufficient_funds")],
    "bike": [("bike_start", 0, "approved", "rental_started"), ("bike_end", -90, "approved", "rental_ended")],
    "ev": [("ev_start", 0, "approved", "charge_started"), ("ev_end", -1240, "approved", "charge_ended"),
           ("load", 2000, "approved", "load_applied")],
}


def card_number(index: int) -> int:
    return (index + 1) * _SPREAD % 2**64


def _time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def fill(path: Path, cards: int, transactions: int) -> float:
    """Migrate the database at ``path`` and fill it; the seconds it took."""
    began = time.perf_counter()
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    now = _time(START)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO operators (id, name, created_at) VALUES (?, ?, ?)",
                     [(number, f"operator {mode}", now) for mode, number in OPERATORS.items()])
    conn.executemany("INSERT INTO services (code, name, created_at) VALUES (?, ?, ?)",
                     [(mode, mode, now) for mode in OPERATORS])
    conn.executemany("INSERT INTO devices (device_id, public_key, mode, operator, location, registered_at, online, "
                     "backlog, last_seq) VALUES (?, ?, ?, ?, ?, ?, 1, 0, 0)",
                     [(i, bytes(32), MODES[i % 5], OPERATORS[MODES[i % 5]], i, now) for i in range(1, DEVICES + 1)])
    states = ["active"] * 96 + ["blocked", "suspended", "expired", "replaced"]
    conn.executemany(
        "INSERT INTO cards (card_number, uid, kind, profile, state, state_changed_at, issued_at, expires_on, "
        "initial_balance_cents) VALUES (?, ?, 'citizen', 'general', ?, ?, ?, '2031-04-01', 1000)",
        ((to_signed(card_number(i)), b"\x04" + i.to_bytes(6, "big"), states[i % 100], now, now)
         for i in range(cards)))
    # Built after the load: sorting once beats inserting 10M random card numbers into a B-tree.
    conn.execute("DROP INDEX ix_transactions_card_number_counter_after")
    conn.execute("DROP INDEX ix_transactions_created_at")
    conn.execute("COMMIT")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO transactions (device_id, seq, rev, kind, state, created_at, uid, card_number, counter_before, "
        "counter_after, amount_cents, balance_cents, decision, reason, details, received_at) "
        "VALUES (?, ?, 1, ?, 'done', ?, ?, ?, ?, ?, ?, 1000, ?, ?, '{\"line\":12}', ?)",
        _transactions(cards, transactions))
    conn.execute("CREATE INDEX ix_transactions_card_number_counter_after ON transactions (card_number, counter_after)")
    conn.execute("CREATE INDEX ix_transactions_created_at ON transactions (created_at)")
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - began


def _transactions(cards: int, total: int) -> Iterator[tuple[object, ...]]:
    rng = random.Random(1)
    step = DAYS * 86400 / max(total, 1)
    patterns = {device: PATTERNS[MODES[device % 5]] for device in range(1, DEVICES + 1)}
    chunk = 100_000
    for first in range(0, total, chunk):
        picks = rng.choices(range(cards), k=min(chunk, total - first))
        for offset, card in enumerate(picks):
            index = first + offset
            device = index % DEVICES + 1
            seq = index // DEVICES + 1
            kind, amount, decision, reason = patterns[device][seq % len(patterns[device])]
            created = _time(START + dt.timedelta(seconds=index * step))
            yield (device, seq, kind, created, b"\x04" + card.to_bytes(6, "big"), to_signed(card_number(card)),
                   seq - 1, seq, amount, decision, reason, created)


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def lookups(client: FlaskClient, token: str, raw: sqlite3.Connection, cards: int, count: int) -> bool:
    rng = random.Random(2)
    numbers = [card_number(rng.randrange(cards)) for _ in range(count)]
    headers = {"Authorization": f"Bearer {token}"}
    client.get(f"/api/v1/cards/{numbers[0]}", headers=headers)  # warm up
    api: list[float] = []
    for number in numbers:
        began = time.perf_counter()
        response = client.get(f"/api/v1/cards/{number}", headers=headers)
        api.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"card lookup answered {response.status_code}: {response.get_data(as_text=True)}")
    query: list[float] = []
    for number in numbers:
        began = time.perf_counter()
        row = raw.execute("SELECT * FROM cards WHERE card_number = ?", (to_signed(number),)).fetchone()
        query.append((time.perf_counter() - began) * 1000)
        assert row is not None
    p99 = _quantile(api, 0.99)
    print(f"card lookup, API (GET /api/v1/cards/{{n}})  median {statistics.median(api):8.3f} ms  "
          f"p99 {p99:8.3f} ms  ({count} random cards)")
    print(f"card lookup, raw SELECT of the card row    median {statistics.median(query):8.3f} ms  "
          f"p99 {_quantile(query, 0.99):8.3f} ms")
    met = p99 < AIM_LOOKUP_P99_MS
    print(f"aim (p99 < {AIM_LOOKUP_P99_MS:.0f} ms): {p99:.2f} ms -> {'met' if met else 'MISSED'}")
    return met


def pull(client: FlaskClient, token: str, raw: sqlite3.Connection, rows: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    pulled, cursor = 0, None
    began = time.perf_counter()
    while pulled < rows:
        query = f"/api/v1/transactions?limit={PAGE}" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(query, headers=headers).get_json()
        pulled += len(body["transactions"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    api = pulled / (time.perf_counter() - began)
    fetched, last = 0, 0
    began = time.perf_counter()
    while fetched < pulled:
        page = raw.execute("SELECT t.*, d.mode, d.operator FROM transactions t JOIN devices d "
                           "ON d.device_id = t.device_id WHERE t.id > ? ORDER BY t.id LIMIT ?", (last, PAGE)).fetchall()
        if not page:
            break
        fetched += len(page)
        last = page[-1][0]
    query = fetched / (time.perf_counter() - began)
    print(f"transaction pull, API pages of {PAGE:,}       {api:12,.0f} rows/s  ({pulled:,} rows)")
    print(f"transaction pull, raw SELECT of the pages  {query:12,.0f} rows/s  ratio API / raw {api / query:.2f}")


def export(app: Flask, client: FlaskClient, token: str, raw: sqlite3.Connection, total: int) -> bool:
    rss_before = peak = _rss_kib()
    began = time.perf_counter()
    response = client.get("/api/v1/transactions.csv", headers={"Authorization": f"Bearer {token}"}, buffered=False)
    size = lines = 0
    for index, chunk in enumerate(response.response):
        size += len(chunk)
        lines += chunk.count(b"\r\n")
        if index % 50 == 0:
            peak = max(peak, _rss_kib())
    response.close()
    elapsed = time.perf_counter() - began
    rows = lines - 1
    if rows != total:
        raise RuntimeError(f"the export has {rows} rows, the database {total}")
    with app.app_context():
        sql = str(csv_query("sqlite", TransactionFilter()).compile(dialect=database.engine.dialect,
                                                                   compile_kwargs={"literal_binds": True}))
    cursor = raw.execute(sql)
    fetched = 0
    began_raw = time.perf_counter()
    while chunk_rows := cursor.fetchmany(5000):
        fetched += len(chunk_rows)
    raw_rate = fetched / (time.perf_counter() - began_raw)
    rate = rows / elapsed
    print(f"CSV export, API (streamed)                 {rate:12,.0f} rows/s  ({rows:,} rows, {size / 2**20:,.0f} MiB "
          f"in {elapsed:.1f} s; memory grew {(peak - rss_before) / 1024:.1f} MiB)")
    print(f"CSV export, raw SELECT of the same rows    {raw_rate:12,.0f} rows/s  ratio API / raw {rate / raw_rate:.2f}")
    met = rate >= AIM_CSV_ROWS
    print(f"aim (>= {AIM_CSV_ROWS:,} rows/s): {rate:,.0f} rows/s -> {'met' if met else 'MISSED'}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--pull-rows", type=int, default=200_000)
    parser.add_argument("--dir", type=Path, default=None, help="where the database lives (a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as work:
        path = Path(work) / "server.sqlite3"
        seconds = fill(path, args.cards, args.transactions)
        print(f"database: {args.cards:,} cards, {args.transactions:,} transactions, {DEVICES} devices; filled in "
              f"{seconds:.1f} s ({path.stat().st_size / 2**30:.2f} GiB)")
        app = create_app({"DATABASE": f"sqlite:///{path}"})
        raw = sqlite3.connect(path)
        try:
            with app.app_context():
                member = database.staff.add_user("bench", "admin")
                token = database.staff.issue_token(member.id)
            client = app.test_client()
            if not any(rule.rule == "/api/v1/cards/<int:card_number>" for rule in app.url_map.iter_rules()):
                raise RuntimeError("the app has no GET /api/v1/cards/{card_number}")
            fast_lookups = lookups(client, token, raw, args.cards, args.lookups)
            pull(client, token, raw, args.pull_rows)
            fast_export = export(app, client, token, raw, args.transactions)
        finally:
            raw.close()
            database.dispose(app)
    return 0 if fast_lookups and fast_export else 1


if __name__ == "__main__":
    sys.exit(main())
