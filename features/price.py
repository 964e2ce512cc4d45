"""Price features: what the account pays now, how fast it rose, and against the territory."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from features.account import days_between
from features.service import lines_in_service
from features.view import Tables

INCREASES = ("annual_increase", "fuel_surcharge", "environmental_fee")
SURCHARGES = ("fuel_surcharge", "environmental_fee")


# Same-day changes apply in this order: the anniversary increase, then surcharges, then concessions
# (how the simulator and the billing system apply them). A numeric key keeps the query streamable.
_SAME_DAY_ORDER = {
    "annual_increase": 1,
    "fuel_surcharge": 2,
    "environmental_fee": 3,
    "rollback": 4,
    "rate_lock_renewal": 5,
}


def _change_order() -> pl.Expr:
    """Days since 1970 times ten plus the same-day order: the larger, the later a change applies."""
    rank = pl.col("change_type").replace_strict(_SAME_DAY_ORDER, default=9, return_dtype=pl.Int64)
    return pl.col("effective_date").cast(pl.Int64) * 10 + rank


def _rates_on(changes: pl.LazyFrame, days: dict[str, date]) -> pl.LazyFrame:
    """Each line's rate on each day: the last change in force then (null: no change yet, keep the start rate)."""
    order = _change_order()
    # The ordering keys are plain columns before the group_by: max_by over a computed key is not streamable.
    keys = {f"_order_{name}": pl.when(pl.col("effective_date") <= day).then(order) for name, day in days.items()}
    return (
        changes.select("line_id", "new_rate", **keys)
        .group_by("line_id")
        .agg(pl.col("new_rate").max_by(f"_order_{name}").alias(name) for name in days)
    )


def _last_increase(changes: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Day, mean size and count of recent surcharges of each account's increases."""
    increases = changes.filter(pl.col("change_type").is_in(INCREASES) & (pl.col("new_rate") > pl.col("old_rate")))
    year_ago = as_of - timedelta(days=365)
    recent_surcharge = pl.col("change_type").is_in(SURCHARGES) & (pl.col("effective_date") > year_ago)
    # Row values first, then plain aggregates: that keeps both group_bys in the streaming engine.
    by_day = (
        increases.select(
            "account_id",
            "effective_date",
            (pl.col("new_rate") / pl.col("old_rate") - 1).alias("pct"),
            recent_surcharge.alias("surcharge_day"),
        )
        .group_by("account_id", "effective_date")
        .agg(pl.col("pct").mean(), pl.col("surcharge_day").any())
    )
    return by_day.group_by("account_id").agg(
        pl.col("effective_date").max().alias("last_increase_on"),
        pl.col("pct").max_by("effective_date").round(6),
        pl.col("surcharge_day").sum().cast(pl.Int64).alias("surcharges_365d"),
    )


def price_features(view: Tables, as_of: date) -> pl.LazyFrame:
    """Current revenue, change over 90 and 365 days, last increase, surcharges."""
    changes = view["rate_changes"]
    cutoffs = {"rate_now": as_of, "rate_90d": as_of - timedelta(days=90), "rate_365d": as_of - timedelta(days=365)}
    lines = (
        lines_in_service(view)
        .select("line_id", "account_id", "monthly_rate")
        .join(_rates_on(changes, cutoffs), on="line_id", how="left")
    )
    revenue = lines.group_by("account_id").agg(
        # Rounded to the cent so that the sum does not depend on row order (sharded builds).
        pl.coalesce("rate_now", "monthly_rate").sum().round(2).alias("monthly_revenue"),
        pl.coalesce("rate_90d", "monthly_rate").sum().round(2).alias("revenue_90d"),
        pl.coalesce("rate_365d", "monthly_rate").sum().round(2).alias("revenue_365d"),
    )
    return (
        revenue.join(_last_increase(changes, as_of), on="account_id", how="left")
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


def territory_medians(features: pl.LazyFrame) -> pl.LazyFrame:
    """Each territory's median 365-day rate change."""
    return features.group_by("territory").agg(pl.col("rate_change_pct_365d").median().alias("_territory_median_365d"))


def versus_territory(features: pl.DataFrame) -> pl.DataFrame:
    """The 365-day rate change minus the territory's median change over the same days."""
    return features.with_columns(
        (pl.col("rate_change_pct_365d") - pl.col("_territory_median_365d")).alias("increase_vs_territory_365d")
    ).drop("_territory_median_365d")
