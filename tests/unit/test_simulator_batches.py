"""A book simulated in batches of accounts is one valid book: unique keys, references that resolve, files in order.

A book of one batch is exactly ``simulate_hauler``'s; a book of several has every batch's identifiers moved up
past the previous batches', so no key repeats and every reference lands on its own batch's row.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sources.contract import TABLES, table_info
from sources.folders import WorkspaceFolders
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler
from sources.simulator.batches import batch_sizes, simulate_in_batches
from sources.validation import validate_workspace

CONFIG = SimulationConfig(accounts=900, months=18, seed=11)


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    workspace = tmp_path_factory.mktemp("batched")
    return workspace, simulate_in_batches(CONFIG, workspace, batch_accounts=350)


def _raw(workspace: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(workspace / "raw" / f"{name}.parquet") for name in TABLES}


def test_batch_sizes_cover_the_book_and_stay_within_the_cap() -> None:
    for accounts, cap in ((900, 350), (1_000_000, 1_000_000), (5_000_001, 1_000_000), (7, 1)):
        sizes = batch_sizes(accounts, cap)
        assert sum(sizes) == accounts and max(sizes) <= cap and max(sizes) - min(sizes) <= 1


def test_one_batch_is_the_single_simulation(tmp_path: Path) -> None:
    write_hauler(simulate_hauler(CONFIG), tmp_path / "one")
    simulate_in_batches(CONFIG, tmp_path / "batched", batch_accounts=CONFIG.accounts)
    files = sorted((tmp_path / "one").rglob("*.parquet"))
    assert files
    for path in files:
        other = tmp_path / "batched" / path.relative_to(tmp_path / "one")
        assert pq.read_table(path).equals(pq.read_table(other)), path.name


def test_keys_are_unique_and_every_reference_resolves_across_batches(batched: tuple[Path, dict]) -> None:
    workspace, summary = batched
    raw = _raw(workspace)
    assert len(summary["batches"]) == 3 and len({b["seed"] for b in summary["batches"]}) == 3
    assert len(raw["accounts"]) == CONFIG.accounts == summary["accounts"]
    for name in TABLES:
        info = table_info(name)
        assert raw[name][info.key].is_unique, name
        assert len(raw[name]) == summary["rows"][name], name
        for column, (parent, parent_column) in info.foreign_keys.items():
            assert raw[name][column].isin(raw[parent][parent_column]).all(), (name, column)
    truth = pd.read_parquet(workspace / "truth" / "save_response.parquet")
    assert truth["request_id"].isin(raw["cancellation_requests"]["request_id"]).all()


def test_rows_stay_in_account_order(batched: tuple[Path, dict]) -> None:
    raw = _raw(batched[0])
    for name, frame in raw.items():
        assert frame["account_id"].dropna().is_monotonic_increasing, name


def test_the_batched_book_validates_without_a_rejected_row(batched: tuple[Path, dict]) -> None:
    workspace = batched[0]
    folders = WorkspaceFolders(raw=workspace / "raw", clean=workspace / "clean", rejects=workspace / "rejects")
    report = validate_workspace(folders)
    assert not report.fatal
    assert sum(t.rows_rejected for t in report.tables) == 0
    assert sum(t.rows_kept for t in report.tables) == sum(batched[1]["rows"].values())
