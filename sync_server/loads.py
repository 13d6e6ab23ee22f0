"""Top-ups paid for off the card: online, at a kiosk or at the card office.

A top-up becomes a *load order* and a pending load on the ``loads`` list
that every device holds; the first device the card is tapped on credits it
and journals a ``load`` entry naming the load sequence numbers it applied. The
card itself records the last load sequence it took, so a load is credited
exactly once however many devices hold it (see docs/sync-protocol.md). When
ingest stores that entry, :func:`record_applied` marks the orders applied and
takes the loads off the list, in the same transaction.

The pending load carries the card's diversified purse key B, derived here
from the issuer's master keys and the card's UID (the registry's, or the one
given for a card the registry does not hold).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import Connection

from device.protocol import items

from . import audit, list_changes
from .audit import Actor
from .db import models
from .errors import CardStateError, InvalidValueError, UnknownCardError

if TYPE_CHECKING:
    from .store import SyncStore

LOAD_ORDERS: Table = models.LoadOrder.__table__  # type: ignore[assignment]
_CARDS: Table = models.Card.__table__  # type: ignore[assignment]
_PENDING: Table = models.PendingLoad.__table__  # type: ignore[assignment]

MAX_LOAD_CENTS = 25_000
"""One top-up is at most 250.00: a mistyped amount must not reach a card."""

LOADABLE_STATES = frozenset({"active"})
"""A blocked, suspended, expired or replaced card would never collect the money."""


@dataclass(frozen=True)
class LoadOrder:
    id: int
    card_number: int
    load_seq: int
    amount_cents: int
    channel: str
    created_at: dt.datetime
    created_by: str
    applied_at: dt.datetime | None
    applied_device: int | None
    applied_seq: int | None
    cancelled_at: dt.datetime | None

    @property
    def status(self) -> str:
        """``pending`` until a device credited it, then ``applied``;
        ``cancelled`` when the card was replaced first (the amount moved to
        the duplicate's balance)."""
        if self.applied_at is not None:
            return "applied"
        return "pending" if self.cancelled_at is None else "cancelled"


@dataclass(frozen=True)
class AppliedLoad:
    """A ``load`` entry as ingest stores it: which device and journal entry
    credited which of the card's loads."""

    card_number: int
    device_id: int
    seq: int
    load_seqs: tuple[int, ...]


class LoadOrders:
    """Queue and list load orders. ``purse_key_for(uid)`` is the card's
    diversified purse key B (from the issuer's master keys)."""

    def __init__(self, store: SyncStore, purse_key_for: Callable[[bytes], bytes],
                 clock: Callable[[], dt.datetime]) -> None:
        self._store = store
        self._purse_key_for = purse_key_for
        self._clock = clock

    def queue(self, conn: Connection, card_number: int, amount_cents: int, channel: str, actor: Actor, *,
              uid: bytes | None = None) -> LoadOrder:
        """Queue a top-up of ``amount_cents`` for ``card_number`` within
        ``conn``'s transaction, audited as ``actor``'s.

        :raises InvalidValueError: for an amount out of 1..:data:`MAX_LOAD_CENTS`, an unknown channel, or a
            ``uid`` that is not the registered card's.
        :raises UnknownCardError: for a card the registry does not hold, when no ``uid`` is given.
        :raises CardStateError: for a registered card that is not active.
        :raises LoadSequenceExhaustedError: when the card has had 65,535 loads.
        """
        if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) \
                or not 0 < amount_cents <= MAX_LOAD_CENTS:
            raise InvalidValueError(f"a top-up is 1 to {MAX_LOAD_CENTS} cents, got {amount_cents!r:.40}")
        if channel not in models.LOAD_CHANNELS:
            raise InvalidValueError(f"channel must be one of {', '.join(models.LOAD_CHANNELS)}")
        card = conn.execute(select(_CARDS.c.uid, _CARDS.c.state)
                            .where(_CARDS.c.card_number == card_number)).first()
        if card is not None:
            if uid is not None and uid != bytes(card.uid):
                raise InvalidValueError(f"card {card_number} has UID {bytes(card.uid).hex().upper()}, "
                                        f"not {uid.hex().upper()}")
            if card.state not in LOADABLE_STATES:
                raise CardStateError(f"card {card_number} is {card.state}: a top-up would never be collected")
            uid = bytes(card.uid)
        elif uid is None:
            raise UnknownCardError(f"card {card_number} is not in the registry (give its UID to top up a card "
                                   "issued elsewhere)")
        now = self._clock()
        load_seq, version = self._store.add_load(card_number, amount_cents, self._purse_key_for(uid), within=conn)
        order_id = conn.execute(LOAD_ORDERS.insert().values(
            card_number=card_number, load_seq=load_seq, amount_cents=amount_cents, channel=channel,
            created_at=now, created_by=actor.name).returning(LOAD_ORDERS.c.id)).scalar_one()
        audit.record(conn, actor, "load.queue", f"card:{card_number}", now,
                     {"order": order_id, "load_seq": load_seq, "amount_cents": amount_cents, "channel": channel,
                      "loads_version": version})
        return LoadOrder(order_id, card_number, load_seq, amount_cents, channel, now, actor.name, None, None, None,
                         None)

    @staticmethod
    def for_card(conn: Connection, card_number: int) -> list[LoadOrder]:
        """The card's load orders, oldest first."""
        rows = conn.execute(select(LOAD_ORDERS).where(LOAD_ORDERS.c.card_number == card_number)
                            .order_by(LOAD_ORDERS.c.load_seq))
        return [_order(row) for row in rows]


def _order(row: object) -> LoadOrder:
    return LoadOrder(*(getattr(row, name) for name in (
        "id", "card_number", "load_seq", "amount_cents", "channel", "created_at", "created_by", "applied_at",
        "applied_device", "applied_seq", "cancelled_at")))


def applied_loads(rows: Iterable[tuple[int, int, int, str]]) -> list[AppliedLoad]:
    """The :class:`AppliedLoad` of completed ``load`` entries given as
    ``(card_number, device_id, seq, details_json)``; an entry whose details
    name no load numbers is left out (it credited nothing of the list)."""
    found = []
    for card_number, device_id, seq, details_json in rows:
        try:
            seqs = json.loads(details_json).get("loads")
        except (ValueError, AttributeError):
            continue
        if isinstance(seqs, list) and seqs and all(type(s) is int and 0 < s <= 0xFFFF for s in seqs):
            found.append(AppliedLoad(card_number, device_id, seq, tuple(seqs)))
    return found


def record_applied(conn: Connection, applied: Sequence[AppliedLoad], at: dt.datetime) -> int:
    """Within ingest's transaction: mark the orders of ``applied`` applied
    (the first entry that credited an order keeps it; a cancelled order a
    device credited all the same is marked too: reconciliation flags the
    replaced card's use) and take every pending
    load up to the highest applied number of each card off the ``loads``
    list (the card will never take them again).

    :returns: the new ``loads`` version, or 0 when the list did not change.
    """
    removals: list[list_changes.Change] = []
    for load in applied:
        conn.execute(update(LOAD_ORDERS).where(
            (LOAD_ORDERS.c.card_number == load.card_number) & LOAD_ORDERS.c.load_seq.in_(load.load_seqs)
            & LOAD_ORDERS.c.applied_at.is_(None)).values(
            applied_at=at, applied_device=load.device_id, applied_seq=load.seq))
        highest = max(load.load_seqs)
        held = conn.execute(select(_PENDING.c.load_seq).where(
            (_PENDING.c.card_number == load.card_number) & (_PENDING.c.load_seq <= highest))).scalars().all()
        if held:
            conn.execute(delete(_PENDING).where(
                (_PENDING.c.card_number == load.card_number) & (_PENDING.c.load_seq <= highest)))
            removals.extend(("remove", items.load_removal_to_item(load.card_number, seq)) for seq in sorted(held))
    return list_changes.next_version(conn, "loads", removals) if removals else 0
