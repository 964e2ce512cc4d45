"""Billing features from the invoices: how recently, how regularly and how much an account is billed.

A bare billing export (accounts and invoices) is enough for these: billing stops some weeks before a customer
who leaves without calling is gone, and a bill that grows or shrinks says what the rate and the concessions
did. The invoice table carries totals only, so a credit or an adjustment shows as a bill well below the one
before it (``bill_reductions_365d``).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from features.account import days_between
from features.view import Tables

REDUCTION = 0.10
"""A bill at least this much below the account's previous one counts as a reduction (a credit, an adjustment,
a rollback)."""


def _since(column: str, as_of: date, days: int) -> pl.Expr:
    return pl.col(column) > as_of - timedelta(days=days)


def _month(day: pl.Expr) -> pl.Expr:
    """A date's month as a running index (year × 12 + month − 1)."""
    return (day.dt.year().cast(pl.Int64) * 12 + day.dt.month().cast(pl.Int64) - 1).cast(pl.Int64)


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def extract_first_invoice(view: Tables) -> date | None:
    """The extract's first invoice date in ``view`` (None without invoices): a figure of the whole book."""
    first = view["invoices"].select(pl.col("invoice_date").min()).collect(engine="streaming").item()
    return first if isinstance(first, date) else None


def billing_features(view: Tables, as_of: date, first_invoice: date | None = None) -> pl.LazyFrame:
    """Recency and regularity of billing, the bill's level, trend and reductions, and late payments.

    ``first_invoice`` is the extract's first invoice date over the whole book (``extract_first_invoice``): an
    account shard built alone is given the book's, so its months billed count from the same month.
    """
    invoices = view["invoices"]
    columns = set(invoices.collect_schema().names())
    day, amount = pl.col("invoice_date"), pl.col("amount")
    recent, year = _since("invoice_date", as_of, 90), _since("invoice_date", as_of, 365)
    earlier = year & ~recent
    previous = amount.shift(1).over("account_id", order_by=["invoice_date", "invoice_id"])
    reduced = (previous > 0) & (amount <= previous * (1 - REDUCTION))
    aggregates = [
        days_between(as_of, day.max()).alias("days_since_invoice"),
        pl.when(_month(day) > pl.col("_first_month")).then(_month(day)).n_unique().alias("_billed_months"),
        pl.col("_first_month").first(),
        amount.sort_by(day).last().alias("invoice_amount_last"),
        pl.when(recent).then(amount).mean().alias("_recent_mean"),
        pl.when(earlier).then(amount).mean().alias("_earlier_mean"),
        (pl.col("_reduced") & year).sum().cast(pl.Int64).alias("bill_reductions_365d"),
    ]
    if {"due_date", "paid_date"} <= columns:
        paid, due = pl.col("paid_date"), pl.col("due_date")
        late = (paid > due) | (paid.is_null() & (due < as_of))
        aggregates += [
            (late & recent).sum().cast(pl.Int64).alias("late_invoices_90d"),
            (late & year).sum().cast(pl.Int64).alias("late_invoices_365d"),
            days_between(as_of, due.filter(paid.is_null() & (due < as_of)).min()).fill_null(0).alias("days_past_due"),
        ]
    # The months a customer in service is billed: those after the latest of the year's start, the account's
    # first month and the extract's first billed month (a short extract is not a gap in billing).
    starts = view["accounts"].select("account_id", _month(pl.col("start_date")).alias("_start_month"))
    window_start = max(_month_index(as_of) - 12, 0)
    first_billed = (
        invoices.select(_month(day.min()).alias("_extract_month"))
        if first_invoice is None
        else pl.LazyFrame({"_extract_month": [_month_index(first_invoice)]}, schema={"_extract_month": pl.Int64})
    )
    return (
        invoices.with_columns(reduced.fill_null(False).alias("_reduced"))
        .join(starts, on="account_id", how="left")
        .join(first_billed, how="cross")
        .with_columns(pl.max_horizontal("_start_month", "_extract_month", pl.lit(window_start)).alias("_first_month"))
        .group_by("account_id")
        .agg(aggregates)
        .with_columns(
            (pl.lit(_month_index(as_of)) - pl.col("_first_month") - pl.col("_billed_months").cast(pl.Int64))
            .clip(lower_bound=0)
            .cast(pl.Int64)
            .alias("unbilled_months_365d")
        )
        .drop("_billed_months", "_first_month")
        .with_columns(
            pl.when(pl.col("_earlier_mean") > 0)
            .then(pl.col("_recent_mean") / pl.col("_earlier_mean") - 1)
            .otherwise(None)
            .round(6)
            .alias("bill_change_pct_365d")
        )
        .drop("_recent_mean", "_earlier_mean")
    )
