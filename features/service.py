"""Service features: what the account is collected, how full it really is, and how well it is served."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from features.account import days_between
from features.registry import QUALITY_EVENTS, QUALITY_WINDOWS
from features.view import Tables


def lines_in_service(view: Tables) -> pl.LazyFrame:
    """Service lines running on the as-of date (started, and not known to have ended)."""
    return view["service_lines"].filter(pl.col("end_date").is_null())


def service_line_features(view: Tables, as_of: date) -> pl.LazyFrame:
    """Lines, streams, container sizes, pickups, capacity and leases."""
    lines = lines_in_service(view)
    lease = pl.col("is_lease") if "is_lease" in lines.collect_schema().names() else pl.lit(False)
    return lines.group_by("account_id").agg(
        pl.len().cast(pl.Int64).alias("lines"),
        pl.col("stream").n_unique().cast(pl.Int64).alias("streams"),
        (pl.col("stream") == "recycling").any().alias("has_recycling"),
        (pl.col("stream") == "organics").any().alias("has_organics"),
        pl.col("container_yards").max().alias("max_container_yards"),
        pl.col("pickups_per_week").sum().alias("pickups_per_week"),
        (pl.col("container_yards") * pl.col("pickups_per_week")).sum().round(3).alias("weekly_capacity_yards"),
        lease.fill_null(False).any().alias("has_lease"),
    )


def service_event_features(view: Tables, as_of: date) -> pl.LazyFrame:
    """Exceptions in 30/90/365 days, days since the last of each, and measured fill."""
    events = view["service_events"]
    kind, day = pl.col("event_type"), pl.col("event_date")
    aggregates = []
    for event in QUALITY_EVENTS:
        for days in QUALITY_WINDOWS:
            window = (kind == event) & (day > as_of - timedelta(days=days))
            aggregates.append(window.sum().cast(pl.Int64).alias(f"{event}s_{days}d"))
        # when/then().max() keeps the aggregation in the streaming engine (filter().max() inside agg does not).
        aggregates.append(days_between(as_of, pl.when(kind == event).then(day).max()).alias(f"days_since_{event}"))
    audit = kind == "fill_audit"
    fill = pl.col("fill_pct") if "fill_pct" in events.collect_schema().names() else pl.lit(None, pl.Float64)
    # The latest audit's reading as one streamable max: day * 1000 + fill (fill stays under 300 %), so the
    # latest day wins and, among audits of several lines that day, the highest reading speaks for the account.
    latest = pl.when(audit & fill.is_not_null()).then(day.cast(pl.Int64) * 1000 + fill).max()
    aggregates += [
        latest.alias("_latest_audit"),
        pl.when(audit & (day > as_of - timedelta(days=365))).then(fill).mean().alias("fill_pct_mean_365d"),
    ]
    return (
        events.group_by("account_id")
        .agg(aggregates)
        .with_columns((pl.col("_latest_audit") - (pl.col("_latest_audit") // 1000) * 1000).alias("fill_pct_last"))
        .drop("_latest_audit")
    )
