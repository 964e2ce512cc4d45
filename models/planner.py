"""The one planner: scored decisions → every offer priced within the guardrails → each decision's recommendation.

The nightly run (open requests and proactive candidates), the intraday flow (requests that arrived since) and
the live plan (the account on the line) all call ``plan``, so a listed row and the plan a rep opens for it are
the same computation.

A decision is an open cancellation request (keyed by ``request_id``) or an account without one (keyed by
``account_id``). An account without a stated reason is planned at the save model's mixture over the reasons it
would give (``SaveModel.with_reason_shares``, computed once per account rather than once per offer).

Without a save model (no save champion yet) every offer is valued at the catalog's declared prior save rate
(``models.policy.prior_p_save``) and each decision says so: ``p_save_source`` is ``prior`` (else ``model``,
``models.valuation``).

Each decision carries the deal of its recommendation (``models.deal.deal_terms``): the rates, service and term
before and after, the rep's authority and the price floor in dollars, and the jurisdiction's compliance notes, so
the published row, the API's plan and the rep's CSV show the same terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from models.deal import DEAL_COLUMNS, deal_terms
from models.exploration import Exploration
from models.guardrails import GuardrailRules
from models.offers import OfferCatalog
from models.policy import RECOMMENDED, plan_offers, prior_p_save, recommendations
from models.save import SaveModel
from models.valuation import MODEL, P_SAVE_SOURCE, PRIOR


@dataclass(frozen=True)
class Planned:
    """What ``plan`` decided for a frame of decisions."""

    offers: pd.DataFrame
    """Every catalog offer of every decision (``models.policy.plan_offers``): terms, value, guardrails, choice."""
    decisions: pd.DataFrame
    """Each decision with its recommendation and fallback (``models.policy.recommendations``), the recommendation's
    ``rollback_pct``, ``margin_kept_p_save`` (P(save) × margin kept) and its deal (``models.deal.DEAL_COLUMNS``);
    sorted by the key."""


def plan(
    decisions: pd.DataFrame,
    key: str,
    save: SaveModel | None,
    catalog: OfferCatalog,
    rules: GuardrailRules,
    *,
    every_deal: bool = False,
    exploration: Exploration | None = None,
) -> Planned:
    """Price every catalog offer of each decision, apply the guardrails and choose the recommendation.

    Args:
        decisions: One row per decision, scored (``churn_probability``) with its account context; a request has
            ``request_id`` and ``reason``.
        key: ``"request_id"`` for open requests, ``"account_id"`` for accounts without one.
        save: The save model; None (no save champion yet): offers valued at the catalog's prior save rates.
        catalog: The offer catalog.
        rules: The guardrails.
        every_deal: Give every offer its deal (``models.deal.DEAL_COLUMNS`` on ``Planned.offers``), not only
            the recommendation: what a rep needs to put another offer (the fallback, or the one the customer
            asks about) to the customer. The live plan's few decisions, never a whole book.
        exploration: Randomize open requests' recommendations among the near-best offers, seeded per request
            (``models.exploration``); each decision then carries its ``offer_propensity``.
    """
    if save is None:
        offers = plan_offers(decisions, catalog, rules, prior_p_save(catalog), known_offers=catalog.prior_rates(),
                             exploration=exploration)  # fmt: skip
    else:
        if key == "account_id":
            decisions = save.with_reason_shares(decisions)
        offers = plan_offers(decisions, catalog, rules, save.predict_proba, exploration=exploration)
    if every_deal:
        context = decisions.iloc[pd.Index(decisions[key]).get_indexer(offers[key])].reset_index(drop=True)
        offers = offers.drop(columns=[c for c in DEAL_COLUMNS if c in offers]).join(deal_terms(offers, context, rules))
    table = recommendations(offers)
    chosen = offers[offers["choice"].to_numpy(dtype=object) == RECOMMENDED]
    kept = chosen["p_save"].to_numpy(dtype=float) * chosen["margin_kept"].to_numpy(dtype=float)
    at = pd.Index(chosen[key]).get_indexer(table[key])
    table["margin_kept_p_save"] = kept[at]
    table["rollback_pct"] = chosen["rollback_pct"].to_numpy()[at]
    table[P_SAVE_SOURCE] = MODEL if save is not None else PRIOR
    planned = _beside(decisions, table, key).reset_index(drop=True)
    mine = chosen.iloc[pd.Index(chosen[key]).get_indexer(planned[key])].reset_index(drop=True)
    deal = mine[list(DEAL_COLUMNS)] if every_deal else deal_terms(mine, planned, rules)
    planned = pd.concat([planned.drop(columns=[c for c in DEAL_COLUMNS if c in planned]), deal], axis=1)
    if planned[key].is_monotonic_increasing:  # one account on the line: no sort to pay for
        return Planned(offers, planned)
    return Planned(offers, planned.sort_values(key, ignore_index=True))


def _beside(decisions: pd.DataFrame, table: pd.DataFrame, key: str) -> pd.DataFrame:
    """The decisions with their recommendation's columns (an inner join on ``key``).

    Each decision has one recommendation: while a rep waits on one account, putting the columns beside the
    decisions by position costs far less than a merge; anything else (a repeated key, a shared column) is merged.
    """
    at = pd.Index(table[key]).get_indexer(decisions[key]) if table[key].is_unique else None
    shared = set(table.columns.tolist()) & set(decisions.columns.tolist()) - {key}
    if at is None or (at < 0).any() or shared or not decisions[key].is_unique:
        return decisions.merge(table, on=key, how="inner")
    mine = decisions.reset_index(drop=True)
    return pd.concat([mine, table.drop(columns=key).iloc[at].set_axis(mine.index)], axis=1)
