"""Staff page sessions (sync_server/staff_sessions.py) and staff passwords
(Staff.set_password / verify), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from sync_server import audit, passwords
from sync_server.db.models import StaffSession, StaffUser
from sync_server.errors import InvalidValueError
from sync_server.staff import Staff, StaffMember
from sync_server.staff_sessions import StaffSessions
from tests.sync_server.conftest import Clock

PASSWORD = "correct horse battery"


@pytest.fixture
def staff(engine: Engine, clock: Clock) -> Staff:
    return Staff(engine, clock=clock)


@pytest.fixture
def member(staff: Staff) -> StaffMember:
    staff.add_user("ann", "card_office")
    return staff.set_password("ann", PASSWORD)


@pytest.fixture
def sessions(engine: Engine, clock: Clock) -> StaffSessions:
    return StaffSessions(engine, clock=clock, idle=dt.timedelta(minutes=30), lifetime=dt.timedelta(hours=12))


def _actions(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [(entry.actor, entry.action, entry.target) for entry in audit.entries(conn)]


def test_a_session_names_its_user_and_csrf_token_and_is_audited(engine: Engine, sessions: StaffSessions,
                                                                member: StaffMember) -> None:
    new = sessions.create(member)
    found = sessions.lookup(new.session_id)
    assert found is not None and found.member == member
    assert found.csrf_token == new.session.csrf_token and len(found.csrf_token) >= 43
    assert _actions(engine) == [("ann", "staff.sign_in", f"staff_user:{member.id}")]


def test_the_database_keeps_only_the_hash_of_the_session_id(engine: Engine, sessions: StaffSessions,
                                                             member: StaffMember) -> None:
    new = sessions.create(member)
    with engine.connect() as conn:
        stored = conn.execute(select(StaffSession.__table__.c.id_hash)).scalars().all()
    assert stored == [hashlib.sha256(new.session_id.encode()).hexdigest()]


def test_an_idle_session_ends_and_use_keeps_it_alive(sessions: StaffSessions, member: StaffMember,
                                                     clock: Clock) -> None:
    new = sessions.create(member)
    clock.advance(minutes=29)
    assert sessions.touch(new.session_id) is not None
    clock.advance(minutes=29)  # 58 minutes after sign-in, 29 after the last use
    assert sessions.lookup(new.session_id) is not None
    clock.advance(minutes=1, seconds=1)
    assert sessions.lookup(new.session_id) is None
    assert sessions.touch(new.session_id) is None


def test_lookup_does_not_extend_a_session(sessions: StaffSessions, member: StaffMember, clock: Clock) -> None:
    new = sessions.create(member)
    clock.advance(minutes=20)
    assert sessions.lookup(new.session_id) is not None
    clock.advance(minutes=11)
    assert sessions.lookup(new.session_id) is None


def test_a_session_ends_after_its_lifetime_however_busy(sessions: StaffSessions, member: StaffMember,
                                                        clock: Clock) -> None:
    new = sessions.create(member)
    for _ in range(35):  # 11 h 40 min of use every 20 minutes
        clock.advance(minutes=20)
        assert sessions.touch(new.session_id) is not None
    session = sessions.touch(new.session_id)
    assert session is not None and session.expires_at == new.session.created_at + dt.timedelta(hours=12)
    clock.advance(minutes=20)
    assert sessions.touch(new.session_id) is None


def test_signing_out_ends_the_session_once(engine: Engine, sessions: StaffSessions, member: StaffMember) -> None:
    new = sessions.create(member)
    assert sessions.end(new.session_id)
    assert sessions.lookup(new.session_id) is None
    assert not sessions.end(new.session_id)
    assert [action for _, action, _ in _actions(engine)] == ["staff.sign_in", "staff.sign_out"]


def test_a_disabled_user_loses_the_session(engine: Engine, sessions: StaffSessions, member: StaffMember) -> None:
    new = sessions.create(member)
    with engine.begin() as conn:
        conn.execute(update(StaffUser.__table__).values(disabled=True))
    assert sessions.lookup(new.session_id) is None


def test_a_new_password_ends_the_sessions(staff: Staff, sessions: StaffSessions, member: StaffMember) -> None:
    new = sessions.create(member)
    staff.set_password("ann", "another good password")
    assert sessions.lookup(new.session_id) is None


@pytest.mark.parametrize("session_id", ["", "x" * 65, "not-a-session"])
def test_unknown_session_ids_find_nothing(sessions: StaffSessions, member: StaffMember, session_id: str) -> None:
    sessions.create(member)
    assert sessions.lookup(session_id) is None
    assert sessions.touch(session_id) is None
    assert not sessions.end(session_id)


def test_expire_deletes_only_ended_sessions(engine: Engine, sessions: StaffSessions, member: StaffMember,
                                            clock: Clock) -> None:
    old = sessions.create(member)
    clock.advance(minutes=20)
    young = sessions.create(member)
    clock.advance(minutes=15)
    assert sessions.expire() == 1
    assert sessions.lookup(old.session_id) is None
    assert sessions.lookup(young.session_id) is not None


def test_timeouts_must_be_positive(engine: Engine) -> None:
    with pytest.raises(InvalidValueError):
        StaffSessions(engine, idle=dt.timedelta(0))


def test_verify_accepts_only_the_password_of_an_enabled_user(engine: Engine, staff: Staff,
                                                             member: StaffMember) -> None:
    assert staff.verify("ann", PASSWORD) == member
    assert staff.verify("ann", PASSWORD + "!") is None
    assert staff.verify("nobody", PASSWORD) is None
    staff.add_user("robot", "kiosk")  # API only: no password
    assert staff.verify("robot", "") is None
    with engine.begin() as conn:
        conn.execute(update(StaffUser.__table__).values(disabled=True))
    assert staff.verify("ann", PASSWORD) is None


def test_set_password_refuses_weak_passwords_and_unknown_users(staff: Staff, member: StaffMember) -> None:
    with pytest.raises(InvalidValueError):
        staff.set_password("ann", "short")
    with pytest.raises(InvalidValueError):
        staff.set_password("nobody", "a good long password")
    assert staff.verify("ann", PASSWORD) == member


def test_a_hash_of_older_parameters_is_replaced_at_sign_in(engine: Engine, staff: Staff,
                                                          member: StaffMember) -> None:
    weak = passwords.hash_password(PASSWORD, cost=passwords.Cost(log_n=4))
    users = StaffUser.__table__
    with engine.begin() as conn:
        conn.execute(update(users).values(password_hash=weak))
    assert staff.verify("ann", PASSWORD) == member
    with engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert stored != weak and not passwords.needs_rehash(stored) and passwords.verify(PASSWORD, stored)
