"""The citizen-card application's layout on a MIFARE Classic 1K: which sector
holds what, with which access conditions, and under which MAD application ID.

    sector 0      MAD v1 (blocks 1, 2)
    sector 1      identity (blocks 4, 5)
    sector 2      purse: value slot 0 (block 8), value slot 1 (block 9)
    sectors 3, 4  transaction record, slot 0 (even counters), slot 1 (odd)
    sectors 5, 6  open session, slot 0 (even counters), slot 1 (odd)
    sectors 7, 8  contracts, slot 0 (even counters), slot 1 (odd)
    sectors 9-14  event ring, slot = counter mod 6
    sector 15     free for other city applications (MAD: free)

Access conditions follow the roles: key A (validators) reads everything,
writes the transaction, session and event records and may only *decrement*
the purse; key B (kiosks, issuance point) also writes identity and contracts,
increments the purse and manages keys and access bits. docs/card-layout.md
renders this module as tables; tests check the two agree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .access import (
    DATA_TRANSPORT,
    DATA_VALUE_RECHARGEABLE,
    DATA_WRITE_B,
    TRAILER_KEY_B_MANAGES,
    AccessConditions,
)
from .geometry import SECTORS, block_number
from .mad import CLUSTER_CITY_CARD, MAD_GPB_V1, Mad


class Area(enum.Enum):
    MAD = "MAD"
    IDENTITY = "identity"
    PURSE = "purse"
    TRANSACTION = "transaction"
    SESSION = "session"
    CONTRACTS = "contracts"
    EVENTS = "events"
    FREE = "free"


# Application IDs in the MAD: function cluster 0x40 "city card services".
AIDS: dict[Area, int] = {
    Area.IDENTITY: CLUSTER_CITY_CARD << 8 | 0xC1,
    Area.PURSE: CLUSTER_CITY_CARD << 8 | 0xC2,
    Area.TRANSACTION: CLUSTER_CITY_CARD << 8 | 0xC3,
    Area.SESSION: CLUSTER_CITY_CARD << 8 | 0xC4,
    Area.CONTRACTS: CLUSTER_CITY_CARD << 8 | 0xC5,
    Area.EVENTS: CLUSTER_CITY_CARD << 8 | 0xC6,
    Area.FREE: 0x0000,
}

_READ_AB_WRITE_B = AccessConditions(DATA_WRITE_B, DATA_WRITE_B, DATA_WRITE_B, TRAILER_KEY_B_MANAGES)
_READ_WRITE_AB = AccessConditions(DATA_TRANSPORT, DATA_TRANSPORT, DATA_TRANSPORT, TRAILER_KEY_B_MANAGES)
_PURSE = AccessConditions(DATA_VALUE_RECHARGEABLE, DATA_VALUE_RECHARGEABLE, DATA_WRITE_B, TRAILER_KEY_B_MANAGES)

_ACCESS: dict[Area, AccessConditions] = {
    Area.MAD: _READ_AB_WRITE_B,
    Area.IDENTITY: _READ_AB_WRITE_B,
    Area.PURSE: _PURSE,
    Area.TRANSACTION: _READ_WRITE_AB,
    Area.SESSION: _READ_WRITE_AB,
    Area.CONTRACTS: _READ_AB_WRITE_B,
    Area.EVENTS: _READ_WRITE_AB,
    Area.FREE: _READ_AB_WRITE_B,
}

SECTOR_AREAS: tuple[Area, ...] = (
    Area.MAD, Area.IDENTITY, Area.PURSE,
    Area.TRANSACTION, Area.TRANSACTION,
    Area.SESSION, Area.SESSION,
    Area.CONTRACTS, Area.CONTRACTS,
    *(Area.EVENTS,) * 6,
    Area.FREE,
)
assert len(SECTOR_AREAS) == SECTORS


def _blocks(sector: int, count: int) -> tuple[int, ...]:
    return tuple(block_number(sector, index) for index in range(count))


@dataclass(frozen=True)
class Slot:
    """One copy of a double-buffered (or ring) record."""

    index: int
    sector: int
    blocks: tuple[int, ...]


def _slots(area: Area, blocks_each: int) -> tuple[Slot, ...]:
    sectors = [sector for sector, owner in enumerate(SECTOR_AREAS) if owner is area]
    return tuple(Slot(index, sector, _blocks(sector, blocks_each)) for index, sector in enumerate(sectors))


MAD_BLOCKS = (1, 2)
IDENTITY_SECTOR = 1
IDENTITY_BLOCKS = _blocks(IDENTITY_SECTOR, 2)
PURSE_SECTOR = 2
PURSE_VALUE_BLOCKS = _blocks(PURSE_SECTOR, 2)  # value slot i pairs with transaction slot i
TRANSACTION_SLOTS = _slots(Area.TRANSACTION, 2)
SESSION_SLOTS = _slots(Area.SESSION, 2)
CONTRACT_SLOTS = _slots(Area.CONTRACTS, 3)
EVENT_SLOTS = _slots(Area.EVENTS, 2)


def slot_for(slots: tuple[Slot, ...], counter: int) -> Slot:
    """The slot a record written at ``counter`` goes to."""
    return slots[counter % len(slots)]


def area_of(sector: int) -> Area:
    return SECTOR_AREAS[sector]


def access_for(sector: int) -> AccessConditions:
    """The access conditions the layout gives ``sector`` on an issued card."""
    return _ACCESS[SECTOR_AREAS[sector]]


def gpb_for(sector: int) -> int:
    return MAD_GPB_V1 if sector == 0 else 0x00


def application_mad() -> Mad:
    """The MAD naming our sectors."""
    return Mad(aids=tuple(AIDS[area] for area in SECTOR_AREAS[1:]))


def holds_application(mad: Mad) -> bool:
    """Whether a card's MAD names our application in the sectors we expect."""
    return mad.aids == application_mad().aids
