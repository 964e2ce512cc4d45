"""The nightly steps: features → scores → plans → lists, for open requests and for the accounts worth a call.

Each function is one step of the nightly and intraday flows (``pipelines.flows``, through the tasks of
``pipelines.tasks``) and is a plain function of data, so tests and notebooks call them directly. Scoring and
planning work on any subset of accounts, which is how the flows map them over account shards.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from features.build import build_features
from features.requests import account_context
from features.view import Tables, as_of_view
from models.champions import Champions
from models.churn import ChurnModel
from models.drift import psi
from models.planner import plan
from pipelines.settings import NightlySettings, Settings
from serving.call_lists import CallLists, DeskRules, build_call_lists
from serving.roster import Roster, roster_from_history
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
    settings: Settings, context: pd.DataFrame, requests: pd.DataFrame, champions: Champions, proactive_limit: int
) -> Scored:
    """Risk for every account of the shard; plans for its open requests and its most valuable at-risk accounts.

    Args:
        settings: Offer catalog and guardrails.
        context: The shard's accounts (``build_context``).
        requests: All open requests (only the shard's accounts are planned).
        champions: The churn and save models.
        proactive_limit: How many of the shard's accounts without a request to plan, by risk × margin.
    """
    scored = context.assign(churn_probability=champions.churn.predict_proba(context))
    catalog, rules, save = settings.save.offers, settings.save.guardrails, champions.save
    asking = requests.merge(scored, on="account_id", how="inner")
    inbound = plan(asking, "request_id", save, catalog, rules).decisions

    quiet = scored[~scored["account_id"].isin(requests["account_id"])]
    at_stake = quiet["churn_probability"] * pd.to_numeric(quiet["monthly_revenue"], errors="coerce").fillna(0.0)
    candidates = quiet.loc[at_stake.sort_values(ascending=False, kind="stable").index[:proactive_limit]]
    proactive = plan(candidates, "account_id", save, catalog, rules).decisions
    proactive["saveable_value"] = proactive["churn_probability"] * proactive["margin_kept_p_save"]
    return Scored(inbound, proactive.drop(columns="margin_kept_p_save"), scored["churn_probability"])


def monitoring_summary(churn: ChurnModel, context: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    """PSI of every feature and of the score against the churn model's training data."""
    reference = churn.metadata.get("reference")
    if not reference:
        return {}
    return psi(reference, context.assign(churn_probability=scores))


def keep_context(path: Path, context: pd.DataFrame) -> Path:
    """Write the night's account context atomically, so the intraday runs and the live plan read it whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    context.to_parquet(partial, index=False)
    partial.replace(path)
    return path


def desk_roster(tables: Tables, as_of: date) -> Roster:
    """The reps and specialists of each territory, from who worked the desk recently."""
    attempts = tables["save_attempts"].collect().to_pandas(date_as_object=False)
    accounts = tables["accounts"].select("account_id", "territory").collect().to_pandas()
    return roster_from_history(attempts, accounts, as_of)


def desk_rules(desk: NightlySettings) -> DeskRules:
    """How the desk works a day, from the nightly settings."""
    return DeskRules(proactive_per_rep=desk.proactive_per_rep)


def proactive_limit(desk: NightlySettings, roster: Roster) -> int:
    """Accounts each shard plans for proactive calls: a multiple of the desk's daily capacity, split over shards."""
    capacity = max(1, desk.proactive_per_rep * roster.inside_reps)
    return int(desk.proactive_candidates * capacity / desk.shards) + 1


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one after another; empty ones only lend their columns."""
    full = [f for f in frames if len(f)]
    if full:
        return pd.concat(full, ignore_index=True)
    return frames[0].iloc[0:0].reset_index(drop=True) if frames else pd.DataFrame()


def gather_lists(scored: list[Scored], roster: Roster, rules: DeskRules, day: date) -> tuple[CallLists, pd.DataFrame]:
    """The day's call lists from every shard's plans, and the scored rows that went on them (with ``list_key``)."""
    inbound = concat([s.inbound for s in scored])
    proactive = concat([s.proactive for s in scored])
    lists = build_call_lists(inbound, proactive, roster, rules, day)
    return lists, concat([lists.listed(inbound, "request_id"), lists.listed(proactive, "account_id")])


def night_scores(scored: list[Scored], context: pd.DataFrame) -> np.ndarray:
    """Every account's churn probability as the shards computed it, in the context's row order."""
    return pd.concat([s.scores for s in scored]).reindex(context.index).to_numpy()


def new_requests(lists: CallLists, requests: pd.DataFrame) -> pd.DataFrame:
    """The open requests on neither the inbound queue nor the flips yet (they arrived since the last publication)."""
    listed = set(lists.inbound["list_key"]) | set(lists.flips["list_key"])
    return requests[~requests["request_id"].isin(listed)]


def context_of(path: Path, requests: pd.DataFrame) -> pd.DataFrame:
    """The night's kept context of the accounts that made ``requests``."""
    context = pd.read_parquet(path)
    return context[context["account_id"].isin(requests["account_id"])]


def input_fingerprint(clean_dir: Path) -> str:
    """A sha256 over the clean tables' bytes: the same inputs give the same fingerprint."""
    digest = hashlib.sha256()
    for path in sorted(clean_dir.rglob("*.parquet")):
        digest.update(str(path.relative_to(clean_dir)).encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
