"""Who may open a staff page: ``@page("admin", "card_office")`` lets a
request through only with the cookie of a live session (otherwise: a redirect
to the sign-in page, back here afterwards), on a POST only with the session's
CSRF token in the form's ``csrf_token`` field (otherwise 403), and only for a
user whose role is named (otherwise 403). The user is then
``flask.g.staff_member`` (so :func:`sync_server.web.auth.current_actor`
works), the session ``flask.g.page_session``.

The session cookie is HttpOnly, SameSite=Lax, limited to ``/staff``, and
Secure behind HTTPS; the session id in it is known to the browser only.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Response, g, redirect, request, url_for

from ...staff import STAFF_ROLES
from ...staff_sessions import PageSession
from .blueprint import PageError, secure_cookies, sessions

F = TypeVar("F", bound=Callable[..., Any])

SESSION_COOKIE = "citizencard_staff"
COOKIE_PATH = "/staff"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def set_session_cookie(response: Response, session_id: str) -> None:
    response.set_cookie(SESSION_COOKIE, session_id, path=COOKIE_PATH, httponly=True, samesite="Lax",
                        secure=secure_cookies())


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="Lax",
                           secure=secure_cookies())


def session_id() -> str | None:
    """The session id of the request's cookie, if any."""
    return request.cookies.get(SESSION_COOKIE) or None


def current_session() -> PageSession | None:
    """The request's live session, used now (its idle timeout starts again)."""
    sid = session_id()
    return None if sid is None else sessions().touch(sid)


def tokens_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a submitted token with the expected one."""
    return given is not None and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def csrf_refused() -> PageError:
    return PageError(403, "Form refused", "The form did not carry this session's security token (it may be from "
                                          "another site or an older session). Reload the page and send it again.")


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path of the staff pages (never another site), else ``None``."""
    if not target or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not (parts.path == COOKIE_PATH or parts.path.startswith(COOKIE_PATH + "/")):
        return None
    return target


def page(*roles: str) -> Callable[[F], F]:
    """A view decorator: only signed-in users of ``roles`` may open the page."""
    unknown = [role for role in roles if role not in STAFF_ROLES]
    if not roles or unknown:
        raise ValueError(f"page() needs roles of {', '.join(STAFF_ROLES)}; got {', '.join(roles) or 'none'}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            session = current_session()
            if session is None:
                target = request.full_path.rstrip("?") if request.method == "GET" else None
                return redirect(url_for("pages.sign_in", next=target), 303)
            g.page_session = session
            g.staff_member = session.member
            if request.method in UNSAFE_METHODS and not tokens_match(request.form.get(CSRF_FIELD),
                                                                      session.csrf_token):
                raise csrf_refused()
            if session.member.role not in roles:
                raise PageError(403, "Not for your role",
                                f"Your role ({session.member.role}) may not open this page; "
                                f"it is for {', '.join(roles)}.")
            return view(*args, **kwargs)

        wrapped.required_roles = roles  # type: ignore[attr-defined]  # read by the navigation
        return wrapped  # type: ignore[return-value]

    return decorator
