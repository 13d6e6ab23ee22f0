"""The device journal: every tap, durably, in SQLite, with a per-device
sequence number that never repeats.

A tap that writes the card is one entry, written in two steps around the card write::

    seq = journal.begin(...)      # INTENT, committed (fsync) before the first card write
    ...write the card...
    journal.complete(seq, ...)    # INTENT -> DONE: the card holds the new state
    journal.abort(seq, ...)       # INTENT -> ABORTED: the card was certainly not changed

A crash, a power cut or a card pulled away between ``begin`` and
``complete`` leaves the INTENT; the next read of that card settles it by its
transaction counter (:meth:`Journal.resolve`). A tap that writes nothing
(a denial) is one finished entry (:meth:`Journal.record`).

Sync: the server learns every entry, unresolved intents included. An entry
has a revision ``rev`` (0 when written, +1 when its state changes) and is
acknowledged per revision: an ack for an INTENT that was completed
meanwhile leaves the DONE revision unacknowledged, so it is published again.
The server keeps, per ``(device_id, seq)``, the entry with the highest
``rev``. See docs/journal.md.

Storage: one SQLite file in WAL mode with ``synchronous=FULL`` (a returned
call is on disk), ``busy_timeout`` for the sync agent's process reading and
acking concurrently, and a schema version table with migrations applied on
open. The sequence is a counter row bumped in the entry's own transaction,
so pruning acknowledged entries never lets a number come back. The hot
path (``begin``, ``complete``) uses plain :mod:`sqlite3` with cached
statements; schema creation and inspection use sqlite-utils.

A full disk (SQLITE_FULL) or a failing one (SQLITE_IOERR) raises
:class:`~device.errors.JournalFullError` after rolling back: nothing of that
call was recorded, and the journal works again once space is freed.

One :class:`Journal` belongs to one thread (sqlite3 enforces it); other
processes open their own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from sqlite_utils import Database

from .errors import EntryStateError, JournalError, JournalFullError, UnknownEntryError

JOURNAL_FILENAME = "journal.sqlite3"
"""The journal's file name in the device's ``data_dir`` (the validator writes it, the sync agent reads and acks it)."""


def utc_now() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class EntryState(StrEnum):
    INTENT = "intent"    # committed before a card write whose outcome is not known yet
    DONE = "done"        # the card holds the new state (or nothing was to be written)
    ABORTED = "aborted"  # the card was not changed


@dataclass(frozen=True)
class JournalEntry:
    """One journal entry as stored. ``acked`` is true when the server
    acknowledged this revision (``rev``) of the entry."""

    seq: int                      # per-device sequence number, never repeats
    device_id: int
    created_at: dt.datetime       # aware UTC
    kind: str                     # "tap", "bike_start", "bike_end", "ev_start", "ev_end", "load", "denied", ...
    state: EntryState
    uid: bytes | None
    card_number: int | None
    counter_before: int | None    # card transaction counter before the write (intents)
    counter_after: int | None     # ... after it: the card holding at least this counter was written
    amount_cents: int             # signed, negative = charge; counts only when DONE
    balance_cents: int | None
    decision: str                 # "" while an INTENT
    reason: str
    details: dict[str, Any]       # JSON object: line, operator, fare breakdown, energy, duration, load seqs...
    acked: bool
    rev: int = 0                  # 0 when written, +1 on each state change
    resolved_at: dt.datetime | None = None  # when an INTENT became DONE or ABORTED

    @property
    def ack_key(self) -> tuple[int, int]:
        """``(seq, rev)``: what the server acknowledges and :meth:`Journal.mark_acked` takes."""
        return self.seq, self.rev


# -- schema ------------------------------------------------------------------------------------------

Migration = Callable[[Database], None]
"""Brings the schema from version N-1 to N; runs inside the opening transaction."""


def _schema_v1(db: Database) -> None:
    db["journal"].create(
        {"id": int, "device_id": int, "created_at": str, "last_seq": int},
        pk="id", not_null={"device_id", "created_at", "last_seq"}, strict=True,
    )
    db["entries"].create(
        {
            "seq": int, "created_at": str, "kind": str, "state": str, "rev": int,
            "uid": bytes, "card_number": int, "counter_before": int, "counter_after": int,
            "amount_cents": int, "balance_cents": int, "decision": str, "reason": str, "details": str,
            "resolved_at": str, "acked_rev": int,
        },
        pk="seq",
        not_null={"created_at", "kind", "state", "rev", "amount_cents", "decision", "reason", "details"},
        defaults={"rev": 0},
        strict=True,
    )
    # Partial indexes stay as small as the backlog and the open intents, however long the journal.
    db.execute("CREATE INDEX entries_unacked ON entries (seq) WHERE acked_rev IS NULL OR acked_rev < rev")
    db.execute("CREATE INDEX entries_intents ON entries (uid) WHERE state = 'intent'")


MIGRATIONS: tuple[Migration, ...] = (_schema_v1,)
"""``MIGRATIONS[n - 1]`` creates schema version ``n``. Append, never edit."""

_COLUMNS = ("seq, created_at, kind, state, rev, uid, card_number, counter_before, counter_after, amount_cents, "
            "balance_cents, decision, reason, details, acked_rev, resolved_at")
_SELECT = f"SELECT {_COLUMNS} FROM entries"
_UNACKED = "acked_rev IS NULL OR acked_rev < rev"  # the entries_unacked index's condition, verbatim
_NEXT_SEQ = "UPDATE journal SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq"
_INSERT = ("INSERT INTO entries (seq, created_at, kind, state, uid, card_number, counter_before, counter_after, "
           "amount_cents, balance_cents, decision, reason, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_FINISH = ("UPDATE entries SET state = ?, rev = rev + 1, balance_cents = ?, decision = ?, reason = ?, details = ?, "
           "resolved_at = ? WHERE seq = ?")


def _timestamp(moment: dt.datetime) -> str:
    # Fixed width (microseconds always present), so text order is time order.
    return moment.isoformat(timespec="microseconds")


def _dump(details: dict[str, Any]) -> str:
    """:raises TypeError: when ``details`` is not a JSON object of JSON values."""
    if not isinstance(details, dict):
        raise TypeError(f"details must be a dict, not {type(details).__name__}")
    return json.dumps(details, separators=(",", ":"), sort_keys=True, allow_nan=False)


def _translate(exc: sqlite3.Error, doing: str, path: Path) -> JournalError:
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    message = f"journal {path}: cannot {doing}: {exc} ({name})"
    # Extended codes (SQLITE_IOERR_WRITE, ...) carry the primary code in the low byte.
    if code is not None and code & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        return JournalFullError(message)
    return JournalError(message)


def _fsync_directory(path: Path) -> None:
    # A new file's directory entry must reach the disk too, or a power cut can lose the whole file.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """The journal of one device, in the SQLite file at ``path`` (created
    with its directory entry synced when missing).

    :param device_id: the device this journal belongs to; a journal is never
        reopened under another device id.
    :param clock: returns the aware current time (UTC or any zone; stored as UTC).
    :param busy_timeout: seconds a write waits for the other process's write.
    :param migrations: the schema migrations (tests add their own).
    :raises JournalError: when the file cannot be opened or is not a journal,
        belongs to another device, or has a schema newer than this code.
    :raises JournalFullError: when creating or migrating it fails for lack of space.
    """

    def __init__(self, path: Path | str, device_id: int, *, clock: Callable[[], dt.datetime] = utc_now,
                 busy_timeout: float = 5.0, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = Path(path)
        self.device_id = device_id
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        if not migrations:
            raise ValueError("at least the first schema migration is needed")
        is_new = not self.path.exists()
        try:
            # isolation_level=None: no implicit transactions; every write below says BEGIN IMMEDIATE itself,
            # which takes the write lock up front (a deferred one can fail with SQLITE_BUSY_SNAPSHOT in WAL).
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise _translate(exc, "open", self.path) from exc
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise JournalError(f"journal {self.path}: cannot use WAL mode here (got {mode!r})")
            conn.execute("PRAGMA synchronous = FULL")  # money: a returned commit is on disk
            self._conn = conn
            self._migrate(Database(conn, recursive_triggers=False, execute_plugins=False), tuple(migrations))
            if is_new:
                _fsync_directory(self.path.parent)
        except sqlite3.Error as exc:
            conn.close()
            self._conn = None
            raise _translate(exc, "open", self.path) from exc
        except OSError as exc:
            conn.close()
            self._conn = None
            raise JournalError(f"journal {self.path}: cannot sync its directory: {exc}") from exc
        except BaseException:
            conn.close()
            self._conn = None
            raise

    def _version(self, db: Database, migrations: tuple[Migration, ...]) -> int:
        """The file's schema version (0: empty); whether it is ours and not too new.

        :raises JournalError: for a database that is not a journal, or a newer schema.
        """
        tables = {name for name in db.table_names() if not name.startswith("sqlite_")}  # sqlite_stat1, ...
        if not tables:
            return 0
        if "schema_version" not in tables:
            raise JournalError(f"{self.path} is an SQLite database but not a journal "
                               f"(tables: {', '.join(sorted(tables))})")
        version: int = db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
        if version > len(migrations):
            raise JournalError(f"journal {self.path} has schema version {version}; this code knows "
                               f"up to {len(migrations)}: upgrade the software")
        return version

    def _owner(self, conn: sqlite3.Connection) -> int | None:
        row = conn.execute("SELECT device_id FROM journal WHERE id = 1").fetchone()
        if row is not None and row[0] != self.device_id:
            raise JournalError(f"journal {self.path} belongs to device {row[0]}, not {self.device_id}")
        return None if row is None else int(row[0])

    def _migrate(self, db: Database, migrations: tuple[Migration, ...]) -> None:
        # Checked without the write lock first: the usual open, of a journal that is up to date, must not
        # wait for the other process's write.
        if self._version(db, migrations) == len(migrations) and self._owner(self._connection()) is not None:
            return
        with self._write("open") as conn:
            version = self._version(db, migrations)  # again, under the lock: another process may have migrated
            if version == 0:
                db["schema_version"].create({"version": int, "applied_at": str}, pk="version",
                                            not_null={"applied_at"}, strict=True)
            for number in range(version + 1, len(migrations) + 1):
                migrations[number - 1](db)
                conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                             (number, _timestamp(self._now())))
            if self._owner(conn) is None:
                conn.execute("INSERT INTO journal (id, device_id, created_at, last_seq) VALUES (1, ?, ?, 0)",
                             (self.device_id, _timestamp(self._now())))

    # -- plumbing -----------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"journal {self.path} is closed")
        return self._conn

    @contextmanager
    def _write(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed (and synced) on leaving, rolled back on any error."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                # SQLite may have rolled back already (it can, after SQLITE_FULL or an I/O error)
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _translate(exc, doing, self.path) from exc
            raise

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, "read", self.path) from exc

    def _now(self) -> dt.datetime:
        now = self._clock()
        if now.utcoffset() is None:
            raise ValueError(f"the journal's clock returned a naive datetime ({now}); it must be aware")
        return now.astimezone(dt.UTC)

    def _entry(self, row: Sequence[Any]) -> JournalEntry:
        (seq, created_at, kind, state, rev, uid, card_number, counter_before, counter_after, amount_cents,
         balance_cents, decision, reason, details, acked_rev, resolved_at) = row
        return JournalEntry(
            seq=seq, device_id=self.device_id, created_at=dt.datetime.fromisoformat(created_at), kind=kind,
            state=EntryState(state), uid=uid, card_number=card_number, counter_before=counter_before,
            counter_after=counter_after, amount_cents=amount_cents, balance_cents=balance_cents,
            decision=decision, reason=reason, details=json.loads(details), acked=acked_rev == rev, rev=rev,
            resolved_at=None if resolved_at is None else dt.datetime.fromisoformat(resolved_at),
        )

    def _append(self, doing: str, kind: str, state: EntryState, uid: bytes | None, card_number: int | None,
                counter_before: int | None, counter_after: int | None, amount_cents: int,
                balance_cents: int | None, decision: str, reason: str, details: dict[str, Any]) -> int:
        values = (_timestamp(self._now()), kind, state.value, uid, card_number, counter_before, counter_after,
                  amount_cents, balance_cents, decision, reason, _dump(details))
        with self._write(doing) as conn:
            seq: int = conn.execute(_NEXT_SEQ).fetchall()[0][0]
            conn.execute(_INSERT, (seq, *values))
        return seq

    def _finish(self, doing: str, seq: int, state: EntryState, balance_cents: int | None, decision: str,
                reason: str, details: dict[str, Any] | None) -> None:
        if details is not None:
            _dump(details)  # refuse bad details before touching the file
        resolved_at = _timestamp(self._now())
        with self._write(doing) as conn:
            row = conn.execute("SELECT state, details FROM entries WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                raise UnknownEntryError(f"journal {self.path}: no entry {seq}")
            if row[0] != EntryState.INTENT:
                raise EntryStateError(f"journal {self.path}: cannot {doing} entry {seq}: it is {row[0]}, "
                                      "not an intent")
            merged = row[1] if not details else _dump({**json.loads(row[1]), **details})
            conn.execute(_FINISH, (state.value, balance_cents, decision, reason, merged, resolved_at, seq))

    # -- writing taps -------------------------------------------------------------------------------

    def begin(self, *, kind: str, uid: bytes, card_number: int | None, counter_before: int, counter_after: int,
              amount_cents: int, details: dict[str, Any]) -> int:
        """Record the INTENT of a card write; call it before the first write
        command. It is committed and synced when this returns.

        :returns: the entry's sequence number, for :meth:`complete` or :meth:`abort`.
        :raises ValueError: when ``counter_after`` is not above ``counter_before``
            (the counter is how the intent is resolved later).
        :raises TypeError: when ``details`` is not JSON.
        :raises JournalFullError: when the disk is full: nothing was recorded
            and the card must not be written.
        :raises JournalError: when the journal cannot be written.
        """
        if counter_after <= counter_before:
            raise ValueError(f"counter_after ({counter_after}) must be above counter_before ({counter_before})")
        return self._append("begin an entry", kind, EntryState.INTENT, uid, card_number, counter_before,
                            counter_after, amount_cents, None, "", "", details)

    def complete(self, seq: int, *, balance_cents: int | None, decision: str, reason: str,
                 details: dict[str, Any] | None = None) -> None:
        """INTENT -> DONE: the card write landed. ``details`` are merged into
        the intent's (keys given here win).

        If this raises, the entry stays an INTENT, which :meth:`resolve`
        settles when the card is seen again.

        :raises UnknownEntryError: when no entry has that number.
        :raises EntryStateError: when the entry is not an INTENT.
        :raises TypeError: when ``details`` is not JSON.
        :raises JournalFullError: when the disk is full.
        :raises JournalError: when the journal cannot be written.
        """
        self._finish("complete", seq, EntryState.DONE, balance_cents, decision, reason, details)

    def abort(self, seq: int, *, reason: str, details: dict[str, Any] | None = None) -> None:
        """INTENT -> ABORTED: the card was certainly not changed (the write was
        refused before any value moved). The decision becomes ``"aborted"``.

        :raises UnknownEntryError: when no entry has that number.
        :raises EntryStateError: when the entry is not an INTENT.
        :raises TypeError: when ``details`` is not JSON.
        :raises JournalFullError: when the disk is full.
        :raises JournalError: when the journal cannot be written.
        """
        self._finish("abort", seq, EntryState.ABORTED, None, "aborted", reason, details)

    def record(self, *, kind: str, uid: bytes | None, card_number: int | None, amount_cents: int,
               balance_cents: int | None, decision: str, reason: str, details: dict[str, Any],
               counter_after: int | None = None) -> int:
        """A finished (DONE) entry in one step: a tap that wrote nothing to the
        card, such as a denial. ``counter_after`` is the card's counter as read.

        :returns: the entry's sequence number.
        :raises TypeError: when ``details`` is not JSON.
        :raises JournalFullError: when the disk is full.
        :raises JournalError: when the journal cannot be written.
        """
        return self._append("record an entry", kind, EntryState.DONE, uid, card_number, None, counter_after,
                            amount_cents, balance_cents, decision, reason, details)

    # -- intents ------------------------------------------------------------------------------------

    def unresolved(self) -> list[JournalEntry]:
        """INTENTs not completed nor aborted (a crash or a card pulled away
        between :meth:`begin` and :meth:`complete`), oldest first.

        :raises JournalError: when the journal cannot be read.
        """
        # Without statistics the planner would rather scan the whole table in seq order.
        rows = self._read(f"{_SELECT} INDEXED BY entries_intents WHERE state = 'intent' ORDER BY seq")
        return [self._entry(row) for row in rows]

    def resolve(self, uid: bytes, card_counter: int) -> list[JournalEntry]:
        """Settle the INTENTs of the card ``uid``, now read with transaction
        counter ``card_counter``: each becomes DONE when ``card_counter >=
        counter_after`` (the write landed), else ABORTED. Cheap when the card
        has none (one indexed read), so call it on every read of a card.

        The rule assumes no other device wrote the card meanwhile: another
        device's write also raises the counter. The counter seen is kept in
        ``details["resolved_counter"]`` so the back office, which sees every
        device's writes, can check; a counter below ``counter_before`` (a
        restored or cloned card) is ABORTED with ``details["anomaly"]``.

        :returns: the settled entries, oldest first (empty when none were open).
        :raises JournalFullError: when the disk is full: the intents stay open.
        :raises JournalError: when the journal cannot be used.
        """
        open_ = self._read("SELECT seq FROM entries WHERE state = 'intent' AND uid = ? ORDER BY seq", (uid,))
        if not open_:
            return []
        resolved_at = _timestamp(self._now())
        with self._write("resolve intents") as conn:
            rows = conn.execute(f"{_SELECT} WHERE state = 'intent' AND uid = ? ORDER BY seq", (uid,)).fetchall()
            seqs = []
            for row in rows:
                intent = self._entry(row)
                after, before = intent.counter_after, intent.counter_before
                details = {**intent.details, "resolved_counter": card_counter}
                if after is not None and card_counter >= after:
                    state = EntryState.DONE
                    reason = f"card seen again with counter {card_counter} >= {after}: the write landed"
                elif before is not None and card_counter < before:
                    state = EntryState.ABORTED
                    reason = (f"card seen again with counter {card_counter}, below {before} before the write: "
                              "a restored or cloned card")
                    details["anomaly"] = "counter_went_back"
                else:
                    state = EntryState.ABORTED
                    reason = f"card seen again with counter {card_counter} < {after}: the write never landed"
                conn.execute(_FINISH, (state.value, None, "resolved", reason, _dump(details), resolved_at,
                                       intent.seq))
                seqs.append(intent.seq)
            settled = conn.execute(f"{_SELECT} WHERE seq IN ({', '.join('?' * len(seqs))}) ORDER BY seq",
                                   seqs).fetchall()
        return [self._entry(row) for row in settled]

    # -- reading ------------------------------------------------------------------------------------

    def entry(self, seq: int) -> JournalEntry:
        """The entry numbered ``seq``.

        :raises UnknownEntryError: when there is none (never written, or pruned).
        :raises JournalError: when the journal cannot be read.
        """
        rows = self._read(f"{_SELECT} WHERE seq = ?", (seq,))
        if not rows:
            raise UnknownEntryError(f"journal {self.path}: no entry {seq}")
        return self._entry(rows[0])

    def last_seq(self) -> int:
        """The highest sequence number ever given (0 for a new journal), even
        if that entry was pruned since.

        :raises JournalError: when the journal cannot be read.
        """
        return int(self._read("SELECT last_seq FROM journal WHERE id = 1")[0][0])

    # -- sync ---------------------------------------------------------------------------------------

    def unacked(self, limit: int = 500, *, after_seq: int = 0) -> list[JournalEntry]:
        """Entries whose current revision the server has not acknowledged, in
        sequence order, at most ``limit``, only those numbered above
        ``after_seq`` (the sync agent fills its window of batches in flight
        without reading again what it already sent). Unresolved INTENTs are
        included: the server must know a tap may have moved money; when the
        intent is settled its new revision comes back here.

        :raises ValueError: when ``limit`` is not positive or ``after_seq`` is negative.
        :raises JournalError: when the journal cannot be read.
        """
        if limit <= 0:
            raise ValueError(f"limit must be positive, not {limit}")
        if after_seq < 0:
            raise ValueError(f"after_seq must not be negative, not {after_seq}")
        # INDEXED BY: the partial index holds only the backlog, and says so if the condition ever drifts from it.
        rows = self._read(f"{_SELECT} INDEXED BY entries_unacked WHERE ({_UNACKED}) AND seq > ? ORDER BY seq LIMIT ?",
                          (after_seq, limit))
        return [self._entry(row) for row in rows]

    def mark_acked(self, acks: Iterable[JournalEntry | tuple[int, int]]) -> int:
        """Record the server's application-level acks (sent after its
        database commit, never an MQTT PUBACK). Each ack names a revision:
        a published :class:`JournalEntry` or its :attr:`~JournalEntry.ack_key`
        ``(seq, rev)``. An ack for a revision that is no longer current (the
        entry changed after it was published) or for an unknown seq changes
        nothing.

        :returns: how many entries became acknowledged.
        :raises TypeError: for a bare sequence number (it does not say which
            revision the server holds).
        :raises JournalFullError: when the disk is full: nothing was marked.
        :raises JournalError: when the journal cannot be written.
        """
        keys: list[tuple[int, int, int]] = []
        for ack in acks:
            if isinstance(ack, JournalEntry):
                seq, rev = ack.ack_key
            elif isinstance(ack, tuple) and len(ack) == 2:
                seq, rev = ack
            else:
                raise TypeError(f"an ack is a JournalEntry or a (seq, rev) pair, not {ack!r}: "
                                "a bare seq does not say which revision the server holds")
            keys.append((rev, seq, rev))
        if not keys:
            return 0
        with self._write("mark entries acknowledged") as conn:
            before = conn.total_changes
            conn.executemany("UPDATE entries SET acked_rev = ? WHERE seq = ? AND rev = ? AND acked_rev IS NOT rev",
                             keys)
            return conn.total_changes - before

    def mark_acked_ranges(self, ranges: Iterable[tuple[int, int, int]]) -> int:
        """:meth:`mark_acked` for ranges ``(first, last, rev)``: the server
        holds every entry ``first``..``last`` at revision ``rev`` (what its
        ack says, one statement per range instead of one per entry). An entry
        of the range at another revision is left as it is.

        :returns: how many entries became acknowledged.
        :raises JournalFullError: when the disk is full: nothing was marked.
        :raises JournalError: when the journal cannot be written.
        """
        rows = [(rev, first, last, rev) for first, last, rev in ranges]
        if not rows:
            return 0
        with self._write("mark entries acknowledged") as conn:
            before = conn.total_changes
            conn.executemany("UPDATE entries SET acked_rev = ? WHERE seq BETWEEN ? AND ? AND rev = ? "
                             "AND acked_rev IS NOT rev", rows)
            return conn.total_changes - before

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: a number that changes whenever
        another connection (the tap loop's process) commits to the file, and
        not on this connection's own writes. A cheap way for the sync agent
        to learn that there are new entries or new revisions, without a query.

        :raises JournalError: when the journal cannot be read.
        """
        return int(self._read("PRAGMA data_version")[0][0])

    def backlog(self) -> int:
        """How many entries wait for an ack (what :meth:`unacked` would return without a limit).

        :raises JournalError: when the journal cannot be read.
        """
        return int(self._read(f"SELECT count(*) FROM entries WHERE {_UNACKED}")[0][0])

    def prune(self, older_than: dt.timedelta = dt.timedelta(0)) -> int:
        """Delete acknowledged, settled entries created ``older_than`` ago or
        earlier (all of them by default), to bound the file. Their sequence
        numbers are never given again; INTENTs are kept until resolved. The
        sync agent calls it hourly with ``[sync] retention``.

        :returns: how many entries were deleted.
        :raises JournalFullError: when the disk is full (deleting needs WAL space too).
        :raises JournalError: when the journal cannot be written.
        """
        cutoff = _timestamp(self._now() - older_than)
        with self._write("prune") as conn:
            return conn.execute("DELETE FROM entries WHERE state != 'intent' AND acked_rev IS rev "
                                "AND created_at <= ?", (cutoff,)).rowcount

    # -- lifetime -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (idempotent). Committed entries are already on disk."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, device_id={self.device_id}{'' if self._conn else ', closed'})"
