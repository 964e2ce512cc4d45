"""Validation of a workspace against the data contract.

Bad rows are quarantined with their reason, every good row reaches the clean
layer, and problems that make the workspace unusable stop the ``validate``
command with a message naming the file, table, column and row.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.settings import load_settings
from sources.contract import TABLES, table_info
from sources.folders import WorkspaceFolders
from sources.validation import validate_workspace
from sources.validation_report import ValidationReport

Hauler = dict[str, pd.DataFrame]
WriteRaw = Callable[..., Path]
Corrupted = tuple[Path, Hauler, ValidationReport]
runner = CliRunner()


def validate(workspace: Path, *, extract_end: date | None = None) -> ValidationReport:
    settings = load_settings(workspace)
    folders = WorkspaceFolders(raw=settings.raw_dir, clean=settings.clean_dir, rejects=settings.rejects_dir)
    report = validate_workspace(folders, extract_end=extract_end)
    for summary in report.tables:  # no good row dropped, no bad row kept
        assert summary.rows_kept + summary.rows_rejected == summary.rows_read
    return report


def cli_validate(workspace: Path) -> tuple[int, dict]:
    result = runner.invoke(app, ["validate", "--data", str(workspace), "--json"])
    return result.exit_code, json.loads(result.stdout)


def rejects(workspace: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(workspace / "rejects" / f"{table}.parquet")


def clean(workspace: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(workspace / "clean" / f"{table}.parquet")


def key_of(table: str) -> str:
    return table_info(table).key


def as_text(hauler: Hauler, table: str, column: str) -> None:
    """Store a column as text so that a wrong value can be written into it."""
    hauler[table][column] = hauler[table][column].astype("str")


def set_value(hauler: Hauler, table: str, key: str, column: str, value: object) -> None:
    frame = hauler[table]
    frame.loc[frame[key_of(table)] == key, column] = value


def add_copy(hauler: Hauler, table: str, key: str, **changes: object) -> None:
    frame = hauler[table]
    copy = frame.loc[frame[key_of(table)] == key].assign(**changes)
    hauler[table] = pd.concat([frame, copy], ignore_index=True)


# Each corruption changes rows of one table whose keys have no children, and
# names the column whose problem must be reported and a word of what was expected.
def wrong_type(h: Hauler) -> None:
    as_text(h, "service_lines", "monthly_rate")
    set_value(h, "service_lines", "L003", "monthly_rate", "abc")


def bad_date(h: Hauler) -> None:
    as_text(h, "contacts", "contact_date")
    set_value(h, "contacts", "C002", "contact_date", "2024-13-45")


def negative_rate(h: Hauler) -> None:
    set_value(h, "rate_changes", "R003", "new_rate", -10.0)


def code_not_allowed(h: Hauler) -> None:
    set_value(h, "cancellation_requests", "Q003", "reason", "aliens")


def missing_value(h: Hauler) -> None:
    set_value(h, "invoices", "I007", "amount", None)


def conflicting_key(h: Hauler) -> None:
    add_copy(h, "invoices", "I005", amount=1.0)


def exact_copy(h: Hauler) -> None:
    add_copy(h, "contacts", "C003")


def orphan_account(h: Hauler) -> None:
    set_value(h, "contacts", "C004", "account_id", "A999")


def event_after_end(h: Hauler) -> None:
    set_value(h, "service_events", "E005", "event_date", pd.Timestamp("2025-02-01"))


def paid_after_end(h: Hauler) -> None:
    set_value(h, "invoices", "I012", "paid_date", pd.Timestamp("2025-01-15"))


def line_ends_before_start(h: Hauler) -> None:
    set_value(h, "service_lines", "L002", "end_date", pd.Timestamp("2018-12-31"))


def due_before_invoice(h: Hauler) -> None:
    set_value(h, "invoices", "I001", "due_date", pd.Timestamp("2024-09-01"))


def bad_flag(h: Hauler) -> None:
    as_text(h, "save_attempts", "accepted")
    set_value(h, "save_attempts", "S001", "accepted", "maybe")


ROW_CORRUPTIONS: list[tuple[Callable[[Hauler], None], str, set[str], int, str, str]] = [
    # corruption, table, corrupted keys, corrupted rows, column, words of the expectation
    (wrong_type, "service_lines", {"L003"}, 1, "monthly_rate", "a number"),
    (bad_date, "contacts", {"C002"}, 1, "contact_date", "a date as YYYY-MM-DD"),
    (negative_rate, "rate_changes", {"R003"}, 1, "new_rate", "at least 0"),
    (code_not_allowed, "cancellation_requests", {"Q003"}, 1, "reason", "one of: price"),
    (missing_value, "invoices", {"I007"}, 1, "amount", "a value (this column may not be empty)"),
    (conflicting_key, "invoices", {"I005"}, 2, "invoice_id", "each invoice_id on one row"),
    (exact_copy, "contacts", {"C003"}, 1, "contact_id", "each contact_id on one row"),
    (orphan_account, "contacts", {"C004"}, 1, "account_id", "an existing accounts.account_id"),
    (event_after_end, "service_events", {"E005"}, 1, "event_date", "a date on or before the extract's end 2024-12-31"),
    (paid_after_end, "invoices", {"I012"}, 1, "paid_date", "a date on or before the extract's end"),
    (line_ends_before_start, "service_lines", {"L002"}, 1, "end_date", "on or after start_date 2019-03-01"),
    (due_before_invoice, "invoices", {"I001"}, 1, "due_date", "on or after invoice_date 2024-10-01"),
    (bad_flag, "save_attempts", {"S001"}, 1, "accepted", "true or false"),
]


@pytest.mark.parametrize(
    ("corrupt", "table", "keys", "bad_rows", "column", "expected"),
    ROW_CORRUPTIONS,
    ids=[case[0].__name__ for case in ROW_CORRUPTIONS],
)
def test_each_bad_row_is_quarantined_with_a_reason_naming_table_row_and_column(
    corrupted: Corrupted,
    corrupt: Callable[[Hauler], None],
    table: str,
    keys: set[str],
    bad_rows: int,
    column: str,
    expected: str,
) -> None:
    workspace, hauler, report = corrupted
    key = key_of(table)

    quarantined = rejects(workspace, table)
    mine = quarantined.loc[quarantined[key].isin(keys)]
    assert len(mine) == bad_rows
    assert mine["reject_reason"].str.contains(f"{column}: expected {expected}", regex=False).all()
    assert set(mine["row_number"]) <= set(range(1, len(hauler[table]) + 1))
    problems = [p for p in report.problems if p.table == table and p.key in keys and p.column == column]
    assert len(problems) == bad_rows
    for problem in problems:
        message = problem.message()
        assert f"table {table}" in message and f"column {column}" in message
        assert f"row {problem.row} ({problem.key})" in message and problem.file in message


def test_the_corrupted_rows_are_exactly_the_rejected_ones_and_every_good_row_survives(
    corrupted: Corrupted,
) -> None:
    workspace, hauler, report = corrupted
    corrupted_keys: dict[str, set[str]] = {}
    for _, table, keys, *_ in ROW_CORRUPTIONS:
        corrupted_keys.setdefault(table, set()).update(keys)

    exit_code, again = cli_validate(workspace)

    assert exit_code == 0 and again["fatal"] is False
    for table in TABLES:
        key = key_of(table)
        summary = report.table(table)
        assert summary.rows_kept + summary.rows_rejected == summary.rows_read == len(hauler[table])
        quarantined = rejects(workspace, table)[key] if table in corrupted_keys else pd.Series([], dtype="str")
        assert set(quarantined) == corrupted_keys.get(table, set())
        kept = clean(workspace, table)[key]
        assert len(kept) == len(hauler[table]) - len(quarantined)
        assert Counter(kept) + Counter(quarantined) == Counter(hauler[table][key])


def test_a_quarantined_parent_takes_its_children_with_it(tmp_path: Path, hauler: Hauler, write_raw: WriteRaw) -> None:
    set_value(hauler, "accounts", "A005", "close_date", pd.Timestamp("2020-01-01"))  # before its start
    workspace = write_raw(tmp_path / "ws", hauler)

    report = validate(workspace)

    assert set(rejects(workspace, "accounts")["account_id"]) == {"A005"}
    for table in TABLES:
        if table == "accounts":
            continue
        frame = hauler[table]
        children = set(frame.loc[frame["account_id"] == "A005", key_of(table)])
        assert children, f"the fixture should give A005 rows in {table}"
        quarantined = rejects(workspace, table)
        assert set(quarantined[key_of(table)]) == children
        assert quarantined["reject_reason"].str.contains("which was quarantined there").all()
        assert report.table(table).rows_kept == len(frame) - len(children)


def drop_required_column(h: Hauler, raw: Path) -> None:
    h["service_lines"] = h["service_lines"].drop(columns=["stream"])


def remove_required_table(h: Hauler, raw: Path) -> None:
    del h["accounts"]


def empty_file(h: Hauler, raw: Path) -> None:
    del h["contacts"]
    (raw / "contacts.csv").write_bytes(b"")


def latin1_csv(h: Hauler, raw: Path) -> None:
    frame = h.pop("cancellation_requests")
    frame.loc[0, "channel"] = "téléphone"
    (raw / "cancellation_requests.csv").write_bytes(frame.to_csv(index=False).encode("latin-1"))


def unreadable_parquet(h: Hauler, raw: Path) -> None:
    del h["invoices"]
    (raw / "invoices.parquet").write_bytes(b"PAR1 this is not a parquet file")


FATAL_CORRUPTIONS = [
    # corruption, table, file name, column, words of what was found
    (drop_required_column, "service_lines", "service_lines.parquet", "stream", "no such column"),
    (remove_required_table, "accounts", "accounts.parquet or .csv", None, "no such file"),
    (empty_file, "contacts", "contacts.csv", None, "the file is empty"),
    (latin1_csv, "cancellation_requests", "cancellation_requests.csv", None, "not UTF-8"),
    (unreadable_parquet, "invoices", "invoices.parquet", None, "not a readable Parquet file"),
]


@pytest.mark.parametrize(
    ("corrupt", "table", "file", "column", "found"),
    FATAL_CORRUPTIONS,
    ids=[case[0].__name__ for case in FATAL_CORRUPTIONS],
)
def test_a_broken_file_stops_the_command_and_names_the_file(
    tmp_path: Path,
    hauler: Hauler,
    write_raw: WriteRaw,
    corrupt: Callable[[Hauler, Path], None],
    table: str,
    file: str,
    column: str | None,
    found: str,
) -> None:
    raw = tmp_path / "ws" / "raw"
    raw.mkdir(parents=True)
    corrupt(hauler, raw)
    workspace = write_raw(tmp_path / "ws", hauler)

    exit_code, report = cli_validate(workspace)

    assert exit_code == 1
    assert report["fatal"] is True
    fatal = [p for p in report["problems"] if p["fatal"]]
    assert len(fatal) == 1
    assert fatal[0]["table"] == table
    assert fatal[0]["file"].endswith(f"raw/{file}")
    assert fatal[0]["column"] == column
    assert found in fatal[0]["found"]
    assert fatal[0]["action"]
    assert not list((workspace / "clean").glob("*.parquet")), "no clean layer from a broken workspace"


def test_an_unreadable_extract_json_stops_the_command(workspace: Path) -> None:
    (workspace / "raw" / "extract.json").write_text('{"end_date": "31/12/2024"}', encoding="utf-8")

    exit_code, report = cli_validate(workspace)

    assert exit_code == 1
    [problem] = report["problems"]
    assert problem["file"].endswith("raw/extract.json") and problem["column"] == "end_date"
    assert "--extract-end" in problem["action"]


def test_every_fatal_problem_is_listed_in_one_run(tmp_path: Path, hauler: Hauler, write_raw: WriteRaw) -> None:
    raw = tmp_path / "ws" / "raw"
    raw.mkdir(parents=True)
    for corrupt, *_ in FATAL_CORRUPTIONS:
        corrupt(hauler, raw)
    negative_rate(hauler)
    workspace = write_raw(tmp_path / "ws", hauler)

    report = validate(workspace)

    assert report.fatal
    assert {p.table for p in report.problems if p.fatal} == {case[1] for case in FATAL_CORRUPTIONS}
    assert set(rejects(workspace, "rate_changes")["change_id"]) == {"R003"}


def test_a_clean_hauler_validates_with_no_rejects(workspace: Path, hauler: Hauler) -> None:
    result = runner.invoke(app, ["validate", "--data", str(workspace)])

    assert result.exit_code == 0, result.stdout
    assert "Rows per table" in result.stdout
    report = json.loads((workspace / "clean" / "validation.json").read_text(encoding="utf-8"))
    assert report["fatal"] is False and report["problem_count"] == 0 and report["problems"] == []
    assert not (workspace / "rejects").exists() or not list((workspace / "rejects").iterdir())
    for table, frame in hauler.items():
        kept = clean(workspace, table)
        assert len(kept) == len(frame)
        assert not set(table_info(table).pii_columns) & set(kept.columns)
        assert {str(kept[c].dtype) for c in table_info(table).date_columns} == {"datetime64[ns]"}


def test_clean_tables_are_sorted_by_account_then_event_time(workspace: Path) -> None:
    validate(workspace)

    for table in TABLES:
        info = table_info(table)
        kept = clean(workspace, table)
        order = list(dict.fromkeys(["account_id", info.event_time, info.key]))
        assert kept.equals(kept.sort_values(order).reset_index(drop=True))


def test_rerunning_gives_the_same_outputs_and_clears_stale_rejects(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw
) -> None:
    good = {name: frame.copy() for name, frame in hauler.items()}
    negative_rate(hauler)
    workspace = write_raw(tmp_path / "ws", hauler)
    validate(workspace)
    first = {p.name: p.read_bytes() for p in sorted((workspace / "clean").iterdir())}
    validate(workspace)
    second = {p.name: p.read_bytes() for p in sorted((workspace / "clean").iterdir())}
    assert first == second
    assert (workspace / "rejects" / "rate_changes.parquet").exists()

    write_raw(workspace, good)
    validate(workspace)

    assert not list((workspace / "rejects").iterdir())
    assert len(clean(workspace, "rate_changes")) == len(good["rate_changes"])


def test_absent_optional_tables_are_reported_not_fatal(tmp_path: Path, hauler: Hauler, write_raw: WriteRaw) -> None:
    optional = [name for name in TABLES if not table_info(name).required]
    for name in optional:
        del hauler[name]
    workspace = write_raw(tmp_path / "ws", hauler)

    exit_code, report = cli_validate(workspace)

    assert exit_code == 0
    assert report["absent_tables"] == optional
    assert {t["table"]: t["status"] for t in report["tables"]} == {
        name: "absent" if name in optional else "ok" for name in TABLES
    }
    assert not (workspace / "clean" / "contacts.parquet").exists()


def test_csv_and_parquet_extracts_give_the_same_clean_tables(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw
) -> None:
    bad_flag(hauler)
    from_parquet = write_raw(tmp_path / "parquet", hauler)
    from_csv = write_raw(tmp_path / "csv", hauler, suffix=".csv")

    parquet_report, csv_report = validate(from_parquet), validate(from_csv)

    assert [t.rows_rejected for t in parquet_report.tables] == [t.rows_rejected for t in csv_report.tables]
    for table in TABLES:
        pd.testing.assert_frame_equal(clean(from_parquet, table), clean(from_csv, table))


def test_csv_values_are_read_from_text(tmp_path: Path, hauler: Hauler, write_raw: WriteRaw) -> None:
    as_text(hauler, "contacts", "escalated")
    set_value(hauler, "contacts", "C001", "escalated", "0")
    set_value(hauler, "contacts", "C002", "escalated", "Yes")
    as_text(hauler, "save_attempts", "new_term_months")
    set_value(hauler, "save_attempts", "S003", "new_term_months", "12.5")
    workspace = write_raw(tmp_path / "ws", hauler, suffix=".csv")

    validate(workspace)

    escalated = clean(workspace, "contacts").set_index("contact_id")["escalated"]
    assert escalated.to_dict() == {"C001": False, "C002": True, "C003": True, "C004": False}
    reasons = rejects(workspace, "save_attempts").set_index("attempt_id")["reject_reason"]
    assert reasons.to_dict() == {"S003": "new_term_months: expected a whole number, found '12.5'"}


def test_the_extract_end_comes_from_the_argument_then_the_file(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw, extract_end: date
) -> None:
    event_after_end(hauler)  # 2025-02-01
    workspace = write_raw(tmp_path / "ws", hauler, extract_end=None)

    unknown = validate(workspace)
    assert unknown.extract_end is None and unknown.to_dict()["future_dates_checked"] is False
    assert any("not checked" in note for note in unknown.notes)
    assert unknown.table("service_events").rows_rejected == 0

    later = validate(workspace, extract_end=date(2025, 6, 30))
    assert later.table("service_events").rows_rejected == 0

    write_raw(workspace, {}, extract_end=extract_end)
    from_file = validate(workspace)
    assert from_file.extract_end == extract_end
    assert from_file.table("service_events").rows_rejected == 1


def test_the_report_renders_counts_and_the_first_problems(tmp_path: Path, hauler: Hauler, write_raw: WriteRaw) -> None:
    hauler["rate_changes"]["new_rate"] = -2.0  # 5 rows
    hauler["invoices"]["amount"] = -1.0  # 12 rows
    hauler["contacts"]["topic"] = "weather"  # 4 rows
    workspace = write_raw(tmp_path / "ws", hauler)
    report = validate(workspace)
    console = Console(width=200, record=True)

    report.render(console)

    text = console.export_text()
    assert report.problem_count == 21
    assert "21 problem(s) in total (showing 20)" in text
    assert text.count("at least 0") == 17
    assert "C003" in text and "C004" not in text
    assert json.loads(json.dumps(report.to_dict()))["problem_count"] == 21


def copy_raw(raw: Path, workspace: Path) -> Path:
    shutil.copytree(raw, workspace / "raw")
    return workspace


def test_a_simulated_hauler_validates_with_no_rejects(simulated_raw: Path, tmp_path: Path) -> None:
    workspace = copy_raw(simulated_raw, tmp_path / "ws")

    exit_code, report = cli_validate(workspace)

    assert exit_code == 0 and report["problem_count"] == 0
    for summary in report["tables"]:
        raw_rows = len(pd.read_parquet(simulated_raw / f"{summary['table']}.parquet"))
        assert summary["status"] == "ok" and summary["rows_read"] == raw_rows > 0
        assert len(clean(workspace, summary["table"])) == raw_rows


def test_a_corrupted_simulated_hauler_loses_exactly_the_bad_rows_and_their_children(
    simulated_raw: Path, tmp_path: Path
) -> None:
    workspace = copy_raw(simulated_raw, tmp_path / "ws")
    raw = {name: pd.read_parquet(workspace / "raw" / f"{name}.parquet") for name in TABLES}
    requests = raw["cancellation_requests"]
    account = requests["account_id"].iloc[0]  # an account with children in every table
    raw["accounts"].loc[raw["accounts"]["account_id"] == account, "segment"] = "aerospace"
    invoices = raw["invoices"]
    bad_invoices = set(invoices.loc[invoices["account_id"] != account, "invoice_id"].iloc[::500])
    invoices.loc[invoices["invoice_id"].isin(bad_invoices), "amount"] = -12.5
    for name in ("accounts", "invoices"):
        raw[name].to_parquet(workspace / "raw" / f"{name}.parquet", index=False)

    report = validate(workspace)

    assert not report.fatal
    for table, frame in raw.items():
        key = key_of(table)
        expected = set(frame.loc[frame["account_id"] == account, key])
        expected |= bad_invoices if table == "invoices" else set()
        quarantined = rejects(workspace, table)[key] if expected else pd.Series([], dtype="str")
        assert set(quarantined) == expected, table
        assert Counter(clean(workspace, table)[key]) + Counter(quarantined) == Counter(frame[key])


def test_a_row_without_its_key_is_named_by_its_row_number_and_odd_files_are_noted(
    tmp_path: Path, hauler: Hauler, write_raw: WriteRaw
) -> None:
    set_value(hauler, "service_events", "E004", "event_id", None)
    hauler["service_events"]["driver_note"] = "ok"
    workspace = write_raw(tmp_path / "ws", hauler)
    hauler["contacts"].to_csv(workspace / "raw" / "contacts.csv", index=False)

    report = validate(workspace)

    [problem] = [p for p in report.problems if p.table == "service_events"]
    assert (problem.key, problem.row, problem.column, problem.where) == (None, 4, "event_id", "row 4")
    assert "row 4, column event_id" in problem.message()
    assert list(rejects(workspace, "service_events")["row_number"]) == [4]
    assert report.table("service_events").notes == ("columns not in the contract were ignored: driver_note.",)
    assert report.table("contacts").notes == ("contacts.csv was ignored: contacts.parquet was read instead.",)
    assert "driver_note" not in clean(workspace, "service_events").columns
