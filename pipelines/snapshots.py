"""Writing feature frames and training snapshots to disk, atomically, one file per account shard.

A snapshot is written as ``out/as_of=YYYY-MM-DD/<shard>.parquet``: shard ``k`` holds the accounts whose stable
bucket (``sources.keys.stable_bucket(account_id, shards)``) is ``k``, with ``account_id``, the registered features
and ``churn`` (the as-of date is the partition's). Each shard is built from its own rows with the book's territory
figures broadcast (``pipelines.book``), so a worker builds or reads one shard without the rest of the book, and
the shards together are the one-process snapshot.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from pathlib import Path

import polars as pl

from features.build import book_start, book_territory, features_of, finish, only, territory_part
from features.labels import DEFAULT_LABELS, LabelSpec, LabelWindowError, churn_labels
from features.snapshots import labelled, month_ends
from pipelines.book import BookSource, FeatureShard, feature_shard, territory_figures
from pipelines.workspace import Workspace, WorkspaceError


def write_parquet_atomically(frame: pl.DataFrame, path: Path) -> None:
    """Write a Parquet file beside its destination, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    frame.write_parquet(partial, compression="zstd", statistics=True)
    os.replace(partial, path)


def snapshot_dates(workspace: Workspace, start: date, end: date, spec: LabelSpec) -> list[date]:
    """Month-end as-of dates in ``[start, end]``, each checked to have a complete label window.

    Raises:
        WorkspaceError: A date lies outside the data or its label window runs past it.
    """
    dates = month_ends(start, end)
    if not dates:
        raise WorkspaceError(f"No month ends between {start} and {end}: widen the range.")
    workspace.check_as_of(dates[0])
    last = spec.last_labelled_as_of(workspace.end)
    if dates[-1] > last:
        raise WorkspaceError(
            f"The label window of {dates[-1]} runs past the end of the data ({workspace.end});"
            f" the latest as-of date with a complete label is {last}: use --end {last} or earlier."
        )
    return dates


def snapshot_shard(
    source: BookSource,
    as_of: date,
    extract_end: date,
    spec: LabelSpec,
    shard: int,
    shards: int,
    part: FeatureShard,
    territory: pl.DataFrame | None,
) -> pl.DataFrame:
    """One shard's snapshot: its features with the book's territory figures, and its accounts' labels."""
    tables = source.shard(shard, shards)
    features = finish(pl.read_parquet(part.path), territory, source.tables)
    return labelled(features, churn_labels(tables, as_of, extract_end, spec), as_of)


def write_snapshots(
    workspace: Workspace,
    dates: list[date],
    out: Path,
    spec: LabelSpec = DEFAULT_LABELS,
    progress: Callable[[date], None] | None = None,
    shards: int = 1,
    source: BookSource | None = None,
) -> dict[date, int]:
    """Write one snapshot per as-of date to ``out/as_of=YYYY-MM-DD/<shard>.parquet``, shard by shard.

    Args:
        workspace: The validated tables.
        dates: The as-of dates.
        out: The snapshots folder.
        spec: What the labels mean.
        progress: Called after each date.
        shards: Account shards (files per date).
        source: Where a shard's rows are read (``BookSource.of``: its files when validation wrote them by
            shard); default: the workspace's tables, filtered to each shard.

    Returns:
        Rows written per as-of date.
    """
    source = source or BookSource(workspace.tables, out)
    rows = {}
    for as_of in dates:
        partition = out / f"as_of={as_of.isoformat()}"
        try:
            written = []
            for k, frame in shard_snapshots(workspace, as_of, spec, shards, source, out / f".features-{as_of}"):
                write_parquet_atomically(frame.drop("as_of"), partition / f"{k}.parquet")
                written.append(frame.height)
        except LabelWindowError as error:
            raise WorkspaceError(str(error)) from error
        for stale in partition.glob("*.parquet"):  # files of an earlier layout or shard count
            if not stale.stem.isdigit() or int(stale.stem) >= shards:
                stale.unlink()
        rows[as_of] = sum(written)
        if progress is not None:
            progress(as_of)
    return rows


def shard_snapshots(
    workspace: Workspace, as_of: date, spec: LabelSpec, shards: int, source: BookSource, scratch: Path
) -> Iterator[tuple[int, pl.DataFrame]]:
    """The snapshot of ``as_of`` one account shard at a time: each shard's features and labels, as it is built.

    The shards' own account features go to ``scratch`` first (removed afterwards), so the book's territory
    figures are known before any shard is finished; then each shard is finished and handed over, and only one
    shard's snapshot is in memory at a time. Sorted by ``account_id``, the shards together are ``snapshot``'s
    frame (``tests/unit/test_shard_features.py``).

    Raises:
        features.labels.LabelWindowError: The label window runs past the data.
    """
    try:
        first = book_start(workspace.tables, as_of)
        parts = [feature_shard(source, as_of, k, shards, first, scratch) for k in range(shards)]
        territory = territory_figures(parts, workspace.tables)
        for k in range(shards):
            yield k, snapshot_shard(source, as_of, workspace.end, spec, k, shards, parts[k], territory)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def cut_snapshot(
    workspace: Workspace,
    as_of: date,
    spec: LabelSpec,
    keep: Callable[[pl.DataFrame], pl.DataFrame],
    shards: int,
    source: BookSource,
) -> pl.DataFrame:
    """The rows ``keep`` keeps of the snapshot of ``as_of``, built for the kept accounts alone, shard by shard.

    ``keep`` decides each row by its account alone (it may add columns of the account): it is applied to each
    shard's accounts first, and only those accounts' features and labels are built, from their own rows, with
    the territory figures of the whole book (``features.build.territory_part`` of every shard: its accounts,
    lines, rate changes and requests, never its invoices or service events); then to the finished rows. So the
    process holds one shard's accounts and the rows kept so far, and builds in full only what training reads:
    how training reads a sample of a book too large for one process. Equal to ``keep(snapshot(...))`` sorted by
    account (``tests/model/test_training_scale.py``).

    Raises:
        features.labels.LabelWindowError: The label window runs past the data.
    """
    first = book_start(workspace.tables, as_of)
    territory = month_territory(source, as_of, shards)
    kept = []
    for k in range(shards):
        tables = source.shard(k, shards)
        accounts = keep(tables["accounts"].select("account_id").collect())
        features = features_of(tables, as_of, accounts, territory=territory, first_invoice=first)
        kept.append(keep(labelled(features, churn_labels(only(tables, accounts), as_of, workspace.end, spec), as_of)))
    return pl.concat(kept, how="vertical_relaxed").sort("account_id")


_KEPT_TERRITORIES: ContextVar[dict[tuple[object, ...], pl.DataFrame | None] | None] = ContextVar(
    "kept_territories", default=None
)


@contextmanager
def territories_kept() -> Iterator[None]:
    """Within this block each month's territory figures are computed once (``month_territory``).

    A training run builds the churn model's months and then the uplift model's, mostly the same months; each
    month's figures are a pass over every shard of the book, the part of training that grows with it. Kept for
    the block only: a later run (new clean data) computes them again.
    """
    token = _KEPT_TERRITORIES.set({})
    try:
        yield
    finally:
        _KEPT_TERRITORIES.reset(token)


def month_territory(source: BookSource, as_of: date, shards: int) -> pl.DataFrame | None:
    """The book's territory figures as of ``as_of``, from ``territory_part`` of each account shard in turn.

    Inside ``territories_kept`` a month already computed for the same source is not computed again.
    """
    kept = _KEPT_TERRITORIES.get()
    key = (source.folder, source.layout, source.merged, tuple(source.tables), shards, as_of)
    if kept is not None and key in kept:
        return kept[key]
    figures = book_territory([territory_part(source.shard(k, shards), as_of) for k in range(shards)], source.tables)
    if kept is not None:
        kept[key] = figures
    return figures
