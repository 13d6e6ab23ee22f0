"""Benchmark of the device journal's hot path on this machine's disk.

A tap that writes the card costs the journal a ``begin`` (an INTENT,
committed and synced before the first card write) and a ``complete``: two
transactions, each synced (WAL, ``synchronous=FULL``). Figures, median and
p99 over ``--ops`` taps, each in a fresh journal under ``--dir``:

- *baseline*: the least SQLite can do for the same durability: a raw
  ``sqlite3`` INSERT and UPDATE of one row, each its own synced transaction;
- *journal*: ``begin`` + ``complete`` (plain sqlite3, cached statements), and
  with details merged at ``complete``; ``resolve`` of a card with no open
  intent (done on every read of a card) and ``record`` (a denial);
- *sqlite-utils*: the same pair through sqlite-utils' ``insert``/``update``,
  the reason the hot path uses plain sqlite3.

Aim: ``begin`` + ``complete`` well under 2 ms (median and p99).

    ./dev bench journal [--ops 2000] [--dir /var/lib/citizencard]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlite_utils import Database

from device.journal import Journal

UID = bytes.fromhex("A1B2C3D4")
DETAILS = {"line": 12, "operator": 1, "fare": {"base": 150, "transfer": 0}}
AIM_MS = 2.0


def _stats(samples: list[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) / 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000


def _measure(ops: int, operation: Callable[[int], object]) -> list[int]:
    samples = []
    for i in range(ops):
        start = time.perf_counter_ns()
        operation(i)
        samples.append(time.perf_counter_ns() - start)
    return samples


def _baseline(path: Path, ops: int) -> list[int]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, state TEXT, details TEXT)")

    def pair(i: int) -> None:
        conn.execute("INSERT INTO t (seq, state, details) VALUES (?, 'intent', ?)", (i + 1, json.dumps(DETAILS)))
        conn.execute("UPDATE t SET state = 'done' WHERE seq = ?", (i + 1,))

    try:
        return _measure(ops, pair)
    finally:
        conn.close()


def _sqlite_utils_pair(path: Path, ops: int) -> list[int]:
    Journal(path, 1).close()  # the same schema
    db = Database(path, execute_plugins=False)
    db.execute("PRAGMA synchronous = FULL")
    entries, journal = db["entries"], db["journal"]

    def pair(_: int) -> None:
        with db.atomic():
            seq = journal.get(1)["last_seq"] + 1
            journal.update(1, {"last_seq": seq})
            entries.insert({"seq": seq, "created_at": dt.datetime.now(dt.UTC).isoformat(), "kind": "tap",
                            "state": "intent", "uid": UID, "card_number": 1, "counter_before": seq,
                            "counter_after": seq + 1, "amount_cents": -150, "decision": "", "reason": "",
                            "details": json.dumps(DETAILS)})
        with db.atomic():
            entries.update(seq, {"state": "done", "rev": 1, "balance_cents": 850, "decision": "approved",
                                 "reason": "fare"})

    try:
        return _measure(ops, pair)
    finally:
        db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="taps per figure (default 2000)")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the journals (default: a temp dir)")
    args = parser.parse_args()
    ops = args.ops

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        base = _baseline(root / "baseline.db", ops)
        journal = Journal(root / "journal.db", 1)

        def tap(i: int) -> None:
            seq = journal.begin(kind="tap", uid=UID, card_number=1, counter_before=i, counter_after=i + 1,
                                amount_cents=-150, details=DETAILS)
            journal.complete(seq, balance_cents=850, decision="approved", reason="fare")

        def tap_details(i: int) -> None:
            seq = journal.begin(kind="tap", uid=UID, card_number=1, counter_before=i, counter_after=i + 1,
                                amount_cents=-150, details=DETAILS)
            journal.complete(seq, balance_cents=850, decision="approved", reason="fare", details={"transfer": 1})

        rows = [
            ("journal: begin + complete", _measure(ops, tap)),
            ("journal: begin + complete(details)", _measure(ops, tap_details)),
            ("journal: resolve, no open intent", _measure(ops, lambda i: journal.resolve(UID, i))),
            ("journal: record (a denial)", _measure(ops, lambda _: journal.record(
                kind="tap", uid=UID, card_number=1, amount_cents=0, balance_cents=850, decision="denied",
                reason="blocked", details=DETAILS))),
        ]
        journal.close()
        rows.append(("sqlite-utils: insert + update", _sqlite_utils_pair(root / "sqlite_utils.db", ops)))

    print(f"journal on {args.dir or tempfile.gettempdir()}, WAL, synchronous=FULL, {ops} taps per figure")
    base_median, base_p99 = _stats(base)
    print(f"{'baseline: raw sqlite3 insert + update':<40} median {base_median:8.1f} us   p99 {base_p99:8.1f} us")
    for name, samples in rows:
        median, p99 = _stats(samples)
        print(f"{name:<40} median {median:8.1f} us   p99 {p99:8.1f} us   x{median / base_median:5.2f} baseline")
    median, p99 = (value / 1000 for value in _stats(rows[0][1]))
    met = p99 < AIM_MS
    print(f"aim (begin + complete p99 < {AIM_MS:g} ms): median {median:.3f} ms, p99 {p99:.3f} ms -> "
          f"{'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
