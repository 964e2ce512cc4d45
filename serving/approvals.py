"""Deciding held outcomes, for the API and the rep page alike: who may, which ones, and what a decision says.

An outcome beyond the rep's authority or below the price floor waits for a
manager (``serving.outcomes.Approval.PENDING``). A manager or admin approves or
rejects it, with a note, from ``POST /api/v1/outcomes/{id}/approval`` or the
page's approvals view (``/approvals``); a rep may not (403). An outcome of a
territory the caller cannot read answers 404, as an unknown one; one already
decided, 409. Every decision is audited by the store (``outcome_decisions``).
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field

from serving.auth import User
from serving.desk import Desk
from serving.outcome_checks import HOLDING_RULES
from serving.outcomes import Approval, Note
from serving.store_decisions import DECIDERS, Decided, NotPending

NOTE_PATTERN = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
"""A decision's note holds no control character but tabs and line breaks (stated in the API's document too)."""


class ApprovalIn(BaseModel):
    """A manager's decision on an outcome held for approval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: Literal["approve", "reject"]
    note: Note = Field("", pattern=NOTE_PATTERN)
    """Why, for the rep and the audit; stored, never logged."""


class ApprovalDecided(BaseModel):
    """Where a decided outcome stands now, and who decided it when."""

    outcome_id: int
    approval: str
    decided_by: str
    decided_at: datetime.datetime


def unseen_outcome(outcome_id: int) -> str:
    """What a user hears of an outcome that does not exist or is not theirs to see: one sentence for both."""
    return f"No outcome #{outcome_id} in your territories."


def readable_outcome(desk: Desk, user: User, outcome_id: int) -> dict[str, Any]:
    """The stored outcome ``outcome_id`` if ``user`` may read its territory (404 otherwise, as an unknown one)."""
    row = desk.store.outcome(outcome_id)
    if row is None or not user.can_read(str(row["territory"])):
        raise HTTPException(404, unseen_outcome(outcome_id))
    return row


def decide(desk: Desk, user: User, outcome_id: int, approve: bool, note: str) -> Decided:
    """Approve or reject a held outcome as ``user``.

    Raises:
        HTTPException: 403 for a rep; 404 an unknown outcome or another territory's; 409 not pending.
    """
    if user.role not in DECIDERS:
        raise HTTPException(403, f"{user.name} may not approve outcomes: a manager approves or rejects them.")
    readable_outcome(desk, user, outcome_id)
    try:
        return desk.store.decide(outcome_id, user, approve, note)
    except LookupError as error:
        raise HTTPException(404, unseen_outcome(outcome_id)) from error
    except NotPending as error:
        raise HTTPException(409, str(error)) from error


def pending_for(desk: Desk, user: User) -> list[dict[str, Any]]:
    """The outcomes awaiting approval that ``user`` may read, oldest first, each with its rules in words."""
    found = desk.store.pending()
    rows = [{str(k): v for k, v in r.items()} for r in found.to_dict("records") if user.can_read(str(r["territory"]))]
    for row in rows:
        row["held_words"] = [HOLDING_RULES.get(code, code) for code in str(row["held_for"]).split(",") if code]
    return rows


def held_words(approval: str, held_for: str) -> str:
    """An outcome's standing in a rep's words (empty when it needs no one), e.g. on the account page."""
    rules = " and ".join(HOLDING_RULES.get(c, c) for c in held_for.split(",") if c)
    if approval == Approval.PENDING:
        return f"awaiting a manager's approval (beyond {rules}): not a save until approved"
    if approval == Approval.APPROVED:
        return f"approved by a manager (beyond {rules})" if rules else "approved"
    if approval == Approval.REJECTED:
        return "rejected by a manager: not a save"
    return ""
