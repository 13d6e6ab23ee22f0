"""Token authentication with roles: ``@require("admin", "card_office")``
lets a request through only with ``Authorization: Bearer <token>`` of a
token not revoked, of a user not disabled, whose role is one of those named.
Without a usable token: 401 (with ``WWW-Authenticate: Bearer``); with a role
not named: 403. The user is then ``flask.g.staff_member``. Tokens are made by
``citizencard server user-add`` (:class:`sync_server.staff.Staff`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from ..audit import Actor
from ..staff import STAFF_ROLES, StaffMember
from .errors import ApiError
from .extensions import database

F = TypeVar("F", bound=Callable[..., Any])

TOKEN_MAX = 256
"""Longer Authorization values are refused before hashing (issued tokens are 43 characters)."""


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="citizencard"'})


def authenticate() -> StaffMember:
    """The staff member of the request's bearer token.

    :raises ApiError: 401 without a token, or with one that is unknown, revoked or of a disabled user.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header:
        raise _unauthorized("this endpoint needs an API token: Authorization: Bearer <token>")
    if scheme.lower() != "bearer" or not token or len(token) > TOKEN_MAX:
        raise _unauthorized("the Authorization header must be 'Bearer <token>'")
    member = database.staff.authenticate(token)
    if member is None:
        raise _unauthorized("the API token is unknown, revoked, or of a disabled user")
    return member


def require(*roles: str) -> Callable[[F], F]:
    """A view decorator: only users of ``roles`` may call the view."""
    unknown = [role for role in roles if role not in STAFF_ROLES]
    if not roles or unknown:
        raise ValueError(f"require() needs roles of {', '.join(STAFF_ROLES)}; got {', '.join(roles) or 'none'}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            member = authenticate()
            if member.role not in roles:
                raise ApiError(403, "forbidden", f"role {member.role!r} may not do this; allowed: {', '.join(roles)}")
            g.staff_member = member
            return view(*args, **kwargs)

        wrapped.required_roles = roles  # type: ignore[attr-defined]  # read by the OpenAPI document
        return wrapped  # type: ignore[return-value]

    return decorator


def current_actor() -> Actor:
    """The :class:`~sync_server.audit.Actor` of the request (inside a ``@require`` view)."""
    member: StaffMember = g.staff_member
    return Actor(member.username, member.role)
