"""A tap loop for the journal's crash and concurrency tests, run in its own process:

    python -m tests.device.journal_writer PATH DEVICE_ID [--count N] [--interval SECONDS]

Writes ``begin`` + ``complete`` pairs as fast as it can, or one every
``--interval`` seconds (forever, or ``N`` pairs) over four cards, and reports on stdout, flushed, each step that
returned: ``B seq`` after ``begin`` (the INTENT is committed), ``C seq`` after
``complete``. A kill can land anywhere, so a committed step may go unreported,
never the other way round.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from device.journal import Journal

CARDS = [bytes([0xA0 + n, 0xB1, 0xC2, 0xD3]) for n in range(4)]


def main() -> int:
    parser = argparse.ArgumentParser(description="journal tap loop for tests")
    parser.add_argument("path", type=Path)
    parser.add_argument("device_id", type=int)
    parser.add_argument("--count", type=int, default=None, help="stop after this many taps (default: never)")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between taps (default: none)")
    args = parser.parse_args()
    out = sys.stdout
    with Journal(args.path, args.device_id) as journal:
        tap = 0
        while args.count is None or tap < args.count:
            uid = CARDS[tap % len(CARDS)]
            counter = journal.last_seq() + 1  # any growing number will do for a card counter here
            seq = journal.begin(kind="tap", uid=uid, card_number=6033000000000000 + tap % len(CARDS),
                                counter_before=counter, counter_after=counter + 1, amount_cents=-150,
                                details={"line": 12, "tap": tap})
            out.write(f"B {seq}\n")
            out.flush()
            journal.complete(seq, balance_cents=1000 - 150 * tap, decision="approved", reason="fare",
                             details={"fare": 150})
            out.write(f"C {seq}\n")
            out.flush()
            tap += 1
            if args.interval:
                time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
