"""Rider feedback on a field device: what a tap's outcome sounds, lights and
says (buzzer, green and red LEDs, a short message on a 2x16 display).

Modules:

- :mod:`hardware.feedback.outcome`  what the rider is told (:class:`~hardware.feedback.outcome.Outcome`),
  and how it fits a 2x16 character display;
- :mod:`hardware.feedback.timings`  how long beeps, LEDs and messages last
  (:class:`~hardware.feedback.timings.FeedbackTimings`, from the device's TOML config);
- :mod:`hardware.feedback.console`  :class:`~hardware.feedback.console.ConsoleFeedback`, one text line per
  outcome, for the simulator and tests;
- :mod:`hardware.feedback.gpio`  :class:`~hardware.feedback.gpio.GpioFeedback` through gpiozero;
- :mod:`hardware.feedback.factory`  :func:`~hardware.feedback.factory.open_feedback`, choosing a backend
  (explicit name, then ``CITIZENCARD_FEEDBACK``, then ``console``).

Every backend is a :class:`Feedback`. Errors, under :class:`hardware.errors.HardwareError`::

    FeedbackError                        a backend cannot show an outcome, or is closed
    └── FeedbackConfigError (ValueError) bad timings, pins or backend name in the configuration
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from hardware.errors import HardwareError

if TYPE_CHECKING:
    from hardware.feedback.outcome import Outcome


class FeedbackError(HardwareError):
    """A feedback backend failed (a pin cannot be opened or driven, the
    display or stream cannot be written) or was used after ``close()``; the
    underlying error is kept as ``__cause__``."""


class FeedbackConfigError(FeedbackError, ValueError):
    """The feedback configuration is wrong: a timing out of range, an unknown
    key, a pin number that is not a BCM GPIO, an unknown backend name. The
    message names the key and the accepted values."""


@runtime_checkable
class Feedback(Protocol):
    """What a field device uses to tell the rider the outcome of a tap.

    ``show`` never waits for a beep or an LED to finish: a rider tapping again
    is served at once, and a new ``show`` replaces whatever pattern is running.
    """

    def show(self, outcome: Outcome) -> None:
        """Signal ``outcome`` (sound, lights, message) and return without waiting.

        :raises FeedbackError: when the backend is closed or its hardware fails.
        """
        ...

    def idle(self) -> None:
        """Back to the "present card" screen.

        :raises FeedbackError: when the backend is closed or its hardware fails.
        """
        ...

    def close(self) -> None:
        """Stop every pattern and release the hardware. Idempotent."""
        ...
