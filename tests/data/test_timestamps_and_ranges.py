"""Dates at the edges: UTC offsets read as the contract declares, values outside their declared range quarantined,
and a validation that fails midway leaving the previous outputs whole (issue 21, point 5 and domain sense)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import sources.validation
from pipelines.cli import app
from pipelines.settings import load_settings
from sources.folders import WorkspaceFolders
from sources.validation import validate_workspace
from sources.validation_report import ValidationReport

Hauler = dict[str, pd.DataFrame]
WriteRaw = Callable[..., Path]
runner = CliRunner()


def validate(workspace: Path, *, extract_end: date | None = None) -> ValidationReport:
    settings = load_settings(workspace)
    folders = WorkspaceFolders(raw=settings.raw_dir, clean=settings.clean_dir, rejects=settings.rejects_dir)
    report = validate_workspace(folders, extract_end=extract_end)
    for summary in report.tables:
        assert summary.rows_kept + summary.rows_rejected == summary.rows_read
    return report


def cli_validate(workspace: Path, *options: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", "--data", str(workspace), "--json", *options])
    return result.exit_code, result.output


def clean(workspace: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(workspace / "clean" / f"{table}.parquet")


def rejects(workspace: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(workspace / "rejects" / f"{table}.parquet")


WRITTEN = ["2024-02-04T23:30:00-06:00", "2024-05-06T10:00:00Z", "2024-07-02T00:15:00+02:00", "2024-12-30 08:00+0000"]
AS_WRITTEN = ["2024-02-04 23:30", "2024-05-06 10:00", "2024-07-02 00:15", "2024-12-30 08:00"]


def test_timestamps_with_utc_offsets_keep_the_local_day_and_time_as_written(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw
) -> None:
    hauler["contacts"]["contact_date"] = WRITTEN  # four offsets in one column: -06:00, Z, +02:00, +0000
    workspace = write_raw(tmp_path / "ws", hauler, suffix=".csv")

    exit_code, output = cli_validate(workspace)

    assert exit_code == 0, output
    assert json.loads(output)["problem_count"] == 0
    kept = clean(workspace, "contacts").sort_values("contact_id")
    assert kept["contact_date"].tolist() == pd.to_datetime(AS_WRITTEN).tolist()
    assert str(kept["contact_date"].dtype) == "datetime64[ns]"


def test_offsets_beside_plain_dates_and_junk_are_read_or_quarantined_never_a_traceback(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw
) -> None:
    hauler["contacts"]["contact_date"] = ["2024-02-04", "2024-05-06T10:00:00+05:30", "2024-07-02T25:99+01:00", "x"]
    workspace = write_raw(tmp_path / "ws", hauler, suffix=".csv")

    exit_code, output = cli_validate(workspace)

    assert exit_code == 0, output
    reasons = rejects(workspace, "contacts").set_index("contact_id")["reject_reason"].to_dict()
    assert reasons == {
        "C003": "contact_date: expected a date as YYYY-MM-DD, found '2024-07-02T25:99+01:00'",
        "C004": "contact_date: expected a date as YYYY-MM-DD, found 'x'",
    }
    kept = clean(workspace, "contacts").sort_values("contact_id")["contact_date"]
    assert kept.tolist() == pd.to_datetime(["2024-02-04", "2024-05-06 10:00"], format="ISO8601").tolist()


def test_parquet_times_in_a_time_zone_give_the_same_clean_table_as_csv_offsets(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw
) -> None:
    zoned = pd.to_datetime(AS_WRITTEN).tz_localize("America/Chicago")
    hauler["contacts"]["contact_date"] = zoned
    from_parquet = write_raw(tmp_path / "parquet", hauler)
    hauler["contacts"]["contact_date"] = zoned.strftime("%Y-%m-%dT%H:%M:%S%z")
    from_csv = write_raw(tmp_path / "csv", hauler, suffix=".csv")

    validate(from_parquet), validate(from_csv)

    pd.testing.assert_frame_equal(clean(from_parquet, "contacts"), clean(from_csv, "contacts"))
    assert (
        clean(from_csv, "contacts").sort_values("contact_id")["contact_date"].tolist()
        == pd.to_datetime(AS_WRITTEN).tolist()
    )


def test_a_validation_that_fails_midway_leaves_the_previous_outputs_as_they_were(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    validate(workspace)
    before = {p.relative_to(workspace): p.read_bytes() for p in sorted(workspace.glob("[cr]*/*")) if p.is_file()}
    assert Path("clean/validation.json") in before
    real = sources.validation.check_rows

    def broken(table: str, *args: object, **kwargs: object) -> object:
        if table == "contacts":
            raise RuntimeError("the disk went away")
        return real(table, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sources.validation, "check_rows", broken)
    with pytest.raises(RuntimeError, match="the disk went away"):
        validate(workspace)

    after = {p.relative_to(workspace): p.read_bytes() for p in sorted(workspace.glob("[cr]*/*")) if p.is_file()}
    assert after == before
    assert not [p for p in workspace.iterdir() if p.name.startswith(".")], "no staging folder left behind"


@pytest.mark.parametrize("end", ["9999-12-31", "1492-10-12"])
def test_an_extract_end_outside_the_declared_days_is_a_clear_fatal_problem(workspace: Path, end: str) -> None:
    (workspace / "raw" / "extract.json").write_text(json.dumps({"end_date": end}), encoding="utf-8")

    exit_code, output = cli_validate(workspace)
    given_code, given = cli_validate(workspace, "--extract-end", end)

    assert exit_code == 1 and given_code == 1
    [problem] = json.loads(output)["problems"]
    assert problem["table"] == "extract" and problem["column"] == "end_date"
    assert "between 1900-01-01 and 2099-12-31" in problem["expected"] and end in problem["found"]
    assert "between 1900-01-01 and 2099-12-31" in json.loads(given)["problems"][0]["expected"]


OUT_OF_RANGE = [
    # table, key, column, value written (as text in a CSV), words of the reason
    ("contacts", "C002", "contact_date", "1066-10-14", "a date from 1900-01-01 to 2099-12-31"),
    ("contacts", "C002", "resolved_date", "0001-01-01", "a date from 1900-01-01 to 2099-12-31"),
    ("contacts", "C002", "resolved_date", "9999-12-31T23:59:59+14:00", "a date from 1900-01-01 to 2099-12-31"),
    ("invoices", "I003", "amount", "2500000000", "at most 1000000"),
    ("service_events", "E002", "charge", "1e300", "at most 1000000"),
    ("save_attempts", "S003", "credit_amount", "-5", "at least 0"),
    ("service_lines", "L003", "container_yards", "5000", "at most 100"),
    ("service_lines", "L003", "pickups_per_week", "300", "at most 21"),
]


@pytest.mark.parametrize(("table", "key", "column", "value", "expected"), OUT_OF_RANGE)
def test_values_outside_their_declared_range_are_quarantined_with_the_range(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw, table: str, key: str, column: str, value: str, expected: str
) -> None:
    frame = hauler[table]
    key_column = frame.columns[0]
    frame[column] = frame[column].astype("str").astype(object)
    frame.loc[frame[key_column] == key, column] = value
    workspace = write_raw(tmp_path / "ws", hauler, suffix=".csv", extract_end=None)

    report = validate(workspace)

    assert not report.fatal
    reasons = rejects(workspace, table).set_index(key_column)["reject_reason"].to_dict()
    assert list(reasons) == [key]
    assert reasons[key].startswith(f"{column}: expected {expected}, found '{value}'")


def test_parquet_dates_beyond_what_a_timestamp_holds_are_quarantined_not_an_error(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw
) -> None:
    workspace = write_raw(tmp_path / "ws", hauler)
    contacts = hauler["contacts"]
    days = [date(2024, 2, 4), date(9999, 12, 31), date(1, 1, 1), date(2024, 12, 30)]
    table = pa.Table.from_pandas(contacts.drop(columns="contact_date"), preserve_index=False)
    table = table.append_column("contact_date", pa.array(days, pa.date32()))
    pq.write_table(table, workspace / "raw" / "contacts.parquet")

    report = validate(workspace)

    reasons = rejects(workspace, "contacts").set_index("contact_id")["reject_reason"].to_dict()
    assert set(reasons) == {"C002", "C003"} and report.table("contacts").rows_kept == 2
    assert all("a date from 1900-01-01 to 2024-12-31" in reason for reason in reasons.values())
