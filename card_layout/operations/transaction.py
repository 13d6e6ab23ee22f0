"""Commit a transaction: debit, credit, or a state change with no money, plus
the records that go with it (trip and capping state, a session opened or
closed, contracts, an event). One primitive, :func:`commit`, does them all, so
every change to the card goes through the same tear-safe sequence:

1. side records for counter ``n + 1`` (session, contracts, event) are written
   to the slot not holding the current copy; they are ignored until step 3;
2. the transaction record ``n + 1`` is written to slot ``(n + 1) mod 2``; it
   commits to the new balance, which its value block does not hold yet;
3. the new balance is moved into value slot ``(n + 1) mod 2`` with one
   decrement (or increment) of the current slot and one transfer: the commit
   point. A tear before it leaves state ``n``; after it, state ``n + 1``;
4. the previous record is retired so that it can never be brought back: the
   new value is copied over its value block (restore + transfer), or, when no
   money moved, its first block is erased;
5. superseded copies of the side records written in step 1 are erased too, so
   that a changed byte in the live copy is detected rather than answered by
   the older copy.

Commands, with the reader already authenticated to the sector read last by
:func:`~card_layout.operations.state.read_state` (slot 1's sector):

===========================  ========  ================================
operation                    commands  sequence
===========================  ========  ================================
debit / credit               7 or 8    [auth T] 2 write, auth purse, dec|inc,
                                       transfer, restore, transfer
 + event                     +3        auth event sector, 2 write
state change, no money       4 or 5    [auth T] 2 write, auth old T, erase
 + value slot out of date    +3        auth purse, restore, transfer
open session                 +3 (+2)   auth session sector, 2 write
                                       (+ auth, erase the previous one)
contracts                    +4 (+2)   auth contracts sector, 3 write
                                       (+ auth, erase the previous one)
===========================  ========  ================================

Validators may only decrement (the purse's access bits give increment to key
B alone): a credit by a role without key B fails before anything is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from ..access import KeyType
from ..errors import CardAccessError, CardFormatError, InsufficientFundsError
from ..geometry import BLOCK_SIZE
from ..layout import (
    CONTRACT_SLOTS,
    EVENT_SLOTS,
    PURSE_SECTOR,
    PURSE_VALUE_BLOCKS,
    SESSION_SLOTS,
    TRANSACTION_SLOTS,
    slot_for,
)
from ..records.contracts import Contract, ContractList
from ..records.event import Event, EventType
from ..records.session import Session, SessionKind
from ..records.transaction import CapCounters, TripState
from ..value_block import VALUE_MAX, VALUE_MIN
from .channel import CardChannel
from .state import CardState, PurseResolution


@dataclass(frozen=True)
class EventInfo:
    """What to log in the event ring; the counter, amount and balance are filled in."""

    type: EventType
    at: dt.datetime
    operator: int = 0
    device: int = 0
    location: int = 0


@dataclass(frozen=True)
class SessionStart:
    kind: SessionKind
    started: dt.datetime
    operator: int = 0
    asset: int = 0
    station: int = 0


def _other(current: int | None, count: int, counter: int) -> int:
    return counter % count if current is None else 1 - current


def commit(
    ch: CardChannel,
    state: CardState,
    *,
    delta_cents: int = 0,
    floor_cents: int = 0,
    trip: TripState | None = None,
    caps: CapCounters | None = None,
    load_seq: int | None = None,
    contracts: tuple[Contract, ...] | None = None,
    open_session: SessionStart | None = None,
    close_session: bool = False,
    event: EventInfo | None = None,
) -> CardState:
    """Commit transaction ``state.counter + 1`` and return the card's new state.

    :param delta_cents: money moved: negative debits, positive credits (key B).
    :param floor_cents: the lowest balance a debit may leave (negative allows
        riding into a small negative balance).
    :raises InsufficientFundsError: when a debit would go below ``floor_cents``.
    :raises CardAccessError: when this role may not credit or write contracts.
    :raises CardRemovedError: when the card left the field; the card then holds
        either the old or the new state, never anything else.
    """
    old = state.record
    balance = state.balance_cents
    new_balance = balance + delta_cents
    if delta_cents < 0 and new_balance < floor_cents:
        raise InsufficientFundsError(
            f"balance {balance} cents cannot pay {-delta_cents} cents (floor {floor_cents})"
        )
    if not VALUE_MIN <= new_balance <= VALUE_MAX:
        raise CardFormatError(f"balance {new_balance} cents does not fit the purse")
    if delta_cents > 0 and not ch.keys.has(KeyType.B, PURSE_SECTOR):
        raise CardAccessError("this role holds no key B: it may not credit the purse")
    if contracts is not None and not all(ch.keys.has(KeyType.B, slot.sector) for slot in CONTRACT_SLOTS):
        raise CardAccessError("this role holds no key B: it may not write contracts")
    if open_session is not None and close_session:
        raise CardFormatError("a transaction cannot both open and close a session")
    if (contracts is not None and old.contracts_present and state.contracts_slot is None) or (
        open_session is not None and old.session_open and state.session_slot is None
    ):
        raise CardFormatError("read the card's contracts and session before replacing them")

    new = old.next(
        trip=trip if trip is not None else old.trip,
        caps=caps if caps is not None else old.caps,
        load_seq=load_seq if load_seq is not None else old.load_seq,
        contracts_present=old.contracts_present if contracts is None else bool(contracts),
        session_open=(old.session_open or open_session is not None) and not close_session,
    )
    m = new.counter
    result = state

    # 1. side records, ignored by any read until the commit point
    if contracts is not None:
        index = _other(state.contracts_slot, len(CONTRACT_SLOTS), m)
        listing = ContractList(m, contracts)
        ch.write_blocks(CONTRACT_SLOTS[index].blocks, listing.encode(ch.mac))
        result = replace(result, contracts=listing, contracts_slot=index)
    if open_session is not None:
        index = _other(state.session_slot, len(SESSION_SLOTS), m)
        session = Session(m, open_session.kind, open_session.operator, open_session.asset, open_session.station,
                          open_session.started)
        ch.write_blocks(SESSION_SLOTS[index].blocks, session.encode(ch.mac))
        result = replace(result, session=session, session_slot=index)
    if close_session:
        result = replace(result, session=None, session_slot=None)
    if event is not None:
        logged = Event(m, event.type, event.at, delta_cents, new_balance, event.operator, event.device, event.location)
        ch.write_blocks(slot_for(EVENT_SLOTS, m).blocks, logged.encode(ch.mac))

    # 2. the record, committing to a value its block does not hold yet
    current, target = PURSE_VALUE_BLOCKS[old.counter % 2], PURSE_VALUE_BLOCKS[m % 2]
    ch.write_blocks(slot_for(TRANSACTION_SLOTS, m).blocks, new.encode(ch.mac, new_balance))

    # 3. the commit point: one transfer into the record's value slot
    if delta_cents < 0:
        ch.decrement(current, -delta_cents)
        ch.transfer(target)
    elif delta_cents > 0:
        ch.increment(current, delta_cents)
        ch.transfer(target)
    elif state.purse.values[m % 2] != balance:
        ch.restore(current)
        ch.transfer(target)

    # 4. retire the previous record
    values = list(state.purse.values)
    values[m % 2] = new_balance
    if delta_cents != 0:
        ch.restore(target)
        ch.transfer(current)
        values[old.counter % 2] = new_balance
    else:
        ch.write(slot_for(TRANSACTION_SLOTS, old.counter).blocks[0], bytes(BLOCK_SIZE))

    # 5. retire superseded side records, so that only the committed copy verifies
    if result.contracts_slot is not None and contracts is not None:
        ch.write(CONTRACT_SLOTS[1 - result.contracts_slot].blocks[0], bytes(BLOCK_SIZE))
    if result.session_slot is not None and open_session is not None:
        ch.write(SESSION_SLOTS[1 - result.session_slot].blocks[0], bytes(BLOCK_SIZE))

    purse = PurseResolution(record=new, slot=m % 2, balance_cents=new_balance, values=(values[0], values[1]))
    return replace(result, purse=purse)


def debit(ch: CardChannel, state: CardState, amount_cents: int, **options: object) -> CardState:
    """Take ``amount_cents`` (> 0) from the purse; see :func:`commit` for options.

    :raises InsufficientFundsError: below the floor.
    """
    if amount_cents <= 0:
        raise CardFormatError(f"a debit takes a positive amount, got {amount_cents}")
    return commit(ch, state, delta_cents=-amount_cents, **options)  # type: ignore[arg-type]


def credit(ch: CardChannel, state: CardState, amount_cents: int, **options: object) -> CardState:
    """Add ``amount_cents`` (> 0) to the purse (key B roles only).

    :raises CardAccessError: for a role without key B.
    """
    if amount_cents <= 0:
        raise CardFormatError(f"a credit adds a positive amount, got {amount_cents}")
    return commit(ch, state, delta_cents=amount_cents, **options)  # type: ignore[arg-type]


def retire_previous(ch: CardChannel, state: CardState) -> CardState:
    """Finish a commit that was torn after its commit point: retire the
    previous record, which still verifies (3 commands; none when there is
    nothing to do). The next commit would do it too; a kiosk or a validator
    with time to spare calls this so that the card never holds two valid states.
    """
    purse = state.purse
    if not purse.previous_still_valid:
        return state
    old_slot = 1 - purse.slot
    if purse.values[old_slot] != purse.balance_cents:
        ch.restore(PURSE_VALUE_BLOCKS[purse.slot])
        ch.transfer(PURSE_VALUE_BLOCKS[old_slot])
    else:
        ch.write(TRANSACTION_SLOTS[old_slot].blocks[0], bytes(BLOCK_SIZE))
    values = (purse.balance_cents, purse.balance_cents)
    return replace(state, purse=replace(purse, values=values, previous_still_valid=False))


def append_event(ch: CardChannel, state: CardState, event: EventInfo) -> CardState:
    """Log an event that moves no money (a library loan, a museum visit). An
    event is always a transaction of its own, so it has a counter: its place in
    the ring, its order for the back office, and what its MAC binds
    (7-8 commands: a state change plus the event).
    """
    return commit(ch, state, event=event)
