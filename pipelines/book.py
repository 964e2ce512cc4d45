"""The night's book in account shards: features and account context built shard by shard, on the workers.

Each step is a plain function of one shard (``pipelines.shard_tasks`` names them as Prefect tasks; the task runner
decides where they run). A shard reads only its own rows: its files when the clean tables are laid out one file per
shard (``features.view.scan_shard``), else the book's files filtered to its accounts. The figures of the whole book
(the territory's rates and median price change, the extract's first invoice) are computed once and broadcast
(``features.build``). What a step hands back to the flow is small: paths, counts, territory figures; the accounts'
rows stay in the shard files under ``DIR/features/nightly/as_of=<date>.shards/`` (``features-<k>`` and
``context-<k>.parquet``), one file per shard.
"""

from __future__ import annotations

import shutil
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from features.build import RATE_CHANGE, account_part, book_start, finish, territory_table, usable
from features.requests import account_context
from features.shards import restrict
from features.view import Tables, scan_shard, shard_layout
from pipelines.workspace import Workspace


@dataclass(frozen=True)
class BookSource:
    """Where each shard reads its rows: the workspace's tables and, when they are laid out by shard, their folder."""

    tables: Tables
    """The book's tables (``Workspace.tables``): which tables are present is the book's decision."""
    folder: Path
    """The clean folder (``DIR/clean``)."""
    layout: int = 0
    """The number of shard files per table there (0: one file per table)."""
    merged: frozenset[str] = frozenset()
    """Tables the desk's recorded outcomes changed: not the clean files, so filtered to the shard instead."""

    @classmethod
    def of(cls, workspace: Workspace, folder: Path) -> BookSource:
        """The source of a workspace's clean folder."""
        report = workspace.outcomes
        merged = frozenset({"save_attempts", "cancellation_requests"} if report.attempts or report.resolutions else ())
        return cls(workspace.tables, folder, shard_layout(folder), merged)

    def shard(self, shard: int, shards: int) -> Tables:
        """The tables of one shard's accounts, read from the shard's files when the layout matches ``shards``."""
        if shards > 1 and self.layout == shards:
            files = scan_shard(self.folder, [name for name in self.tables if name not in self.merged], shard)
            return restrict({**self.tables, **files}, shard, shards, keep=frozenset(files))
        return restrict(self.tables, shard, shards)


@dataclass(frozen=True)
class FeatureShard:
    """One shard's account features on disk and what the territory figures need of it."""

    path: Path
    active: pl.DataFrame | None
    requests: pl.DataFrame | None


@dataclass(frozen=True)
class ContextShard:
    """One shard's account context on disk."""

    path: Path
    accounts: int
    dtypes: dict[str, str]
    """Its columns' pandas types: a column may be whole numbers in one shard and have gaps in another, where the
    whole book's frame has floats (``NightBook.dtypes``)."""


@dataclass(frozen=True)
class NightBook:
    """The night's account context, shard by shard: what the flow holds instead of the accounts."""

    shards: list[ContextShard] = field(default_factory=list)

    def __len__(self) -> int:
        """Accounts in service."""
        return sum(part.accounts for part in self.shards)

    @property
    def columns(self) -> list[str]:
        """The context's columns."""
        return list(self.shards[0].dtypes) if self.shards else []

    @property
    def dtypes(self) -> dict[str, str]:
        """Each column's type in the whole book: what one frame of every shard's rows would have."""
        types = [part.dtypes for part in self.shards if part.accounts] or [part.dtypes for part in self.shards]
        return {column: _common({t[column] for t in types}) for column in self.columns}

    def read(self, shard: int) -> pd.DataFrame:
        """One shard's context, in the book's types."""
        frame = pd.read_parquet(self.shards[shard].path)
        changed = {c: t for c, t in self.dtypes.items() if str(frame[c].dtype) != t}
        return frame.astype(changed) if changed else frame

    def read_all(self) -> pd.DataFrame:
        """Every shard's context, one shard after another (for the challenger's shadow night)."""
        return pd.concat([self.read(k) for k in range(len(self.shards))], ignore_index=True)


def shard_folder(contexts: Path, day: date) -> Path:
    """Where the night's shard files are kept."""
    return contexts / f"as_of={day.isoformat()}.shards"


def feature_shard(
    source: BookSource, day: date, shard: int, shards: int, first_invoice: date | None, out: Path
) -> FeatureShard:
    """One shard's own account features, written to ``out/features-<shard>.parquet``, and its territory counts."""
    part = account_part(source.shard(shard, shards), day, first_invoice)
    path = out / f"features-{shard}.parquet"
    _write(part.features, path)
    return FeatureShard(path, part.active, part.requests)


def territory_figures(parts: list[FeatureShard], tables: Tables) -> pl.DataFrame | None:
    """The book's territory figures from every shard: counts added up, medians over every shard's changes."""
    changes = (
        pl.scan_parquet([p.path for p in parts]).select(*RATE_CHANGE) if "rate_changes" in usable(tables) else None
    )
    active = [p.active for p in parts if p.active is not None]
    requests = [p.requests for p in parts if p.requests is not None]
    return territory_table(active, requests, changes)


def context_shard(
    source: BookSource,
    day: date,
    shard: int,
    shards: int,
    part: FeatureShard,
    territory: pl.DataFrame | None,
) -> ContextShard:
    """One shard's account context (features with the territory's, city, biggest line), beside its features."""
    tables = source.shard(shard, shards)
    features = finish(pl.read_parquet(part.path), territory, source.tables)
    context = account_context(tables, day, features)
    path = part.path.with_name(f"context-{shard}.parquet")
    partial = path.with_name(f".{path.name}.partial")
    context.to_parquet(partial, index=False)
    partial.replace(path)
    return ContextShard(path, len(context), {str(c): str(t) for c, t in context.dtypes.items()})


def keep_book(book: NightBook, path: Path) -> Path:
    """The night's context as one file (the intraday runs and the live plan read it), one shard at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    schemas = [pq.read_schema(part.path).remove_metadata() for part in book.shards]
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    with pq.ParquetWriter(partial, schema) as writer:
        for part in book.shards:
            writer.write_table(pq.read_table(part.path).replace_schema_metadata(None).cast(schema))
    partial.replace(path)
    return path


def drop_features(book_folder: Path) -> None:
    """Remove the shards' feature files once the contexts are built (the contexts stay, for the night's reruns)."""
    for path in book_folder.glob("features-*.parquet"):
        path.unlink(missing_ok=True)


def _common(types: set[str]) -> str:
    """The type pandas gives a column of rows of these types: whole numbers with gaps are floats, else objects."""
    if len(types) == 1:
        return types.pop()
    numbers = all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in types)
    return "float64" if numbers else "object"


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    frame.write_parquet(partial)
    partial.replace(path)


def finished_shard(
    source: BookSource, day: date, shard: int, shards: int, part: FeatureShard, territory: pl.DataFrame | None
) -> Path:
    """One shard's finished features (its own with the book's territory figures), beside its own features."""
    path = part.path.with_name(f"finished-{shard}.parquet")
    _write(finish(pl.read_parquet(part.path), territory, source.tables), path)
    return path


def write_features(source: BookSource, day: date, shards: int, out: Path, executor: Executor) -> int:
    """The book's features as of ``day``, built shard by shard on ``executor`` and written to one Parquet file.

    Each shard's features are built where the executor runs them (threads here, or Dask workers), the territory
    figures once from all of them, then each shard is finished there too; this process only streams the
    finished shards into ``out``, one at a time (rows shard after shard, each shard's sorted by account: the
    rows of ``features.build.build_features``, in another order). Returns the rows written.
    """
    scratch = out.parent / f".{out.name}.shards"
    try:
        first = book_start(source.tables, day)
        built = [executor.submit(feature_shard, source, day, k, shards, first, scratch) for k in range(shards)]
        parts = [future.result() for future in built]
        territory = territory_figures(parts, source.tables)
        finished = [executor.submit(finished_shard, source, day, k, shards, parts[k], territory) for k in range(shards)]
        return concatenate([future.result() for future in finished], out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def concatenate(paths: list[Path], out: Path) -> int:
    """Stream Parquet files into one, holding one file at a time; written beside ``out``, renamed into place.

    Their schemas are unified: a column without a value in one shard is null there.
    """
    schema = pa.unify_schemas([pq.read_schema(p) for p in paths], promote_options="permissive")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    rows = 0
    with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
        for path in paths:
            table = pq.read_table(path)
            writer.write_table(table.select(schema.names).cast(schema))
            rows += table.num_rows
    partial.replace(out)
    return rows
