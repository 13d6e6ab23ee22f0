"""Reading form fields (sync_server/web/pages/fields.py): any text gives a
value or a message, never an exception; amounts in euros are read exactly."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_server.db.types import UNSIGNED_MAX
from sync_server.web.pages.fields import Fields, parse_uid


@given(st.text(max_size=40))
def test_any_text_gives_a_value_or_a_message(text: str) -> None:
    fields = Fields({name: text for name in ("cents", "moment", "card", "uid", "choice", "integer", "text")})
    results = {
        "cents": fields.cents("cents", 25_000),
        "moment": fields.moment("moment"),
        "card": fields.card_number("card"),
        "uid": fields.uid("uid"),
        "choice": fields.choice("choice", ("a", "b")),
        "integer": fields.integer("integer", 1, 9),
        "text": fields.text("text", 10),
    }
    for name, value in results.items():
        if text.strip():
            assert (value is None) == (name in fields.errors), name
        else:
            assert value is None
    if results["card"] is not None:
        assert 0 <= results["card"] <= UNSIGNED_MAX
    if results["moment"] is not None:
        assert results["moment"].utcoffset() == dt.timedelta(0)


@given(st.integers(1, 25_000), st.sampled_from([".", ","]))
def test_an_amount_in_euros_is_read_exactly(cents: int, separator: str) -> None:
    euros, rest = divmod(cents, 100)
    typed = f"{euros}{separator}{rest:02d}" if rest else str(euros)
    assert Fields({"amount": typed}).cents("amount", 25_000) == cents


@pytest.mark.parametrize(("typed", "expected"), [("12.5", 1250), ("0,05", 5), ("250", 25_000)])
def test_amounts_as_people_type_them(typed: str, expected: int) -> None:
    assert Fields({"amount": typed}).cents("amount", 25_000) == expected


@pytest.mark.parametrize(("typed", "expected"), [
    ("2026-05-01", dt.datetime(2026, 5, 1, tzinfo=dt.UTC)),
    ("2026-05-01T07:30", dt.datetime(2026, 5, 1, 7, 30, tzinfo=dt.UTC)),
    ("2026-05-01 09:30+02:00", dt.datetime(2026, 5, 1, 7, 30, tzinfo=dt.UTC)),
])
def test_times_are_utc_unless_they_say_otherwise(typed: str, expected: dt.datetime) -> None:
    assert Fields({"at": typed}).moment("at") == expected


@pytest.mark.parametrize("typed", ["0001-01-01T00:00+01:00", "9999-12-31T23:59-01:00", "2026-02-30", "20260501"])
def test_times_that_cannot_be_are_refused(typed: str) -> None:
    fields = Fields({"at": typed})
    assert fields.moment("at") is None and "Write a date" in fields.errors["at"]


def test_uids_and_digits_of_other_scripts() -> None:
    assert parse_uid("04:a1:b2:c3") == bytes.fromhex("04A1B2C3")
    assert parse_uid("04 A1 B2 C3 D4 E5 F6") == bytes.fromhex("04A1B2C3D4E5F6")
    assert parse_uid("04a1b2") is None and parse_uid("０４ａ１ｂ２ｃ３") is None
    fields = Fields({"card": "１２３", "square": "²"})
    assert fields.card_number("card") is None and fields.integer("square", 0, 9) is None
    assert set(fields.errors) == {"card", "square"}
