"""Building the feature frame as of a date: one row per account in service.

Each source table has one builder; a table that is absent contributes no
features (never zero-filled stand-ins). The build can run per account shard
(a stable hash of ``account_id``), so the events held at once do not grow with
the book; sharded and unsharded builds give the same frame.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date

import polars as pl

from features.account import account_features
from features.activity import (
    contact_features,
    request_features,
    save_features,
    territory_features,
)
from features.billing import billing_features
from features.price import price_features, territory_medians, versus_territory
from features.registry import BY_NAME, features_from
from features.service import service_event_features, service_line_features
from features.view import Tables, as_of_view
from sources.keys import stable_bucket

Builder = Callable[[Tables, date], pl.LazyFrame]

BUILDERS: dict[str, Builder] = {
    "service_lines": service_line_features,
    "rate_changes": price_features,
    "service_events": service_event_features,
    "invoices": billing_features,
    "contacts": contact_features,
    "cancellation_requests": request_features,
    "save_attempts": save_features,
}
"""The builder of each table's per-account features (accounts build the spine)."""

_KIND_TYPES = {"count": pl.Int64, "days": pl.Int64, "number": pl.Float64, "ratio": pl.Float64,
               "flag": pl.Boolean, "category": pl.String}  # fmt: skip


def shard_of(account_ids: pl.Series, shards: int) -> pl.Series:
    """Stable shard of each account: CRC-32 of its id modulo ``shards`` (same on every machine)."""
    return pl.Series("shard", stable_bucket(account_ids.to_list(), shards), dtype=pl.Int64)


NEEDS_TABLES: dict[str, tuple[str, ...]] = {"rate_changes": ("service_lines",)}
"""Tables whose features need another table too: a rate change applies to a line, so without the lines no
price feature can be built."""


def usable(tables: Collection[str]) -> set[str]:
    """The tables present whose features can be built (every table they need is present too)."""
    return {name for name in tables if all(need in tables for need in NEEDS_TABLES.get(name, ()))}


def feature_names(tables: set[str] | dict[str, set[str]]) -> list[str]:
    """The registered features a build computes from the tables present (each with its columns), in order."""
    kept = usable(tables)
    if isinstance(tables, set):
        return features_from(kept)
    return features_from({name: columns for name, columns in tables.items() if name in kept})


def build_features(tables: Tables, as_of: date, shards: int = 1) -> pl.DataFrame:
    """Features of every account in service on ``as_of``.

    Args:
        tables: The raw or validated tables (``features.view.scan_tables``).
        as_of: The day described; only what was known by its end is used.
        shards: Number of account shards to build one after another.

    Returns:
        One row per account in service, ``account_id`` first, then the
        registered features in registry order, sorted by ``account_id``.
    """
    view = as_of_view(tables, as_of)
    if shards <= 1:
        frame = _per_account(view, as_of)
    else:
        ids = view["accounts"].select("account_id").collect().to_series()
        assignment = pl.DataFrame({"account_id": ids, "shard": shard_of(ids, shards)}).lazy()
        parts = []
        for shard in range(shards):
            members = assignment.filter(pl.col("shard") == shard).select("account_id")
            shard_view = {name: frame.join(members, on="account_id", how="semi") for name, frame in view.items()}
            parts.append(_per_account(shard_view, as_of))
        frame = pl.concat(parts)
        if not frame["account_id"].is_sorted():
            frame = frame.sort("account_id")
    # Territory context is a small table: look it up for the territory column and add its columns alongside.
    territory = territory_features(view, as_of) if "cancellation_requests" in view else None
    if "rate_changes" in usable(view):
        medians = territory_medians(frame.lazy())
        territory = medians if territory is None else territory.join(medians, on="territory", how="full", coalesce=True)
    if territory is not None:
        frame = frame.hstack(_aligned(frame.select("territory").lazy(), territory, "territory"))
    if "rate_changes" in usable(view):
        frame = versus_territory(frame)
    names = feature_names({name: set(frame.collect_schema().names()) for name, frame in tables.items()})
    _check_against_registry(frame.columns, names)
    return frame.select("account_id", *names)


class FeatureRegistryError(RuntimeError):
    """The build and the registry disagree: a feature computed but not declared, or declared but not built."""


def _check_against_registry(columns: list[str], registered: list[str]) -> None:
    computed = set(columns) - {"account_id"}
    unregistered, missing = sorted(computed - set(registered)), sorted(set(registered) - computed)
    if unregistered or missing:
        raise FeatureRegistryError(
            f"computed but not registered: {unregistered or 'none'}; registered but not computed:"
            f" {missing or 'none'}. Declare each feature once in features/registry.py."
        )


def _per_account(view: Tables, as_of: date) -> pl.DataFrame:
    """The account features, then each table's features added alongside, one table at a time.

    Each table's query runs on its own, so only one table's rows are held at once; its result is
    looked up for the accounts in order and its columns are added without copying the frame built so far.
    """
    frame = _typed(account_features(view, as_of)).collect(engine="streaming")
    if not frame["account_id"].is_sorted():
        frame = frame.sort("account_id")
    spine = frame.select("account_id").lazy()
    for table, builder in BUILDERS.items():
        if table in usable(view):
            frame = frame.hstack(_aligned(spine, builder(view, as_of), "account_id", _typed))
    return frame


def _typed(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Registered features cast to their kind's type; an account without rows counts 0 and flags False."""
    fills = []
    for name in frame.collect_schema().names():
        feature = BY_NAME.get(name)
        if feature is None:
            continue
        expr = pl.col(name).cast(_KIND_TYPES[feature.kind])
        if feature.kind == "count":
            expr = expr.fill_null(0)
        elif feature.kind == "flag" and feature.table != "accounts":
            expr = expr.fill_null(False)
        fills.append(expr)
    return frame.with_columns(fills)


def _aligned(
    keys: pl.LazyFrame, values: pl.LazyFrame, on: str, then: Callable[[pl.LazyFrame], pl.LazyFrame] = lambda f: f
) -> list[pl.Series]:
    """The columns of ``values`` (unique on ``on``) for each row of ``keys``, in its order, after ``then``."""
    found = keys.join(values, on=on, how="left", maintain_order="left").drop(on)
    return then(found).collect(engine="streaming").get_columns()
