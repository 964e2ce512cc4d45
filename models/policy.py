"""The save policy: for each decision, the offer with the best expected net value that every guardrail allows.

A decision is an open cancellation request (keyed by ``request_id``) or an
at-risk account (keyed by ``account_id``). ``candidates`` lays out every catalog
offer's terms for each; ``decide`` prices them with a save probability
(expected net value = P(save | offer) × margin kept − one-off cost), runs the
guardrails and marks the recommended offer and a fallback, each with reason
codes; ``recommendations`` keeps one row per decision.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from models.guardrails import GuardrailRules, apply_guardrails
from models.offers import OfferCatalog, expected_net_value, offer_terms
from sources import vocabulary as v

RECOMMENDED, FALLBACK = "recommended", "fallback"

REASON_CODES = {
    "best_expected_value": "the highest expected net value of the offers allowed",
    "next_best_expected_value": "the next highest expected net value of the offers allowed",
    "no_concession_pays": "no concession is worth more than educating on the contract",
    "close_out": "the customer is leaving for a reason no concession changes",
    "flip_pays_for_visit": "a specialist's visit is worth its cost here",
    "bounded_by_rep_authority": "a bigger rollback would be worth more but needs a manager",
    "bounded_by_price_floor": "a bigger concession would go below the price floor",
    "bounded_by_compliance": "a better service change would drop a mandated stream",
    "bounded_by_repeat_concession": "a rollback would be worth more but was given in the last 12 months",
}
"""Every reason code a recommendation can carry, in words."""


def decision_key(frame: pd.DataFrame) -> str:
    """The column that names a decision: ``request_id`` when present, else ``account_id``."""
    return "request_id" if "request_id" in frame else "account_id"


def candidates(context: pd.DataFrame, catalog: OfferCatalog) -> pd.DataFrame:
    """Every catalog offer's terms for each decision, one row per (decision, offer).

    Args:
        context: One row per decision: the account's features, ``city``, its
            biggest line (``features.requests.account_context``) and, for a
            request, ``request_id`` and ``reason``.
        catalog: The offer catalog.

    Returns:
        ``models.offers.offer_terms`` rows, in context order then catalog order.
    """
    return offer_terms(context.reset_index(drop=True), catalog)


def scoring_frame(context: pd.DataFrame, terms: pd.DataFrame) -> pd.DataFrame:
    """The save model's input for each candidate row: the decision's context with the row's ``offer``."""
    k = len(terms) // max(len(context), 1)
    repeated = context.reset_index(drop=True).loc[np.repeat(np.arange(len(context)), k)].reset_index(drop=True)
    return repeated.assign(offer=terms["offer"].to_numpy())


def decide(
    terms: pd.DataFrame,
    p_save: np.ndarray | pd.Series,
    rules: GuardrailRules,
) -> pd.DataFrame:
    """Price every candidate, apply the guardrails and choose.

    Args:
        terms: ``candidates`` rows.
        p_save: P(durable save) of each row, in row order.
        rules: The guardrails.

    Returns:
        The candidates with ``p_save``, ``expected_net_value``, the guardrail
        columns (``allowed``, ``blocked_by``, ``needs_manager``, ``capped_to``,
        ``note``), ``rank`` (1 = best allowed, 0 = not allowed), ``choice``
        (``recommended``, ``fallback`` or empty) and ``reason_codes``.
    """
    plans = terms.assign(p_save=np.asarray(p_save, dtype=float))
    plans["expected_net_value"] = expected_net_value(plans, plans["p_save"])
    plans = apply_guardrails(plans, rules)
    key = plans[decision_key(plans)].to_numpy()
    value = plans["expected_net_value"].where(plans["allowed"], -np.inf)
    # Rank allowed offers by value; ties go to the earlier offer in catalog order (the cheaper habit).
    rank = value.groupby(key).rank(method="first", ascending=False).to_numpy(dtype=int)
    rank[~plans["allowed"].to_numpy(dtype=bool)] = 0
    plans["rank"] = rank
    plans["choice"] = np.select([rank == 1, rank == 2], [RECOMMENDED, FALLBACK], "")
    plans["reason_codes"] = _reason_codes(plans, key)
    return plans


def _reason_codes(plans: pd.DataFrame, key: np.ndarray) -> pd.Series:
    """Why each chosen row was chosen, comma-separated; empty on rows not chosen."""
    codes = pd.Series("", index=plans.index, dtype=object)
    chosen = plans["choice"] != ""
    best_value = plans["expected_net_value"].where(plans["choice"] == RECOMMENDED).groupby(key).transform("max")
    # Guardrails that blocked an offer worth more than the recommendation.
    above = ~plans["allowed"] & (plans["expected_net_value"] > best_value)
    bounding = (
        plans["blocked_by"]
        .where(above, "")
        .str.split(",")
        .groupby(key)
        .transform(
            lambda lists: ",".join(sorted({c for codes_ in lists for c in codes_ if f"bounded_by_{c}" in REASON_CODES}))
        )
    )
    leaving = plans["reason"].isin(v.UNCONTROLLABLE_REASONS) if "reason" in plans else pd.Series(False, plans.index)
    rows = np.flatnonzero(chosen.to_numpy())
    choice, offer = plans["choice"].to_numpy()[rows], plans["offer"].to_numpy()[rows]
    for row, picked, made, left, bounds in zip(
        rows.tolist(), choice, offer, leaving.to_numpy()[rows], bounding.to_numpy()[rows], strict=True
    ):
        best = picked == RECOMMENDED
        parts = ["best_expected_value" if best else "next_best_expected_value"]
        if left:
            parts.append("close_out")
        if made == "flip":
            parts.append("flip_pays_for_visit")
        elif made == "contract_education" and best:
            parts.append("no_concession_pays")
        if best:
            parts += [f"bounded_by_{c}" for c in str(bounds).split(",") if c]
        codes.iat[row] = ",".join(parts)
    return codes


def recommendations(plans: pd.DataFrame) -> pd.DataFrame:
    """One row per decision: the recommended offer and the fallback, their values and reason codes.

    ``guardrail_note`` says which guardrail kept a more valuable offer off the
    table, in a rep's words ("rollback capped at 10 %: your authority …"), or is empty.
    """
    key = decision_key(plans)
    columns = ["offer", "p_save", "expected_net_value", "reason_codes", "note"]
    best = plans[plans["choice"] == RECOMMENDED].set_index(key)[columns]
    fallback = plans[plans["choice"] == FALLBACK].set_index(key)[columns]
    out = best.join(fallback.add_prefix("fallback_"), how="left")
    # The guardrail that bounded the recommendation: the note of the most valuable blocked offer above it.
    above = plans[
        ~plans["allowed"] & (plans["expected_net_value"] > plans[key].map(best["expected_net_value"]).astype(float))
    ]
    bounding = above["blocked_by"].str.split(",").map(lambda c: any(f"bounded_by_{x}" in REASON_CODES for x in c))
    above = above[bounding.astype(bool)]
    top = above.sort_values("expected_net_value", ascending=False).drop_duplicates(key).set_index(key)
    out["guardrail_note"] = top["note"].reindex(out.index).fillna("")
    return out.reset_index()


def plan_offers(
    context: pd.DataFrame,
    catalog: OfferCatalog,
    rules: GuardrailRules,
    p_save: Callable[[pd.DataFrame], np.ndarray],
) -> pd.DataFrame:
    """``candidates`` → save probabilities → ``decide``, for a frame of decisions.

    Args:
        context: One row per decision (see ``candidates``).
        catalog: The offer catalog.
        rules: The guardrails.
        p_save: Save probabilities of a ``scoring_frame`` (``SaveModel.predict_proba``).
    """
    terms = candidates(context, catalog)
    return decide(terms, p_save(scoring_frame(context, terms)), rules)
