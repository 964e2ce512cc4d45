"""Account and contract features: who the customer is and where their agreement stands."""

from __future__ import annotations

from datetime import date

import polars as pl

from features.view import Tables

DAYS_PER_MONTH = 30.44


def days_between(later: pl.Expr | date, earlier: pl.Expr | date) -> pl.Expr:
    """Whole days from ``earlier`` to ``later``."""
    later_expr = pl.lit(later) if isinstance(later, date) else later
    earlier_expr = pl.lit(earlier) if isinstance(earlier, date) else earlier
    return (later_expr - earlier_expr).dt.total_days()


def active_accounts(view: Tables, as_of: date) -> pl.LazyFrame:
    """The accounts in service on ``as_of``: started and not (yet known to be) closed."""
    return view["accounts"].filter(pl.col("close_date").is_null()).select("account_id")


def account_features(view: Tables, as_of: date) -> pl.LazyFrame:
    """Tenure, segment, industry, territory, state and the agreement in force."""
    accounts = view["accounts"].filter(pl.col("close_date").is_null())
    columns = set(accounts.collect_schema().names())
    term = pl.col("contract_term_months") if "contract_term_months" in columns else pl.lit(None, pl.Int64)
    auto = pl.col("auto_renew") if "auto_renew" in columns else pl.lit(False)
    industry = pl.col("industry") if "industry" in columns else pl.lit(None, pl.String)
    frame = accounts.select(
        "account_id",
        days_between(as_of, pl.col("start_date")).alias("tenure_days"),
        (days_between(as_of, pl.col("start_date")) / 365.25).alias("tenure_years"),
        pl.col("segment").cast(pl.String),
        industry.cast(pl.String).alias("industry"),
        pl.col("territory").cast(pl.String),
        pl.col("state").cast(pl.String),
        pl.col("start_date").alias("agreement_start"),
        term.cast(pl.Int64).alias("term"),
        auto.fill_null(False).cast(pl.Boolean).alias("auto_renew"),
    )
    if "save_attempts" in view:
        renewals = (
            view["save_attempts"]
            .filter(pl.col("accepted") & pl.col("new_term_months").is_not_null())
            .group_by("account_id")
            .agg(pl.all().sort_by("attempt_date").last())
            .select("account_id", pl.col("attempt_date").alias("renewed_on"), pl.col("new_term_months"))
        )
        frame = frame.join(renewals, on="account_id", how="left").with_columns(
            pl.coalesce("renewed_on", "agreement_start").alias("agreement_start"),
            pl.coalesce(pl.col("new_term_months").cast(pl.Int64), "term").alias("term"),
            days_between(as_of, pl.col("renewed_on")).alias("days_since_renewal"),
        )
    return _agreement(frame, as_of)


def _agreement(frame: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Where the agreement in force stands on ``as_of``, rolling evergreen terms forward."""
    term_days = (pl.col("term") * DAYS_PER_MONTH).round().cast(pl.Int64)
    first_end = days_between(pl.col("agreement_start"), as_of) + term_days  # days from as_of to first end
    periods = (
        pl.when(pl.col("auto_renew") & (first_end < 0) & (term_days > 0))
        .then((-first_end) // term_days + 1)
        .otherwise(0)
    )
    to_end = first_end + periods * term_days
    month_to_month = (pl.col("term").fill_null(0) == 0) | (to_end < 0)
    out = frame.with_columns(
        pl.col("term").cast(pl.Float64).alias("contract_term_months"),
        month_to_month.alias("month_to_month"),
        pl.when(month_to_month).then(None).otherwise(to_end).alias("days_to_contract_end"),
    )
    return out.drop("agreement_start", "term", "renewed_on", "new_term_months", strict=False)
