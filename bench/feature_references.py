"""Reference engines for ``bench/features.py``: savedesk's heavy aggregates, written directly.

Two independent restatements of the per-account aggregates that
``features.build.build_features`` computes from the large tables (service
events, invoices, contacts, cancellation requests, rate changes and service
lines), read from the same clean Parquet files:

- ``duckdb_features``: one SQL statement, one ``FILTER``-aggregate per table;
- ``polars_features``: one lazy query per table, collected with the streaming engine.

Both are point in time: rows count only when their event date is on or before
``as_of``, and a known-later date (paid, resolved, close, end) only when it is
too. Where the data has several rows on the latest day (two rate changes of a
line on one day, two fill audits of an account on one day), both take the row
with the greatest id: savedesk leaves that choice to the sort.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

TABLES = ("accounts", "service_events", "invoices", "contacts", "cancellation_requests", "rate_changes",
          "service_lines")  # fmt: skip


def table_pattern(clean: Path, name: str) -> str:
    """The table's file, or a glob over its account shards' files (validation's ``validation_run.shards``).

    ``features.view.table_pattern`` says the same; this module imports nothing of savedesk's, so it keeps its own.
    """
    single = clean / f"{name}.parquet"
    return str(single if single.is_file() else clean / name / "*.parquet")


DUCKDB_MEMORY_LIMIT = "4GB"
"""Two threads at DuckDB's recommended 1-4 GB each; the box has 24 GB, shared with others."""

DUCKDB_SQL = """
WITH
accounts AS (
    SELECT account_id FROM read_parquet($accounts)
    WHERE start_date::DATE <= $as_of AND (close_date IS NULL OR close_date::DATE > $as_of)
),
events AS (
    SELECT account_id,
        count(*) FILTER (WHERE kind = 'missed_pickup' AND day > $as_of - 30) AS missed_pickups_30d,
        count(*) FILTER (WHERE kind = 'missed_pickup' AND day > $as_of - 90) AS missed_pickups_90d,
        count(*) FILTER (WHERE kind = 'missed_pickup' AND day > $as_of - 365) AS missed_pickups_365d,
        date_diff('day', max(day) FILTER (WHERE kind = 'missed_pickup'), $as_of) AS days_since_missed_pickup,
        count(*) FILTER (WHERE kind = 'late_pickup' AND day > $as_of - 30) AS late_pickups_30d,
        count(*) FILTER (WHERE kind = 'late_pickup' AND day > $as_of - 90) AS late_pickups_90d,
        count(*) FILTER (WHERE kind = 'late_pickup' AND day > $as_of - 365) AS late_pickups_365d,
        date_diff('day', max(day) FILTER (WHERE kind = 'late_pickup'), $as_of) AS days_since_late_pickup,
        count(*) FILTER (WHERE kind = 'overage' AND day > $as_of - 30) AS overages_30d,
        count(*) FILTER (WHERE kind = 'overage' AND day > $as_of - 90) AS overages_90d,
        count(*) FILTER (WHERE kind = 'overage' AND day > $as_of - 365) AS overages_365d,
        date_diff('day', max(day) FILTER (WHERE kind = 'overage'), $as_of) AS days_since_overage,
        count(*) FILTER (WHERE kind = 'contamination' AND day > $as_of - 30) AS contaminations_30d,
        count(*) FILTER (WHERE kind = 'contamination' AND day > $as_of - 90) AS contaminations_90d,
        count(*) FILTER (WHERE kind = 'contamination' AND day > $as_of - 365) AS contaminations_365d,
        date_diff('day', max(day) FILTER (WHERE kind = 'contamination'), $as_of) AS days_since_contamination,
        count(*) FILTER (WHERE kind = 'damaged_container' AND day > $as_of - 30) AS damaged_containers_30d,
        count(*) FILTER (WHERE kind = 'damaged_container' AND day > $as_of - 90) AS damaged_containers_90d,
        count(*) FILTER (WHERE kind = 'damaged_container' AND day > $as_of - 365) AS damaged_containers_365d,
        date_diff('day', max(day) FILTER (WHERE kind = 'damaged_container'), $as_of) AS days_since_damaged_container,
        arg_max_null(fill_pct, (day, event_id)) FILTER (WHERE kind = 'fill_audit') AS fill_pct_last,
        avg(fill_pct) FILTER (WHERE kind = 'fill_audit' AND day > $as_of - 365) AS fill_pct_mean_365d
    FROM (SELECT account_id, event_id, event_type AS kind, fill_pct, event_date::DATE AS day
          FROM read_parquet($service_events))
    WHERE day <= $as_of
    GROUP BY account_id
),
invoices AS (
    SELECT account_id,
        count(*) FILTER (WHERE late AND issued > $as_of - 90) AS late_invoices_90d,
        count(*) FILTER (WHERE late AND issued > $as_of - 365) AS late_invoices_365d,
        coalesce(date_diff('day', min(due) FILTER (WHERE paid IS NULL AND due < $as_of), $as_of), 0) AS days_past_due
    FROM (SELECT account_id, issued, due, paid, coalesce(paid > due, false) OR (paid IS NULL AND due < $as_of) AS late
          FROM (SELECT account_id, invoice_date::DATE AS issued, due_date::DATE AS due,
                       CASE WHEN paid_date::DATE <= $as_of THEN paid_date::DATE END AS paid
                FROM read_parquet($invoices))
          WHERE issued <= $as_of)
    GROUP BY account_id
),
contacts AS (
    SELECT account_id,
        count(*) FILTER (WHERE contact_type = 'billing_dispute' AND day > $as_of - 365) AS billing_disputes_365d,
        count(*) FILTER (WHERE contact_type = 'complaint' AND day > $as_of - 90) AS complaints_90d,
        count(*) FILTER (WHERE contact_type = 'complaint' AND day > $as_of - 365) AS complaints_365d,
        count(*) FILTER (WHERE escalated AND day > $as_of - 365) AS escalations_365d,
        count(*) FILTER (WHERE resolved_date IS NULL OR resolved_date::DATE > $as_of) AS unresolved_contacts
    FROM (SELECT account_id, contact_type, escalated, resolved_date, contact_date::DATE AS day
          FROM read_parquet($contacts))
    WHERE day <= $as_of
    GROUP BY account_id
),
requests AS (
    SELECT account_id,
        count(*) FILTER (WHERE day > $as_of - 365) AS prior_requests_365d,
        count(*) AS prior_requests
    FROM (SELECT account_id, request_date::DATE AS day FROM read_parquet($cancellation_requests))
    WHERE day <= $as_of
    GROUP BY account_id
),
lines AS (
    SELECT line_id, account_id, stream, container_yards, pickups_per_week, monthly_rate,
           coalesce(is_lease, false) AS is_lease
    FROM read_parquet($service_lines)
    WHERE start_date::DATE <= $as_of AND (end_date IS NULL OR end_date::DATE > $as_of)
),
line_features AS (
    SELECT account_id,
        count(*) AS lines,
        count(DISTINCT stream) AS streams,
        bool_or(stream = 'recycling') AS has_recycling,
        bool_or(stream = 'organics') AS has_organics,
        max(container_yards) AS max_container_yards,
        sum(pickups_per_week) AS pickups_per_week,
        round_even(sum(container_yards * pickups_per_week), 3) AS weekly_capacity_yards,
        bool_or(is_lease) AS has_lease
    FROM lines
    GROUP BY account_id
),
rates AS (
    SELECT line_id,
        arg_max_null(new_rate, (day, change_id)) AS rate_now,
        arg_max_null(new_rate, (day, change_id)) FILTER (WHERE day <= $as_of - 90) AS rate_90d,
        arg_max_null(new_rate, (day, change_id)) FILTER (WHERE day <= $as_of - 365) AS rate_365d
    FROM (SELECT line_id, change_id, new_rate, effective_date::DATE AS day FROM read_parquet($rate_changes))
    WHERE day <= $as_of
    GROUP BY line_id
),
revenue AS (
    SELECT account_id,
        round_even(sum(coalesce(rate_now, monthly_rate)), 2) AS monthly_revenue,
        round_even(sum(coalesce(rate_90d, monthly_rate)), 2) AS revenue_90d,
        round_even(sum(coalesce(rate_365d, monthly_rate)), 2) AS revenue_365d
    FROM lines LEFT JOIN rates USING (line_id)
    GROUP BY account_id
),
increase_days AS (
    SELECT account_id, day, avg(new_rate / old_rate - 1) AS pct,
           bool_or(change_type IN ('fuel_surcharge', 'environmental_fee')) AS surcharge
    FROM (SELECT account_id, change_type, old_rate, new_rate, effective_date::DATE AS day
          FROM read_parquet($rate_changes))
    WHERE day <= $as_of AND new_rate > old_rate
      AND change_type IN ('annual_increase', 'fuel_surcharge', 'environmental_fee')
    GROUP BY account_id, day
),
increases AS (
    SELECT account_id,
        date_diff('day', max(day), $as_of) AS days_since_increase,
        round_even(arg_max(pct, day), 6) AS last_increase_pct,
        count(*) FILTER (WHERE surcharge AND day > $as_of - 365) AS surcharges_365d
    FROM increase_days
    GROUP BY account_id
)
SELECT account_id,
    coalesce(missed_pickups_30d, 0) AS missed_pickups_30d,
    coalesce(missed_pickups_90d, 0) AS missed_pickups_90d,
    coalesce(missed_pickups_365d, 0) AS missed_pickups_365d,
    days_since_missed_pickup,
    coalesce(late_pickups_30d, 0) AS late_pickups_30d,
    coalesce(late_pickups_90d, 0) AS late_pickups_90d,
    coalesce(late_pickups_365d, 0) AS late_pickups_365d,
    days_since_late_pickup,
    coalesce(overages_30d, 0) AS overages_30d,
    coalesce(overages_90d, 0) AS overages_90d,
    coalesce(overages_365d, 0) AS overages_365d,
    days_since_overage,
    coalesce(contaminations_30d, 0) AS contaminations_30d,
    coalesce(contaminations_90d, 0) AS contaminations_90d,
    coalesce(contaminations_365d, 0) AS contaminations_365d,
    days_since_contamination,
    coalesce(damaged_containers_30d, 0) AS damaged_containers_30d,
    coalesce(damaged_containers_90d, 0) AS damaged_containers_90d,
    coalesce(damaged_containers_365d, 0) AS damaged_containers_365d,
    days_since_damaged_container,
    fill_pct_last,
    fill_pct_mean_365d,
    coalesce(late_invoices_90d, 0) AS late_invoices_90d,
    coalesce(late_invoices_365d, 0) AS late_invoices_365d,
    days_past_due,
    coalesce(billing_disputes_365d, 0) AS billing_disputes_365d,
    coalesce(complaints_90d, 0) AS complaints_90d,
    coalesce(complaints_365d, 0) AS complaints_365d,
    coalesce(escalations_365d, 0) AS escalations_365d,
    coalesce(unresolved_contacts, 0) AS unresolved_contacts,
    coalesce(prior_requests_365d, 0) AS prior_requests_365d,
    coalesce(prior_requests, 0) AS prior_requests,
    coalesce(lines, 0) AS lines,
    coalesce(streams, 0) AS streams,
    coalesce(has_recycling, false) AS has_recycling,
    coalesce(has_organics, false) AS has_organics,
    max_container_yards,
    pickups_per_week,
    weekly_capacity_yards,
    coalesce(has_lease, false) AS has_lease,
    monthly_revenue,
    CASE WHEN revenue_90d > 0 THEN monthly_revenue / revenue_90d - 1 END AS rate_change_pct_90d,
    CASE WHEN revenue_365d > 0 THEN monthly_revenue / revenue_365d - 1 END AS rate_change_pct_365d,
    -- savedesk keeps the increase history only of accounts with a line in service
    CASE WHEN monthly_revenue IS NOT NULL THEN days_since_increase END AS days_since_increase,
    CASE WHEN monthly_revenue IS NOT NULL THEN last_increase_pct END AS last_increase_pct,
    CASE WHEN monthly_revenue IS NOT NULL THEN coalesce(surcharges_365d, 0) ELSE 0 END AS surcharges_365d
FROM accounts
LEFT JOIN events USING (account_id)
LEFT JOIN invoices USING (account_id)
LEFT JOIN contacts USING (account_id)
LEFT JOIN requests USING (account_id)
LEFT JOIN line_features USING (account_id)
LEFT JOIN revenue USING (account_id)
LEFT JOIN increases USING (account_id)
ORDER BY account_id
"""


def duckdb_settings() -> str:
    """The DuckDB settings the reference runs with, as printed beside its figures."""
    return f"threads={len(os.sched_getaffinity(0))}, memory_limit={DUCKDB_MEMORY_LIMIT}, spilling to a temporary folder"


def duckdb_features(clean: Path, as_of: date) -> Any:
    """The reference aggregates by DuckDB, fetched as an Arrow table sorted by ``account_id``."""
    import duckdb

    params: dict[str, object] = {name: table_pattern(clean, name) for name in TABLES}
    params["as_of"] = as_of
    with tempfile.TemporaryDirectory(prefix="duckdb-") as spill, duckdb.connect() as con:
        con.execute(f"SET threads = {len(os.sched_getaffinity(0))}")
        con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        con.execute(f"SET temp_directory = '{spill}'")
        con.execute("SET enable_progress_bar = false")
        return con.sql(DUCKDB_SQL, params=params).to_arrow_table()


def polars_features(clean: Path, as_of: date) -> Any:
    """The reference aggregates by polars' streaming engine, as a DataFrame sorted by ``account_id``."""
    import polars as pl

    def scan(name: str, *dates: str) -> pl.LazyFrame:
        return pl.scan_parquet(table_pattern(clean, name)).with_columns(pl.col(d).cast(pl.Date) for d in dates)

    def since(day: pl.Expr, days: int) -> pl.Expr:
        return day > as_of - timedelta(days=days)

    def days_to_as_of(day: pl.Expr) -> pl.Expr:
        return (pl.lit(as_of) - day).dt.total_days()

    def known(column: str) -> pl.Expr:
        return pl.when(pl.col(column) <= as_of).then(pl.col(column))

    def latest(id_column: str) -> pl.Expr:
        # A sortable "day + id" key: max_by streams, a struct key or sort_by().last() does not.
        return pl.concat_str(pl.col("day").dt.to_string("%Y-%m-%d"), pl.col(id_column))

    day = pl.col("day")
    accounts = scan("accounts", "start_date", "close_date").filter(
        (pl.col("start_date") <= as_of) & (pl.col("close_date").is_null() | (pl.col("close_date") > as_of))
    )
    kind = pl.col("event_type")
    event_aggs: list[pl.Expr] = []
    for event in ("missed_pickup", "late_pickup", "overage", "contamination", "damaged_container"):
        for days in (30, 90, 365):
            event_aggs.append(((kind == event) & since(day, days)).sum().alias(f"{event}s_{days}d"))
        event_aggs.append(days_to_as_of(pl.when(kind == event).then(day).max()).alias(f"days_since_{event}"))
    audit = kind == "fill_audit"
    events = (
        scan("service_events", "event_date")
        .rename({"event_date": "day"})
        .filter(day <= as_of)
        .with_columns(pl.when(audit).then(latest("event_id")).alias("audit_key"))
        .group_by("account_id")
        .agg(
            *event_aggs,
            pl.col("fill_pct").max_by("audit_key").alias("fill_pct_last"),
            pl.when(audit & since(day, 365)).then(pl.col("fill_pct")).mean().alias("fill_pct_mean_365d"),
        )
    )
    paid, due = pl.col("paid"), pl.col("due_date")
    late = (paid > due).fill_null(False) | (paid.is_null() & (due < as_of))
    invoices = (
        scan("invoices", "invoice_date", "due_date", "paid_date")
        .filter(pl.col("invoice_date") <= as_of)
        .with_columns(known("paid_date").alias("paid"))
        .group_by("account_id")
        .agg(
            (late & since(pl.col("invoice_date"), 90)).sum().alias("late_invoices_90d"),
            (late & since(pl.col("invoice_date"), 365)).sum().alias("late_invoices_365d"),
            days_to_as_of(pl.when(paid.is_null() & (due < as_of)).then(due).min()).fill_null(0).alias("days_past_due"),
        )
    )
    topic = pl.col("contact_type")
    contacts = (
        scan("contacts", "contact_date", "resolved_date")
        .rename({"contact_date": "day"})
        .filter(day <= as_of)
        .group_by("account_id")
        .agg(
            ((topic == "billing_dispute") & since(day, 365)).sum().alias("billing_disputes_365d"),
            ((topic == "complaint") & since(day, 90)).sum().alias("complaints_90d"),
            ((topic == "complaint") & since(day, 365)).sum().alias("complaints_365d"),
            (pl.col("escalated") & since(day, 365)).sum().alias("escalations_365d"),
            known("resolved_date").is_null().sum().alias("unresolved_contacts"),
        )
    )
    requests = (
        scan("cancellation_requests", "request_date")
        .rename({"request_date": "day"})
        .filter(day <= as_of)
        .group_by("account_id")
        .agg(since(day, 365).sum().alias("prior_requests_365d"), pl.len().alias("prior_requests"))
    )
    lines = scan("service_lines", "start_date", "end_date").filter(
        (pl.col("start_date") <= as_of) & (pl.col("end_date").is_null() | (pl.col("end_date") > as_of))
    )
    line_features = lines.group_by("account_id").agg(
        pl.len().alias("lines"),
        pl.col("stream").n_unique().alias("streams"),
        (pl.col("stream") == "recycling").any().alias("has_recycling"),
        (pl.col("stream") == "organics").any().alias("has_organics"),
        pl.col("container_yards").max().alias("max_container_yards"),
        pl.col("pickups_per_week").sum().alias("pickups_per_week"),
        (pl.col("container_yards") * pl.col("pickups_per_week")).sum().round(3).alias("weekly_capacity_yards"),
        pl.col("is_lease").fill_null(False).any().alias("has_lease"),
    )
    changes = scan("rate_changes", "effective_date").rename({"effective_date": "day"}).filter(day <= as_of)
    cutoffs = {"rate_now": 0, "rate_90d": 90, "rate_365d": 365}
    rates = (
        changes.with_columns(latest("change_id").alias("key"))
        .with_columns(
            pl.when(day <= as_of - timedelta(days=d)).then("key").alias(f"key_{n}") for n, d in cutoffs.items()
        )
        .group_by("line_id")
        .agg(pl.col("new_rate").max_by(f"key_{name}").alias(name) for name in cutoffs)
    )
    revenue = (
        lines.join(rates, on="line_id", how="left")
        .group_by("account_id")
        .agg(pl.coalesce(n, "monthly_rate").sum().round(2).alias(n) for n in cutoffs)
        .rename({"rate_now": "monthly_revenue"})
    )
    surcharge = pl.col("change_type").is_in(["fuel_surcharge", "environmental_fee"])
    increases = (
        changes.filter(
            pl.col("change_type").is_in(["annual_increase", "fuel_surcharge", "environmental_fee"])
            & (pl.col("new_rate") > pl.col("old_rate"))
        )
        .group_by("account_id", "day")
        .agg((pl.col("new_rate") / pl.col("old_rate") - 1).mean().alias("pct"), surcharge.any().alias("surcharge"))
        .group_by("account_id")
        .agg(
            days_to_as_of(day.max()).alias("days_since_increase"),
            pl.col("pct").max_by("day").round(6).alias("last_increase_pct"),
            (pl.col("surcharge") & since(day, 365)).sum().alias("surcharges_365d"),
        )
    )

    def change(then: str) -> pl.Expr:
        return pl.when(pl.col(then) > 0).then(pl.col("monthly_revenue") / pl.col(then) - 1)

    price = revenue.join(increases, on="account_id", how="left").select(
        "account_id",
        "monthly_revenue",
        change("rate_90d").alias("rate_change_pct_90d"),
        change("rate_365d").alias("rate_change_pct_365d"),
        "days_since_increase",
        "last_increase_pct",
        "surcharges_365d",
    )
    frame = accounts.select("account_id")
    for part in (events, invoices, contacts, requests, line_features, price):
        frame = frame.join(part, on="account_id", how="left")
    schema = frame.collect_schema()
    fills = [pl.col(n).fill_null(0).cast(pl.Int64) for n, t in schema.items() if t in (pl.UInt32, pl.UInt64)]
    fills += [pl.col(n).fill_null(False) for n, t in schema.items() if t == pl.Boolean]
    return frame.with_columns(fills).sort("account_id").collect(engine="streaming")
