"""The feedback error tree and the Feedback protocol."""

from __future__ import annotations

import io

from hardware.errors import HardwareError
from hardware.feedback import Feedback, FeedbackConfigError, FeedbackError
from hardware.feedback.console import ConsoleFeedback


def test_errors_sit_under_hardware_error() -> None:
    assert issubclass(FeedbackError, HardwareError)
    assert issubclass(FeedbackConfigError, FeedbackError)
    assert issubclass(FeedbackConfigError, ValueError)
    assert not issubclass(FeedbackError, ValueError)


def test_protocol_is_runtime_checkable() -> None:
    assert isinstance(ConsoleFeedback(io.StringIO()), Feedback)
    assert not isinstance(object(), Feedback)
