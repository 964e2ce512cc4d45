"""Fail loudly on empty: a required table without rows, or too many rows quarantined, stops the workspace; an
optional table without rows is absent, never a table of zeros (issue 21, points 3 and 4)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.build import build_features
from features.registry import FEATURES
from features.view import from_frames, scan_tables
from pipelines.cli import app
from pipelines.settings import load_settings
from sources.contract import TABLES, table_info
from sources.folders import WorkspaceFolders
from sources.validation import validate_workspace
from sources.validation_report import ValidationReport

Hauler = dict[str, pd.DataFrame]
WriteRaw = Callable[..., Path]
runner = CliRunner()
REQUIRED = [name for name in TABLES if table_info(name).required]
OPTIONAL = [name for name in TABLES if not table_info(name).required]


def cli(command: str, workspace: Path) -> tuple[int, str]:
    result = runner.invoke(app, [command, "--data", str(workspace), "--json"])
    return result.exit_code, result.output


EXTRACT_END = date(2024, 12, 31)


def validate(workspace: Path, limits: object = None) -> ValidationReport:
    settings = load_settings(workspace)
    folders = WorkspaceFolders(raw=settings.raw_dir, clean=settings.clean_dir, rejects=settings.rejects_dir)
    report = validate_workspace(folders, limits=limits) if limits else validate_workspace(folders)  # type: ignore[arg-type]
    for summary in report.tables:
        assert summary.rows_kept + summary.rows_rejected == summary.rows_read
    return report


def fatal_problems(report: dict) -> list[dict]:
    return [problem for problem in report["problems"] if problem["fatal"]]


@pytest.mark.parametrize("table", REQUIRED)
def test_a_required_table_with_only_its_header_stops_validation_and_names_it(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw, table: str
) -> None:
    hauler[table] = hauler[table].iloc[0:0]
    workspace = write_raw(tmp_path / "ws", hauler, suffix=".csv")

    exit_code, output = cli("validate", workspace)

    assert exit_code == 1
    report = json.loads(output)
    first = fatal_problems(report)[0]
    assert first["table"] == table and first["file"].endswith(f"raw/{table}.csv")
    assert "no rows" in first["found"] and table in first["action"]
    assert not list((workspace / "clean").glob("*.parquet")), "no clean layer from an empty required table"


def test_dates_in_another_format_stop_validation_instead_of_an_empty_book(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw
) -> None:
    hauler["accounts"]["start_date"] = hauler["accounts"]["start_date"].dt.strftime("%m/%d/%Y")
    workspace = write_raw(tmp_path / "ws", hauler, suffix=".csv")

    exit_code, output = cli("validate", workspace)
    features = runner.invoke(app, ["features", "--data", str(workspace), "--as-of", "2024-12-31", "--out", "f.pq"])

    assert exit_code == 1 and features.exit_code == 1
    first = fatal_problems(json.loads(output))[0]
    assert first["table"] == "accounts"
    assert "6 of 6 rows" in first["found"]
    assert "start_date: expected a date as YYYY-MM-DD, found '03/01/2019'" in first["found"]
    assert "accounts" in " ".join(features.output.split()) and "fails validation" in features.output


@pytest.fixture
def mostly_misdated(simulated_raw: Path, tmp_path: Path) -> Path:
    """The simulated hauler with 30 % of its accounts' start dates written MM/DD/YYYY."""
    workspace = tmp_path / "ws"
    shutil.copytree(simulated_raw, workspace / "raw")
    path = workspace / "raw" / "accounts.parquet"
    accounts = pd.read_parquet(path)
    text = pd.to_datetime(accounts["start_date"]).dt.strftime("%Y-%m-%d").astype(object)
    bad = accounts.index % 10 < 3
    text[bad] = pd.to_datetime(accounts.loc[bad, "start_date"]).dt.strftime("%m/%d/%Y")
    accounts["start_date"] = text
    accounts.to_parquet(path, index=False)
    return workspace


def test_a_reject_rate_above_the_declared_limit_is_fatal_with_the_count_and_first_reasons(
    mostly_misdated: Path,
) -> None:
    report = validate(mostly_misdated)

    assert report.fatal
    first = next(p for p in report.problems if p.fatal)
    assert first.table == "accounts" and "20" in first.expected
    assert "300 of 1,000 rows (30.0 %)" in first.found and "start_date: expected a date as YYYY-MM-DD" in first.found
    assert "validation.max_reject_rate" in first.action
    assert not list((mostly_misdated / "clean").glob("*.parquet"))


def test_the_settings_can_raise_the_reject_limit(mostly_misdated: Path) -> None:
    from sources.reject_limits import RejectLimits

    assert not validate(mostly_misdated, RejectLimits(max_reject_rate=0.5)).fatal

    (mostly_misdated / "savedesk.toml").write_text("[validation]\nmax_reject_rate = 0.5\n", encoding="utf-8")
    exit_code, output = cli("validate", mostly_misdated)

    assert exit_code == 0, output
    assert json.loads(output)["table_limits"]["accounts"]["max_reject_rate"] == 0.5


def test_a_limit_per_table_beats_the_default(mostly_misdated: Path) -> None:
    from sources.reject_limits import RejectLimits

    limits = RejectLimits(max_reject_rate=0.5, per_table={"service_lines": 0.1})

    report = validate(mostly_misdated, limits)

    assert {p.table for p in report.problems if p.fatal} == {"service_lines"}


@pytest.mark.parametrize("table", OPTIONAL)
def test_a_header_only_optional_table_is_absent_and_its_features_are_not_zeros(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw, table: str
) -> None:
    hauler[table] = hauler[table].iloc[0:0]
    workspace = write_raw(tmp_path / "ws", hauler, suffix=".csv")

    exit_code, output = cli("validate", workspace)

    assert exit_code == 0, output
    report = json.loads(output)
    assert table in report["absent_tables"]
    assert any("no rows" in note for note in report["tables"][list(TABLES).index(table)]["notes"])
    assert not (workspace / "clean" / f"{table}.parquet").exists()
    built = build_features(scan_tables(workspace / "clean"), EXTRACT_END)
    from_table = {feature.name for feature in FEATURES if feature.table == table}
    # proactive_calls feeds no feature: it is the uplift model's treatment (pipelines.outreach)
    assert (from_table or table == "proactive_calls") and not from_table & set(built.columns)


def test_an_optional_table_whose_every_row_is_quarantined_is_absent_too(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw
) -> None:
    hauler["service_events"]["event_type"] = "alien_abduction"
    workspace = write_raw(tmp_path / "ws", hauler)

    report = validate(workspace)

    assert not report.fatal and "service_events" in report.absent_tables
    assert report.table("service_events").rows_rejected == len(hauler["service_events"])
    assert not (workspace / "clean" / "service_events.parquet").exists()


def test_an_empty_optional_frame_or_file_is_absent_to_the_features(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw
) -> None:
    workspace = write_raw(tmp_path / "ws", hauler)
    validate(workspace)
    empty = pd.read_parquet(workspace / "clean" / "service_events.parquet").iloc[0:0]
    empty.to_parquet(workspace / "clean" / "service_events.parquet", index=False)  # as an older savedesk wrote it

    scanned = scan_tables(workspace / "clean")
    given = from_frames({**hauler, "service_events": hauler["service_events"].iloc[0:0]})

    assert "service_events" not in scanned and "service_events" not in given
    assert "late_pickups_365d" not in build_features(given, EXTRACT_END).columns


def test_a_changed_reject_limit_validates_the_workspace_again(mostly_misdated: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    args = ["features", "--data", str(mostly_misdated), "--as-of", "2026-06-30", "--out", str(out)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and "300 of 1,000 rows" in " ".join(refused.output.split())

    (mostly_misdated / "savedesk.toml").write_text("[validation]\nmax_reject_rate = 0.5\n", encoding="utf-8")
    built = runner.invoke(app, args)

    assert built.exit_code == 0, built.output
    assert out.is_file()
