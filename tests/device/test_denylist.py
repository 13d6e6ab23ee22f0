"""The deny-list store: lookups by card number and by UID, full and delta
updates with their version rules, what survives reopening (the log and the
merged arrays), no torn update whatever fails or is killed mid-way, and
another connection's updates (the sync agent's, seen by the validator)
taken up by ``refresh``, only once committed."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device import denylist
from device.denylist import DenyEntry, DenyList, uid_key
from device.errors import DenyListEntryError, DenyListError, DenyListVersionError, DeviceError
from tests.device import denylist_writer

ROOT = Path(__file__).resolve().parents[2]
UID4 = bytes.fromhex("C0FFEE42")
UID7 = bytes.fromhex("04A1B2C3D4E5F6")
CARD = 6033_0000_0000_0001


def card(n: int) -> int:
    return CARD + n


def uid(n: int) -> bytes:
    return n.to_bytes(4, "big")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "denylist.sqlite3"


@pytest.fixture
def deny_list(path: Path) -> Iterator[DenyList]:
    with DenyList(path) as opened:
        yield opened


def contents(deny_list: DenyList, cards: range = range(20), uids: range = range(20)) -> dict[object, str | None]:
    """The answer for every card number and UID of the small test universe."""
    answers: dict[object, str | None] = {card(n): deny_list.is_denied(card(n), None) for n in cards}
    answers.update({uid(n): deny_list.is_denied(None, uid(n)) for n in uids})
    answers["version"] = str(deny_list.version)
    answers["keys"] = str(len(deny_list))
    return answers


# -- entries -------------------------------------------------------------


@pytest.mark.parametrize(("card_number", "uid_bytes", "reason", "message"), [
    (None, None, "lost", "needs a card number, a UID or both"),
    (-1, None, "lost", "not an integer of 64 bits"),
    (2**64, None, "lost", "not an integer of 64 bits"),
    (True, None, "lost", "not an integer of 64 bits"),
    ("6033", None, "lost", "not an integer of 64 bits"),
    (None, b"\x01\x02\x03", "lost", "not 4 or 7 bytes"),
    (None, bytes(10), "lost", "not 4 or 7 bytes"),
    (None, bytearray(4), "lost", "not 4 or 7 bytes"),
    (1, None, None, "not a string"),
])
def test_an_entry_is_checked_when_made(card_number: object, uid_bytes: object, reason: object, message: str) -> None:
    with pytest.raises(DenyListEntryError, match=message) as caught:
        DenyEntry(card_number, uid_bytes, reason)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, DeviceError)


def test_uid_keys_keep_4_and_7_byte_uids_apart() -> None:
    assert uid_key(bytes.fromhex("01020304")) != uid_key(bytes.fromhex("00000001020304"))
    assert uid_key(UID7) < 2**63  # fits SQLite's signed integer


# -- lookups ---------------------------------------------------------------


def test_a_new_list_is_empty_at_version_0(deny_list: DenyList, path: Path) -> None:
    assert deny_list.version == 0 and len(deny_list) == 0 and deny_list.overlay_size == 0
    assert deny_list.is_denied(CARD, UID4) is None
    assert path.exists()


def test_each_key_of_an_entry_is_denied_on_its_own(deny_list: DenyList) -> None:
    deny_list.apply_full(1, [DenyEntry(card(1), UID4, "lost"), DenyEntry(card(2), None, "stolen"),
                             DenyEntry(None, UID7, "fraud")])
    assert deny_list.is_denied(card(1), UID4) == "lost"
    assert deny_list.is_denied(card(1), None) == "lost"
    assert deny_list.is_denied(None, UID4) == "lost"
    assert deny_list.is_denied(card(9), UID4) == "lost"  # a known UID on an unknown card number
    assert deny_list.is_denied(card(2), uid(9)) == "stolen"
    assert deny_list.is_denied(None, UID7) == "fraud"
    assert deny_list.is_denied(card(3), uid(3)) is None
    assert deny_list.is_denied(None, None) is None
    assert len(deny_list) == 4  # keys: two card numbers and two UIDs


def test_the_card_numbers_reason_wins_when_both_keys_are_denied(deny_list: DenyList) -> None:
    deny_list.apply_full(1, [DenyEntry(card(1), None, "lost"), DenyEntry(None, UID4, "cloned UID")])
    assert deny_list.is_denied(card(1), UID4) == "lost"
    assert deny_list.is_denied(card(2), UID4) == "cloned UID"


def test_uids_of_4_and_7_bytes_never_match_each_other(deny_list: DenyList) -> None:
    deny_list.apply_full(1, [DenyEntry(None, bytes.fromhex("01020304"), "short")])
    assert deny_list.is_denied(None, bytes.fromhex("00000001020304")) is None
    assert deny_list.is_denied(None, bytes.fromhex("01020304")) == "short"
    assert deny_list.is_denied(None, bytes(10)) is None  # another length matches nothing


def test_card_numbers_over_the_full_64_bits(path: Path) -> None:
    """SQLite has no unsigned integer: numbers from 2**63 are stored negative
    in the log, and must still sort, merge and reload in unsigned order."""
    numbers = [0, 1, 2**63 - 1, 2**63, 2**63 + 5, 2**64 - 1]
    with DenyList(path, compact_at=2) as deny_list:
        deny_list.apply_full(1, [DenyEntry(n, None, f"n{i}") for i, n in enumerate(numbers[::2])])
        deny_list.apply_delta(1, 2, [DenyEntry(n, None, f"n{i}") for i, n in enumerate(numbers) if i % 2], [])
        expected = {n: f"n{i}" if i % 2 else f"n{i // 2}" for i, n in enumerate(numbers)}
        assert {n: deny_list.is_denied(n, None) for n in numbers} == expected
    with DenyList(path) as deny_list:  # the merged arrays, read back
        assert {n: deny_list.is_denied(n, None) for n in numbers} == expected
        deny_list.apply_delta(2, 3, [], [DenyEntry(2**64 - 1, None, "")])
    with DenyList(path) as deny_list:  # the log, replayed
        assert deny_list.is_denied(2**64 - 1, None) is None and deny_list.is_denied(2**63, None) == expected[2**63]


# -- versions ----------------------------------------------------------------


def test_a_full_list_replaces_everything(deny_list: DenyList) -> None:
    deny_list.apply_full(1, [DenyEntry(card(1), uid(1), "lost"), DenyEntry(card(2), uid(2), "lost")])
    deny_list.apply_delta(1, 2, [DenyEntry(card(3), None, "stolen")], [])
    deny_list.apply_full(3, [DenyEntry(card(2), None, "fraud")])
    assert deny_list.version == 3 and len(deny_list) == 1
    assert [deny_list.is_denied(card(n), uid(n)) for n in (1, 2, 3)] == [None, "fraud", None]


def test_a_full_list_at_the_version_held_is_applied_again_but_an_older_one_is_refused(deny_list: DenyList) -> None:
    deny_list.apply_full(5, [DenyEntry(card(1), None, "lost")])
    deny_list.apply_full(5, [DenyEntry(card(2), None, "lost")])  # re-sent: applied
    assert deny_list.is_denied(card(2), None) == "lost" and deny_list.is_denied(card(1), None) is None
    with pytest.raises(DenyListVersionError, match="older than the version held, 5") as caught:
        deny_list.apply_full(4, [DenyEntry(card(3), None, "lost")])
    error = caught.value
    assert error.stale and (error.held, error.from_version, error.to_version) == (5, None, 4)
    assert deny_list.version == 5 and deny_list.is_denied(card(3), None) is None


def test_deltas_chain_and_the_chain_survives_reopening(path: Path) -> None:
    with DenyList(path) as deny_list:
        deny_list.apply_delta(0, 1, [DenyEntry(card(1), uid(1), "lost")], [])  # from nothing
        deny_list.apply_delta(1, 2, [DenyEntry(card(2), None, "stolen")], [])
        deny_list.apply_delta(2, 5, [], [DenyEntry(card(1), uid(1), "")])  # versions may skip
        before = contents(deny_list)
    assert before["version"] == "5" and before[card(2)] == "stolen" and before[card(1)] is None
    with DenyList(path) as deny_list:
        assert contents(deny_list) == before


def test_a_delta_from_another_version_is_refused_and_says_to_ask_for_a_full_list(deny_list: DenyList) -> None:
    deny_list.apply_full(3, [DenyEntry(card(1), None, "lost")])
    before = contents(deny_list)
    for from_version in (2, 4):
        with pytest.raises(DenyListVersionError, match="does not start from the version held, 3") as caught:
            deny_list.apply_delta(from_version, 7, [DenyEntry(card(2), None, "lost")], [])
        assert not caught.value.stale  # a gap: the device asks for a full list
    assert contents(deny_list) == before


def test_a_replayed_delta_is_refused_as_stale(deny_list: DenyList) -> None:
    deny_list.apply_full(1, [DenyEntry(card(1), None, "lost")])
    delta = ([DenyEntry(card(2), None, "stolen")], [DenyEntry(card(1), None, "")])
    deny_list.apply_delta(1, 2, *delta)
    after = contents(deny_list)
    with pytest.raises(DenyListVersionError) as caught:
        deny_list.apply_delta(1, 2, *delta)
    assert caught.value.stale and caught.value.held == 2
    assert contents(deny_list) == after


def test_a_delta_that_does_not_go_forward_is_refused(deny_list: DenyList) -> None:
    deny_list.apply_full(2, [])
    for to_version in (2, 1):
        with pytest.raises(DenyListVersionError, match="does not go forward"):
            deny_list.apply_delta(2, to_version, [DenyEntry(card(1), None, "lost")], [])
    assert deny_list.version == 2 and len(deny_list) == 0


@pytest.mark.parametrize("version", [0, -1, True, 2**63, "3", None])
def test_a_version_is_an_integer_from_1(deny_list: DenyList, version: object) -> None:
    with pytest.raises(DenyListEntryError, match="is not an integer from"):
        deny_list.apply_full(version, [])  # type: ignore[arg-type]
    with pytest.raises(DenyListEntryError, match="is not an integer from"):
        deny_list.apply_delta(0, version, [], [])  # type: ignore[arg-type]
    assert deny_list.version == 0


# -- entries in updates ----------------------------------------------------


def test_removing_an_entry_removes_the_keys_it_names(deny_list: DenyList) -> None:
    deny_list.apply_full(1, [DenyEntry(card(1), uid(1), "lost"), DenyEntry(card(2), uid(2), "lost")])
    deny_list.apply_delta(1, 2, [], [DenyEntry(card(1), None, "any reason"), DenyEntry(card(2), uid(2), "")])
    assert deny_list.is_denied(card(1), None) is None and deny_list.is_denied(None, uid(1)) == "lost"
    assert deny_list.is_denied(card(2), uid(2)) is None
    deny_list.apply_delta(2, 3, [], [DenyEntry(card(9), uid(9), "")])  # nothing to remove: fine
    assert len(deny_list) == 1


def test_a_key_named_twice_keeps_the_last_reason(deny_list: DenyList) -> None:
    deny_list.apply_full(1, [DenyEntry(card(1), None, "lost"), DenyEntry(card(1), uid(1), "stolen")])
    assert deny_list.is_denied(card(1), None) == "stolen" and len(deny_list) == 2
    deny_list.apply_delta(1, 2, [DenyEntry(card(1), None, "fraud"), DenyEntry(card(1), None, "found")], [])
    assert deny_list.is_denied(card(1), None) == "found" and len(deny_list) == 2


@pytest.mark.parametrize(("added", "removed", "message"), [
    ([DenyEntry(card(1), None, "")], [], "has no reason"),
    ([(card(1), None, "lost")], [], "is not a DenyEntry"),
    ([], [card(1)], "is not a DenyEntry"),
    ([DenyEntry(card(5), uid(1), "lost")], [DenyEntry(None, uid(1), "")], "both added and removed"),
    ([DenyEntry(card(1), None, "lost")], [DenyEntry(card(1), uid(5), "")], "both added and removed"),
])
def test_a_bad_delta_changes_nothing(deny_list: DenyList, path: Path, added: list[object], removed: list[object],
                                     message: str) -> None:
    deny_list.apply_full(1, [DenyEntry(card(1), uid(1), "lost")])
    before = contents(deny_list)
    with pytest.raises(DenyListEntryError, match=message):
        deny_list.apply_delta(1, 2, added, removed)  # type: ignore[arg-type]
    assert contents(deny_list) == before
    with DenyList(path) as reopened:
        assert contents(reopened) == before


def test_a_bad_full_list_changes_nothing(deny_list: DenyList) -> None:
    deny_list.apply_full(1, [DenyEntry(card(1), uid(1), "lost")])
    before = contents(deny_list)
    for entries in ([DenyEntry(card(2), None, "")], [DenyEntry(card(2), None, "x"), "not an entry"]):
        with pytest.raises(DenyListEntryError):
            deny_list.apply_full(2, entries)  # type: ignore[arg-type]
    assert contents(deny_list) == before


def test_more_than_256_reasons(path: Path) -> None:
    """Reason numbers start as one byte each and widen when the reasons outgrow it."""
    with DenyList(path, compact_at=50) as deny_list:
        deny_list.apply_full(1, [DenyEntry(card(n), None, f"reason {n}") for n in range(200)])
        for version in range(2, 6):  # 400 new reasons, merged along the way
            deny_list.apply_delta(version - 1, version, [DenyEntry(None, uid(100 * version + n), f"uid reason {n}")
                                                         for n in range(100)] + [DenyEntry(card(7), None, "new")], [])
        assert deny_list.is_denied(card(199), None) == "reason 199"
        assert deny_list.is_denied(None, uid(599)) == "uid reason 99"
        assert deny_list.is_denied(card(7), None) == "new"
    with DenyList(path) as deny_list:
        assert deny_list.is_denied(card(199), None) == "reason 199" and deny_list.is_denied(None, uid(599)) == (
            "uid reason 99")
    with sqlite3.connect(path) as conn:
        assert {row[0] for row in conn.execute("SELECT rid_type FROM base")} <= {"B", "H"}
        assert "H" in {row[0] for row in conn.execute("SELECT rid_type FROM base")}


# -- the overlay and its merges ---------------------------------------------


def _log_rows(path: Path) -> dict[int, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT space, count(*) FROM changes GROUP BY space").fetchall())


def test_the_log_is_merged_one_key_space_at_a_time(path: Path) -> None:
    with DenyList(path, compact_at=10) as deny_list:
        deny_list.apply_full(1, [DenyEntry(card(n), uid(n), "lost") for n in range(100)])
        deny_list.apply_delta(1, 2, [DenyEntry(card(100 + n), uid(100 + n), "new") for n in range(8)], [])
        assert _log_rows(path) == {0: 8, 1: 8} and deny_list.overlay_size == 16
        deny_list.apply_delta(2, 3, [DenyEntry(card(200 + n), uid(200 + n), "new") for n in range(4)],
                              [DenyEntry(card(n), uid(n), "") for n in range(2)])
        assert _log_rows(path) == {1: 14}  # card numbers merged (14 > 10); UIDs wait for the next update
        assert deny_list.overlay_size == 14
        deny_list.apply_delta(3, 4, [DenyEntry(card(300), None, "new")], [])
        assert _log_rows(path) == {0: 1}
        after = contents(deny_list, range(310), range(310))
    with DenyList(path) as deny_list:
        assert contents(deny_list, range(310), range(310)) == after
        assert after[card(0)] is None and after[card(150)] is None and after[card(203)] == "new"
        assert after[card(99)] == "lost" and after[uid(107)] == "new" and after[card(300)] == "new"


def test_an_unchanged_key_is_not_logged(path: Path) -> None:
    with DenyList(path) as deny_list:
        deny_list.apply_full(1, [DenyEntry(card(1), None, "lost")])
        deny_list.apply_delta(1, 2, [DenyEntry(card(1), None, "lost")], [DenyEntry(card(5), None, "")])
        assert _log_rows(path) == {} and deny_list.overlay_size == 0 and deny_list.version == 2


MODEL_CARDS = [0, 1, 2, 3, CARD, 2**63 - 1, 2**63, 2**64 - 1]
MODEL_UIDS = [bytes(4), UID4, b"\xff" * 4, bytes(7), UID7, b"\xff" * 7]
REASONS = st.sampled_from(["lost", "stolen", "fraud"])
CARDS, UIDS = st.sampled_from(MODEL_CARDS), st.sampled_from(MODEL_UIDS)
ENTRIES = st.one_of(st.builds(DenyEntry, CARDS, st.none() | UIDS, REASONS),
                    st.builds(DenyEntry, st.none(), UIDS, REASONS))
@dataclass(frozen=True)
class Full:
    step: int  # the version it brings, relative to the one held
    entries: list[DenyEntry]


@dataclass(frozen=True)
class Delta:
    skew: int  # its from_version, relative to the one held (0: it chains)
    added: list[DenyEntry]
    removed: list[DenyEntry]


@dataclass(frozen=True)
class Reopen:
    pass


OPERATIONS = st.lists(st.one_of(
    st.builds(Full, st.integers(-1, 2), st.lists(ENTRIES, max_size=8)),
    st.builds(Delta, st.integers(-1, 1), st.lists(ENTRIES, max_size=5), st.lists(ENTRIES, max_size=5)),
    st.builds(Reopen),
), max_size=12)


@given(operations=OPERATIONS, compact_at=st.integers(1, 6))
def test_the_list_agrees_with_a_model_through_any_updates_and_reopening(
        operations: list[Full | Delta | Reopen], compact_at: int) -> None:
    """Whatever the updates (refused ones included), merges and reopenings,
    every key answers as a plain dict of the accepted updates would."""
    cards: dict[int, str] = {}
    uids: dict[bytes, str] = {}
    version = 0
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "d.sqlite3"
        deny_list = DenyList(file, compact_at=compact_at)
        try:
            for operation in operations:
                if isinstance(operation, Reopen):
                    deny_list.close()
                    deny_list = DenyList(file, compact_at=compact_at)
                elif isinstance(operation, Full):
                    target = version + operation.step
                    if target < max(version, 1):
                        with pytest.raises((DenyListVersionError, DenyListEntryError)):
                            deny_list.apply_full(target, operation.entries)
                    else:
                        deny_list.apply_full(target, operation.entries)
                        cards, uids, version = {}, {}, target
                        _apply(cards, uids, operation.entries, [])
                else:
                    gone = {key for e in operation.removed for key in (e.card_number, e.uid) if key is not None}
                    clash = any(e.card_number in gone or e.uid in gone for e in operation.added)
                    if operation.skew or clash:
                        with pytest.raises((DenyListVersionError, DenyListEntryError)):
                            deny_list.apply_delta(version + operation.skew, version + 1, operation.added,
                                                  operation.removed)
                    else:
                        deny_list.apply_delta(version, version + 1, operation.added, operation.removed)
                        version += 1
                        _apply(cards, uids, operation.added, operation.removed)
                _check(deny_list, cards, uids, version)
            deny_list.close()
            with DenyList(file) as reopened:
                _check(reopened, cards, uids, version)
        finally:
            deny_list.close()


def _apply(cards: dict[int, str], uids: dict[bytes, str], added: list[DenyEntry], removed: list[DenyEntry]) -> None:
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


def _check(deny_list: DenyList, cards: dict[int, str], uids: dict[bytes, str], version: int) -> None:
    assert deny_list.version == version
    assert len(deny_list) == len(cards) + len(uids)
    for number in MODEL_CARDS:
        assert deny_list.is_denied(number, None) == cards.get(number)
    for value in MODEL_UIDS:
        assert deny_list.is_denied(None, value) == uids.get(value)


# -- failures: nothing half-applied -----------------------------------------


def _failing(entries: list[DenyEntry], after: int) -> Iterator[DenyEntry]:
    """The entries, then an exception (a caller's stream that breaks)."""
    yield from entries[:after]
    raise ConnectionResetError("the list stopped arriving")


def test_an_exception_from_the_entries_changes_nothing(deny_list: DenyList, path: Path) -> None:
    deny_list.apply_full(1, [DenyEntry(card(n), uid(n), "lost") for n in range(10)])
    before = contents(deny_list)
    new = [DenyEntry(card(n), uid(n), "stolen") for n in range(5, 15)]
    with pytest.raises(ConnectionResetError):
        deny_list.apply_full(2, _failing(new, 5))
    with pytest.raises(ConnectionResetError):
        deny_list.apply_delta(1, 2, _failing(new, 5), [])
    with pytest.raises(ConnectionResetError):
        deny_list.apply_delta(1, 2, new, _failing([DenyEntry(card(1), None, "")], 1))
    assert contents(deny_list) == before
    with DenyList(path) as reopened:
        assert contents(reopened) == before


@pytest.mark.parametrize("update", ["full", "delta", "merging delta"])
def test_a_failure_while_writing_changes_nothing_on_disk_or_in_memory(
        path: Path, monkeypatch: pytest.MonkeyPatch, update: str) -> None:
    """The write fails after SQLite has taken part of the update (a disk that
    fills up, an I/O error): the transaction rolls back, the index in memory
    stays the old one, and the error says what and keeps the cause."""
    with DenyList(path, compact_at=10) as deny_list:
        deny_list.apply_full(1, [DenyEntry(card(n), uid(n), "lost") for n in range(10)])
        deny_list.apply_delta(1, 2, [DenyEntry(card(20), uid(20), "new")], [])
        before = contents(deny_list, range(40), range(40))
        written = []

        def write_then_fail(conn: sqlite3.Connection, space: int, data: object) -> None:
            original(conn, space, data)
            written.append(space)
            raise sqlite3.OperationalError("disk I/O error")

        original = DenyList._write_base
        monkeypatch.setattr(DenyList, "_write_base", staticmethod(write_then_fail))
        monkeypatch.setattr(denylist, "_Changes", _FailingChanges)  # for the delta that merges nothing
        with pytest.raises(DenyListError, match=r"cannot update deny list .*disk I/O error") as caught:
            if update == "full":
                deny_list.apply_full(3, [DenyEntry(card(30), uid(30), "new")])
            elif update == "delta":
                deny_list.apply_delta(2, 3, [DenyEntry(card(30), None, "new")], [])
            else:  # 12 card numbers changed, over compact_at: the card numbers are merged
                deny_list.apply_delta(2, 3, [DenyEntry(card(30 + n), uid(30 + n), "new") for n in range(10)],
                                      [DenyEntry(card(1), None, "")])
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        assert update == "delta" or written, "the failure came before anything was written"
        assert contents(deny_list, range(40), range(40)) == before
        monkeypatch.undo()
        deny_list.apply_delta(2, 3, [DenyEntry(card(39), None, "after")], [])  # still usable
        before = contents(deny_list, range(40), range(40))
    with DenyList(path) as reopened:
        assert contents(reopened, range(40), range(40)) == before


class _FailingChanges(denylist._Changes):
    """Log rows whose writing fails after the first row."""

    def rows(self, space: int) -> Iterator[tuple[int, int, int | None]]:
        rows = super().rows(space)
        yield next(rows)
        raise sqlite3.OperationalError("disk I/O error")


def test_lookups_answer_from_one_version_while_updates_run(path: Path) -> None:
    """Updates swap the whole index at once, so one lookup reads one version.
    Each delta moves every denial from the card numbers to the UIDs or back:
    a lookup of both keys that mixed two versions could find neither."""
    entries = range(200)
    with DenyList(path, compact_at=150) as deny_list:  # merges happen along the way too
        deny_list.apply_full(1, [DenyEntry(card(n), None, "by card") for n in entries])
        stop = threading.Event()
        misses: list[int] = []

        def read() -> None:
            while not stop.is_set():
                misses.extend(n for n in entries if deny_list.is_denied(card(n), uid(n)) is None)

        reader = threading.Thread(target=read)
        reader.start()
        try:
            for version in range(2, 30):
                by_card = [DenyEntry(card(n), None, "by card") for n in entries]
                by_uid = [DenyEntry(None, uid(n), "by UID") for n in entries]
                added, removed = (by_uid, by_card) if version % 2 == 0 else (by_card, by_uid)
                deny_list.apply_delta(version - 1, version, added, removed)
        finally:
            stop.set()
            reader.join()
        assert not misses
        assert deny_list.version == 29 and deny_list.is_denied(card(0), None) == "by card"


# -- another connection's updates (the validator's view of the agent's) -----


def test_refresh_takes_up_what_another_connection_committed(path: Path) -> None:
    with DenyList(path) as reader, DenyList(path) as writer:
        assert reader.refresh() is False  # nothing committed since it was opened
        writer.apply_full(1, [DenyEntry(card(1), uid(1), "lost")])
        assert reader.is_denied(card(1), None) is None and reader.version == 0  # the list held, until...
        assert reader.refresh() is True
        assert contents(reader) == contents(writer)
        assert reader.is_denied(card(1), None) == "lost"
        assert reader.refresh() is False  # only the cheap check while nothing changes
        writer.apply_delta(1, 2, [DenyEntry(card(2), None, "stolen")], [DenyEntry(card(1), uid(1), "")])
        assert reader.refresh() is True
        assert contents(reader) == contents(writer)
        assert (reader.is_denied(card(1), uid(1)), reader.is_denied(card(2), None)) == (None, "stolen")


def test_refresh_after_many_updates_and_merges_equals_reopening(path: Path) -> None:
    with DenyList(path) as reader, DenyList(path, compact_at=8) as writer:
        writer.apply_full(1, [DenyEntry(card(n), uid(n), "lost") for n in range(10)])
        for version in range(2, 8):  # logged changes, then merged arrays
            writer.apply_delta(version - 1, version, [DenyEntry(card(10 + version), uid(10 + version), "new")],
                               [DenyEntry(card(version), None, "")])
        assert reader.refresh() is True
        with DenyList(path) as reopened:
            assert contents(reader) == contents(reopened) == contents(writer)
            assert reader.overlay_size == reopened.overlay_size


def test_an_update_that_failed_in_another_connection_is_never_seen(path: Path) -> None:
    with DenyList(path) as reader, DenyList(path) as writer:
        writer.apply_full(1, [DenyEntry(card(1), None, "lost")])
        reader.refresh()
        before = contents(reader)
        with pytest.raises(ConnectionResetError):
            writer.apply_delta(1, 2, _failing([DenyEntry(card(2), None, "stolen")] * 3, 2), [])
        with pytest.raises(DenyListEntryError, match="both added and removed"):
            writer.apply_delta(1, 2, [DenyEntry(card(2), None, "stolen")], [DenyEntry(card(2), None, "")])
        assert reader.refresh() is False
        assert contents(reader) == before


def test_refresh_keeps_the_list_held_when_the_file_is_damaged(path: Path) -> None:
    with DenyList(path) as reader, DenyList(path) as writer:
        writer.apply_full(1, [DenyEntry(card(n), uid(n), "lost") for n in range(5)])
        reader.refresh()
        before = contents(reader)
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE base SET crc = crc + 1 WHERE space = 0")
        with pytest.raises(DenyListError, match="corrupt"):
            reader.refresh()
        assert contents(reader) == before
        with pytest.raises(DenyListError, match="corrupt"):  # tried again, still refused
            reader.refresh()


def test_refresh_of_a_closed_list_does_nothing(path: Path) -> None:
    with DenyList(path) as writer:
        reader = DenyList(path)
        reader.close()
        writer.apply_full(1, [DenyEntry(card(1), None, "lost")])
        assert reader.refresh() is False
        assert reader.is_denied(card(1), None) is None


def test_a_second_writer_starts_from_what_is_on_disk(path: Path) -> None:
    with DenyList(path) as first, DenyList(path) as second:
        first.apply_full(1, [DenyEntry(card(1), None, "lost")])
        second.apply_delta(1, 2, [DenyEntry(card(2), None, "stolen")], [])  # it takes up version 1 first
        first.apply_delta(2, 3, [DenyEntry(card(3), None, "fraud")], [])
        second.refresh()
        assert contents(first) == contents(second)
        with DenyList(path) as reopened:
            assert contents(reopened) == contents(first)
            assert reopened.version == 3


def test_an_update_computed_while_another_connection_commits_is_refused(path: Path) -> None:
    """The other connection commits after this update has read the list held
    and before its transaction: it must not be written over that commit."""
    with DenyList(path) as first, DenyList(path) as second:
        first.apply_full(1, [DenyEntry(card(1), None, "lost")])
        second.refresh()

        def added() -> Iterator[DenyEntry]:
            first.apply_delta(1, 2, [DenyEntry(card(2), None, "stolen")], [])
            yield DenyEntry(card(3), None, "fraud")

        with pytest.raises(DenyListError, match="updated by another connection meanwhile"):
            second.apply_delta(1, 2, added(), [])
        with DenyList(path) as reopened:
            assert contents(reopened) == contents(first)
            assert reopened.is_denied(card(3), None) is None
        assert second.refresh() is True
        assert contents(second) == contents(first)


# -- the file ---------------------------------------------------------------


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "denylist.sqlite3"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(DenyListError, match="cannot read deny list") as caught:
        DenyList(path)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_another_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE entries (seq INTEGER PRIMARY KEY)")
    with pytest.raises(DenyListError, match="is not a deny list"):
        DenyList(path)


def test_a_newer_format_is_refused(path: Path) -> None:
    DenyList(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(DenyListError, match="format 99, newer"):
        DenyList(path)


@pytest.mark.parametrize("damage", [
    "UPDATE base SET keys = zeroblob(length(keys)) WHERE space = 0",
    "UPDATE base SET rids = substr(rids, 2) WHERE space = 1",
    "UPDATE base SET keys = substr(keys, 2) WHERE space = 0",
    "DELETE FROM reasons WHERE id = 0",
    "UPDATE changes SET rid = 99",
])
def test_a_damaged_file_is_refused(path: Path, damage: str) -> None:
    with DenyList(path) as deny_list:
        deny_list.apply_full(1, [DenyEntry(card(n), uid(n), "lost") for n in range(5)])
        deny_list.apply_delta(1, 2, [DenyEntry(card(9), None, "stolen")], [])
    with sqlite3.connect(path) as conn:
        conn.execute(damage)
    with pytest.raises(DenyListError, match="corrupt"):
        DenyList(path)


def test_a_closed_list_still_answers_but_takes_no_update(path: Path) -> None:
    with DenyList(path) as deny_list:
        deny_list.apply_full(1, [DenyEntry(card(1), None, "lost")])
    assert deny_list.is_denied(card(1), None) == "lost"
    with pytest.raises(DenyListError, match="is closed"):
        deny_list.apply_delta(1, 2, [], [])
    deny_list.close()  # twice is fine


def test_the_file_uses_wal_and_full_sync(deny_list: DenyList, path: Path) -> None:
    assert deny_list._conn is not None
    assert deny_list._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert deny_list._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == denylist.PAGE_SIZE


# -- kill -9 ---------------------------------------------------------------

KILLS = 12
INSIDE = 3


def _run_and_kill(path: Path, rng: random.Random) -> tuple[int, bool]:
    """Start the writer, let it apply a few updates and kill -9 it at a random
    moment: the last version it reported done, and whether it was killed
    inside an update (after its ``begin``, before its ``done``)."""
    writer = subprocess.Popen([sys.executable, "-m", "tests.device.denylist_writer", str(path)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stderr is not None
    lines = [writer.stdout.readline() for _ in range(rng.randint(2, 8))]
    time.sleep(rng.uniform(0, 0.02))  # updates take milliseconds to tens of them
    writer.kill()
    lines += writer.stdout.read().splitlines()
    assert writer.wait() == -9, f"the writer stopped by itself: {writer.stderr.read()}"
    writer.stdout.close()
    writer.stderr.close()
    steps = [line.split() for line in lines if line.strip()]
    done = [int(version) for what, version in steps if what == "done"]
    assert done, "the writer applied nothing"
    return done[-1], steps[-1][0] == "begin"


def test_an_update_killed_half_way_leaves_the_previous_version(path: Path) -> None:
    """The writer is killed -9 until at least three kills landed inside an
    update (a full list, a delta, a merge). Each time the file reopens at the
    last version reported done or the one after it (committed, not yet
    reported), holding exactly what that version holds."""
    rng = random.Random(7)
    inside = 0
    watcher = DenyList(path)  # a validator's list, open throughout: it refreshes after each kill
    for _ in range(KILLS):
        done, killed_inside = _run_and_kill(path, rng)
        inside += killed_inside
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        watcher.refresh()
        with DenyList(path) as deny_list:
            assert contents(watcher) == contents(deny_list)
            assert deny_list.version in (done, done + 1)
            cards, uids = denylist_writer.model(deny_list.version)
            assert len(deny_list) == len(cards) + len(uids)
            assert all(deny_list.is_denied(number, None) == reason for number, reason in cards.items())
            assert all(deny_list.is_denied(None, value) == reason for value, reason in uids.items())
            next_cards, next_uids = denylist_writer.model(deny_list.version + 1)
            assert all(deny_list.is_denied(number, None) is None for number in next_cards.keys() - cards.keys())
            assert all(deny_list.is_denied(None, value) is None for value in next_uids.keys() - uids.keys())
        if inside >= INSIDE:
            break
    watcher.close()
    assert inside >= INSIDE, f"only {inside} of {KILLS} kills landed inside an update"
