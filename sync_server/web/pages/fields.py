"""Reading the fields of a page's form or query string: each reader gives
the typed value, or ``None`` and an entry in :attr:`Fields.errors` saying, in
words for the person at the desk, what is wrong, so the page is drawn again
with the values as typed and the messages next to them (never a 500)."""

from __future__ import annotations

import binascii
import datetime as dt
import re
from collections.abc import Collection, Mapping

from ...db.types import UNSIGNED_MAX
from ..inputs import UID_HEX_LENGTHS

_CENTS = re.compile(r"^(\d{1,7})(?:[.,](\d{1,2}))?$")
TEXT_FIELD_MAX = 1000
"""Characters of any field kept (the rest of a longer value is never shown or stored)."""


def digits(text: str) -> bool:
    """Whether ``text`` is ASCII digits only (``str.isdigit`` also takes ``²`` and other scripts' digits)."""
    return text.isascii() and text.isdigit()


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (NUL, tab, a line break...): a one-line field never
    does, and PostgreSQL cannot store a NUL."""
    return any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in text)


def parse_uid(text: str) -> bytes | None:
    """A UID typed as hex (``:`` and spaces allowed), or ``None`` when it is not 4 or 7 bytes of hex."""
    compact = text.replace(":", "").replace(" ", "")
    if len(compact) not in UID_HEX_LENGTHS or not compact.isascii():
        return None
    try:
        return binascii.unhexlify(compact)
    except binascii.Error:
        return None


class Fields:
    """The fields of ``source`` (a form or the query string) as typed, stripped."""

    def __init__(self, source: Mapping[str, str]) -> None:
        self.source = source
        self.errors: dict[str, str] = {}

    def raw(self, name: str) -> str:
        """The field as typed (stripped, at most :data:`TEXT_FIELD_MAX` characters; empty when absent)."""
        return str(self.source.get(name, "")).strip()[:TEXT_FIELD_MAX]

    def values(self, *names: str) -> dict[str, str]:
        """The fields ``names`` as typed, to fill the form again."""
        return {name: self.raw(name) for name in names}

    def _fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def text(self, name: str, max_length: int, *, required: str | None = None) -> str | None:
        """The text, ``None`` when empty; ``required`` is the message for an empty one, when it may not be."""
        value = str(self.source.get(name, "")).strip()
        if not value:
            if required is not None:
                self._fail(name, required)
            return None
        if len(value) > max_length:
            self._fail(name, f"At most {max_length} characters.")
            return None
        if has_control(value):
            self._fail(name, "Use no control characters (such as a tab or a line break).")
            return None
        return value

    def choice(self, name: str, choices: Collection[str], *, required: bool = True) -> str | None:
        value = self.raw(name)
        if not value and not required:
            return None
        if value not in choices:
            self._fail(name, f"Choose one of: {', '.join(choices)}.")
            return None
        return value

    def integer(self, name: str, low: int, high: int, *, what: str = "a whole number") -> int | None:
        """A whole number in ``low..high``; ``None`` when empty."""
        value = self.raw(name)
        if not value:
            return None
        if not digits(value) or len(value) > 20 or not low <= int(value) <= high:
            self._fail(name, f"Give {what} from {low} to {high}.")
            return None
        return int(value)

    def card_number(self, name: str = "card_number") -> int | None:
        return self.integer(name, 0, UNSIGNED_MAX, what="a card number, a whole number")

    def uid(self, name: str = "uid") -> bytes | None:
        value = self.raw(name)
        if not value:
            return None
        uid = parse_uid(value)
        if uid is None:
            self._fail(name, "A UID is 4 or 7 bytes in hex: 8 or 14 hex digits.")
        return uid

    def cents(self, name: str, high: int) -> int | None:
        """An amount in euros (``12``, ``12.5``, ``12,50``) as cents in 1..``high``; ``None`` when empty."""
        value = self.raw(name)
        if not value:
            return None
        match = _CENTS.match(value)
        amount = None if match is None else int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))
        if amount is None or not 0 < amount <= high:
            self._fail(name, f"Give an amount in euros from 0.01 to {high // 100}.{high % 100:02d}, "
                             "such as 12.50.")
            return None
        return amount

    def moment(self, name: str) -> dt.datetime | None:
        """A time in UTC typed as ``YYYY-MM-DD`` (midnight) or ``YYYY-MM-DDTHH:MM[:SS]`` (a browser's
        date-time field); ``None`` when empty."""
        value = self.raw(name)
        if not value:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value) if 10 <= len(value) <= 32 else None
            if parsed is not None:
                parsed = parsed.replace(tzinfo=dt.UTC) if parsed.utcoffset() is None else parsed.astimezone(dt.UTC)
        except (ValueError, OverflowError):  # OverflowError: an offset past year 1 or 9999
            parsed = None
        if parsed is None:
            self._fail(name, "Write a date as YYYY-MM-DD or a time as YYYY-MM-DD HH:MM (UTC).")
        return parsed
