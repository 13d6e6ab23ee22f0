"""Reconciliation: what the back office does with the impossible card
histories ingest flags (``anomalies``).

- Ingest flags ``counter_back``, ``balance_above_shadow`` and
  ``repeated_counter`` as it stores entries (:mod:`sync_server.store`);
  :meth:`Reconciliation.after_ingest` adds ``integrity_failures``: a card
  (by UID, since a card failing its checks has no trusted number) denied for an
  integrity failure :attr:`Policy.integrity_failures` times.
- :meth:`Reconciliation.after_ingest` also flags ``replaced_card_used``: a
  completed entry that moved money on a card after it was replaced (its
  balance went to the duplicate), taken by a device that had not received
  the deny-list yet.
- The policy blocks the card of an open anomaly of the kinds it names
  (:attr:`Policy.auto_block`): on the deny-list by number and UID with the
  reason ``under_review``, and in the registry (state ``blocked``), audited
  as ``system:reconciliation``. Enforcement is idempotent and runs after each
  ingest commit that flagged something and when a worker starts, so a worker
  killed between the two still has its blocks done by the next.
- Staff review each anomaly: ``confirmed`` (fraud or a fault: the card stays
  blocked) or ``dismissed`` (the card may be unblocked; the policy will not
  block it again for that anomaly). A card unblocked while its anomaly is
  still open is blocked again: review first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Table, func, select, update
from sqlalchemy.engine import Connection

from . import audit
from .audit import Actor
from .db import models
from .db.types import UNSIGNED_MAX
from .errors import InvalidValueError, NotFoundError, StateConflictError, UnknownCardError
from .registry import Registry, cards, states
from .store import IngestResult, SyncStore

ANOMALIES: Table = models.Anomaly.__table__  # type: ignore[assignment]
_TX: Table = models.Transaction.__table__  # type: ignore[assignment]
_DENY: Table = models.DenyEntry.__table__  # type: ignore[assignment]
_CARDS: Table = models.Card.__table__  # type: ignore[assignment]

BLOCK_REASON = "under_review"
"""The deny-list reason of a card the policy blocked (shown to the rider: ask at the card office)."""

ACTOR = Actor.system("reconciliation")
REVIEW_OUTCOMES = ("confirmed", "dismissed")
NOTE_MAX = 1000
BLOCKABLE_STATES = ("active", "suspended")


@dataclass(frozen=True)
class Policy:
    """``auto_block``: the anomaly kinds whose card is blocked at once;
    ``integrity_failures``: denials for an integrity failure of one card
    before it is flagged."""

    auto_block: frozenset[str] = frozenset(models.ANOMALY_KINDS)
    integrity_failures: int = 3

    def __post_init__(self) -> None:
        unknown = set(self.auto_block) - set(models.ANOMALY_KINDS)
        if unknown:
            raise InvalidValueError(f"unknown anomaly kinds {sorted(unknown)}: the kinds are "
                                    f"{', '.join(models.ANOMALY_KINDS)}")
        if isinstance(self.integrity_failures, bool) or not isinstance(self.integrity_failures, int) \
                or not 1 <= self.integrity_failures <= 1000:
            raise InvalidValueError(f"integrity_failures must be 1..1000, got {self.integrity_failures!r}")


@dataclass(frozen=True)
class AnomalyRecord:
    id: int
    card_number: int | None
    uid: bytes | None
    kind: str
    device_id: int
    seq: int
    detail: str
    detected_at: dt.datetime
    status: str
    reviewed_at: dt.datetime | None
    reviewed_by: str | None
    review_note: str | None


_COLUMNS = tuple(ANOMALIES.c[name] for name in (
    "id", "card_number", "uid", "kind", "device_id", "seq", "detail", "detected_at", "status", "reviewed_at",
    "reviewed_by", "review_note"))


def _record(row: object) -> AnomalyRecord:
    values = tuple(row)  # type: ignore[call-overload]
    uid = values[2]
    return AnomalyRecord(*values[:2], None if uid is None else bytes(uid), *values[3:])  # type: ignore[arg-type]


class Reconciliation:
    """The policy over ``store`` and the review of anomalies."""

    def __init__(self, store: SyncStore, policy: Policy | None = None) -> None:
        self._store = store
        self._registry = Registry(store, clock=store.now)
        self.policy = policy or Policy()

    # -- flagging and enforcing --------------------------------------------------------------------------

    def after_ingest(self, result: IngestResult) -> int:
        """After an ingest commit: flag the cards of ``result.integrity_uids``
        that reached the policy's count of integrity failures and the entries
        that moved money on a card after it was replaced; then, when the
        commit or this flagged anything, enforce the policy.

        :returns: how many cards the policy blocked.
        :raises StoreError: when the database fails.
        """
        uids = sorted(set(result.integrity_uids))
        replaced = self._replaced_cards(result.paying_cards) if result.paying_cards else {}
        if not (uids or replaced or result.anomalies):
            return 0  # the common case: no write transaction at all
        with self._store.transaction("flagging anomalies and enforcing the reconciliation policy") as conn:
            for uid in uids:
                self._flag_integrity(conn, uid)
            for card_number, replaced_at in replaced.items():
                self._flag_replaced_use(conn, card_number, replaced_at)
            return self._enforce(conn)

    def _replaced_cards(self, cards: Iterable[int]) -> dict[int, dt.datetime]:
        numbers = sorted(cards)
        found: dict[int, dt.datetime] = {}
        with self._store.engine.connect() as conn:
            for start in range(0, len(numbers), 500):
                found.update(conn.execute(select(_CARDS.c.card_number, _CARDS.c.state_changed_at).where(
                    _CARDS.c.card_number.in_(numbers[start:start + 500]) & (_CARDS.c.state == "replaced"))).all())
        return found

    def _flag_replaced_use(self, conn: Connection, card_number: int, replaced_at: dt.datetime) -> None:
        # An offline device that had not received the deny-list yet took the old card after its
        # balance moved to the duplicate: the same money was spent twice.
        used = conn.execute(select(_TX.c.device_id, _TX.c.seq, _TX.c.amount_cents, _TX.c.created_at).where(
            (_TX.c.card_number == card_number) & (_TX.c.state == "done") & (_TX.c.amount_cents != 0)
            & (_TX.c.created_at > replaced_at))).all()
        for device_id, seq, amount, created_at in used:
            exists = conn.execute(select(ANOMALIES.c.id).where(
                (ANOMALIES.c.kind == "replaced_card_used") & (ANOMALIES.c.device_id == device_id)
                & (ANOMALIES.c.seq == seq))).first()
            if exists is None:
                conn.execute(ANOMALIES.insert().values(
                    card_number=card_number, uid=None, kind="replaced_card_used", device_id=device_id, seq=seq,
                    detail=f"{amount:+d} cents at {created_at.isoformat()}, after the card was replaced at "
                           f"{replaced_at.isoformat()}", detected_at=self._store.now(), status="open"))

    def enforce(self) -> int:
        """Block the card of every open anomaly of the policy's kinds not on
        the deny-list yet.

        :returns: how many cards it blocked.
        :raises StoreError: when the database fails.
        """
        with self._store.transaction("enforcing the reconciliation policy") as conn:
            return self._enforce(conn)

    def _flag_integrity(self, conn: Connection, uid: bytes) -> None:
        failures = select(_TX.c.device_id, _TX.c.seq).where(
            (_TX.c.uid == uid) & (_TX.c.reason == "integrity_failure")).order_by(_TX.c.id)
        rows = conn.execute(failures.limit(self.policy.integrity_failures)).all()
        if len(rows) < self.policy.integrity_failures:
            return
        flagged = conn.scalar(select(func.count()).select_from(ANOMALIES).where(
            (ANOMALIES.c.kind == "integrity_failures") & (ANOMALIES.c.uid == uid)))
        if flagged:
            return
        device_id, seq = rows[-1]
        card_number = conn.scalar(select(_CARDS.c.card_number).where(_CARDS.c.uid == uid))
        conn.execute(ANOMALIES.insert().values(
            card_number=card_number, uid=uid, kind="integrity_failures", device_id=device_id, seq=seq,
            detail=f"{len(rows)} denials for an integrity failure of UID {uid.hex().upper()}",
            detected_at=self._store.now(), status="open"))

    def _enforce(self, conn: Connection) -> int:
        if not self.policy.auto_block:
            return 0
        open_ones = conn.execute(select(ANOMALIES.c.id, ANOMALIES.c.card_number, ANOMALIES.c.uid, ANOMALIES.c.kind)
                                 .where((ANOMALIES.c.status == "open")
                                        & ANOMALIES.c.kind.in_(sorted(self.policy.auto_block)))
                                 .order_by(ANOMALIES.c.id)).all()
        blocked = 0
        now = self._store.now()
        done: set[tuple[int | None, bytes | None]] = set()
        for anomaly_id, card_number, raw_uid, kind in open_ones:
            uid = bytes(raw_uid) if raw_uid is not None else self._registered_uid(conn, card_number)
            if (card_number, uid) in done or self._denied(conn, card_number, uid):
                continue
            done.add((card_number, uid))
            card = None if card_number is None else self._blockable_card(conn, card_number)
            if card is not None:  # the registry's move: its state, history and deny-list entries together
                version = states.move(self._registry, conn, card, "blocked", BLOCK_REASON, ACTOR, now)
            else:
                version = self._store.block(card_number=card_number, uid=uid, reason=BLOCK_REASON, within=conn)
            audit.record(conn, ACTOR, "card.auto_block", f"card:{card_number}" if card_number is not None
                         else f"uid:{uid.hex().upper() if uid else '?'}", now,
                         {"anomaly": anomaly_id, "kind": kind, "denylist_version": version})
            blocked += 1
        return blocked

    @staticmethod
    def _registered_uid(conn: Connection, card_number: int | None) -> bytes | None:
        if card_number is None:
            return None
        uid = conn.scalar(select(_CARDS.c.uid).where(_CARDS.c.card_number == card_number))
        return None if uid is None else bytes(uid)

    @staticmethod
    def _denied(conn: Connection, card_number: int | None, uid: bytes | None) -> bool:
        keys = []
        if card_number is not None:
            keys.append(_DENY.c.card_number == card_number)
        if uid is not None:
            keys.append(_DENY.c.uid == uid)
        if not keys:
            return True  # nothing to block by
        return all(conn.execute(select(_DENY.c.id).where(key)).first() is not None for key in keys)

    @staticmethod
    def _blockable_card(conn: Connection, card_number: int) -> cards.Card | None:
        try:
            card = cards.fetch(conn, card_number, for_update=True)
        except UnknownCardError:
            return None
        return card if card.state in BLOCKABLE_STATES else None

    # -- review ----------------------------------------------------------------------------------------

    def anomalies(self, *, status: str | None = None, card_number: int | None = None, after_id: int = 0,
                  limit: int = 100) -> list[AnomalyRecord]:
        """Anomalies in the order flagged, after ``after_id``, at most ``limit``.

        :raises InvalidValueError: for an unknown status or a card number out of range.
        :raises StoreError: when the database fails.
        """
        if status is not None and status not in models.ANOMALY_STATUSES:
            raise InvalidValueError(f"status must be one of {', '.join(models.ANOMALY_STATUSES)}")
        query = select(*_COLUMNS).where(ANOMALIES.c.id > after_id).order_by(ANOMALIES.c.id).limit(limit)
        if status is not None:
            query = query.where(ANOMALIES.c.status == status)
        if card_number is not None:
            if not 0 <= card_number <= UNSIGNED_MAX:
                raise InvalidValueError(f"card numbers are 0..{UNSIGNED_MAX}")
            query = query.where(ANOMALIES.c.card_number == card_number)
        with self._store.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def review(self, anomaly_id: int, outcome: str, note: str, actor: Actor) -> AnomalyRecord:
        """Close the open anomaly ``anomaly_id`` as ``confirmed`` or ``dismissed`` with ``note``.

        :raises InvalidValueError: for another outcome or an empty note.
        :raises NotFoundError: when there is no such anomaly.
        :raises StateConflictError: when it was reviewed already.
        :raises StoreError: when the database fails.
        """
        if outcome not in REVIEW_OUTCOMES:
            raise InvalidValueError(f"a review is one of {', '.join(REVIEW_OUTCOMES)}")
        if not isinstance(note, str) or not note.strip() or len(note) > NOTE_MAX:
            raise InvalidValueError(f"a review needs a note of 1 to {NOTE_MAX} characters")
        now = self._store.now()
        with self._store.transaction(f"reviewing anomaly {anomaly_id}") as conn:
            row = conn.execute(select(*_COLUMNS).where(ANOMALIES.c.id == anomaly_id)).first()
            if row is None:
                raise NotFoundError(f"no anomaly {anomaly_id}")
            if row.status != "open":
                raise StateConflictError(f"anomaly {anomaly_id} was {row.status} by {row.reviewed_by} already")
            conn.execute(update(ANOMALIES).where(ANOMALIES.c.id == anomaly_id).values(
                status=outcome, reviewed_at=now, reviewed_by=actor.name, review_note=note.strip()))
            target = f"card:{row.card_number}" if row.card_number is not None else f"anomaly:{anomaly_id}"
            audit.record(conn, actor, f"anomaly.{outcome}", target, now,
                         {"anomaly": anomaly_id, "kind": row.kind, "note": note.strip()})
            updated = conn.execute(select(*_COLUMNS).where(ANOMALIES.c.id == anomaly_id)).one()
        return _record(updated)
