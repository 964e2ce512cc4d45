"""Labels: what happened after the as-of date (the only place that looks forward).

- **Churn**: the account asked to cancel, or closed, in ``(as_of + lead,
  as_of + lead + horizon]``.
- **Durable save**: for a cancellation request, the account is still active and
  still billed ``durable_days`` after the request, whatever the call's recorded
  outcome (a cancel followed by a re-sign is a save; a save lost within the
  window is not).

A label exists only when its whole window lies inside the extract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from features.view import Tables, as_of_view


class LabelWindowError(ValueError):
    """The label window of an as-of date runs past the end of the data."""


@dataclass(frozen=True)
class LabelSpec:
    """How far ahead labels look.

    Attributes:
        horizon_days: Length of the churn window.
        lead_days: Gap between the as-of date and the window's start (time the
            desk needs to act).
        durable_days: Days a saved account must stay active and billed.
    """

    horizon_days: int = 90
    lead_days: int = 0
    durable_days: int = 90

    def window(self, as_of: date) -> tuple[date, date]:
        """The churn window ``(start, end]`` of an as-of date."""
        start = as_of + timedelta(days=self.lead_days)
        return start, start + timedelta(days=self.horizon_days)

    def last_labelled_as_of(self, extract_end: date) -> date:
        """The latest as-of date whose churn window lies inside the extract."""
        return extract_end - timedelta(days=self.lead_days + self.horizon_days)


DEFAULT_LABELS = LabelSpec()
"""90-day churn window starting on the as-of date; 90 days to call a save durable."""


def churn_labels(tables: Tables, as_of: date, extract_end: date, spec: LabelSpec = DEFAULT_LABELS) -> pl.DataFrame:
    """Churn label of every account in service on ``as_of``.

    Args:
        tables: The full tables (labels look past ``as_of`` by design).
        as_of: The as-of date of the features the labels go with.
        extract_end: Last day of the data.
        spec: Horizon and lead.

    Returns:
        ``account_id`` and ``churn`` (bool), sorted by ``account_id``.

    Raises:
        LabelWindowError: The window runs past ``extract_end``.
    """
    start, end = spec.window(as_of)
    if end > extract_end:
        raise LabelWindowError(
            f"as-of {as_of}: its label window ({start}, {end}] runs past the end of the data ({extract_end});"
            f" the latest labelled as-of date is {spec.last_labelled_as_of(extract_end)}."
        )
    in_window = pl.col("day").is_between(start, end, closed="right")
    requests = tables["cancellation_requests"].select("account_id", pl.col("request_date").alias("day"))
    closures = tables["accounts"].select("account_id", pl.col("close_date").alias("day"))
    events = pl.concat([requests, closures]).filter(in_window).select("account_id").unique()
    active = as_of_view(tables, as_of)["accounts"].filter(pl.col("close_date").is_null()).select("account_id")
    labelled = active.join(events.with_columns(pl.lit(True).alias("churn")), on="account_id", how="left")
    return labelled.with_columns(pl.col("churn").fill_null(False)).sort("account_id").collect()


def durable_save_labels(tables: Tables, extract_end: date, spec: LabelSpec = DEFAULT_LABELS) -> pl.DataFrame:
    """Durable-save label of every cancellation request whose window lies inside the data.

    Active means not closed by ``request_date + durable_days``; billed means,
    when invoices are present, an invoice issued in the 31 days ending then (a
    monthly biller issues one in any 31 days).

    Returns:
        ``request_id``, ``account_id``, ``request_date`` and ``durable_save`` (bool).
    """
    days = spec.durable_days
    requests = (
        tables["cancellation_requests"]
        .select("request_id", "account_id", "request_date")
        .with_columns((pl.col("request_date") + timedelta(days=days)).alias("checked_on"))
        .filter(pl.col("checked_on") <= extract_end)
    )
    closes = tables["accounts"].select("account_id", "close_date")
    frame = requests.join(closes, on="account_id", how="left").with_columns(
        (pl.col("close_date").is_null() | (pl.col("close_date") > pl.col("checked_on"))).alias("active")
    )
    if "invoices" in tables:
        billed = (
            requests.select("request_id", "account_id", "checked_on")
            .join(tables["invoices"].select("account_id", "invoice_date"), on="account_id")
            .filter(pl.col("invoice_date").is_between(pl.col("checked_on") - timedelta(days=30), pl.col("checked_on")))
            .select("request_id")
            .unique()
            .with_columns(pl.lit(True).alias("billed"))
        )
        frame = frame.join(billed, on="request_id", how="left").with_columns(pl.col("billed").fill_null(False))
    else:
        frame = frame.with_columns(pl.lit(True).alias("billed"))
    return (
        frame.select(
            "request_id", "account_id", "request_date", (pl.col("active") & pl.col("billed")).alias("durable_save")
        )
        .sort("request_id")
        .collect()
    )
