"""Idempotency keys for the calls that move money (``@idempotent``).

A client sends ``Idempotency-Key: <1 to 128 visible ASCII characters>`` with
the call and the same key when it retries (after a timeout, a dropped
connection, a crash of its own). The view runs in one database transaction
that also stores its response under (user, key); a retry finds it and gets
the first response again, with ``Idempotent-Replayed: true``, and no money
moves twice. Two copies of one call racing each other cannot both commit: the
key's primary key refuses the second, whose whole transaction (money
included) rolls back, and it answers with the first's response.

A call that moves money only in some forms (``@idempotent_when_keyed``)
takes a key when it has one and asks for it when it moves money.

The key is bound to the request: the same key with another method, path,
query or body is refused (422), not answered with another call's response. A
call refused with a 4xx stores nothing (nothing happened), so it may be
corrected and sent again with the same key.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Response, g, make_response, request
from sqlalchemy import Table, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..db.models import IdempotencyKey
from ..errors import StoreError
from .errors import ApiError
from .extensions import database

F = TypeVar("F", bound=Callable[..., Any])

HEADER = "Idempotency-Key"
KEY_MAX = 128


def header_parameter(*, required: bool) -> dict[str, Any]:
    """The OpenAPI description of the header."""
    return {"name": HEADER, "in": "header", "required": required,
            "schema": {"type": "string", "minLength": 1, "maxLength": KEY_MAX, "pattern": "^[!-~]+$"},
            "description": "A key of the client's choosing, the same on every retry of one call: the call runs "
                           "at most once (a retry gets the first response, with Idempotent-Replayed: true)"}


REUSED_RESPONSE = {"description": "The idempotency key was used for another request",
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_KEYS: Table = IdempotencyKey.__table__  # type: ignore[assignment]


def _key() -> str:
    key = request.headers.get(HEADER, "")
    if not key:
        raise ApiError(400, "idempotency_key_required",
                       f"this call moves money: send an {HEADER} header (1 to {KEY_MAX} visible ASCII characters), "
                       "the same one when retrying", field=HEADER)
    if len(key) > KEY_MAX or not key.isascii() or not key.isprintable() or " " in key:
        raise ApiError(400, "invalid_idempotency_key",
                       f"{HEADER} must be 1 to {KEY_MAX} visible ASCII characters", field=HEADER)
    return key


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), request.query_string, request.get_data()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class Outcome:
    """What :func:`run_once` answered: ``replayed`` when the key had been
    used, and then the first call's ``status_code`` and ``body``."""

    status_code: int
    body: dict[str, Any]
    replayed: bool


class KeyReusedError(Exception):
    """The key was used for another request (another fingerprint)."""


def run_once(user_id: int, key: str, fingerprint: str, doing: str,
             action: Callable[[Connection], tuple[int, dict[str, Any]]]) -> Outcome:
    """Run ``action`` (its writes within the connection it is given) at
    most once per (``user_id``, ``key``): in one transaction with the stored
    ``(status code, JSON body)`` it returns. Copies racing each other cannot
    both commit: the later one rolls back whole and gets the first's outcome.

    :raises KeyReusedError: when the key was used with another ``fingerprint``.
    :raises StoreError: when the database fails (nothing was done).
    """
    held = select(_KEYS.c.fingerprint, _KEYS.c.status_code, _KEYS.c.response).where(
        (_KEYS.c.user_id == user_id) & (_KEYS.c.key == key))

    def replay(row: Any) -> Outcome:
        if row.fingerprint != fingerprint:
            raise KeyReusedError(key)
        return Outcome(row.status_code, row.response, replayed=True)

    store = database.store
    try:
        with store.transaction(doing) as conn:
            row = conn.execute(held).first()
            if row is not None:
                return replay(row)
            status_code, body = action(conn)
            conn.execute(_KEYS.insert().values(user_id=user_id, key=key, fingerprint=fingerprint,
                                               status_code=status_code, response=body, created_at=store.now()))
            return Outcome(status_code, body, replayed=False)
    except StoreError as exc:
        if not isinstance(exc.__cause__, IntegrityError):
            raise
        with database.engine.connect() as conn:
            row = conn.execute(held).first()
        if row is None:
            raise
        return replay(row)


class _Refused(Exception):
    """A view answered 4xx without raising: nothing of it may be committed."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def transaction() -> Connection:
    """The database transaction of the current ``@idempotent`` call: the
    view does all its writes in it."""
    conn: Connection = g.idempotent_transaction
    return conn


def keyed_transaction() -> Connection | None:
    """In a ``@idempotent_when_keyed`` view: the call's transaction when it
    came with an ``Idempotency-Key``, else ``None`` (the view writes as usual)."""
    conn: Connection | None = g.get("idempotent_transaction")
    return conn


def idempotent(view: F) -> F:
    """Run ``view`` at most once per (user, ``Idempotency-Key``); place it
    under ``@require`` (it needs the authenticated user)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        key, fingerprint = _key(), _fingerprint()

        def action(conn: Connection) -> tuple[int, dict[str, Any]]:
            g.idempotent_transaction = conn
            response = make_response(view(*args, **kwargs))
            if response.status_code >= 400:
                raise _Refused(response)
            body = response.get_json(silent=True)
            if not isinstance(body, dict):
                raise TypeError(f"{view.__name__} answered no JSON object: an idempotent call must")
            return response.status_code, body

        try:
            outcome = run_once(g.staff_member.id, key, fingerprint, f"an idempotent {request.method} {request.path}",
                               action)
        except _Refused as refused:
            return refused.response
        except KeyReusedError:
            raise ApiError(422, "idempotency_key_reused",
                           f"this {HEADER} was used for another request; use a new key for a new call") from None
        response = make_response(outcome.body, outcome.status_code)
        if outcome.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    return wrapped  # type: ignore[return-value]


def idempotent_when_keyed(view: F) -> F:
    """Like :func:`idempotent` for a call that moves money only sometimes (an
    application for a tourist card sold with a prepaid balance): with an
    ``Idempotency-Key`` it runs at most once per key, without one it runs as
    usual; the view refuses the money-moving form of the call without a key
    (see :func:`keyed_transaction`)."""
    keyed = idempotent(view)

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return keyed(*args, **kwargs) if HEADER in request.headers else view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
