"""A bus validator tapping one card in a loop, for the validator's crash test
(tests/validator/test_crash.py), run in its own process::

    python -m tests.validator.tap_loop CONFIG [--count N]

It opens the validator of ``CONFIG`` once (:func:`validator.app.open_validator`,
rider feedback off), prints ``ready LAST_SEQ`` (the journal's highest sequence
number at open), then taps the card in the field forever (or ``N`` times) and
prints, flushed, one line per finished tap::

    tap SEQ REASON AMOUNT_CENTS BALANCE_CENTS

A kill can land anywhere, so a finished tap may go unprinted, never the other
way round.

The clock is a function of the tap's index, the journal's next sequence
number, so it keeps moving forward across restarts whatever a kill left
behind (every tap that gets as far as the journal takes a number). Taps come
in threes on alternating lines: two new journeys 50 minutes apart (charged:
the transfer window is 45 minutes), then a boarding on the other line 3
minutes later (a free transfer). So about two taps in three move money and
one in three is a card write that moves none.

Before each tap the loop notes it in ``tap_loop.json`` next to the config
(index, time, line; replaced atomically). A restarted loop first lets the
rider of the last tap noted tap again, :data:`RETRY_AFTER` later on the same
line, and prints it as ``retry SEQ REASON AMOUNT BALANCE``: already validated
when the killed tap's write reached the card, charged as that tap would have
been when it did not. A retry is not retried.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from device.config import load_config
from validator.app import Validator, open_validator

MADRID = ZoneInfo("Europe/Madrid")
T0 = dt.datetime(2026, 3, 2, 7, 0, tzinfo=MADRID)
"""The first tap's time (index 1); the test's card is valid from 2026-01-01."""
LINES = (12, 13)
"""Bus lines the validator alternates between (``engine.location``)."""
_OFFSETS = (0, 50, 53)
_CYCLE = 103
RETRY_AFTER = dt.timedelta(seconds=20)
"""How long after a killed tap its rider taps again (within the bus's 120 s already-validated window)."""
LAST_TAP_FILENAME = "tap_loop.json"


def tap_at(index: int) -> dt.datetime:
    """When tap ``index`` (the journal sequence number it is expected to take) happens."""
    cycle, step = divmod(index - 1, len(_OFFSETS))
    return T0 + dt.timedelta(minutes=cycle * _CYCLE + _OFFSETS[step])


def line_of(index: int) -> int:
    """The line of tap ``index``."""
    return LINES[index % len(LINES)]


@dataclass(frozen=True)
class NotedTap:
    """A tap as the loop noted it just before making it."""

    index: int            # the journal's next sequence number then
    at: dt.datetime
    line: int
    retry: bool

    @classmethod
    def load(cls, config: Path) -> NotedTap | None:
        """The last tap noted for the validator of ``config`` (None before the first)."""
        path = config.parent / LAST_TAP_FILENAME
        if not path.exists():
            return None
        noted = json.loads(path.read_text())
        return cls(int(noted["index"]), dt.datetime.fromisoformat(noted["at"]), int(noted["line"]),
                   bool(noted["retry"]))

    def save(self, config: Path) -> None:
        path = config.parent / LAST_TAP_FILENAME
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"index": self.index, "at": self.at.isoformat(), "line": self.line,
                                   "retry": self.retry}))
        os.replace(tmp, path)  # a kill -9 loses no page already written: no fsync needed


def main() -> int:
    parser = argparse.ArgumentParser(description="bus validator tap loop for the crash test")
    parser.add_argument("config", type=Path)
    parser.add_argument("--count", type=int, default=None, help="stop after this many taps (default: never)")
    args = parser.parse_args()
    config = load_config(args.config)
    out = sys.stdout
    now = T0

    def clock() -> dt.datetime:
        return now

    def tap(app: Validator, at: dt.datetime, line: int, retry: bool) -> None:
        nonlocal now
        now = at
        NotedTap(app.engine.journal.last_seq() + 1, at, line, retry).save(args.config)
        app.engine.location = line
        result = app.engine.tap(card_timeout=1.0, at=at)
        out.write(f"{'retry' if retry else 'tap'} {result.journal_seq} {result.reason.value} "
                  f"{result.amount_cents} {result.balance_cents}\n")
        out.flush()

    with open_validator(config, feedback=False, clock=clock) as app:
        journal = app.engine.journal
        out.write(f"ready {journal.last_seq()}\n")
        out.flush()
        noted = NotedTap.load(args.config)
        if noted is not None and not noted.retry:
            tap(app, noted.at + RETRY_AFTER, noted.line, True)
        taps = 0
        while args.count is None or taps < args.count:
            index = journal.last_seq() + 1
            tap(app, tap_at(index), line_of(index), False)
            taps += 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
