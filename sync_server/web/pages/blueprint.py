"""The staff pages' blueprint under ``/staff``: its settings, the security
headers of every answer, the HTML error pages, and what every template sees
(the user, the CSRF token, the navigation).

Settings (Flask config keys, with their defaults; server.toml's ``[web]``
table sets them, :class:`sync_server.config.WebSettings`)::

    STAFF_SESSION_IDLE_MINUTES = 30      # a session unused this long ends
    STAFF_SESSION_LIFETIME_HOURS = 12    # and any session ends this long after sign-in
    STAFF_SECURE_COOKIES = False         # True behind HTTPS: cookies get Secure (also set for a request
                                         # the app sees as HTTPS)
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, render_template, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy.engine import Connection

from ...db import access
from ...errors import InvalidValueError, NotFoundError, ServerConfigError, StateConflictError, StoreError
from ...staff_sessions import DEFAULT_IDLE, DEFAULT_LIFETIME, StaffSessions
from ...store import utc_now
from ..errors import ApiError
from ..extensions import database
from .nav import visible_nav

bp = Blueprint("pages", __name__, url_prefix="/staff", template_folder="templates", static_folder="static")

_SESSIONS_KEY = "citizencard.staff_sessions"

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'")
"""No script at all, styles only from the app's own stylesheet: charts are inline SVG drawn with
presentation attributes, which the policy does not restrict."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class PageError(Exception):
    """An error answered with the HTML error page: ``status``, a title and what to do."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def _minutes(app: Flask, key: str, default: dt.timedelta, unit: str) -> dt.timedelta:
    value = app.config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ServerConfigError(f"{key} must be a positive number of {unit}, got {value!r}")
    return dt.timedelta(**{unit: value})


@bp.record_once
def _bind(state: BlueprintSetupState) -> None:
    app = state.app
    idle = _minutes(app, "STAFF_SESSION_IDLE_MINUTES", DEFAULT_IDLE, "minutes")
    lifetime = _minutes(app, "STAFF_SESSION_LIFETIME_HOURS", DEFAULT_LIFETIME, "hours")
    with app.app_context():
        engine = database.engine
    app.extensions[_SESSIONS_KEY] = StaffSessions(engine, clock=app.config.get("CLOCK") or utc_now, idle=idle,
                                                  lifetime=lifetime)


def sessions() -> StaffSessions:
    """The current app's staff sessions."""
    bound: StaffSessions = current_app.extensions[_SESSIONS_KEY]
    return bound


def reading(doing: str) -> AbstractContextManager[Connection]:
    """A read-only connection of the app's database; its errors leave as :class:`StoreError`."""
    return access.reading(database.engine, doing)


def now() -> dt.datetime:
    """The current time of the app's clock (aware UTC)."""
    clock: Callable[[], dt.datetime] = current_app.config.get("CLOCK") or utc_now
    return clock()


def secure_cookies() -> bool:
    """Whether cookies must be Secure: the app is told it is behind HTTPS, or the request came over it."""
    return bool(current_app.config.get("STAFF_SECURE_COOKIES")) or request.is_secure


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if request.endpoint != "pages.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_template_filter("when")
def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "never"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.app_template_filter("cents")
def cents(value: int) -> str:
    """An amount of cents as euros: ``-1,234.05 €``."""
    sign = "-" if value < 0 else ""
    euros, cents = divmod(abs(value), 100)
    return f"{sign}{euros:,}.{cents:02d} €"


@bp.context_processor
def _context() -> dict[str, Any]:
    session = g.get("page_session")
    member = session.member if session is not None else None
    return {"member": member, "csrf_token": session.csrf_token if session is not None else None,
            "nav": visible_nav(member.role) if member is not None else ()}


def error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("pages/error.html", title=title, message=message, status=status), status


@bp.errorhandler(PageError)
def _page_error(exc: PageError) -> tuple[str, int]:
    return error_page(exc.status, exc.title, exc.message)


@bp.errorhandler(InvalidValueError)
def _invalid_value(exc: InvalidValueError) -> tuple[str, int]:
    return error_page(400, "Not a valid value", str(exc))


@bp.errorhandler(NotFoundError)
def _not_found(exc: NotFoundError) -> tuple[str, int]:
    return error_page(404, "Not found", str(exc))


@bp.errorhandler(StateConflictError)
def _conflict(exc: StateConflictError) -> tuple[str, int]:
    return error_page(409, "Not possible now", str(exc))


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> tuple[str, int]:
    # What the API's helpers refuse (such as the issuer keys a top-up needs), as a page.
    if exc.status >= 500:
        current_app.logger.error("%s: %s", exc.code, exc.message)
    return error_page(exc.status, "Not possible now" if exc.status >= 500 else "Refused", exc.message)


@bp.errorhandler(StoreError)
def _store_error(exc: StoreError) -> tuple[str, int]:
    current_app.logger.error("database error", exc_info=exc)
    return error_page(503, "The database cannot be used now", "The error is logged; try again in a moment.")
