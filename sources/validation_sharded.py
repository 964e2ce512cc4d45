"""Running validation in account shards: split the tables, check each shard (on any executor), merge.

``validate_in_shards`` splits every readable table into account-shard pieces (``sources.validation_shards``)
inside the staging folder, runs ``check_shard`` once per shard (and once for the entangled accounts, if
any) through the executor it is given (threads, or a Dask client's executor: each shard reads its own pieces
and writes its own clean files, so a worker holds one shard), then merges every table's shards into the
outcome one pass over the whole file would have had.
"""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as arrow

from sources.checks import ParentKeys
from sources.contract import TABLES, table_info
from sources.event_mapping_source import MappedFolder
from sources.reader import TableReadError
from sources.reject_limits import RejectLimits
from sources.validation_checked import TableChecked, check_table, merge_checked
from sources.validation_output import ENTANGLED, StagedOutputs
from sources.validation_shards import POSITION, Entanglement, KeyBuckets, ShardOf, Split, read_piece, split_table
from sources.validation_tables import OpenTable, Outcome, open_table, summarise, unreadable, without_rows

SPLIT_THREADS = 2
"""Tables split into account shards at once, in the process that runs validation (the split holds no GIL)."""


@dataclass(frozen=True)
class ShardJob:
    """What one shard's check needs: pickled to a Dask worker as it is.

    Attributes:
        shard: The account shard, or None for the group of entangled accounts.
        shards: How many shards there are.
        splits: The tables to check, in contract order (parents first).
        entangled: Hashes of the entangled accounts.
        extract_end: The extract's last day, if known.
        staged: Where clean shard files go.
        unique_keys: Tables whose key occurs once per row in the whole file.
    """

    shard: int | None
    shards: int
    splits: tuple[Split, ...]
    entangled: np.ndarray
    extract_end: date | None
    staged: StagedOutputs
    unique_keys: frozenset[str] = frozenset()


def check_shard(job: ShardJob) -> dict[str, TableChecked]:
    """Check one shard's rows of every table, parents first, and stage its clean files."""
    parents: dict[str, ParentKeys] = {}
    found = {}
    for split in job.splits:
        info = table_info(split.table)
        rows = _rows(job, split)
        positions = rows.column(POSITION).to_numpy()
        # split_blocks: one block per column, as the checks read them, instead of copying them into 2-D blocks
        raw = rows.drop_columns([POSITION]).to_pandas(date_as_object=False, split_blocks=True).reset_index(drop=True)
        unique = split.table in job.unique_keys
        stage = _stage(job, info.name)
        checked, keys = check_table(info, raw, positions, job.extract_end, parents, stage, unique_keys=unique)
        parents.update({f"{split.table}.{column}": value for column, value in keys.items()})
        found[split.table] = checked
    return found


def _rows(job: ShardJob, split: Split) -> arrow.Table:
    """The job's rows of one table, in file order."""
    if job.shard is not None:
        return read_piece(split, job.shard, job.entangled, keep_entangled=False)
    pieces = [read_piece(split, shard, job.entangled, keep_entangled=True) for shard in range(job.shards)]
    rows = arrow.concat_tables(pieces)
    return rows.take(np.argsort(rows.column(POSITION).to_numpy(), kind="stable"))


def _stage(job: ShardJob, table: str) -> Callable[[pd.DataFrame], int]:
    """How the job writes a table's kept rows: into its shard's file, or each row into its own shard's."""
    info = table_info(table)
    if job.shard is not None:
        return lambda kept: job.staged.write_clean(info, kept, job.shard)

    def by_shard(kept: pd.DataFrame) -> int:
        shard = ShardOf(job.shards)(arrow.array(kept["account_id"], from_pandas=True))
        return sum(
            job.staged.write_clean(info, kept.loc[shard == number], number, ENTANGLED) for number in np.unique(shard)
        )

    return by_shard


def _split(opened: OpenTable, folder: Path, shards: int, buckets: int) -> tuple[Split, KeyBuckets]:
    return split_table(opened.info.name, opened.batches(), opened.schema, folder, shards, buckets)


def validate_in_shards(
    raw_dir: Path,
    folder: MappedFolder,
    staged: StagedOutputs,
    shards: int,
    extract_end: date | None,
    limits: RejectLimits,
    runner: Executor | None = None,
) -> list[Outcome]:
    """Validate every contract table in account shards; the outcomes in contract order.

    Args:
        raw_dir: The extract's folder.
        folder: It, read through the extract's mapping.
        staged: The run's staged outputs (one clean file per shard and table).
        shards: How many account shards.
        extract_end: The extract's last day, if known.
        limits: The reject limits.
        runner: Where the shards are checked (``map``); None checks them one after another here.
    """
    pieces = staged.root / "pieces"
    entanglement = Entanglement()
    outcomes: dict[str, Outcome] = {}
    checked_tables: dict[str, OpenTable] = {}
    splits = []
    noted: list[KeyBuckets] = []

    def settle(opened: OpenTable, splitting: Future[tuple[Split, KeyBuckets]]) -> None:
        """Take one table's split, in contract order (``Entanglement.note`` needs the parents' keys first)."""
        name = opened.info.name
        try:
            split, keys = splitting.result()
        except TableReadError as error:
            outcomes[name] = unreadable(opened.info, opened.path, error)
            return
        entanglement.note(name, keys)
        noted.append(keys)
        opened.frame = None  # a file read whole is in its pieces now
        if split.rows == 0 or not opened.columns:
            outcomes[name] = without_rows(opened)
            return
        checked_tables[name] = opened
        splits.append(split)

    pending: deque[tuple[OpenTable, Future[tuple[Split, KeyBuckets]]]] = deque()
    with ThreadPoolExecutor(SPLIT_THREADS, thread_name_prefix="split") as splitter:
        for name in TABLES:  # opened in contract order, here, so the mapping's record keeps that order
            opened = open_table(table_info(name), raw_dir, folder, stream=True)
            if isinstance(opened, Outcome):
                outcomes[name] = opened
                continue
            pending.append((opened, splitter.submit(_split, opened, pieces / name, shards, entanglement.buckets)))
            if len(pending) == SPLIT_THREADS:
                settle(*pending.popleft())
        while pending:
            settle(*pending.popleft())
    for keys in noted:  # the entanglement is known: the keys' buckets are no longer needed
        shutil.rmtree(keys.folder, ignore_errors=True)
    entangled = np.array(sorted(entanglement.accounts), dtype="uint64")
    unique = frozenset(entanglement.unique_keys)
    jobs = [ShardJob(s, shards, tuple(splits), entangled, extract_end, staged, unique) for s in range(shards)]
    if entangled.size:
        jobs.append(ShardJob(None, shards, tuple(splits), entangled, extract_end, staged, unique))
    results = list(runner.map(check_shard, jobs) if runner is not None else map(check_shard, jobs))
    shutil.rmtree(pieces, ignore_errors=True)
    for name, opened in checked_tables.items():
        staged.merge_entangled(opened.info)
        outcomes[name] = summarise(opened, merge_checked([result[name] for result in results]), staged, limits)
        if outcomes[name].summary.status != "absent":
            staged.fill_shards(name)
    return [outcomes[name] for name in TABLES]
