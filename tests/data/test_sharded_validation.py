"""Validation in account shards gives the outcome of one pass over the whole extract.

The same extract is validated in one pass (``clean/<table>.parquet``) and in account shards
(``clean/<table>/<shard>.parquet``): the report, the quarantined rows with their reasons and the clean rows
(as a set) are the same, even where rows of one account point at another account's line or request, or two
accounts share an invoice id, which a shard alone could not see.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq
import pytest

from features.view import scan_tables
from sources.contract import TABLES, table_info
from sources.folders import WorkspaceFolders
from sources.keys import stable_bucket
from sources.validation import validate_workspace
from sources.validation_report import ValidationReport

Hauler = dict[str, pd.DataFrame]


def _entangle(hauler: Hauler) -> None:
    """Row problems of every kind, some of them across accounts that land in different shards."""
    changes, invoices, attempts = hauler["rate_changes"], hauler["invoices"], hauler["save_attempts"]
    changes.loc[0, "line_id"] = "L004"  # A001's rate change on A003's line: kept in one pass
    last = invoices.index[invoices["account_id"] == "A006"][0]
    invoices.loc[last, "invoice_id"] = invoices.loc[0, "invoice_id"]  # A006 and A001 share an invoice id
    invoices.loc[3, "amount"] = -4.0
    attempts.loc[0, "request_id"] = "Q003"  # A001's attempt on A006's request
    hauler["service_events"].loc[2, "line_id"] = "L999"  # a line nowhere
    hauler["contacts"].loc[3, "account_id"] = None  # a contact without its account
    hauler["contacts"].loc[1, "contact_date"] = pd.Timestamp("2026-01-01")  # after the extract's end
    copy = hauler["cancellation_requests"].iloc[[1]]
    hauler["cancellation_requests"] = pd.concat([hauler["cancellation_requests"], copy], ignore_index=True)


def _validate(workspace: Path, shards: int, runner: ThreadPoolExecutor | None = None) -> ValidationReport:
    folders = WorkspaceFolders(raw=workspace / "raw", clean=workspace / "clean", rejects=workspace / "rejects")
    return validate_workspace(folders, shards=shards, runner=runner)


def _report(workspace: Path) -> dict:
    text = (workspace / "clean" / "validation.json").read_text(encoding="utf-8")
    return json.loads(text.replace(str(workspace), "WORKSPACE"))


def _clean(workspace: Path, table: str) -> pd.DataFrame:
    """A table's clean rows in either layout, in key order."""
    folder = workspace / "clean"
    files = [folder / f"{table}.parquet"] if (folder / f"{table}.parquet").is_file() else []
    files = files or sorted((folder / table).glob("*.parquet"))
    frame = pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)
    return frame.sort_values(table_info(table).key, ignore_index=True)


def assert_same_outcome(one: Path, sharded: Path) -> None:
    """Same report, same rejects (row for row), same clean rows (as a set) in the two workspaces."""
    assert _report(sharded) == _report(one)
    for table in TABLES:
        rejects = one / "rejects" / f"{table}.parquet"
        assert rejects.is_file() == (sharded / "rejects" / f"{table}.parquet").is_file(), table
        if rejects.is_file():
            pd.testing.assert_frame_equal(pd.read_parquet(sharded / "rejects" / rejects.name), pd.read_parquet(rejects))
        whole = one / "clean" / f"{table}.parquet"
        assert whole.is_file() == (sharded / "clean" / table).is_dir(), table
        if whole.is_file():
            pd.testing.assert_frame_equal(_clean(sharded, table), _clean(one, table))


@pytest.fixture
def pair(tmp_path: Path, hauler: Hauler, write_raw) -> tuple[Path, Path]:  # noqa: ANN001 - conftest's function
    _entangle(hauler)
    one = write_raw(tmp_path / "one", hauler)
    shutil.copytree(one, tmp_path / "sharded")
    return one, tmp_path / "sharded"


@pytest.mark.parametrize("shards", [2, 3, 7])
def test_shards_give_the_one_pass_report_rejects_and_clean_rows(pair: tuple[Path, Path], shards: int) -> None:
    one, sharded = pair
    whole = _validate(one, 1)
    with ThreadPoolExecutor(2) as runner:
        split = _validate(sharded, shards, runner)

    assert not whole.fatal and whole.table("rate_changes").rows_rejected == 0, "the cross-account line is kept"
    assert {p.key for p in whole.problems if p.table == "invoices"} >= {"I001", "I004"}
    assert split.problem_count == whole.problem_count and split.fatal == whole.fatal
    assert_same_outcome(one, sharded)


def test_each_shard_file_holds_the_accounts_of_its_shard_and_every_shard_has_one(pair: tuple[Path, Path]) -> None:
    _, sharded = pair
    _validate(sharded, 3)

    for table in TABLES:
        folder = sharded / "clean" / table
        if not folder.is_dir():
            continue
        assert sorted(path.name for path in folder.iterdir()) == ["0.parquet", "1.parquet", "2.parquet"], table
        for shard in range(3):
            accounts = pd.read_parquet(folder / f"{shard}.parquet")["account_id"]
            assert (stable_bucket(accounts, 3) == shard).all(), (table, shard)
            assert accounts.is_monotonic_increasing, "sorted by account within the shard"
    assert set(scan_tables(sharded / "clean")) == {t for t in TABLES if (sharded / "clean" / t).is_dir()}


def test_sharding_again_replaces_the_other_layout(pair: tuple[Path, Path]) -> None:
    one, _ = pair
    _validate(one, 4)
    assert not list((one / "clean").glob("*.parquet")) and (one / "clean" / "accounts").is_dir()
    _validate(one, 1)
    assert (one / "clean" / "accounts.parquet").is_file() and not (one / "clean" / "accounts").exists()


def test_a_simulated_book_as_csv_gives_the_same_outcome_in_shards(simulated_raw: Path, tmp_path: Path) -> None:
    one, sharded = tmp_path / "one", tmp_path / "sharded"
    (one / "raw").mkdir(parents=True)
    rng = np.random.default_rng(5)
    for path in simulated_raw.iterdir():
        if path.suffix != ".parquet":
            shutil.copy(path, one / "raw" / path.name)
            continue
        frame = pd.read_parquet(path)
        if path.stem == "invoices":  # a few bad rows: negative, and ids shared across accounts
            frame.loc[rng.choice(len(frame), 20, replace=False), "amount"] = -1.0
            frame.loc[rng.choice(len(frame), 20, replace=False), "invoice_id"] = frame["invoice_id"].iloc[0]
        frame.to_csv(one / "raw" / f"{path.stem}.csv", index=False)
    shutil.copytree(one, sharded)

    _validate(one, 1)
    _validate(sharded, 5)

    assert_same_outcome(one, sharded)
    assert _report(one)["tables"][4]["rows_rejected"] >= 20


def test_dask_workers_check_the_shards_with_the_same_outcome(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.settings import load_settings
    from pipelines.workspace import validate_with_settings

    one, sharded = pair
    _validate(one, 1)
    monkeypatch.setenv("SAVEDESK_VALIDATION_RUN__SHARDS", "3")
    monkeypatch.setenv("SAVEDESK_VALIDATION_RUN__TASK_RUNNER", "dask")
    monkeypatch.setenv("SAVEDESK_NIGHTLY__WORKER_MEMORY", "1GB")
    settings = load_settings(sharded)

    report = validate_with_settings(settings)

    assert not report.fatal and (sharded / "clean" / "accounts" / "2.parquet").is_file()
    assert_same_outcome(one, sharded)


def test_values_in_runs_get_what_each_value_alone_gets() -> None:
    from sources.checks import _is_in
    from sources.validation_shards import ShardOf, account_hashes, per_run

    rng = np.random.default_rng(11)
    ids = [f"A{number:04d}" for number in np.repeat(rng.integers(0, 50, 40), rng.integers(1, 9, 40))]
    runs = pa.array(ids)
    scattered = pa.array(list(rng.permutation(ids)))
    gaps = pa.array([None if number % 7 == 0 else value for number, value in enumerate(ids)])

    for values in (runs, scattered, gaps, runs.slice(3, 50)):
        assert np.array_equal(per_run(values, account_hashes), account_hashes(values))
        assert np.array_equal(ShardOf(5)(values), stable_bucket(pd.Series(values.to_pylist(), dtype=object), 5))
    kept = pd.Series(ids[::3], dtype="str")
    for values in (runs, gaps):
        series = pd.Series(values.to_pylist(), dtype="str")
        assert np.array_equal(_is_in(series, kept), series.isin(set(kept)).to_numpy() & series.notna().to_numpy())


@pytest.mark.parametrize("layout", ["sorted", "shuffled", "with gaps", "ties"])
def test_clean_rows_are_written_in_the_order_a_stable_sort_gives(tmp_path: Path, layout: str) -> None:
    from sources.validation_output import write_sorted

    rng = np.random.default_rng(3)
    rows = 300
    accounts = np.sort(rng.choice([f"A{n:03d}" for n in range(40)], rows))
    frame = pd.DataFrame(
        {
            "invoice_id": [f"I{n:05d}" for n in range(rows)],
            "account_id": accounts,
            "invoice_date": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 9, rows), unit="D"),
            "amount": rng.random(rows),
        }
    ).sort_values(["account_id", "invoice_date", "invoice_id"], ignore_index=True)
    if layout == "shuffled":
        frame = frame.sample(frac=1, random_state=1, ignore_index=True)
    if layout == "with gaps":
        frame.loc[::17, "invoice_date"] = pd.NaT
    if layout == "ties":
        frame["invoice_id"] = "I"
    table = pa.Table.from_pandas(frame, preserve_index=False)
    expected = table.take(
        pa.compute.sort_indices(
            table, [("account_id", "ascending"), ("invoice_date", "ascending"), ("invoice_id", "ascending")]
        )  # fmt: skip
    )

    write_sorted(table_info("invoices"), table, tmp_path / "invoices.parquet")

    assert pq.read_table(tmp_path / "invoices.parquet").equals(expected)


def test_a_parquet_file_is_read_a_run_of_row_groups_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sources import validation_shards
    from sources.validation_shards import _row_group_runs, parquet_batches

    table = pa.table({"account_id": [f"A{n:03d}" for n in range(70)], "amount": np.arange(70.0)})
    writer = pq.ParquetWriter(tmp_path / "rows.parquet", table.schema)
    for start, size in ((0, 4), (4, 4), (8, 4), (12, 25), (37, 3), (40, 30)):
        writer.write_table(table.slice(start, size))
    writer.close()
    file = pq.ParquetFile(tmp_path / "rows.parquet")
    monkeypatch.setattr(validation_shards, "BATCH_ROWS", 10)

    batches = list(parquet_batches(file))

    assert list(_row_group_runs(file.metadata, 10)) == [[0, 1], [2], [3], [4], [5]]
    assert pa.Table.from_batches(batches).equals(table)
    assert max(batch.num_rows for batch in batches) <= 10
