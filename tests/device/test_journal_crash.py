"""kill -9 at random moments: a process writing taps as fast as it can
(tests/device/journal_writer.py) is killed about twenty times; after each
kill the journal is reopened and checked: every step the writer reported is
there, no sequence number was given twice (even after acked entries,
the highest included, were pruned), each run left at most one open intent
(its last), every entry is well formed, and SQLite's integrity check passes.

A kill -9 loses what the process had not handed to the kernel; a power cut
also loses what the kernel had not written. The second is covered by
``synchronous=FULL`` (an fsync per commit) and the directory fsync of a new
file, not by this test.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device.journal import EntryState, Journal

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
DEVICE = 7


def _run_and_kill(path: Path, rng: random.Random) -> list[tuple[str, int]]:
    """Start the writer, let it write for a random moment, kill -9 it; the steps it reported."""
    writer = subprocess.Popen([sys.executable, "-m", "tests.device.journal_writer", str(path), str(DEVICE)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stderr is not None
    first = writer.stdout.readline()  # it is writing from here on
    time.sleep(rng.uniform(0, 0.12))
    writer.kill()
    rest = writer.stdout.read()
    assert writer.wait() == -9, f"the writer stopped by itself: {writer.stderr.read()}"
    writer.stdout.close()
    writer.stderr.close()
    steps = []
    for line in (first + rest).splitlines():
        step, seq = line.split()
        steps.append((step, int(seq)))
    assert steps, "the writer reported nothing"
    return steps


def _check_well_formed(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Journal(path, DEVICE) as journal:
        for entry in journal.unacked(limit=1_000_000):
            assert entry.kind == "tap" and entry.device_id == DEVICE and entry.amount_cents == -150
            assert entry.counter_after == entry.counter_before + 1  # type: ignore[operator]
            assert entry.details["line"] == 12 and isinstance(entry.details["tap"], int)
            if entry.state is EntryState.DONE:
                assert (entry.rev, entry.decision, entry.details["fare"]) == (1, "approved", 150)
                assert entry.resolved_at is not None and entry.resolved_at >= entry.created_at
            else:
                assert entry.state is EntryState.INTENT
                assert (entry.rev, entry.decision, entry.resolved_at) == (0, "", None)


@pytest.mark.timeout(60)
def test_kill_9_at_random_moments(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    path = tmp_path / "journal.db"
    Journal(path, DEVICE).close()
    given = 0          # the highest seq ever handed out, as the journal said after the last kill
    pruned: set[int] = set()
    intents: list[int] = []
    started = time.monotonic()
    for kill in range(KILLS):
        steps = _run_and_kill(path, rng)
        begun = [seq for step, seq in steps if step == "B"]
        completed = {seq for step, seq in steps if step == "C"}
        # No number given twice: this run's numbers follow every earlier one, pruned ones included.
        assert begun[0] == given + 1, f"seed {seed}, kill {kill}: {begun[0]} after {given}"
        assert begun == list(range(begun[0], begun[0] + len(begun)))

        _check_well_formed(path)
        with Journal(path, DEVICE) as journal:
            for seq in begun:  # every reported step is durable
                state = journal.entry(seq).state
                if seq in completed:
                    assert state is EntryState.DONE
                else:  # the kill came after begin's report, and maybe after complete's commit
                    assert seq == begun[-1] and state in (EntryState.INTENT, EntryState.DONE)
            given = journal.last_seq()
            assert given in (begun[-1], begun[-1] + 1)  # a commit may have beaten the kill to the report
            # At most one intent per run, the last it began.
            open_now = [entry.seq for entry in journal.unresolved()]
            assert open_now[: len(intents)] == intents and len(open_now) - len(intents) <= 1
            if len(open_now) > len(intents):
                assert open_now[-1] in (begun[-1], given)
            intents = open_now
            # The sync agent: ack everything, prune what was acked (the highest seq too, often).
            journal.mark_acked(journal.unacked(limit=1_000_000))
            pruned |= {seq for seq in range(1, given + 1) if seq not in intents}
            journal.prune()
            assert journal.backlog() == 0 and journal.last_seq() == given
    assert time.monotonic() - started < 15, "the crash test is meant to stay under 15 s"
    with Journal(path, DEVICE) as journal:
        assert journal.last_seq() == given and given > KILLS
        assert [entry.seq for entry in journal.unresolved()] == intents
