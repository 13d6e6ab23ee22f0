"""Signing in and out of the staff pages, and the home page (the first page
the user's role may open).

A failed sign-in says the same thing, and takes about as long, for an
unknown user, a disabled one, one without a password (API only) and a wrong
password. The sign-in form is protected from cross-site posting by a
double-submit token (a cookie of its own and the same value in the form),
since there is no session yet to hold one.
"""

from __future__ import annotations

import secrets

from flask import Response, current_app, g, make_response, redirect, render_template, request, url_for

from ...staff import STAFF_ROLES, USERNAME_MAX
from ..extensions import database
from .blueprint import PageError, bp, secure_cookies, sessions
from .guard import (
    COOKIE_PATH,
    CSRF_FIELD,
    clear_session_cookie,
    csrf_refused,
    current_session,
    page,
    safe_next,
    session_id,
    set_session_cookie,
    tokens_match,
)
from .nav import visible_nav

SIGN_IN_COOKIE = "citizencard_sign_in"
SIGN_IN_FAILED = "Wrong username or password."
_PASSWORD_FIELD_MAX = 1024


def _sign_in_form(status: int, *, error: str | None = None, username: str = "") -> Response:
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)
    response = make_response(render_template("pages/sign_in.html", sign_in_token=token, error=error,
                                             username=username, next=safe_next(request.values.get("next"))),
                             status)
    response.set_cookie(SIGN_IN_COOKIE, token, path=f"{COOKIE_PATH}/sign-in", httponly=True, samesite="Lax",
                        secure=secure_cookies())
    return response


@bp.get("/sign-in")
def sign_in() -> Response:
    """The sign-in form (straight home for a browser signed in already)."""
    if current_session() is not None:
        return redirect(safe_next(request.args.get("next")) or url_for("pages.home"), 303)
    return _sign_in_form(200)


@bp.post("/sign-in")
def sign_in_post() -> Response:
    """Check the username and password; on success begin a session and go on."""
    cookie_token = request.cookies.get(SIGN_IN_COOKIE)
    if cookie_token is None or not tokens_match(request.form.get(CSRF_FIELD), cookie_token):
        raise csrf_refused()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    member = None
    if 0 < len(username) <= USERNAME_MAX and len(password) <= _PASSWORD_FIELD_MAX:
        member = database.staff.verify(username, password)
    if member is None:
        current_app.logger.warning("staff sign-in refused for %r from %s", username[:USERNAME_MAX],
                                   request.remote_addr)
        return _sign_in_form(401, error=SIGN_IN_FAILED, username=username[:USERNAME_MAX])
    previous = session_id()
    if previous is not None:
        sessions().end(previous)
    sessions().expire()  # housekeeping: sign-ins are few, and the rows of ended sessions serve nothing
    new = sessions().create(member)
    response = redirect(safe_next(request.form.get("next")) or url_for("pages.home"), 303)
    set_session_cookie(response, new.session_id)
    response.delete_cookie(SIGN_IN_COOKIE, path=f"{COOKIE_PATH}/sign-in")
    return response


@bp.post("/sign-out")
@page(*STAFF_ROLES)
def sign_out() -> Response:
    """End the session and forget its cookie."""
    sid = session_id()
    if sid is not None:
        sessions().end(sid)
    response = redirect(url_for("pages.sign_in"), 303)
    clear_session_cookie(response)
    return response


@bp.get("/")
@page(*STAFF_ROLES)
def home() -> Response:
    """The first page of the menu the user's role may open."""
    links = visible_nav(g.staff_member.role)
    if not links:
        raise PageError(403, "No pages for your role",
                        f"Your role ({g.staff_member.role}) uses the API only; no staff page is for it.")
    return redirect(links[0].url, 303)
