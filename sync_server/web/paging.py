"""Cursor pagination of the API's lists in id order, one style everywhere:
``?cursor=`` takes the opaque ``next_cursor`` of the previous page (absent
or empty: from the start), ``?limit=`` the page size, and ``next_cursor`` is
``null`` when no more rows follow. The cursor is the one of
:mod:`sync_server.transactions` (the last id of the page, encoded)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from flask import request

from ..transactions import InvalidCursorError, decode_cursor, encode_cursor
from . import inputs
from .errors import bad_field
from .spec import query_parameter

T = TypeVar("T")


def page_request(limit_max: int, limit_default: int) -> tuple[int, int]:
    """``(after_id, limit)`` of the request's ``cursor`` and ``limit``.

    :raises ApiError: 400 naming the parameter for a cursor this server did not hand out or a limit out of range.
    """
    cursor = request.args.get("cursor") or None
    try:
        after = 0 if cursor is None else decode_cursor(cursor)
    except InvalidCursorError as exc:
        raise bad_field("cursor", str(exc)) from None
    limit = inputs.query_integer("limit", 1, limit_max, default=limit_default)
    assert limit is not None
    return after, limit


def page_of(found: Sequence[T], limit: int, id_of: Callable[[T], int]) -> tuple[Sequence[T], str | None]:
    """The page of ``found`` (read with ``limit + 1``: the one more tells whether more follow) and its
    ``next_cursor``."""
    page = found[:limit]
    return page, encode_cursor(id_of(page[-1])) if len(found) > limit else None


def parameters(what: str, limit_max: int, limit_default: int) -> list[dict[str, Any]]:
    """The OpenAPI query parameters ``cursor`` and ``limit``."""
    return [query_parameter("cursor", {"type": "string"}, "The next_cursor of the previous page"),
            query_parameter("limit", {"type": "integer", "minimum": 1, "maximum": limit_max,
                                      "default": limit_default}, f"{what} per page")]


NEXT_CURSOR = {"type": ["string", "null"], "description": "Give as cursor for the next page; null: no more"}
