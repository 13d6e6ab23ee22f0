"""A process that updates a deny-list as fast as it can, to be killed -9 by
tests/device/test_denylist.py; and the plan of its updates, which the test
replays to know what each version must hold.

    python -m tests.device.denylist_writer PATH
    python -m tests.device.denylist_writer PATH --hang-blocking CARD_NUMBER

Version 1 is a full list; after it, every fifth version is a full list and the
others deltas (400 entries added, 100 removed), all drawn from a generator
seeded by the version. ``compact_at`` is small, so most deltas also merge an
overlay into the arrays. The writer prints ``begin V`` before it applies
version V and ``done V`` once it is applied, each line in one write (see
:func:`_say`), so a kill never leaves half a line.

With ``--hang-blocking`` it applies one delta, from the version held to the
next, denying ``CARD_NUMBER`` ("stolen"), but stops inside its transaction,
everything written and nothing committed: it prints ``written V`` and waits
to be killed (tests/validator/test_app.py: a torn update of the agent's).
"""

from __future__ import annotations

import random
import sqlite3
import sys
import time
from collections.abc import Callable

from device.denylist import DenyEntry, DenyList

COMPACT_AT = 300
FULL_SIZE = 3000
ADDED = 400
REMOVED = 100
REASONS = ("lost", "stolen", "fraud")

Model = tuple[dict[int, str], dict[bytes, str]]
"""What a version denies: reason by card number, reason by UID."""


def _new_entry(rng: random.Random) -> DenyEntry:
    uid = rng.randbytes(rng.choice((4, 7)))
    return DenyEntry(6033_0000_0000_0000 + rng.randrange(10**6), uid, rng.choice(REASONS))


def step(version: int, before: Model) -> tuple[str, list[DenyEntry], list[DenyEntry]]:
    """What brings the list from ``version - 1`` (holding ``before``) to ``version``:
    ``("full", entries, [])`` or ``("delta", added, removed)``."""
    rng = random.Random(version)
    if version % 5 == 1:
        return "full", [_new_entry(rng) for _ in range(FULL_SIZE)], []
    cards = sorted(before[0])
    uids = sorted(before[1])
    removed = [DenyEntry(card, None, "") for card in rng.sample(cards, min(REMOVED // 2, len(cards)))]
    removed += [DenyEntry(None, uid, "") for uid in rng.sample(uids, min(REMOVED // 2, len(uids)))]
    gone = {entry.card_number for entry in removed} | {entry.uid for entry in removed}
    added = [entry for entry in (_new_entry(rng) for _ in range(ADDED))
             if entry.card_number not in gone and entry.uid not in gone]
    return "delta", added, removed


def advance(before: Model, kind: str, added: list[DenyEntry], removed: list[DenyEntry]) -> Model:
    """What a step leads to from ``before`` (which it leaves alone)."""
    cards, uids = ({}, {}) if kind == "full" else (dict(before[0]), dict(before[1]))
    for entry in removed:
        if entry.card_number is not None:
            cards.pop(entry.card_number, None)
        if entry.uid is not None:
            uids.pop(entry.uid, None)
    for entry in added:
        if entry.card_number is not None:
            cards[entry.card_number] = entry.reason
        if entry.uid is not None:
            uids[entry.uid] = entry.reason
    return cards, uids


def model(version: int) -> Model:
    """What ``version`` denies, by replaying the plan from its last full list."""
    state: Model = ({}, {})
    if version == 0:
        return state
    for v in range(version - (version - 1) % 5, version + 1):
        state = advance(state, *step(v, state))
    return state


def _say(what: str, version: int) -> None:
    """Print ``what version`` as one write to the pipe, which the kernel makes
    atomic. Not ``print(what, version)``: under ``python -u`` or
    ``PYTHONUNBUFFERED`` (set where the suite runs here, and inherited from
    the test) it writes each word and the newline separately, and a kill
    between two of them leaves a line the test cannot read."""
    sys.stdout.write(f"{what} {version}\n")
    sys.stdout.flush()


def main(path: str) -> None:
    with DenyList(path, compact_at=COMPACT_AT) as deny_list:
        version = deny_list.version
        state = model(version)
        while True:
            version += 1
            kind, added, removed = step(version, state)
            _say("begin", version)
            if kind == "full":
                deny_list.apply_full(version, added)
            else:
                deny_list.apply_delta(version - 1, version, added, removed)
            _say("done", version)
            state = advance(state, kind, added, removed)


class _StopsBeforeCommit(DenyList):
    """A deny-list whose updates write everything, then wait, never committing."""

    def __init__(self, path: str, version_written: int) -> None:
        super().__init__(path)
        self.version_written = version_written

    def _transaction(self, conn: sqlite3.Connection, write: Callable[[sqlite3.Connection], None]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        write(conn)
        _say("written", self.version_written)
        while True:
            time.sleep(60)


def hang_blocking(path: str, card_number: int) -> None:
    with DenyList(path) as held:
        version = held.version
    with _StopsBeforeCommit(path, version + 1) as deny_list:
        deny_list.apply_delta(version, version + 1, [DenyEntry(card_number, None, "stolen")], [])


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[2] == "--hang-blocking":
        hang_blocking(sys.argv[1], int(sys.argv[3]))
    else:
        main(sys.argv[1])
