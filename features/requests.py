"""Cancellation requests as decisions: what the desk knew, what the rep offered, what happened.

A request is decided on what was known the night before. For training, each
request gets the features of the month end before its request date (one feature
build per month instead of one per day; the staleness is at most a month and is
the same for every request). Each row carries the account's features, its city,
its biggest line in service (what a right-size would change), the request's
reason, the rep and the catalog offer of the first inside-sales attempt
(``rollback`` with its size becomes ``rollback_<pct>``), and the durable-save
label when its window lies inside the data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pandas as pd
import polars as pl

from features.build import build_features, features_of, only
from features.labels import DEFAULT_LABELS, LabelSpec, durable_save_labels
from features.view import Tables, as_of_view

REQUEST_COLUMNS = ("request_id", "account_id", "request_date", "reason", "decided_as_of")
"""The request's identity and the as-of date of the features it was decided on."""

BIGGEST_LINE_COLUMNS = ("biggest_stream", "biggest_container", "biggest_yards", "biggest_pickups", "biggest_is_lease")
"""An account's biggest line in service: the one a right-size would change."""

LOGGED_COLUMNS = ("rep_id", "offer", "durable_save")
"""What the historical desk did and what came of it (``durable_save`` is missing while its window is open)."""


def month_end_before(day: date) -> date:
    """The last day of the month before ``day``'s month."""
    return day.replace(day=1) - timedelta(days=1)


def catalog_offer(offer: pd.Series, rollback_pct: pd.Series) -> pd.Series:
    """The catalog offer of logged attempts: a ``rollback`` of 10 % is ``rollback_10`` (none: an empty text column)."""
    pct = pd.to_numeric(rollback_pct, errors="coerce").fillna(0.0)
    sized = pd.Series([f"rollback_{p:g}" for p in pct.tolist()], index=offer.index, dtype=object)
    return pd.Series(np.where(offer == "rollback", sized, offer.astype(object)), index=offer.index, dtype=object)


def logged_offers(tables: Tables) -> pd.DataFrame:
    """Each request's first inside-sales attempt: ``request_id``, ``rep_id`` and the catalog ``offer``.

    An extract without ``save_attempts`` logged no offer: the frame is empty, its columns text.
    """
    if "save_attempts" not in tables:
        return pd.DataFrame({column: pd.Series([], dtype=object) for column in ("request_id", "rep_id", "offer")})
    attempts = (
        tables["save_attempts"]
        .filter(pl.col("rep_channel") == "inside_sales")
        .sort("attempt_date", "attempt_id")
        .group_by("request_id", maintain_order=True)
        .first()
        .select("request_id", "rep_id", "offer", "rollback_pct")
        .collect()
        .to_pandas()
    )
    attempts["offer"] = catalog_offer(attempts["offer"], attempts["rollback_pct"])
    return attempts.drop(columns="rollback_pct")


def biggest_lines(service_lines: pd.DataFrame) -> pd.DataFrame:
    """Each account's biggest line in service (yards × pickups a week), the one a right-size changes.

    Args:
        service_lines: The ``service_lines`` table as of the decision date; lines
            with an ``end_date`` are over and ignored.

    Returns:
        One row per account: ``account_id`` and ``BIGGEST_LINE_COLUMNS``.
    """
    lines = service_lines
    if "end_date" in lines:
        lines = lines[lines["end_date"].isna()]
    lease = lines["is_lease"].fillna(False) if "is_lease" in lines else pd.Series(False, index=lines.index)
    lines = lines.assign(
        capacity=lines["container_yards"] * lines["pickups_per_week"], is_lease=lease.astype(bool)
    ).sort_values(["account_id", "capacity", "line_id"], ascending=[True, False, True])
    first = lines.drop_duplicates("account_id")
    return pd.DataFrame({
        "account_id": first["account_id"].to_numpy(),
        "biggest_stream": first["stream"].to_numpy(),
        "biggest_container": first["container_type"].to_numpy(),
        "biggest_yards": first["container_yards"].to_numpy(dtype=float),
        "biggest_pickups": first["pickups_per_week"].to_numpy(dtype=float),
        "biggest_is_lease": first["is_lease"].to_numpy(dtype=bool),
    })  # fmt: skip


def account_context(tables: Tables, as_of: date, features: pl.DataFrame | None = None) -> pd.DataFrame:
    """Every account in service on ``as_of``: its features, its city and its biggest line.

    Args:
        tables: The tables (``features.view.scan_tables``).
        as_of: The decision's as-of date.
        features: ``build_features(tables, as_of)`` when already built.

    Returns:
        One row per account in service, sorted by ``account_id``.
    """
    view = as_of_view(tables, as_of)
    built = features if features is not None else build_features(tables, as_of)
    frame = built.to_pandas(use_pyarrow_extension_array=False)
    city = view["accounts"].select("account_id", "city").collect().to_pandas()
    frame = frame.merge(city, on="account_id", how="left").merge(_stand_ins(view, frame), on="account_id", how="left")
    if "service_lines" not in view:  # no line on record: nothing a right-size or an added stream could change
        return frame.assign(**{column: None for column in BIGGEST_LINE_COLUMNS}, as_of=pd.Timestamp(as_of))
    lines = view["service_lines"].collect().to_pandas(date_as_object=False)
    frame = frame.merge(biggest_lines(lines), on="account_id", how="left")
    return frame.assign(as_of=pd.Timestamp(as_of))


SIZE_COLUMNS = ("monthly_revenue", "lines", "weekly_capacity_yards")
"""What an offer's economics read of an account (``models.offers.offer_terms``): present even when the tables
that give them as features (rate_changes, service_lines) are absent."""


def _stand_ins(view: Tables, features: pd.DataFrame) -> pd.DataFrame:
    """The size columns the features lack: revenue as the latest invoice (if any), lines and capacity empty.

    Never zero: an unknown size is not a small one.
    """
    stand_ins = pd.DataFrame({"account_id": features["account_id"]})
    for column in SIZE_COLUMNS:
        if column not in features.columns:
            stand_ins[column] = np.nan
    if "monthly_revenue" in features.columns or "invoices" not in view:
        return stand_ins
    latest = (
        view["invoices"]
        .group_by("account_id")
        .agg(pl.col("amount").sort_by("invoice_date").last().alias("billed"))
        .collect()
        .to_pandas()
    )
    stand_ins = stand_ins.merge(latest, on="account_id", how="left")
    return stand_ins.assign(monthly_revenue=stand_ins.pop("billed").astype(float))


def request_decisions(
    tables: Tables,
    extract_end: date,
    start: date,
    end: date,
    spec: LabelSpec = DEFAULT_LABELS,
    contexts: dict[date, pd.DataFrame] | None = None,
    territory: Callable[[date], pl.DataFrame | None] | None = None,
    first_invoice: Callable[[date], date | None] | None = None,
) -> pd.DataFrame:
    """Every answered cancellation request dated in ``[start, end]`` with the context it was decided on.

    Args:
        tables: The full tables (labels look past the request by design).
        extract_end: Last day of the data.
        start: First request date.
        end: Last request date.
        spec: How long a save must last to be durable.
        contexts: ``account_context`` frames of the whole book by as-of date, reused when given (and filled
            in); without it each month's context is built for that month's requesting accounts alone (their own
            rows, the book's territory figures: ``features.build.features_of``), joined and dropped.
        territory: The book's territory figures as of a date, when the caller computes them (by account shard);
            default: from the whole tables at once.
        first_invoice: The extract's first invoice as of a date (``features.build.book_start`` of the book),
            when the caller finds it; default: from ``tables``. With it and ``territory``, ``tables`` may be one
            account shard's: every other figure of a request is its account's own.

    Returns:
        ``REQUEST_COLUMNS``, ``LOGGED_COLUMNS``, then the account context
        columns; one row per request with an inside-sales attempt whose account
        was in service at the month end before the request; sorted by request.
    """
    if "cancellation_requests" not in tables:
        empty = {column: pd.Series([], dtype=object) for column in ("request_id", "account_id", "reason", "rep_id")}
        return pd.DataFrame({
            **empty,
            "request_date": pd.Series([], dtype="datetime64[ns]"),
            "decided_as_of": pd.Series([], dtype="datetime64[ns]"),
            "offer": pd.Series([], dtype=object),
            "durable_save": pd.Series([], dtype="boolean"),
        })[[*REQUEST_COLUMNS, *LOGGED_COLUMNS]]  # fmt: skip
    requests = (
        tables["cancellation_requests"]
        .filter(pl.col("request_date").is_between(start, end))
        .select("request_id", "account_id", "request_date", "reason")
        .collect()
        .to_pandas(date_as_object=False)
    )
    requests = requests.merge(logged_offers(tables), on="request_id", how="inner")
    labels = durable_save_labels(tables, extract_end, spec).select("request_id", "durable_save").to_pandas()
    requests = requests.merge(labels, on="request_id", how="left")
    requests["durable_save"] = requests["durable_save"].astype("boolean")
    requests["decided_as_of"] = pd.to_datetime(
        pd.Series([month_end_before(d.date()) for d in requests["request_date"]], index=requests.index, dtype=object)
    )
    parts = []
    for key, group in requests.groupby("decided_as_of", sort=True):
        as_of = pd.Timestamp(str(key)).date()
        if contexts is None:  # the month's requesting accounts alone: the rows of the book's context
            asking = pl.DataFrame(
                {"account_id": group["account_id"].unique().tolist()}, schema={"account_id": pl.String}
            )
            figures = territory(as_of) if territory is not None else None
            opened = first_invoice(as_of) if first_invoice is not None else None
            built = features_of(tables, as_of, asking, territory=figures, first_invoice=opened)
            context = account_context(only(tables, asking), as_of, built)
        else:
            kept = contexts.get(as_of)
            context = account_context(tables, as_of) if kept is None else kept
            contexts[as_of] = context
        parts.append(group.merge(context.drop(columns="as_of"), on="account_id", how="inner"))
        del context
    first = [*REQUEST_COLUMNS, *LOGGED_COLUMNS]
    if not parts:  # no decision: the same columns, in their types
        return requests.iloc[0:0][first].reset_index(drop=True)
    out = pd.concat(parts, ignore_index=True).sort_values("request_id", ignore_index=True)
    return out[first + [c for c in out.columns if c not in first]]


def why_no_decisions(
    tables: Tables, extract_end: date, start: date, end: date, spec: LabelSpec = DEFAULT_LABELS
) -> str:
    """Why no request dated in ``[start, end]`` can teach the save model, in words a person can act on.

    Args:
        tables: The full tables.
        extract_end: Last day of the data.
        start: First request date looked at.
        end: Last request date looked at.
        spec: How long a save must last to be durable.

    Returns:
        A sentence: what the save model needs and which part of the extract lacks it.
    """
    window = f"between {start} and {end}"
    if "cancellation_requests" not in tables:
        return (
            "The save model was not trained: the extract has no cancellation_requests table (or it has no rows),"
            " so no request and no rep's offer is on record. The churn model does not need them; the lists"
            " are ranked by churn risk alone."
        )
    requests = tables["cancellation_requests"].filter(pl.col("request_date").is_between(start, end))
    asked = requests.select(pl.len()).collect().item()
    if asked == 0:
        cause = f"no cancellation request is dated {window}"
    elif "save_attempts" not in tables:
        cause = "the extract has no save_attempts table (or it has no rows), so no rep's offer is on record"
    elif logged_offers(tables).empty:
        cause = "save_attempts holds no inside-sales attempt, so no rep's offer is on record"
    else:
        cause = (
            f"none of the {asked:,} requests {window} has an inside-sales attempt, an account in service the"
            f" month before, and a {spec.durable_days}-day window ending by {extract_end}"
        )
    return (
        f"The save model was not trained: {cause}. It learns from the offers reps made on answered requests;"
        " the churn model does not need them."
    )
