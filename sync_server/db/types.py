"""Column types that mean the same on SQLite and PostgreSQL.

- :class:`UnsignedBigInt`: card numbers use all 64 bits, unsigned; both
  databases' 64-bit integers are signed. Values from ``2**63`` are stored
  wrapped to negative (two's complement, as the device's SQLite files do) and
  unwrapped on the way out, so the rest of the code sees the real number.
  Equality and uniqueness are preserved; order in SQL is not (never compare
  card numbers with ``<`` in SQL).
- :class:`UtcDateTime`: an aware UTC :class:`~datetime.datetime` in Python,
  ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, fixed-width UTC text on SQLite
  (which has no time zones: text order is time order). Naive datetimes are
  refused rather than guessed.
- :class:`JsonText`: a JSON document kept as text (canonical: sorted keys,
  no spaces), a ``dict`` or ``list`` in Python. Text rather than JSONB, so
  that the document reads back byte for byte and both databases agree.
- :data:`BIGINT_ID`: an autoincrementing 64-bit key; on SQLite it must be
  spelled ``INTEGER`` to alias the rowid.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

UNSIGNED_MAX = 2**64 - 1
_SIGN = 2**63
_WRAP = 2**64

BIGINT_ID = BigInteger().with_variant(Integer(), "sqlite")
"""Type of autoincrementing surrogate keys (``INTEGER PRIMARY KEY`` on SQLite)."""


def to_signed(value: int) -> int:
    """``value`` (0..2**64-1) as the signed 64-bit integer the database stores.

    :raises ValueError: outside 0..2**64-1.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UNSIGNED_MAX:
        raise ValueError(f"{value!r} is not an unsigned 64-bit integer")
    return value - _WRAP if value >= _SIGN else value


def from_signed(value: int) -> int:
    """The unsigned value of a stored signed 64-bit integer."""
    return value + _WRAP if value < 0 else value


class UnsignedBigInt(TypeDecorator[int]):
    """An unsigned 64-bit integer in a signed ``BIGINT``/``INTEGER`` column."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> int | None:
        return None if value is None else to_signed(value)

    def process_result_value(self, value: int | None, dialect: Dialect) -> int | None:
        return None if value is None else from_signed(value)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime; naive values are refused (``ValueError``)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.utcoffset() is None:
            raise ValueError(f"{value!r} is not a datetime with a time zone")
        value = value.astimezone(dt.UTC)
        # SQLite's DATETIME drops the zone anyway; strip it so what is stored is explicitly UTC.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # One step instead of two (this class's check, then SQLite DATETIME's formatting by a
        # format string): the same text, "YYYY-MM-DD HH:MM:SS.ffffff", at a fifth of the cost.
        def process(value: dt.datetime | None) -> str | None:
            if value is None:
                return None
            if not isinstance(value, dt.datetime) or value.utcoffset() is None:
                raise ValueError(f"{value!r} is not a datetime with a time zone")
            return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def iso_bind_processor(self, dialect: Dialect) -> Callable[[str], Any]:
        """A function from ISO-8601 text with a time zone to the value bound
        for ``dialect`` (what parsing it and :meth:`bind_processor` give).

        On SQLite, text already in the devices' form (UTC, microseconds:
        ``2026-05-01T07:30:00.000000+00:00``) is only checked and sliced to
        the stored form, at a fifth of the cost of formatting a datetime.
        The function raises ``ValueError`` for other text or a missing zone.
        """
        bind = self.bind_processor(dialect) or _same

        def parse(text: str) -> Any:
            moment = dt.datetime.fromisoformat(text)  # ValueError for non-ISO text, TypeError for non-str
            if moment.utcoffset() is None:
                raise ValueError(f"{text!r:.40} has no time zone")
            return bind(moment)

        if dialect.name != "sqlite":
            return parse

        def parse_sqlite(text: str) -> Any:
            if len(text) == 32 and text.endswith("+00:00") and text[10] == "T":
                dt.datetime.fromisoformat(text)  # checks the date and time are valid
                return f"{text[:10]} {text[11:26]}"
            return parse(text)

        return parse_sqlite


def _same(value: Any) -> Any:
    return value


def dump_json(document: Any) -> str:
    """The canonical JSON text of ``document`` (sorted keys, no spaces, no NaN).

    :raises ValueError: when ``document`` is not JSON (``TypeError`` is converted).
    """
    try:
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except TypeError as exc:
        raise ValueError(f"not a JSON document: {exc}") from exc


class JsonText(TypeDecorator[Any]):
    """A JSON document (object or array) stored as canonical text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else dump_json(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)
