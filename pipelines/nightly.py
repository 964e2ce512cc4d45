"""The nightly steps: features → scores → plans → lists, for open requests and for the accounts worth a call.

Each function is one step of the nightly and intraday flows (``pipelines.flows``, through the tasks of
``pipelines.tasks``) and is a plain function of data, so tests and notebooks call them directly. Scoring and
planning work on any subset of accounts, which is how the flows map them over account shards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Sized
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from features.build import build_features
from features.registry import BY_NAME
from features.requests import account_context
from features.view import Tables, as_of_view
from models.champions import Champions
from models.churn import ChurnModel
from models.drift import add_counts, bin_counts, psi_of_counts
from models.holdout import HoldoutRules
from models.offers import OfferCatalog
from models.planner import plan
from models.valuation import valuation
from pipelines.left_out import LeftOut, file_safe, plan_apart, priced
from pipelines.outreach_ranking import candidate_pool, rank_by_uplift
from pipelines.settings import NightlySettings, OutreachSettings, Settings
from pipelines.workspace import WorkspaceError
from serving.call_lists import CallLists, DeskRules, build_call_lists
from serving.roster import Roster, roster_from_history
from sources.keys import stable_bucket

INBOUND_COLUMNS = ("request_id", "account_id", "request_date", "reason")


def open_requests(tables: Tables, as_of: date, days: int) -> pd.DataFrame:
    """Cancellation requests made in the ``days`` up to ``as_of`` and not resolved by then."""
    view = as_of_view(tables, as_of)
    if "cancellation_requests" not in view:  # an extract without requests: no inbound queue, proactive lists only
        return pd.DataFrame({c: pd.Series([], dtype="datetime64[ns]" if c == "request_date" else object)
                             for c in INBOUND_COLUMNS})  # fmt: skip
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


def check_book(context: Sized, as_of: date, left_out: list[LeftOut] | None = None) -> None:
    """Refuse a night with no account to list: lists from zero accounts would look like a quiet night.

    Args:
        context: The night's accounts in service (a frame, or the shards' ``pipelines.book.NightBook``).
        as_of: The business date's as-of.
        left_out: What the night left out, once scored; refused when it is every account.

    Raises:
        WorkspaceError: No account is in service, or every one was left out.
    """
    if len(context) == 0:
        raise WorkspaceError(
            f"No account in service on {as_of}: nothing to score, so no lists were published (earlier days'"
            " lists stay as they were). Check the accounts table (savedesk validate) and the --as-of date."
        )
    lost = sum(part.accounts for part in left_out or [] if part.kind != "rep")
    if left_out and lost >= len(context):
        reasons = "; ".join(part.sentence() for part in left_out[:5])
        raise WorkspaceError(f"Every account in service on {as_of} was left out, so no lists were published: {reasons}")


def check_features(context: Iterable[Hashable], champions: Champions) -> None:
    """Refuse to score with models that need features this extract cannot give (a table absent or without rows).

    A missing feature is never made up (a zero would read as "no late pickups"): the night stops and says which
    tables the models were trained with.

    Args:
        context: The night's context, or its columns.
        champions: The models to score with.

    Raises:
        WorkspaceError: A champion's feature is not in the night's context.
    """
    present = set(context)
    needs = {"churn": champions.churn.columns, "save": champions.save.feature_columns if champions.save else []}
    for kind, columns in needs.items():
        missing = [column for column in columns if column not in present]
        if not missing:
            continue
        tables = sorted({BY_NAME[c].table for c in missing if c in BY_NAME})
        version = champions.versions.get(kind, {}).get("version", "?")
        shown = ", ".join(missing[:8]) + (" and others" if len(missing) > 8 else "")
        raise WorkspaceError(
            f"The {kind} model (v{version}) was trained with features this extract cannot give: {shown},"
            f" from {', '.join(tables) or 'tables it lacks'} (absent,"
            " or without rows). Restore those tables, or train on this extract (savedesk train) before the nightly."
        )


def offer_valuation(champions: Champions, catalog: OfferCatalog) -> dict[str, Any]:
    """How the night values offers, for the manifest and the summary (``models.valuation``).

    Without a save champion the lists are still published: offers are valued from the catalog's declared prior
    save rates, every listed row says ``p_save_source = "prior"`` and the manifest carries the notice the rep's page
    shows.
    """
    return valuation(champions.p_save_source, catalog.prior_save_rates_source)


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
    left_out: list[LeftOut] = field(default_factory=list)
    """The territories and accounts of the shard that could not be planned, and why."""


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
    plannable, left = priced(scored, catalog.cost_to_serve)
    asking = requests.merge(plannable, on="account_id", how="inner")
    explore = settings.save.exploration
    inbound, lost = plan_apart(
        asking, lambda part: plan(part, "request_id", save, catalog, rules, exploration=explore).decisions
    )
    left += lost

    quiet = plannable[~plannable["account_id"].isin(requests["account_id"])]
    at_stake = quiet["churn_probability"] * pd.to_numeric(quiet["monthly_revenue"], errors="coerce").fillna(0.0)
    pool = candidate_pool(settings, proactive_limit)  # wider than the list when the uplift model ranks
    candidates = quiet.loc[at_stake.sort_values(ascending=False, kind="stable").index[:pool]]
    proactive, lost = plan_apart(candidates, lambda part: plan(part, "account_id", save, catalog, rules).decisions)
    proactive["saveable_value"] = proactive["churn_probability"] * proactive["margin_kept_p_save"]
    proactive = proactive.drop(columns="margin_kept_p_save")
    scored_proactive = rank_by_uplift(settings, proactive, candidates, proactive_limit)
    return Scored(inbound, scored_proactive, scored["churn_probability"], left + lost)


@dataclass
class ShardNight:
    """What one shard's night hands back to the flow: its plans, and counts for monitoring, not its accounts."""

    scored: Scored
    """The shard's plans (``scores`` left empty: the book's scores stay on the workers)."""
    drift: dict[str, dict[str, int]]
    """The shard's features and scores counted in the bins of the churn model's training profile."""
    accounts: int


def score_night_shard(
    settings: Settings, context: pd.DataFrame, requests: pd.DataFrame, champions: Champions, proactive_limit: int
) -> ShardNight:
    """``score_shard``, with the shard's monitoring counts in place of its scores."""
    scored = score_shard(settings, context, requests, champions, proactive_limit)
    reference = champions.churn.metadata.get("reference") or {}
    counts = bin_counts(reference, context.assign(churn_probability=scored.scores.to_numpy()))
    return ShardNight(replace(scored, scores=scored.scores.iloc[:0]), counts, len(context))


def monitoring_summary(churn: ChurnModel, nights: list[ShardNight]) -> dict[str, float]:
    """PSI of every feature and of the score against the churn model's training data, from the shards' counts."""
    reference = churn.metadata.get("reference")
    if not reference:
        return {}
    return psi_of_counts(reference, add_counts([night.drift for night in nights]), sum(n.accounts for n in nights))


def desk_roster(tables: Tables, as_of: date) -> tuple[Roster, list[LeftOut]]:
    """The reps and specialists of each territory, from who worked the desk recently, and the reps left out.

    Without a ``save_attempts`` table no rep is known: every row goes to its territory's ``UNASSIGNED-`` rep.
    A rep whose page would overwrite another rep's is left out (``pipelines.left_out.file_safe``).
    """
    if "save_attempts" not in tables:
        return Roster(), []
    attempts = tables["save_attempts"].collect().to_pandas(date_as_object=False)
    accounts = tables["accounts"].select("account_id", "territory").collect().to_pandas()
    return file_safe(roster_from_history(attempts, accounts, as_of))


def desk_rules(desk: NightlySettings, outreach: OutreachSettings | None = None) -> DeskRules:
    """How the desk works a day, from the nightly settings (and the outreach holdout, when given)."""
    holdout = None
    if outreach is not None and outreach.holdout_share > 0:
        holdout = HoldoutRules(outreach.holdout_share, outreach.holdout_period, outreach.holdout_seed)
    return DeskRules(proactive_per_rep=desk.proactive_per_rep, holdout=holdout)


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
