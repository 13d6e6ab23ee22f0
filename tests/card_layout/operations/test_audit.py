"""Auditing a card through a reader: what `card verify sim:...` relies on."""

from __future__ import annotations

from card_layout.access import KeyType
from card_layout.geometry import trailer_block
from card_layout.operations.audit import audit_card
from card_layout.trailer import SectorTrailer
from hardware.sim.card import SimulatedCard
from hardware.sim.reader import SimReader
from tests.factories import UID, issued_card, masters

KEYS = masters()


def _with_trailer(card: SimulatedCard, sector: int, trailer: SectorTrailer) -> SimulatedCard:
    image = bytearray(card.image())
    block = trailer_block(sector)
    image[block * 16 : block * 16 + 16] = trailer.encode()
    return SimulatedCard(bytes(image))


def test_a_genuine_card() -> None:
    report = audit_card(SimReader(issued_card()), KEYS)
    assert report.genuine and report.first_error is None
    assert report.state is not None and report.state.balance_cents == 2000


def test_a_sector_left_with_the_transport_key_is_found() -> None:
    card = _with_trailer(issued_card(), 12, SectorTrailer.transport())
    report = audit_card(SimReader(card), KEYS)
    assert not report.genuine
    messages = [f.message for f in report.findings if f.error]
    assert "sector 12: the well-known key FFFFFFFFFFFF opens it as key A" in messages
    assert "sector 12: this card's derived key A does not open it" in messages


def test_access_bits_other_than_the_layout_are_found() -> None:
    keys = KEYS.for_card(UID)
    transport_access = SectorTrailer.transport().access
    loose = SectorTrailer(keys.sector_key(2, KeyType.A), transport_access, keys.sector_key(2, KeyType.B))
    report = audit_card(SimReader(_with_trailer(issued_card(), 2, loose)), KEYS)
    assert report.first_error is not None
    assert report.first_error.startswith("sector 2 block 11: access bits FF0780 differ from the layout's")


def test_a_card_of_other_keys_is_not_genuine() -> None:
    report = audit_card(SimReader(issued_card(keys=masters(7))), KEYS)
    assert not report.genuine
    assert report.state is None
