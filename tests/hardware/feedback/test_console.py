"""ConsoleFeedback: one line per outcome, a history, no sleeping."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import pytest

from hardware.feedback import Feedback, FeedbackError
from hardware.feedback.console import ConsoleFeedback, console_line
from hardware.feedback.outcome import Outcome
from hardware.feedback.timings import FeedbackTimings


def test_lines() -> None:
    stream = io.StringIO()
    feedback = ConsoleFeedback(stream)
    feedback.show(Outcome.approved(balance_cents=850))
    feedback.show(Outcome.denied("Card blocked"))
    feedback.show(Outcome.attention("Low balance", -20))
    assert stream.getvalue().splitlines() == [
        "[APPROVED] Approved  balance 8.50 EUR",
        "[DENIED] Card blocked",
        "[ATTENTION] Low balance  balance -0.20 EUR",
    ]


def test_console_line_shows_the_cleaned_message_and_currency() -> None:
    assert console_line(Outcome.denied("Carte bloquée", 0), "CHF") == "[DENIED] Carte bloquee  balance 0.00 CHF"


def test_history_records_outcomes_and_idle() -> None:
    stream = io.StringIO()
    feedback = ConsoleFeedback(stream)
    approved, denied = Outcome.approved(), Outcome.denied("Card blocked")
    feedback.show(approved)
    feedback.idle()
    feedback.show(denied)
    assert feedback.history == [approved, None, denied]
    assert len(stream.getvalue().splitlines()) == 2  # idle writes nothing


def test_describe_appends_the_pattern() -> None:
    stream = io.StringIO()
    timings = FeedbackTimings(denied_beep=0.1, denied_gap=0.1, led_hold=1.5)
    ConsoleFeedback(stream, timings=timings, describe=True).show(Outcome.denied("Card blocked"))
    assert stream.getvalue() == "[DENIED] Card blocked  (red LED 1.5 s, 3 beeps of 0.1 s, 0.1 s apart)\n"


def test_never_sleeps() -> None:
    timings = FeedbackTimings(approved_beep=2, denied_beep=2, denied_gap=2, led_hold=10, message_hold=60)
    feedback = ConsoleFeedback(io.StringIO(), timings=timings)
    start = time.monotonic()
    for outcome in (Outcome.approved(), Outcome.denied(), Outcome.attention()):
        feedback.show(outcome)
        feedback.idle()
    assert time.monotonic() - start < 1.0


def test_writes_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleFeedback().show(Outcome.denied("Card blocked"))
    assert capsys.readouterr().out == "[DENIED] Card blocked\n"


def test_is_a_feedback_and_a_context_manager() -> None:
    stream = io.StringIO()
    with ConsoleFeedback(stream) as feedback:
        assert isinstance(feedback, Feedback)
        feedback.show(Outcome.approved())
    assert feedback.closed
    assert not stream.closed  # the stream belongs to the caller


def test_closed_feedback_refuses_calls() -> None:
    feedback = ConsoleFeedback(io.StringIO())
    feedback.close()
    feedback.close()  # idempotent
    with pytest.raises(FeedbackError, match="closed"):
        feedback.show(Outcome.approved())
    with pytest.raises(FeedbackError, match="closed"):
        feedback.idle()
    assert feedback.history == []


class _BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(5, "Input/output error")


@pytest.mark.parametrize("stream_factory", [_BrokenStream, lambda: _closed(io.StringIO())])
def test_a_stream_that_cannot_be_written_raises_feedback_error(stream_factory: Callable[[], io.StringIO]) -> None:
    feedback = ConsoleFeedback(stream_factory())
    with pytest.raises(FeedbackError, match="cannot write feedback") as info:
        feedback.show(Outcome.approved())
    assert isinstance(info.value.__cause__, OSError | ValueError)
    assert feedback.history == []


def _closed(stream: io.StringIO) -> io.StringIO:
    stream.close()
    return stream
