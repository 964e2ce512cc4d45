"""The updated service agreement of an accepted offer: what the customer signs, kept with its outcome.

When a rep records an accepted offer, the desk writes down the deal as the
customer agreed it (``models.deal.deal_terms`` over the offer's terms as
recorded, ``serving.outcome_checks.outcome_terms``): the account, its service
before and after, the current and new monthly rate and the change, the term,
a one-off credit, the jurisdiction's compliance notes and the effective date.
The store keeps it in the outcome's row (``outcomes.agreement``), so the
printable proposal (``/outcomes/{id}/proposal``) shows the deal of that day,
not one recomputed from a later night.

The new terms take effect on the first day of the billing month after the
call (``effective_date``): the bill in progress stays as it was agreed.
A flip or a declined offer has no agreement.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import pandas as pd

from models.deal import deal_terms
from models.guardrails import GuardrailRules
from serving.outcomes import OutcomeIn

AGREEMENT_FIELDS = (
    "current_monthly_rate", "current_lines", "service_stream", "current_service", "proposed_monthly_rate",
    "proposed_service", "proposed_change", "proposed_term_months", "monthly_change", "agreement_end",
    "agreement_month_to_month", "compliance_notes",
)  # fmt: skip
"""The deal's columns an agreement keeps (``models.deal.DEAL_COLUMNS``)."""


def effective_date(call_date: datetime.date) -> datetime.date:
    """The first day of the billing month after ``call_date``: when the new terms start."""
    return (call_date.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)


def agreement_of(
    outcome: OutcomeIn, terms: pd.DataFrame, account: pd.DataFrame, rules: GuardrailRules, call_date: datetime.date
) -> dict[str, Any] | None:
    """The agreement of an accepted offer as plain JSON values; None for a declined offer or a flip.

    Args:
        outcome: The outcome recorded.
        terms: The offer's terms as recorded (``outcome_terms``: one row).
        account: The account's row of the night's context (one row).
        rules: The guardrails (compliance notes, floor).
        call_date: The day of the call.
    """
    if not outcome.accepted or outcome.offer == "flip" or terms.empty:
        return None
    deal = deal_terms(terms, account.reset_index(drop=True), rules).iloc[0]
    first = account.iloc[0]
    found = {
        "account_id": outcome.account_id,
        "territory": _plain(first.get("territory")),
        "segment": _plain(first.get("segment")),
        "city": _plain(first.get("city")),
        "state": _plain(first.get("state")),
        "offer": outcome.offer,
        "rollback_pct": outcome.rollback_pct,
        "credit_amount": outcome.credit_amount,
        "call_date": call_date.isoformat(),
        "effective_date": effective_date(call_date).isoformat(),
        **{name: _plain(deal[name]) for name in AGREEMENT_FIELDS},
    }
    return found


def _plain(value: Any) -> Any:
    """A frame's value as JSON: missing as None, days as ISO dates, numpy as Python, lists as lists."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp | datetime.datetime):
        return pd.Timestamp(value).date().isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
