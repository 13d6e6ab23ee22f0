"""Tamper sweep: changing any byte of any MAC-protected record that the card's
state rests on is detected; a changed event is never trusted."""

from __future__ import annotations

import datetime as dt

import pytest

from card_layout.errors import CardError
from card_layout.image import ImageBlocks
from card_layout.layout import CONTRACT_SLOTS, EVENT_SLOTS, IDENTITY_BLOCKS, SESSION_SLOTS, TRANSACTION_SLOTS
from card_layout.operations.audit import audit_records
from card_layout.operations.state import CardState, open_channel, read_state
from card_layout.operations.transaction import EventInfo, SessionStart, commit, debit
from card_layout.records.contracts import Contract, ContractKind
from card_layout.records.event import EventType
from card_layout.records.session import SessionKind
from hardware.sim.reader import SimReader
from tests.factories import issued_card, masters

KEYS = masters()
AT = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)
PASS = Contract(ContractKind.TRANSIT_PASS, dt.date(2026, 11, 1), dt.date(2026, 11, 30), 1, 30)
BIKE = Contract(ContractKind.BIKE, dt.date(2026, 1, 1), dt.date(2026, 12, 31), 2, 1)


def _busy_card() -> tuple[bytes, CardState]:
    """A card that went through a debit, a contracts sale and a bike rental."""
    card = issued_card(1500, contracts=(BIKE,))
    reader = SimReader(card)
    ch = open_channel(reader, KEYS)
    state = read_state(ch, contracts=True)
    state = debit(ch, state, 150, event=EventInfo(EventType.TRIP, AT))
    state = commit(ch, state, contracts=(BIKE, PASS), event=EventInfo(EventType.CONTRACT_SOLD, AT))
    state = commit(ch, state, open_session=SessionStart(SessionKind.BIKE, AT, 2, 77, 5),
                   event=EventInfo(EventType.BIKE_START, AT))
    return card.image(), state


def _read(image: bytes) -> CardState:
    return read_state(ImageBlocks(image, KEYS.mac), contracts=True, session=True, events=True)


def _live_blocks(state: CardState) -> dict[str, tuple[int, ...]]:
    assert state.contracts_slot is not None and state.session_slot is not None
    return {
        "identity": IDENTITY_BLOCKS,
        "transaction": TRANSACTION_SLOTS[state.purse.slot].blocks,
        "contracts": CONTRACT_SLOTS[state.contracts_slot].blocks,
        "session": SESSION_SLOTS[state.session_slot].blocks,
    }


def _flip(image: bytes, offset: int) -> bytes:
    changed = bytearray(image)
    changed[offset] ^= 0x5A
    return bytes(changed)


def test_the_busy_card_reads_back() -> None:
    image, state = _busy_card()
    read = _read(image)
    assert (read.balance_cents, read.counter) == (1350, 3)
    assert (read.contracts, read.session) == (state.contracts, state.session)
    assert read.purse.notes == ("slot 0 (sector 3) is empty",)
    assert audit_records(ImageBlocks(image, KEYS.mac))[1] == []


@pytest.mark.parametrize("record", ["identity", "transaction", "contracts", "session"])
def test_any_changed_byte_of_a_live_record_is_detected(record: str) -> None:
    image, state = _busy_card()
    for block in _live_blocks(state)[record]:
        for offset in range(block * 16, block * 16 + 16):
            tampered = _flip(image, offset)
            with pytest.raises(CardError) as raised:
                _read(tampered)
            assert f"sector {block // 4}" in str(raised.value) or "no transaction record" in str(raised.value)
            _, findings = audit_records(ImageBlocks(tampered, KEYS.mac))
            assert any(f.error for f in findings), (record, offset)


def test_a_changed_event_is_never_trusted() -> None:
    image, _ = _busy_card()
    events = _read(image).events
    assert events is not None and [e.type for e in events] == [
        EventType.BIKE_START, EventType.CONTRACT_SOLD, EventType.TRIP, EventType.ISSUED]
    for event in events:
        slot = EVENT_SLOTS[event.counter % len(EVENT_SLOTS)]
        for block in slot.blocks:
            for offset in range(block * 16, block * 16 + 16):
                read = _read(_flip(image, offset))
                assert read.events is not None
                assert event not in read.events
                assert len(read.events) == 3
