"""The back office: the card registry, applications, load orders, settlements,
the audit log, idempotency keys, staff passwords and page sessions; anomalies
gain a review (status, reviewer, note), a UID, and the kinds
``integrity_failures`` and ``replaced_card_used``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY aliases SQLite's rowid
TIMESTAMP = sa.DateTime(timezone=True)

CARD_KINDS = "('citizen', 'tourist', 'company')"
FARE_PROFILES = ("('general', 'child', 'student', 'senior', 'social', 'disability', 'unemployed', "
                 "'large_family')")
OLD_ANOMALY_KINDS = "kind IN ('counter_back', 'balance_above_shadow', 'repeated_counter')"
NEW_ANOMALY_KINDS = ("kind IN ('counter_back', 'balance_above_shadow', 'repeated_counter', 'integrity_failures', "
                     "'replaced_card_used')")


def upgrade() -> None:
    with op.batch_alter_table("anomalies") as batch:
        batch.alter_column("card_number", existing_type=sa.BigInteger(), nullable=True)
        batch.add_column(sa.Column("uid", sa.LargeBinary(length=7), nullable=True))
        batch.add_column(sa.Column("status", sa.String(length=16), server_default="open", nullable=False))
        batch.add_column(sa.Column("reviewed_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("review_note", sa.Text(), nullable=True))
        batch.drop_constraint(op.f("ck_anomalies_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_anomalies_kind"), sa.text(NEW_ANOMALY_KINDS))
        batch.create_check_constraint(op.f("ck_anomalies_status"),
                                      sa.text("status IN ('open', 'confirmed', 'dismissed')"))
    op.create_index(op.f("ix_anomalies_status"), "anomalies", ["status"])
    op.create_index(op.f("ix_transactions_created_at"), "transactions", ["created_at"])
    op.create_index(op.f("ix_transactions_card_number_id"), "transactions", ["card_number", "id"])

    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("password_changed_at", TIMESTAMP, nullable=True))

    op.create_table(
        "staff_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["staff_users.id"],
                                name=op.f("fk_staff_sessions_user_id_staff_users")),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_staff_sessions")),
    )
    op.create_index(op.f("ix_staff_sessions_user_id"), "staff_sessions", ["user_id"])
    op.create_index(op.f("ix_staff_sessions_expires_at"), "staff_sessions", ["expires_at"])

    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["staff_users.id"],
                                name=op.f("fk_idempotency_keys_user_id_staff_users")),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])

    op.create_table(
        "audit_log",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_target"), "audit_log", ["target"])
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])

    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("name", name=op.f("uq_operators_name")),
    )
    op.create_table(
        "services",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_services")),
    )
    op.create_table(
        "holders",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("document_id", sa.String(length=32), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holders")),
        sa.UniqueConstraint("document_id", name=op.f("uq_holders_document_id")),
    )
    op.create_table(
        "applications",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("holder_id", sa.BigInteger(), nullable=True),
        sa.Column("card_kind", sa.String(length=16), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=False),
        sa.Column("replaces_card", sa.BigInteger(), nullable=True),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("submitted_at", TIMESTAMP, nullable=False),
        sa.Column("submitted_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", TIMESTAMP, nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("card_number", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('new', 'duplicate', 'renewal', 'tourist')", name=op.f("ck_applications_kind")),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'issued', 'cancelled')",
                           name=op.f("ck_applications_status")),
        sa.CheckConstraint(f"card_kind IN {CARD_KINDS}", name=op.f("ck_applications_card_kind")),
        sa.CheckConstraint(f"profile IN {FARE_PROFILES}", name=op.f("ck_applications_profile")),
        sa.ForeignKeyConstraint(["holder_id"], ["holders.id"], name=op.f("fk_applications_holder_id_holders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    op.create_index(op.f("ix_applications_holder_id"), "applications", ["holder_id"])
    op.create_index(op.f("ix_applications_status_id"), "applications", ["status", "id"])
    op.create_table(
        "cards",
        sa.Column("card_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("uid", sa.LargeBinary(length=7), nullable=False),
        sa.Column("holder_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("state_changed_at", TIMESTAMP, nullable=False),
        sa.Column("issued_at", TIMESTAMP, nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("initial_balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("application_id", sa.BigInteger(), nullable=True),
        sa.Column("replaces", sa.BigInteger(), nullable=True),
        sa.Column("replaced_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(f"kind IN {CARD_KINDS}", name=op.f("ck_cards_kind")),
        sa.CheckConstraint(f"profile IN {FARE_PROFILES}", name=op.f("ck_cards_profile")),
        sa.CheckConstraint("state IN ('active', 'blocked', 'suspended', 'expired', 'replaced')",
                           name=op.f("ck_cards_state")),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name=op.f("fk_cards_application_id_applications")),
        sa.ForeignKeyConstraint(["holder_id"], ["holders.id"], name=op.f("fk_cards_holder_id_holders")),
        sa.PrimaryKeyConstraint("card_number", name=op.f("pk_cards")),
        sa.UniqueConstraint("uid", name=op.f("uq_cards_uid")),
    )
    op.create_index(op.f("ix_cards_holder_id"), "cards", ["holder_id"])
    op.create_table(
        "card_events",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("card_number", sa.BigInteger(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_events")),
    )
    op.create_index(op.f("ix_card_events_card_number_id"), "card_events", ["card_number", "id"])
    op.create_table(
        "card_contracts",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("card_number", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("operator", sa.Integer(), nullable=False),
        sa.Column("product", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_contracts")),
    )
    op.create_index(op.f("ix_card_contracts_card_number"), "card_contracts", ["card_number"])
    op.create_table(
        "load_orders",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("card_number", sa.BigInteger(), nullable=False),
        sa.Column("load_seq", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("applied_at", TIMESTAMP, nullable=True),
        sa.Column("applied_device", sa.BigInteger(), nullable=True),
        sa.Column("applied_seq", sa.BigInteger(), nullable=True),
        sa.Column("cancelled_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("channel IN ('online', 'kiosk', 'office')", name=op.f("ck_load_orders_channel")),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_load_orders_amount")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_load_orders")),
        sa.UniqueConstraint("card_number", "load_seq", name=op.f("uq_load_orders_card_number_load_seq")),
    )
    op.create_table(
        "settlements",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("period_start", TIMESTAMP, nullable=False),
        sa.Column("period_end", TIMESTAMP, nullable=False),
        sa.Column("received_after", TIMESTAMP, nullable=True),
        sa.Column("cutoff", TIMESTAMP, nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=False),
        sa.Column("transaction_count", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_settlements_operator_id_operators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
    )
    op.create_index(op.f("ix_settlements_operator_id_period_start"), "settlements", ["operator_id", "period_start"])
    op.create_table(
        "settlement_lines",
        sa.Column("settlement_id", sa.BigInteger(), nullable=False),
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("transaction_count", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlements.id"],
                                name=op.f("fk_settlement_lines_settlement_id_settlements")),
        sa.PrimaryKeyConstraint("settlement_id", "service", "kind", name=op.f("pk_settlement_lines")),
    )


def downgrade() -> None:
    for table in ("settlement_lines", "settlements", "load_orders", "card_contracts", "card_events", "cards",
                  "applications", "holders", "services", "operators", "audit_log", "idempotency_keys",
                  "staff_sessions"):
        op.drop_table(table)
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("password_changed_at")
        batch.drop_column("password_hash")
    op.drop_index(op.f("ix_transactions_card_number_id"), table_name="transactions")
    op.drop_index(op.f("ix_transactions_created_at"), table_name="transactions")
    op.drop_index(op.f("ix_anomalies_status"), table_name="anomalies")
    op.execute("DELETE FROM anomalies WHERE kind IN ('integrity_failures', 'replaced_card_used') "
               "OR card_number IS NULL")
    with op.batch_alter_table("anomalies") as batch:
        batch.drop_constraint(op.f("ck_anomalies_status"), type_="check")
        batch.drop_constraint(op.f("ck_anomalies_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_anomalies_kind"), sa.text(OLD_ANOMALY_KINDS))
        batch.drop_column("review_note")
        batch.drop_column("reviewed_by")
        batch.drop_column("reviewed_at")
        batch.drop_column("status")
        batch.drop_column("uid")
        batch.alter_column("card_number", existing_type=sa.BigInteger(), nullable=False)
