"""Training snapshots: features as of a date joined with what happened next."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from features.build import build_features
from features.labels import DEFAULT_LABELS, LabelSpec, churn_labels
from features.view import Tables


def month_ends(start: date, end: date) -> list[date]:
    """The last day of every month from ``start``'s month to ``end``'s, within ``[start, end]``."""
    days: list[date] = []
    year, month = start.year, start.month
    while True:
        following = date(year + month // 12, month % 12 + 1, 1)
        last = following - timedelta(days=1)
        if last > end:
            return days
        if last >= start:
            days.append(last)
        year, month = following.year, following.month


def snapshot(
    tables: Tables, as_of: date, extract_end: date, spec: LabelSpec = DEFAULT_LABELS, shards: int = 1
) -> pl.DataFrame:
    """Features as of ``as_of`` with the churn label of its window and the ``as_of`` column.

    Raises:
        features.labels.LabelWindowError: The label window runs past the data.
    """
    labels = churn_labels(tables, as_of, extract_end, spec)
    return labelled(build_features(tables, as_of, shards=shards), labels, as_of)


def labelled(features: pl.DataFrame, labels: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Features joined with their accounts' churn labels (``churn_labels`` of the same accounts), and ``as_of``.

    An account shard's snapshot is its features (``features.build.finish``) with its own accounts' labels: a label
    is the account's own, so the shards' snapshots together are the book's.
    """
    # An account the definition leaves unlabelled (billing already stopped under ``no_billing``) is not a row.
    rows = features.join(labels, on="account_id", how="left").filter(pl.col("churn").is_not_null())
    return rows.with_columns(pl.lit(as_of).alias("as_of"))
