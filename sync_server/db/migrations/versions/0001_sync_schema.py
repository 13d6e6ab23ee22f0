"""The sync schema: devices, transactions, card shadows, anomalies, lists, rejections.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Column types are spelled as stored: card numbers (``UnsignedBigInt`` in the
models) are BIGINT holding the two's complement of values from 2**63, times
are TIMESTAMP WITH TIME ZONE (UTC text on SQLite), JSON documents are TEXT.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY aliases SQLite's rowid
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("device_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("operator", sa.Integer(), nullable=False),
        sa.Column("location", sa.Integer(), nullable=False),
        sa.Column("registered_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=True),
        sa.Column("last_status", sa.Text(), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("backlog", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_devices")),
    )
    op.create_table(
        "device_list_versions",
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("list_name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.device_id"],
                                name=op.f("fk_device_list_versions_device_id_devices")),
        sa.PrimaryKeyConstraint("device_id", "list_name", name=op.f("pk_device_list_versions")),
    )
    op.create_table(
        "transactions",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("uid", sa.LargeBinary(length=7), nullable=True),
        sa.Column("card_number", sa.BigInteger(), nullable=True),
        sa.Column("counter_before", sa.BigInteger(), nullable=True),
        sa.Column("counter_after", sa.BigInteger(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.device_id"], name=op.f("fk_transactions_device_id_devices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint("device_id", "seq", name=op.f("uq_transactions_device_id_seq")),
    )
    op.create_index(op.f("ix_transactions_card_number_counter_after"), "transactions",
                    ["card_number", "counter_after"])
    op.create_table(
        "card_shadows",
        sa.Column("card_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("card_number", name=op.f("pk_card_shadows")),
    )
    op.create_table(
        "anomalies",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("card_number", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("detected_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("kind IN ('counter_back', 'balance_above_shadow', 'repeated_counter')",
                           name=op.f("ck_anomalies_kind")),
        sa.ForeignKeyConstraint(["device_id", "seq"], ["transactions.device_id", "transactions.seq"],
                                name=op.f("fk_anomalies_device_id_seq_transactions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomalies")),
        sa.UniqueConstraint("kind", "device_id", "seq", name=op.f("uq_anomalies_kind_device_id_seq")),
    )
    op.create_index(op.f("ix_anomalies_card_number"), "anomalies", ["card_number"])
    op.create_table(
        "list_versions",
        sa.Column("list_name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("list_name", name=op.f("pk_list_versions")),
    )
    op.create_table(
        "list_changes",
        sa.Column("list_name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.CheckConstraint("op IN ('add', 'remove')", name=op.f("ck_list_changes_op")),
        sa.PrimaryKeyConstraint("list_name", "version", "ordinal", name=op.f("pk_list_changes")),
    )
    op.create_table(
        "deny_entries",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("card_number", sa.BigInteger(), nullable=True),
        sa.Column("uid", sa.LargeBinary(length=7), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("blocked_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("(card_number IS NULL) <> (uid IS NULL)", name=op.f("ck_deny_entries_one_key")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deny_entries")),
        sa.UniqueConstraint("card_number", name=op.f("uq_deny_entries_card_number")),
        sa.UniqueConstraint("uid", name=op.f("uq_deny_entries_uid")),
    )
    op.create_table(
        "pending_loads",
        sa.Column("card_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("load_seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("purse_key_b", sa.LargeBinary(length=6), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("card_number", "load_seq", name=op.f("pk_pending_loads")),
    )
    op.create_table(
        "card_load_sequences",
        sa.Column("card_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("last_load_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("card_number", name=op.f("pk_card_load_sequences")),
    )
    op.create_table(
        "config_documents",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_config_documents")),
    )
    op.create_table(
        "rejections",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=True),
        sa.Column("error_class", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejections")),
    )
    op.create_index(op.f("ix_rejections_received_at"), "rejections", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rejections_received_at"), table_name="rejections")
    op.drop_table("rejections")
    op.drop_table("config_documents")
    op.drop_table("card_load_sequences")
    op.drop_table("pending_loads")
    op.drop_table("deny_entries")
    op.drop_table("list_changes")
    op.drop_table("list_versions")
    op.drop_index(op.f("ix_anomalies_card_number"), table_name="anomalies")
    op.drop_table("anomalies")
    op.drop_table("card_shadows")
    op.drop_index(op.f("ix_transactions_card_number_counter_after"), table_name="transactions")
    op.drop_table("transactions")
    op.drop_table("device_list_versions")
    op.drop_table("devices")
