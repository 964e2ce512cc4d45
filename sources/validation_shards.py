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

The compared keys are not held in memory for the whole table: ``split_table`` writes each key column's hashed
values, with their accounts' hashes, into ``KEY_BUCKETS`` files by the value's hash (``KeyBuckets``). A value's
repeats, and a child's reference with the parent row it names, fall into the same bucket, so
``Entanglement.note`` reads one bucket of a column at a time and keeps only the entangled accounts.

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
BATCH_ROWS = 500_000
"""Rows read, hashed and placed at a time by each splitting thread: what the flow's process holds. Splitting a
5 M-account book's tables on two threads peaked at 1.38 GiB with batches of a million rows, 0.85 GiB with
500,000 and 0.62 GiB with 250,000, in 117, 120 and 128 s (``split_table`` alone over the raw tables, beside
another job); ``bench/scale.py`` reports the flow's whole peak."""
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


KEY_BUCKETS = 64
"""Buckets each compared key column is written into, by its values' hash (``KeyBuckets``).

Fixed, not drawn from a table's rows, because a child's references and its parent's key are joined bucket by
bucket and must be bucketed alike. A bucket holds 16 bytes per row (two 64-bit hashes) of 1/64 of a column:
at 5 million accounts the largest table (invoices, some 105 million rows) gives about 26 MB a bucket, a few
times that while it is grouped or joined, where the whole column would be about 1.7 GB. 64 files per column
stay cheap to write at 1 million rows a batch (some 15,000 rows a write), and a small table's buckets are
only the ones its values reach."""
KEY_SCHEMA = arrow.schema([arrow.field("value", arrow.uint64()), arrow.field("account", arrow.uint64())])
"""A key bucket's rows: the hash of a key value (never missing) and of its row's account (``account_hashes``)."""


@dataclass(frozen=True)
class KeyBuckets:
    """One table's compared key columns, hashed, in ``buckets`` files per column by the value's hash.

    ``folder/<column>/<bucket>.arrow`` (Arrow IPC, ``KEY_SCHEMA``) holds the rows whose value's hash is the
    bucket modulo ``buckets``; a row whose value is missing is in none (it repeats and references nothing).
    For a table keyed by ``account_id``, that column's values are the accounts' hashes. A bucket no value
    reached has no file.
    """

    table: str
    folder: Path
    buckets: int
    columns: tuple[str, ...]

    def file(self, column: str, bucket: int) -> Path:
        """The file of one bucket of one column."""
        return self.folder / column / f"{bucket}.arrow"

    def read(self, column: str, bucket: int) -> pl.DataFrame:
        """One bucket of one column: ``value`` and ``account`` (no rows if no value reached it)."""
        path = self.file(column, bucket)
        if column not in self.columns or not path.is_file():
            return pl.DataFrame(schema={"value": pl.UInt64, "account": pl.UInt64})
        return pl.DataFrame(arrow.ipc.open_file(arrow.memory_map(str(path))).read_all())


class KeyBucketWriter:
    """Writes a table's hashed keys, batch after batch, into their ``KeyBuckets`` files (opened when first used)."""

    def __init__(self, keys: KeyBuckets) -> None:
        """Into ``keys``' folder, in its buckets."""
        self.keys = keys
        self.writers: dict[tuple[str, int], arrow.ipc.RecordBatchFileWriter] = {}

    def write(self, hashed: pl.DataFrame) -> None:
        """Add one batch's hashed keys (``_hashed_keys``: ``account`` and a column per compared key)."""
        for column in self.keys.columns:
            values = hashed["account"] if column == ACCOUNT else hashed[column]
            pairs = pl.DataFrame({"value": values, "account": hashed["account"]}).drop_nulls("value")
            self._write_column(column, pairs["value"].to_numpy(), pairs["account"].to_numpy())

    def _write_column(self, column: str, values: np.ndarray, accounts: np.ndarray) -> None:
        """Write one column's pairs, each into the bucket of its value's hash."""
        buckets = self.keys.buckets
        bucket = values % np.uint64(buckets)
        # Buckets fit a small integer, which NumPy sorts by radix (the order within a bucket does not matter).
        order = np.argsort(bucket.astype(np.uint8 if buckets <= 256 else np.int64), kind="stable")
        rows = arrow.record_batch([arrow.array(values[order]), arrow.array(accounts[order])], schema=KEY_SCHEMA)
        bounds = np.searchsorted(bucket[order], np.arange(buckets + 1, dtype=np.uint64))
        for number in np.flatnonzero(np.diff(bounds)):
            self._writer(column, int(number)).write_batch(
                rows.slice(bounds[number], bounds[number + 1] - bounds[number])
            )

    def _writer(self, column: str, bucket: int) -> arrow.ipc.RecordBatchFileWriter:
        """The open file of one bucket, opened the first time a value reaches it."""
        writer = self.writers.get((column, bucket))
        if writer is None:
            path = self.keys.file(column, bucket)
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = self.writers[(column, bucket)] = arrow.ipc.new_file(path, KEY_SCHEMA)
        return writer

    def close(self) -> None:
        """Close every bucket file."""
        for writer in self.writers.values():
            writer.close()


@dataclass
class Entanglement:
    """Accounts that share a non-account key with another account, found while the tables are split.

    Each table's keys are taken one bucket at a time (``KeyBuckets``): only the entangled accounts and the
    tables with unique keys are kept from one table to the next, the parents' keys staying on disk.

    Attributes:
        buckets: How many buckets every table's keys are split into (the same for parents and children).
        accounts: Hashes (``account_hashes``) of the entangled accounts.
        parents: Per referenced ``table.column`` (a line id, a request id), the parent table's key buckets.
    """

    buckets: int = KEY_BUCKETS
    accounts: set[int] = field(default_factory=set)
    parents: dict[str, KeyBuckets] = field(default_factory=dict)
    unique_keys: set[str] = field(default_factory=set)
    """Tables in which no key value occurs twice (their duplicate check has nothing to find)."""

    def note(self, table: str, keys: KeyBuckets) -> None:
        """Note one whole table's keys, split by ``split_table`` into this entanglement's buckets."""
        if keys.buckets != self.buckets:
            raise ValueError(f"{table}'s keys are in {keys.buckets} buckets, not {self.buckets}")
        info = table_info(table)
        if self._note_repeats(keys, info.key):
            self.unique_keys.add(table)
        for column, (parent, parent_column) in info.foreign_keys.items():
            reference = self.parents.get(f"{parent}.{parent_column}")
            if column != ACCOUNT and reference is not None:
                for bucket in range(self.buckets):
                    self._note_crossed(keys.read(column, bucket), reference.read(parent_column, bucket))
        for column in _referenced(table):
            if column != ACCOUNT:
                self.parents[f"{table}.{column}"] = keys

    def _note_repeats(self, keys: KeyBuckets, key: str) -> bool:
        """Mark the accounts sharing a value of the key, bucket by bucket; whether no value occurs twice."""
        unique = True
        for bucket in range(self.buckets):
            rows = keys.read(key, bucket)
            # Counting distinct hashes is several times cheaper than marking the repeated ones: mark only if some are.
            if _all_distinct(rows["value"]):
                continue
            unique = False
            if key == ACCOUNT:  # an account's rows are all in its own group: nothing to mark
                break
            shared = rows.filter(pl.col("value").is_duplicated()).group_by("value").agg(pl.col("account"))
            for accounts in shared.filter(pl.col("account").list.n_unique() > 1)["account"].to_list():
                self.accounts.update(accounts)
        return unique

    def _note_crossed(self, references: pl.DataFrame, parents: pl.DataFrame) -> None:
        """Mark both accounts of every reference to a parent row of another account (one bucket of each)."""
        if references.is_empty() or parents.is_empty():
            return
        parent_rows = parents.rename({"account": "parent_account"}).unique()
        crossed = references.join(parent_rows, on="value").filter(pl.col("account") != pl.col("parent_account"))
        self.accounts.update(crossed["account"].to_list() + crossed["parent_account"].to_list())

    @staticmethod
    def columns(table: str) -> list[str]:
        """The columns whose values it compares: the key and the foreign keys other than ``account_id``."""
        info = table_info(table)
        named = [info.key, *(c for c in info.foreign_keys if c != ACCOUNT)]
        return [c for c in dict.fromkeys([*named, *_referenced(table)]) if c != ACCOUNT]


def _referenced(table: str) -> list[str]:
    """The table's columns that other tables' foreign keys reference."""
    return list(dict.fromkeys(c for name in TABLES for p, c in table_info(name).foreign_keys.values() if p == table))


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
    table: str,
    batches: Iterable[arrow.RecordBatch],
    schema: arrow.Schema,
    folder: Path,
    shards: int,
    buckets: int = KEY_BUCKETS,
) -> tuple[Split, KeyBuckets]:
    """Write a table's rows into one piece per account shard, in file order, and its keys into their buckets.

    Reading, hashing, reordering and writing run in Arrow, NumPy and polars without the GIL, so tables can be
    split on several threads at once. The keys (``folder/keys``) are for ``Entanglement.note``, which takes the
    tables in contract order.

    Args:
        table: The contract table.
        batches: Its rows, in file order.
        schema: Their schema.
        folder: Where the pieces go.
        shards: How many.
        buckets: How many buckets per compared key column (``Entanglement.buckets``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    shard_of = ShardOf(shards)
    written = schema.append(arrow.field(POSITION, arrow.int64()))
    options = arrow.ipc.IpcWriteOptions(compression=PIECE_COMPRESSION)
    writers = [arrow.ipc.new_file(folder / f"{shard}.arrow", written, options=options) for shard in range(shards)]
    compared = [c for c in Entanglement.columns(table) if c in schema.names]
    keyed = [ACCOUNT] if table_info(table).key == ACCOUNT else []
    keys = KeyBuckets(table, folder / "keys", buckets, tuple(keyed + compared))
    key_writer = KeyBucketWriter(keys)
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
            key_writer.write(_hashed_keys(batch, compared))
            rows += batch.num_rows
    finally:
        for writer in writers:
            writer.close()
        key_writer.close()
    return Split(table, folder, rows), keys


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
    """A Parquet file's rows in batches of ``BATCH_ROWS``, read by a fresh reader every run of row groups.

    One reader over the whole file keeps what it read of every row group until it is done (apache/arrow#39808):
    the process would hold a compressed copy of the file, over 1 GB for invoices at 5 million accounts.
    """
    for groups in _row_group_runs(file.metadata, BATCH_ROWS):
        yield from file.iter_batches(batch_size=BATCH_ROWS, row_groups=groups, use_pandas_metadata=True)


def _row_group_runs(metadata: pq.FileMetaData, rows: int) -> Iterator[list[int]]:
    """Consecutive row groups, as many as fit ``rows`` rows together (a larger group alone)."""
    run: list[int] = []
    held = 0
    for group in range(metadata.num_row_groups):
        size = metadata.row_group(group).num_rows
        if run and held + size > rows:
            yield run
            run, held = [], 0
        run.append(group)
        held += size
    if run:
        yield run


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
