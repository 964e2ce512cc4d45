"""The entanglement found bucket by bucket is the one the whole book shows at once.

``split_table`` writes every compared key's hashes into buckets on disk and ``Entanglement.note`` reads them
one bucket at a time. Whatever the number of buckets, the entangled accounts and the tables with unique keys
are those a plain computation over the whole book, in memory and on the ids themselves, finds: accounts
sharing a key value, children pointing at another account's parent row, and never a missing value.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sources.contract import TABLES, table_info
from sources.validation_shards import KEY_BUCKETS, Entanglement, KeyBuckets, ShardOf, account_hashes, split_table

Book = dict[str, dict[str, list[str | None]]]
"""Some contract tables: per table, its account and key columns as lists of ids (None: missing)."""

SHARDS = 3
BATCH = 7
"""Rows per batch the tables are split in: every bucket file is written in several batches."""


def _entangle(book: Book, folder: Path, buckets: int) -> Entanglement:
    """Split the book's tables in contract order, noting each table's keys as validation does."""
    entanglement = Entanglement(buckets)
    for table in (name for name in TABLES if name in book):
        rows = pa.table({column: pa.array(values, pa.string()) for column, values in book[table].items()})
        _, keys = split_table(table, rows.to_batches(max_chunksize=BATCH), rows.schema, folder / table, SHARDS, buckets)
        entanglement.note(table, keys)
    return entanglement


def _hashes(accounts: set[str | None]) -> set[int]:
    return set(account_hashes(pa.array(sorted(accounts, key=str), pa.string())).tolist())


def _in_memory(book: Book) -> tuple[set[int], set[str]]:
    """The entangled accounts' hashes and the tables with unique keys, from the whole book at once."""
    entangled: set[str | None] = set()
    unique: set[str] = set()
    for table, columns in book.items():
        info = table_info(table)
        owners: dict[str, list[str | None]] = defaultdict(list)
        for value, account in zip(columns[info.key], columns["account_id"], strict=True):
            if value is not None:
                owners[value].append(account)
        if all(len(accounts) == 1 for accounts in owners.values()):
            unique.add(table)
        if info.key != "account_id":
            entangled.update(a for accounts in owners.values() if len(set(accounts)) > 1 for a in accounts)
        for column, (parent, parent_column) in info.foreign_keys.items():
            if column == "account_id" or parent not in book:
                continue
            parents = defaultdict(set)
            for value, account in zip(book[parent][parent_column], book[parent]["account_id"], strict=True):
                if value is not None:
                    parents[value].add(account)
            for value, account in zip(columns[column], columns["account_id"], strict=True):
                crossed = {p for p in parents.get(value, set()) if p != account} if value is not None else set()
                entangled.update({account} | crossed if crossed else set())
    return _hashes(entangled), unique


def _book(seed: int, accounts: int = 80) -> Book:
    """A small book whose children point at their own accounts' parents, then spoiled here and there."""
    rng = np.random.default_rng(seed)
    ids = [f"A{n:03d}" for n in range(accounts)]
    line_owner = [ids[a] for a in rng.integers(0, accounts, 2 * accounts)]
    lines = [f"L{n:04d}" for n in range(len(line_owner))]
    changed = rng.integers(0, len(lines), 3 * accounts)
    invoice_owner = [ids[a] for a in rng.integers(0, accounts, 4 * accounts)]
    request_owner = [ids[a] for a in rng.integers(0, accounts, accounts // 2)]
    answered = rng.integers(0, len(request_owner), accounts)
    book: Book = {
        "accounts": {"account_id": list(ids)},
        "service_lines": {"line_id": list(lines), "account_id": line_owner},
        "rate_changes": {
            "change_id": [f"C{n:04d}" for n in range(len(changed))],
            "account_id": [line_owner[n] for n in changed],
            "line_id": [lines[n] for n in changed],
        },
        "invoices": {"invoice_id": [f"I{n:04d}" for n in range(len(invoice_owner))], "account_id": invoice_owner},
        "cancellation_requests": {
            "request_id": [f"Q{n:03d}" for n in range(len(request_owner))],
            "account_id": request_owner,
        },
        "save_attempts": {
            "attempt_id": [f"T{n:03d}" for n in range(len(answered))],
            "request_id": [f"Q{n:03d}" for n in answered],
            "account_id": [request_owner[n] for n in answered],
        },
    }
    _spoil(book, rng)
    return book


def _spoil(book: Book, rng: np.random.Generator) -> None:
    """Shared and repeated ids, references to other accounts' rows, missing keys and accounts."""
    invoices, changes, attempts = book["invoices"], book["rate_changes"], book["save_attempts"]
    for row in rng.choice(len(invoices["invoice_id"]), 6, replace=False):
        invoices["invoice_id"][row] = invoices["invoice_id"][rng.integers(len(invoices["invoice_id"]))]
    for row in rng.choice(len(changes["line_id"]), 4, replace=False):
        changes["line_id"][row] = book["service_lines"]["line_id"][rng.integers(len(book["service_lines"]["line_id"]))]
    for row in rng.choice(len(attempts["request_id"]), 3, replace=False):
        attempts["request_id"][row] = f"Q{rng.integers(len(book['cancellation_requests']['request_id'])):03d}"
    for row in rng.choice(len(invoices["invoice_id"]), 5, replace=False):
        invoices["invoice_id"][row] = None
    changes["line_id"][0] = None
    book["service_lines"]["line_id"][1] = None
    invoices["account_id"][2] = None
    book["accounts"]["account_id"].append(book["accounts"]["account_id"][0])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_bucket_count_finds_what_the_whole_book_shows(tmp_path: Path, seed: int) -> None:
    book = _book(seed)
    accounts, unique = _in_memory(book)

    found = {buckets: _entangle(book, tmp_path / str(buckets), buckets) for buckets in (1, 2, 7, KEY_BUCKETS)}

    assert accounts and unique and unique != set(book), "the book has entangled accounts and repeated keys"
    for buckets, entanglement in found.items():
        assert entanglement.accounts == accounts, buckets
        assert entanglement.unique_keys == unique, buckets


def _two_accounts_apart(buckets: int) -> tuple[str, str]:
    """Two accounts in different shards whose own hashes fall into different buckets."""
    ids = [f"A{n:03d}" for n in range(20)]
    shard, bucket = ShardOf(SHARDS)(pa.array(ids)), account_hashes(pa.array(ids)) % np.uint64(buckets)
    first = ids[0]
    second = next(i for n, i in enumerate(ids) if shard[n] != shard[0] and bucket[n] != bucket[0])
    return first, second


def _plain_book(accounts: list[str]) -> Book:
    """One line, one rate change, one invoice, one request and one attempt per account, all its own."""
    return {
        "accounts": {"account_id": list(accounts)},
        "service_lines": {"line_id": [f"L{a}" for a in accounts], "account_id": list(accounts)},
        "rate_changes": {
            "change_id": [f"C{a}" for a in accounts],
            "account_id": list(accounts),
            "line_id": [f"L{a}" for a in accounts],
        },
        "invoices": {"invoice_id": [f"I{a}" for a in accounts], "account_id": list(accounts)},
        "cancellation_requests": {"request_id": [f"Q{a}" for a in accounts], "account_id": list(accounts)},
        "save_attempts": {
            "attempt_id": [f"T{a}" for a in accounts],
            "request_id": [f"Q{a}" for a in accounts],
            "account_id": list(accounts),
        },
    }


@pytest.mark.parametrize("buckets", [2, 7])
def test_an_invoice_id_shared_by_accounts_in_different_shards_entangles_both(tmp_path: Path, buckets: int) -> None:
    first, second = _two_accounts_apart(buckets)
    book = _plain_book([f"A{n:03d}" for n in range(20)])
    invoices = book["invoices"]
    invoices["invoice_id"][invoices["account_id"].index(second)] = f"I{first}"

    entanglement = _entangle(book, tmp_path, buckets)

    assert entanglement.accounts == _hashes({first, second})
    assert "invoices" not in entanglement.unique_keys and "rate_changes" in entanglement.unique_keys


@pytest.mark.parametrize("buckets", [1, 7])
def test_a_child_on_another_accounts_parent_row_entangles_both(tmp_path: Path, buckets: int) -> None:
    book = _plain_book([f"A{n:03d}" for n in range(20)])
    book["rate_changes"]["line_id"][3] = "LA011"  # A003's rate change on A011's line
    book["save_attempts"]["request_id"][5] = "QA017"  # A005's attempt on A017's request

    entanglement = _entangle(book, tmp_path, buckets)

    assert entanglement.accounts == _hashes({"A003", "A011", "A005", "A017"})
    assert entanglement.unique_keys == set(book), "no key repeats"


def test_a_clean_book_entangles_nothing(tmp_path: Path) -> None:
    book = _plain_book([f"A{n:03d}" for n in range(50)])

    entanglement = _entangle(book, tmp_path, KEY_BUCKETS)

    assert not entanglement.accounts and entanglement.unique_keys == set(book)


def test_missing_keys_never_entangle_nor_repeat(tmp_path: Path) -> None:
    book = _plain_book([f"A{n:03d}" for n in range(20)])
    for row in (1, 8, 13):
        book["invoices"]["invoice_id"][row] = None
        book["service_lines"]["line_id"][row] = None
        book["rate_changes"]["line_id"][row + 1] = None  # a missing line beside another account's missing line
        book["save_attempts"]["request_id"][row] = None

    entanglement = _entangle(book, tmp_path, 7)

    assert not entanglement.accounts
    assert entanglement.unique_keys == set(book)


def test_a_key_repeated_within_one_account_entangles_nothing_but_is_not_unique(tmp_path: Path) -> None:
    book = _plain_book([f"A{n:03d}" for n in range(20)])
    book["invoices"]["invoice_id"].append("IA004")
    book["invoices"]["account_id"].append("A004")
    book["accounts"]["account_id"].append("A009")  # an account listed twice

    entanglement = _entangle(book, tmp_path, 7)

    assert not entanglement.accounts
    assert entanglement.unique_keys == set(book) - {"invoices", "accounts"}


def test_each_bucket_holds_every_value_of_its_hash_and_no_other(tmp_path: Path) -> None:
    book = _book(4)
    rows = pa.table({column: pa.array(values, pa.string()) for column, values in book["rate_changes"].items()})

    _, keys = split_table("rate_changes", rows.to_batches(max_chunksize=BATCH), rows.schema, tmp_path, SHARDS, 7)

    assert keys.columns == ("change_id", "line_id")
    for column in keys.columns:
        parts = [keys.read(column, bucket) for bucket in range(7)]
        for bucket, part in enumerate(parts):
            assert (part["value"] % 7 == bucket).all(), (column, bucket)
        assert sum(part.height for part in parts) == rows.column(column).length() - rows.column(column).null_count
        assert max(part.height for part in parts) < rows.num_rows / 3, "no bucket holds the whole column"


def test_parents_stay_on_disk_and_keys_in_other_buckets_are_refused(tmp_path: Path) -> None:
    book = _plain_book(["A001", "A002"])
    entanglement = _entangle({"service_lines": book["service_lines"]}, tmp_path / "noted", 7)
    rows = pa.table({column: pa.array(values, pa.string()) for column, values in book["rate_changes"].items()})
    _, keys = split_table("rate_changes", rows.to_batches(), rows.schema, tmp_path / "other", SHARDS, 5)

    assert isinstance(entanglement.parents["service_lines.line_id"], KeyBuckets)
    with pytest.raises(ValueError, match="5 buckets, not 7"):
        entanglement.note("rate_changes", keys)
