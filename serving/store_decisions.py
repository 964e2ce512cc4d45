"""Approval decisions in the outcomes store: holding an outcome for a manager, deciding it, and the audit of both.

An outcome beyond the rep's authority or below the price floor is stored
pending (``Approval.PENDING``); a manager or admin who records one approves it
on record. Deciding is one conditional update (``pending`` → approved or
rejected) and its audit row in the same transaction, so two managers deciding
at once cannot both win: the second finds it no longer pending.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from serving.auth import Role, User
from serving.outcomes import Approval
from serving.store_schema import outcome_decisions, outcomes

DECIDERS = (Role.MANAGER, Role.ADMIN)
"""Who may approve or reject an outcome (and whose own outcomes stand on record)."""


class NotPending(Exception):
    """The outcome is not awaiting approval: decided before, or never held (the API answers 409)."""


@dataclass(frozen=True)
class Decided:
    """A manager's decision on an outcome."""

    outcome_id: int
    approval: str
    decided_by: str
    decided_at: datetime.datetime
    note: str


def held_on_record(held_for: Sequence[str], user: User) -> str:
    """How an outcome is stored: ``not_needed`` within the rules, else approved on record by a decider, else pending."""
    if not held_for:
        return Approval.NOT_NEEDED.value
    return (Approval.APPROVED if user.role in DECIDERS else Approval.PENDING).value


def audit(
    connection: Connection,
    outcome_id: int,
    user: User,
    action: str,
    change: tuple[str | None, str],
    rules: str,
    note: str,
    at: datetime.datetime,
) -> None:
    """Append one audit row: ``user`` did ``action``, moving the approval from ``change[0]`` to ``change[1]``."""
    before, after = change
    connection.execute(
        outcome_decisions.insert().values(
            outcome_id=outcome_id, action=action, approval_before=before, approval_after=after, rules=rules,
            decided_by=user.name, role=user.role.value, decided_at=at, note=note,
        )
    )  # fmt: skip


def decide(
    connection: Connection, outcome_id: int, user: User, approve: bool, note: str, at: datetime.datetime
) -> Decided:
    """Move a pending outcome to approved or rejected and audit it, in the caller's transaction.

    Raises:
        LookupError: No outcome ``outcome_id``.
        NotPending: It is not pending.
    """
    after = (Approval.APPROVED if approve else Approval.REJECTED).value
    pending = Approval.PENDING.value
    changed = connection.execute(
        outcomes.update()
        .where(outcomes.c.outcome_id == outcome_id, outcomes.c.approval == pending)
        .values(approval=after)
        .returning(outcomes.c.held_for)
    ).first()
    if changed is None:
        found = connection.execute(sa.select(outcomes.c.approval).where(outcomes.c.outcome_id == outcome_id)).first()
        if found is None:
            raise LookupError(f"No outcome #{outcome_id}.")
        raise NotPending(f"Outcome #{outcome_id} is not awaiting approval: it is {str(found[0]).replace('_', ' ')}.")
    action = "approved" if approve else "rejected"
    audit(connection, outcome_id, user, action, (pending, after), str(changed[0]), note, at)
    return Decided(outcome_id, after, user.name, at, note)
