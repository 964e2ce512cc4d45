"""Labels: what happened after the as-of date (the only place that looks forward).

- **Churn**, by ``LabelSpec.definition``:

  - ``request_or_close`` (the default): the account asked to cancel, or
    closed, in ``(as_of + lead, as_of + lead + horizon]``;
  - ``no_billing``: the account, billed in the ``no_billing_days`` up to
    ``as_of``, is billed nothing in the ``no_billing_days`` ending on the
    window's last day: its billing stopped inside the window, whether it called,
    closed, or left without a word (a customer who never calls the desk). An
    account already unbilled for ``no_billing_days`` on ``as_of`` is gone, not
    at risk, and has no label.
- **Durable save**: for a cancellation request, the account is still active and
  still billed ``durable_days`` after the request, whatever the call's recorded
  outcome (a cancel followed by a re-sign is a save; a save lost within the
  window is not).

A label exists only when its whole window lies inside the extract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, get_args

import polars as pl

from features.view import Tables, as_of_view

ChurnDefinition = Literal["request_or_close", "no_billing"]
CHURN_DEFINITIONS: tuple[str, ...] = get_args(ChurnDefinition)
"""What churn means (``churn.definition`` in the settings)."""


class LabelWindowError(ValueError):
    """The label window of an as-of date runs past the end of the data."""


class LabelSourceError(ValueError):
    """The churn definition needs a table the extract does not have; the message names the setting to change."""


@dataclass(frozen=True)
class LabelSpec:
    """How far ahead labels look.

    Attributes:
        horizon_days: Length of the churn window.
        lead_days: Gap between the as-of date and the window's start (time the
            desk needs to act).
        durable_days: Days a saved account must stay active and billed.
        definition: What churn means: a request or a close (``request_or_close``), or billing that stops
            (``no_billing``).
        no_billing_days: Under ``no_billing``, the days without an invoice that mean the customer has gone.
    """

    horizon_days: int = 90
    lead_days: int = 0
    durable_days: int = 90
    definition: ChurnDefinition = "request_or_close"
    no_billing_days: int = 60

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
    active = as_of_view(tables, as_of)["accounts"].filter(pl.col("close_date").is_null()).select("account_id")
    if spec.definition == "no_billing":
        active, events = _billing_stops(tables, as_of, end, spec.no_billing_days, active)
    else:
        in_window = pl.col("day").is_between(start, end, closed="right")
        closures = tables["accounts"].select("account_id", pl.col("close_date").alias("day"))
        if "cancellation_requests" in tables:
            requests = tables["cancellation_requests"].select("account_id", pl.col("request_date").alias("day"))
            closures = pl.concat([requests, closures])
        events = closures.filter(in_window).select("account_id").unique()
    labelled = active.join(events.with_columns(pl.lit(True).alias("churn")), on="account_id", how="left")
    return labelled.with_columns(pl.col("churn").fill_null(False)).sort("account_id").collect()


def _billing_stops(
    tables: Tables, as_of: date, end: date, days: int, active: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The accounts billed in the ``days`` up to ``as_of``, and those of them unbilled in the ``days`` to ``end``."""
    if "invoices" not in tables:
        raise LabelSourceError(
            "churn.definition is no_billing but the extract has no invoices table: export invoices.parquet"
            " (or .csv) into the raw folder, or set churn.definition = request_or_close."
        )
    invoiced = tables["invoices"].select("account_id", "invoice_date")

    def billed(first: date, last: date) -> pl.LazyFrame:
        days_billed = invoiced.filter(pl.col("invoice_date").is_between(first, last, closed="right"))
        return days_billed.select("account_id").unique()

    billed_before = active.join(billed(as_of - timedelta(days=days), as_of), on="account_id", how="semi")
    stopped = billed_before.join(billed(end - timedelta(days=days), end), on="account_id", how="anti")
    return billed_before, stopped


def durable_save_labels(tables: Tables, extract_end: date, spec: LabelSpec = DEFAULT_LABELS) -> pl.DataFrame:
    """Durable-save label of every cancellation request whose window lies inside the data.

    Active means not closed by ``request_date + durable_days``; billed means,
    when invoices are present, an invoice issued in the 31 days ending then (a
    monthly biller issues one in any 31 days).

    Returns:
        ``request_id``, ``account_id``, ``request_date`` and ``durable_save`` (bool).
    """
    days = spec.durable_days
    if "cancellation_requests" not in tables:  # no request, nothing to label
        return pl.DataFrame(
            schema={
                "request_id": pl.String,
                "account_id": pl.String,
                "request_date": pl.Date,
                "durable_save": pl.Boolean,
            }
        )
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
