"""Outcomes: cleaning and limiting messages, amounts, the 2x16 layout."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.feedback.outcome import (
    DISPLAY_COLUMNS,
    MESSAGE_MAX,
    Outcome,
    Signal,
    balance_line,
    clean_text,
    display_lines,
    format_amount,
    truncate,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Approved", "Approved"),
        ("Carte bloquée", "Carte bloquee"),
        ("Straße", "Strasse"),
        ("Łódź", "Lodz"),
        ("“Tap” again – now", '"Tap" again - now'),
        ("5 €", "5 EUR"),
        ("Card\nblocked\t\x00 now", "Card blocked now"),
        ("  many    spaces  ", "many spaces"),
        ("no\u00a0break", "no break"),
        ("soft\u00adhyphen", "softhyphen"),
        ("ＦＵＬＬ ﬁ", "FULL fi"),
        ("OK 👍", "OK ?"),
        ("乗車券", "???"),
        ("bad \udcff surrogate", "bad ? surrogate"),
        ("", ""),
    ],
)
def test_clean_text(text: str, expected: str) -> None:
    assert clean_text(text) == expected


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("Approved", 16, "Approved"),
        ("Exactly sixteen!", 16, "Exactly sixteen!"),
        ("Insufficient funds", 16, "Insufficient"),  # space at 12 keeps >= 2/3 of the line
        ("Card blocked here now", 16, "Card blocked"),
        ("Card blocked now!", 16, "Card blocked"),
        ("Card blocked now also", 16, "Card blocked now"),  # the space right after the width counts
        ("Go Unterbrechungsfrei", 16, "Go Unterbrechun."),  # the only space is too early: abbreviate
        ("Carte bloquee - Strasse", 16, "Carte bloquee"),  # no dangling dash
        ("abcdef", 1, "a"),
        ("abcdef", 2, "a."),
    ],
)
def test_truncate(text: str, width: int, expected: str) -> None:
    result = truncate(text, width)
    assert result == expected
    assert len(result) <= width


def test_truncate_refuses_a_zero_width() -> None:
    with pytest.raises(ValueError, match="width"):
        truncate("x", 0)


@pytest.mark.parametrize(
    ("cents", "currency", "expected"),
    [(850, "EUR", "8.50 EUR"), (5, "EUR", "0.05 EUR"), (-5, "EUR", "-0.05 EUR"), (0, "CHF", "0.00 CHF"),
     (-123456, "EUR", "-1234.56 EUR"), (100, "", "1.00")],
)  # fmt: skip
def test_format_amount(cents: int, currency: str, expected: str) -> None:
    assert format_amount(cents, currency) == expected


@pytest.mark.parametrize(
    ("cents", "expected"),
    [
        (850, "Balance 8.50 EUR"),
        (123456, "Bal 1234.56 EUR"),
        (-(2**31), "-21474836.48 EUR"),
        (10**14, "1000000000000.00"),
        (10**20, "#" * DISPLAY_COLUMNS),
    ],
)
def test_balance_line_never_cuts_the_amount(cents: int, expected: str) -> None:
    assert balance_line(cents) == expected


def test_outcome_cleans_and_limits_its_message() -> None:
    outcome = Outcome(Signal.DENIED, "Carte bloquée " * 10)
    assert outcome.message.isascii()
    assert len(outcome.message) <= MESSAGE_MAX
    assert outcome.message.startswith("Carte bloquee Carte")


@pytest.mark.parametrize("message", ["", "   ", "\n", "乗車券", "🚫", "!!!"])
@pytest.mark.parametrize("signal", list(Signal))
def test_a_message_with_nothing_readable_falls_back_to_the_signal(signal: Signal, message: str) -> None:
    assert Outcome(signal, message).message == signal.default_message


def test_default_messages() -> None:
    assert [s.default_message for s in Signal] == ["Approved", "Denied", "Tap again"]


def test_constructors() -> None:
    assert Outcome.approved(balance_cents=850) == Outcome(Signal.APPROVED, "Approved", 850)
    assert Outcome.denied("Card blocked") == Outcome(Signal.DENIED, "Card blocked")
    assert Outcome.attention("Low balance", -20) == Outcome(Signal.ATTENTION, "Low balance", -20)


def test_outcome_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Outcome.approved().message = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"signal": "approved"}, "signal must be a Signal"),
        ({"signal": Signal.APPROVED, "message": b"Approved"}, "message must be a string"),
        ({"signal": Signal.APPROVED, "balance_cents": 8.5}, "balance_cents"),
        ({"signal": Signal.APPROVED, "balance_cents": True}, "balance_cents"),
    ],
)
def test_outcome_refuses_wrong_types(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        Outcome(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome.approved(balance_cents=850), ("Approved", "Balance 8.50 EUR")),
        (Outcome.denied("Insufficient funds", 40), ("Insufficient", "Balance 0.40 EUR")),
        (Outcome.denied("Insufficient funds"), ("Insufficient", "funds")),
        (Outcome.denied("Card blocked"), ("Card blocked", "")),
        (Outcome.attention("Please tap your card again now"), ("Please tap your", "card again now")),
        (Outcome.denied("Unterbrechungsfreiestromversorgung"), ("Unterbrechungsfr", "eiestromversorg.")),
    ],
)
def test_display_lines(outcome: Outcome, expected: tuple[str, str]) -> None:
    assert display_lines(outcome) == expected


def test_display_lines_for_another_width_and_currency() -> None:
    assert display_lines(Outcome.approved(balance_cents=850), 20, "CHF") == ("Approved", "Balance 8.50 CHF")
    with pytest.raises(ValueError, match="columns"):
        display_lines(Outcome.approved(), 0)


@given(
    signal=st.sampled_from(Signal),
    message=st.text(),
    balance=st.none() | st.integers(),
    columns=st.integers(8, 40),
)
def test_any_text_fits_the_display(signal: Signal, message: str, balance: int | None, columns: int) -> None:
    outcome = Outcome(signal, message, balance)
    assert outcome.message
    assert outcome.message.isascii() and outcome.message.isprintable()
    assert len(outcome.message) <= MESSAGE_MAX
    lines = display_lines(outcome, columns)
    assert all(len(line) <= columns and line.isascii() and line.isprintable() for line in lines)


@given(st.text(), st.integers(1, 40))
def test_truncate_never_exceeds_the_width(text: str, width: int) -> None:
    result = truncate(text, width)
    assert len(result) <= width
    if len(text) <= width:
        assert result == text
