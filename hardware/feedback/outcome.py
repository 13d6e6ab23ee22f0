"""What the rider is told after a tap, and how it fits a 2x16 character display.

An :class:`Outcome` is a :class:`Signal` (approved, denied, attention), a short
message and an optional balance in cents. The message is cleaned when the
outcome is made, so every backend shows the same text:

- folded to printable ASCII, which is what a character LCD's ROM can show
  (``"Café"`` → ``"Cafe"``, ``"Straße"`` → ``"Strasse"``, typographic quotes
  and dashes to ASCII ones, any other character to ``?``); control characters
  and runs of white space become one space;
- at most :data:`MESSAGE_MAX` (two display lines) characters, cut at a word
  boundary where one is near, otherwise abbreviated with a final ``.``;
- a message that is empty, or has no letter or digit left once cleaned (say,
  a message written only in a script the display cannot show), is replaced by
  the signal's default (``Approved``, ``Denied``, ``Tap again``).

:func:`display_lines` lays an outcome out on two lines: the message on the
first line and the balance on the second (``Balance 8.50 EUR``), or, without
a balance, the message wrapped over both lines. Nothing here raises on long or
unusual text.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import Enum

DISPLAY_COLUMNS = 16
"""Characters per line of the display the messages are written for."""

DISPLAY_ROWS = 2
"""Lines of that display."""

MESSAGE_MAX = DISPLAY_COLUMNS * DISPLAY_ROWS
"""The longest message kept: both lines of the display."""

# Characters Unicode does not decompose to ASCII but a rider would read the same.
_TRANSLITERATION = {
    "ß": "ss", "ẞ": "SS", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o",
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Þ": "Th", "þ": "th", "ı": "i",
    "‘": "'", "’": "'", "‚": ",", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "−": "-", "€": "EUR",
}  # fmt: skip


# Left at the end of a line cut at a word boundary, these read as a mistake: "Carte bloquee -".
_DANGLING = " -,;:/"


class Signal(Enum):
    """The kind of outcome, which chooses the sound and the lights."""

    APPROVED = "approved"
    """The tap is accepted: boarding, unlocking, charging goes ahead."""
    DENIED = "denied"
    """The tap is refused: card blocked, insufficient funds, not valid here."""
    ATTENTION = "attention"
    """Neither, and the rider must act: tap again, low balance warning."""

    @property
    def default_message(self) -> str:
        """The message shown when an outcome gives none."""
        return _DEFAULT_MESSAGES[self]


_DEFAULT_MESSAGES = {Signal.APPROVED: "Approved", Signal.DENIED: "Denied", Signal.ATTENTION: "Tap again"}


def clean_text(text: str) -> str:
    """``text`` folded to printable ASCII on one line, white space collapsed; see the module docstring."""
    out: list[str] = []
    for char in unicodedata.normalize("NFKD", text):
        if char.isascii():
            out.append(" " if not char.isprintable() else char)
        elif unicodedata.combining(char):
            continue  # the accent of a decomposed letter: "é" is "e" + U+0301
        elif char in _TRANSLITERATION:
            out.append(_TRANSLITERATION[char])
        elif char.isspace():
            out.append(" ")
        elif unicodedata.category(char) == "Cf":
            continue  # invisible format characters: soft hyphen, zero-width joiner
        else:
            out.append("?")
    return " ".join("".join(out).split())


def truncate(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters.

    Cut at the last space when that keeps at least two thirds of the width,
    otherwise mid-word with a final ``.`` marking the abbreviation.

    :raises ValueError: when ``width`` is less than 1.
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    if len(text) <= width:
        return text
    space = text.rfind(" ", 0, width + 1)
    if space >= max(1, width * 2 // 3):
        return text[:space].rstrip(_DANGLING)
    if width < 2:
        return text[:width]
    return text[: width - 1].rstrip() + "."


def format_amount(cents: int, currency: str = "EUR") -> str:
    """``cents`` as ``8.50 EUR`` (``-0.05 EUR`` for a negative balance)."""
    units, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    amount = f"{sign}{units}.{rest:02d}"
    return f"{amount} {currency}" if currency else amount


@dataclass(frozen=True)
class Outcome:
    """What the rider is told about one tap.

    ``message`` is cleaned and limited on construction (see the module
    docstring), so ``Outcome(Signal.DENIED, "Carte bloquée").message`` is
    ``"Carte bloquee"``. ``balance_cents`` is the balance to show, or ``None``
    to show none.

    :raises TypeError: when ``signal`` is not a :class:`Signal`, ``message``
        not a string or ``balance_cents`` not an integer.
    """

    signal: Signal
    message: str = ""
    balance_cents: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.signal, Signal):
            raise TypeError(f"signal must be a Signal, got {self.signal!r}")
        if not isinstance(self.message, str):
            raise TypeError(f"message must be a string, got {type(self.message).__name__}")
        if self.balance_cents is not None and (
            isinstance(self.balance_cents, bool) or not isinstance(self.balance_cents, int)
        ):
            raise TypeError(f"balance_cents must be an integer or None, got {self.balance_cents!r}")
        message = truncate(clean_text(self.message), MESSAGE_MAX)
        if not any(char.isalnum() for char in message):
            message = self.signal.default_message
        object.__setattr__(self, "message", message)

    @classmethod
    def approved(cls, message: str = "", balance_cents: int | None = None) -> Outcome:
        """An :attr:`Signal.APPROVED` outcome."""
        return cls(Signal.APPROVED, message, balance_cents)

    @classmethod
    def denied(cls, message: str = "", balance_cents: int | None = None) -> Outcome:
        """A :attr:`Signal.DENIED` outcome."""
        return cls(Signal.DENIED, message, balance_cents)

    @classmethod
    def attention(cls, message: str = "", balance_cents: int | None = None) -> Outcome:
        """An :attr:`Signal.ATTENTION` outcome."""
        return cls(Signal.ATTENTION, message, balance_cents)


def balance_line(cents: int, currency: str = "EUR", columns: int = DISPLAY_COLUMNS) -> str:
    """The balance as the longest of ``Balance 8.50 EUR``, ``Bal 8.50 EUR``,
    ``8.50 EUR``, ``8.50`` that fits ``columns``; ``#`` across the line when
    even the bare amount does not fit, since a cut amount would be a wrong one."""
    amount = format_amount(cents, "")
    with_currency = format_amount(cents, currency)
    for text in (f"Balance {with_currency}", f"Bal {with_currency}", with_currency, amount):
        if len(text) <= columns:
            return text
    return "#" * columns


def _split_first_line(text: str, columns: int) -> tuple[str, str]:
    """The first line of ``text`` wrapped at ``columns`` (at a space where
    there is one, otherwise mid-word), and the rest."""
    if len(text) <= columns:
        return text, ""
    space = text.rfind(" ", 0, columns + 1)
    if space > 0:
        return text[:space].rstrip(_DANGLING), text[space + 1 :].lstrip()
    return text[:columns], text[columns:].lstrip()


def display_lines(outcome: Outcome, columns: int = DISPLAY_COLUMNS, currency: str = "EUR") -> tuple[str, str]:
    """The two display lines for ``outcome``, each at most ``columns`` long.

    With a balance: the message (cut to one line) and :func:`balance_line`.
    Without: the message wrapped over both lines.

    :raises ValueError: when ``columns`` is less than 1.
    """
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    if outcome.balance_cents is not None:
        return truncate(outcome.message, columns), balance_line(outcome.balance_cents, currency, columns)
    first, rest = _split_first_line(outcome.message, columns)
    return first, truncate(rest, columns)
