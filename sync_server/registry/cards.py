"""Reading the registry's cards: one card with everything the back office
shows about it (holder, state history, contracts, shadow balance, pending
load orders, open anomalies, latest transactions), and finding cards by UID
or holder.

The detail is read in one snapshot with one indexed lookup per part (the
card's primary key, ``card_events (card_number, id)``, ``card_contracts
(card_number)``, ``card_shadows`` by key, ``load_orders (card_number,
load_seq)``, ``anomalies (card_number)``, ``transactions (card_number, id)``
backwards with a limit), so its cost does not grow with the registry or the
transaction table, only with one card's own history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..errors import InvalidValueError, UnknownCardError
from .base import (
    ANOMALIES,
    CARD_EVENTS,
    CARDS,
    CONTRACTS,
    HOLDERS,
    LOAD_ORDERS,
    SHADOWS,
    TRANSACTIONS,
    Registry,
    check_card_number,
)

LATEST_TRANSACTIONS = 20
"""Transactions in a card's detail (the most recently received)."""

HISTORY_MAX = 200
"""State history entries in a card's detail (the most recent)."""

SEARCH_MAX = 200


@dataclass(frozen=True)
class Card:
    card_number: int
    uid: bytes
    holder_id: int | None
    kind: str
    profile: str
    state: str
    state_reason: str | None
    state_changed_at: dt.datetime
    issued_at: dt.datetime
    expires_on: dt.date
    initial_balance_cents: int
    application_id: int | None
    replaces: int | None
    replaced_by: int | None


@dataclass(frozen=True)
class CardEvent:
    at: dt.datetime
    event: str
    from_state: str | None
    to_state: str | None
    reason: str | None
    actor: str


@dataclass(frozen=True)
class Contract:
    """A contract on a card: ``kind`` a ``card_layout`` ContractKind name, lower case."""

    kind: str
    valid_from: dt.date
    valid_until: dt.date
    operator: int
    product: int


@dataclass(frozen=True)
class Shadow:
    counter: int
    balance_cents: int
    updated_at: dt.datetime


@dataclass(frozen=True)
class PendingOrder:
    id: int
    load_seq: int
    amount_cents: int
    channel: str
    created_at: dt.datetime


@dataclass(frozen=True)
class OpenAnomaly:
    id: int
    kind: str
    device_id: int
    seq: int
    detail: str
    detected_at: dt.datetime


@dataclass(frozen=True)
class RecentTransaction:
    device_id: int
    seq: int
    kind: str
    state: str
    created_at: dt.datetime
    amount_cents: int
    balance_cents: int | None
    counter_after: int | None
    decision: str
    reason: str


@dataclass(frozen=True)
class HolderSummary:
    id: int
    name: str
    document_id: str | None


@dataclass(frozen=True)
class CardDetail:
    card: Card
    holder: HolderSummary | None
    history: tuple[CardEvent, ...]
    contracts: tuple[Contract, ...]
    shadow: Shadow | None
    pending_loads: tuple[PendingOrder, ...]
    anomalies: tuple[OpenAnomaly, ...]
    transactions: tuple[RecentTransaction, ...]


def card_from_row(row: Any) -> Card:
    return Card(row.card_number, bytes(row.uid), row.holder_id, row.kind, row.profile, row.state, row.state_reason,
                row.state_changed_at, row.issued_at, row.expires_on, row.initial_balance_cents, row.application_id,
                row.replaces, row.replaced_by)


def fetch(conn: Connection, card_number: int, *, for_update: bool = False) -> Card:
    """The card ``card_number`` within ``conn``'s transaction (its row
    locked until the commit with ``for_update``, on PostgreSQL).

    :raises UnknownCardError: when the registry holds no such card.
    """
    query = select(CARDS).where(CARDS.c.card_number == card_number)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    if row is None:
        raise UnknownCardError(f"the registry holds no card {card_number}")
    return card_from_row(row)


def find_by_uid(conn: Connection, uid: bytes) -> Card | None:
    """The card with ``uid``, if the registry holds one."""
    row = conn.execute(select(CARDS).where(CARDS.c.uid == uid)).first()
    return None if row is None else card_from_row(row)


def contracts_of(conn: Connection, card_number: int) -> tuple[Contract, ...]:
    """The card's contracts, in the order they were issued."""
    rows = conn.execute(select(CONTRACTS.c.kind, CONTRACTS.c.valid_from, CONTRACTS.c.valid_until,
                               CONTRACTS.c.operator, CONTRACTS.c.product)
                        .where(CONTRACTS.c.card_number == card_number).order_by(CONTRACTS.c.id))
    return tuple(Contract(*row) for row in rows)


def pending_orders(conn: Connection, card_number: int) -> tuple[PendingOrder, ...]:
    """The card's load orders that no device applied yet and that were not cancelled."""
    rows = conn.execute(select(LOAD_ORDERS.c.id, LOAD_ORDERS.c.load_seq, LOAD_ORDERS.c.amount_cents,
                               LOAD_ORDERS.c.channel, LOAD_ORDERS.c.created_at)
                        .where((LOAD_ORDERS.c.card_number == card_number) & LOAD_ORDERS.c.applied_at.is_(None)
                               & LOAD_ORDERS.c.cancelled_at.is_(None))
                        .order_by(LOAD_ORDERS.c.load_seq))
    return tuple(PendingOrder(*row) for row in rows)


def shadow_of(conn: Connection, card_number: int) -> Shadow | None:
    row = conn.execute(select(SHADOWS.c.counter, SHADOWS.c.balance_cents, SHADOWS.c.updated_at)
                       .where(SHADOWS.c.card_number == card_number)).first()
    return None if row is None else Shadow(*row)


def detail(registry: Registry, card_number: int) -> CardDetail:
    """Everything the back office shows about ``card_number``.

    :raises InvalidValueError: for a number outside 64 bits unsigned.
    :raises UnknownCardError: when the registry holds no such card.
    :raises StoreError: when the database fails.
    """
    check_card_number(card_number)
    with registry.read(f"reading card {card_number}") as conn:
        card = fetch(conn, card_number)
        holder = None
        if card.holder_id is not None:
            row = conn.execute(select(HOLDERS.c.id, HOLDERS.c.name, HOLDERS.c.document_id)
                               .where(HOLDERS.c.id == card.holder_id)).first()
            holder = None if row is None else HolderSummary(*row)
        history = conn.execute(
            select(CARD_EVENTS.c.at, CARD_EVENTS.c.event, CARD_EVENTS.c.from_state, CARD_EVENTS.c.to_state,
                   CARD_EVENTS.c.reason, CARD_EVENTS.c.actor)
            .where(CARD_EVENTS.c.card_number == card_number)
            .order_by(CARD_EVENTS.c.id.desc()).limit(HISTORY_MAX)).all()
        anomalies = conn.execute(
            select(ANOMALIES.c.id, ANOMALIES.c.kind, ANOMALIES.c.device_id, ANOMALIES.c.seq, ANOMALIES.c.detail,
                   ANOMALIES.c.detected_at)
            .where((ANOMALIES.c.card_number == card_number) & (ANOMALIES.c.status == "open"))
            .order_by(ANOMALIES.c.id)).all()
        transactions = conn.execute(
            select(TRANSACTIONS.c.device_id, TRANSACTIONS.c.seq, TRANSACTIONS.c.kind, TRANSACTIONS.c.state,
                   TRANSACTIONS.c.created_at, TRANSACTIONS.c.amount_cents, TRANSACTIONS.c.balance_cents,
                   TRANSACTIONS.c.counter_after, TRANSACTIONS.c.decision, TRANSACTIONS.c.reason)
            .where(TRANSACTIONS.c.card_number == card_number)
            .order_by(TRANSACTIONS.c.id.desc()).limit(LATEST_TRANSACTIONS)).all()
        return CardDetail(
            card=card, holder=holder,
            history=tuple(CardEvent(*row) for row in reversed(history)),
            contracts=contracts_of(conn, card_number),
            shadow=shadow_of(conn, card_number),
            pending_loads=pending_orders(conn, card_number),
            anomalies=tuple(OpenAnomaly(*row) for row in anomalies),
            transactions=tuple(RecentTransaction(*row) for row in transactions),
        )


def search(registry: Registry, *, uid: bytes | None = None, holder_id: int | None = None,
           limit: int = 50) -> list[Card]:
    """The card with ``uid``, or the cards of ``holder_id`` (newest first, at most ``limit``).

    :raises InvalidValueError: without exactly one of ``uid`` and ``holder_id``, or a ``limit`` out of
        1..:data:`SEARCH_MAX`.
    :raises StoreError: when the database fails.
    """
    if (uid is None) == (holder_id is None):
        raise InvalidValueError("search cards by uid or by holder_id, one of them")
    if not 0 < limit <= SEARCH_MAX:
        raise InvalidValueError(f"limit must be in 1..{SEARCH_MAX}")
    with registry.read("searching cards") as conn:
        if uid is not None:
            card = find_by_uid(conn, uid)
            return [] if card is None else [card]
        rows = conn.execute(select(CARDS).where(CARDS.c.holder_id == holder_id)
                            .order_by(CARDS.c.issued_at.desc()).limit(limit))
        return [card_from_row(row) for row in rows]
