"""The outcomes store's tables, declared once for the code that reads and writes them.

The migrations under ``serving/migrations/versions`` create these tables; they
are frozen history and do not import this module. A test compares the migrated
database with these declarations, so the two cannot drift apart.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
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
sa.Index(
    "ix_users_active_name",
    users.c.name,
    unique=True,
    sqlite_where=users.c.revoked_at.is_(None),
    postgresql_where=users.c.revoked_at.is_(None),
)
"""A name is unique among active users; a revoked user's name may be given to someone new."""

outcomes = sa.Table(
    "outcomes",
    metadata,
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
    sa.Column("approval", sa.String(16), nullable=False, server_default="not_needed"),
    sa.Column("held_for", sa.String(128), nullable=False, server_default=""),
    sa.Column("agreement", sa.JSON, nullable=True),
    sa.UniqueConstraint("idempotency_key", name="outcomes_idempotency_key_key"),
)
"""``approval``: ``serving.outcomes.Approval``; ``held_for``: the rules that held it, comma-separated;
``agreement``: the updated service agreement of an accepted offer (``serving.agreement``), kept with its outcome."""
sa.Index("ix_outcomes_account_id", outcomes.c.account_id)
sa.Index("ix_outcomes_approval", outcomes.c.approval)

outcome_decisions = sa.Table(
    "outcome_decisions",
    metadata,
    sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("outcome_id", sa.Integer, sa.ForeignKey("outcomes.outcome_id"), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("approval_before", sa.String(16), nullable=True),
    sa.Column("approval_after", sa.String(16), nullable=False),
    sa.Column("rules", sa.String(128), nullable=False),
    sa.Column("decided_by", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)
"""The audit of every approval decision: who, when, what (``action`` on the rules that held it), before and after.

Append-only: the store inserts a row when an outcome is held or approved on record and when a manager decides."""
sa.Index("ix_outcome_decisions_outcome_id", outcome_decisions.c.outcome_id)
