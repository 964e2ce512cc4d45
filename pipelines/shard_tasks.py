"""The Prefect tasks mapped over account shards: the book's features and context, and each shard's night.

Each is one call of a function of ``pipelines.book`` or ``pipelines.nightly``; submitted to the flow's task runner,
they run on the Dask workers when it is Dask. Their results are small (paths, counts, a shard's listed rows), so the
flow's process holds no account's features. A worker that dies mid-task is replaced and the task is run again by
Dask (``pipelines.cluster``): each task is a pure function of its shard's files, rewritten atomically.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import polars as pl
from prefect import task

from features.build import book_start
from features.view import Tables
from models.champions import Champions
from pipelines import book as shards
from pipelines.book import BookSource, ContextShard, FeatureShard, NightBook
from pipelines.nightly import ShardNight, score_night_shard
from pipelines.settings import Settings
from pipelines.tasks import io_task


@task
def book_start_task(tables: Tables, day: date) -> date | None:
    """The extract's first invoice on ``day``: the one figure each shard's account features need from the book."""
    return book_start(tables, day)


@task
def feature_shard_task(
    source: BookSource, day: date, shard: int, count: int, first_invoice: date | None, out: Path
) -> FeatureShard:
    """One shard's own account features, written beside the night's context, and its territory counts."""
    return shards.feature_shard(source, day, shard, count, first_invoice, out)


@task
def territory_task(parts: list[FeatureShard], tables: Tables) -> pl.DataFrame | None:
    """The territory figures of the whole book, computed once from every shard's part and broadcast."""
    return shards.territory_figures(parts, tables)


@task
def context_shard_task(
    source: BookSource, day: date, shard: int, count: int, part: FeatureShard, territory: pl.DataFrame | None
) -> ContextShard:
    """One shard's account context: features with the territory's, city and biggest line."""
    return shards.context_shard(source, day, shard, count, part, territory)


@task
def night_shard_task(
    settings: Settings, book: NightBook, shard: int, requests: pd.DataFrame, champions: Champions, limit: int
) -> ShardNight:
    """One shard's night: risk, plans for open requests and for its most valuable at-risk accounts, drift counts."""
    return score_night_shard(settings, book.read(shard), requests, champions, limit)


@io_task
def keep_book_task(settings: Settings, book: NightBook, day: date) -> Path:
    """Keep the night's account context as one file, so intraday runs and the live plan plan without rebuilding it."""
    path = shards.keep_book(book, settings.catalog.context(day))
    shards.drop_features(book.shards[0].path.parent if book.shards else path.parent)
    return path
