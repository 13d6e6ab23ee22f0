"""The sync server's tables, as SQLAlchemy 2 typed models. The schema is
made by the Alembic revisions in ``migrations/versions`` (never by
``create_all`` outside tests); a test checks that they produce exactly this.

Devices and what they report::

    devices               one row per registered field device: its Ed25519 public key, mode, operator,
                          location, and its last status (online, journal backlog, last sequence number)
    device_list_versions  (device_id, list_name) -> the list version the device last reported holding

Transactions and reconciliation::

    transactions          one row per (device_id, seq): the journal entry at the highest revision received
    card_shadows          per card: the highest transaction counter seen and the balance it left
    anomalies             impossible card histories (counter_back, balance_above_shadow,
                          repeated_counter), at most one per (kind, device_id, seq)

Lists sent down to devices (versions start at 0, each change +1)::

    list_versions         list_name -> current version (denylist, loads, config)
    list_changes          every change at its version, so a delta from any kept version is computable
    deny_entries          the current deny-list, one row per denied key (a card number or a UID)
    pending_loads         the current pending loads, (card_number, load_seq)
    card_load_sequences   per card, the last load sequence number issued (loads leave pending_loads
                          once applied, but their numbers must never come back)
    config_documents      the current configuration documents, each with the list version that set it

And ``rejections``: every message ingest refused, for the back office.

Staff of the back office and their API tokens::

    staff_users           one row per person or machine using the API: a unique username and one role
                          (:data:`STAFF_ROLES`); ``disabled`` users are refused
    api_tokens            the SHA-256 of each API token (the token itself is shown once, never stored),
                          its user, when it was issued and last used, and whether it was revoked

Card numbers are :class:`~sync_server.db.types.UnsignedBigInt`; times are
aware UTC (:class:`~sync_server.db.types.UtcDateTime`); constraint names
follow :data:`NAMING_CONVENTION`, so migrations can name what they alter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import BIGINT_ID, JsonText, UnsignedBigInt, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ANOMALY_KINDS = ("counter_back", "balance_above_shadow", "repeated_counter")

ENTRY_STATES = ("intent", "done", "aborted")
"""Journal entry states (``device.journal.EntryState``); only ``done`` entries move money."""

STAFF_ROLES = ("admin", "card_office", "operator", "finance", "auditor", "technician", "kiosk", "issuance_point")
"""The roles of the back office's users; each user has exactly one."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Device(Base):
    __tablename__ = "devices"

    device_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))  # raw Ed25519
    mode: Mapped[str] = mapped_column(String(16))                # bus, bike, ev, kiosk, ...
    operator: Mapped[int] = mapped_column(Integer)
    location: Mapped[int] = mapped_column(Integer)
    registered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_status: Mapped[dict[str, Any] | None] = mapped_column(JsonText)  # the last Status body received
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    backlog: Mapped[int] = mapped_column(BigInteger, default=0)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class DeviceListVersion(Base):
    __tablename__ = "device_list_versions"

    device_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("devices.device_id"), primary_key=True)
    list_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    reported_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Transaction(Base):
    """A device's journal entry (``EntryRecord`` on the wire) at the highest
    revision received. ``id`` orders rows by first arrival; an upgrade to a
    higher revision keeps the row's ``id`` and updates ``received_at``."""

    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("device_id", "seq"),
        Index(None, "card_number", "counter_after"),
    )

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("devices.device_id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    rev: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    uid: Mapped[bytes | None] = mapped_column(LargeBinary(7))
    card_number: Mapped[int | None] = mapped_column(UnsignedBigInt)
    counter_before: Mapped[int | None] = mapped_column(BigInteger)  # the card's counter is 32 bits unsigned
    counter_after: Mapped[int | None] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)           # signed: negative is a charge
    balance_cents: Mapped[int | None] = mapped_column(BigInteger)
    decision: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JsonText)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CardShadow(Base):
    """What the server believes a card holds: the highest transaction
    counter seen in a completed entry, and the balance that entry left."""

    __tablename__ = "card_shadows"

    card_number: Mapped[int] = mapped_column(UnsignedBigInt, primary_key=True, autoincrement=False)
    counter: Mapped[int] = mapped_column(BigInteger)
    balance_cents: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Anomaly(Base):
    """An impossible card history, pinned on the entry that shows it."""

    __tablename__ = "anomalies"
    __table_args__ = (
        UniqueConstraint("kind", "device_id", "seq"),
        ForeignKeyConstraint(["device_id", "seq"], ["transactions.device_id", "transactions.seq"]),
        CheckConstraint(f"kind IN {ANOMALY_KINDS!r}", name="kind"),
        Index(None, "card_number"),
    )

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    card_number: Mapped[int] = mapped_column(UnsignedBigInt)
    kind: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ListVersion(Base):
    __tablename__ = "list_versions"

    list_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class ListChange(Base):
    """One change of a list: ``op`` ``add`` or ``remove`` of ``item`` (the
    JSON object of ``device.protocol.items``), the ``ordinal``-th change
    that made ``version``."""

    __tablename__ = "list_changes"
    __table_args__ = (CheckConstraint("op IN ('add', 'remove')", name="op"),)

    list_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ordinal: Mapped[int] = mapped_column(Integer, primary_key=True)
    op: Mapped[str] = mapped_column(String(8))
    item: Mapped[dict[str, Any]] = mapped_column(JsonText)


class DenyEntry(Base):
    """One denied key: a card number or a UID (exactly one of them). A block
    naming both keys makes two rows; an unblock removes the keys it names."""

    __tablename__ = "deny_entries"
    __table_args__ = (CheckConstraint("(card_number IS NULL) <> (uid IS NULL)", name="one_key"),)

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    card_number: Mapped[int | None] = mapped_column(UnsignedBigInt, unique=True)
    uid: Mapped[bytes | None] = mapped_column(LargeBinary(7), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    blocked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class PendingLoad(Base):
    __tablename__ = "pending_loads"

    card_number: Mapped[int] = mapped_column(UnsignedBigInt, primary_key=True, autoincrement=False)
    load_seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    purse_key_b: Mapped[bytes] = mapped_column(LargeBinary(6))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CardLoadSequence(Base):
    __tablename__ = "card_load_sequences"

    card_number: Mapped[int] = mapped_column(UnsignedBigInt, primary_key=True, autoincrement=False)
    last_load_seq: Mapped[int] = mapped_column(Integer)


class ConfigDocument(Base):
    __tablename__ = "config_documents"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)  # the config list version that set this document
    document: Mapped[dict[str, Any]] = mapped_column(JsonText)


class Rejection(Base):
    """A message ingest refused (bad signature, malformed, unknown device, ...)."""

    __tablename__ = "rejections"
    __table_args__ = (Index(None, "received_at"),)

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    topic: Mapped[str] = mapped_column(Text)
    device_id: Mapped[int | None] = mapped_column(BigInteger)  # no foreign key: the sender may be unknown
    error_class: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str] = mapped_column(Text)


class StaffUser(Base):
    """A user of the back office's API, with one role."""

    __tablename__ = "staff_users"
    __table_args__ = (CheckConstraint(f"role IN {STAFF_ROLES!r}", name="role"),)

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiToken(Base):
    """An API token of a staff user, kept as the SHA-256 (hex) of the token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("staff_users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
