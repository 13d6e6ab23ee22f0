"""Choosing a feedback backend: explicit name > CITIZENCARD_FEEDBACK > console."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from gpiozero.pins.mock import MockFactory

from hardware.feedback import FeedbackConfigError
from hardware.feedback.console import ConsoleFeedback
from hardware.feedback.factory import (
    DEFAULT_BACKEND,
    ENV_VAR,
    FEEDBACK_BACKENDS,
    choose_backend,
    open_feedback,
)
from hardware.feedback.gpio import ConsoleDisplay, GpioFeedback, GpioPins, NullDisplay
from hardware.feedback.outcome import Outcome
from hardware.feedback.timings import FeedbackTimings

WaitUntil = Callable[..., None]  # the wait_until fixture (conftest)


def test_registry_is_immutable_and_complete() -> None:
    assert sorted(FEEDBACK_BACKENDS) == ["console", "gpio", "mock"]
    with pytest.raises(TypeError):
        FEEDBACK_BACKENDS["led"] = FEEDBACK_BACKENDS["console"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("kind", "environ", "expected"),
    [
        (None, {}, DEFAULT_BACKEND),
        (None, {ENV_VAR: ""}, "console"),
        (None, {ENV_VAR: "  "}, "console"),
        (None, {ENV_VAR: "mock"}, "mock"),
        (None, {ENV_VAR: " GPIO "}, "gpio"),
        ("gpio", {}, "gpio"),
        ("console", {ENV_VAR: "mock"}, "console"),  # the argument wins over the environment
        ("mock", {ENV_VAR: "no-such-backend"}, "mock"),  # and the environment is not even read
        ("Mock", {}, "mock"),
    ],
)
def test_precedence(kind: str | None, environ: dict[str, str], expected: str) -> None:
    assert choose_backend(kind, environ) == expected


def test_default_backend_is_console() -> None:
    assert DEFAULT_BACKEND == "console"


def test_os_environ_is_used_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "mock")
    assert choose_backend() == "mock"
    monkeypatch.delenv(ENV_VAR)
    assert choose_backend() == "console"


def test_unknown_argument_lists_the_known_backends() -> None:
    with pytest.raises(FeedbackConfigError, match=r"unknown feedback backend 'lcd' \(from the argument\); "
                                                  r"known: console, gpio, mock$"):  # fmt: skip
        choose_backend("lcd", {})


def test_unknown_environment_value_names_the_variable() -> None:
    with pytest.raises(FeedbackConfigError, match=r"'buzzer' \(from the environment variable CITIZENCARD_FEEDBACK\)"):
        open_feedback(environ={ENV_VAR: "buzzer"})


def test_console_writes_to_the_given_stream() -> None:
    stream = io.StringIO()
    timings = FeedbackTimings(led_hold=2.0)
    feedback = open_feedback("console", timings=timings, stream=stream, environ={})
    assert isinstance(feedback, ConsoleFeedback)
    assert feedback.timings is timings
    feedback.show(Outcome.denied("Card blocked"))
    assert stream.getvalue() == "[DENIED] Card blocked\n"


def test_default_opens_console_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    feedback = open_feedback(environ={})
    assert isinstance(feedback, ConsoleFeedback)
    assert feedback.timings == FeedbackTimings()
    feedback.show(Outcome.approved(balance_cents=850))
    assert capsys.readouterr().out == "[APPROVED] Approved  balance 8.50 EUR\n"


def test_mock_writes_to_memory_only(capsys: pytest.CaptureFixture[str]) -> None:
    given = io.StringIO()
    feedback = open_feedback(environ={ENV_VAR: "mock"}, stream=given)
    assert isinstance(feedback, ConsoleFeedback)
    feedback.show(Outcome.approved())
    assert feedback.stream.getvalue() == "[APPROVED] Approved\n"  # type: ignore[attr-defined]
    assert feedback.history == [Outcome.approved()]
    assert given.getvalue() == "" and capsys.readouterr().out == ""


def test_gpio_uses_the_pins_factory_timings_and_stream(fast_timings: FeedbackTimings, wait_until: WaitUntil) -> None:
    factory = MockFactory()
    pins = GpioPins(buzzer=5, green_led=6, red_led=13)
    stream = io.StringIO()
    feedback = open_feedback("gpio", timings=fast_timings, pins=pins, stream=stream, pin_factory=factory,
                             currency="CHF")  # fmt: skip
    try:
        assert isinstance(feedback, GpioFeedback)
        assert feedback.pins is pins and feedback.timings is fast_timings
        assert isinstance(feedback.display, ConsoleDisplay)
        feedback.show(Outcome.approved(balance_cents=100))
        wait_until(lambda: factory.pin(6).state)
        assert stream.getvalue().splitlines()[-1] == "|Approved        |Balance 1.00 CHF|"
    finally:
        feedback.close()


def test_gpio_without_a_stream_has_no_display() -> None:
    feedback = open_feedback("gpio", pin_factory=MockFactory(), environ={})
    try:
        assert isinstance(feedback, GpioFeedback)
        assert isinstance(feedback.display, NullDisplay)
        assert feedback.pins == GpioPins()
    finally:
        feedback.close()
