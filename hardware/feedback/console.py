"""Feedback as text, for the simulator and tests: :class:`ConsoleFeedback`
writes one line per outcome to a text stream::

    [APPROVED] Approved  balance 8.50 EUR
    [DENIED] Card blocked
    [ATTENTION] Tap again

It never sleeps: the timings are only described, at the end of the line,
when asked for (``describe=True``). It keeps a :attr:`ConsoleFeedback.history`
to assert against, like gpiozero's ``MockPin.states``.
"""

from __future__ import annotations

import sys
from typing import Self, TextIO

from hardware.feedback import FeedbackError
from hardware.feedback.outcome import Outcome, format_amount
from hardware.feedback.timings import FeedbackTimings


def console_line(outcome: Outcome, currency: str = "EUR") -> str:
    """``outcome`` as one line, e.g. ``[APPROVED] Approved  balance 8.50 EUR``."""
    line = f"[{outcome.signal.name}] {outcome.message}"
    if outcome.balance_cents is not None:
        line += f"  balance {format_amount(outcome.balance_cents, currency)}"
    return line


class ConsoleFeedback:
    """A :class:`~hardware.feedback.Feedback` writing to ``stream`` (standard
    output when ``None``), which it does not close.

    :attr history: every call in order: the :class:`Outcome` shown, or ``None``
        for :meth:`idle`. ``idle`` writes nothing: a console has no screen to
        clear, and one line per tap keeps the simulator's output readable.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        timings: FeedbackTimings | None = None,
        currency: str = "EUR",
        describe: bool = False,
    ) -> None:
        self.stream: TextIO = stream if stream is not None else sys.stdout
        self.timings = timings if timings is not None else FeedbackTimings()
        self.currency = currency
        self.describe = describe
        self.history: list[Outcome | None] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"ConsoleFeedback(stream={getattr(self.stream, 'name', self.stream)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def show(self, outcome: Outcome) -> None:
        """Write ``outcome`` as one line (see :func:`console_line`).

        :raises FeedbackError: when closed, or the stream cannot be written.
        """
        self._check_open()
        line = console_line(outcome, self.currency)
        if self.describe:
            line += f"  ({self.timings.pattern(outcome.signal).describe()})"
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed under us
            raise FeedbackError(f"cannot write feedback to {self!r}: {exc}") from exc
        self.history.append(outcome)

    def idle(self) -> None:
        """Record the return to the "present card" screen (writes nothing).

        :raises FeedbackError: when closed.
        """
        self._check_open()
        self.history.append(None)

    def close(self) -> None:
        """Refuse further calls; the stream stays open. Idempotent."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise FeedbackError(f"{self!r} is closed")
