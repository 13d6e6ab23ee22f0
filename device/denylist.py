"""The deny-list: the cards a field device refuses offline, by card number or
by UID, each with the reason shown to the rider.

The server sends it as versioned full or differential lists, in the spirit
of OCPP's ``SendLocalList`` (signatures are checked before they get here).
Versions are integers, ``0`` meaning "nothing held yet", with the same rules
as the other lists (:mod:`device.lists`): a full list replaces everything and
must not be older than the version held (the same version is applied again:
a re-sent list); a delta must start from the version held and lead to a newer
one, else :class:`~device.errors.DenyListVersionError`, whose ``stale`` says
whether to ignore the update (already held) or ask for a full list.

Keys, not entries, are what is denied. An entry names a card number, a UID
(4 or 7 bytes) or both, and denies each key it names; removing an entry
removes the keys it names (its reason is not compared). When a tap matches
both keys, the card number's reason is returned.

In memory (the hot path, :meth:`DenyList.is_denied`), each key space (card
numbers, UIDs) is a sorted ``array('Q')`` searched with ``bisect``, 8 bytes a
key, with a parallel array of reason numbers (1 byte each while there are at
most 256 reasons), and an overlay of the changes since the arrays were built:
one dict from each changed key to its reason number or to "removed". A UID is
keyed as ``len(uid) << 56 | value``, so a 4-byte UID never equals a 7-byte
one. A million entries with both keys take about 17 MB (a set of Python ints
would take over 60 bytes a key); the overlay adds about 100 bytes a key, and
is bounded by ``compact_at``.

On disk (SQLite, WAL, ``synchronous=FULL``, 64 KiB pages) the same shape: per
key space one row holding the sorted arrays as little-endian blobs with a
CRC-32, a ``changes`` log mirroring the overlay, a ``reasons`` table and the
version. A delta appends to the log. When a key space's log would pass
``compact_at`` rows, that space's overlay and the delta are merged into new
arrays and its blobs rewritten instead, in the same transaction; at most one
key space per update (the one with the longer log), so no update rewrites
both. Opening the file reads the blobs whole (no row per key), then replays
the log.

An update is one ``BEGIN IMMEDIATE`` transaction, and the SQLite commit is the
truth: the new in-memory index is built beside the old one and swapped in by
one assignment only after the commit, so an exception or a kill mid-update
leaves the old list on disk and in memory. Lookups take no lock and each
reads one index, old or new, never a mix; updates are serialised by a lock.

Two processes share the file: the sync agent applies the server's updates,
the validator looks cards up. Each holds its own index, so the reader calls
:meth:`DenyList.refresh` between taps: it compares SQLite's ``PRAGMA
data_version`` (which moves when another connection commits, a few
microseconds to read) with the one it last loaded, and only when it moved
reads the file again as opening does and swaps the new index in, by the same
one assignment. Only committed updates are ever seen: one rolled back or
killed half-way leaves the reader on the list it holds. An update also
starts by taking up another connection's commits, and refuses to write over
one that lands while it is computed, so a second writer never builds on a
stale index.

Schema (``PRAGMA user_version`` = :data:`FORMAT`)::

    meta     (name TEXT PRIMARY KEY, value INTEGER)      -- 'version'
    reasons  (id INTEGER PRIMARY KEY, text TEXT)         -- ids 0, 1, 2, ... in order
    base     (space INTEGER PRIMARY KEY,                 -- 0 card numbers, 1 UIDs
              keys BLOB, rids BLOB, rid_type TEXT, crc INTEGER)
    changes  (seq INTEGER PRIMARY KEY, space INTEGER,    -- replayed in seq order over base
              key INTEGER, rid INTEGER)                  -- rid NULL: removed

Keys in ``changes`` are stored as signed 64-bit integers (card numbers from
2**63 wrap to negative), since SQLite has no unsigned type.

Measured by ``bench/denylist.py`` on the 2-core development machine, for a
million entries: about 17 MB of index, a lookup in 1.5 to 2.5 us, a delta of
10,000 entries in about 110 ms (merge included), 0.06 s to open the file; a
:meth:`~DenyList.refresh` that finds nothing new takes about 3.5 us, one that
reloads about as long as opening.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import compress, islice, repeat
from operator import and_, eq, lshift, lt, or_, rshift
from pathlib import Path
from types import TracebackType
from typing import Self

from .errors import DenyListEntryError, DenyListError, DenyListVersionError

FORMAT = 1
"""The file format this module writes (``PRAGMA user_version``)."""

DENYLIST_FILENAME = "denylist.sqlite3"
"""The deny-list's file name in the device's ``data_dir``."""

UID_SIZES = (4, 7)
"""UID lengths a MIFARE Classic card has: single and double size."""

CARD_NUMBER_MAX = 2**64 - 1
"""Highest card number (64 bits on the card's identity record)."""

VERSION_MAX = 2**63 - 1
"""Highest list version (SQLite's INTEGER)."""

COMPACT_AT = 16_384
"""Default number of logged changes of one key space past which they are
merged into its arrays (its overlay then stays under about 3 MB, for deltas
of up to 10,000 entries)."""

PAGE_SIZE = 65_536
"""SQLite page size of a new file."""

BUSY_TIMEOUT = 5.0
"""Seconds an update waits for another connection's update to finish."""

CARD, UID = 0, 1
_SPACE_NAMES = ("card numbers", "UIDs")
_REMOVE = -1  # the reason number of a removed key, in an overlay or a _Changes
_BLOB_CHUNK = 1 << 20
_SIGN = 1 << 63
_WRAP = 1 << 64

_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE reasons (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE base (
    space INTEGER PRIMARY KEY CHECK (space IN (0, 1)),
    keys BLOB NOT NULL,
    rids BLOB NOT NULL,
    rid_type TEXT NOT NULL CHECK (rid_type IN ('B', 'H', 'I')),
    crc INTEGER NOT NULL
);
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY,
    space INTEGER NOT NULL CHECK (space IN (0, 1)),
    key INTEGER NOT NULL,
    rid INTEGER
);
INSERT INTO meta (name, value) VALUES ('version', 0);
"""


@dataclass(frozen=True, slots=True)
class DenyEntry:
    """One deny-list entry: a card number, a UID, or both, and why.

    :raises DenyListEntryError: with neither key, a card number outside 64
        bits, a UID that is not 4 or 7 bytes, or a reason that is not a string.
    """

    card_number: int | None
    uid: bytes | None
    reason: str

    def __post_init__(self) -> None:
        if self.card_number is None and self.uid is None:
            raise DenyListEntryError("a deny-list entry needs a card number, a UID or both")
        if self.card_number is not None and (
            isinstance(self.card_number, bool)
            or not isinstance(self.card_number, int)
            or not 0 <= self.card_number <= CARD_NUMBER_MAX
        ):
            raise DenyListEntryError(f"card number {self.card_number!r} is not an integer of 64 bits")
        if self.uid is not None and (not isinstance(self.uid, bytes) or len(self.uid) not in UID_SIZES):
            raise DenyListEntryError(f"UID {self.uid!r} is not 4 or 7 bytes")
        if not isinstance(self.reason, str):
            raise DenyListEntryError(f"reason {self.reason!r} is not a string")


def uid_key(uid: bytes) -> int:
    """The index key of a 4- or 7-byte UID: its length above its value."""
    return len(uid) << 56 | int.from_bytes(uid, "big")


def _rid_type(reason_count: int) -> str:
    """The smallest array type holding reason numbers below ``reason_count``."""
    return "B" if reason_count <= 1 << 8 else "H" if reason_count <= 1 << 16 else "I"


class _Space:
    """One key space (card numbers or UIDs) as an immutable snapshot: sorted
    ``keys`` with their reason numbers ``rids``, and an ``overlay`` of the
    changes since they were built: key to reason number, or ``_REMOVE`` for a
    key of ``keys`` that is gone (one dict, so a lookup probes one table).
    Never changed once published; updates build a new one.
    """

    __slots__ = ("keys", "overlay", "rids", "size")

    def __init__(self, keys: array[int], rids: array[int], overlay: dict[int, int] | None = None,
                 size: int | None = None) -> None:
        self.keys = keys
        self.rids = rids
        self.overlay: dict[int, int] = overlay if overlay is not None else {}
        self.size = len(keys) if size is None else size

    @classmethod
    def empty(cls) -> _Space:
        return cls(array("Q"), array("B"))

    @classmethod
    def build(cls, keys: array[int], rids: array[int], rid_type: str) -> _Space:
        """From keys in any order with their reason numbers; the last of a
        repeated key wins."""
        if all(map(lt, keys, islice(keys, 1, None))):  # already sorted and unique: the cheap path
            return cls(keys, array(rid_type, rids))
        # Sort key and reason together as one int (key << 32 | rid), every loop
        # in C: about half the memory and time of a dict.
        packed = sorted(map(or_, map(lshift, keys, repeat(32)), rids))
        sorted_keys = array("Q", map(rshift, packed, repeat(32)))
        if all(map(lt, sorted_keys, islice(sorted_keys, 1, None))):
            return cls(sorted_keys, array(rid_type, map(and_, packed, repeat(0xFFFF_FFFF))))
        del packed, sorted_keys
        latest = dict(zip(keys, rids, strict=True))  # repeated keys: the last one wins
        order = sorted(latest)
        return cls(array("Q", order), array(rid_type, map(latest.__getitem__, order)))

    def changed(self, changes: _Changes) -> tuple[_Space, _Changes]:
        """A new snapshot with ``changes`` applied in order, and those of them
        that did change something (what the log must keep)."""
        unique = sorted(set(changes.keys))
        positions, found = _search(self.keys, unique)
        in_arrays = dict(zip(compress(unique, found), map(self.rids.__getitem__, compress(positions, found)),
                             strict=True))
        overlay = dict(self.overlay)
        size = self.size
        effective = _Changes()
        for key, rid in changes:
            base = in_arrays.get(key)
            current = overlay.get(key, base)
            if current == _REMOVE:
                current = None
            if rid == _REMOVE:
                if current is None:
                    continue
                if base is None:
                    del overlay[key]
                else:
                    overlay[key] = _REMOVE
                size -= 1
            else:
                if rid == current:
                    continue
                if rid == base:  # back to the arrays' reason: nothing to overlay
                    overlay.pop(key, None)
                else:
                    overlay[key] = rid
                if current is None:
                    size += 1
            effective.append(key, rid)
        return _Space(self.keys, self.rids, overlay, size), effective

    def merged(self, changes: _Changes, rid_type: str) -> _Space:
        """A new snapshot with the overlay and ``changes`` merged into fresh
        arrays, and no overlay.

        The runs of untouched keys between two changed keys are copied whole
        and joined with the added keys in one C call: the Python work grows
        with the overlay, not with the list. The parts are kept as ``bytes``,
        which the garbage collector does not track: tens of thousands of
        tracked objects alive at once would set off collections, up to a full
        one (tens of milliseconds in a big process).
        """
        overlay = dict(self.overlay)
        overlay.update(iter(changes))  # the last change of a key wins; no need to compare with the arrays
        keys = self.keys
        rids = self.rids if self.rids.typecode == rid_type else array(rid_type, self.rids)
        count = len(keys)
        key_parts: list[bytes] = []
        rid_parts: list[bytes] = []
        new_keys, new_rids = array("Q"), array(rid_type)  # the added keys since the last run
        key_view, rid_view = memoryview(keys), memoryview(rids)
        order = sorted(overlay)
        # Search each key first in a window after the previous one, a few
        # times the mean gap between changed keys: nearby memory, few probes.
        window = 4 * count // len(order) + 16 if order else 0
        src = 0
        for key in order:
            hi = src + window
            i = bisect_left(keys, key, src, hi) if hi < count and key <= keys[hi] else bisect_left(keys, key, src)
            if i != src:
                if new_keys:
                    key_parts.append(new_keys.tobytes())
                    rid_parts.append(new_rids.tobytes())
                    new_keys, new_rids = array("Q"), array(rid_type)
                key_parts.append(key_view[src:i].tobytes())
                rid_parts.append(rid_view[src:i].tobytes())
            src = i + 1 if i < count and keys[i] == key else i  # skip a removed or re-reasoned key
            rid = overlay[key]
            if rid != _REMOVE:
                new_keys.append(key)
                new_rids.append(rid)
        key_parts += (new_keys.tobytes(), key_view[src:].tobytes())
        rid_parts += (new_rids.tobytes(), rid_view[src:].tobytes())
        key_bytes = b"".join(key_parts)
        size = len(key_bytes) // 8
        out_keys, out_rids = array("Q", [0]) * size, array(rid_type, [0]) * size  # exact sizes
        memoryview(out_keys).cast("B")[:] = key_bytes
        memoryview(out_rids).cast("B")[:] = b"".join(rid_parts)
        return _Space(out_keys, out_rids)


class _Changes:
    """Changes to one key space, in order: a key and its new reason number,
    or ``_REMOVE``. Two arrays rather than a list of tuples, so that a delta
    of many thousands of changes does not create as many objects for the
    garbage collector to track (see :meth:`_Space.merged`)."""

    __slots__ = ("keys", "rids")

    def __init__(self) -> None:
        self.keys = array("Q")
        self.rids = array("q")

    def append(self, key: int, rid: int) -> None:
        self.keys.append(key)
        self.rids.append(rid)

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self.keys, self.rids, strict=True)

    def rows(self, space: int) -> Iterator[tuple[int, int, int | None]]:
        """The rows of the ``changes`` table."""
        for key, rid in self:
            yield space, _to_sql(key), None if rid == _REMOVE else rid


def _search(keys: array[int], wanted: list[int]) -> tuple[list[int], list[bool]]:
    """Where each of ``wanted`` (sorted) is or would be inserted in ``keys``
    (``bisect_left``), and whether it is there. Each loop runs in C."""
    positions = list(map(bisect_left, repeat(keys), wanted))
    if not keys:
        return positions, [False] * len(wanted)
    last = len(keys) - 1
    return positions, list(map(eq, map(keys.__getitem__, map(min, positions, repeat(last))), wanted))


class _Index:
    """Everything a lookup reads, swapped in as one object; never changed."""

    __slots__ = ("cards", "reasons", "spaces", "uids", "version")

    def __init__(self, version: int, spaces: tuple[_Space, _Space], reasons: tuple[str, ...]) -> None:
        self.version = version
        self.spaces = spaces
        self.cards, self.uids = spaces  # as attributes too: the hot path reads them
        self.reasons = reasons


def _check_version(name: str, version: object, *, lowest: int = 1) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not lowest <= version <= VERSION_MAX:
        raise DenyListEntryError(f"deny list: {name} {version!r} is not an integer from {lowest}")
    return version


def _to_sql(key: int) -> int:
    return key - _WRAP if key >= _SIGN else key


def _little_endian(data: array[int]) -> array[int]:
    if sys.byteorder == "little" or data.itemsize == 1:
        return data
    swapped = array(data.typecode, data)
    swapped.byteswap()
    return swapped


def _crc(keys: array[int], rids: array[int]) -> int:
    return zlib.crc32(_little_endian(rids), zlib.crc32(_little_endian(keys)))


class DenyList:
    """The device's deny-list in a SQLite file, held in memory for lookups.

    ``compact_at`` is the number of logged changes of one key space after
    which they are merged into its arrays (see the module docstring).

    :raises DenyListError: when the file cannot be opened or created, is not
        a deny list, was written by a newer version, or is corrupt.
    """

    def __init__(self, path: Path | str, *, compact_at: int = COMPACT_AT) -> None:
        if compact_at < 1:
            raise ValueError("compact_at must be at least 1")
        self.path = Path(path)
        self._compact_at = compact_at
        self._lock = threading.Lock()
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise DenyListError(f"cannot open deny list {self.path}: {exc}") from exc
        try:
            self._prepare(self._conn)
            # Read before the load: a commit landing in between is loaded again by the next refresh, never missed.
            self._data_version = self._read_data_version(self._conn)
            self._index, self._reason_ids, self._log_rows = self._load(self._conn)
        except BaseException as exc:
            self._conn.close()
            self._conn = None
            if isinstance(exc, sqlite3.Error):
                raise DenyListError(f"cannot read deny list {self.path}: {exc}") from exc
            raise

    # -- lookups ---------------------------------------------------------

    @property
    def version(self) -> int:
        """The version held; 0 when nothing was ever applied."""
        return self._index.version

    def __len__(self) -> int:
        """The number of denied keys: card numbers plus UIDs (an entry naming
        both counts twice)."""
        cards, uids = self._index.spaces
        return cards.size + uids.size

    @property
    def overlay_size(self) -> int:
        """Keys whose state differs from the arrays (the overlay, which the
        ``changes`` log mirrors on disk); for status reports and benchmarks."""
        cards, uids = self._index.spaces
        return len(cards.overlay) + len(uids.overlay)

    def is_denied(self, card_number: int | None, uid: bytes | None) -> str | None:
        """The reason the card is denied, or ``None`` when it is not.

        Either key may be ``None``; a UID that is not 4 or 7 bytes matches
        nothing. When both keys are denied the card number's reason wins.
        """
        # The hot path, written out for each key space: a helper call would
        # cost about as much as the search itself.
        index = self._index
        if card_number is not None:
            space = index.cards
            rid = space.overlay.get(card_number)
            if rid is None:
                keys = space.keys
                i = bisect_left(keys, card_number)
                if i < len(keys) and keys[i] == card_number:
                    return index.reasons[space.rids[i]]
            elif rid != _REMOVE:
                return index.reasons[rid]
        if uid is not None and len(uid) in (4, 7):  # UID_SIZES, as a constant
            key = len(uid) << 56 | int.from_bytes(uid)  # uid_key()
            space = index.uids
            rid = space.overlay.get(key)
            if rid is None:
                keys = space.keys
                i = bisect_left(keys, key)
                if i < len(keys) and keys[i] == key:
                    return index.reasons[space.rids[i]]
            elif rid != _REMOVE:
                return index.reasons[rid]
        return None

    # -- another connection's updates -------------------------------------

    def refresh(self) -> bool:
        """Take up the updates another connection (the sync agent's process)
        committed since this list was loaded: when SQLite's ``PRAGMA
        data_version`` moved, read the file again as opening does and swap the
        new index in by one assignment; otherwise only that check (a few
        microseconds). Lookups meanwhile answer from the list held. Returns
        at once, without waiting, while an update of this object runs (it
        swaps in its own index), and after :meth:`close`.

        :returns: whether a new index was loaded.
        :raises DenyListError: when the file cannot be read or is corrupt;
            the list held stays, and the next call tries again.
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            return self._conn is not None and self._take_up(self._conn)
        finally:
            self._lock.release()

    def _take_up(self, conn: sqlite3.Connection) -> bool:
        """Reload when another connection committed; with the lock held."""
        try:
            data_version = self._read_data_version(conn)
            if data_version == self._data_version:
                return False
            index, reason_ids, log_rows = self._load(conn)
        except sqlite3.Error as exc:
            raise DenyListError(f"cannot read deny list {self.path} again: {exc}") from exc
        self._index = index
        self._reason_ids, self._log_rows, self._data_version = reason_ids, log_rows, data_version
        return True

    @staticmethod
    def _read_data_version(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA data_version").fetchone()[0])

    # -- updates ---------------------------------------------------------

    def apply_full(self, version: int, entries: Iterable[DenyEntry]) -> None:
        """Replace the whole list with ``entries`` and hold ``version``.

        A full list at the version held is applied again (a re-sent list). A
        key named twice keeps the last entry's reason. Peak memory while
        applying is about 100 bytes per key above the index (a dict to drop
        repeated keys) unless the keys come sorted.

        :raises DenyListVersionError: when ``version`` is older than the one
            held (``stale`` is true).
        :raises DenyListEntryError: for a bad version, an entry that is not a
            :class:`DenyEntry`, or an entry without a reason.
        :raises DenyListError: when the file cannot be written (nothing changed).
        """
        _check_version("full list version", version)
        with self._lock:
            conn = self._open_connection()
            self._take_up(conn)
            held = self._index.version
            if version < held:
                raise DenyListVersionError(
                    f"deny list: full list version {version} is older than the version held, {held}",
                    held=held, from_version=None, to_version=version)
            reasons: list[str] = []
            reason_ids: dict[str, int] = {}
            keys = (array("Q"), array("Q"))
            rids = (array("I"), array("I"))
            # The loop runs once per entry of a list of up to millions: locals only.
            add_card, add_card_rid = keys[CARD].append, rids[CARD].append
            add_uid, add_uid_rid = keys[UID].append, rids[UID].append
            from_bytes = int.from_bytes
            for entry in entries:
                rid = reason_ids.get(entry.reason) if type(entry) is DenyEntry else None
                if rid is None:
                    rid = self._reason_id(entry, reasons, reason_ids)
                number, uid = entry.card_number, entry.uid
                if number is not None:
                    add_card(number)
                    add_card_rid(rid)
                if uid is not None:
                    add_uid(len(uid) << 56 | from_bytes(uid, "big"))
                    add_uid_rid(rid)
            rid_type = _rid_type(len(reasons))
            spaces = (_Space.build(keys[CARD], rids[CARD], rid_type), _Space.build(keys[UID], rids[UID], rid_type))
            del keys, rids

            def write(conn: sqlite3.Connection) -> None:
                conn.execute("DELETE FROM changes")
                conn.execute("DELETE FROM reasons")
                conn.executemany("INSERT INTO reasons (id, text) VALUES (?, ?)", enumerate(reasons))
                for space in (CARD, UID):
                    self._write_base(conn, space, spaces[space])
                conn.execute("UPDATE meta SET value = ? WHERE name = 'version'", (version,))

            self._transaction(conn, write)
            self._index = _Index(version, spaces, tuple(reasons))
            self._reason_ids = reason_ids
            self._log_rows = [0, 0]

    def apply_delta(self, from_version: int, to_version: int, added: Iterable[DenyEntry],
                    removed: Iterable[DenyEntry]) -> None:
        """Go from ``from_version`` to ``to_version``: remove the keys named by
        ``removed``, then deny those named by ``added`` (a key added twice
        keeps the last reason). All of it or nothing.

        :raises DenyListVersionError: when ``from_version`` is not the version
            held (``stale`` when ``to_version`` is not newer than it: a replay;
            otherwise ask for a full list), or ``to_version`` is not after
            ``from_version``.
        :raises DenyListEntryError: for a bad version, an entry that is not a
            :class:`DenyEntry`, an added entry without a reason, or a key both
            added and removed.
        :raises DenyListError: when the file cannot be written (nothing changed).
        """
        _check_version("delta from version", from_version, lowest=0)
        _check_version("delta to version", to_version)
        with self._lock:
            conn = self._open_connection()
            self._take_up(conn)
            index = self._index
            held = index.version
            if to_version <= from_version or from_version != held:
                why = ("does not go forward" if to_version <= from_version
                       else f"does not start from the version held, {held}")
                raise DenyListVersionError(f"deny list: delta from version {from_version} to {to_version} {why}",
                                           held=held, from_version=from_version, to_version=to_version)
            reasons = list(index.reasons)
            reason_ids = dict(self._reason_ids)  # a copy: lookups never read it, but a failed update must not grow it
            changes = (_Changes(), _Changes())
            gone: tuple[set[int], set[int]] = (set(), set())
            for entry in removed:
                if not isinstance(entry, DenyEntry):
                    raise DenyListEntryError(f"deny list: {entry!r} is not a DenyEntry")
                if entry.card_number is not None:
                    changes[CARD].append(entry.card_number, _REMOVE)
                    gone[CARD].add(entry.card_number)
                if entry.uid is not None:
                    key = uid_key(entry.uid)
                    changes[UID].append(key, _REMOVE)
                    gone[UID].add(key)
            for entry in added:
                rid = reason_ids.get(entry.reason) if type(entry) is DenyEntry else None
                if rid is None:
                    rid = self._reason_id(entry, reasons, reason_ids)
                if entry.card_number is not None:
                    if entry.card_number in gone[CARD]:
                        raise DenyListEntryError(f"deny list: {entry!r} is both added and removed by one delta")
                    changes[CARD].append(entry.card_number, rid)
                if entry.uid is not None:
                    key = uid_key(entry.uid)
                    if key in gone[UID]:
                        raise DenyListEntryError(f"deny list: {entry!r} is both added and removed by one delta")
                    changes[UID].append(key, rid)
            new_reasons = reasons[len(index.reasons):]
            # Merge at most one key space per update, the one with the longer
            # log, so no single update rewrites both arrays; the other only
            # grows its overlay and log.
            log_rows = [self._log_rows[space] + len(changes[space]) for space in (CARD, UID)]
            compact: int | None = max((CARD, UID), key=log_rows.__getitem__)
            if log_rows[compact] <= self._compact_at:
                compact = None
            spaces: list[_Space] = []
            logged: list[_Changes] = []
            for space in (CARD, UID):
                if space == compact:
                    spaces.append(index.spaces[space].merged(changes[space], _rid_type(len(reasons))))
                    logged.append(_Changes())
                    log_rows[space] = 0
                else:
                    changed, effective = index.spaces[space].changed(changes[space])
                    spaces.append(changed)
                    logged.append(effective)
                    log_rows[space] = self._log_rows[space] + len(effective)

            def write(conn: sqlite3.Connection) -> None:
                conn.executemany("INSERT INTO reasons (id, text) VALUES (?, ?)",
                                 enumerate(new_reasons, start=len(index.reasons)))
                for space in (CARD, UID):
                    if space == compact:
                        conn.execute("DELETE FROM changes WHERE space = ?", (space,))
                        self._write_base(conn, space, spaces[space])
                    else:
                        conn.executemany("INSERT INTO changes (space, key, rid) VALUES (?, ?, ?)",
                                         logged[space].rows(space))
                conn.execute("UPDATE meta SET value = ? WHERE name = 'version'", (to_version,))

            self._transaction(conn, write)
            self._index = _Index(to_version, (spaces[CARD], spaces[UID]), tuple(reasons))
            self._reason_ids = reason_ids
            self._log_rows = log_rows

    # -- life cycle ------------------------------------------------------

    def close(self) -> None:
        """Close the file. Lookups still answer from memory; updates raise
        :class:`~device.errors.DenyListError`."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- internals -------------------------------------------------------

    def _open_connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise DenyListError(f"deny list {self.path} is closed")
        return self._conn

    @staticmethod
    def _reason_id(entry: object, reasons: list[str], reason_ids: dict[str, int]) -> int:
        if not isinstance(entry, DenyEntry):
            raise DenyListEntryError(f"deny list: {entry!r} is not a DenyEntry")
        if not entry.reason:
            raise DenyListEntryError(f"deny list: {entry!r} has no reason")
        rid = reason_ids.get(entry.reason)
        if rid is None:
            rid = reason_ids[entry.reason] = len(reasons)
            reasons.append(entry.reason)
        return rid

    def _transaction(self, conn: sqlite3.Connection, write: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``write`` in one immediate transaction; roll back on any exception."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if self._read_data_version(conn) != self._data_version:
                    # Another connection committed after this update was computed from the list held.
                    raise DenyListError(f"deny list {self.path} was updated by another connection meanwhile; "
                                        "nothing was changed: apply the update again")
                write(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise DenyListError(f"cannot update deny list {self.path}: {exc}") from exc

    @staticmethod
    def _write_base(conn: sqlite3.Connection, space: int, data: _Space) -> None:
        conn.execute("INSERT OR REPLACE INTO base (space, keys, rids, rid_type, crc) VALUES (?, ?, ?, ?, ?)",
                     (space, _little_endian(data.keys), _little_endian(data.rids), data.rids.typecode,
                      _crc(data.keys, data.rids)))

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Set the pragmas, create the schema of a new file, refuse a foreign one."""
        # Before anything is written: a new file gets the largest page. A merge
        # rewrites megabytes of blob, and 64 KiB pages write it about three
        # times faster than 4 KiB ones (fewer WAL frames, fewer system calls).
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        # A merge writes the arrays again; keep the WAL from staying that big.
        conn.execute("PRAGMA journal_size_limit = 4194304")
        conn.execute("BEGIN IMMEDIATE")
        try:
            user_version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
            if user_version == 0 and not tables:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {FORMAT}")
            elif user_version > FORMAT:
                raise DenyListError(f"deny list {self.path} has format {user_version}, newer than this "
                                    f"version understands ({FORMAT})")
            elif user_version != FORMAT or not {"meta", "reasons", "base", "changes"} <= tables:
                raise DenyListError(f"{self.path} is not a deny list")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _load(self, conn: sqlite3.Connection) -> tuple[_Index, dict[str, int], list[int]]:
        """Read the file in one read transaction: base arrays, then the log."""
        conn.execute("BEGIN")
        try:
            version = conn.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()[0]
            reasons = []
            for rid, text in conn.execute("SELECT id, text FROM reasons ORDER BY id"):
                if rid != len(reasons):
                    raise DenyListError(f"deny list {self.path} is corrupt: reason numbers are not 0, 1, 2, ...")
                reasons.append(text)
            spaces = [self._read_base(conn, space, len(reasons)) for space in (CARD, UID)]
            changes = (_Changes(), _Changes())
            for space, key, rid in conn.execute("SELECT space, key, rid FROM changes ORDER BY seq"):
                if rid is not None and not 0 <= rid < len(reasons):
                    raise DenyListError(f"deny list {self.path} is corrupt: a change names reason {rid}")
                changes[space].append(key % _WRAP, _REMOVE if rid is None else rid)
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")
        for space in (CARD, UID):
            spaces[space], _ = spaces[space].changed(changes[space])
        index = _Index(version, (spaces[CARD], spaces[UID]), tuple(reasons))
        return index, {text: rid for rid, text in enumerate(reasons)}, [len(changes[CARD]), len(changes[UID])]

    def _read_base(self, conn: sqlite3.Connection, space: int, reason_count: int) -> _Space:
        row = conn.execute("SELECT length(keys), length(rids), rid_type, crc FROM base WHERE space = ?",
                           (space,)).fetchone()
        if row is None:
            return _Space.empty()
        keys_size, rids_size, rid_type, crc = row
        keys = self._read_blob(conn, space, "keys", "Q", keys_size)
        rids = self._read_blob(conn, space, "rids", rid_type, rids_size)
        if len(keys) != len(rids) or _crc(keys, rids) != crc or (rids and max(rids) >= reason_count):
            raise DenyListError(f"deny list {self.path} is corrupt ({_SPACE_NAMES[space]}); "
                                f"delete it and ask the server for a full list")
        return _Space(keys, rids)

    def _read_blob(self, conn: sqlite3.Connection, space: int, column: str, typecode: str, size: int) -> array[int]:
        """The blob as an array allocated once at its size, read in chunks
        (no second copy of it as one ``bytes``)."""
        data = array(typecode)
        if size % data.itemsize:
            raise DenyListError(f"deny list {self.path} is corrupt: {_SPACE_NAMES[space]} {column} "
                                f"is {size} bytes")
        if not size:
            return data
        data = array(typecode, [0]) * (size // data.itemsize)
        with conn.blobopen("base", column, space, readonly=True) as blob, memoryview(data).cast("B") as target:
            offset = 0
            while offset < size:
                chunk = blob.read(_BLOB_CHUNK)
                if not chunk:
                    raise DenyListError(f"deny list {self.path}: {column} blob ended early")
                target[offset:offset + len(chunk)] = chunk
                offset += len(chunk)
        if sys.byteorder != "little" and data.itemsize > 1:
            data.byteswap()
        return data

