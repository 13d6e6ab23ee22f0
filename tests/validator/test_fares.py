"""The fare table's validation and prices."""

from __future__ import annotations

import copy

import pytest

from card_layout.records.identity import CardKind, FareProfile
from validator.errors import FareTableError
from validator.fares import DEFAULT_FARES, FareTable


def test_the_default_table_loads() -> None:
    table = FareTable.from_mapping(DEFAULT_FARES)
    assert table.bus.fare(FareProfile.SENIOR) == 50
    assert table.bus.fare(FareProfile.GENERAL) == 150
    assert table.bike.block(FareProfile.CHILD) == 50  # not named: the general price
    assert table.bike.kinds == {CardKind.CITIZEN, CardKind.TOURIST}
    assert table.ev.price(1000, FareProfile.GENERAL) == 25
    assert table.ev.price(20, FareProfile.GENERAL) == 1  # 0.5 cent rounds up


def _broken(path: list[str], value: object) -> dict:
    table = copy.deepcopy(DEFAULT_FARES)
    node = table
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return table


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["bus", "fare", "elderly"], 10, "fares.bus.fare.elderly: unknown fare profile"),
        (["bus", "fare", "general"], None, "fares.bus.fare: needs a price for 'general'"),
        (["bus", "transfer_minutes"], -5, "fares.bus.transfer_minutes: -5 is not a whole number"),
        (["bus", "transfer_minutes"], True, "fares.bus.transfer_minutes: True"),
        (["bus", "tranfer_minutes"], 45, "fares.bus: unknown key(s) tranfer_minutes"),
        (["bike", "kinds"], ["citizen", "robot"], "fares.bike.kinds"),
        (["ev"], None, "fares.ev: missing"),
        (["bike", "block_minutes"], 0, "fares.bike.block_minutes"),
    ],
)
def test_bad_tables_are_refused_naming_the_key(path: list[str], value: object, message: str) -> None:
    with pytest.raises(FareTableError) as raised:
        FareTable.from_mapping(_broken(path, value))
    assert message in str(raised.value)
