"""Validation in account shards: the raw tables split by account, each shard checked alone.

Every contract table carries ``account_id``, so a shard (CRC-32 of the account id modulo the shards, as
``sources.keys.stable_bucket`` and ``features.build.shard_of`` compute it) holds every row of its accounts,
and the checks between tables (a service line's account, an invoice's account) need nothing outside it.

Two checks reach past the account: keys other than ``account_id`` must be unique across the whole table (a
line id used by two accounts), and foreign keys other than ``account_id`` (a rate change's line, a save
attempt's request) may point at a row of another account. While the tables are split, ``Entanglement``
notes every account that shares such a key with another account; those accounts (in a clean extract:
none) are checked together in one extra group, drawn from their shards' pieces. So each group holds every
row any of its rows can be compared with, and the outcome is that of one pass over the whole extract.

``split_table`` streams a Parquet table in row batches (any other file, or a mapped one, is read whole
first), so the process that splits holds one batch, not the book. The pieces carry each row's position
in the file (``POSITION``) for the report and the rejects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as arrow
import pyarrow.compute as pc
import pyarrow.ipc  # noqa: F401 - arrow.ipc
import pyarrow.parquet as pq

from sources.contract import TABLES, table_info
from sources.keys import stable_bucket, text_buckets

POSITION = "__position__"
"""Column of a piece holding each row's position in its file (from 0)."""
ACCOUNT = "account_id"
BATCH_ROWS = 1_000_000
PIECE_COMPRESSION: str | None = None
"""Pieces are written uncompressed and memory-mapped when read: no CPU spent on them. Where the workspace is on
a network filesystem, ``"lz4"`` trades some CPU for less traffic."""


def account_texts(values: arrow.Array | arrow.ChunkedArray) -> pl.Series:
    """Account ids as text (missing stays missing), as shards and entanglement compare them."""
    return pl.Series(values).cast(pl.String)


def account_hashes(values: arrow.Array | arrow.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each account id (two of a million ids collide with odds of about 1 in 10^7)."""
    return account_texts(values).hash().to_numpy()


def per_run(values: arrow.Array, compute: Callable[[arrow.Array], np.ndarray]) -> np.ndarray:
    """``compute`` of each value, computed once per run of equal values when they come in runs.

    An extract exported by account holds each account's rows one after another: its hash or shard is then
    computed once per account, not once per row, and repeated along the run. The result is the same.
    """
    starts = _run_starts(values)
    if starts is None:
        return compute(values)
    return np.repeat(compute(values.take(arrow.array(starts))), np.diff(np.append(starts, len(values))))


def _run_starts(values: arrow.Array) -> np.ndarray | None:
    """Where each run of equal values starts; None when a value is missing or runs would not halve the work."""
    if len(values) < 2 or values.null_count:
        return None
    try:
        same = pc.equal(values.slice(1), values.slice(0, len(values) - 1)).to_numpy(zero_copy_only=False)
    except arrow.ArrowNotImplementedError:  # a type Arrow does not compare: each value alone
        return None
    starts = np.flatnonzero(np.concatenate([[True], ~same]))
    return starts if 2 * len(starts) <= len(values) else None


class ShardOf:
    """The shard of each account id: CRC-32 vectorised over text ids, once per distinct id of any other type."""

    def __init__(self, shards: int) -> None:
        """Shards numbered ``0 .. shards - 1``."""
        self.shards = shards

    def __call__(self, values: arrow.Array | arrow.ChunkedArray) -> np.ndarray:
        """The shard of each value (a missing id has one too: the shard of the text ``None``)."""
        if isinstance(values, arrow.Array):
            return per_run(values, self._shards)
        return self._shards(values)

    def _shards(self, values: arrow.Array | arrow.ChunkedArray) -> np.ndarray:
        if arrow.types.is_string(values.type) or arrow.types.is_large_string(values.type):
            text = values.cast(arrow.large_string())
            text = text.combine_chunks() if isinstance(text, arrow.ChunkedArray) else text
            text = pc.fill_null(text, "None") if text.null_count else text
            offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[text.offset : text.offset + len(text) + 1]
            return text_buckets(offsets, np.frombuffer(text.buffers()[2] or b"", dtype=np.uint8), self.shards)
        distinct = pc.unique(values)
        buckets = stable_bucket((str(value) for value in distinct.to_pylist()), self.shards)
        where = pc.index_in(values, value_set=distinct).to_numpy(zero_copy_only=False)
        return buckets[where]


@dataclass
class Entanglement:
    """Accounts that share a non-account key with another account, found while the tables are split.

    Attributes:
        accounts: Hashes (``account_hashes``) of the entangled accounts.
        parents: Per referenced ``table.column`` (a line id, a request id), its values' and accounts' hashes.
    """

    accounts: set[int] = field(default_factory=set)
    parents: dict[str, pl.DataFrame] = field(default_factory=dict)
    unique_keys: set[str] = field(default_factory=set)
    """Tables in which no key value occurs twice (their duplicate check has nothing to find)."""

    def note(self, table: str, keys: pl.DataFrame) -> None:
        """Note one whole table's keys: ``account`` and, per key or foreign-key column, its values' hashes."""
        info = table_info(table)
        key = keys["account"] if info.key == ACCOUNT else keys[info.key]
        # Counting distinct hashes is several times cheaper than marking the repeated ones: mark only if some are.
        shared = keys.clear() if _all_distinct(key) else keys.filter(key.is_not_null() & key.is_duplicated())
        if shared.is_empty():
            self.unique_keys.add(table)
        elif info.key != ACCOUNT:
            self._mark(shared.group_by(info.key).agg(pl.col("account")).filter(pl.col("account").list.n_unique() > 1))
        for column, (parent, parent_column) in info.foreign_keys.items():
            reference = self.parents.get(f"{parent}.{parent_column}")
            if column == ACCOUNT or reference is None:
                continue
            pairs = keys.select(pl.col(column).alias("value"), "account").join(reference, on="value")
            crossed = pairs.filter(pl.col("account") != pl.col("parent_account"))
            self.accounts.update(crossed["account"].to_list() + crossed["parent_account"].to_list())
        for column in {c for name in TABLES for p, c in table_info(name).foreign_keys.values() if p == table}:
            if column != ACCOUNT:
                frame = keys.select(pl.col(column).alias("value"), pl.col("account").alias("parent_account"))
                self.parents[f"{table}.{column}"] = frame.filter(pl.col("value").is_not_null()).unique()

    def _mark(self, groups: pl.DataFrame) -> None:
        for accounts in groups["account"].to_list():
            self.accounts.update(accounts)

    @staticmethod
    def columns(table: str) -> list[str]:
        """The columns whose values it compares: the key and the foreign keys other than ``account_id``."""
        info = table_info(table)
        named = [info.key, *(c for c in info.foreign_keys if c != ACCOUNT)]
        referenced = [c for name in TABLES for p, c in table_info(name).foreign_keys.values() if p == table]
        return [c for c in dict.fromkeys([*named, *referenced]) if c != ACCOUNT]


def _all_distinct(values: pl.Series) -> bool:
    """Whether no value other than a missing one occurs twice (``n_unique`` counts the missing as one value)."""
    missing = values.null_count()
    return values.n_unique() - (missing > 0) == values.len() - missing


@dataclass(frozen=True)
class Split:
    """One table split into shard pieces: ``folder/<shard>.arrow`` (Arrow IPC), each with ``POSITION``."""

    table: str
    folder: Path
    rows: int

    def piece(self, shard: int) -> Path:
        """The piece of one shard (every shard has one, possibly without rows)."""
        return self.folder / f"{shard}.arrow"


def split_table(
    table: str, batches: Iterable[arrow.RecordBatch], schema: arrow.Schema, folder: Path, shards: int
) -> tuple[Split, pl.DataFrame]:
    """Write a table's rows into one piece per account shard, in file order; return its pieces and its keys.

    Reading, hashing, reordering and writing run in Arrow, NumPy and polars without the GIL, so tables can be
    split on several threads at once. The keys are for ``Entanglement.note``, which takes the tables in contract
    order.

    Args:
        table: The contract table.
        batches: Its rows, in file order.
        schema: Their schema.
        folder: Where the pieces go.
        shards: How many.
    """
    folder.mkdir(parents=True, exist_ok=True)
    shard_of = ShardOf(shards)
    written = schema.append(arrow.field(POSITION, arrow.int64()))
    options = arrow.ipc.IpcWriteOptions(compression=PIECE_COMPRESSION)
    writers = [arrow.ipc.new_file(folder / f"{shard}.arrow", written, options=options) for shard in range(shards)]
    compared = [c for c in Entanglement.columns(table) if c in schema.names]
    keys: list[pl.DataFrame] = []
    rows = 0
    try:
        for batch in batches:
            shard = shard_of(batch.column(ACCOUNT))
            # Shards fit a small integer, which NumPy sorts by radix: the stable order at a fraction of the cost.
            order = np.argsort(shard.astype(np.uint8 if shards <= 256 else np.int64), kind="stable")
            placed = batch.append_column(POSITION, arrow.array(np.arange(rows, rows + batch.num_rows)))
            placed = placed.take(arrow.array(order))
            bounds = np.searchsorted(shard[order], np.arange(shards + 1))
            for number, writer in enumerate(writers):
                if bounds[number + 1] > bounds[number]:
                    writer.write_batch(placed.slice(bounds[number], bounds[number + 1] - bounds[number]))
            keys.append(_hashed_keys(batch, compared))
            rows += batch.num_rows
    finally:
        for writer in writers:
            writer.close()
    return Split(table, folder, rows), pl.concat(keys) if keys else _hashed_keys(schema.empty_table(), compared)


def _hashed_keys(batch: arrow.RecordBatch | arrow.Table, columns: list[str]) -> pl.DataFrame:
    """The account's and the compared columns' hashes (a missing value stays missing, its account does not)."""
    accounts = batch.column(ACCOUNT)
    hashes = per_run(accounts, account_hashes) if isinstance(accounts, arrow.Array) else account_hashes(accounts)
    hashed = pl.DataFrame({"account": pl.Series(hashes, dtype=pl.UInt64)})
    if not columns:
        return hashed
    texts = pl.DataFrame({name: account_texts(batch.column(name)) for name in columns})
    return hashed.hstack(
        texts.select(pl.when(pl.col(c).is_not_null()).then(pl.col(c).hash()).alias(c) for c in columns)
    )


def parquet_batches(file: pq.ParquetFile) -> Iterator[arrow.RecordBatch]:
    """A Parquet file's rows in batches of ``BATCH_ROWS``."""
    yield from file.iter_batches(batch_size=BATCH_ROWS, use_pandas_metadata=True)


def read_piece(split: Split, shard: int, entangled: np.ndarray, *, keep_entangled: bool) -> arrow.Table:
    """One shard's rows of a table: without the entangled accounts, or only them.

    Args:
        split: The table's pieces.
        shard: Which piece.
        entangled: Hashes of the entangled accounts.
        keep_entangled: Whether to keep only the entangled accounts' rows (for their own group).
    """
    table = arrow.ipc.open_file(arrow.memory_map(str(split.piece(shard)))).read_all()
    if not entangled.size and not keep_entangled:
        return table
    inside = np.isin(per_run(table.column(ACCOUNT).combine_chunks(), account_hashes), entangled)
    return table.filter(arrow.array(inside if keep_entangled else ~inside))
