"""The point-in-time view of the raw tables: the only way feature code sees data.

``as_of_view`` keeps the rows stamped on or before ``as_of`` (by each table's
declared event time) and blanks every known-later column whose value was not
yet known on ``as_of`` (a payment made later, a close that happens later, a
resolution reached later). Feature functions receive this view and nothing
else, so no feature can read tomorrow: that is what the leakage tests prove.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from sources.contract import DATE, TABLES, table_info

Tables = dict[str, pl.LazyFrame]


def scan_tables(folder: Path) -> Tables:
    """Lazily scan the contract tables present in a folder of Parquet files.

    Args:
        folder: A folder holding ``<table>.parquet`` (for example ``DIR/clean``)
            or ``<table>/*.parquet`` (one file per account shard).

    Returns:
        One lazy frame per table found, dates cast to ``pl.Date``. An optional
        table without rows is absent, as validation leaves it: its features are
        left out, never zeros.
    """
    tables: Tables = {}
    for name in TABLES:
        files = table_files(folder, name)
        if not files or (not table_info(name).required and not any(_rows(path) for path in files)):
            continue
        tables[name] = pl.scan_parquet(table_pattern(folder, name))
    return {name: with_date_types(name, frame) for name, frame in tables.items()}


def table_files(folder: Path, name: str) -> list[Path]:
    """The Parquet files of table ``name`` in ``folder``: ``<name>.parquet``, or ``<name>/*.parquet`` per shard."""
    single, sharded = folder / f"{name}.parquet", folder / name
    return [single] if single.is_file() else sorted(sharded.glob("*.parquet")) if sharded.is_dir() else []


def table_pattern(folder: Path, name: str) -> str:
    """One path (or glob) that DuckDB's ``read_parquet`` and polars' ``scan_parquet`` read table ``name`` from."""
    single = folder / f"{name}.parquet"
    return str(single if single.is_file() else folder / name / "*.parquet")


def shard_layout(folder: Path) -> int:
    """How many account shards the clean tables are laid out in (0: one file per table).

    Validation's per-shard layout is ``<table>/0.parquet`` … ``<table>/<n-1>.parquet``.
    """
    numbers = sorted(int(path.stem) for path in (folder / "accounts").glob("*.parquet") if path.stem.isdigit())
    return len(numbers) if numbers and numbers == list(range(len(numbers))) else 0


def scan_shard(folder: Path, names: Collection[str], shard: int) -> Tables:
    """The tables of ``names`` that have a file for ``shard`` (``<table>/<shard>.parquet``), each from that file alone.

    A shard's file may have no rows where the book's table has some: which tables are present is the book's
    decision (``scan_tables``), not the shard's.
    """
    tables: Tables = {}
    for name in names:
        files = [path for path in (folder / name).glob("*.parquet") if path.stem.isdigit() and int(path.stem) == shard]
        if files:
            tables[name] = with_date_types(name, pl.scan_parquet(files[0]))
    return tables


def _rows(path: Path) -> int:
    """Rows of a Parquet file, from its footer (nothing else is read)."""
    return int(pq.ParquetFile(path).metadata.num_rows)


def with_date_types(name: str, frame: pl.LazyFrame) -> pl.LazyFrame:
    """Cast a table's date columns to ``pl.Date`` (Parquet may hold dates or timestamps)."""
    columns = frame.collect_schema().names()
    dates = [c for c, col in TABLES[name].columns.items() if str(col.dtype) == DATE and c in columns]
    return frame.with_columns(pl.col(c).cast(pl.Date) for c in dates)


def from_frames(frames: Mapping[str, pl.DataFrame | pa.Table | pd.DataFrame]) -> Tables:
    """Lazy tables from in-memory frames (polars, pyarrow or pandas), as in tests and notebooks.

    As in ``scan_tables``, an optional table without rows is absent.
    """
    out: Tables = {}
    for name, frame in frames.items():
        if len(frame) == 0 and name in TABLES and not table_info(name).required:
            continue
        if isinstance(frame, pl.DataFrame):
            lazy = frame.lazy()
        elif isinstance(frame, pa.Table):
            lazy = pl.DataFrame(pl.from_arrow(frame)).lazy()
        else:
            lazy = pl.from_pandas(frame).lazy()
        out[name] = with_date_types(name, lazy)
    return out


def as_of_view(tables: Tables, as_of: date) -> Tables:
    """What was known on ``as_of``: rows stamped by then, later facts blanked.

    Args:
        tables: Raw (or validated) tables.
        as_of: The day the features describe; rows stamped on this day count.

    Returns:
        The same tables, filtered and masked.
    """
    view: Tables = {}
    for name, frame in tables.items():
        info = table_info(name)
        frame = frame.filter(pl.col(info.event_time) <= as_of)
        present = set(frame.collect_schema().names())
        masks = []
        for column in info.known_later:
            if column not in present:
                continue
            reveal = info.revealed_by.get(column, column)
            masks.append(pl.when(pl.col(reveal) <= as_of).then(pl.col(column)).otherwise(None).alias(column))
        view[name] = frame.with_columns(masks) if masks else frame
    return view
