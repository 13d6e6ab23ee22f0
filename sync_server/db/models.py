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
                          repeated_counter) and cards failing their integrity checks again and again
                          (integrity_failures), money moved on a card after it was replaced (its balance
                          went to the duplicate: replaced_card_used), at most one per (kind, device_id, seq),
                          each open until reviewed

Lists sent down to devices (versions start at 0, each change +1)::

    list_versions         list_name -> current version (denylist, loads, config)
    list_changes          every change at its version, so a delta from any kept version is computable
    deny_entries          the current deny-list, one row per denied key (a card number or a UID)
    pending_loads         the current pending loads, (card_number, load_seq)
    card_load_sequences   per card, the last load sequence number issued (loads leave pending_loads
                          once applied, but their numbers must never come back)
    config_documents      the current configuration documents, each with the list version that set it

And ``rejections``: every message ingest refused, for the back office.

Staff of the back office, their API tokens and page sessions::

    staff_users           one row per person or machine using the back office: a unique username, one role
                          (:data:`STAFF_ROLES`), the scrypt hash of the password of those who sign in to the
                          staff pages; ``disabled`` users are refused
    api_tokens            the SHA-256 of each API token (the token itself is shown once, never stored),
                          its user, when it was issued and last used, and whether it was revoked
    staff_sessions        a signed-in browser: the SHA-256 of its session id, its CSRF token, when it
                          started, was last used and expires (idle and absolute limits)
    idempotency_keys      the response of each money-moving call, per user and Idempotency-Key, so a
                          retried request returns the first answer instead of moving money twice
    audit_log             every staff (and automatic) action: who, when, what, on what, with details

The registry (who holds which card, what it may do)::

    operators             the companies that run services (``devices.operator`` and contracts name them)
    services              what riders use (bus, bike, ev, ...): ``devices.mode`` names the service
    holders               citizens and companies holding cards (tourist cards may have none)
    cards                 every card issued: UID, holder, kind, fare profile, state (:data:`CARD_STATES`),
                          expiry, and the card it replaced / was replaced by
    card_events           each card's history: issued, state changes, replaced, balance moved
    card_contracts        the contracts (passes, bike and EV subscriptions) issued on a card
    applications          requests for a new card, a duplicate, a renewal or a tourist card, and their
                          review (:data:`APPLICATION_STATUSES`)
    load_orders           top-ups bought online, at a kiosk or at the office: pending until a device
                          applies them to the card (the sync ``loads`` list carries the pending ones)

Settlement with the operators::

    settlements           a closed settlement of an operator's period (immutable): its cut-off, totals and
                          the SHA-256 of its lines, so a recomputation can prove it reproducible
    settlement_lines      per service and transaction kind: count and amount

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
    Date,
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

ANOMALY_KINDS = ("counter_back", "balance_above_shadow", "repeated_counter", "integrity_failures",
                 "replaced_card_used")

ANOMALY_STATUSES = ("open", "confirmed", "dismissed")
"""An anomaly is ``open`` until staff review it: ``confirmed`` (fraud or a fault) or ``dismissed``."""

CARD_KINDS = ("citizen", "tourist", "company")
"""``card_layout.records.identity.CardKind`` names, lower case."""

FARE_PROFILES = ("general", "child", "student", "senior", "social", "disability", "unemployed", "large_family")
"""``card_layout.records.identity.FareProfile`` names, lower case."""

CARD_STATES = ("active", "blocked", "suspended", "expired", "replaced")
"""``blocked`` and ``replaced`` cards are on the deny-list; ``suspended`` ones too, until resumed."""

APPLICATION_KINDS = ("new", "duplicate", "renewal", "tourist")

APPLICATION_STATUSES = ("pending", "approved", "rejected", "issued", "cancelled")
"""``pending`` -> ``approved`` | ``rejected``; ``approved`` -> ``issued`` (at the issuance point) | ``cancelled``."""

LOAD_CHANNELS = ("online", "kiosk", "office")

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
        Index(None, "card_number", "id"),  # a card's latest transactions (the registry's card detail)
        Index(None, "created_at"),
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
        CheckConstraint(f"status IN {ANOMALY_STATUSES!r}", name="status"),
        Index(None, "card_number"),
        Index(None, "status"),
    )

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    card_number: Mapped[int | None] = mapped_column(UnsignedBigInt)  # None: a UID the registry does not know
    uid: Mapped[bytes | None] = mapped_column(LargeBinary(7))  # integrity_failures: the card's identity is untrusted
    kind: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    review_note: Mapped[str | None] = mapped_column(Text)


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
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: API tokens only, no sign-in
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class ApiToken(Base):
    """An API token of a staff user, kept as the SHA-256 (hex) of the token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("staff_users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class StaffSession(Base):
    """A browser signed in to the staff pages, named by the SHA-256 (hex) of its session id."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("staff_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class IdempotencyKey(Base):
    """The first response to a money-moving call with an ``Idempotency-Key``.
    ``fingerprint`` is the SHA-256 of the method, path and body: the same key
    with another request is refused, not answered with the first response."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("staff_users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JsonText)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class AuditEntry(Base):
    """One action of a staff member (``actor`` their username) or of the
    system itself (``actor`` ``system:<part>``, e.g. the reconciliation policy)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "target"), Index(None, "at"))

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64))  # "card:1234", "application:7", "settlement:3", ...
    details: Mapped[dict[str, Any]] = mapped_column(JsonText)


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 0..255 as on the card
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Service(Base):
    __tablename__ = "services"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)  # the devices' mode: bus, bike, ev, ...
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Holder(Base):
    __tablename__ = "holders"

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)  # the card's holder field
    name: Mapped[str] = mapped_column(String(200))
    document_id: Mapped[str | None] = mapped_column(String(32), unique=True)  # national ID, passport, tax ID
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Card(Base):
    __tablename__ = "cards"
    __table_args__ = (
        CheckConstraint(f"kind IN {CARD_KINDS!r}", name="kind"),
        CheckConstraint(f"profile IN {FARE_PROFILES!r}", name="profile"),
        CheckConstraint(f"state IN {CARD_STATES!r}", name="state"),
    )

    card_number: Mapped[int] = mapped_column(UnsignedBigInt, primary_key=True, autoincrement=False)
    uid: Mapped[bytes] = mapped_column(LargeBinary(7), unique=True)
    holder_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("holders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    state_reason: Mapped[str | None] = mapped_column(Text)
    state_changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_on: Mapped[dt.date] = mapped_column(Date)
    initial_balance_cents: Mapped[int] = mapped_column(BigInteger)
    application_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("applications.id"))
    replaces: Mapped[int | None] = mapped_column(UnsignedBigInt)     # the card this one replaced
    replaced_by: Mapped[int | None] = mapped_column(UnsignedBigInt)  # the card that replaced this one


class CardEvent(Base):
    __tablename__ = "card_events"
    __table_args__ = (Index(None, "card_number", "id"),)

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    card_number: Mapped[int] = mapped_column(UnsignedBigInt)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    event: Mapped[str] = mapped_column(String(32))  # issued, state, replaced, balance_moved, ...
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))


class CardContract(Base):
    __tablename__ = "card_contracts"

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    card_number: Mapped[int] = mapped_column(UnsignedBigInt, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # card_layout ContractKind name, lower case
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    operator: Mapped[int] = mapped_column(Integer)
    product: Mapped[int] = mapped_column(Integer)


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint(f"kind IN {APPLICATION_KINDS!r}", name="kind"),
        CheckConstraint(f"status IN {APPLICATION_STATUSES!r}", name="status"),
        CheckConstraint(f"card_kind IN {CARD_KINDS!r}", name="card_kind"),
        CheckConstraint(f"profile IN {FARE_PROFILES!r}", name="profile"),
        Index(None, "status", "id"),
    )

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("holders.id"), index=True)
    card_kind: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str] = mapped_column(String(16))
    replaces_card: Mapped[int | None] = mapped_column(UnsignedBigInt)  # duplicate, renewal
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # bought with a tourist card
    note: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    submitted_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    card_number: Mapped[int | None] = mapped_column(UnsignedBigInt)  # once issued


class LoadOrder(Base):
    """A top-up paid for off the card; ``load_seq`` is its number in the
    card's pending-load sequence. ``applied_*`` are set when ingest sees the
    device's transaction that credited it."""

    __tablename__ = "load_orders"
    __table_args__ = (
        UniqueConstraint("card_number", "load_seq"),
        CheckConstraint(f"channel IN {LOAD_CHANNELS!r}", name="channel"),
        CheckConstraint("amount_cents > 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    card_number: Mapped[int] = mapped_column(UnsignedBigInt)
    load_seq: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    applied_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    applied_device: Mapped[int | None] = mapped_column(BigInteger)
    applied_seq: Mapped[int | None] = mapped_column(BigInteger)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)  # moved to a duplicate, never applied


class Settlement(Base):
    """A closed settlement: the ``done`` transactions of ``operator_id``'s
    devices created in [period_start, period_end) and received in
    (received_after, cutoff] (``received_after`` is null for the first
    settlement of a period, the previous cut-off for a later adjustment)."""

    __tablename__ = "settlements"
    __table_args__ = (Index(None, "operator_id", "period_start"),)

    id: Mapped[int] = mapped_column(BIGINT_ID, primary_key=True, autoincrement=True)
    operator_id: Mapped[int] = mapped_column(Integer, ForeignKey("operators.id"))
    period_start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    period_end: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    received_after: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    cutoff: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    closed_by: Mapped[str] = mapped_column(String(64))
    transaction_count: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))


class SettlementLine(Base):
    __tablename__ = "settlement_lines"

    settlement_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("settlements.id"), primary_key=True)
    service: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    transaction_count: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
