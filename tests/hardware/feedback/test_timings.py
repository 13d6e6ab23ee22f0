"""FeedbackTimings: validation, the TOML table, the pattern of each signal."""

from __future__ import annotations

import dataclasses
import math

import pytest

from hardware.feedback import FeedbackConfigError
from hardware.feedback.outcome import Signal
from hardware.feedback.timings import FeedbackTimings, SignalPattern


def test_defaults_are_valid() -> None:
    timings = FeedbackTimings()
    assert timings.denied_beeps == 3
    assert timings.approved_beep > 0


def test_timings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FeedbackTimings().led_hold = 2.0  # type: ignore[misc]


def test_whole_seconds_become_floats() -> None:
    timings = FeedbackTimings(led_hold=2, message_hold=5)
    assert timings.led_hold == 2.0 and isinstance(timings.led_hold, float)
    assert isinstance(timings.message_hold, float)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"approved_beep": 0}, r"approved_beep = 0 is outside \(0, 2\] seconds$"),
        ({"denied_beep": -0.1}, "denied_beep = -0.1 is outside"),
        ({"denied_gap": 100}, r"denied_gap = 100 is outside \(0, 2\] seconds \(seconds, not milliseconds\)"),
        ({"led_hold": 10.5}, r"led_hold = 10.5 is outside \(0, 10\]"),
        ({"message_hold": 61}, r"message_hold = 61 is outside \(0, 60\]"),
        ({"led_hold": math.nan}, "led_hold must be a number of seconds, got nan"),
        ({"led_hold": math.inf}, "led_hold must be a number of seconds, got inf"),
        ({"led_hold": "1.5"}, "led_hold must be a number of seconds, got '1.5'"),
        ({"led_hold": True}, "led_hold must be a number of seconds, got True"),
        ({"denied_beeps": 0}, "denied_beeps = 0 is outside 1..10"),
        ({"attention_beeps": 11}, "attention_beeps = 11 is outside 1..10"),
        ({"denied_beeps": 2.5}, "denied_beeps must be a whole number of beeps, got 2.5"),
        ({"denied_beeps": 3.0}, "denied_beeps must be a whole number of beeps, got 3.0"),
        ({"attention_beeps": True}, "attention_beeps must be a whole number"),
    ],
)
def test_bad_values_are_refused_by_name(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(FeedbackConfigError, match=match) as info:
        FeedbackTimings(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_bounds_are_inclusive() -> None:
    FeedbackTimings(approved_beep=2.0, denied_beep=2.0, denied_gap=2.0, led_hold=10.0, message_hold=60.0,
                    denied_beeps=10, attention_beeps=1)  # fmt: skip


def test_from_mapping_with_every_key() -> None:
    table = {
        "approved_beep": 0.2,
        "denied_beep": 0.05,
        "denied_gap": 0.08,
        "denied_beeps": 4,
        "attention_beeps": 1,
        "led_hold": 2,
        "message_hold": 4.5,
    }
    assert FeedbackTimings.from_mapping(table) == FeedbackTimings(**table)


def test_from_mapping_keeps_defaults_for_missing_keys() -> None:
    assert FeedbackTimings.from_mapping({}) == FeedbackTimings()
    assert FeedbackTimings.from_mapping({"led_hold": 2.5}) == FeedbackTimings(led_hold=2.5)


def test_from_mapping_reads_a_toml_table() -> None:
    import tomllib

    config = tomllib.loads("[feedback.timings]\napproved_beep = 0.2\ndenied_beeps = 2\nmessage_hold = 5\n")
    timings = FeedbackTimings.from_mapping(config["feedback"]["timings"])
    assert (timings.approved_beep, timings.denied_beeps, timings.message_hold) == (0.2, 2, 5.0)


def test_from_mapping_names_every_unknown_key() -> None:
    with pytest.raises(FeedbackConfigError, match=r"unknown keys 'beep', 'led_hold_ms' \(known: approved_beep, "):
        FeedbackTimings.from_mapping({"led_hold_ms": 1500, "beep": 0.1, "led_hold": 1.0})
    with pytest.raises(FeedbackConfigError, match=r"unknown key 'x' \("):
        FeedbackTimings.from_mapping({"x": 1})


def test_from_mapping_checks_values() -> None:
    with pytest.raises(FeedbackConfigError, match="led_hold = 1500"):
        FeedbackTimings.from_mapping({"led_hold": 1500})


def test_from_mapping_refuses_a_non_table() -> None:
    with pytest.raises(FeedbackConfigError, match="must be a table"):
        FeedbackTimings.from_mapping([("led_hold", 1.0)])  # type: ignore[arg-type]


def test_every_key_is_documented_with_its_default() -> None:
    doc = FeedbackTimings.from_mapping.__doc__ or ""
    for field in dataclasses.fields(FeedbackTimings):
        assert f"{field.name} = {field.default} " in doc, field.name


def test_patterns() -> None:
    timings = FeedbackTimings(approved_beep=0.2, denied_beep=0.1, denied_gap=0.05, denied_beeps=3,
                              attention_beeps=2, led_hold=1.5)  # fmt: skip
    assert timings.pattern(Signal.APPROVED) == SignalPattern(True, False, 1.5, 1, 0.2, 0.0)
    assert timings.pattern(Signal.DENIED) == SignalPattern(False, True, 1.5, 3, 0.1, 0.05)
    assert timings.pattern(Signal.ATTENTION) == SignalPattern(True, True, 1.5, 2, 0.1, 0.05)


def test_pattern_descriptions() -> None:
    timings = FeedbackTimings(approved_beep=0.2, denied_beep=0.1, denied_gap=0.05, led_hold=1.5)
    assert timings.pattern(Signal.APPROVED).describe() == "green LED 1.5 s, 1 beep of 0.2 s"
    assert timings.pattern(Signal.DENIED).describe() == "red LED 1.5 s, 3 beeps of 0.1 s, 0.05 s apart"
    assert timings.pattern(Signal.ATTENTION).describe() == "green+red LED 1.5 s, 2 beeps of 0.1 s, 0.05 s apart"
