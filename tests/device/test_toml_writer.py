"""The small TOML writer: what it writes, tomllib reads back equal."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.toml_writer import dumps, format_key, format_string, format_value

_keys = st.text(max_size=8)
_scalars = (
    st.text()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.dates()
    | st.datetimes()
    | st.datetimes(timezones=st.just(dt.UTC))
    | st.times()
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)
_documents = st.dictionaries(_keys, _values, max_size=6)


def _comparable(value: Any) -> Any:
    # tomllib gives back timezone(timedelta(0)) for a UTC offset: compare the instants.
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return ("aware", value.astimezone(dt.UTC))
    return value


@given(_documents)
def test_round_trip(document: dict[str, Any]) -> None:
    assert _comparable(tomllib.loads(dumps(document))) == _comparable(document)


def test_layout() -> None:
    text = dumps({
        "title": "fares",
        "zones": {"A": {"single": 150}, "only tables": {"x": {}}},
        "bands": [{"from": 0, "cents": 100, "extra": {"night": True}}, {"from": 5}],
        "inline": [{"a": 1}, 2],
        "empty": {},
    })
    assert text == (
        'title = "fares"\n'
        'inline = [{ a = 1 }, 2]\n'
        "\n"
        "[zones.A]\n"
        "single = 150\n"
        "\n"
        '[zones."only tables".x]\n'
        "\n"
        "[[bands]]\n"
        "from = 0\n"
        "cents = 100\n"
        "\n"
        "[bands.extra]\n"
        "night = true\n"
        "\n"
        "[[bands]]\n"
        "from = 5\n"
        "\n"
        "[empty]\n"
    )
    assert tomllib.loads(text)["bands"][0]["extra"] == {"night": True}


def test_scalars() -> None:
    assert format_key("bare_key-1") == "bare_key-1"
    assert format_key("a b") == '"a b"' and format_key("") == '""' and format_key("é") == '"é"'
    assert format_string('q"\\\n\t\x00\x7f é') == '"q\\"\\\\\\n\\t\\u0000\\u007F é"'
    assert [format_value(v) for v in (True, 0, -5, 1.5, 1e100, math.inf, -math.inf, math.nan)] == [
        "true", "0", "-5", "1.5", "1e+100", "inf", "-inf", "nan"]
    assert format_value(dt.date(2025, 1, 31)) == "2025-01-31"
    assert format_value({}) == "{}" and format_value([]) == "[]"
    assert dumps({}) == ""


@pytest.mark.parametrize(
    ("document", "error", "message"),
    [
        ({"a": {"b": None}}, TypeError, "a.b: NoneType None has no TOML form"),
        ({"a": b"x"}, TypeError, "a: bytes"),
        ({"a": {1: 2}}, TypeError, "a: key 1 is not a string"),
        ({"a": [{"b": {2: 3}}]}, TypeError, "key 2 is not a string"),
        ({"t": dt.time(1, tzinfo=dt.UTC)}, TypeError, "no time of day with a zone"),
        ({"n": 2**63}, ValueError, "n: integer 9223372036854775808 does not fit"),
    ],
)
def test_refuses_what_toml_cannot_hold(document: dict[Any, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        dumps(document)
