"""Fixtures for the feedback tests: short timings, a private gpiozero mock
pin factory per test, and bounded polling for background patterns."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from hardware.feedback.timings import FeedbackTimings

if TYPE_CHECKING:
    from gpiozero.pins.mock import MockFactory

WaitUntil = Callable[..., None]  # the type of the wait_until fixture


@pytest.fixture
def fast_timings() -> FeedbackTimings:
    """Timings short enough for real-time tests, long enough to observe."""
    return FeedbackTimings(
        approved_beep=0.02,
        denied_beep=0.01,
        denied_gap=0.01,
        denied_beeps=3,
        attention_beeps=2,
        led_hold=0.03,
        message_hold=0.05,
    )


@pytest.fixture
def mock_factory() -> MockFactory:
    """A MockFactory of its own, passed to each device: no gpiozero global is set."""
    # Imported here so the tests that do not need gpiozero run without it.
    from gpiozero.pins.mock import MockFactory

    return MockFactory()


@pytest.fixture
def wait_until() -> WaitUntil:
    """``wait_until(predicate, timeout=2.0)``: poll until ``predicate()`` is
    true, failing the test after ``timeout`` seconds."""

    def wait(predicate: Callable[[], object], timeout: float = 2.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s: {predicate}")
            time.sleep(0.002)

    return wait
