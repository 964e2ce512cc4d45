"""Price features: what the account pays now, how fast it rose, and against the territory."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from features.account import days_between
from features.service import lines_in_service
from features.view import Tables

INCREASES = ("annual_increase", "fuel_surcharge", "environmental_fee")
SURCHARGES = ("fuel_surcharge", "environmental_fee")


def _rate_on(changes: pl.LazyFrame, day: date, name: str) -> pl.LazyFrame:
    """Each line's rate on a day: the last change in force then (lines without one keep their start rate).

    Changes on the same day (an increase and a surcharge) apply in ``change_id`` order.
    """
    return (
        changes.filter(pl.col("effective_date") <= day)
        .group_by("line_id")
        .agg(pl.col("new_rate").sort_by(["effective_date", "change_id"]).last().alias(name))
    )


def price_features(view: Tables, as_of: date) -> pl.LazyFrame:
    """Current revenue, change over 90 and 365 days, last increase, surcharges."""
    changes = view["rate_changes"]
    lines = lines_in_service(view).select("line_id", "account_id", "monthly_rate")
    for days, name in ((0, "rate_now"), (90, "rate_90d"), (365, "rate_365d")):
        lines = lines.join(_rate_on(changes, as_of - timedelta(days=days), name), on="line_id", how="left")
    revenue = lines.group_by("account_id").agg(
        # Rounded to the cent so that the sum does not depend on row order (sharded builds).
        pl.coalesce("rate_now", "monthly_rate").sum().round(2).alias("monthly_revenue"),
        pl.coalesce("rate_90d", "monthly_rate").sum().round(2).alias("revenue_90d"),
        pl.coalesce("rate_365d", "monthly_rate").sum().round(2).alias("revenue_365d"),
    )
    increases = changes.filter(pl.col("change_type").is_in(INCREASES) & (pl.col("new_rate") > pl.col("old_rate")))
    last_increase = (
        increases.with_columns((pl.col("new_rate") / pl.col("old_rate") - 1).alias("pct"))
        .group_by("account_id")
        .agg(
            pl.col("effective_date").max().alias("last_increase_on"),
            pl.col("pct").filter(pl.col("effective_date") == pl.col("effective_date").max()).mean().round(6),
            pl.col("effective_date")
            .filter(pl.col("change_type").is_in(SURCHARGES) & (pl.col("effective_date") > as_of - timedelta(days=365)))
            .n_unique()
            .cast(pl.Int64)
            .alias("surcharges_365d"),
        )
    )
    return (
        revenue.join(last_increase, on="account_id", how="left")
        .with_columns(
            _change(pl.col("monthly_revenue"), pl.col("revenue_90d")).alias("rate_change_pct_90d"),
            _change(pl.col("monthly_revenue"), pl.col("revenue_365d")).alias("rate_change_pct_365d"),
            days_between(as_of, pl.col("last_increase_on")).alias("days_since_increase"),
            pl.col("pct").alias("last_increase_pct"),
            pl.col("surcharges_365d").fill_null(0),
        )
        .drop("revenue_90d", "revenue_365d", "last_increase_on", "pct")
    )


def _change(now: pl.Expr, then: pl.Expr) -> pl.Expr:
    return pl.when(then > 0).then(now / then - 1).otherwise(None)


def versus_territory(features: pl.LazyFrame) -> pl.LazyFrame:
    """The 365-day rate change minus the territory's median change over the same days."""
    return features.with_columns(
        (pl.col("rate_change_pct_365d") - pl.col("rate_change_pct_365d").median().over("territory")).alias(
            "increase_vs_territory_365d"
        )
    )
