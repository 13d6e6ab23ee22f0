"""What every part of the registry works with: the store (its engine and
its deny-list and pending-load lists), the clock, one read-write transaction
per action and a read that sees one state of the database, and the registry's
tables."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..db import models
from ..db.access import reading
from ..errors import InvalidValueError, StoreError
from ..store import SyncStore, utc_now

HOLDERS: Table = models.Holder.__table__  # type: ignore[assignment]
CARDS: Table = models.Card.__table__  # type: ignore[assignment]
CARD_EVENTS: Table = models.CardEvent.__table__  # type: ignore[assignment]
CONTRACTS: Table = models.CardContract.__table__  # type: ignore[assignment]
APPLICATIONS: Table = models.Application.__table__  # type: ignore[assignment]
LOAD_ORDERS: Table = models.LoadOrder.__table__  # type: ignore[assignment]
PENDING_LOADS: Table = models.PendingLoad.__table__  # type: ignore[assignment]
SHADOWS: Table = models.CardShadow.__table__  # type: ignore[assignment]
ANOMALIES: Table = models.Anomaly.__table__  # type: ignore[assignment]
TRANSACTIONS: Table = models.Transaction.__table__  # type: ignore[assignment]

CARD_NUMBER_MAX = 2**64 - 1


def random_card_number() -> int:
    """A random 16-digit card number."""
    return secrets.randbelow(9 * 10**15) + 10**15


@dataclass(frozen=True)
class Registry:
    """The card registry over ``store``'s database; ``clock`` gives the
    current time (aware), and today's date in UTC; ``card_numbers`` a
    candidate number for a new card (tried again while it is taken)."""

    store: SyncStore
    clock: Callable[[], dt.datetime] = utc_now
    card_numbers: Callable[[], int] = random_card_number

    def now(self) -> dt.datetime:
        """The clock's time in UTC.

        :raises InvalidValueError: when the clock gives a naive time.
        """
        now = self.clock()
        if not isinstance(now, dt.datetime) or now.utcoffset() is None:
            raise InvalidValueError(f"the clock must return an aware datetime, got {now!r}")
        return now.astimezone(dt.UTC)

    @contextmanager
    def write(self, doing: str) -> Iterator[Connection]:
        """One read-write transaction (the store's, so deny-list and load
        changes join it with ``within=conn``), committed when the block ends.

        :raises StoreError: when the database fails (an :class:`IntegrityError` is the ``__cause__``
            of a unique key taken).
        """
        with self.store.transaction(doing) as conn:
            yield conn

    def read(self, doing: str) -> AbstractContextManager[Connection]:
        """One read-only transaction that sees one state of the database
        (REPEATABLE READ on PostgreSQL; SQLite's transactions are snapshots).

        :raises StoreError: when the database fails.
        """
        return reading(self.store.engine, doing, snapshot=True)


def unique_violation(exc: StoreError) -> bool:
    """Whether ``exc`` is a unique (or other integrity) constraint the database refused."""
    return isinstance(exc.__cause__, IntegrityError)


def check_card_number(card_number: object) -> int:
    """``card_number`` if it is an int of 64 bits unsigned.

    :raises InvalidValueError: otherwise.
    """
    if isinstance(card_number, bool) or not isinstance(card_number, int) or not 0 <= card_number <= CARD_NUMBER_MAX:
        raise InvalidValueError(f"a card number is an integer in 0..{CARD_NUMBER_MAX}, got {card_number!r:.40}")
    return card_number


def add_years(day: dt.date, years: int) -> dt.date:
    """``day`` ``years`` later (29 February becomes 28 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
