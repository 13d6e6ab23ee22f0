"""The registry over a migrated database (SQLite and PostgreSQL): fixture
``registry`` on the test clock, the actors of each desk, and builders for
holders, issued cards, load orders and spends."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from sync_server.audit import Actor
from sync_server.registry import Registry, applications, holders, issuance
from sync_server.registry.base import CARDS, LOAD_ORDERS, SHADOWS
from sync_server.registry.issuance import Personalisation
from sync_server.store import SyncStore
from tests.sync_server.builders import DEVICE_KEY, batch, write
from tests.sync_server.conftest import Clock

OFFICE = Actor("ana", "card_office")
POINT = Actor("point-1", "issuance_point")
DEVICE = 1201


@pytest.fixture
def registry(store: SyncStore, clock: Clock) -> Registry:
    store.register_device(DEVICE, DEVICE_KEY, mode="bus", operator=7, location=40)
    return Registry(store, clock)


_documents = itertools.count(1)
_uids = itertools.count(0x10000000)


def new_uid() -> bytes:
    return next(_uids).to_bytes(4, "big")


def holder(registry: Registry, name: str = "Marta Álvarez") -> int:
    return holders.create(registry, OFFICE, name=name, document_id=f"DOC{next(_documents)}").id


def issue(registry: Registry, application_id: int, uid: bytes | None = None) -> Personalisation:
    applications.approve(registry, OFFICE, application_id)
    made, created = issuance.issue(registry, POINT, application_id, uid or new_uid())
    assert created
    return made


def new_card(registry: Registry, holder_id: int | None = None, *, kind: str = "new", balance: int = 0,
             profile: str = "general") -> Personalisation:
    """A card issued from an application of ``kind`` (new or tourist)."""
    if kind == "new" and holder_id is None:
        holder_id = holder(registry)
    application = applications.submit(registry, OFFICE, kind=kind, holder_id=holder_id, profile=profile,
                                      balance_cents=balance)
    return issue(registry, application.id)


def queue_load(registry: Registry, card_number: int, amount_cents: int) -> int:
    """A load order and its pending load, as the top-up desk makes them; its id."""
    with registry.write("queueing a load") as conn:
        load_seq, _ = registry.store.add_load(card_number, amount_cents, bytes(6), within=conn)
        return int(conn.execute(LOAD_ORDERS.insert().values(
            card_number=card_number, load_seq=load_seq, amount_cents=amount_cents, channel="office",
            created_at=registry.now(), created_by="ana").returning(LOAD_ORDERS.c.id)).scalar_one())


_seqs: Iterator[int] = itertools.count(1)


def spend(registry: Registry, card_number: int, amount_cents: int) -> None:
    """A tap that charged ``amount_cents``, synced: the card's shadow moves."""
    with registry.read("reading a shadow") as conn:
        row = conn.execute(select(SHADOWS.c.counter, SHADOWS.c.balance_cents)
                           .where(SHADOWS.c.card_number == card_number)).first()
        if row is None:
            initial = conn.execute(select(CARDS.c.initial_balance_cents)
                                   .where(CARDS.c.card_number == card_number)).scalar_one()
            counter, balance = 0, initial
        else:
            counter, balance = row
    registry.store.ingest([batch(DEVICE, write(next(_seqs), card_number, counter + 1, balance - amount_cents,
                                               -amount_cents))])
