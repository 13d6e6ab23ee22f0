"""Read and verify: one call that returns the card's typed, verified state or
raises with the reason.

What a read resolves, and why it is safe after a tear at any command:

- The purse is two value blocks in sector 2. Transaction slot ``i`` (sector
  3 + i) commits to value slot ``i``: its MAC covers that block's value.
- The card's state is the transaction slot with the highest counter whose MAC
  verifies against its value block. A commit writes the record of counter
  ``n + 1`` first (it does not verify yet: its value block still holds an old
  value), then moves the value into the record's slot with one ``transfer``:
  that transfer is the commit point. A tear before it leaves state ``n``
  untouched; a tear after it leaves state ``n + 1`` complete.
- Side records (session, contracts, events) carry the counter they were
  written at and count only when it is not beyond the transaction counter, so
  a record staged for a commit that never happened is ignored.

Commands used by :func:`read_card` (sim and real readers alike): 1 select,
then per sector one authentication and one read per block: identity 1+2,
purse 1+2, transaction slots 2 x (1+2); 13 for a card without contracts or
open session. Contracts add 2 x (1+3), an open session 2 x (1+2), events
6 x (1+2).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from ..errors import CardError, CardFormatError, CardIntegrityError
from ..keys import MasterKeys
from ..layout import (
    CONTRACT_SLOTS,
    EVENT_SLOTS,
    IDENTITY_BLOCKS,
    PURSE_VALUE_BLOCKS,
    SESSION_SLOTS,
    TRANSACTION_SLOTS,
    Slot,
)
from ..reader import ClassicReader
from ..records.contracts import ContractList
from ..records.event import Event
from ..records.identity import Identity
from ..records.sealing import MacContext, is_empty
from ..records.session import Session
from ..records.transaction import TransactionRecord
from ..value_block import ValueBlock
from .channel import BlockSource, CardChannel


@dataclass(frozen=True)
class PurseResolution:
    """The committed transaction record and what a read found around it."""

    record: TransactionRecord
    slot: int
    balance_cents: int
    values: tuple[int | None, int | None]
    # The previous record still verifies: a commit was torn after its commit
    # point. The next commit overwrites it; until then a card whose newest
    # record is destroyed would fall back to it.
    previous_still_valid: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardState:
    uid: bytes
    identity: Identity
    purse: PurseResolution
    contracts: ContractList | None = None
    contracts_slot: int | None = None
    session: Session | None = None
    session_slot: int | None = None
    events: tuple[Event, ...] | None = None

    @property
    def record(self) -> TransactionRecord:
        return self.purse.record

    @property
    def counter(self) -> int:
        return self.purse.record.counter

    @property
    def balance_cents(self) -> int:
        return self.purse.balance_cents

    def expired(self, today: dt.date) -> bool:
        return today > self.identity.expires


def _value(data: bytes, block: int) -> int | None:
    try:
        return ValueBlock.decode(data, block).value
    except CardFormatError:
        return None


def _nothing_verifies(what: str, failures: list[CardError], reasons: list[str], sector: int) -> CardIntegrityError:
    """The error for a double-buffered area where no copy verifies, naming the
    block of the copy that failed (rather than one that is merely empty)."""
    where = failures[-1] if len(failures) == 1 else None
    return CardIntegrityError(
        f"no {what} record verifies ({'; '.join(reasons)})",
        sector=where.sector if where else sector,
        block=where.block if where else None,
    )


def resolve_purse(ctx: MacContext, value_blocks: tuple[bytes, bytes], slots: tuple[bytes, bytes]) -> PurseResolution:
    """The committed purse state from the two value blocks and the two
    transaction slots (pure: the heart of tear recovery).

    :raises CardIntegrityError: when no slot verifies (a tampered or forged card).
    """
    values = tuple(_value(data, block) for data, block in zip(value_blocks, PURSE_VALUE_BLOCKS, strict=True))
    candidates: list[tuple[TransactionRecord, int]] = []
    reasons: list[str] = []
    failures: list[CardError] = []
    for index, (data, slot) in enumerate(zip(slots, TRANSACTION_SLOTS, strict=True)):
        value = values[index]
        if is_empty(data):
            reasons.append(f"slot {index} (sector {slot.sector}) is empty")
            continue
        if value is None:
            reasons.append(f"slot {index}: its value block {PURSE_VALUE_BLOCKS[index]} is not a valid value block")
            continue
        try:
            record = TransactionRecord.decode(data, ctx, value, slot.blocks[0])
        except CardError as exc:
            reasons.append(f"slot {index}: {exc}")
            failures.append(exc)
            continue
        if record.counter % 2 != index:
            reasons.append(f"slot {index} holds counter {record.counter} of the wrong parity")
            continue
        candidates.append((record, index))
    if not candidates:
        raise _nothing_verifies("transaction", failures, reasons, TRANSACTION_SLOTS[0].sector)
    record, index = max(candidates, key=lambda item: item[0].counter)
    balance = values[index]
    assert balance is not None
    return PurseResolution(
        record=record, slot=index, balance_cents=balance, values=values,  # type: ignore[arg-type]
        previous_still_valid=len(candidates) == 2, notes=tuple(reasons),
    )


def _resolve_versions(
    what: str, slots: tuple[Slot, ...], raw: list[bytes], ctx: MacContext, counter: int,
    decode: type[ContractList] | type[Session],
) -> tuple[ContractList | Session, int]:
    """The newest record of a double-buffered area not beyond ``counter``.

    :raises CardIntegrityError: when no copy verifies.
    """
    best: tuple[ContractList | Session, int] | None = None
    reasons: list[str] = []
    failures: list[CardError] = []
    for slot, data in zip(slots, raw, strict=True):
        if is_empty(data):
            reasons.append(f"slot {slot.index} (sector {slot.sector}) is empty")
            continue
        try:
            record = decode.decode(data, ctx, slot.blocks[0])
        except CardError as exc:  # a torn copy, or a changed one: the other slot decides
            reasons.append(f"slot {slot.index}: {exc}")
            failures.append(exc)
            continue
        if record.counter > counter:
            reasons.append(f"slot {slot.index} was staged for transaction {record.counter}, which never committed")
        elif best is None or record.counter > best[0].counter:
            best = (record, slot.index)
    if best is None:
        raise _nothing_verifies(what, failures, reasons, slots[0].sector)
    return best


def read_contracts(ch: BlockSource, counter: int) -> tuple[ContractList, int]:
    """:raises CardIntegrityError: when the card says it holds contracts and none verifies."""
    raw = [ch.read_blocks(slot.blocks) for slot in CONTRACT_SLOTS]
    found, index = _resolve_versions("contracts", CONTRACT_SLOTS, raw, ch.mac, counter, ContractList)
    assert isinstance(found, ContractList)
    return found, index


def read_session(ch: BlockSource, counter: int) -> tuple[Session, int]:
    """:raises CardIntegrityError: when the card says a session is open and none verifies."""
    raw = [ch.read_blocks(slot.blocks) for slot in SESSION_SLOTS]
    found, index = _resolve_versions("session", SESSION_SLOTS, raw, ch.mac, counter, Session)
    assert isinstance(found, Session)
    return found, index


def read_events(ch: BlockSource, counter: int) -> tuple[Event, ...]:
    """The events in the ring that verify, newest first. A slot that does not
    verify (torn, or staged by a commit that never happened) is skipped."""
    events = []
    for slot in EVENT_SLOTS:
        data = ch.read_blocks(slot.blocks)
        if is_empty(data):
            continue
        try:
            event = Event.decode(data, ch.mac, slot.blocks[0])
        except CardError:
            continue
        if event.counter <= counter and event.counter % len(EVENT_SLOTS) == slot.index:
            events.append(event)
    return tuple(sorted(events, key=lambda e: e.counter, reverse=True))


def read_state(ch: BlockSource, *, contracts: bool | None = None, session: bool | None = None,
               events: bool = False) -> CardState:
    """Read and verify through an open channel. ``contracts`` and ``session``
    default to reading only what the transaction record says is there.

    :raises CardError: a subclass naming the sector and block at fault.
    """
    identity = Identity.decode(ch.read_blocks(IDENTITY_BLOCKS), ch.mac, IDENTITY_BLOCKS[0])
    values = (ch.read(PURSE_VALUE_BLOCKS[0]), ch.read(PURSE_VALUE_BLOCKS[1]))
    slots = (ch.read_blocks(TRANSACTION_SLOTS[0].blocks), ch.read_blocks(TRANSACTION_SLOTS[1].blocks))
    purse = resolve_purse(ch.mac, values, slots)
    record = purse.record
    state = CardState(uid=ch.uid, identity=identity, purse=purse)
    if contracts if contracts is not None else record.contracts_present:
        if record.contracts_present:
            found, index = read_contracts(ch, record.counter)
            state = replace(state, contracts=found, contracts_slot=index)
        else:
            state = replace(state, contracts=ContractList(record.counter, ()))
    if (session if session is not None else record.session_open) and record.session_open:
        open_session, index = read_session(ch, record.counter)
        state = replace(state, session=open_session, session_slot=index)
    if events:
        state = replace(state, events=read_events(ch, record.counter))
    return state


def open_channel(reader: ClassicReader, masters: MasterKeys) -> CardChannel:
    """Select the card in the field and derive its keys (1 command)."""
    return CardChannel(reader, masters.for_card(reader.uid()))



def read_card(reader: ClassicReader, masters: MasterKeys, **options: bool | None) -> CardState:
    """Select, read and verify the card in the field.

    :raises CardError: a subclass naming the sector and block at fault.
    """
    return read_state(open_channel(reader, masters), **options)  # type: ignore[arg-type]


