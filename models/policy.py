"""The save policy: for each decision, the offer with the best expected net value that every guardrail allows.

A decision is an open cancellation request (keyed by ``request_id``) or an
at-risk account (keyed by ``account_id``). ``candidates`` lays out every catalog
offer's terms for each; ``decide`` prices them with a save probability
(expected net value = P(save | offer) × margin kept − one-off cost), runs the
guardrails and marks the recommended offer and a fallback, each with reason
codes; ``recommendations`` keeps one row per decision.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import lru_cache

import numpy as np
import pandas as pd

from models.exploration import PROPENSITY_COLUMN, Exploration, draw, draw_key, propensities
from models.guardrails import LIKELY_REASON, GuardrailRules, apply_guardrails, is_concession, leaving_for_good
from models.offers import OfferCatalog, expected_net_value, offer_terms

RECOMMENDED, FALLBACK = "recommended", "fallback"

PLAN_DECISIONS = 20_000
"""Decisions planned at a time. Each is a row per catalog offer with the decision's whole context (the save
model's input): a 5 M-account book's 144,750 test requests planned at once took the save task from 1.4 to
4.4 GiB, past a 4 GB worker's cap."""

RECOMMENDATION_WORDS = {
    "best_expected_value": "the highest expected net value of the offers allowed",
    "next_best_expected_value": "the next highest expected net value of the offers allowed",
    "near_best_expected_value": "worth nearly as much as the best offer allowed; the desk varies its offers among "
    "these now and then, to keep learning which ones work",
    "no_concession_pays": "no concession is worth more than educating on the contract",
    "uncontrollable_no_concession": "the customer is leaving for a reason no concession changes: no concession",
    "uncontrollable_concession_pays": "the customer is leaving for a reason no concession changes, yet this "
    "concession is worth more than any other offer",
    "convert_pays": "securing the new owner or address as an account is worth more than any other offer",
    "flip_pays_for_visit": "a specialist's visit is worth its cost here",
    "bounded_by_rep_authority": "a bigger rollback would be worth more but needs a manager",
    "bounded_by_price_floor": "a bigger concession would go below the price floor",
    "bounded_by_compliance": "a better service change would drop a mandated stream",
    "bounded_by_repeat_concession": "a rollback would be worth more but was given in the last 12 months",
    "bounded_by_uncontrollable_reason": "a concession would be worth more, but the customer is likely leaving "
    "for a reason no concession changes",
}
"""Every reason code a recommendation can carry, in words."""


def decision_key(frame: pd.DataFrame) -> str:
    """The column that names a decision: ``request_id`` when present, else ``account_id``."""
    return "request_id" if "request_id" in frame else "account_id"


def candidates(context: pd.DataFrame, catalog: OfferCatalog, rules: GuardrailRules | None = None) -> pd.DataFrame:
    """Every catalog offer's terms for each decision, one row per (decision, offer).

    Args:
        context: One row per decision: the account's features, ``city``, its
            biggest line (``features.requests.account_context``) and, for a
            request, ``request_id`` and ``reason``.
        catalog: The offer catalog.
        rules: The guardrails, whose mandate table says which stream ``add_stream`` adds first.

    Returns:
        ``models.offers.offer_terms`` rows, in context order then catalog order.
    """
    if rules is None:
        return offer_terms(context.reset_index(drop=True), catalog)
    return offer_terms(context.reset_index(drop=True), catalog, rules.mandates)


def scoring_frame(context: pd.DataFrame, terms: pd.DataFrame) -> pd.DataFrame:
    """The save model's input for each candidate row: the decision's context with the row's ``offer``."""
    k = len(terms) // max(len(context), 1)
    repeated = context.iloc[np.repeat(np.arange(len(context)), k)].reset_index(drop=True)
    return repeated.assign(offer=terms["offer"].to_numpy())


def decide(
    terms: pd.DataFrame,
    p_save: np.ndarray | pd.Series,
    rules: GuardrailRules,
    exploration: Exploration | None = None,
    draw_keys: np.ndarray | None = None,
) -> pd.DataFrame:
    """Price every candidate, apply the guardrails and choose.

    Args:
        terms: ``candidates`` rows.
        p_save: P(durable save) of each row, in row order.
        rules: The guardrails.
        exploration: Randomize the recommendation among the near-best allowed offers
            (``models.exploration``); None: the best, always.
        draw_keys: Each row's ``models.exploration.draw_key`` (needed with ``exploration``).

    Returns:
        The candidates with ``p_save``, ``expected_net_value``, the guardrail
        columns (``allowed``, ``blocked_by``, ``needs_manager``, ``capped_to``,
        ``note``), ``rank`` (1 = best allowed, 0 = not allowed), ``offer_propensity``
        (P(the row is recommended)), ``choice`` (``recommended``, ``fallback`` or
        empty) and ``reason_codes``. The recommendation is the best allowed offer,
        or under exploration the drawn one (the best is then its fallback).
    """
    p = np.asarray(p_save, dtype=float)
    plans = apply_guardrails(terms.assign(p_save=p, expected_net_value=expected_net_value(terms, p)), rules)
    group = decision_groups(plans)
    allowed = plans["allowed"].to_numpy(dtype=bool)
    value = np.where(allowed, plans["expected_net_value"].to_numpy(dtype=float), -np.inf)
    # Rank allowed offers by value; ties go to the earlier offer in catalog order (the cheaper habit).
    rank = _rank_within(group, value)
    rank[~allowed] = 0
    propensity = propensities(exploration, group, value, rank)
    choice = np.select([rank == 1, rank == 2], [RECOMMENDED, FALLBACK], "")
    if exploration is not None and exploration.active:
        if draw_keys is None:
            raise ValueError("exploring offers needs each decision's draw key")
        choice = _explored_choice(group, rank, draw(exploration.seed, group, rank, propensity, draw_keys))
    codes = _reason_codes(plans, group, choice, rules, rank)
    return plans.assign(rank=rank, choice=choice, reason_codes=codes, **{PROPENSITY_COLUMN: propensity})


def _explored_choice(group: np.ndarray, rank: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """The drawn row recommended; the fallback the best, or the next best when the best was drawn."""
    best_drawn = np.zeros(group.max() + 1 if len(group) else 0, dtype=bool)
    best_drawn[group[drawn & (rank == 1)]] = True
    fallback = np.where(best_drawn[group], rank == 2, (rank == 1) & ~drawn)
    return np.select([drawn, fallback], [RECOMMENDED, FALLBACK], "")


def decision_groups(plans: pd.DataFrame) -> np.ndarray:
    """Each row's decision as a number (0, 1, … in order of first appearance).

    Raises:
        ValueError: A row has no decision key.
    """
    key = decision_key(plans)
    group, _ = pd.factorize(plans[key])
    if (group < 0).any():
        raise ValueError(f"every candidate row needs a {key}; {int((group < 0).sum())} have none")
    return group


def _rank_within(group: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Each row's rank by ``value`` (1 = the largest) within its group; equal values in row order.

    What ``groupby(group).rank(method="first", ascending=False)`` gives, from one sort instead of a groupby.
    """
    if np.isnan(value).any():  # pandas says what a missing value ranks as (it cannot be an offer's rank)
        ranked = pd.Series(value).groupby(group).rank(method="first", ascending=False)
        return ranked.to_numpy(dtype=int)
    order = np.lexsort((np.arange(len(value)), -value, group))
    grouped = group[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]]) if len(order) else np.array([], dtype=int)
    first = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank = np.empty(len(value), dtype=int)
    rank[order] = np.arange(len(order)) - first + 1
    return rank


def _bounding_codes(plans: pd.DataFrame, group: np.ndarray, choice: np.ndarray) -> dict[int, str]:
    """Per decision, the guardrails that blocked an offer worth more than the recommendation.

    Each as its ``bounded_by_`` reason code's suffix, sorted and comma-separated; decisions without one are left out.
    """
    value = plans["expected_net_value"].to_numpy(dtype=float)
    recommended = np.flatnonzero(choice == RECOMMENDED)
    best = np.full(group.max() + 1 if len(group) else 0, np.nan)
    best[group[recommended]] = value[recommended]  # one recommendation per decision at most
    with np.errstate(invalid="ignore"):
        above = np.flatnonzero(~plans["allowed"].to_numpy(dtype=bool) & (value > best[group]))
    blocked = plans["blocked_by"].to_numpy(dtype=object)[above]
    found: dict[int, set[str]] = {}
    for g, text in zip(group[above].tolist(), blocked.tolist(), strict=True):
        codes = _bounded(text)
        if codes:
            found.setdefault(g, set()).update(codes)
    return {g: ",".join(sorted(codes)) for g, codes in found.items()}


@lru_cache(maxsize=1024)
def _bounded(blocked_by: str) -> tuple[str, ...]:
    """The codes of ``blocked_by`` that bound a recommendation (those with a ``bounded_by_`` reason code)."""
    return tuple(c for c in blocked_by.split(",") if f"bounded_by_{c}" in RECOMMENDATION_WORDS)


def _reason_codes(
    plans: pd.DataFrame, group: np.ndarray, choice: np.ndarray, rules: GuardrailRules, rank: np.ndarray
) -> pd.Series:
    """Why each chosen row was chosen, comma-separated; empty on rows not chosen.

    A decision whose reason (stated, or likely for an account without a request) is uncontrollable says
    whether it got a concession: ``uncontrollable_no_concession`` or ``uncontrollable_concession_pays``.
    """
    codes = pd.Series("", index=plans.index, dtype=object)
    bounding = _bounding_codes(plans, group, choice)
    rows = np.flatnonzero(choice != "")
    chosen = plans.iloc[rows]
    said, guessed = leaving_for_good(chosen)
    conceded = is_concession(chosen, rules)
    offer = chosen["offer"].to_numpy()
    for row, picked, made, left, gave, g, top in zip(
        rows.tolist(), choice[rows].tolist(), offer, (said | guessed).tolist(), conceded.tolist(),
        group[rows].tolist(), (rank[rows] == 1).tolist(), strict=True,
    ):  # fmt: skip
        best = picked == RECOMMENDED
        first = "near_best_expected_value" if best and not top else "next_best_expected_value"
        parts = ["best_expected_value" if top else first]
        if left:
            parts.append("uncontrollable_concession_pays" if gave else "uncontrollable_no_concession")
        if made == "flip":
            parts.append("flip_pays_for_visit")
        elif made == "convert" and best and top:
            parts.append("convert_pays")
        elif made == "contract_education" and best and top:
            parts.append("no_concession_pays")
        if best:
            parts += [f"bounded_by_{c}" for c in bounding.get(g, "").split(",") if c]
        codes.iat[row] = ",".join(parts)
    return codes


def recommendations(plans: pd.DataFrame) -> pd.DataFrame:
    """One row per decision: the recommended offer and the fallback, their values and reason codes.

    ``guardrail_note`` says which guardrail kept a more valuable offer off the
    table, in a rep's words ("rollback capped at 10 %: your authority …"), or is empty.
    """
    key = decision_key(plans)
    columns = ["offer", "p_save", "expected_net_value", "reason_codes", "note"]
    group = decision_groups(plans)
    choice = plans["choice"].to_numpy(dtype=object)
    best, second = np.flatnonzero(choice == RECOMMENDED), np.flatnonzero(choice == FALLBACK)
    table = plans[[key, *columns]].reset_index(drop=True)
    out = table.iloc[best].reset_index(drop=True)
    # The fallback of each recommended decision by position (-1: none), filled in as a left join fills it.
    fallback_of = np.full(group.max() + 1 if len(group) else 0, -1)
    fallback_of[group[second]] = second
    fallback = table[columns].reindex(fallback_of[group[best]]).add_prefix("fallback_").set_axis(out.index)
    out = pd.concat([out, fallback], axis=1)
    if PROPENSITY_COLUMN in plans:
        out[PROPENSITY_COLUMN] = plans[PROPENSITY_COLUMN].to_numpy(dtype=float)[best]
    # The guardrail that bounded the recommendation: the note of the most valuable blocked offer above it.
    value = plans["expected_net_value"].to_numpy(dtype=float)
    best_value = np.full(len(fallback_of), np.nan)
    best_value[group[best]] = value[best]
    with np.errstate(invalid="ignore"):
        above = np.flatnonzero(~plans["allowed"].to_numpy(dtype=bool) & (value > best_value[group]))
    blocked = plans["blocked_by"].to_numpy(dtype=object)
    above = above[[bool(_bounded(text)) for text in blocked[above].tolist()]]
    top = pd.Series(value[above]).sort_values(ascending=False).index.to_numpy()  # as pandas sorts the blocked rows
    note_of: dict[int, object] = {}
    for g, note in zip(group[above[top]].tolist(), plans["note"].to_numpy(dtype=object)[above[top]], strict=True):
        note_of.setdefault(g, note)
    notes = [note_of.get(g, "") for g in group[best].tolist()]
    out["guardrail_note"] = pd.Series(notes, index=out.index, dtype=object)
    return out


def prior_p_save(catalog: OfferCatalog) -> Callable[[pd.DataFrame], np.ndarray]:
    """Save probabilities from the catalog's declared prior rates (``OfferCatalog.prior_save_rates``), by offer.

    What the policy values offers with while no save model is champion; an offer without a declared rate gets 0
    and is kept off the table by ``known_offers`` (``OfferCatalog.prior_rates``).
    """
    rates = catalog.prior_rates()

    def p_save(frame: pd.DataFrame) -> np.ndarray:
        return frame["offer"].map(rates).fillna(0.0).to_numpy(dtype=float)

    return p_save


def plan_offers(
    context: pd.DataFrame,
    catalog: OfferCatalog,
    rules: GuardrailRules,
    p_save: Callable[[pd.DataFrame], np.ndarray],
    known_offers: Collection[str] | None = None,
    exploration: Exploration | None = None,
) -> pd.DataFrame:
    """``candidates`` → save probabilities → ``decide``, for a frame of decisions.

    Args:
        context: One row per decision (see ``candidates``). A ``likely_reason`` (an account without a
            request) is read by the guardrails and not kept on the rows.
        catalog: The offer catalog.
        rules: The guardrails.
        p_save: Save probabilities of a ``scoring_frame`` (``SaveModel.predict_proba``).
        known_offers: The offers the save model saw made (``SaveModel.offers_seen``); any other is not
            recommended (``has_history`` false). Without it, those of ``p_save``'s save model when it is
            a ``SaveModel``'s method, else every offer.
        exploration: Randomize open requests' recommendations among near-best offers, each draw seeded by
            the request's id and ``request_date`` (``models.exploration``); accounts without a request get
            their best offer.

    Planned ``PLAN_DECISIONS`` decisions at a time: each decision's rows are its own, so the plans are those of
    the whole frame at once (``tests/model/test_live_plan_fast_paths.py``).
    """
    known = known_offers
    if known is None:  # a save model's own method knows which offers it learned
        known = getattr(getattr(p_save, "__self__", None), "offers_seen", None)
    if len(context) > PLAN_DECISIONS:
        return pd.concat(
            [
                plan_offers(context.iloc[start : start + PLAN_DECISIONS], catalog, rules, p_save, known, exploration)
                for start in range(0, len(context), PLAN_DECISIONS)
            ],
            ignore_index=True,
        )
    terms = candidates(context, catalog, rules)
    if known is not None:
        terms = terms.assign(has_history=terms["offer"].isin(list(known)).to_numpy())
    likely = LIKELY_REASON in context and LIKELY_REASON not in terms
    if likely:
        k = len(terms) // max(len(context), 1)
        terms[LIKELY_REASON] = np.repeat(context[LIKELY_REASON].to_numpy(dtype=object), k)
    explore = exploration if decision_key(context) == "request_id" else None
    keys = None
    if explore is not None and explore.active:
        k = len(terms) // max(len(context), 1)
        day = context["request_date"] if "request_date" in context else pd.Series(pd.NaT, index=context.index)
        each = [draw_key(r, d) for r, d in zip(context["request_id"].tolist(), day.tolist(), strict=True)]
        keys = np.repeat(np.asarray(each, dtype=object), k)
    plans = decide(terms, p_save(scoring_frame(context, terms)), rules, explore, keys)
    return plans.drop(columns=LIKELY_REASON) if likely else plans
