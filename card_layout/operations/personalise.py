"""Personalise a blank card, and wipe one back to transport state: the
issuance point's jobs (key B role).

The card's future content is planned first as a pure function
(:func:`plan_card`), then written sector by sector, data blocks before the
trailer, sector 0 (the MAD) last: a card whose MAD names our application is
fully issued. A sector still in transport state is opened with the transport
key; one already personalised (an issuance torn half-way and retried) with the
card's own key B, so a retry completes the card instead of failing. Commands:
1 select + per sector 1 authentication, 3 writes and a trailer write (the
identity, purse and record sectors); 1 + 16 x 5 = 81 at most, plus the read
that verifies the result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..access import KeyType
from ..errors import AlreadyIssuedError, AuthenticationError, CardError, KeyMaterialError
from ..geometry import BLOCK_SIZE, DATA_BLOCKS_PER_SECTOR, SECTORS, block_number, trailer_block
from ..keys import CardKeys, MasterKeys
from ..layout import (
    CONTRACT_SLOTS,
    EVENT_SLOTS,
    IDENTITY_BLOCKS,
    MAD_BLOCKS,
    PURSE_VALUE_BLOCKS,
    TRANSACTION_SLOTS,
    access_for,
    application_mad,
    gpb_for,
    slot_for,
)
from ..reader import ClassicReader
from ..records.contracts import Contract, ContractList
from ..records.event import Event, EventType
from ..records.identity import Identity
from ..records.sealing import MacContext
from ..records.transaction import TransactionRecord
from ..trailer import TRANSPORT_KEY, SectorTrailer
from ..value_block import ValueBlock
from .channel import CardChannel
from .state import CardState, read_state


@dataclass(frozen=True)
class Issuance:
    """What the issuance point writes on a new card."""

    identity: Identity
    balance_cents: int = 0
    contracts: tuple[Contract, ...] = ()
    issued_at: dt.datetime | None = None
    device: int = 0


def plan_card(keys: CardKeys, issuance: Issuance) -> dict[int, bytes]:
    """Every block of the personalised card except block 0, keyed by block
    number (pure: the issuance point's plan, and the tests' reference)."""
    ctx = MacContext(keys.uid, keys.masters.mac)
    blocks: dict[int, bytes] = {
        block_number(sector, index): bytes(BLOCK_SIZE)
        for sector in range(SECTORS)
        for index in range(DATA_BLOCKS_PER_SECTOR)
        if (sector, index) != (0, 0)
    }

    def put(numbers: tuple[int, ...], data: bytes) -> None:
        for index, number in enumerate(numbers):
            blocks[number] = data[index * BLOCK_SIZE : (index + 1) * BLOCK_SIZE]

    put(MAD_BLOCKS, application_mad().encode())
    put(IDENTITY_BLOCKS, issuance.identity.encode(ctx))
    for block in PURSE_VALUE_BLOCKS:
        blocks[block] = ValueBlock(issuance.balance_cents, block).encode()
    record = TransactionRecord(counter=0, contracts_present=bool(issuance.contracts))
    put(TRANSACTION_SLOTS[0].blocks, record.encode(ctx, issuance.balance_cents))
    if issuance.contracts:
        put(CONTRACT_SLOTS[0].blocks, ContractList(0, issuance.contracts).encode(ctx))
    if issuance.issued_at is not None:
        event = Event(0, EventType.ISSUED, issuance.issued_at, issuance.balance_cents, issuance.balance_cents,
                      device=issuance.device)
        put(slot_for(EVENT_SLOTS, 0).blocks, event.encode(ctx))
    for sector in range(SECTORS):
        blocks[trailer_block(sector)] = SectorTrailer(
            key_a=keys.sector_key(sector, KeyType.A),
            access=access_for(sector),
            key_b=keys.sector_key(sector, KeyType.B),
            gpb=gpb_for(sector),
        ).encode()
    return blocks


def _open_sector(reader: ClassicReader, keys: CardKeys, sector: int) -> bool:
    """Authenticate ``sector`` for writing; True when it is still in transport state.

    :raises AuthenticationError: when neither the transport key nor the card's
        key B opens it (a trailer write torn on a real card spoils the sector).
    """
    block = trailer_block(sector)
    try:
        reader.authenticate(block, KeyType.A, TRANSPORT_KEY)
        return True
    except AuthenticationError:
        reader.uid()  # a failed authentication halts the card: select it again
    try:
        reader.authenticate(block, KeyType.B, keys.sector_key(sector, KeyType.B))
        return False
    except AuthenticationError as exc:
        raise AuthenticationError(
            "neither the transport key nor this card's key B opens the sector: the card cannot be issued",
            sector=sector,
        ) from exc


def personalise(reader: ClassicReader, masters: MasterKeys, issuance: Issuance) -> CardState:
    """Personalise the card in the field and return its verified state.

    :raises KeyMaterialError: when the masters hold no key B.
    :raises AlreadyIssuedError: when the card is already issued.
    :raises CardError: a subclass naming the sector at fault.
    """
    if not masters.can_credit:
        raise KeyMaterialError("issuing a card needs the key B master")
    keys = masters.for_card(reader.uid())
    plan = plan_card(keys, issuance)
    if not _open_sector(reader, keys, 0):
        raise AlreadyIssuedError("the card is already issued (its MAD sector holds our keys)", sector=0)
    for sector in (*range(1, SECTORS), 0):
        in_transport = _open_sector(reader, keys, sector)
        for index in range(DATA_BLOCKS_PER_SECTOR):
            number = block_number(sector, index)
            if number != 0:
                reader.write_block(number, plan[number])
        if in_transport:
            reader.write_block(trailer_block(sector), plan[trailer_block(sector)])
    channel = CardChannel(reader, keys)
    try:
        return read_state(channel, events=True)
    except CardError as exc:
        raise type(exc)(f"the issued card does not verify: {exc.reason}", sector=exc.sector, block=exc.block) from exc


def wipe(reader: ClassicReader, masters: MasterKeys) -> None:
    """Return an issued card to transport state (data zero, transport keys and
    access bits), e.g. a returned tourist card before it is issued again. The
    MAD sector goes first, so a wipe torn half-way leaves a card that is no
    longer issued and a retry completes it; sectors already in transport
    state are cleared with the transport key.

    :raises KeyMaterialError: when the masters hold no key B.
    :raises AuthenticationError: when neither this card's key B nor the
        transport key opens a sector (a card of another key set).
    """
    if not masters.can_credit:
        raise KeyMaterialError("wiping a card needs the key B master")
    keys = masters.for_card(reader.uid())
    transport = SectorTrailer.transport().encode()
    for sector in range(SECTORS):
        in_transport = _open_sector(reader, keys, sector)
        for index in range(DATA_BLOCKS_PER_SECTOR):
            number = block_number(sector, index)
            if number != 0:
                reader.write_block(number, bytes(BLOCK_SIZE))
        if not in_transport:
            reader.write_block(trailer_block(sector), transport)
