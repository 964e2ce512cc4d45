"""Validate a workspace's raw tables and split them into clean and quarantined rows.

``validate_workspace`` reads every contract table from ``raw/``, in contract
order (parents before children), and sorts what it finds into:

- fatal problems, which stop the workspace: a required table or column
  missing, a file that cannot be read. All of them are collected before the
  run ends, so one run lists everything to fix;
- row problems, which quarantine the row: a value of the wrong type, a failed
  contract check, a duplicate key, an orphan foreign key (a child of a
  quarantined parent is quarantined too), a date after the extract's end, an
  end before its start.

Outputs, all replaced on every run:

- ``rejects/<table>.parquet``: the quarantined rows with every original column
  as text, ``row_number`` (from 1) and ``reject_reason``; written only for
  tables that have rejected rows;
- ``clean/<table>.parquet``: the kept rows typed per contract, without the PII
  columns (which never leave the raw layer), sorted by account then event time;
  written only when nothing is fatal, so no half-validated workspace feeds the
  features;
- ``clean/validation.json``: the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.settings import Settings
from sources import checks
from sources.coercion import coerce_table
from sources.contract import TABLES, TableInfo, table_info
from sources.expectations import DATE_ORDERS, describe_dtype
from sources.problems import concat_problems, reject_reasons
from sources.reader import EXTRACT_FILE, TableReadError, read_extract, read_table, table_path
from sources.validation_report import Problem, TableSummary, ValidationReport

MAX_PROBLEMS_PER_TABLE = 1_000
REPORT_FILE = "validation.json"


@dataclass(frozen=True)
class ParentKeys:
    """The key values of a parent table after its own checks."""

    kept: pd.Series
    quarantined: pd.Series


@dataclass
class _Outcome:
    summary: TableSummary
    problems: list[Problem] = field(default_factory=list)
    keys: dict[str, ParentKeys] = field(default_factory=dict)


def validate_workspace(settings: Settings, *, extract_end: date | None = None) -> ValidationReport:
    """Check every raw table against the contract and quarantine the bad rows.

    Args:
        settings: The workspace; reads ``raw_dir``, writes ``rejects_dir`` and
            ``clean_dir``.
        extract_end: The extract's last day. When None it is read from
            ``raw/extract.json``; when that is missing too, dates after the
            end are not checked and the report says so.

    Returns:
        The report; ``report.fatal`` tells whether the workspace is unusable.
    """
    raw_dir = settings.raw_dir
    fatal: list[Problem] = []
    notes: list[str] = []
    if not raw_dir.is_dir():
        notes.append(f"There is no folder {raw_dir}: put the extract's tables there (or run savedesk simulate).")
    end = _extract_end(raw_dir, extract_end, fatal, notes)
    _remove_previous_outputs(settings)
    parents: dict[str, ParentKeys] = {}
    outcomes = []
    for name in TABLES:
        outcome = _validate_table(table_info(name), raw_dir, end, parents, settings)
        parents.update({f"{name}.{column}": keys for column, keys in outcome.keys.items()})
        outcomes.append(outcome)
    report = ValidationReport(
        raw_dir=str(raw_dir),
        rejects_dir=str(settings.rejects_dir),
        clean_dir=str(settings.clean_dir),
        extract_end=end,
        tables=tuple(outcome.summary for outcome in outcomes),
        problems=tuple(fatal + [p for o in outcomes for p in o.problems if p.fatal])
        + tuple(p for o in outcomes for p in o.problems if not p.fatal),
        max_problems_per_table=MAX_PROBLEMS_PER_TABLE,
        notes=tuple(notes),
    )
    if report.fatal:
        _remove_clean_tables(settings)
    settings.clean_dir.mkdir(parents=True, exist_ok=True)
    (settings.clean_dir / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report


def _extract_end(raw_dir: Path, given: date | None, fatal: list[Problem], notes: list[str]) -> date | None:
    if given is not None:
        return given
    try:
        end = read_extract(raw_dir).end
    except TableReadError as error:
        fatal.append(
            Problem(
                table="extract",
                file=str(raw_dir / EXTRACT_FILE),
                column="end_date",
                expected="JSON with an ISO 'end_date' (YYYY-MM-DD)",
                found=str(error),
                fatal=True,
                action=f"Fix {raw_dir / EXTRACT_FILE}, or pass --extract-end YYYY-MM-DD.",
            )
        )
        return None
    if end is None:
        notes.append(
            f"No extract end ({raw_dir / EXTRACT_FILE} has no end_date and none was given):"
            " dates after the extract's end were not checked. Pass --extract-end YYYY-MM-DD."
        )
    return end


def _validate_table(
    info: TableInfo, raw_dir: Path, end: date | None, parents: dict[str, ParentKeys], settings: Settings
) -> _Outcome:
    path = table_path(raw_dir, info.name)
    if path is None:
        if not info.required:
            return _Outcome(TableSummary(info.name, required=False, status="absent"))
        return _fatal(info, f"{raw_dir / info.name}.parquet or .csv", None, "the required table", "no such file",
                      f"Export the {info.name} table as {info.name}.parquet or {info.name}.csv into {raw_dir}.")
    try:
        raw = read_table(path).reset_index(drop=True)
    except TableReadError as error:
        return _fatal(info, str(path), None, "a readable UTF-8 CSV or Parquet file",
                      str(error).removeprefix(f"{path}: "), f"Re-export {path.name} and re-run validation.")
    missing = [column for column in info.required_columns if column not in raw.columns]
    if missing:
        problems = [
            _fatal_problem(info, str(path), column, f"a column {column} ({describe_dtype(TABLES[info.name].columns[column])})",
                           "no such column (the file has: " + ", ".join(map(str, raw.columns)) + ")",
                           f"Add the column {column} to {path.name}, or rename the column that holds it.")
            for column in missing
        ]
        return _Outcome(TableSummary(info.name, info.required, "fatal", str(path)), problems)
    return _check_rows(info, path, raw, end, parents, settings)


def _check_rows(
    info: TableInfo, path: Path, raw: pd.DataFrame, end: date | None,
    parents: dict[str, ParentKeys], settings: Settings,
) -> _Outcome:
    schema = TABLES[info.name]
    notes = _column_notes(raw, schema.columns)
    coerced = coerce_table(raw, schema)
    contract, column_errors = checks.contract_problems(raw, coerced, info.name)
    found = [coerced.problems, contract, checks.duplicate_problems(raw, info.key),
             checks.date_order_problems(coerced.frame, DATE_ORDERS.get(info.name, ()))]
    if end is not None:
        found.append(checks.after_end_problems(coerced.frame, info.date_columns, end))
    for column, (parent, parent_column) in info.foreign_keys.items():
        keys = parents.get(f"{parent}.{parent_column}")
        if keys is None:
            notes.append(f"{column} was not checked against {parent}, which could not be validated.")
            continue
        found.append(checks.orphan_problems(coerced.frame, column, f"{parent}.{parent_column}", keys.kept, keys.quarantined))
    problems = concat_problems(found)
    rejected = np.zeros(len(raw), dtype=bool)
    rejected[problems["row"].to_numpy()] = True
    if rejected.any():
        _write_rejects(raw, rejected, reject_reasons(problems), settings.rejects_dir / f"{info.name}.parquet")
    kept = _write_clean(info, coerced.frame.loc[~rejected], settings.clean_dir / f"{info.name}.parquet")
    summary = TableSummary(
        table=info.name, required=info.required, status="ok", file=str(path),
        rows_read=len(raw), rows_kept=len(kept), rows_rejected=int(rejected.sum()),
        problem_count=len(problems), problems_by_rule=_by_rule(problems), notes=tuple(notes),
    )
    listed = _listed_problems(info, str(path), raw, problems)
    listed += [_fatal_problem(info, str(path), None, "columns of the contract's types", error,
                              "Report this to the savedesk team with the file.") for error in column_errors]
    keys = {
        column: ParentKeys(kept=kept[column], quarantined=coerced.frame.loc[rejected, column])
        for column in _referenced_columns(info.name)
    }
    return _Outcome(summary, listed, keys)


def _column_notes(raw: pd.DataFrame, columns: dict[str, object]) -> list[str]:
    extra = [str(column) for column in raw.columns if column not in columns]
    return [f"columns not in the contract were ignored: {', '.join(extra)}."] if extra else []


def _write_rejects(raw: pd.DataFrame, rejected: np.ndarray, reasons: pd.Series, path: Path) -> None:
    rows = np.flatnonzero(rejected)
    rejects = raw.take(rows).astype("str")
    rejects["row_number"] = rows + 1
    rejects["reject_reason"] = reasons.reindex(rows).to_numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    rejects.to_parquet(path, index=False)


def _write_clean(info: TableInfo, kept: pd.DataFrame, path: Path) -> pd.DataFrame:
    kept = kept.drop(columns=[column for column in info.pii_columns if column in kept.columns])
    order = list(dict.fromkeys(c for c in ("account_id", info.event_time, info.key) if c in kept.columns))
    kept = kept.sort_values(order, kind="stable").reset_index(drop=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept.to_parquet(path, index=False)
    return kept


def _listed_problems(info: TableInfo, file: str, raw: pd.DataFrame, problems: pd.DataFrame) -> list[Problem]:
    first = problems.sort_values("row", kind="stable").head(MAX_PROBLEMS_PER_TABLE)
    keys = raw[info.key].take(first["row"].to_numpy()).astype("str")
    return [
        Problem(table=info.name, file=file, column=column, expected=expected, found=found,
                key=None if pd.isna(key) or key == "" else key, row=row + 1)
        for row, column, expected, found, key in zip(
            first["row"], first["column"], first["expected"], first["found"], keys, strict=True
        )
    ]


def _by_rule(problems: pd.DataFrame) -> dict[str, int]:
    counts = problems.groupby(["column", "rule"], sort=True).size()
    return {f"{column}: {rule}": int(count) for (column, rule), count in counts.items()}


def _referenced_columns(table: str) -> list[str]:
    """Columns of ``table`` that another table's foreign key points at."""
    return sorted({
        parent_column
        for name in TABLES
        for parent, parent_column in table_info(name).foreign_keys.values()
        if parent == table
    })


def _fatal(info: TableInfo, file: str, column: str | None, expected: str, found: str, action: str) -> _Outcome:
    problem = _fatal_problem(info, file, column, expected, found, action)
    return _Outcome(TableSummary(info.name, info.required, "fatal", file), [problem])


def _fatal_problem(info: TableInfo, file: str, column: str | None, expected: str, found: str, action: str) -> Problem:
    return Problem(table=info.name, file=file, column=column, expected=expected, found=found, fatal=True, action=action)


def _remove_previous_outputs(settings: Settings) -> None:
    for name in TABLES:
        (settings.rejects_dir / f"{name}.parquet").unlink(missing_ok=True)
    _remove_clean_tables(settings)
    (settings.clean_dir / REPORT_FILE).unlink(missing_ok=True)


def _remove_clean_tables(settings: Settings) -> None:
    for name in TABLES:
        (settings.clean_dir / f"{name}.parquet").unlink(missing_ok=True)
