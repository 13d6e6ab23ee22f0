"""Personalisation: every key diversified, nothing well-known left, the plan on
the card, a torn issuance completed by a retry, and refusals."""

from __future__ import annotations

import pytest

from card_layout.access import KeyType
from card_layout.errors import AlreadyIssuedError, AuthenticationError, CardRemovedError, KeyMaterialError
from card_layout.geometry import SECTORS, trailer_block
from card_layout.image import check_trailers
from card_layout.layout import access_for
from card_layout.operations.audit import audit_card
from card_layout.operations.personalise import Issuance, personalise, plan_card, wipe
from card_layout.trailer import SectorTrailer
from hardware.sim.card import SimulatedCard
from hardware.sim.reader import SimReader
from tests.factories import ISSUED_AT, UID, identity, issued_card, masters

KEYS = masters()
ISSUANCE = Issuance(identity(), 2500, issued_at=ISSUED_AT)


def test_the_card_holds_the_plan_and_its_own_keys() -> None:
    card = SimulatedCard.blank(UID)
    state = personalise(SimReader(card), KEYS, ISSUANCE)
    assert (state.balance_cents, state.counter, state.identity) == (2500, 0, identity())
    image = card.image()
    plan = plan_card(KEYS.for_card(UID), ISSUANCE)
    assert all(image[b * 16 : b * 16 + 16] == data for b, data in plan.items())
    assert check_trailers(image, KEYS) == []
    card_keys = KEYS.for_card(UID)
    other = masters(2).for_card(UID)
    for sector in range(SECTORS):
        trailer = SectorTrailer.decode(image[trailer_block(sector) * 16 :][:16], sector)
        assert trailer.access == access_for(sector)
        assert trailer.key_a == card_keys.sector_key(sector, KeyType.A)
        assert trailer.key_b == card_keys.sector_key(sector, KeyType.B)
        assert trailer.key_a != other.sector_key(sector, KeyType.A)


def test_keys_differ_between_cards() -> None:
    one = KEYS.for_card(bytes.fromhex("01020304"))
    two = KEYS.for_card(bytes.fromhex("01020305"))
    assert all(one.sector_key(s, k) != two.sector_key(s, k) for s in range(SECTORS) for k in KeyType)


def test_no_well_known_key_opens_an_issued_card() -> None:
    report = audit_card(SimReader(issued_card()), KEYS)
    assert report.genuine, report.findings
    assert report.findings == ()


def test_an_issued_card_is_not_issued_again() -> None:
    card = issued_card(900)
    before = card.image()
    with pytest.raises(AlreadyIssuedError, match="sector 0: the card is already issued"):
        personalise(SimReader(card), KEYS, ISSUANCE)
    assert card.image() == before


def test_a_validator_cannot_issue() -> None:
    with pytest.raises(KeyMaterialError, match="key B master"):
        personalise(SimReader(SimulatedCard.blank(UID)), KEYS.validator_subset(), ISSUANCE)


def test_a_torn_issuance_is_completed_by_a_retry() -> None:
    total = SimulatedCard.blank(UID)
    personalise(SimReader(total), KEYS, ISSUANCE)
    # sector 0's trailer is written last: once it is, the card is issued
    issued_after = next(r.index for r in total.log if r.command == "write_block" and r.block == 3)
    for tear_after in range(total.command_count):
        card = SimulatedCard.blank(UID)
        card.reset_tear(tear_after)
        with pytest.raises(CardRemovedError):
            personalise(SimReader(card), KEYS, ISSUANCE)
        card.insert()
        if tear_after >= issued_after:  # torn in the final verifying read
            with pytest.raises(AlreadyIssuedError):
                personalise(SimReader(card), KEYS, ISSUANCE)
        else:
            state = personalise(SimReader(card), KEYS, ISSUANCE)
            assert state.balance_cents == 2500, tear_after
        assert audit_card(SimReader(card), KEYS).genuine, tear_after


def test_a_trailer_write_torn_half_way_spoils_the_sector_with_a_clear_error() -> None:
    card = SimulatedCard.blank(UID)
    probe = SimulatedCard.blank(UID)
    personalise(SimReader(probe), KEYS, ISSUANCE)
    first_trailer_write = next(r.index for r in probe.log if r.command == "write_block" and r.block == 7)
    card.reset_tear(first_trailer_write - 1, torn_bytes=8)  # key A new, access bits half written
    with pytest.raises(CardRemovedError):
        personalise(SimReader(card), KEYS, ISSUANCE)
    card.insert()
    with pytest.raises(AuthenticationError, match="sector 1: neither the transport key nor this card's key B"):
        personalise(SimReader(card), KEYS, ISSUANCE)


def test_wipe_returns_a_card_to_transport_state_and_it_can_be_issued_again() -> None:
    card = issued_card(700)
    wipe(SimReader(card), KEYS)
    assert card.image() == SimulatedCard.blank(UID).image()
    state = personalise(SimReader(card), KEYS, ISSUANCE)
    assert state.balance_cents == 2500


def test_a_torn_wipe_is_completed_by_a_retry() -> None:
    probe = issued_card(700)
    wipe(SimReader(probe), KEYS)
    for tear_after in range(0, probe.command_count, 7):
        card = issued_card(700)
        card.reset_tear(tear_after)
        with pytest.raises(CardRemovedError):
            wipe(SimReader(card), KEYS)
        card.insert()
        wipe(SimReader(card), KEYS)
        assert card.image() == SimulatedCard.blank(UID).image(), tear_after


def test_wipe_needs_key_b_and_this_cards_keys() -> None:
    with pytest.raises(KeyMaterialError):
        wipe(SimReader(issued_card()), KEYS.validator_subset())
    with pytest.raises(AuthenticationError, match="sector 0"):
        wipe(SimReader(issued_card(keys=masters(3))), KEYS)
