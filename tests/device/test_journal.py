"""The device journal: intents and their settling, acks per revision, a
sequence that never repeats, the schema and its migrations, a second
process reading and acking, and a full disk (SQLite's page limit and a real
tiny tmpfs)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from device import journal as journal_module
from device.errors import DeviceError, EntryStateError, JournalError, JournalFullError, UnknownEntryError
from device.journal import MIGRATIONS, EntryState, Journal, JournalEntry

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC)
UID = bytes.fromhex("A1B2C3D4")
OTHER = bytes.fromhex("0badcafe")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
def journal(path: Path, clock: Clock) -> Iterator[Journal]:
    with Journal(path, 7, clock=clock) as opened:
        yield opened


def begin(journal: Journal, uid: bytes = UID, before: int = 10, amount: int = -150, **details: Any) -> int:
    return journal.begin(kind="tap", uid=uid, card_number=6033000000000001, counter_before=before,
                         counter_after=before + 1, amount_cents=amount, details=details or {"line": 12})


def deny(journal: Journal, uid: bytes | None = UID) -> int:
    return journal.record(kind="tap", uid=uid, card_number=None if uid is None else 6033000000000001,
                          amount_cents=0, balance_cents=None, decision="denied", reason="blocked", details={})


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


# -- writing taps -------------------------------------------------------------------------------------


def test_begin_commits_an_intent_before_returning(journal: Journal, path: Path) -> None:
    seq = begin(journal, line=12, fare={"base": 150})
    # A second connection (another process would do the same) sees it at once: it is committed.
    with Journal(path, 7) as other:
        entry = other.entry(seq)
    assert entry == JournalEntry(
        seq=1, device_id=7, created_at=T0, kind="tap", state=EntryState.INTENT, uid=UID,
        card_number=6033000000000001, counter_before=10, counter_after=11, amount_cents=-150, balance_cents=None,
        decision="", reason="", details={"line": 12, "fare": {"base": 150}}, acked=False, rev=0, resolved_at=None)


def test_complete_turns_the_intent_done_and_merges_details(journal: Journal, clock: Clock) -> None:
    seq = begin(journal, line=12, fare=150)
    clock.advance(milliseconds=40)
    journal.complete(seq, balance_cents=850, decision="approved", reason="fare", details={"fare": 120, "cap": 1})
    entry = journal.entry(seq)
    assert (entry.state, entry.balance_cents, entry.decision, entry.reason) == (EntryState.DONE, 850, "approved",
                                                                                "fare")
    assert entry.details == {"line": 12, "fare": 120, "cap": 1}
    assert (entry.rev, entry.resolved_at, entry.created_at) == (1, T0 + dt.timedelta(milliseconds=40), T0)


def test_abort_leaves_the_balance_unknown_and_the_intended_amount(journal: Journal) -> None:
    seq = begin(journal)
    journal.abort(seq, reason="insufficient_funds", details={"balance": 20})
    entry = journal.entry(seq)
    assert (entry.state, entry.decision, entry.reason, entry.balance_cents, entry.amount_cents) == (
        EntryState.ABORTED, "aborted", "insufficient_funds", None, -150)
    assert entry.details == {"line": 12, "balance": 20} and entry.rev == 1


def test_only_an_intent_can_be_completed_or_aborted(journal: Journal) -> None:
    seq = begin(journal)
    journal.complete(seq, balance_cents=850, decision="approved", reason="fare")
    with pytest.raises(EntryStateError, match=f"cannot complete entry {seq}: it is done"):
        journal.complete(seq, balance_cents=700, decision="approved", reason="fare")
    with pytest.raises(EntryStateError, match="cannot abort"):
        journal.abort(seq, reason="late")
    with pytest.raises(EntryStateError):
        journal.complete(deny(journal), balance_cents=1, decision="approved", reason="fare")
    assert journal.entry(seq).balance_cents == 850 and journal.entry(seq).rev == 1
    with pytest.raises(UnknownEntryError, match="no entry 99") as caught:
        journal.complete(99, balance_cents=1, decision="approved", reason="fare")
    assert isinstance(caught.value, LookupError) and isinstance(caught.value, JournalError)
    assert isinstance(caught.value, DeviceError)
    with pytest.raises(UnknownEntryError):
        journal.entry(99)


def test_record_is_a_finished_entry_in_one_step(journal: Journal) -> None:
    seq = journal.record(kind="denied", uid=UID, card_number=5, amount_cents=0, balance_cents=300,
                         decision="denied", reason="expired", details={"expired": "2026-01-01"}, counter_after=33)
    entry = journal.entry(seq)
    assert (entry.state, entry.rev, entry.counter_before, entry.counter_after, entry.resolved_at) == (
        EntryState.DONE, 0, None, 33, None)
    assert (entry.kind, entry.decision, entry.reason, entry.balance_cents) == ("denied", "denied", "expired", 300)
    unreadable = journal.entry(deny(journal, uid=None))
    assert (unreadable.uid, unreadable.card_number) == (None, None)


def test_times_are_stored_as_aware_utc_to_the_microsecond(path: Path) -> None:
    madrid = dt.timezone(dt.timedelta(hours=1))
    clock = Clock(dt.datetime(2026, 11, 21, 9, 0, 0, 0, tzinfo=madrid))
    with Journal(path, 7, clock=clock) as journal:
        first = begin(journal)
        clock.advance(microseconds=1)
        second = begin(journal)
        assert journal.entry(first).created_at == T0 and journal.entry(first).created_at.tzinfo == dt.UTC
        assert journal.entry(second).created_at == T0 + dt.timedelta(microseconds=1)


def test_a_naive_clock_is_refused(path: Path) -> None:
    with pytest.raises(ValueError, match="naive"):
        Journal(path, 7, clock=lambda: dt.datetime(2026, 1, 1))


def test_bad_arguments_write_nothing(journal: Journal) -> None:
    with pytest.raises(ValueError, match="counter_after"):
        journal.begin(kind="tap", uid=UID, card_number=1, counter_before=5, counter_after=5, amount_cents=-1,
                      details={})
    with pytest.raises(TypeError):
        journal.begin(kind="tap", uid=UID, card_number=1, counter_before=5, counter_after=6, amount_cents=-1,
                      details={"when": T0})
    with pytest.raises(TypeError, match="must be a dict"):
        journal.record(kind="tap", uid=UID, card_number=1, amount_cents=0, balance_cents=0, decision="denied",
                       reason="x", details=[1])  # type: ignore[arg-type]
    assert journal.last_seq() == 0
    seq = begin(journal)
    with pytest.raises(TypeError):
        journal.complete(seq, balance_cents=1, decision="approved", reason="fare", details={"x": {1, 2}})
    assert journal.entry(seq).state is EntryState.INTENT


# -- settling intents ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card_counter", "state", "reason"),
    [
        (11, EntryState.DONE, "counter 11 >= 11: the write landed"),
        (14, EntryState.DONE, "counter 14 >= 11: the write landed"),
        (10, EntryState.ABORTED, "counter 10 < 11: the write never landed"),
        (9, EntryState.ABORTED, "counter 9, below 10 before the write: a restored or cloned card"),
    ],
)
def test_resolve_settles_by_the_card_counter(journal: Journal, clock: Clock, card_counter: int,
                                             state: EntryState, reason: str) -> None:
    seq = begin(journal, before=10)
    clock.advance(seconds=30)
    [settled] = journal.resolve(UID, card_counter)
    assert settled == journal.entry(seq)
    assert (settled.seq, settled.state, settled.decision, settled.rev) == (seq, state, "resolved", 1)
    assert reason in settled.reason and settled.resolved_at == T0 + dt.timedelta(seconds=30)
    assert settled.details["resolved_counter"] == card_counter and settled.details["line"] == 12
    assert ("anomaly" in settled.details) == (card_counter < 10)
    assert journal.unresolved() == [] and journal.resolve(UID, card_counter) == []


def test_resolve_touches_only_that_cards_intents(journal: Journal) -> None:
    mine = [begin(journal, before=10), begin(journal, before=11)]
    theirs = begin(journal, uid=OTHER, before=3)
    settled = journal.resolve(UID, 11)
    assert [(e.seq, e.state) for e in settled] == [(mine[0], EntryState.DONE), (mine[1], EntryState.ABORTED)]
    assert [e.seq for e in journal.unresolved()] == [theirs]
    assert journal.resolve(bytes(4), 100) == []


def test_unresolved_lists_open_intents_oldest_first(journal: Journal) -> None:
    first, done, second = begin(journal), begin(journal, uid=OTHER), begin(journal, uid=OTHER, before=20)
    deny(journal)
    journal.complete(done, balance_cents=1, decision="approved", reason="fare")
    assert [(e.seq, e.state) for e in journal.unresolved()] == [(first, EntryState.INTENT),
                                                                (second, EntryState.INTENT)]


# -- sync: acks per revision ----------------------------------------------------------------------------


def test_unacked_then_acked(journal: Journal) -> None:
    seqs = [deny(journal) for _ in range(5)]
    assert [e.seq for e in journal.unacked()] == seqs and journal.backlog() == 5
    batch = journal.unacked(limit=3)
    assert [e.seq for e in batch] == seqs[:3]
    assert journal.mark_acked(batch) == 3
    assert journal.mark_acked(batch) == 0  # a redelivered ack changes nothing
    assert [e.seq for e in journal.unacked()] == seqs[3:] and journal.backlog() == 2
    assert journal.entry(seqs[0]).acked and not journal.entry(seqs[3]).acked
    assert journal.mark_acked([e.ack_key for e in journal.unacked()]) == 2 and journal.backlog() == 0
    assert journal.mark_acked([]) == 0 and journal.mark_acked([(999, 0)]) == 0


def test_unacked_after_a_seq_skips_what_is_in_flight(journal: Journal, path: Path) -> None:
    seqs = [deny(journal) for _ in range(6)]
    in_flight = journal.unacked(limit=2)
    assert [e.seq for e in journal.unacked(limit=2, after_seq=in_flight[-1].seq)] == seqs[2:4]
    journal.mark_acked(journal.unacked(limit=3, after_seq=3))  # 4, 5, 6
    assert [e.seq for e in journal.unacked(after_seq=1)] == seqs[1:3]
    assert journal.unacked(after_seq=seqs[-1]) == []
    with pytest.raises(ValueError, match="after_seq"):
        journal.unacked(after_seq=-1)
    # The query it runs reads the partial index of the backlog from after_seq on, not the table.
    statements: list[str] = []
    journal._connection().set_trace_callback(statements.append)
    journal.unacked(limit=10, after_seq=3)
    journal._connection().set_trace_callback(None)
    [query] = [s for s in statements if s.startswith("SELECT")]
    with sqlite3.connect(path) as conn:
        plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {query}"))
    assert "SEARCH entries USING INDEX entries_unacked (seq>?)" in plan


def test_data_version_moves_on_another_connections_commits(journal: Journal, path: Path) -> None:
    with Journal(path, 7) as agent:
        seen = agent.data_version()
        assert agent.data_version() == seen
        seq = begin(journal)
        assert agent.data_version() != seen
        seen = agent.data_version()
        agent.mark_acked(agent.unacked())  # its own commit
        assert agent.data_version() == seen
        journal.complete(seq, balance_cents=1, decision="approved", reason="fare")  # a new revision
        assert agent.data_version() != seen


def test_an_ack_range_marks_only_the_entries_at_its_revision(journal: Journal) -> None:
    seqs = [deny(journal) for _ in range(3)]
    intent = begin(journal)
    seqs.append(deny(journal))
    journal.complete(intent, balance_cents=850, decision="approved", reason="fare")  # now at rev 1
    # The server holds them all at rev 0 (the intent published before it completed).
    assert journal.mark_acked_ranges([(seqs[0], seqs[-1], 0)]) == 4
    assert [e.ack_key for e in journal.unacked()] == [(intent, 1)]
    assert journal.mark_acked_ranges([(seqs[0], seqs[-1], 0)]) == 0  # a redelivered ack changes nothing
    assert journal.mark_acked_ranges([(intent, intent, 1)]) == 1 and journal.backlog() == 0
    assert journal.mark_acked_ranges([]) == 0


def test_an_ack_names_a_revision(journal: Journal) -> None:
    seq = deny(journal)
    with pytest.raises(TypeError, match="bare seq"):
        journal.mark_acked([seq])  # type: ignore[list-item]
    assert journal.mark_acked([(seq, 1)]) == 0  # no such revision
    assert journal.backlog() == 1
    with pytest.raises(ValueError, match="limit"):
        journal.unacked(limit=0)


def test_an_intent_is_published_and_its_settling_published_again(journal: Journal) -> None:
    seq = begin(journal)
    [published] = journal.unacked()
    assert published.state is EntryState.INTENT and published.ack_key == (seq, 0)
    # The tap completes while the server is still storing the intent; then the intent's ack arrives.
    journal.complete(seq, balance_cents=850, decision="approved", reason="fare")
    assert journal.mark_acked([published]) == 0
    [again] = journal.unacked()
    assert (again.state, again.ack_key, again.acked) == (EntryState.DONE, (seq, 1), False)
    assert journal.mark_acked([again]) == 1 and journal.backlog() == 0


def test_an_acked_intent_comes_back_when_resolved(journal: Journal) -> None:
    seq = begin(journal)
    assert journal.mark_acked(journal.unacked()) == 1 and journal.backlog() == 0
    journal.resolve(UID, 10)
    [again] = journal.unacked()
    assert (again.seq, again.state, again.rev) == (seq, EntryState.ABORTED, 1)


# -- the sequence -------------------------------------------------------------------------------------


def test_the_sequence_survives_reopening(path: Path) -> None:
    with Journal(path, 7) as journal:
        assert journal.last_seq() == 0
        assert [deny(journal) for _ in range(3)] == [1, 2, 3]
    with Journal(path, 7) as journal:
        assert journal.last_seq() == 3 and begin(journal) == 4


def test_pruning_acked_entries_never_lets_a_number_come_back(journal: Journal, path: Path, clock: Clock) -> None:
    seqs = [deny(journal) for _ in range(4)]
    journal.mark_acked(journal.unacked())
    assert journal.prune() == 4  # the highest one too
    with pytest.raises(UnknownEntryError):
        journal.entry(seqs[-1])
    assert journal.last_seq() == 4 and deny(journal) == 5
    journal.close()
    with Journal(path, 7, clock=clock) as reopened:
        assert reopened.last_seq() == 5 and begin(reopened) == 6


def test_prune_keeps_intents_the_unacked_and_the_recent(journal: Journal, clock: Clock) -> None:
    old_acked, intent, unacked = deny(journal), begin(journal), deny(journal)
    journal.mark_acked([journal.entry(old_acked), journal.entry(intent)])
    clock.advance(days=2)
    recent_acked = deny(journal)
    journal.mark_acked([journal.entry(recent_acked)])
    assert journal.prune(older_than=dt.timedelta(days=1)) == 1
    assert [e.seq for e in journal.unresolved()] == [intent]
    journal.entry(unacked), journal.entry(recent_acked)
    with pytest.raises(UnknownEntryError):
        journal.entry(old_acked)


# -- the file: schema, migrations, ownership ------------------------------------------------------------


def test_the_file_is_wal_with_full_sync_and_a_schema_version(journal: Journal, path: Path) -> None:
    db = Database(path)
    assert db.journal_mode == "wal"
    assert [row["version"] for row in db["schema_version"].rows] == [len(MIGRATIONS)]
    assert set(db.table_names()) == {"schema_version", "journal", "entries"}
    assert journal._connection().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    db.close()


def _add_operator_ref(db: Database) -> None:
    db["entries"].add_column("operator_ref", str)  # fails if run twice: proves it runs once


def test_a_migration_runs_once_and_keeps_the_entries(path: Path) -> None:
    with Journal(path, 7) as journal:
        seq = begin(journal)
    for _ in range(2):
        with Journal(path, 7, migrations=(*MIGRATIONS, _add_operator_ref)) as journal:
            assert journal.entry(seq).state is EntryState.INTENT
    db = Database(path)
    assert "operator_ref" in db["entries"].columns_dict
    assert [row["version"] for row in db["schema_version"].rows] == [1, 2]
    db.close()
    with pytest.raises(JournalError, match="schema version 2; this code knows up to 1"):
        Journal(path, 7)


def test_a_failing_migration_changes_nothing(path: Path) -> None:
    with Journal(path, 7) as journal:
        begin(journal)

    def broken(db: Database) -> None:
        _add_operator_ref(db)
        raise RuntimeError("migration bug")

    with pytest.raises(RuntimeError, match="migration bug"):
        Journal(path, 7, migrations=(*MIGRATIONS, broken))
    assert "operator_ref" not in Database(path)["entries"].columns_dict
    with Journal(path, 7) as journal:
        assert journal.last_seq() == 1 and begin(journal) == 2


def test_a_journal_belongs_to_one_device(path: Path) -> None:
    Journal(path, 7).close()
    with pytest.raises(JournalError, match="belongs to device 7, not 8"):
        Journal(path, 8)


def test_files_that_are_not_journals_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    Database(other)["cards"].insert({"id": 1})
    with pytest.raises(JournalError, match="not a journal"):
        Journal(other, 7)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(JournalError, match="SQLITE_NOTADB"):
        Journal(garbage, 7)
    with pytest.raises(JournalError, match="cannot open"):
        Journal(tmp_path / "missing" / "journal.db", 7)


def test_a_closed_journal_says_so(journal: Journal) -> None:
    journal.close()
    journal.close()
    assert "closed" in repr(journal)
    with pytest.raises(JournalError, match="is closed"):
        deny(journal)
    with pytest.raises(JournalError, match="is closed"):
        journal.backlog()


# -- another process reads and acks while taps are written ---------------------------------------------


def test_a_second_connection_sees_commits_and_acks_them(journal: Journal, path: Path) -> None:
    with Journal(path, 7) as agent:
        seq = begin(journal)
        [intent] = agent.unacked()
        journal.complete(seq, balance_cents=1, decision="approved", reason="fare")
        assert agent.mark_acked([intent]) == 0
        assert agent.mark_acked(agent.unacked()) == 1
        assert journal.backlog() == 0 and journal.entry(seq).acked


def test_a_write_waits_for_the_other_process_lock(path: Path) -> None:
    Journal(path, 7).close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    with Journal(path, 7, busy_timeout=5) as patient, Journal(path, 7, busy_timeout=0.05) as hasty:
        with pytest.raises(JournalError, match="SQLITE_BUSY") as caught:
            deny(hasty)
        assert not isinstance(caught.value, JournalFullError)
        released.start()
        start = time.monotonic()
        assert deny(patient) == 1
        assert time.monotonic() - start >= 0.2
        assert deny(hasty) == 2  # usable again
    released.join()
    holder.close()


def test_the_sync_agent_process_acks_everything_a_writer_process_writes(path: Path) -> None:
    taps = 300
    Journal(path, 7).close()
    writer = subprocess.Popen([sys.executable, "-m", "tests.device.journal_writer", str(path), "7", "--count",
                               str(taps)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    acked: set[int] = set()
    with Journal(path, 7, busy_timeout=10) as agent:
        while True:
            running = writer.poll() is None
            batch = agent.unacked(limit=50)
            agent.mark_acked(batch)
            acked.update(e.seq for e in batch if e.state is EntryState.DONE)
            agent.prune()
            if not running and not batch:
                break
        assert writer.wait() == 0, writer.stderr.read() if writer.stderr else ""
        assert acked == set(range(1, taps + 1))
        assert agent.backlog() == 0 and agent.last_seq() == taps and agent.unresolved() == []
    assert integrity(path) == "ok"


# -- a full disk --------------------------------------------------------------------------------------


def _fill(journal: Journal, limit: int = 100_000) -> list[int]:
    """Complete taps until the disk is full; the seqs written."""
    written = []
    for _ in range(limit):
        try:
            seq = begin(journal, padding="x" * 2000)
            written.append(seq)
            journal.complete(seq, balance_cents=1, decision="approved", reason="fare")
        except JournalFullError as exc:
            cause = exc.__cause__
            assert isinstance(cause, sqlite3.Error) and cause.sqlite_errorname.startswith(("SQLITE_FULL",
                                                                                           "SQLITE_IOERR"))
            return written
    raise AssertionError(f"the disk never filled in {limit} taps")


def _check_consistent(journal: Journal, path: Path, written: list[int]) -> None:
    assert integrity(path) == "ok"
    assert journal.last_seq() == max(written)
    for seq in written:
        assert journal.entry(seq).kind == "tap"


def test_sqlite_full_leaves_the_journal_consistent_and_usable(journal: Journal, path: Path) -> None:
    conn = journal._connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 20}")
    open_intent = begin(journal)
    written = [open_intent, *_fill(journal)]
    with pytest.raises(JournalFullError, match="SQLITE_FULL"):
        begin(journal, padding="x" * 2000)
    _check_consistent(journal, path, written)
    # A failed complete leaves the intent open, for resolve() to settle later.
    with pytest.raises(JournalFullError):
        journal.complete(open_intent, balance_cents=1, decision="approved", reason="fare",
                         details={"big": "y" * 200_000})
    assert journal.entry(open_intent).state is EntryState.INTENT
    # Space is back: the next number follows the last committed one.
    conn.execute("PRAGMA max_page_count = 1000000")
    assert begin(journal) == max(written) + 1
    journal.complete(open_intent, balance_cents=1, decision="approved", reason="fare")
    assert integrity(path) == "ok"


def test_disk_io_errors_count_as_a_full_disk() -> None:
    for code, name, full in [(10, "SQLITE_IOERR", True), (10 | (4 << 8), "SQLITE_IOERR_WRITE", True),
                             (13, "SQLITE_FULL", True), (11, "SQLITE_CORRUPT", False), (5, "SQLITE_BUSY", False)]:
        exc = sqlite3.OperationalError("disk trouble")
        exc.sqlite_errorcode, exc.sqlite_errorname = code, name
        translated = journal_module._translate(exc, "begin an entry", Path("j.db"))
        assert isinstance(translated, JournalFullError) is full and isinstance(translated, JournalError)
        assert name in str(translated) and "cannot begin an entry" in str(translated)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, mounted for the test (needs root: skipped otherwise)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny tmpfs needs root and mount(8)")
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mountpoint)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_a_real_full_filesystem(tiny_fs: Path) -> None:
    path = tiny_fs / "journal.db"
    ballast = tiny_fs / "ballast"
    ballast.write_bytes(b"\0" * 256 * 1024)
    with Journal(path, 7) as journal:
        written = _fill(journal)
        assert len(written) > 10
        with pytest.raises(JournalFullError):
            begin(journal, padding="x" * 2000)
        _check_consistent(journal, path, written)
        ballast.unlink()
        follow = [deny(journal) for _ in range(20)]
        assert follow == list(range(max(written) + 1, max(written) + 21))
        assert integrity(path) == "ok"
    with Journal(path, 7) as reopened:
        _check_consistent(reopened, path, [*written, *follow])
