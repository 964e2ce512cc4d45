"""Contact, cancellation-history and territory features (billing features are in ``features.billing``)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from features.account import days_between
from features.view import Tables


def _since(column: str, as_of: date, days: int) -> pl.Expr:
    return pl.col(column) > as_of - timedelta(days=days)


def contact_features(view: Tables, as_of: date) -> pl.LazyFrame:
    """Complaints, escalations, disputes and contacts still unresolved."""
    kind = pl.col("contact_type")
    return (
        view["contacts"]
        .group_by("account_id")
        .agg(
            ((kind == "billing_dispute") & _since("contact_date", as_of, 365))
            .sum()
            .cast(pl.Int64)
            .alias("billing_disputes_365d"),
            ((kind == "complaint") & _since("contact_date", as_of, 90)).sum().cast(pl.Int64).alias("complaints_90d"),
            ((kind == "complaint") & _since("contact_date", as_of, 365)).sum().cast(pl.Int64).alias("complaints_365d"),
            (pl.col("escalated") & _since("contact_date", as_of, 365)).sum().cast(pl.Int64).alias("escalations_365d"),
            pl.col("resolved_date").is_null().sum().cast(pl.Int64).alias("unresolved_contacts"),
        )
    )


def request_features(view: Tables, as_of: date) -> pl.LazyFrame:
    """Earlier cancellation requests of the account."""
    return (
        view["cancellation_requests"]
        .group_by("account_id")
        .agg(
            _since("request_date", as_of, 365).sum().cast(pl.Int64).alias("prior_requests_365d"),
            pl.len().cast(pl.Int64).alias("prior_requests"),
        )
    )


def save_features(view: Tables, as_of: date) -> pl.LazyFrame:
    """Earlier saves and the concessions that bought them."""
    accepted = view["save_attempts"].filter(pl.col("accepted"))
    rollback = pl.col("offer") == "rollback"
    return accepted.group_by("account_id").agg(
        days_between(as_of, pl.col("attempt_date").max()).alias("days_since_save"),
        (rollback & _since("attempt_date", as_of, 365)).sum().cast(pl.Int64).alias("rollbacks_365d"),
        pl.col("rollback_pct")
        .filter(rollback)
        .sort_by(pl.col("attempt_date").filter(rollback))
        .last()
        .alias("last_rollback_pct"),
    )


def territory_features(view: Tables, as_of: date) -> pl.LazyFrame:
    """What the territory's book did lately: its request rate and how often competitors are named."""
    active, requests = territory_counts(view, as_of)
    return territory_rates(active, requests)


def territory_counts(view: Tables, as_of: date) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Per territory, the active accounts and the requests behind its rates.

    Sums over accounts: the counts of account shards add up to the book's, and ``territory_rates`` of the summed
    counts is the whole book's.
    """
    accounts = view["accounts"].select("account_id", pl.col("territory").cast(pl.String))
    in_service = view["accounts"].filter(pl.col("close_date").is_null()).select("account_id")
    active = (
        accounts.join(in_service, on="account_id").group_by("territory").agg(pl.len().cast(pl.Int64).alias("active"))
    )
    requests = view["cancellation_requests"].join(accounts, on="account_id")
    by_territory = requests.group_by("territory").agg(
        _since("request_date", as_of, 90).sum().cast(pl.Int64).alias("requests_90d"),
        _since("request_date", as_of, 180).sum().cast(pl.Int64).alias("requests_180d"),
        ((pl.col("reason") == "competitor_offer") & _since("request_date", as_of, 180))
        .sum()
        .cast(pl.Int64)
        .alias("competitor"),
    )
    return active, by_territory


def territory_rates(active: pl.LazyFrame, requests: pl.LazyFrame) -> pl.LazyFrame:
    """Each territory's request rate over 90 days and competitor share over 180 days, from its counts."""
    return (
        active.join(requests, on="territory", how="left")
        .with_columns(
            (pl.col("requests_90d").fill_null(0) / pl.col("active")).alias("territory_request_rate_90d"),
            pl.when(pl.col("requests_180d") > 0)
            .then(pl.col("competitor") / pl.col("requests_180d"))
            .otherwise(0.0)
            .alias("territory_competitor_share_180d"),
        )
        .select("territory", "territory_request_rate_90d", "territory_competitor_share_180d")
    )
