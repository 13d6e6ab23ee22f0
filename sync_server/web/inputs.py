"""Reading a request's JSON body, path and query values: each helper either
returns a value of the right type and range or raises a 400
:class:`~sync_server.web.errors.ApiError` naming the field, so a view never
sees (and the API never answers 500 to) a malformed value."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from flask import request

from ..db.types import UNSIGNED_MAX
from .errors import ApiError, bad_field

UID_HEX_LENGTHS = (8, 14)
"""A UID is 4 or 7 bytes: 8 or 14 hex digits."""

TEXT_MAX = 200

_MISSING = object()


def json_object(allowed: Collection[str], required: Collection[str] = ()) -> dict[str, Any]:
    """The request's JSON object, with only ``allowed`` fields and all of ``required``."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "the request body must be a JSON object")
    for field in body:
        if field not in allowed:
            raise bad_field(str(field)[:40], f"unknown field {str(field)!r:.40}; the fields are "
                                             f"{', '.join(sorted(allowed))}")
    for field in required:
        if field not in body:
            raise bad_field(field, f"{field} is required")
    return body


def integer(body: Mapping[str, Any], field: str, low: int, high: int, *, default: Any = _MISSING) -> Any:
    """``body[field]`` as an int in ``low..high`` (``default`` when absent or null, if given)."""
    value = body.get(field)
    if value is None and default is not _MISSING:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_field(field, f"{field} must be an integer in {low}..{high}")
    return value


def card_number(body: Mapping[str, Any], field: str = "card_number", *, default: Any = _MISSING) -> Any:
    """A card number: 0..2**64-1."""
    return integer(body, field, 0, UNSIGNED_MAX, default=default)


def text(body: Mapping[str, Any], field: str, *, max_length: int = TEXT_MAX, default: Any = _MISSING) -> Any:
    """A non-blank string of at most ``max_length`` characters, stripped."""
    value = body.get(field)
    if value is None and default is not _MISSING:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise bad_field(field, f"{field} must be a non-empty string of at most {max_length} characters")
    return value.strip()


def choice(body: Mapping[str, Any], field: str, choices: Collection[str], *, default: Any = _MISSING) -> Any:
    """One of ``choices``."""
    value = body.get(field)
    if value is None and default is not _MISSING:
        return default
    if not isinstance(value, str) or value not in choices:
        raise bad_field(field, f"{field} must be one of {', '.join(choices)}")
    return value


def uid(body: Mapping[str, Any], field: str = "uid", *, default: Any = _MISSING) -> Any:
    """A UID given as 8 or 14 hex digits, as bytes."""
    value = body.get(field)
    if value is None and default is not _MISSING:
        return default
    if not isinstance(value, str) or len(value) not in UID_HEX_LENGTHS:
        raise bad_field(field, f"{field} must be the card's UID as hex: 8 or 14 hex digits (4 or 7 bytes)")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise bad_field(field, f"{field} must be hex digits only") from None


def date(body: Mapping[str, Any], field: str, *, default: Any = _MISSING) -> Any:
    """A date given as ``YYYY-MM-DD``."""
    value = body.get(field)
    if value is None and default is not _MISSING:
        return default
    if not isinstance(value, str) or len(value) != 10:
        raise bad_field(field, f"{field} must be a date, YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise bad_field(field, f"{field} must be a date, YYYY-MM-DD") from None


def timestamp(value: str, field: str) -> dt.datetime:
    """An ISO 8601 date-time with a UTC offset (``Z`` or ``+hh:mm``), or a
    date (midnight UTC), as an aware UTC datetime."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        raise bad_field(field, f"{field} must be an ISO 8601 date-time with an offset, or a date")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise bad_field(field, f"{field} must be an ISO 8601 date-time with an offset, or a date") from None
    if len(value) == 10:
        return parsed.replace(tzinfo=dt.UTC)
    if parsed.utcoffset() is None:
        raise bad_field(field, f"{field} needs a UTC offset (Z or +hh:mm): a time without one is ambiguous")
    return parsed.astimezone(dt.UTC)


def query_integer(name: str, low: int, high: int, default: int | None = None) -> int | None:
    """The query parameter ``name`` as an int in ``low..high`` (``default`` when absent)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 20 or not low <= int(raw) <= high:
        raise bad_field(name, f"{name} must be an integer in {low}..{high}")
    return int(raw)


def query_timestamp(name: str) -> dt.datetime | None:
    """The query parameter ``name`` as a UTC datetime (see :func:`timestamp`), or ``None``."""
    raw = request.args.get(name)
    return None if raw is None else timestamp(raw, name)
