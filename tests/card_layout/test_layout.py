"""The layout: slots, AIDs and access policy; and docs/card-layout.md agrees with it."""

from __future__ import annotations

from pathlib import Path

from card_layout.access import KeyType, Op
from card_layout.geometry import SECTORS
from card_layout.layout import (
    AIDS,
    CONTRACT_SLOTS,
    EVENT_SLOTS,
    PURSE_VALUE_BLOCKS,
    SESSION_SLOTS,
    TRANSACTION_SLOTS,
    Area,
    access_for,
    application_mad,
    area_of,
    holds_application,
)
from card_layout.mad import CLUSTER_CITY_CARD

DOC = Path(__file__).resolve().parents[2] / "docs" / "card-layout.md"


def _who(keys: frozenset[KeyType]) -> str:
    return "/".join(k.name for k in sorted(keys, key=lambda k: k.name)) or "-"


def render_access_table() -> str:
    """The sector table of docs/card-layout.md, rendered from card_layout.layout."""
    lines = [
        "| sector | block | area | read | write | increment | decrement, transfer, restore |",
        "|---|---|---|---|---|---|---|",
    ]
    for sector in range(SECTORS):
        access = access_for(sector)
        for index in range(3):
            rights = access.data_access(index)
            cells = [_who(rights.keys_for(op)) for op in Op]
            lines.append(f"| {sector} | {sector * 4 + index} | {area_of(sector).value} | " + " | ".join(cells) + " |")
        trailer = access.trailer_access()
        lines.append(f"| {sector} | {sector * 4 + 3} | trailer | access bits {_who(trailer.access_read)} | "
                     f"key A {_who(trailer.key_a_write)}, access bits {_who(trailer.access_write)}, "
                     f"key B {_who(trailer.key_b_write)} | - | - |")
    return "\n".join(lines)


def test_docs_show_the_layout_access_table() -> None:
    assert render_access_table() in DOC.read_text(), (
        "docs/card-layout.md is out of date; regenerate the table with "
        "`python -c 'from tests.card_layout.test_layout import render_access_table as r; print(r())'`"
    )


def test_validators_only_decrement_the_purse() -> None:
    purse = access_for(PURSE_VALUE_BLOCKS[0] // 4)
    for index in (0, 1):
        assert purse.allows(index, Op.DECREMENT, KeyType.A)
        assert not purse.allows(index, Op.INCREMENT, KeyType.A)
        assert not purse.allows(index, Op.WRITE, KeyType.A)
        assert purse.allows(index, Op.INCREMENT, KeyType.B)
    # the third block cannot feed a restore into the purse
    assert not purse.allows(2, Op.DECREMENT, KeyType.A)
    assert not purse.allows(2, Op.DECREMENT, KeyType.B)


def test_key_b_is_never_readable_and_key_a_never_changes_a_trailer() -> None:
    for sector in range(SECTORS):
        trailer = access_for(sector).trailer_access()
        assert not trailer.key_b_readable
        assert KeyType.A not in trailer.key_a_write | trailer.access_write | trailer.key_b_write


def test_slots() -> None:
    assert [s.sector for s in TRANSACTION_SLOTS] == [3, 4]
    assert [s.sector for s in SESSION_SLOTS] == [5, 6]
    assert [s.sector for s in CONTRACT_SLOTS] == [7, 8]
    assert [s.sector for s in EVENT_SLOTS] == [9, 10, 11, 12, 13, 14]
    assert area_of(15) is Area.FREE


def test_the_mad_names_our_sectors() -> None:
    mad = application_mad()
    assert holds_application(mad)
    assert mad.aid_of(15) == 0x0000
    assert {aid >> 8 for area, aid in AIDS.items() if area is not Area.FREE} == {CLUSTER_CITY_CARD}
    assert mad.sectors_of(AIDS[Area.EVENTS]) == (9, 10, 11, 12, 13, 14)
