"""The back office's staff users and their API tokens.

A token is 32 random bytes (URL-safe base64), shown once when issued; the
database keeps only its SHA-256, so a copy of the database holds no usable
token. A request authenticates with ``Authorization: Bearer <token>``
(:mod:`sync_server.web.auth`): the token's hash names the token, which must
not be revoked, and its user, who must not be disabled.

Users who sign in to the staff pages also have a password
(:meth:`Staff.set_password`), kept as its scrypt hash
(:mod:`sync_server.passwords`); :meth:`Staff.verify` checks it. Users without
one use the API only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from . import passwords
from .db.access import reading, writing
from .db.models import STAFF_ROLES, ApiToken, StaffSession, StaffUser
from .errors import DuplicateUserError, InvalidValueError, StoreError
from .store import utc_now

__all__ = ["STAFF_ROLES", "Staff", "StaffMember", "StaffUserInfo", "hash_token"]

USERNAME_MAX = 64

_USERS: Table = StaffUser.__table__  # type: ignore[assignment]
_TOKENS: Table = ApiToken.__table__  # type: ignore[assignment]
_SESSIONS: Table = StaffSession.__table__  # type: ignore[assignment]


LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
"""How closely ``api_tokens.last_used_at`` follows a token's use."""


@dataclass(frozen=True)
class StaffUserInfo:
    username: str
    role: str
    created_at: dt.datetime
    disabled: bool
    has_password: bool
    tokens: int
    """API tokens not revoked."""
    last_used_at: dt.datetime | None
    """The last use of any of them (to within :data:`LAST_USED_RESOLUTION`)."""


@dataclass(frozen=True)
class StaffMember:
    id: int
    username: str
    role: str


def hash_token(token: str) -> str:
    """The SHA-256 of ``token`` (hex), as ``api_tokens.token_hash`` keeps it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Staff:
    """Staff users and API tokens over ``engine`` (migrated)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def _write(self, doing: str) -> AbstractContextManager[Connection]:
        return writing(self._engine, doing)

    def _read(self, doing: str) -> AbstractContextManager[Connection]:
        return reading(self._engine, doing)

    def add_user(self, username: str, role: str) -> StaffMember:
        """Create a staff user with ``role`` (one of :data:`STAFF_ROLES`).

        :raises InvalidValueError: for an empty or too long username, or an unknown role.
        :raises DuplicateUserError: when the username is taken.
        :raises StoreError: when the database fails.
        """
        if not isinstance(username, str) or not 0 < len(username) <= USERNAME_MAX or username != username.strip():
            raise InvalidValueError(f"a username is 1 to {USERNAME_MAX} characters without surrounding spaces, "
                                    f"got {username!r:.80}")
        if role not in STAFF_ROLES:
            raise InvalidValueError(f"unknown role {role!r:.40}: the roles are {', '.join(STAFF_ROLES)}")
        try:
            with self._write(f"adding user {username!r}") as conn:
                user_id = conn.execute(_USERS.insert().values(
                    username=username, role=role, created_at=self._clock(), disabled=False)
                    .returning(_USERS.c.id)).scalar_one()
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise DuplicateUserError(f"a user named {username!r} exists already") from exc.__cause__
            raise
        return StaffMember(user_id, username, role)

    def issue_token(self, user_id: int) -> str:
        """A new API token for the user ``user_id``: returned once, kept only as its hash.

        :raises InvalidValueError: when there is no such user.
        :raises StoreError: when the database fails.
        """
        token = secrets.token_urlsafe(32)
        with self._write(f"issuing a token for user {user_id}") as conn:
            if conn.execute(select(_USERS.c.id).where(_USERS.c.id == user_id)).first() is None:
                raise InvalidValueError(f"no staff user with id {user_id}")
            conn.execute(_TOKENS.insert().values(user_id=user_id, token_hash=hash_token(token),
                                                 created_at=self._clock(), revoked=False))
        return token

    def revoke_token(self, token: str) -> bool:
        """Revoke ``token``; whether it was a token not revoked yet.

        :raises StoreError: when the database fails.
        """
        with self._write("revoking a token") as conn:
            return conn.execute(update(_TOKENS).where((_TOKENS.c.token_hash == hash_token(token))
                                                      & _TOKENS.c.revoked.is_(False))
                                .values(revoked=True)).rowcount == 1

    def authenticate(self, token: str) -> StaffMember | None:
        """The user of ``token``, or ``None`` for a token unknown or revoked,
        or of a disabled user. The token's ``last_used_at`` follows to within
        :data:`LAST_USED_RESOLUTION`: a read-only request writes nothing more
        often than that (on SQLite every write waits for ingest's).

        :raises StoreError: when the database fails.
        """
        digest = hash_token(token)
        now = self._clock()
        with self._read("authenticating") as conn:
            row = conn.execute(
                select(_TOKENS.c.id, _TOKENS.c.last_used_at, _USERS.c.id.label("user_id"), _USERS.c.username,
                       _USERS.c.role)
                .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
                .where((_TOKENS.c.token_hash == digest) & _TOKENS.c.revoked.is_(False)
                       & _USERS.c.disabled.is_(False))).first()
        if row is None:
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            with self._write("noting a token's use") as conn:
                conn.execute(update(_TOKENS).where(_TOKENS.c.id == row.id).values(last_used_at=now))
        return StaffMember(row.user_id, row.username, row.role)

    def users(self) -> list[StaffUserInfo]:
        """Every staff user, by username, with their tokens in use.

        :raises StoreError: when the database fails.
        """
        tokens = (select(_TOKENS.c.user_id, func.count().label("tokens"),
                         func.max(_TOKENS.c.last_used_at).label("last_used_at"))
                  .where(_TOKENS.c.revoked.is_(False)).group_by(_TOKENS.c.user_id).subquery())
        query = (select(_USERS.c.username, _USERS.c.role, _USERS.c.created_at, _USERS.c.disabled,
                        _USERS.c.password_hash.is_not(None).label("has_password"),
                        func.coalesce(tokens.c.tokens, 0), tokens.c.last_used_at)
                 .outerjoin(tokens, tokens.c.user_id == _USERS.c.id).order_by(_USERS.c.username))
        with self._read("listing staff users") as conn:
            return [StaffUserInfo(*row) for row in conn.execute(query)]

    def member(self, username: str) -> StaffMember:
        """The user ``username``.

        :raises InvalidValueError: when there is no such user.
        :raises StoreError: when the database fails.
        """
        with self._read(f"reading user {username!r}") as conn:
            return self._member(conn, username)

    @staticmethod
    def _member(conn: Connection, username: str) -> StaffMember:
        row = conn.execute(select(_USERS.c.id, _USERS.c.role).where(_USERS.c.username == username)).first()
        if row is None:
            raise InvalidValueError(f"no staff user named {username!r:.80}")
        return StaffMember(row.id, username, row.role)

    def set_disabled(self, username: str, disabled: bool) -> StaffMember:
        """Disable (or enable again) ``username``: a disabled user's tokens
        and page sessions are refused at once, and their sessions end.

        :raises InvalidValueError: when there is no such user.
        :raises StoreError: when the database fails.
        """
        with self._write(f"{'disabling' if disabled else 'enabling'} {username!r}") as conn:
            member = self._member(conn, username)
            conn.execute(update(_USERS).where(_USERS.c.id == member.id).values(disabled=disabled))
            if disabled:
                conn.execute(delete(_SESSIONS).where(_SESSIONS.c.user_id == member.id))
        return member

    def revoke_tokens(self, username: str) -> int:
        """Revoke every token of ``username``; how many were in use.

        :raises InvalidValueError: when there is no such user.
        :raises StoreError: when the database fails.
        """
        with self._write(f"revoking the tokens of {username!r}") as conn:
            member = self._member(conn, username)
            return conn.execute(update(_TOKENS).where((_TOKENS.c.user_id == member.id) & _TOKENS.c.revoked.is_(False))
                                .values(revoked=True)).rowcount

    def set_password(self, username: str, password: str) -> StaffMember:
        """Set (or change) the password ``username`` signs in to the staff
        pages with; the user's page sessions end, so a browser signed in with
        the old password is signed out.

        :raises InvalidValueError: for a password too short, too long or blank
            (:func:`sync_server.passwords.check_password`), or an unknown user.
        :raises StoreError: when the database fails.
        """
        encoded = passwords.hash_password(password)
        with self._write(f"setting the password of {username!r}") as conn:
            row = conn.execute(select(_USERS.c.id, _USERS.c.role).where(_USERS.c.username == username)).first()
            if row is None:
                raise InvalidValueError(f"no staff user named {username!r:.80}")
            conn.execute(update(_USERS).where(_USERS.c.id == row.id)
                         .values(password_hash=encoded, password_changed_at=self._clock()))
            conn.execute(delete(_SESSIONS).where(_SESSIONS.c.user_id == row.id))
        return StaffMember(row.id, username, row.role)

    def verify(self, username: str, password: str) -> StaffMember | None:
        """The user ``username`` if ``password`` is theirs, else ``None`` (an
        unknown or disabled user, one without a password, a wrong password:
        all take about the time of one password check). A hash made with
        older parameters is replaced by one of today's.

        :raises StoreError: when the database fails.
        """
        with self._read("signing in") as conn:
            row = conn.execute(select(_USERS.c.id, _USERS.c.role, _USERS.c.password_hash)
                               .where((_USERS.c.username == username) & _USERS.c.disabled.is_(False))).first()
        if row is None or row.password_hash is None:
            passwords.spend_verify_time(password)
            return None
        if not passwords.verify(password, row.password_hash):
            return None
        if passwords.needs_rehash(row.password_hash):
            with self._write(f"rehashing the password of {username!r}") as conn:
                # Only if unchanged since read: a password set meanwhile wins.
                conn.execute(update(_USERS).where((_USERS.c.id == row.id)
                                                  & (_USERS.c.password_hash == row.password_hash))
                             .values(password_hash=passwords.hash_password(password, check=False)))
        return StaffMember(row.id, username, row.role)
