"""Recorded outcomes as the contract's tables: what reps record this week, the save model learns from next week.

Each outcome that answers a cancellation request becomes a ``save_attempts``
row (``attempt_id`` ``desk-<outcome_id>``, which no extract uses) and its
request's resolution: the customer accepted → ``saved`` on the call date;
declined and not flipped → ``cancelled`` on the call date; flipped to the outside
save specialist → still ``open`` (the specialist's own outcome, recorded later,
resolves it). When a request has several outcomes, the latest word wins, and it
also wins over the extract's resolution when it is not older. An outcome that
carries the ``offer_propensity`` of the published row it followed (the desk's
randomized offer, ``models.exploration``) keeps it as the attempt's
``propensity``; the save model and the policy's valuation weight by it.

Only outcomes that stand feed training (``serving.outcomes.STANDING``): one
awaiting a manager's approval (beyond the rep's authority or the price floor)
or rejected by one is skipped and counted, so no held concession is ever
learned as a save; once approved it is placed like any other.

A proactive outcome (no ``request_id``) stays in the outcomes store only:
``save_attempts`` rows answer a request (its ``request_id`` is required), and
inventing a request would put a cancellation into the data that the customer
never asked for.

An outcome the extract cannot place is skipped and counted, never fatal to a
training run: an unknown account or request, a request of another account,
a call dated before its request or after the extract's last day (it waits for
the next extract), or an account with no monthly rate to fill a missing
``new_monthly_rate`` from. So is a stored row the desk would refuse today
(``serving.outcomes.OutcomeIn``): written before a rule existed, or by hand;
one bad outcome must never stop the desk.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from pydantic import ValidationError

from features.price import price_features
from features.view import Tables, as_of_view, from_frames
from serving.outcomes import EARLIEST_CALL_DATE, OUTCOME_FIELDS, STANDING, Approval, OutcomeIn, latest_call_date

log = logging.getLogger(__name__)

ATTEMPT_PREFIX = "desk-"
"""Prefix of the attempt ids of recorded outcomes; extract ids never start with it."""

RESOLUTION_COLUMNS = ("request_id", "account_id", "resolution", "resolved_date", "answered_on")
"""The request updates: the contract's resolution columns, and the call date of the word that set them."""


@dataclass(frozen=True)
class FeedReport:
    """What the outcomes added to the tables, and what they could not place (counts only: no identifiers)."""

    attempts: int = 0
    resolutions: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def outcome_tables(
    outcomes: pd.DataFrame,
    monthly_revenue: Mapping[str, float] | None = None,
    handed_over: Collection[str] = (),
) -> dict[str, pd.DataFrame]:
    """The ``save_attempts`` rows and request resolutions of recorded outcomes.

    Args:
        outcomes: ``OutcomesStore.outcomes()`` (or rows of it).
        monthly_revenue: Each account's current monthly rate, to fill a
            ``new_monthly_rate`` the rep left empty (less the rollback, for a
            rollback: the rate the account pays if it accepts).
        handed_over: Requests the extract shows already flipped to the outside
            specialist: outcomes recorded on them are the specialist's.

    Returns:
        ``save_attempts`` (the contract's columns; proactive outcomes left out)
        and ``cancellation_requests`` (``RESOLUTION_COLUMNS``, one row per
        answered request).
    """
    answered = outcomes[outcomes["request_id"].notna()]
    answered = answered.sort_values(["call_date", "outcome_id"], kind="stable").reset_index(drop=True)
    flipped = answered["flipped"].astype(bool) | (answered["offer"] == "flip")
    # The first flip of a request hands it over: every later outcome on it is the specialist's.
    flipped_before = flipped.groupby(answered["request_id"]).transform(lambda f: f.shift(fill_value=False).cummax())
    specialist = flipped_before.astype(bool) | answered["request_id"].isin(list(handed_over))
    rollback = answered["rollback_pct"].astype(float)
    revenue = answered["account_id"].map(dict(monthly_revenue or {})).astype(float)
    rollback_rate = (revenue * (1 - rollback / 100)).round(2)
    attempts = pd.DataFrame({
        "attempt_id": [f"{ATTEMPT_PREFIX}{int(i):010d}" for i in answered["outcome_id"]],
        "request_id": answered["request_id"].astype(str),
        "account_id": answered["account_id"].astype(str),
        "attempt_date": pd.to_datetime(answered["call_date"]).astype("datetime64[ns]"),
        "rep_id": answered["rep_id"].where(answered["rep_id"].notna(), answered["user_name"]).astype(str),
        "rep_channel": np.where(specialist, "outside_specialist", "inside_sales"),
        "offer": answered["offer"].astype(str),
        "rollback_pct": rollback,
        "credit_amount": answered["credit_amount"].astype(float),
        "new_monthly_rate": answered["new_monthly_rate"].astype(float).fillna(rollback_rate),
        "new_term_months": answered["new_term_months"].astype("Int64"),
        "accepted": answered["accepted"].astype(bool),
    })  # fmt: skip
    if "offer_propensity" in answered:  # the published row's propensity, kept where the rep made its offer
        logged = pd.to_numeric(answered["offer_propensity"], errors="coerce").astype(float)
        attempts["propensity"] = logged.where(~specialist.to_numpy()).to_numpy()
    last = answered.drop_duplicates("request_id", keep="last")
    resolution = np.where(last["accepted"].astype(bool), "saved", np.where(flipped[last.index], "open", "cancelled"))
    day = pd.to_datetime(last["call_date"]).astype("datetime64[ns]")
    requests = pd.DataFrame({
        "request_id": last["request_id"].astype(str).to_numpy(),
        "account_id": last["account_id"].astype(str).to_numpy(),
        "resolution": resolution,
        "resolved_date": day.where(resolution != "open").to_numpy(),
        "answered_on": day.to_numpy(),
    })  # fmt: skip
    return {"save_attempts": attempts, "cancellation_requests": requests}


def merge_outcomes(tables: Tables, outcomes: pd.DataFrame, extract_end: date) -> tuple[Tables, FeedReport]:
    """The tables with the outcomes the extract can place appended and their requests' resolutions updated.

    Args:
        tables: The validated tables (``features.view.scan_tables``).
        outcomes: Every recorded outcome (``OutcomesStore.outcomes()``).
        extract_end: The extract's last day; later calls wait for the next extract.

    Returns:
        The tables (others untouched) and what was merged and skipped.
    """
    skipped: Counter[str] = Counter()
    kept = _placeable(tables, _sound(_standing(outcomes, skipped), skipped), extract_end, skipped)
    missing_rate = kept.loc[kept["new_monthly_rate"].isna(), "account_id"].unique().tolist()
    revenue = _monthly_revenue(tables, extract_end, missing_rate) if missing_rate else {}
    no_rate = kept["new_monthly_rate"].isna() & ~kept["account_id"].isin(list(revenue))
    skipped["account without a monthly rate"] += int(no_rate.sum())
    kept = kept[~no_rate]
    if kept.empty:
        return tables, _reported(FeedReport(skipped=_nonzero(skipped)))
    desk = outcome_tables(kept, revenue, _handed_over(tables, kept["request_id"].unique().tolist()))
    merged = dict(tables)
    merged["save_attempts"] = _appended(tables.get("save_attempts"), desk["save_attempts"])
    merged["cancellation_requests"] = _resolved(tables["cancellation_requests"], desk["cancellation_requests"])
    report = FeedReport(len(desk["save_attempts"]), len(desk["cancellation_requests"]), _nonzero(skipped))
    return merged, _reported(report)


def _standing(outcomes: pd.DataFrame, skipped: Counter[str]) -> pd.DataFrame:
    """The outcomes that stand (within the rules, or approved); pending and rejected ones are skipped and counted.

    A frame without ``approval`` (rows from before approvals existed) stands whole.
    """
    if "approval" not in outcomes.columns:
        return outcomes
    approval = outcomes["approval"].astype(str)
    skipped["awaiting a manager's approval"] += int((approval == Approval.PENDING).sum())
    skipped["rejected by a manager"] += int((approval == Approval.REJECTED).sum())
    skipped["unknown approval"] += int((~approval.isin([*STANDING, Approval.PENDING, Approval.REJECTED])).sum())
    return outcomes[approval.isin(STANDING)]


def _sound(outcomes: pd.DataFrame, skipped: Counter[str]) -> pd.DataFrame:
    """The stored outcomes the desk would accept today; the others are skipped and counted."""
    day = pd.to_datetime(outcomes["call_date"], errors="coerce")
    dated = day.notna() & day.between(pd.Timestamp(EARLIEST_CALL_DATE), pd.Timestamp(latest_call_date()))
    skipped["call date outside the desk's range"] += int((~dated).sum())
    fields = [c for c in OUTCOME_FIELDS if c in outcomes.columns]
    records = outcomes[fields].to_dict("records")
    valid = [ok and _valid({str(f): _plain(v) for f, v in r.items()}) for ok, r in zip(dated, records, strict=True)]
    invalid = dated & ~pd.Series(valid, index=outcomes.index, dtype=bool)
    skipped["not a valid outcome"] += int(invalid.sum())
    return outcomes[dated & ~invalid]


def _valid(fields: dict[str, Any]) -> bool:
    try:
        OutcomeIn.model_validate(fields)
    except ValidationError:
        return False
    return True


def _plain(value: Any) -> Any:
    """A frame's value as the API would have received it: missing as None, days as dates, numpy as Python."""
    if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value.item() if isinstance(value, np.generic) else value


def _placeable(tables: Tables, outcomes: pd.DataFrame, extract_end: date, skipped: Counter[str]) -> pd.DataFrame:
    """The outcomes that answer a request of the extract, on its account, dated within the request's life."""
    proactive = outcomes["request_id"].isna()
    skipped["proactive (kept in the store only)"] += int(proactive.sum())
    rows = outcomes[~proactive]
    known_accounts = set(
        tables["accounts"]
        .filter(pl.col("account_id").is_in(rows["account_id"].unique().tolist()))
        .select("account_id")
        .collect()["account_id"]
        .to_list()
    )
    requests = (
        tables["cancellation_requests"]
        .filter(pl.col("request_id").is_in(rows["request_id"].unique().tolist()))
        .select("request_id", pl.col("account_id").alias("request_account"), "request_date")
        .collect()
        .to_pandas(date_as_object=False)
    )
    rows = rows.merge(requests, on="request_id", how="left")
    day = pd.to_datetime(rows["call_date"])
    checks = {
        "unknown account": ~rows["account_id"].isin(list(known_accounts)),
        "unknown request": rows["request_account"].isna(),
        "request of another account": rows["request_account"].notna() & (rows["request_account"] != rows["account_id"]),
        "dated before its request": day < pd.to_datetime(rows["request_date"]),
        "after the extract's last day": day > pd.Timestamp(extract_end),
    }
    bad = pd.Series(False, index=rows.index)
    for reason, failed in checks.items():
        failed = failed & ~bad  # each outcome counted once, under the first reason
        skipped[reason] += int(failed.sum())
        bad |= failed
    return rows.loc[~bad, list(outcomes.columns)].reset_index(drop=True)


def _monthly_revenue(tables: Tables, as_of: date, accounts: list[str]) -> dict[str, float]:
    """The current monthly rate of ``accounts``: their lines in service, at their latest rates."""
    view = as_of_view({name: tables[name] for name in ("service_lines", "rate_changes") if name in tables}, as_of)
    if "rate_changes" in view and view["rate_changes"].select(pl.len()).collect().item() > 0:
        # The price features over the whole book, then the accounts: the rate query needs a change to aggregate.
        revenue = price_features(view, as_of).select("account_id", "monthly_revenue")
    else:
        lines = view["service_lines"].filter(pl.col("end_date").is_null())
        revenue = lines.group_by("account_id").agg(pl.col("monthly_rate").sum().round(2).alias("monthly_revenue"))
    frame = revenue.filter(pl.col("account_id").is_in(accounts)).collect()
    return {str(a): float(r) for a, r in frame.iter_rows() if r is not None}


def _handed_over(tables: Tables, request_ids: list[str]) -> list[str]:
    """The requests the extract shows flipped to the outside specialist by an inside rep."""
    if "save_attempts" not in tables:
        return []
    return (
        tables["save_attempts"]
        .filter(
            pl.col("request_id").is_in(request_ids)
            & (pl.col("rep_channel") == "inside_sales")
            & (pl.col("offer") == "flip")
        )
        .select("request_id")
        .unique()
        .collect()["request_id"]
        .to_list()
    )


def _appended(attempts: pl.LazyFrame | None, desk: pd.DataFrame) -> pl.LazyFrame:
    """The extract's attempts followed by the desk's, in the extract's column types."""
    rows = from_frames({"save_attempts": desk})["save_attempts"]
    if attempts is None:
        return rows
    schema = attempts.collect_schema()
    rows = rows.with_columns(pl.col(c).cast(schema[c]) for c in rows.collect_schema().names() if c in schema)
    return pl.concat([attempts, rows], how="diagonal_relaxed")


def _resolved(requests: pl.LazyFrame, desk: pd.DataFrame) -> pl.LazyFrame:
    """Requests with the desk's resolution where it is the latest word."""
    updates = pl.from_pandas(desk.drop(columns="account_id")).with_columns(
        pl.col("resolved_date").cast(pl.Date), pl.col("answered_on").cast(pl.Date)
    )
    updates = updates.rename({"resolution": "desk_resolution", "resolved_date": "desk_resolved_date"})
    latest = pl.col("answered_on").is_not_null() & (
        pl.col("resolved_date").is_null() | (pl.col("answered_on") >= pl.col("resolved_date"))
    )
    return (
        requests.join(updates.lazy(), on="request_id", how="left")
        .with_columns(
            pl.when(latest).then(pl.col("desk_resolution")).otherwise(pl.col("resolution")).alias("resolution"),
            pl.when(latest)
            .then(pl.col("desk_resolved_date"))
            .otherwise(pl.col("resolved_date"))
            .alias("resolved_date"),
        )
        .drop("desk_resolution", "desk_resolved_date", "answered_on")
    )


def _nonzero(counts: Counter[str]) -> dict[str, int]:
    return {reason: n for reason, n in counts.items() if n}


def _reported(report: FeedReport) -> FeedReport:
    log.info("Recorded outcomes merged: %d attempts, %d request resolutions", report.attempts, report.resolutions)
    for reason, n in report.skipped.items():
        log.info("Recorded outcomes skipped (%s): %d", reason, n)
    return report
