"""How long the rider hears, sees and reads an outcome, and what each signal
plays: :class:`FeedbackTimings` (validated, read from the device's TOML
config with :meth:`FeedbackTimings.from_mapping`) and the
:class:`SignalPattern` it gives each :class:`~hardware.feedback.outcome.Signal`:

=========  =====================  ==================================================================
signal     lights (``led_hold``)  buzzer
=========  =====================  ==================================================================
APPROVED   green                  one beep of ``approved_beep``
DENIED     red                    ``denied_beeps`` beeps of ``denied_beep``, ``denied_gap`` apart
ATTENTION  green and red (amber)  ``attention_beeps`` beeps of ``denied_beep``, ``denied_gap`` apart
=========  =====================  ==================================================================

The message stays on the display for ``message_hold`` before the "present
card" screen comes back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from hardware.feedback import FeedbackConfigError
from hardware.feedback.outcome import Signal

# Upper bounds: a value beyond them is a mistake (milliseconds written as
# seconds, a typo), not a wish; a device stuck beeping for a minute is worse
# than a refused config.
MAX_BEEP = 2.0
"""Longest beep or gap between beeps, seconds."""
MAX_BEEPS = 10
"""Most beeps in one pattern."""
MAX_LED_HOLD = 10.0
"""Longest time an LED stays lit, seconds."""
MAX_MESSAGE_HOLD = 60.0
"""Longest time a message stays on the display, seconds."""

_SECONDS_BOUNDS = {
    "approved_beep": MAX_BEEP,
    "denied_beep": MAX_BEEP,
    "denied_gap": MAX_BEEP,
    "led_hold": MAX_LED_HOLD,
    "message_hold": MAX_MESSAGE_HOLD,
}
_COUNT_FIELDS = ("denied_beeps", "attention_beeps")


@dataclass(frozen=True)
class SignalPattern:
    """What a backend plays for one signal: which LEDs light and for how
    long, and a buzzer pattern of ``beeps`` beeps of ``beep_on`` seconds,
    ``beep_off`` seconds apart."""

    green: bool
    red: bool
    led_on: float
    beeps: int
    beep_on: float
    beep_off: float

    def describe(self) -> str:
        """In words, e.g. ``red LED 1.5 s, 3 beeps of 0.1 s, 0.1 s apart``."""
        leds = "+".join(name for name, lit in (("green", self.green), ("red", self.red)) if lit)
        if self.beeps == 1:
            sound = f"1 beep of {self.beep_on:g} s"
        else:
            sound = f"{self.beeps} beeps of {self.beep_on:g} s, {self.beep_off:g} s apart"
        return f"{leds} LED {self.led_on:g} s, {sound}"


@dataclass(frozen=True)
class FeedbackTimings:
    """Durations in seconds and beep counts; see the module docstring for
    what each signal plays. Checked on construction.

    :raises FeedbackConfigError: when a duration is not a finite number in
        ``(0, bound]`` or a count not an integer in ``1..MAX_BEEPS``.
    """

    approved_beep: float = 0.15
    denied_beep: float = 0.1
    denied_gap: float = 0.1
    denied_beeps: int = 3
    attention_beeps: int = 2
    led_hold: float = 1.5
    message_hold: float = 3.0

    def __post_init__(self) -> None:
        for name, bound in _SECONDS_BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise FeedbackConfigError(f"feedback timings: {name} must be a number of seconds, got {value!r}")
            if not 0 < value <= bound:
                hint = " (seconds, not milliseconds)" if value > bound else ""
                raise FeedbackConfigError(
                    f"feedback timings: {name} = {value!r} is outside (0, {bound:g}] seconds{hint}"
                )
            object.__setattr__(self, name, float(value))
        for name in _COUNT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise FeedbackConfigError(f"feedback timings: {name} must be a whole number of beeps, got {value!r}")
            if not 1 <= value <= MAX_BEEPS:
                raise FeedbackConfigError(f"feedback timings: {name} = {value} is outside 1..{MAX_BEEPS}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> FeedbackTimings:
        """Timings from the ``[feedback.timings]`` table of a device's TOML
        config; a key left out keeps its default. Keys (seconds unless said)::

            [feedback.timings]
            approved_beep = 0.15    # the one beep of an approved tap
            denied_beep = 0.1       # each beep of a denied (and attention) pattern
            denied_gap = 0.1        # silence between those beeps
            denied_beeps = 3        # beeps for a denied tap (1..10)
            attention_beeps = 2     # beeps for "tap again", low balance (1..10)
            led_hold = 1.5          # how long the green or red LED stays lit
            message_hold = 3.0      # how long the message stays before "Present card"

        Bounds: beeps and gaps up to 2 s, ``led_hold`` up to 10 s,
        ``message_hold`` up to 60 s; every duration above 0.

        :raises FeedbackConfigError: naming any unknown keys, or the first
            value out of range.
        """
        if not isinstance(mapping, Mapping):
            raise FeedbackConfigError(f"feedback timings must be a table of keys, got {type(mapping).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(key) for key in mapping if key not in known)
        if unknown:
            raise FeedbackConfigError(
                f"feedback timings: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
                f" (known: {', '.join(known)})"
            )
        return cls(**mapping)  # type: ignore[arg-type]  # each value is checked in __post_init__

    def pattern(self, signal: Signal) -> SignalPattern:
        """What ``signal`` plays with these timings."""
        if signal is Signal.APPROVED:
            return SignalPattern(True, False, self.led_hold, 1, self.approved_beep, 0.0)
        if signal is Signal.DENIED:
            return SignalPattern(False, True, self.led_hold, self.denied_beeps, self.denied_beep, self.denied_gap)
        return SignalPattern(True, True, self.led_hold, self.attention_beeps, self.denied_beep, self.denied_gap)
