"""Building the feature frame as of a date: one row per account in service.

Each source table has one builder; a table that is absent contributes no
features (never zero-filled stand-ins). Most features are an account's own (from
its rows only); a few are figures of the whole book: the territory's request
rate, competitor share and median price change, and the extract's first
invoice. So the build runs in four steps that the nightly maps over account
shards (a stable hash of ``account_id``) on separate workers:

1. ``book_start``, once: the extract's first invoice on ``as_of``;
2. ``account_part``, per shard: the account features and the shard's territory counts;
3. ``territory_table``, once: the territory figures from every shard's counts and changes;
4. ``finish``, per shard: the territory figures broadcast to the shard's accounts.

``build_features`` runs the four in one process; sharded and unsharded builds
give the same frame, and so do the steps run on workers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from functools import partial

import polars as pl

from features.account import account_features
from features.activity import (
    contact_features,
    request_features,
    save_features,
    territory_counts,
    territory_rates,
)
from features.billing import billing_features, extract_first_invoice
from features.price import price_features, territory_medians, versus_territory
from features.registry import BY_NAME, features_from
from features.service import service_event_features, service_line_features
from features.shards import restrict
from features.view import Tables, as_of_view

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

NEEDS_TABLES: dict[str, tuple[str, ...]] = {"rate_changes": ("service_lines",)}
"""Tables whose features need another table too: a rate change applies to a line, so without the lines no
price feature can be built."""

RATE_CHANGE = ("territory", "rate_change_pct_365d")
"""The columns of a shard's part the territory medians are taken over."""


def usable(tables: Collection[str]) -> set[str]:
    """The tables present whose features can be built (every table they need is present too)."""
    return {name for name in tables if all(need in tables for need in NEEDS_TABLES.get(name, ()))}


def feature_names(tables: set[str] | dict[str, set[str]]) -> list[str]:
    """The registered features a build computes from the tables present (each with its columns), in order."""
    kept = usable(tables)
    if isinstance(tables, set):
        return features_from(kept)
    return features_from({name: columns for name, columns in tables.items() if name in kept})


@dataclass
class AccountPart:
    """One shard's account features before the territory figures, and the shard's territory counts."""

    features: pl.DataFrame
    """One row per account of the shard in service, sorted by ``account_id``."""
    active: pl.DataFrame | None = None
    """Active accounts per territory (None without cancellation requests)."""
    requests: pl.DataFrame | None = None
    """Requests in 90 and 180 days and competitor mentions per territory (None without cancellation requests)."""


def book_start(tables: Tables, as_of: date) -> date | None:
    """The figure every shard's account features need from the whole book: the extract's first invoice."""
    view = as_of_view(tables, as_of)
    return extract_first_invoice(view) if "invoices" in usable(view) else None


def account_part(tables: Tables, as_of: date, first_invoice: date | None) -> AccountPart:
    """Step 2 for the accounts of ``tables`` (one shard, or the book): their own features and territory counts."""
    view = as_of_view(tables, as_of)
    features = _per_account(view, as_of, first_invoice)
    if "cancellation_requests" not in view:
        return AccountPart(features)
    active, requests = territory_counts(view, as_of)
    return AccountPart(features, active.collect(), requests.collect())


def territory_part(tables: Tables, as_of: date) -> AccountPart:
    """What the territory figures need of the accounts of ``tables``, without their other features.

    Reads the accounts, their lines and rate changes, and the requests (never the invoices, service events or
    contacts): its ``features`` hold ``RATE_CHANGE`` of every account in service (none without rate changes),
    the values ``account_part`` gives them. Cheap enough to run over the whole book when only a sample of its
    accounts is built in full (``features_of``).
    """
    view = as_of_view(tables, as_of)
    spine = _typed(account_features(view, as_of)).select("account_id", "territory")
    if "rate_changes" in usable(view):
        changes = price_features(view, as_of).select("account_id", "rate_change_pct_365d")
        spine = spine.join(_typed(changes), on="account_id", how="left")
    else:
        spine = spine.with_columns(pl.lit(None, pl.Float64).alias("rate_change_pct_365d"))
    features = spine.select(*RATE_CHANGE).collect(engine="streaming")
    if "cancellation_requests" not in view:
        return AccountPart(features)
    active, requests = territory_counts(view, as_of)
    return AccountPart(features, active.collect(), requests.collect())


def book_territory(parts: list[AccountPart], tables: Tables) -> pl.DataFrame | None:
    """The book's territory figures from every shard's ``territory_part`` (or ``account_part``)."""
    changes = None
    if "rate_changes" in usable(tables):
        changes = pl.concat([part.features.select(*RATE_CHANGE) for part in parts]).lazy()
    active = [part.active for part in parts if part.active is not None]
    requests = [part.requests for part in parts if part.requests is not None]
    return territory_table(active, requests, changes)


def only(tables: Tables, accounts: pl.DataFrame) -> Tables:
    """The rows of ``tables`` that belong to ``accounts`` (a frame with ``account_id``)."""
    members = accounts.select("account_id").lazy()
    return {name: frame.join(members, on="account_id", how="semi") for name, frame in tables.items()}


def features_of(
    tables: Tables,
    as_of: date,
    accounts: pl.DataFrame,
    shards: int = 1,
    territory: pl.DataFrame | None = None,
    first_invoice: date | None = None,
) -> pl.DataFrame:
    """The rows of ``build_features(tables, as_of)`` of ``accounts`` (those in service), built for them alone.

    The territory figures are the whole book's: ``territory`` when the caller computed them, else
    ``territory_part`` over ``shards`` account shards, one after another. So is the extract's first invoice:
    ``first_invoice`` when the caller found it (``book_start`` of the book; ``tables`` may then be one account
    shard's), else ``book_start(tables)``. Every other feature is an account's own, built from the rows of
    ``accounts`` only.
    """
    first_invoice = first_invoice or book_start(tables, as_of)
    if territory is None:
        parts = [territory_part(restrict(tables, k, shards), as_of) for k in range(shards)]
        territory = book_territory(parts, tables)
    features = account_part(only(tables, accounts), as_of, first_invoice).features
    return finish(features, territory, tables)


def territory_table(
    active: list[pl.DataFrame], requests: list[pl.DataFrame], changes: pl.LazyFrame | None
) -> pl.DataFrame | None:
    """Step 3, once: every territory's figures from the shards' counts and the 365-day rate changes.

    Args:
        active: Every shard's active accounts per territory (empty without cancellation requests).
        requests: Every shard's request counts per territory.
        changes: ``RATE_CHANGE`` of every account in service (None without rate changes): a median is not a sum,
            so it is taken over the whole book's values.

    Returns:
        One row per territory, or None when the book gives no territory figure.
    """
    territory = None
    if active:
        summed = [pl.concat(frames).lazy().group_by("territory").sum() for frames in (active, requests)]
        territory = territory_rates(*summed)
    if changes is not None:
        medians = territory_medians(changes)
        territory = medians if territory is None else territory.join(medians, on="territory", how="full", coalesce=True)
    return None if territory is None else territory.collect()


def finish(features: pl.DataFrame, territory: pl.DataFrame | None, tables: Tables) -> pl.DataFrame:
    """Step 4 for one shard: the territory figures looked up for its accounts, the registered columns in order."""
    if territory is not None:
        features = features.hstack(_aligned(features.select("territory").lazy(), territory.lazy(), "territory"))
    if "rate_changes" in usable(tables):
        features = versus_territory(features)
    names = feature_names({name: set(frame.collect_schema().names()) for name, frame in tables.items()})
    _check_against_registry(features.columns, names)
    return features.select("account_id", *names)


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
    first_invoice = book_start(tables, as_of)
    parts = [account_part(restrict(tables, k, shards), as_of, first_invoice) for k in range(shards)]
    territory = book_territory(parts, tables)
    frame = pl.concat([finish(part.features, territory, tables) for part in parts])
    return frame if frame["account_id"].is_sorted() else frame.sort("account_id")


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


def _per_account(view: Tables, as_of: date, first_invoice: date | None) -> pl.DataFrame:
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
            build = partial(billing_features, first_invoice=first_invoice) if builder is billing_features else builder
            frame = frame.hstack(_aligned(spine, build(view, as_of), "account_id", _typed))
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
