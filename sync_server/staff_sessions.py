"""Sessions of the staff pages: a browser signed in as a staff user.

A session is named by 32 random bytes (URL-safe base64) that only the
browser's cookie holds; ``staff_sessions`` keeps their SHA-256, so a copy of
the database opens no session. Each session has its own CSRF token, which
every form of the pages carries.

A session ends at whichever comes first: ``idle`` after it was last used, or
``lifetime`` after it began (``expires_at`` is kept up to date with both, so
one comparison decides). It also ends when its user signs out, is disabled
or has the password changed (:meth:`sync_server.staff.Staff.set_password`).
Signing in and out are written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import Connection, Engine

from . import audit
from .db.access import reading, writing
from .db.models import StaffSession, StaffUser
from .errors import InvalidValueError
from .staff import StaffMember, hash_token
from .store import utc_now

DEFAULT_IDLE = dt.timedelta(minutes=30)
DEFAULT_LIFETIME = dt.timedelta(hours=12)
SESSION_ID_MAX = 64
"""Longer cookie values are refused before hashing (issued ids are 43 characters)."""

_SESSIONS: Table = StaffSession.__table__  # type: ignore[assignment]
_USERS: Table = StaffUser.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class PageSession:
    """A live session: its user, its CSRF token, and when it ends unless used again."""

    member: StaffMember
    csrf_token: str
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class NewSession:
    """A session just begun: ``session_id`` goes into the browser's cookie, and nowhere else."""

    session_id: str
    session: PageSession


class StaffSessions:
    """The sessions of the staff pages over ``engine`` (migrated).

    :raises InvalidValueError: when ``idle`` or ``lifetime`` is not positive.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], dt.datetime] = utc_now,
                 idle: dt.timedelta = DEFAULT_IDLE, lifetime: dt.timedelta = DEFAULT_LIFETIME) -> None:
        if idle <= dt.timedelta(0) or lifetime <= dt.timedelta(0):
            raise InvalidValueError(f"a session's idle timeout and lifetime must be positive, got {idle}, {lifetime}")
        self._engine = engine
        self._clock = clock
        self.idle = idle
        self.lifetime = lifetime

    def _begin(self, doing: str, *, read_only: bool = False) -> AbstractContextManager[Connection]:
        return reading(self._engine, doing) if read_only else writing(self._engine, doing)

    def _expiry(self, created_at: dt.datetime, now: dt.datetime) -> dt.datetime:
        return min(now + self.idle, created_at + self.lifetime)

    def create(self, member: StaffMember) -> NewSession:
        """Begin a session for ``member`` (signed in just now), with a new CSRF token.

        :raises StoreError: when the database fails.
        """
        session_id = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        now = self._clock()
        expires_at = self._expiry(now, now)
        with self._begin(f"beginning a session of {member.username!r}") as conn:
            conn.execute(_SESSIONS.insert().values(id_hash=hash_token(session_id), user_id=member.id,
                                                   csrf_token=csrf_token, created_at=now, last_seen_at=now,
                                                   expires_at=expires_at))
            audit.record(conn, audit.Actor(member.username, member.role), "staff.sign_in",
                         f"staff_user:{member.id}", now)
        return NewSession(session_id, PageSession(member, csrf_token, now, expires_at))

    def _live(self, conn: Connection, session_id: str, now: dt.datetime) -> tuple[str, PageSession] | None:
        if not isinstance(session_id, str) or not 0 < len(session_id) <= SESSION_ID_MAX:
            return None
        id_hash = hash_token(session_id)
        row = conn.execute(
            select(_SESSIONS.c.csrf_token, _SESSIONS.c.created_at, _SESSIONS.c.expires_at,
                   _USERS.c.id, _USERS.c.username, _USERS.c.role)
            .join(_USERS, _USERS.c.id == _SESSIONS.c.user_id)
            .where((_SESSIONS.c.id_hash == id_hash) & _USERS.c.disabled.is_(False))).first()
        if row is None or row.expires_at <= now:
            return None
        member = StaffMember(row.id, row.username, row.role)
        return id_hash, PageSession(member, row.csrf_token, row.created_at, row.expires_at)

    def lookup(self, session_id: str) -> PageSession | None:
        """The live session ``session_id`` names, unchanged; ``None`` when it
        is unknown, ended, expired, or of a disabled user.

        :raises StoreError: when the database fails.
        """
        now = self._clock()
        with self._begin("looking up a session", read_only=True) as conn:
            live = self._live(conn, session_id, now)
        return None if live is None else live[1]

    def touch(self, session_id: str) -> PageSession | None:
        """As :meth:`lookup`, and the session is used now: its idle timeout
        starts again (never past its lifetime).

        :raises StoreError: when the database fails.
        """
        now = self._clock()
        with self._begin("using a session") as conn:
            live = self._live(conn, session_id, now)
            if live is None:
                return None
            id_hash, session = live
            expires_at = self._expiry(session.created_at, now)
            conn.execute(update(_SESSIONS).where(_SESSIONS.c.id_hash == id_hash)
                         .values(last_seen_at=now, expires_at=expires_at))
        return PageSession(session.member, session.csrf_token, session.created_at, expires_at)

    def end(self, session_id: str) -> bool:
        """Sign out: end the session ``session_id``; whether it was live.

        :raises StoreError: when the database fails.
        """
        now = self._clock()
        with self._begin("ending a session") as conn:
            live = self._live(conn, session_id, now)
            if live is None:
                if isinstance(session_id, str) and 0 < len(session_id) <= SESSION_ID_MAX:
                    conn.execute(delete(_SESSIONS).where(_SESSIONS.c.id_hash == hash_token(session_id)))
                return False
            id_hash, session = live
            conn.execute(delete(_SESSIONS).where(_SESSIONS.c.id_hash == id_hash))
            member = session.member
            audit.record(conn, audit.Actor(member.username, member.role), "staff.sign_out",
                         f"staff_user:{member.id}", now)
        return True

    def expire(self) -> int:
        """Delete the sessions past their end; how many.

        :raises StoreError: when the database fails.
        """
        with self._begin("deleting expired sessions") as conn:
            return conn.execute(delete(_SESSIONS).where(_SESSIONS.c.expires_at <= self._clock())).rowcount
