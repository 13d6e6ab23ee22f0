"""GpioFeedback on gpiozero's MockFactory (one per test, passed to every
device): pin histories, non-blocking patterns, the display hold, releasing
pins; and GpioPins and the displays."""

from __future__ import annotations

import dataclasses
import io
import itertools
import logging
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from gpiozero import GPIOPinInUse
from gpiozero.pins.mock import MockFactory, MockPin

from hardware.feedback import Feedback, FeedbackConfigError, FeedbackError
from hardware.feedback.gpio import IDLE_LINES, ConsoleDisplay, Display, GpioFeedback, GpioPins, NullDisplay
from hardware.feedback.outcome import Outcome
from hardware.feedback.timings import FeedbackTimings

WaitUntil = Callable[..., None]  # the wait_until fixture (conftest)

PINS = GpioPins(buzzer=17, green_led=27, red_led=22)
OFF = [False]
PULSE = [False, True, False]

MakeFeedback = Callable[..., GpioFeedback]


@pytest.fixture
def display() -> ConsoleDisplay:
    return ConsoleDisplay(io.StringIO())


@pytest.fixture
def make_feedback(
    mock_factory: MockFactory, fast_timings: FeedbackTimings, display: ConsoleDisplay
) -> Iterator[MakeFeedback]:
    """Build GpioFeedback on the test's MockFactory; every one is closed afterwards."""
    made: list[GpioFeedback] = []

    def make(**overrides: object) -> GpioFeedback:
        kwargs: dict[str, object] = {"timings": fast_timings, "display": display, "pin_factory": mock_factory}
        kwargs.update(overrides)
        feedback = GpioFeedback(PINS, **kwargs)  # type: ignore[arg-type]
        made.append(feedback)
        return feedback

    yield make
    for feedback in made:
        feedback.close()


def pin(factory: MockFactory, number: int) -> MockPin:
    return factory.pin(number)


def states(factory: MockFactory, number: int) -> list[bool]:
    return [s.state for s in pin(factory, number).states]


def durations_on(factory: MockFactory, number: int) -> list[float]:
    """How long each high period lasted (MockPin stamps each change with the time since the previous one)."""
    history = pin(factory, number).states
    return [after.timestamp for before, after in itertools.pairwise(history) if before.state]


def durations_off(factory: MockFactory, number: int) -> list[float]:
    """How long each low period between two high ones lasted."""
    history = pin(factory, number).states[1:]
    return [after.timestamp for before, after in itertools.pairwise(history) if not before.state]


# -- GpioPins -----------------------------------------------------------------


def test_pins_defaults_and_mapping() -> None:
    assert GpioPins() == GpioPins(buzzer=17, green_led=27, red_led=22)
    assert GpioPins.from_mapping({"buzzer": 5, "red_led": 6}) == GpioPins(buzzer=5, green_led=27, red_led=6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"buzzer": 28}, "buzzer must be a BCM GPIO number in 0..27, got 28"),
        ({"green_led": -1}, "green_led must be a BCM GPIO number"),
        ({"red_led": "GPIO22"}, "red_led must be a BCM GPIO number in 0..27, got 'GPIO22'"),
        ({"red_led": True}, "red_led must be"),
        ({"buzzer": 27}, "buzzer and green_led are both on GPIO27"),
    ],
)
def test_bad_pins_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(FeedbackConfigError, match=match):
        GpioPins(**kwargs)  # type: ignore[arg-type]


def test_pins_mapping_refuses_unknown_keys() -> None:
    with pytest.raises(FeedbackConfigError, match=r"unknown key 'led' \(known: buzzer, green_led, red_led\)"):
        GpioPins.from_mapping({"led": 4})
    with pytest.raises(FeedbackConfigError, match="must be a table"):
        GpioPins.from_mapping(17)  # type: ignore[arg-type]


def test_every_pin_key_is_documented_with_its_default() -> None:
    doc = GpioPins.from_mapping.__doc__ or ""
    for field in dataclasses.fields(GpioPins):
        assert f"{field.name} = {field.default}\n" in doc, field.name


# -- displays -----------------------------------------------------------------


def test_console_display() -> None:
    stream = io.StringIO()
    display = ConsoleDisplay(stream)
    assert isinstance(display, Display) and display.columns == 16
    display.write("Approved", "Balance 8.50 EUR")
    display.write("Carte bloquée, vraiment bloquée", "")
    assert stream.getvalue().splitlines() == [
        "|Approved        |Balance 8.50 EUR|",
        "|Carte bloquee, v|                |",
    ]
    assert display.history == [("Approved", "Balance 8.50 EUR"), ("Carte bloquee, v", "")]


def test_null_display() -> None:
    display = NullDisplay(20)
    assert isinstance(display, Display) and display.columns == 20
    display.write("anything", "at all")


@pytest.mark.parametrize("columns", [7, 41, 16.0, True])
def test_display_columns_are_checked(columns: int) -> None:
    with pytest.raises(FeedbackConfigError, match="columns"):
        NullDisplay(columns)
    with pytest.raises(FeedbackConfigError, match="columns"):
        ConsoleDisplay(io.StringIO(), columns)


# -- GpioFeedback -------------------------------------------------------------


def test_opening_drives_outputs_low_and_shows_the_idle_screen(
    make_feedback: MakeFeedback, mock_factory: MockFactory, display: ConsoleDisplay
) -> None:
    feedback = make_feedback()
    assert isinstance(feedback, Feedback)
    for number in (17, 27, 22):
        assert pin(mock_factory, number).function == "output"
        assert states(mock_factory, number) == OFF
    assert display.history == [IDLE_LINES]


def test_approved_lights_green_then_off_with_one_beep(
    make_feedback: MakeFeedback, mock_factory: MockFactory, fast_timings: FeedbackTimings, wait_until: WaitUntil
) -> None:
    feedback = make_feedback()
    feedback.show(Outcome.approved(balance_cents=850))
    wait_until(lambda: states(mock_factory, 27) == PULSE and states(mock_factory, 17) == PULSE)
    assert states(mock_factory, 22) == OFF
    (green_on,) = durations_on(mock_factory, 27)
    (beep,) = durations_on(mock_factory, 17)
    assert green_on >= fast_timings.led_hold * 0.9
    assert beep >= fast_timings.approved_beep * 0.9


def test_denied_lights_red_with_three_beeps(
    make_feedback: MakeFeedback, mock_factory: MockFactory, fast_timings: FeedbackTimings, wait_until: WaitUntil
) -> None:
    feedback = make_feedback()
    feedback.show(Outcome.denied("Card blocked"))
    wait_until(lambda: states(mock_factory, 22) == PULSE and len(states(mock_factory, 17)) == 7)
    assert states(mock_factory, 17) == [False, True, False, True, False, True, False]
    assert states(mock_factory, 27) == OFF
    assert all(d >= fast_timings.denied_beep * 0.9 for d in durations_on(mock_factory, 17))
    gaps = durations_off(mock_factory, 17)
    assert len(gaps) == 2 and all(g >= fast_timings.denied_gap * 0.9 for g in gaps)
    assert durations_on(mock_factory, 22)[0] >= fast_timings.led_hold * 0.9


def test_attention_lights_both_with_two_beeps(
    make_feedback: MakeFeedback, mock_factory: MockFactory, wait_until: WaitUntil
) -> None:
    feedback = make_feedback()
    feedback.show(Outcome.attention("Tap again"))
    wait_until(lambda: len(states(mock_factory, 17)) == 5)
    wait_until(lambda: states(mock_factory, 27) == PULSE and states(mock_factory, 22) == PULSE)
    assert states(mock_factory, 17) == [False, True, False, True, False]


def test_show_returns_before_the_pattern_ends(
    make_feedback: MakeFeedback, mock_factory: MockFactory, wait_until: WaitUntil
) -> None:
    slow = FeedbackTimings(denied_beep=0.3, denied_gap=0.3, denied_beeps=3, led_hold=1.0, message_hold=2.0)
    feedback = make_feedback(timings=slow)
    start = time.monotonic()
    feedback.show(Outcome.denied("Card blocked"))
    elapsed = time.monotonic() - start
    assert elapsed < 0.25  # the whole pattern takes 1.5 s
    wait_until(lambda: pin(mock_factory, 22).state and pin(mock_factory, 17).state)
    feedback.close()  # stops the patterns at once
    assert not pin(mock_factory, 22).state and not pin(mock_factory, 17).state


def test_a_new_outcome_replaces_the_running_pattern(
    make_feedback: MakeFeedback, mock_factory: MockFactory, wait_until: WaitUntil
) -> None:
    slow = FeedbackTimings(denied_beep=0.3, denied_gap=0.05, led_hold=5.0, approved_beep=0.01, message_hold=10)
    feedback = make_feedback(timings=slow)
    feedback.show(Outcome.denied())
    wait_until(lambda: pin(mock_factory, 22).state and pin(mock_factory, 17).state)
    feedback.show(Outcome.approved())
    assert not pin(mock_factory, 22).state  # red off at once, not after its 5 s
    wait_until(lambda: pin(mock_factory, 27).state)
    time.sleep(0.5)  # the denial's three beeps would still be going
    # The buzzer was already on: the approved beep continues it, then it stops; the denial's beeps never come.
    assert states(mock_factory, 17) == PULSE
    assert durations_on(mock_factory, 17)[0] < 0.3


def test_message_then_idle_after_the_hold(
    make_feedback: MakeFeedback, display: ConsoleDisplay, fast_timings: FeedbackTimings, wait_until: WaitUntil
) -> None:
    feedback = make_feedback()
    start = time.monotonic()
    feedback.show(Outcome.denied("Insufficient funds", 40))
    assert display.history == [IDLE_LINES, ("Insufficient", "Balance 0.40 EUR")]
    wait_until(lambda: len(display.history) == 3)
    assert time.monotonic() - start >= fast_timings.message_hold * 0.9
    assert display.history[-1] == IDLE_LINES


def test_a_stale_hold_does_not_clear_a_newer_message(
    make_feedback: MakeFeedback, display: ConsoleDisplay, wait_until: WaitUntil
) -> None:
    feedback = make_feedback(timings=FeedbackTimings(message_hold=0.4))
    feedback.show(Outcome.denied("First"))
    time.sleep(0.15)
    feedback.show(Outcome.approved("Second"))
    time.sleep(0.3)  # the first message's hold has passed, the second's has not
    assert display.history[-1] == ("Second", "")
    wait_until(lambda: display.history[-1] == IDLE_LINES)
    time.sleep(0.2)
    assert display.history == [IDLE_LINES, ("First", ""), ("Second", ""), IDLE_LINES]


def test_idle_shows_the_idle_screen_now_and_lets_the_pattern_finish(
    make_feedback: MakeFeedback, mock_factory: MockFactory, display: ConsoleDisplay, wait_until: WaitUntil
) -> None:
    timings = FeedbackTimings(led_hold=0.2, message_hold=0.1)
    feedback = make_feedback(timings=timings, idle_lines=("Tap your card", "Line 3"))
    feedback.show(Outcome.approved())
    feedback.idle()
    assert display.history[-1] == ("Tap your card", "Line 3")
    wait_until(lambda: states(mock_factory, 27) == PULSE)
    assert durations_on(mock_factory, 27)[0] >= 0.2 * 0.9  # the green LED kept its whole hold
    time.sleep(0.15)
    assert len(display.history) == 3  # the cancelled hold wrote nothing


def test_display_lines_follow_the_display_width(make_feedback: MakeFeedback) -> None:
    wide = ConsoleDisplay(io.StringIO(), columns=20)
    feedback = make_feedback(display=wide, currency="CHF")
    feedback.show(Outcome.denied("Insufficient funds", 40))
    assert wide.history[-1] == ("Insufficient funds", "Balance 0.40 CHF")


def test_close_releases_the_pins(make_feedback: MakeFeedback, mock_factory: MockFactory, wait_until: WaitUntil) -> None:
    first = make_feedback()
    first.show(Outcome.denied())
    first.close()
    first.close()  # idempotent
    assert first.closed
    for number in (17, 27, 22):
        assert not pin(mock_factory, number).state
    second = make_feedback()
    second.show(Outcome.approved())
    wait_until(lambda: pin(mock_factory, 27).state)


def test_pins_in_use_are_refused_and_nothing_is_left_reserved(
    make_feedback: MakeFeedback, mock_factory: MockFactory
) -> None:
    from gpiozero import LED

    held = LED(27, pin_factory=mock_factory)  # the green LED's pin, taken by someone else
    try:
        with pytest.raises(FeedbackError, match="cannot open GPIO feedback") as info:
            make_feedback()
        assert isinstance(info.value.__cause__, GPIOPinInUse)
    finally:
        held.close()
    make_feedback()  # the buzzer's pin, opened before the failure, was released


def test_a_second_feedback_on_open_pins_is_refused(make_feedback: MakeFeedback) -> None:
    make_feedback()
    with pytest.raises(FeedbackError) as info:
        make_feedback()
    assert isinstance(info.value.__cause__, GPIOPinInUse)


def test_closed_feedback_refuses_calls(make_feedback: MakeFeedback) -> None:
    feedback = make_feedback()
    feedback.close()
    with pytest.raises(FeedbackError, match="closed"):
        feedback.show(Outcome.approved())
    with pytest.raises(FeedbackError, match="closed"):
        feedback.idle()


def test_context_manager(make_feedback: MakeFeedback) -> None:
    with make_feedback() as feedback:
        feedback.show(Outcome.approved())
    assert feedback.closed
    make_feedback().close()


class _FlakyDisplay:
    """A display that fails from the ``fail_from``-th write on."""

    columns = 16

    def __init__(self, fail_from: int) -> None:
        self.writes = 0
        self.fail_from = fail_from

    def write(self, line1: str, line2: str) -> None:
        self.writes += 1
        if self.writes >= self.fail_from:
            raise OSError(121, "Remote I/O error")


def test_a_display_failure_on_show_is_a_feedback_error(make_feedback: MakeFeedback) -> None:
    feedback = make_feedback(display=_FlakyDisplay(fail_from=2))
    with pytest.raises(FeedbackError, match="cannot write to the display") as info:
        feedback.show(Outcome.approved())
    assert isinstance(info.value.__cause__, OSError)


def test_a_display_failure_on_open_releases_the_pins(make_feedback: MakeFeedback) -> None:
    with pytest.raises(FeedbackError, match="cannot write to the display"):
        make_feedback(display=_FlakyDisplay(fail_from=1))
    make_feedback()


def test_a_failure_in_the_hold_timer_is_logged_and_raised_by_the_next_call(
    make_feedback: MakeFeedback, caplog: pytest.LogCaptureFixture, wait_until: WaitUntil
) -> None:
    display = _FlakyDisplay(fail_from=3)  # open and show work; the timer's return to idle fails
    feedback = make_feedback(display=display)
    with caplog.at_level(logging.ERROR, logger="hardware.feedback.gpio"):
        feedback.show(Outcome.approved())
        wait_until(lambda: any("idle screen failed" in r.getMessage() for r in caplog.records))
    record = next(r for r in caplog.records if "idle screen failed" in r.getMessage())
    assert record.exc_info is not None  # with its traceback
    with pytest.raises(FeedbackError, match="returning to the idle screen failed") as info:
        feedback.show(Outcome.approved())
    assert isinstance(info.value.__cause__, FeedbackError)
    assert isinstance(info.value.__cause__.__cause__, OSError)
    display.fail_from = 10**6
    feedback.show(Outcome.approved())  # reported once; then it works again


def test_without_gpiozero_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiozero", None)
    with pytest.raises(FeedbackError, match=r"citizencard\[gpio\]") as info:
        GpioFeedback()
    assert isinstance(info.value.__cause__, ImportError)


def test_repr_names_the_pins(make_feedback: MakeFeedback) -> None:
    assert repr(make_feedback()) == "GpioFeedback(buzzer=GPIO17, green_led=GPIO27, red_led=GPIO22)"
