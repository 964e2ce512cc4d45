"""The nightly steps: features → scores → plans, for open requests and for the accounts worth a call.

Each function is one step of the nightly flow (``pipelines.flows``) and is a
plain function of data, so tests and notebooks call them directly. Scoring and
planning work on any subset of accounts, which is how the flow maps them over
account shards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from features.build import build_features
from features.requests import account_context
from features.view import Tables, as_of_view
from models.churn import ChurnModel
from models.drift import psi
from models.policy import plan_offers, recommendations
from models.save import SaveModel
from pipelines.settings import Settings
from sources.keys import stable_bucket

INBOUND_COLUMNS = ("request_id", "account_id", "request_date", "reason")


def open_requests(tables: Tables, as_of: date, days: int) -> pd.DataFrame:
    """Cancellation requests made in the ``days`` up to ``as_of`` and not resolved by then."""
    view = as_of_view(tables, as_of)
    return (
        view["cancellation_requests"]
        .filter(pl.col("resolved_date").is_null() & (pl.col("request_date") > as_of - timedelta(days=days)))
        .select(*INBOUND_COLUMNS)
        .sort("request_id")
        .collect()
        .to_pandas(date_as_object=False)
    )


def build_context(tables: Tables, as_of: date, shards: int = 1) -> pd.DataFrame:
    """Every account in service on ``as_of``: features, city and biggest line."""
    return account_context(tables, as_of, build_features(tables, as_of, shards=shards))


def context_path(settings: Settings, day: date) -> Path:
    """Where the nightly run keeps the night's account context, for the intraday runs and the live plan."""
    return settings.features_dir / "nightly" / f"as_of={day.isoformat()}.parquet"


def shard(frame: pd.DataFrame, shards: int) -> list[pd.DataFrame]:
    """``frame`` split by a stable hash of ``account_id``: the same account is always in the same shard."""
    if shards <= 1:
        return [frame]
    bucket = stable_bucket(frame["account_id"], shards)
    return [frame[bucket == k] for k in range(shards)]


@dataclass
class Scored:
    """One shard's nightly results."""

    inbound: pd.DataFrame
    """One row per open request: the request, the account's context, its risk and its recommendation."""
    proactive: pd.DataFrame
    """One row per account worth a proactive call: its context, risk, recommendation and saveable value."""
    scores: pd.Series
    """The churn probability of every account of the shard, on the shard's index (for monitoring)."""


def score_shard(
    settings: Settings,
    context: pd.DataFrame,
    requests: pd.DataFrame,
    churn: ChurnModel,
    save: SaveModel,
    proactive_limit: int,
) -> Scored:
    """Risk for every account of the shard; plans for its open requests and its most valuable at-risk accounts.

    Args:
        settings: Offer catalog and guardrails.
        context: The shard's accounts (``build_context``).
        requests: All open requests (only the shard's accounts are planned).
        churn: The churn model.
        save: The save model.
        proactive_limit: How many of the shard's accounts without a request to plan, by risk × margin.
    """
    scored = context.assign(churn_probability=churn.predict_proba(context))
    offers, rules = settings.save.offers, settings.save.guardrails
    asking = requests.merge(scored, on="account_id", how="inner")
    inbound = _planned(asking, plan_offers(asking, offers, rules, save.predict_proba), "request_id")

    quiet = scored[~scored["account_id"].isin(requests["account_id"])]
    at_stake = quiet["churn_probability"] * pd.to_numeric(quiet["monthly_revenue"], errors="coerce").fillna(0.0)
    candidates = quiet.loc[at_stake.sort_values(ascending=False, kind="stable").index[:proactive_limit]]
    candidates = save.with_reason_shares(candidates)
    plans = plan_offers(candidates, offers, rules, save.predict_proba)
    proactive = _planned(candidates, plans, "account_id")
    proactive["saveable_value"] = proactive["churn_probability"] * proactive["margin_kept_p_save"]
    return Scored(inbound, proactive.drop(columns="margin_kept_p_save"), scored["churn_probability"])


def _planned(decisions: pd.DataFrame, plans: pd.DataFrame, key: str) -> pd.DataFrame:
    """The decisions with their recommendation, fallback and the margin the recommendation keeps if it saves."""
    table = recommendations(plans)
    chosen = plans[plans["choice"] == "recommended"].set_index(key)
    table["margin_kept_p_save"] = (chosen["p_save"] * chosen["margin_kept"]).reindex(table[key]).to_numpy()
    table["rollback_pct"] = chosen["rollback_pct"].reindex(table[key]).to_numpy()
    return decisions.merge(table, on=key, how="inner").sort_values(key, ignore_index=True)


def monitoring_summary(churn: ChurnModel, context: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    """PSI of every feature and of the score against the churn model's training data."""
    reference = churn.metadata.get("reference")
    if not reference:
        return {}
    return psi(reference, context.assign(churn_probability=scores))
