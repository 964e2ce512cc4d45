"""Features of the desk's own proactive calls (the optional ``proactive_calls`` table).

A call acts on the account for some months after it is made (``sources.simulator.calls``), so
"called lately" explains part of the next months' churn that the account's troubles alone do not;
without the table these features are absent (``features.build``), never zeros.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from features.account import days_between
from features.view import Tables


def call_features(view: Tables, as_of: date) -> pl.LazyFrame:
    """Days since the latest proactive call that reached the customer, and calls in the last 90 and 365 days."""
    calls = view["proactive_calls"]
    if "outcome" in calls.collect_schema().names():
        calls = calls.filter(pl.col("outcome").is_null() | (pl.col("outcome") == "reached"))
    day = pl.col("call_date")
    return calls.group_by("account_id").agg(
        days_between(as_of, day.max()).alias("days_since_proactive_call"),
        (day > as_of - timedelta(days=90)).sum().cast(pl.Int64).alias("proactive_calls_90d"),
        (day > as_of - timedelta(days=365)).sum().cast(pl.Int64).alias("proactive_calls_365d"),
    )
