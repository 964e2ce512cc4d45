"""The live save plan as the API sends it: the bodies, and how a planned row becomes one.

``serving.live_plan`` computes plans with the one planner (``models.planner.plan``); this module only says what a
plan looks like on the wire (the API's schema, the rep page's fields) and turns planned rows into those bodies.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from models.guardrails import GUARDRAIL_WORDS
from models.policy import RECOMMENDATION_WORDS
from serving.formatting import text


class Offer(BaseModel):
    """One catalog offer for the account: its terms, value and what the guardrails said."""

    offer: str
    rollback_pct: float
    new_monthly_rate: float | None
    new_term_months: float | None
    concession_monthly: float | None
    one_off_cost: float | None
    margin_kept: float | None
    p_save: float
    expected_net_value: float
    allowed: bool
    blocked_by: list[str]
    needs_manager: bool
    capped_to: str
    note: str
    rank: int
    """1 = the recommendation, 2 = the fallback, ...; 0 = not allowed."""
    choice: str
    reason_codes: list[str]


class Choice(BaseModel):
    """The recommended offer or the fallback, and why, in words."""

    offer: str
    p_save: float
    expected_net_value: float
    reason_codes: list[str]
    reasons: list[str]


class Guardrail(BaseModel):
    """A guardrail that kept offers off the table for this account."""

    guardrail: str
    words: str
    offers: list[str]


class TalkingPoint(BaseModel):
    """A sentence for the call, with the feature and contribution behind it."""

    kind: str
    rank: int
    feature: str | None
    contribution: float | None
    direction: str
    sentence: str


class Request(BaseModel):
    """The open cancellation request the plan answers."""

    request_id: str
    reason: str
    request_date: date | None


class Plan(BaseModel):
    """The live save plan of one account."""

    account_id: str
    territory: str
    segment: str | None
    business_date: date
    request: Request | None
    churn_probability: float
    recommendation: Choice
    fallback: Choice | None
    guardrail_note: str
    """The guardrail that kept a more valuable offer than the recommendation off the table, in a rep's words."""
    guardrails: list[Guardrail]
    offers: list[Offer]
    talking_points: list[TalkingPoint]
    models: dict[str, dict[str, Any]]


OFFER_COLUMNS = tuple(Offer.model_fields)
"""The columns of a planned offer a plan reads (``Offer``'s fields, those present)."""


def guardrails_of(offers: list[dict[str, Any]]) -> list[Guardrail]:
    """Each guardrail that blocked an offer, with the offers it blocked, in the order the guardrails run."""
    blocked: dict[str, list[str]] = {}
    for offer in offers:
        for code in text(offer["blocked_by"]).split(","):
            if code:
                blocked.setdefault(code, []).append(str(offer["offer"]))
    order = list(GUARDRAIL_WORDS)
    codes = sorted(blocked, key=lambda c: order.index(c) if c in order else len(order))
    return [Guardrail(guardrail=c, words=GUARDRAIL_WORDS.get(c, c), offers=blocked[c]) for c in codes]


def choice_of(offer: dict[str, Any]) -> Choice:
    """A planned offer row as the recommendation or the fallback, with its reasons in words."""
    codes = [c for c in text(offer["reason_codes"]).split(",") if c]
    return Choice(
        offer=str(offer["offer"]),
        p_save=float(offer["p_save"]),
        expected_net_value=float(offer["expected_net_value"]),
        reason_codes=codes,
        reasons=[RECOMMENDATION_WORDS.get(c, c) for c in codes],
    )


def offer_of(offer: dict[str, Any]) -> Offer:
    """A planned offer row (``models.policy.plan_offers``) as the API sends it."""
    return Offer(
        offer=str(offer["offer"]),
        rollback_pct=float(offer["rollback_pct"]),
        new_monthly_rate=_number(offer.get("new_monthly_rate")),
        new_term_months=_number(offer.get("new_term_months")),
        concession_monthly=_number(offer.get("concession_monthly")),
        one_off_cost=_number(offer.get("one_off_cost")),
        margin_kept=_number(offer.get("margin_kept")),
        p_save=float(offer["p_save"]),
        expected_net_value=float(offer["expected_net_value"]),
        allowed=bool(offer["allowed"]),
        blocked_by=[c for c in text(offer["blocked_by"]).split(",") if c],
        needs_manager=bool(offer["needs_manager"]),
        capped_to=text(offer["capped_to"]),
        note=text(offer["note"]),
        rank=int(offer["rank"]),
        choice=text(offer["choice"]),
        reason_codes=[c for c in text(offer["reason_codes"]).split(",") if c],
    )


def point_of(point: dict[str, Any]) -> TalkingPoint:
    """A talking-point row as the API sends it."""
    return TalkingPoint(
        kind=str(point["kind"]),
        rank=int(point["rank"]),
        feature=text(point["feature"]) or None,
        contribution=_number(point["contribution"]),
        direction=text(point["direction"]),
        sentence=text(point["sentence"]),
    )


def day_of(value: Any) -> date | None:
    """A timestamp as a day (None when missing)."""
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    number = float(value)
    return None if np.isnan(number) else number
