"""The features and snapshots commands: results on good data, clear refusals otherwise."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

runner = CliRunner()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ws")
    write_hauler(simulate_hauler(SimulationConfig(accounts=600, months=14, seed=2)), path)
    return path


def test_features_writes_one_row_per_account(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    result = runner.invoke(app, ["features", "--data", str(workspace), "--as-of", "2026-06-30", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(out)
    assert frame.columns[0] == "account_id" and frame["account_id"].is_unique().all()


@pytest.mark.parametrize("shards", [3, 7])
def test_features_built_in_shards_are_the_one_process_rows(workspace: Path, tmp_path: Path, shards: int) -> None:
    whole, sharded = tmp_path / "whole.parquet", tmp_path / "sharded.parquet"
    for out, extra in ((whole, []), (sharded, ["--shards", str(shards)])):
        args = ["features", "--data", str(workspace), "--as-of", "2026-06-30", "--out", str(out), *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    one = pl.read_parquet(whole)
    by_shard = pl.read_parquet(sharded)
    assert by_shard.columns == one.columns
    assert by_shard.sort("account_id").equals(one, null_equal=True)
    assert not list(tmp_path.glob(".*"))  # the shards' scratch files are gone


@pytest.mark.parametrize("as_of", ["2030-01-31", "2020-01-31"])
def test_features_refuses_an_as_of_outside_the_data(workspace: Path, tmp_path: Path, as_of: str) -> None:
    result = runner.invoke(app, ["features", "--data", str(workspace), "--as-of", as_of, "--out", str(tmp_path / "f")])
    assert result.exit_code == 2
    assert "outside the data, which covers 2025-09-01 to 2026-10-31" in " ".join(result.output.split())
    assert not (tmp_path / "f").exists()


def test_features_refuses_a_workspace_that_fails_validation(tmp_path: Path) -> None:
    write_hauler(simulate_hauler(SimulationConfig(accounts=200, months=6, seed=1)), tmp_path)
    (tmp_path / "raw" / "accounts.parquet").unlink()
    result = runner.invoke(app, ["features", "--data", str(tmp_path), "--as-of", "2026-09-30", "--out", "x.parquet"])
    assert result.exit_code == 1
    assert "fails validation" in result.output and "accounts" in result.output


def test_snapshots_are_partitioned_by_as_of_and_labelled(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "snaps"
    args = ["snapshots", "--data", str(workspace), "--start", "2026-05-01", "--end", "2026-07-31", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["as_of=2026-05-31", "as_of=2026-06-30", "as_of=2026-07-31"]
    frame = pl.read_parquet(out / "**/*.parquet", hive_partitioning=True)
    assert frame["churn"].null_count() == 0 and frame["as_of"].n_unique() == 3


def test_snapshots_refuse_as_of_dates_without_a_complete_label(workspace: Path, tmp_path: Path) -> None:
    args = [
        "snapshots",
        "--data",
        str(workspace),
        "--start",
        "2026-07-01",
        "--end",
        "2026-09-30",
        "--out",
        str(tmp_path),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "latest as-of date with a complete label is 2026-08-02" in " ".join(result.output.split())
