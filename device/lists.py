"""The versioned lists a device holds besides the deny-list, in one SQLite
file (:data:`LISTS_FILENAME` in the data directory):

- :class:`PendingLoads`: top-ups bought online or at a kiosk, waiting for
  the card's next tap. Each carries the diversified key B of that one card's
  purse sector, so the validator can credit that card and no other.
- :class:`ConfigStore`: named configuration documents (fare tables, device
  parameters) as JSON objects, each with its own version; and the version of
  the server's configuration list, whose updates carry documents.

Versions follow the server's lists (as OCPP's ``SendLocalList``): an
integer, ``0`` meaning "nothing held yet". A full list replaces what is held
and must not be older than it; a delta must start from the version held, else
:class:`~device.errors.ListVersionError` and the device asks for a full list.
Every change runs in one ``BEGIN IMMEDIATE`` transaction: it lands whole or
not at all, whatever fails half-way (a bad entry, a full disk, an exception
from the caller's iterable).

The file is opened in WAL mode with ``synchronous=FULL`` (a load, once
acknowledged to the server, must survive a power cut) and created with mode
0600, since it holds card keys; SQLite gives its ``-wal`` and ``-shm`` files
the same mode. A :class:`ListStore` is used by one thread; the sync agent and
the tap loop each open their own on the same file, and WAL lets one write
while the other reads (a writer waits up to :data:`BUSY_TIMEOUT` for another).
Every read goes to the file, so the tap loop sees each update the agent
commits at its next read; :meth:`ListStore.data_version` tells it cheaply
whether there was one (the validator's fare table is parsed again only then).
The file is marked with :data:`APPLICATION_ID` and :data:`SCHEMA_VERSION`, so
another SQLite file (the journal, say) or a newer schema is refused.

Exactly-once is the card's business: it records the sequence number of the
last load it applied, and :meth:`PendingLoads.for_card` returns only the loads
after it. :meth:`PendingLoads.mark_applied` only tidies the local list.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from card_layout.trailer import KEY_SIZE
from card_layout.value_block import VALUE_MAX

from .errors import ListEntryError, ListStoreError, ListVersionError

LISTS_FILENAME = "lists.sqlite3"
"""The file's name in the device's ``data_dir``."""

BUSY_TIMEOUT = 5.0
"""Seconds a change waits, by default, for another connection's change to finish."""

LOAD_SEQ_MAX = 0xFFFF
"""Highest load sequence number: the card keeps 16 bits of it."""

CARD_NUMBER_MAX = 2**64 - 1
"""Highest card number (64 bits on the card's identity record)."""

_SCHEMA = """
CREATE TABLE list_version (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
CREATE TABLE pending_load (
    card_number INTEGER NOT NULL,   -- stored as signed 64 bits: see _to_sql
    load_seq INTEGER NOT NULL,
    amount_cents INTEGER NOT NULL,
    purse_key_b BLOB NOT NULL,
    created_at TEXT NOT NULL,       -- ISO 8601, UTC
    PRIMARY KEY (card_number, load_seq)
) WITHOUT ROWID;
CREATE TABLE config_document (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    document TEXT NOT NULL          -- JSON object
);
"""

_PENDING = "pending_loads"
_CONFIG = "config"  # the version of the server's configuration list, as a whole

APPLICATION_ID = 0x43434C53
"""``PRAGMA application_id`` of a list store ("CCLS"), so that another SQLite file is refused."""

SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of the schema this module writes."""


@dataclass(frozen=True)
class PendingLoad:
    """A top-up waiting for a card's next tap; checked on construction.

    :attr load_seq: 1..65535; the card applies loads in this order and
        records the last one applied.
    :attr amount_cents: what to credit, above 0 (and within a value block).
    :attr purse_key_b: the diversified key B (6 bytes) of this card's purse
        sector, sent by the server with the load.
    :attr created_at: when the load was bought, with a time zone.
    :raises ListEntryError: for a field out of range or of the wrong type.
    """

    card_number: int
    load_seq: int
    amount_cents: int
    purse_key_b: bytes = field(repr=False)  # a card key: kept out of logs and tracebacks
    created_at: dt.datetime

    def __post_init__(self) -> None:
        for name, high, low in (("card_number", CARD_NUMBER_MAX, 0), ("load_seq", LOAD_SEQ_MAX, 1),
                                ("amount_cents", VALUE_MAX, 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ListEntryError(f"pending load: {name} must be an integer in {low}..{high}, got {value!r}")
        if not isinstance(self.purse_key_b, bytes) or len(self.purse_key_b) != KEY_SIZE:
            got = (f"{len(self.purse_key_b)} bytes" if isinstance(self.purse_key_b, bytes)
                   else type(self.purse_key_b).__name__)  # not the value: it is a key
            raise ListEntryError(f"pending load {self.card_number}/{self.load_seq}: purse_key_b must be "
                                 f"{KEY_SIZE} bytes, got {got}")
        if not isinstance(self.created_at, dt.datetime) or self.created_at.utcoffset() is None:
            raise ListEntryError(f"pending load {self.card_number}/{self.load_seq}: created_at must be a datetime "
                                 f"with a time zone, got {self.created_at!r}")


# SQLite integers are signed 64 bits; card numbers use all 64 bits unsigned.
def _to_sql(card_number: int) -> int:
    return card_number - 2**64 if card_number >= 2**63 else card_number


def _from_sql(value: int) -> int:
    return value + 2**64 if value < 0 else value


def _check_version(name: str, version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**63:
        raise ListEntryError(f"{name}: a version is an integer from 1, got {version!r}")
    return version


class _Store:
    """What both stores share: the connection and its transactions."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed if the block ends
        normally, rolled back on any exception, which is re-raised (an
        ``sqlite3.Error`` as :class:`ListStoreError`)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise ListStoreError(f"{what}: cannot start a change: {exc}") from exc
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException as exc:
            # SQLite may have rolled back already (SQLITE_FULL, SQLITE_IOERR); never mask the first error.
            if self._conn.in_transaction:
                with suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise ListStoreError(f"{what}: {exc}; nothing was changed") from exc
            raise

    def _read(self, what: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise ListStoreError(f"{what}: {exc}") from exc


class PendingLoads(_Store):
    """The pending loads of every card, as one versioned list."""

    @property
    def version(self) -> int:
        """The version held, 0 before the first list.

        :raises ListStoreError: when the file cannot be read.
        """
        rows = self._read("pending loads", "SELECT version FROM list_version WHERE name = ?", (_PENDING,))
        return int(rows[0][0]) if rows else 0

    @staticmethod
    def _held(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT version FROM list_version WHERE name = ?", (_PENDING,)).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _insert(conn: sqlite3.Connection, loads: Iterable[PendingLoad], *, replace: bool,
                refused: set[tuple[int, int]] | frozenset[tuple[int, int]] = frozenset()) -> None:
        seen: set[tuple[int, int]] = set()
        for load in loads:
            if not isinstance(load, PendingLoad):
                raise ListEntryError(f"pending loads: expected a PendingLoad, got {load!r}")
            ident = (load.card_number, load.load_seq)
            if ident in seen:
                raise ListEntryError(f"pending loads: card {load.card_number} load {load.load_seq} given twice")
            if ident in refused:
                raise ListEntryError(f"pending loads: card {load.card_number} load {load.load_seq} is both added "
                                     "and removed by one delta")
            seen.add(ident)
            conn.execute(
                f"INSERT {'OR REPLACE ' if replace else ''}INTO pending_load"
                " (card_number, load_seq, amount_cents, purse_key_b, created_at) VALUES (?, ?, ?, ?, ?)",
                (_to_sql(load.card_number), load.load_seq, load.amount_cents, load.purse_key_b,
                 load.created_at.astimezone(dt.UTC).isoformat()),
            )

    @staticmethod
    def _set_version(conn: sqlite3.Connection, version: int) -> None:
        conn.execute("INSERT OR REPLACE INTO list_version (name, version) VALUES (?, ?)", (_PENDING, version))

    def apply_full(self, version: int, loads: Iterable[PendingLoad]) -> None:
        """Replace every pending load with ``loads`` and hold ``version``.

        A full list at the version held is applied again (a re-sent list);
        an older one is refused, so a replayed old list cannot bring back
        loads the server has since withdrawn.

        :raises ListVersionError: (``stale``) when ``version`` is older than
            the one held.
        :raises ListEntryError: for a bad version, an entry that is not a
            :class:`PendingLoad`, or a load given twice.
        :raises ListStoreError: when the file cannot be written.
        Nothing changes when anything is raised, including an exception from
        iterating ``loads``.
        """
        _check_version("pending loads", version)
        with self._write("pending loads") as conn:
            held = self._held(conn)
            if version < held:
                raise ListVersionError(f"pending loads: full list version {version} is older than the version "
                                       f"held, {held}", held=held, from_version=None, to_version=version)
            conn.execute("DELETE FROM pending_load")
            self._insert(conn, loads, replace=False)
            self._set_version(conn, version)

    def apply_delta(
        self,
        from_version: int,
        to_version: int,
        added: Iterable[PendingLoad],
        removed_seqs: Iterable[tuple[int, int]],
    ) -> None:
        """Go from ``from_version`` to ``to_version``: remove the loads named
        by ``(card_number, load_seq)`` in ``removed_seqs`` (one not held is
        ignored: it may have been applied already), then add ``added`` (a load
        already held is replaced by the new one).

        :raises ListVersionError: when ``from_version`` is not the version
            held (``stale`` when ``to_version`` is not newer than it: a replay;
            otherwise ask for a full list), or ``to_version`` is not after
            ``from_version``.
        :raises ListEntryError: for a bad version, an entry that is not a
            :class:`PendingLoad`, a load added twice or both added and
            removed, or a removal that is not a pair of integers.
        :raises ListStoreError: when the file cannot be written.
        Nothing changes when anything is raised, including an exception from
        iterating ``added`` or ``removed_seqs``.
        """
        if from_version != 0:
            _check_version("pending loads", from_version)
        _check_version("pending loads", to_version)
        with self._write("pending loads") as conn:
            held = self._held(conn)
            if to_version <= from_version or from_version != held:
                why = ("does not go forward" if to_version <= from_version
                       else f"does not start from the version held, {held}; a full list is needed")
                raise ListVersionError(f"pending loads: delta from version {from_version} to {to_version} {why}",
                                       held=held, from_version=from_version, to_version=to_version)
            removed: set[tuple[int, int]] = set()
            for pair in removed_seqs:
                card_number, load_seq = _removal(pair)
                removed.add((card_number, load_seq))
                conn.execute("DELETE FROM pending_load WHERE card_number = ? AND load_seq = ?",
                             (_to_sql(card_number), load_seq))
            self._insert(conn, added, replace=True, refused=removed)
            self._set_version(conn, to_version)

    def for_card(self, card_number: int, after_seq: int = 0) -> list[PendingLoad]:
        """The loads of ``card_number`` with a sequence number after
        ``after_seq`` (the last one the card applied), in sequence order.

        :raises ListStoreError: when the file cannot be read.
        """
        rows = self._read(
            "pending loads",
            "SELECT card_number, load_seq, amount_cents, purse_key_b, created_at FROM pending_load"
            " WHERE card_number = ? AND load_seq > ? ORDER BY load_seq",
            (_to_sql(_card(card_number)), after_seq),
        )
        return [PendingLoad(_from_sql(number), seq, amount, bytes(key), dt.datetime.fromisoformat(created))
                for number, seq, amount, key, created in rows]

    def mark_applied(self, card_number: int, up_to_seq: int) -> int:
        """Forget the loads of ``card_number`` up to ``up_to_seq``, now on
        the card (the journal tells the server). The version does not change.

        :returns: how many loads were removed.
        :raises ListStoreError: when the file cannot be written.
        """
        with self._write("pending loads") as conn:
            cursor = conn.execute("DELETE FROM pending_load WHERE card_number = ? AND load_seq <= ?",
                                  (_to_sql(_card(card_number)), up_to_seq))
            return cursor.rowcount

    def __len__(self) -> int:
        """How many loads are pending, for every card.

        :raises ListStoreError: when the file cannot be read.
        """
        return int(self._read("pending loads", "SELECT count(*) FROM pending_load")[0][0])


def _card(card_number: object) -> int:
    if isinstance(card_number, bool) or not isinstance(card_number, int) or not 0 <= card_number <= CARD_NUMBER_MAX:
        raise ListEntryError(f"pending loads: a card number is an integer in 0..{CARD_NUMBER_MAX}, got {card_number!r}")
    return card_number


def _removal(pair: object) -> tuple[int, int]:
    if (isinstance(pair, tuple) and len(pair) == 2
            and all(isinstance(item, int) and not isinstance(item, bool) for item in pair)):
        return _card(pair[0]), pair[1]
    raise ListEntryError(f"pending loads: a removal is (card_number, load_seq), got {pair!r}")


class ConfigStore(_Store):
    """Named configuration documents (JSON objects), each with its own version."""

    def get(self, name: str) -> tuple[int, dict[str, Any]] | None:
        """``(version, document)`` of ``name``, or ``None`` when not held.

        :raises ListStoreError: when the file cannot be read.
        """
        rows = self._read("config store", "SELECT version, document FROM config_document WHERE name = ?", (name,))
        if not rows:
            return None
        version, text = rows[0]
        return int(version), json.loads(text)

    @staticmethod
    def _text(name: str, version: int, document: Mapping[str, Any]) -> str:
        if not isinstance(name, str) or not name:
            raise ListEntryError(f"config store: a document name is a non-empty string, got {name!r}")
        _check_version(f"config {name!r}", version)
        if not isinstance(document, Mapping):
            raise ListEntryError(f"config {name!r}: a document is a JSON object, got {type(document).__name__}")
        try:
            return json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ListEntryError(f"config {name!r}: not a JSON document: {exc}") from exc

    def put(self, name: str, version: int, document: Mapping[str, Any]) -> None:
        """Hold ``document`` as version ``version`` of ``name``.

        :raises ListVersionError: (always ``stale``) when ``version`` is not
            newer than the one held (a re-sent or replayed document).
        :raises ListEntryError: for an empty name, a bad version, or a
            document that is not a JSON object.
        :raises ListStoreError: when the file cannot be written.
        """
        text = self._text(name, version, document)
        with self._write("config store") as conn:
            rows = conn.execute("SELECT version FROM config_document WHERE name = ?", (name,)).fetchall()
            if rows and version <= rows[0][0]:
                raise ListVersionError(f"config {name!r}: version {version} is not newer than the version held, "
                                       f"{rows[0][0]}", held=rows[0][0], from_version=None, to_version=version)
            conn.execute("INSERT OR REPLACE INTO config_document (name, version, document) VALUES (?, ?, ?)",
                         (name, version, text))

    @property
    def version(self) -> int:
        """The version of the server's configuration list held (0 before the
        first update), which :meth:`apply_update` keeps; documents put one by
        one (:meth:`put`) do not change it.

        :raises ListStoreError: when the file cannot be read.
        """
        rows = self._read("config store", "SELECT version FROM list_version WHERE name = ?", (_CONFIG,))
        return int(rows[0][0]) if rows else 0

    def apply_update(self, from_version: int | None, to_version: int,
                     documents: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
        """Apply an update of the server's configuration list, all of it or
        nothing: a full list (``from_version`` ``None``; at least as new as the
        version held) or a delta from the version held. Each ``(name,
        document)`` is held as version ``to_version``, unless a version at least
        as new of that document is held already (the config file's own fare
        table, say), which is kept. Documents the update does not name are kept.

        :returns: the names of the documents written.
        :raises ListVersionError: for a full list older than the version held
            (``stale``), or a delta that does not start from the version held
            (``stale`` when ``to_version`` is not newer than it: a replay;
            otherwise ask for a full list) or does not go forward.
        :raises ListEntryError: for a bad version, a document named twice, an
            empty name or a document that is not a JSON object.
        :raises ListStoreError: when the file cannot be written.
        """
        _check_version("config list", to_version)
        if from_version is not None and from_version != 0:
            _check_version("config list", from_version)
        with self._write("config store") as conn:
            row = conn.execute("SELECT version FROM list_version WHERE name = ?", (_CONFIG,)).fetchone()
            held = int(row[0]) if row else 0
            if from_version is None:
                if to_version < held:
                    raise ListVersionError(f"config list: full list version {to_version} is older than the version "
                                           f"held, {held}", held=held, from_version=None, to_version=to_version)
            elif to_version <= from_version or from_version != held:
                why = ("does not go forward" if to_version <= from_version
                       else f"does not start from the version held, {held}; a full list is needed")
                raise ListVersionError(f"config list: delta from version {from_version} to {to_version} {why}",
                                       held=held, from_version=from_version, to_version=to_version)
            written: list[str] = []
            seen: set[str] = set()
            for name, document in documents:
                text = self._text(name, to_version, document)
                if name in seen:
                    raise ListEntryError(f"config list: document {name!r} given twice")
                seen.add(name)
                current = conn.execute("SELECT version FROM config_document WHERE name = ?", (name,)).fetchone()
                if current is not None and current[0] >= to_version:
                    continue
                conn.execute("INSERT OR REPLACE INTO config_document (name, version, document) VALUES (?, ?, ?)",
                             (name, to_version, text))
                written.append(name)
            conn.execute("INSERT OR REPLACE INTO list_version (name, version) VALUES (?, ?)", (_CONFIG, to_version))
        return written

    def versions(self) -> dict[str, int]:
        """The version of every document held, by name.

        :raises ListStoreError: when the file cannot be read.
        """
        return {name: int(version) for name, version in
                self._read("config store", "SELECT name, version FROM config_document ORDER BY name")}


class ListStore:
    """The lists' SQLite file at ``path``, created (mode 0600) if missing,
    with :attr:`pending_loads` and :attr:`config` on one connection. Use from
    one thread; close it, or use it as a context manager. A change waits up
    to ``busy_timeout`` seconds for another connection's change to finish.

    :raises ListStoreError: when the file cannot be created or opened, or is
        not an SQLite database.
    """

    def __init__(self, path: os.PathLike[str] | str, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        try:
            # Created here rather than by SQLite, so that it is private from the first byte.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as exc:
            raise ListStoreError(f"cannot create the list store {self.path}: {exc.strerror}") from exc
        try:
            # Autocommit: every change opens its own BEGIN IMMEDIATE (see _Store._write).
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise ListStoreError(f"cannot open the list store {self.path}: {exc}") from exc
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self._conn.close()
            raise ListStoreError(f"cannot use the list store {self.path}: {exc}") from exc
        except ListStoreError:
            self._conn.close()
            raise
        self.pending_loads = PendingLoads(self._conn)
        self.config = ConfigStore(self._conn)

    def _prepare(self) -> None:
        conn = self._conn
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ListStoreError(f"{self.path}: SQLite refused WAL mode (journal_mode is {mode})")
        conn.execute("PRAGMA synchronous=FULL")  # a load acknowledged to the server survives a power cut
        conn.execute("BEGIN IMMEDIATE")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            schema = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app_id == 0 and schema == 0 and tables == 0:
                # executescript() would commit our transaction: one statement at a time.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif app_id != APPLICATION_ID:
                raise ListStoreError(f"{self.path} is not a list store (another SQLite database)")
            elif schema > SCHEMA_VERSION:
                raise ListStoreError(f"{self.path}: list store schema {schema} is newer than this program's "
                                     f"({SCHEMA_VERSION}); upgrade the device software")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: a number that changes whenever
        another connection (the sync agent's process) commits to the file, and
        not on this connection's own writes. A cheap way for the validator to
        learn, between taps, that a list changed, without a query.

        :raises ListStoreError: when the file cannot be read.
        """
        try:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise ListStoreError(f"list store {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the file. Idempotent; the stores cannot be used after."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
