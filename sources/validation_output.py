"""What validation writes, written aside and moved into place as one set.

Every clean table, every rejects file and the report are first written into a hidden staging folder beside
``clean/``. Only once the whole run has succeeded are they moved into ``clean/`` and ``rejects/``: the old report
goes first, then each table's files replace the old ones (or the old ones are removed), then the new report
arrives last. A run that fails on the way (a bug, a full disk) leaves the previous outputs exactly as they
were, and a reader that finds a report finds the tables that go with it.

A clean table is one file, ``clean/<table>.parquet``, or, when validation runs in account shards, one file per
shard, ``clean/<table>/<shard>.parquet`` (``sources.validation_shards``); ``features.view.scan_tables`` reads
both. The staging folder lies inside the workspace, so Dask workers that see the workspace write their shards
into it directly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as arrow
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sources.contract import TABLES, TableInfo
from sources.folders import WorkspaceFolders
from sources.validation_report import REPORT_FILE

CLEAN_ROW_GROUP_ROWS = 131_072
"""Rows per Parquet row group of a clean table: a streaming reader decodes one group at a time, so small
groups bound what a feature build holds while it scans a large table."""
ENTANGLED = ".entangled"
"""Suffix of a shard's rows checked with the entangled accounts (``sources.validation_shards``), merged in
before the commit."""


class StagedOutputs:
    """The clean tables, rejects and report of one validation run, held aside until ``commit``.

    Use as a context manager: the staging folder is removed on the way out, committed or not.
    """

    def __init__(self, folders: WorkspaceFolders, shards: int = 1) -> None:
        """Create the staging folder beside ``folders.clean``; ``shards`` > 1 writes one file per account shard."""
        self.folders = folders
        self.shards = shards
        folders.clean.parent.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix=f".{folders.clean.name}-staging-", dir=folders.clean.parent))
        self.clean = self.root / "clean"
        self.rejects = self.root / "rejects"
        self.clean.mkdir()
        self.rejects.mkdir()

    def __enter__(self) -> StagedOutputs:
        """The staged outputs."""
        return self

    def __exit__(self, *_: object) -> None:
        """Remove the staging folder (after a commit it holds nothing of value)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def write_rejects(self, info: TableInfo, rejected: pd.DataFrame, rows: np.ndarray, reasons: np.ndarray) -> None:
        """Stage a table's quarantined rows: every original column as text, ``row_number`` and ``reject_reason``.

        Args:
            info: The table.
            rejected: The quarantined rows as read, in file order.
            rows: Their positions in the file (from 0).
            reasons: Their reasons (``sources.problems.reject_reasons``), in the same order.
        """
        rejects = rejected.reset_index(drop=True).astype("str")
        rejects["row_number"] = np.asarray(rows, dtype="int64") + 1
        rejects["reject_reason"] = reasons
        rejects.to_parquet(self.rejects / f"{info.name}.parquet", index=False)

    def clean_file(self, table: str, shard: int | None = None, suffix: str = "") -> Path:
        """Where a table's kept rows (or one shard's) are staged."""
        return self.clean / f"{table}.parquet" if shard is None else self.clean / table / f"{shard}{suffix}.parquet"

    def write_clean(self, info: TableInfo, kept: pd.DataFrame, shard: int | None = None, suffix: str = "") -> int:
        """Stage a table's kept rows (or one shard's) without PII, sorted by account then event time.

        Nothing is written for no rows. Returns how many rows were written.
        """
        if kept.empty:
            return 0
        kept = kept.drop(columns=[column for column in info.pii_columns if column in kept.columns])
        table = arrow.Table.from_pandas(kept, preserve_index=False)
        write_sorted(info, table, self.clean_file(info.name, shard, suffix))
        return len(kept)

    def merge_entangled(self, info: TableInfo) -> None:
        """Fold the rows checked with the entangled accounts into their shards' files, re-sorted."""
        folder = self.clean / info.name
        for extra in sorted(folder.glob(f"*{ENTANGLED}.parquet")) if folder.is_dir() else []:
            target = folder / extra.name.replace(ENTANGLED, "")
            parts = [pq.read_table(path) for path in (target, extra) if path.is_file()]
            write_sorted(info, arrow.concat_tables(parts, promote_options="permissive"), target)
            extra.unlink()

    def fill_shards(self, table: str) -> None:
        """Give every shard a file: a shard without kept rows gets an empty one with the table's columns."""
        folder = self.clean / table
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        if not files:
            return
        empty = pq.read_schema(files[0]).empty_table()
        for shard in range(self.shards):
            if not self.clean_file(table, shard).is_file():
                pq.write_table(empty, self.clean_file(table, shard))

    def drop_clean(self, table: str) -> None:
        """Remove what was staged of a table's kept rows (the table turned out absent)."""
        self.clean_file(table).unlink(missing_ok=True)
        shutil.rmtree(self.clean / table, ignore_errors=True)

    def commit(self, report: str, *, with_clean: bool) -> None:
        """Move the staged files into place, the report last.

        Args:
            report: The report's text (JSON).
            with_clean: Whether to publish the clean tables; without them (a fatal run) the old ones are
                removed too, so no half-validated workspace feeds the features.
        """
        clean, rejects = self.folders.clean, self.folders.rejects
        clean.mkdir(parents=True, exist_ok=True)
        (clean / REPORT_FILE).unlink(missing_ok=True)
        for name in TABLES:
            for staged, target in ((self.clean / f"{name}.parquet", clean / f"{name}.parquet"),
                                   (self.clean / name, clean / name)):  # fmt: skip
                _replace(staged if with_clean else None, target)
            _replace(self.rejects / f"{name}.parquet", rejects / f"{name}.parquet")
        written = self.clean / REPORT_FILE
        written.write_text(report, encoding="utf-8")
        os.replace(written, clean / REPORT_FILE)


def write_sorted(info: TableInfo, table: arrow.Table, path: Path) -> None:
    """Write kept rows sorted by account, event time and key (stable: ties keep their order in the file).

    Rows already in that order (an extract exported by account, as most are) are written as they are: a stable
    sort would not move them. The key (one value per row) is written without a dictionary, which it would only
    overflow; every other column keeps Parquet's (an account's id repeats along its rows, and reads fastest so).
    Row-group statistics (min and max) are kept for the account and the event time, the columns a reader may
    filter a sorted file on; the features read whole files.
    """
    order = list(dict.fromkeys(c for c in ("account_id", info.event_time, info.key) if c in table.column_names))
    if order and table.num_rows > 1 and not in_order(table, order):
        table = table.take(pc.sort_indices(table, sort_keys=[(column, "ascending") for column in order]))
    path.parent.mkdir(parents=True, exist_ok=True)
    dictionary = [column for column in table.column_names if column != info.key]
    statistics = [column for column in ("account_id", info.event_time) if column in table.column_names]
    pq.write_table(
        table, path, row_group_size=CLEAN_ROW_GROUP_ROWS, use_dictionary=dictionary, write_statistics=statistics
    )


def in_order(table: arrow.Table, columns: list[str]) -> bool:
    """Whether the rows are sorted ascending by ``columns`` (ties allowed); False when any of them has a missing value.

    What ``pc.sort_indices`` would return as ``0 .. n - 1``: each row compares with the next on the first column,
    then, where equal, on the next one.
    """
    if any(table.column(column).null_count for column in columns):
        return False
    later, earlier = table.slice(1), table.slice(0, table.num_rows - 1)
    ahead = arrow.array(np.zeros(table.num_rows - 1, dtype=bool))  # already decided: strictly after the row before
    for column in columns:
        after, before = later.column(column), earlier.column(column)
        try:
            if not pc.all(pc.or_(ahead, pc.greater_equal(after, before))).as_py():
                return False
            ahead = pc.or_(ahead, pc.greater(after, before))
        except arrow.ArrowNotImplementedError:  # a type Arrow does not compare: let the sort decide
            return False
    return True


def _replace(staged: Path | None, target: Path) -> None:
    """Put ``staged`` (a file or a folder of shards) at ``target``, or remove ``target`` when nothing was staged."""
    if target.is_dir():
        shutil.rmtree(target)
    if staged is not None and staged.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
    else:
        target.unlink(missing_ok=True)
