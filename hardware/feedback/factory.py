"""Choosing and opening a feedback backend, the way gpiozero chooses a pin
factory: the name passed in, else the environment variable
:data:`ENV_VAR` (``CITIZENCARD_FEEDBACK``), else :data:`DEFAULT_BACKEND`.

Backends (:data:`FEEDBACK_BACKENDS`, an immutable mapping):

- ``console``  :class:`~hardware.feedback.console.ConsoleFeedback` on ``stream`` (standard output if none);
- ``gpio``     :class:`~hardware.feedback.gpio.GpioFeedback` on ``pins`` through ``pin_factory``
  (gpiozero's own choice if none), messages on a
  :class:`~hardware.feedback.gpio.ConsoleDisplay` on ``stream`` when one is given, else on no display;
- ``mock``     :class:`~hardware.feedback.console.ConsoleFeedback` on a fresh in-memory stream
  (``feedback.stream.getvalue()``, ``feedback.history``), whatever ``stream`` is.

Names are matched without regard to case or surrounding spaces; an empty
environment variable counts as unset.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, TextIO

from hardware.feedback import Feedback, FeedbackConfigError
from hardware.feedback.console import ConsoleFeedback
from hardware.feedback.timings import FeedbackTimings

if TYPE_CHECKING:
    from gpiozero import Factory

    from hardware.feedback.gpio import GpioPins

ENV_VAR = "CITIZENCARD_FEEDBACK"
"""The environment variable naming the backend when none is passed."""

DEFAULT_BACKEND = "console"
"""The backend when neither an argument nor the environment names one."""


@dataclass(frozen=True)
class BackendOptions:
    """Everything :func:`open_feedback` hands to a backend's opener; each
    backend uses what applies to it."""

    timings: FeedbackTimings
    pins: GpioPins | None = None
    stream: TextIO | None = None
    pin_factory: Factory | None = None
    currency: str = "EUR"


def _open_console(options: BackendOptions) -> Feedback:
    return ConsoleFeedback(options.stream, timings=options.timings, currency=options.currency)


def _open_mock(options: BackendOptions) -> Feedback:
    return ConsoleFeedback(io.StringIO(), timings=options.timings, currency=options.currency)


# gpiozero is optional: imported only when the gpio backend is opened.
def _open_gpio(options: BackendOptions) -> Feedback:
    from hardware.feedback.gpio import ConsoleDisplay, GpioFeedback, NullDisplay

    display = ConsoleDisplay(options.stream) if options.stream is not None else NullDisplay()
    return GpioFeedback(
        options.pins,
        timings=options.timings,
        display=display,
        pin_factory=options.pin_factory,
        currency=options.currency,
    )


FEEDBACK_BACKENDS: Mapping[str, Callable[[BackendOptions], Feedback]] = MappingProxyType(
    {"console": _open_console, "gpio": _open_gpio, "mock": _open_mock}
)


def choose_backend(kind: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The backend name to use: ``kind`` if given, else ``environ[ENV_VAR]``
    (``os.environ`` when ``environ`` is ``None``) if set and not empty, else
    :data:`DEFAULT_BACKEND`.

    :raises FeedbackConfigError: when the chosen name is not a key of
        :data:`FEEDBACK_BACKENDS`; the message says where the name came from
        and lists the known ones.
    """
    env = os.environ if environ is None else environ
    if kind is not None:
        name, source = kind, "argument"
    elif (env.get(ENV_VAR) or "").strip():
        name, source = env[ENV_VAR], f"environment variable {ENV_VAR}"
    else:
        return DEFAULT_BACKEND
    normalized = name.strip().lower()
    if normalized not in FEEDBACK_BACKENDS:
        raise FeedbackConfigError(
            f"unknown feedback backend {name!r} (from the {source}); known: {', '.join(sorted(FEEDBACK_BACKENDS))}"
        )
    return normalized


def open_feedback(
    kind: str | None = None,
    *,
    timings: FeedbackTimings | None = None,
    pins: GpioPins | None = None,
    stream: TextIO | None = None,
    pin_factory: Factory | None = None,
    currency: str = "EUR",
    environ: Mapping[str, str] | None = None,
) -> Feedback:
    """Open the feedback backend chosen by :func:`choose_backend`.

    ``timings`` defaults to :class:`FeedbackTimings()`; ``pins`` and
    ``pin_factory`` matter to ``gpio`` only, ``stream`` to ``console`` and
    ``gpio`` (see the module docstring). ``environ`` replaces ``os.environ``,
    for tests.

    :raises FeedbackConfigError: for an unknown backend name.
    :raises FeedbackError: when the backend cannot open its hardware (for
        ``gpio``: gpiozero missing, a pin in use or not on this board).
    """
    name = choose_backend(kind, environ)
    options = BackendOptions(
        timings=timings if timings is not None else FeedbackTimings(),
        pins=pins,
        stream=stream,
        pin_factory=pin_factory,
        currency=currency,
    )
    return FEEDBACK_BACKENDS[name](options)
