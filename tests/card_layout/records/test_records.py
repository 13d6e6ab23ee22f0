"""Round trips for every record codec, and their refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_layout.errors import CardFormatError, CardIntegrityError
from card_layout.records.contracts import MAX_CONTRACTS, Contract, ContractKind, ContractList
from card_layout.records.event import Event, EventType
from card_layout.records.identity import CardKind, FareProfile, Identity
from card_layout.records.sealing import DATE_EPOCH, DATE_MAX, MacContext
from card_layout.records.session import Session, SessionKind
from card_layout.records.transaction import CapCounters, TransactionRecord, TripState

UID = bytes.fromhex("01020304")
CTX = MacContext(UID, bytes(range(16)))
OTHER_CARD = MacContext(bytes.fromhex("01020305"), bytes(range(16)))

dates = st.dates(min_value=DATE_EPOCH + dt.timedelta(days=1), max_value=DATE_MAX)
times = st.integers(min_value=1, max_value=2**32 - 1).map(lambda s: dt.datetime.fromtimestamp(s, dt.UTC))
u8, u16, u24, u32 = (st.integers(0, 2**bits - 1) for bits in (8, 16, 24, 32))
i32 = st.integers(-(2**31), 2**31 - 1)
locodes = st.from_regex(r"\A[A-Z]{2}[A-Z2-9]{3}\Z")


@st.composite
def identities(draw: st.DrawFn) -> Identity:
    issued = draw(dates)
    expires = draw(st.dates(min_value=issued, max_value=DATE_MAX))
    return Identity(draw(st.integers(0, 2**64 - 1)), draw(locodes), draw(st.sampled_from(CardKind)),
                    draw(st.sampled_from(FareProfile)), issued, expires, draw(u32))


@st.composite
def transactions(draw: st.DrawFn) -> TransactionRecord:
    trip = TripState(draw(st.none() | times), draw(st.none() | times), draw(u16), draw(u8), draw(u8))
    return TransactionRecord(draw(u24), draw(u16), draw(st.booleans()), draw(st.booleans()), trip,
                             CapCounters(draw(u16), draw(u24)))


@st.composite
def contract_lists(draw: st.DrawFn) -> ContractList:
    contracts = []
    for _ in range(draw(st.integers(0, MAX_CONTRACTS))):
        start = draw(dates)
        end = draw(st.dates(min_value=start, max_value=DATE_MAX))
        contracts.append(Contract(draw(st.sampled_from(ContractKind)), start, end, draw(u8), draw(u16)))
    return ContractList(draw(u24), tuple(contracts))


sessions = st.builds(Session, u24, st.sampled_from(SessionKind), u8, u32, u16, times)
events = st.builds(Event, u24, st.sampled_from(EventType), times, i32, i32, u8, u32, u16)


@given(identities())
def test_identity_round_trip(identity: Identity) -> None:
    data = identity.encode(CTX)
    assert len(data) == 32
    assert Identity.decode(data, CTX) == identity


@given(transactions(), i32)
def test_transaction_round_trip(record: TransactionRecord, value: int) -> None:
    data = record.encode(CTX, value)
    assert TransactionRecord.decode(data, CTX, value) == record


@given(transactions(), i32, i32)
def test_transaction_is_bound_to_its_purse_value(record: TransactionRecord, value: int, other: int) -> None:
    data = record.encode(CTX, value)
    if other != value:
        with pytest.raises(CardIntegrityError):
            TransactionRecord.decode(data, CTX, other)


@given(contract_lists())
def test_contracts_round_trip(listing: ContractList) -> None:
    assert ContractList.decode(listing.encode(CTX), CTX) == listing


@given(sessions)
def test_session_round_trip(session: Session) -> None:
    assert Session.decode(session.encode(CTX), CTX) == session


@given(events)
def test_event_round_trip(event: Event) -> None:
    assert Event.decode(event.encode(CTX), CTX) == event


@given(identities())
def test_a_record_copied_to_another_card_does_not_verify(identity: Identity) -> None:
    with pytest.raises(CardIntegrityError):
        Identity.decode(identity.encode(CTX), OTHER_CARD)


@given(identities())
def test_without_the_mac_key_records_decode_unverified(identity: Identity) -> None:
    assert Identity.decode(identity.encode(CTX), MacContext(UID, None)) == identity


def test_an_unknown_version_is_refused_with_the_block() -> None:
    data = bytearray(TransactionRecord(5).encode(CTX, 100))
    data[0] = 2
    with pytest.raises(CardFormatError, match=r"sector 3 block 12: transaction record version 2 is not supported"):
        TransactionRecord.decode(bytes(data), CTX, 100, block=12)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Identity(1, "gijon", CardKind.CITIZEN, FareProfile.GENERAL, dt.date(2026, 1, 1),
                          dt.date(2027, 1, 1), 0), "UN/LOCODE"),
        (lambda: Identity(1, "ESGIJ", CardKind.CITIZEN, FareProfile.GENERAL, dt.date(2027, 1, 1),
                          dt.date(2026, 1, 1), 0), "before issue"),
        (lambda: TransactionRecord(2**24), "counter"),
        (lambda: TransactionRecord(0, caps=CapCounters(day_cents=70_000)), "day spend"),
        (lambda: ContractList(0, (Contract(ContractKind.BIKE, dt.date(2026, 1, 1), dt.date(2027, 1, 1)),) * 5),
         "at most 4"),
        (lambda: Event(0, EventType.TRIP, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), amount_cents=2**31), "amount"),
        (lambda: TransactionRecord(0).encode(CTX, 0) and TransactionRecord(
            0, trip=TripState(journey_start=dt.datetime(2026, 1, 1))).encode(CTX, 0), "timezone-aware"),
    ],
)
def test_out_of_range_fields_are_refused(build, message: str) -> None:
    with pytest.raises(CardFormatError, match=message):
        build()


def test_the_counter_runs_out_with_a_clear_error() -> None:
    with pytest.raises(CardFormatError, match="exhausted"):
        TransactionRecord(2**24 - 1).next()
