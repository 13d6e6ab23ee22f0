"""Feedback on a Raspberry Pi-class device through gpiozero: a buzzer, a green
and a red LED on GPIO pins, and a two-line display.

:class:`GpioFeedback` plays each signal's :class:`~hardware.feedback.timings.SignalPattern`
with gpiozero's ``Buzzer.beep`` and ``LED.blink`` (``n=`` set and
``background=True``), so :meth:`GpioFeedback.show` returns at once and a
rider tapping again is never kept waiting by the buzzer; a new ``show``
replaces the pattern running. After ``message_hold`` the display goes back
to the "present card" screen by itself, from a timer thread that is
cancelled by the next ``show``, ``idle`` or ``close``.

Pins are BCM GPIO numbers (:class:`GpioPins`). gpiozero chooses its pin
factory as usual (``GPIOZERO_PIN_FACTORY``) unless one is passed in; tests
pass ``pin_factory=MockFactory()`` so no state is shared between them.

Displays implement :class:`Display` (``write(line1, line2)``). Provided:
:class:`NullDisplay` (no display fitted) and :class:`ConsoleDisplay` (the
lines as text, for bench set-ups). A character LCD driver (HD44780 over
I2C or GPIO) is out of scope here: it would be one more :class:`Display`.

gpiozero is an optional dependency (``citizencard[gpio]``), imported when a
:class:`GpioFeedback` is made, so this module and :class:`GpioPins` load
without it.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol, Self, TextIO, runtime_checkable

from hardware.feedback import FeedbackConfigError, FeedbackError
from hardware.feedback.outcome import DISPLAY_COLUMNS, Outcome, clean_text, display_lines, truncate
from hardware.feedback.timings import FeedbackTimings

if TYPE_CHECKING:
    from gpiozero import LED, Buzzer, Factory

logger = logging.getLogger(__name__)

BCM_GPIO_MAX = 27
"""Highest GPIO number on the 40-pin header (BCM numbering)."""

IDLE_LINES = ("Present card", "")
"""What the display shows between taps."""


@runtime_checkable
class Display(Protocol):
    """A character display of two lines of :attr:`columns` characters."""

    @property
    def columns(self) -> int:
        """Characters per line."""
        ...

    def write(self, line1: str, line2: str) -> None:
        """Replace what the display shows with these two lines.

        :raises OSError: when the display cannot be reached.
        """
        ...


def _check_columns(columns: int) -> int:
    if isinstance(columns, bool) or not isinstance(columns, int) or not 8 <= columns <= 40:
        raise FeedbackConfigError(f"display columns must be an integer in 8..40, got {columns!r}")
    return columns


class NullDisplay:
    """No display fitted: lines are dropped."""

    def __init__(self, columns: int = DISPLAY_COLUMNS) -> None:
        self._columns = _check_columns(columns)

    @property
    def columns(self) -> int:
        """Characters per line the messages are laid out for."""
        return self._columns

    def write(self, line1: str, line2: str) -> None:
        """Drop the lines."""


class ConsoleDisplay:
    """The display as text on ``stream`` (standard output when ``None``), one
    line per write: ``|Approved        |Balance 8.50 EUR|``. Lines are cleaned
    and cut to :attr:`columns` as a real display would.

    :attr history: every ``(line1, line2)`` written, in order.
    """

    def __init__(self, stream: TextIO | None = None, columns: int = DISPLAY_COLUMNS) -> None:
        self.stream: TextIO = stream if stream is not None else sys.stdout
        self._columns = _check_columns(columns)
        self.history: list[tuple[str, str]] = []

    @property
    def columns(self) -> int:
        """Characters per line."""
        return self._columns

    def write(self, line1: str, line2: str) -> None:
        """Write both lines, padded to :attr:`columns`, as one text line."""
        lines = (clean_text(line1)[: self._columns], clean_text(line2)[: self._columns])
        self.stream.write(f"|{lines[0]:<{self._columns}}|{lines[1]:<{self._columns}}|\n")
        self.stream.flush()
        self.history.append(lines)


@dataclass(frozen=True)
class GpioPins:
    """BCM GPIO numbers of the buzzer and LEDs; checked on construction.

    :raises FeedbackConfigError: when a pin is not an integer in
        ``0..BCM_GPIO_MAX`` or two devices share a pin.
    """

    buzzer: int = 17
    green_led: int = 27
    red_led: int = 22

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BCM_GPIO_MAX:
                raise FeedbackConfigError(
                    f"feedback pins: {f.name} must be a BCM GPIO number in 0..{BCM_GPIO_MAX}, got {value!r}"
                )
        by_pin: dict[int, list[str]] = {}
        for f in fields(self):
            by_pin.setdefault(getattr(self, f.name), []).append(f.name)
        shared = {pin: names for pin, names in by_pin.items() if len(names) > 1}
        if shared:
            pin, names = next(iter(shared.items()))
            raise FeedbackConfigError(f"feedback pins: {' and '.join(names)} are both on GPIO{pin}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> GpioPins:
        """Pins from the ``[feedback.pins]`` table of a device's TOML config;
        a key left out keeps its default. Keys (BCM GPIO numbers)::

            [feedback.pins]
            buzzer = 17
            green_led = 27
            red_led = 22

        :raises FeedbackConfigError: naming any unknown keys, or a bad pin.
        """
        if not isinstance(mapping, Mapping):
            raise FeedbackConfigError(f"feedback pins must be a table of keys, got {type(mapping).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(key) for key in mapping if key not in known)
        if unknown:
            raise FeedbackConfigError(
                f"feedback pins: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
                f" (known: {', '.join(known)})"
            )
        return cls(**mapping)  # type: ignore[arg-type]  # each value is checked in __post_init__


def _import_gpiozero() -> Any:
    try:
        import gpiozero
    except ImportError as exc:
        raise FeedbackError("GPIO feedback needs gpiozero: pip install 'citizencard[gpio]'") from exc
    return gpiozero


class GpioFeedback:
    """A :class:`~hardware.feedback.Feedback` on a buzzer and two LEDs, with
    messages on ``display`` (a :class:`NullDisplay` when ``None``; the caller
    keeps ownership of the display). The display shows :data:`IDLE_LINES` as
    soon as the pins are open.

    :meth:`idle` only brings the idle screen back: LED and buzzer patterns are
    finite and finish by themselves, so a rider who pulls the card away at once
    still hears all the beeps of a denial.

    :raises FeedbackError: when gpiozero is missing or a pin cannot be opened
        (in use, not on this board, no permission); the gpiozero error is the
        cause.
    """

    def __init__(
        self,
        pins: GpioPins | None = None,
        *,
        timings: FeedbackTimings | None = None,
        display: Display | None = None,
        pin_factory: Factory | None = None,
        currency: str = "EUR",
        idle_lines: tuple[str, str] = IDLE_LINES,
    ) -> None:
        gpiozero = _import_gpiozero()
        self.pins = pins if pins is not None else GpioPins()
        self.timings = timings if timings is not None else FeedbackTimings()
        self.display: Display = display if display is not None else NullDisplay()
        self.currency = currency
        self.idle_lines = idle_lines
        self._errors: tuple[type[BaseException], ...] = (gpiozero.GPIOZeroError, OSError)
        self._lock = threading.Lock()
        self._generation = 0  # bumped by show/idle, so a stale hold timer does nothing
        self._timer: threading.Timer | None = None
        self._failure: BaseException | None = None
        self._closed = False
        opened: list[Any] = []
        try:
            self._buzzer: Buzzer = gpiozero.Buzzer(self.pins.buzzer, pin_factory=pin_factory)
            opened.append(self._buzzer)
            self._green: LED = gpiozero.LED(self.pins.green_led, pin_factory=pin_factory)
            opened.append(self._green)
            self._red: LED = gpiozero.LED(self.pins.red_led, pin_factory=pin_factory)
            opened.append(self._red)
        except self._errors as exc:
            for device in reversed(opened):
                device.close()
            self._closed = True
            raise FeedbackError(f"cannot open GPIO feedback on {self.pins}: {exc}") from exc
        try:
            self._write(self.idle_lines)
        except FeedbackError:
            self.close()
            raise

    def __repr__(self) -> str:
        p = self.pins
        return f"GpioFeedback(buzzer=GPIO{p.buzzer}, green_led=GPIO{p.green_led}, red_led=GPIO{p.red_led})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def show(self, outcome: Outcome) -> None:
        """Start the signal's pattern, write the message, and return at once;
        the idle screen comes back after ``message_hold``.

        :raises FeedbackError: when closed, when a pin or the display fails,
            or when the last return to the idle screen failed (that error is
            the cause).
        """
        pattern = self.timings.pattern(outcome.signal)
        lines = display_lines(outcome, self.display.columns, self.currency)
        with self._lock:
            self._check_usable()
            self._generation += 1
            self._cancel_timer()
            try:
                for led, lit in ((self._green, pattern.green), (self._red, pattern.red)):
                    if lit:
                        led.blink(on_time=pattern.led_on, off_time=0, n=1, background=True)
                    else:
                        led.off()
                self._buzzer.beep(on_time=pattern.beep_on, off_time=pattern.beep_off, n=pattern.beeps, background=True)
            except self._errors as exc:
                raise FeedbackError(f"{self!r}: cannot signal {outcome.signal.name}: {exc}") from exc
            self._write(lines)
            self._start_timer(self._generation)

    def idle(self) -> None:
        """Show the idle screen now (running LED and buzzer patterns finish by themselves).

        :raises FeedbackError: when closed, when the display fails, or when the
            last return to the idle screen failed (that error is the cause).
        """
        with self._lock:
            self._check_usable()
            self._generation += 1
            self._cancel_timer()
            self._write(self.idle_lines)

    def close(self) -> None:
        """Stop the patterns and the hold timer, switch the buzzer and LEDs off
        and release their pins, so another :class:`GpioFeedback` can open them.
        Idempotent.

        :raises FeedbackError: when gpiozero fails to release a pin (every
            device is still closed; the first error is the cause).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            timer.join()  # outside the lock: a firing timer takes it
        first: BaseException | None = None
        for device in (self._buzzer, self._green, self._red):
            try:
                device.off()
                device.close()
            except self._errors as exc:
                logger.exception("%r: closing %r failed", self, device)
                first = first or exc
        if first is not None:
            raise FeedbackError(f"{self!r}: cannot release the pins: {first}") from first

    # -- internals; the callers hold self._lock (the constructor needs none yet) --

    def _check_usable(self) -> None:
        if self._closed:
            raise FeedbackError(f"{self!r} is closed")
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise FeedbackError(f"{self!r}: returning to the idle screen failed: {failure}") from failure

    def _write(self, lines: tuple[str, str]) -> None:
        columns = self.display.columns
        try:
            self.display.write(truncate(clean_text(lines[0]), columns), truncate(clean_text(lines[1]), columns))
        except (OSError, ValueError) as exc:
            raise FeedbackError(f"{self!r}: cannot write to the display {self.display!r}: {exc}") from exc

    def _cancel_timer(self) -> None:
        # No join here: the timer may be waiting for the lock we hold; the
        # generation check makes a timer that fires anyway do nothing.
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _start_timer(self, generation: int) -> None:
        timer = threading.Timer(self.timings.message_hold, self._hold_expired, args=(generation,))
        timer.name = f"feedback-hold-{generation}"
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _hold_expired(self, generation: int) -> None:
        """Runs in the timer thread: back to the idle screen unless something was shown since."""
        with self._lock:
            if self._closed or generation != self._generation:
                return
            self._timer = None
            try:
                self._write(self.idle_lines)
            except Exception as exc:  # a thread must not die silently: log it, and raise it on the next call
                logger.exception("%r: returning to the idle screen failed", self)
                self._failure = exc
