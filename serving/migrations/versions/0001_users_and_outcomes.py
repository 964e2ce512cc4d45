"""Users with hashed tokens, and recorded call outcomes with their idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``users`` and ``outcomes``."""
    op.create_table(
        "users",
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("territories", sa.JSON, nullable=False),
        sa.Column("rep_id", sa.String(64), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("token_hash", name="users_token_hash_key"),
    )
    active = sa.text("revoked_at IS NULL")
    op.create_index(
        "ix_users_active_name", "users", ["name"], unique=True, sqlite_where=active, postgresql_where=active
    )
    op.create_table(
        "outcomes",
        sa.Column("outcome_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("offer", sa.String(32), nullable=False),
        sa.Column("rollback_pct", sa.Float, nullable=False),
        sa.Column("credit_amount", sa.Float, nullable=False),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("new_monthly_rate", sa.Float, nullable=True),
        sa.Column("new_term_months", sa.Integer, nullable=True),
        sa.Column("flipped", sa.Boolean, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("call_date", sa.Date, nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("rep_id", sa.String(64), nullable=True),
        sa.Column("territory", sa.String(64), nullable=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("idempotency_key", name="outcomes_idempotency_key_key"),
    )
    op.create_index("ix_outcomes_account_id", "outcomes", ["account_id"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("outcomes")
    op.drop_table("users")
