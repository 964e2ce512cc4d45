"""Outcomes within the rules: an approval and the rules that held it, the agreement, and the decisions' audit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``approval``, ``held_for`` and ``agreement`` to ``outcomes`` and create ``outcome_decisions``.

    Every outcome recorded before needs no approval (``not_needed``): it was stored as the rep recorded it.
    """
    op.add_column("outcomes", sa.Column("approval", sa.String(16), nullable=False, server_default="not_needed"))
    op.add_column("outcomes", sa.Column("held_for", sa.String(128), nullable=False, server_default=""))
    op.add_column("outcomes", sa.Column("agreement", sa.JSON, nullable=True))
    op.create_index("ix_outcomes_approval", "outcomes", ["approval"])
    op.create_table(
        "outcome_decisions",
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
    op.create_index("ix_outcome_decisions_outcome_id", "outcome_decisions", ["outcome_id"])


def downgrade() -> None:
    """Drop the audit and the three columns."""
    op.drop_table("outcome_decisions")
    op.drop_index("ix_outcomes_approval", "outcomes")
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("agreement")
        batch.drop_column("held_for")
        batch.drop_column("approval")
