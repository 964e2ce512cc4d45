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

from models.deal import APPROVALS, DEAL_COLUMNS
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
    terms: Terms | None = None
    """What the offer proposes (``Deal`` has the account's side: the plan's ``deal``)."""


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
    audience: str = ""
    """``customer``: say it on the call; ``rep``: for the rep only (``models.point_wording.AUDIENCES``)."""
    sentence: str


class Request(BaseModel):
    """The open cancellation request the plan answers."""

    request_id: str
    reason: str
    request_date: date | None


class Service(BaseModel):
    """A service as the deal shows it: the biggest line's container, size and pickups a week, in words too."""

    container: str | None
    yards: float | None
    pickups_per_week: float | None
    words: str | None
    """E.g. ``front-load 6 yd, 3×/week``; None when a part is unknown."""


class Terms(BaseModel):
    """What an offer proposes (``models.deal``): rate, service, term, the monthly change and what it needs."""

    proposed_monthly_rate: float | None
    """None for a flip: the specialist sets the terms."""
    proposed_service: Service
    proposed_change: str | None
    """The change of service in words (e.g. ``trash: front-load 6 yd 3×/week → 2×/week``); None when none."""
    proposed_term_months: float | None
    """The new agreement's term; None when the offer signs no new term."""
    monthly_change: float | None
    """Proposed minus current monthly rate, in dollars (negative: the customer pays less)."""
    floor_monthly_rate: float | None
    """The lowest monthly rate a concession may reach: the proposal's cost to serve plus the minimum margin."""
    approval: str
    """``""`` (within the rep's authority), ``manager`` or ``flip``."""
    approval_words: str


class Deal(Terms):
    """An offer's terms with the account's side, as the rep puts them to the customer; unknowns are None."""

    offer: str
    current_monthly_rate: float | None
    current_lines: float | None
    stream: str | None
    """The stream of the biggest line (the one a right-size changes)."""
    current_service: Service
    authority_pct: float
    authority_monthly: float | None
    """The most the rep may take off the monthly rate without a manager, in dollars."""
    agreement_end: date | None
    agreement_month_to_month: bool | None
    compliance_notes: list[str] | None
    """The mandates of the account's jurisdiction, in words (empty: none; None: the jurisdiction is unknown)."""


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
    deal: Deal | None = None
    """The recommendation's deal (None only for a plan computed without one)."""
    offers: list[Offer]
    talking_points: list[TalkingPoint]
    models: dict[str, dict[str, Any]]
    p_save_source: str = "model"
    """Where the offers' ``p_save`` came from: ``model`` (the save model) or ``prior`` (the catalog's typical save
    rates, on a desk with no save model yet; ``models.valuation``)."""
    p_save_notice: str | None = None
    """What the rep is told when the offers were valued from the priors (None with a save model)."""


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
        terms=terms_of(offer) if "authority_pct" in offer else None,
    )


def terms_of(row: dict[str, Any]) -> Terms:
    """An offer's deal columns (``models.deal.DEAL_COLUMNS``) as what it proposes."""
    approval = text(row.get("approval"))
    return Terms(
        proposed_monthly_rate=_number(row.get("proposed_monthly_rate")),
        proposed_service=_service(row, "proposed"),
        proposed_change=text(row.get("proposed_change")) or None,
        proposed_term_months=_number(row.get("proposed_term_months")),
        monthly_change=_number(row.get("monthly_change")),
        floor_monthly_rate=_number(row.get("floor_monthly_rate")),
        approval=approval,
        approval_words=APPROVALS.get(approval, approval),
    )


def deal_of(row: dict[str, Any]) -> Deal:
    """A planned decision's deal columns (``models.deal.DEAL_COLUMNS``) and its ``offer`` as the API sends them."""
    return Deal(
        **terms_of(row).model_dump(),
        offer=str(row["offer"]),
        current_monthly_rate=_number(row.get("current_monthly_rate")),
        current_lines=_number(row.get("current_lines")),
        stream=text(row.get("service_stream")) or None,
        current_service=_service(row, "current"),
        authority_pct=float(row["authority_pct"]),
        authority_monthly=_number(row.get("authority_monthly")),
        agreement_end=day_of(row.get("agreement_end")),
        agreement_month_to_month=_flag(row.get("agreement_month_to_month")),
        compliance_notes=_notes(row.get("compliance_notes")),
    )


def deal_for(plan: Plan, offer: str | None) -> Deal | None:
    """The deal of one of the plan's offers: the plan's own deal with that offer's terms (None: no such offer).

    Without ``offer``, or for the recommendation, the plan's deal.
    """
    if plan.deal is None or offer in (None, "", plan.deal.offer):
        return plan.deal
    found = next((o for o in plan.offers if o.offer == offer and o.terms is not None), None)
    if found is None or found.terms is None:
        return None
    return plan.deal.model_copy(update={**dict(found.terms), "offer": offer})


def _service(row: dict[str, Any], when: str) -> Service:
    return Service(
        container=text(row.get(f"{when}_container")) or None,
        yards=_number(row.get(f"{when}_yards")),
        pickups_per_week=_number(row.get(f"{when}_pickups")),
        words=text(row.get(f"{when}_service")) or None,
    )


def _flag(value: Any) -> bool | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else bool(value)


def _notes(value: Any) -> list[str] | None:
    """Compliance notes as a list: from a list, or from an array as Parquet reads one back (None stays None)."""
    if value is None or isinstance(value, float):
        return None
    return [str(note) for note in value]


DEAL_FIELDS = ("offer", *DEAL_COLUMNS)
"""The columns of a planned decision (or offer) a deal reads."""


def point_of(point: dict[str, Any]) -> TalkingPoint:
    """A talking-point row as the API sends it."""
    return TalkingPoint(
        kind=str(point["kind"]),
        rank=int(point["rank"]),
        feature=text(point["feature"]) or None,
        contribution=_number(point["contribution"]),
        direction=text(point["direction"]),
        audience=text(point.get("audience")),
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
