"""Validate a workspace's raw tables and split them into clean and quarantined rows.

``validate_workspace`` reads every contract table from ``raw/``, in contract
order (parents before children), and sorts what it finds into:

- fatal problems, which make the workspace unusable: a required table or
  column missing, a file that cannot be read, a required table without rows,
  a table with more rows quarantined than its limit (``sources.reject_limits``),
  an extract end outside the declared days. All of them are collected before
  the run ends, so one run lists everything to fix;
- row problems, which quarantine the row (see ``sources.checks``): a value of
  the wrong type or outside its declared range, a failed contract check, a
  duplicate key, an orphan foreign key (a child of a quarantined parent is
  quarantined too), a date after the extract's end, an end before its start.

An optional table whose file has no rows, or whose every row was quarantined,
is absent: no clean table, so its features are absent rather than zeros.

Outputs, all replaced on every run, as one set (``sources.validation_output``:
a run that fails midway leaves the previous ones as they were):

- ``rejects/<table>.parquet``: the quarantined rows with every original column
  as text, ``row_number`` (from 1) and ``reject_reason``; written only for
  tables that have rejected rows, so an empty ``rejects/`` means nothing was
  quarantined;
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

import pandas as pd

from sources.checks import ParentKeys, RowCheck, check_rows
from sources.contract import EARLIEST_DAY, LATEST_DAY, TABLES, TableInfo, table_info
from sources.event_mapping import EventMapping
from sources.event_mapping_source import MappedFolder, mapped_folder
from sources.expectations import describe_dtype
from sources.extract_shape import shape_of
from sources.folders import WorkspaceFolders
from sources.reader import EXTRACT_FILE, SUFFIXES, TableReadError, read_extract
from sources.reject_limits import RejectLimits, empty_table, limit_problem
from sources.validation_output import StagedOutputs
from sources.validation_report import Problem, TableSummary, ValidationReport

MAX_PROBLEMS_PER_TABLE = 1_000
SHAPE_KEY = "extract_shape"
"""Where the report keeps what the extract left out (``sources.extract_shape.ExtractShape.to_dict``)."""
_REPORT_BUG = "This is a savedesk bug: report it with the file."


@dataclass
class _Outcome:
    summary: TableSummary
    problems: list[Problem] = field(default_factory=list)
    keys: dict[str, ParentKeys] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    """The file's columns, when rows of it were kept."""


def validate_workspace(
    folders: WorkspaceFolders,
    *,
    extract_end: date | None = None,
    limits: RejectLimits | None = None,
    mapping: EventMapping | None = None,
) -> ValidationReport:
    """Check every raw table against the contract and quarantine the bad rows.

    Args:
        folders: The workspace's folders; reads ``raw``, writes ``rejects`` and
            ``clean``.
        extract_end: The extract's last day. When None it is read from
            ``raw/extract.json``; when that is missing too, dates after the
            end are not checked and the report says so.
        limits: How much of each table may be quarantined (default: the declared ``RejectLimits()``).
        mapping: How the extract's files, columns, codes and dates map onto the contract
            (``sources.event_mapping``); default: ``raw/mapping.yaml`` when there is one.

    Returns:
        The report; ``report.fatal`` tells whether the workspace is unusable.
    """
    limits = limits or RejectLimits()
    raw_dir = folders.raw
    notes: list[str] = []
    if not raw_dir.is_dir():
        notes.append(f"There is no folder {raw_dir}: put the extract's tables there, or run savedesk simulate.")
    end, extract_problems = _extract_end(raw_dir, extract_end, notes)
    folder = mapped_folder(raw_dir, mapping)
    with StagedOutputs(folders) as staged:
        parents: dict[str, ParentKeys] = {}
        outcomes = []
        for name in TABLES:
            outcome = _validate_table(table_info(name), raw_dir, end, parents, staged, limits, folder)
            parents.update({f"{name}.{column}": keys for column, keys in outcome.keys.items()})
            outcomes.append(outcome)
        found = extract_problems + folder.problems + [problem for outcome in outcomes for problem in outcome.problems]
        shape = shape_of({o.summary.table: o.columns for o in outcomes if o.summary.status == "ok"})
        notes += [shape.sentence()] if shape.sentence() else []
        report = ValidationReport(
            raw_dir=str(raw_dir),
            rejects_dir=str(folders.rejects),
            clean_dir=str(folders.clean),
            extract_end=end,
            tables=tuple(outcome.summary for outcome in outcomes),
            problems=tuple(sorted(found, key=lambda problem: not problem.fatal)),
            max_problems_per_table=MAX_PROBLEMS_PER_TABLE,
            notes=tuple(notes),
            table_limits=limits.describe(),
            mapping=folder.report(),
        )
        saved = {**report.to_dict(), SHAPE_KEY: shape.to_dict()}
        staged.commit(json.dumps(saved, indent=2) + "\n", with_clean=not report.fatal)
    return report


def _extract_end(raw_dir: Path, given: date | None, notes: list[str]) -> tuple[date | None, list[Problem]]:
    extract = raw_dir / EXTRACT_FILE
    if given is not None:
        return _within_days(given, "the --extract-end option", "Pass --extract-end as a day in that range.")
    try:
        end = read_extract(raw_dir).end
    except TableReadError as error:
        problem = Problem(
            table="extract",
            file=str(extract),
            column="end_date",
            expected="JSON with an ISO 'end_date' (YYYY-MM-DD)",
            found=str(error).removeprefix(f"{extract}: "),
            fatal=True,
            action=f"Fix {extract}, or pass --extract-end YYYY-MM-DD.",
        )
        return None, [problem]
    if end is None:
        notes.append(
            f"No extract end ({extract} has no end_date and none was given): dates after the"
            " extract's end were not checked. Pass --extract-end YYYY-MM-DD to check them."
        )
        return end, []
    return _within_days(end, str(extract), f"Fix end_date in {extract}, or pass --extract-end YYYY-MM-DD.")


def _within_days(end: date, file: str, action: str) -> tuple[date | None, list[Problem]]:
    """The extract's end, or a fatal problem when it lies outside the days an extract may cover."""
    if EARLIEST_DAY <= end <= LATEST_DAY:
        return end, []
    problem = Problem(
        table="extract",
        file=file,
        column="end_date",
        expected=f"an end date between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}",
        found=end.isoformat(),
        fatal=True,
        action=action,
    )
    return None, [problem]


def _validate_table(
    info: TableInfo,
    raw_dir: Path,
    end: date | None,
    parents: dict[str, ParentKeys],
    staged: StagedOutputs,
    limits: RejectLimits,
    folder: MappedFolder,
) -> _Outcome:
    """Read one table (through the extract's mapping) and stop at file-level problems; otherwise check its rows."""
    path = folder.table_path(info.name)
    if path is None and not info.required:
        return _Outcome(TableSummary(info.name, required=False, status="absent"))
    if path is None:
        problem = _fatal(
            info,
            f"{raw_dir / info.name}.parquet or .csv",
            expected="the required table",
            found="no such file",
            action=f"Export the {info.name} table as {info.name}.parquet or {info.name}.csv into {raw_dir}.",
        )
        return _Outcome(TableSummary(info.name, info.required, "fatal", problem.file), [problem])
    try:
        raw = folder.read(info.name, path)
    except TableReadError as error:
        problem = _fatal(
            info,
            str(path),
            expected="a readable UTF-8 CSV or Parquet file",
            found=str(error).removeprefix(f"{path}: "),
            action=f"Re-export {path.name} and run validate again.",
        )
        return _Outcome(TableSummary(info.name, info.required, "fatal", str(path)), [problem])
    missing = [column for column in info.required_columns if column not in raw.columns]
    if missing:
        has = ", ".join(map(str, raw.columns))
        problems = [
            _fatal(
                info,
                str(path),
                column=column,
                expected=f"a column {column} ({describe_dtype(TABLES[info.name].columns[column])})",
                found=f"no such column (the file has: {has})",
                action=f"Add the column {column} to {path.name}, or rename the column that holds it.",
            )
            for column in missing
        ]
        return _Outcome(TableSummary(info.name, info.required, "fatal", str(path)), problems)
    ignored = [
        f"{other.name} was ignored: {path.name} was read instead." for other in _other_files(raw_dir, info, path)
    ]
    if raw.empty:
        return _without_rows(info, path, ignored)
    check = check_rows(info.name, raw, end, parents)
    return _quarantine(info, path, raw, check, staged, limits, ignored)


def _without_rows(info: TableInfo, path: Path, notes: list[str]) -> _Outcome:
    """A file with its header and no row: fatal for a required table, absent for an optional one."""
    if info.required:
        return _Outcome(TableSummary(info.name, info.required, "fatal", str(path)), [empty_table(info, path)])
    note = f"{path.name} has a header and no rows: treated as absent (its features are left out, not zeros)."
    return _Outcome(TableSummary(info.name, info.required, "absent", str(path), notes=(*notes, note)))


def _other_files(raw_dir: Path, info: TableInfo, read: Path) -> list[Path]:
    candidates = (raw_dir / f"{info.name}{suffix}" for suffix in SUFFIXES)
    return [candidate for candidate in candidates if candidate.is_file() and candidate != read]


def _quarantine(
    info: TableInfo,
    path: Path,
    raw: pd.DataFrame,
    check: RowCheck,
    staged: StagedOutputs,
    limits: RejectLimits,
    notes: list[str],
) -> _Outcome:
    """Stage the table's rejected and kept rows, and summarise what was found."""
    rejected = int(check.rejected.sum())
    too_many = limit_problem(info, path, len(raw), check.problems, rejected, limits)
    if rejected:
        staged.write_rejects(info, raw, check)
    status = "fatal" if check.column_errors or too_many else "ok"
    kept = 0
    if rejected == len(raw) and not info.required and status == "ok":
        status = "absent"
        notes = [*notes, "every row was quarantined: treated as absent (its features are left out, not zeros)."]
    else:
        kept = staged.write_clean(info, with_defaults(info, check.typed.loc[~check.rejected]))
    extra = [str(column) for column in raw.columns if column not in TABLES[info.name].columns]
    notes = [
        *notes,
        *([f"columns not in the contract were ignored: {', '.join(extra)}."] if extra else []),
        *(
            f"{column} was not checked against {info.foreign_keys[column][0]}, which could not be validated."
            for column in check.unchecked
        ),
    ]
    counts = (check.problems["column"] + ": " + check.problems["rule"]).value_counts().sort_index()
    summary = TableSummary(
        table=info.name,
        required=info.required,
        status=status,
        file=str(path),
        rows_read=len(raw),
        rows_kept=kept,
        rows_rejected=rejected,
        problem_count=len(check.problems),
        problems_by_rule={str(rule): int(count) for rule, count in counts.items()},
        notes=tuple(notes),
    )
    problems = [*([too_many] if too_many else []), *_first_problems(info, str(path), raw, check.problems)]
    problems += [
        _fatal(info, str(path), expected="columns of the contract's types", found=error, action=_REPORT_BUG)
        for error in check.column_errors
    ]
    columns = tuple(str(column) for column in raw.columns) if status != "absent" else ()
    keys = {column: check.keys(column) for column in _referenced(info.name)}
    return _Outcome(summary, problems, keys, columns)


def with_defaults(info: TableInfo, kept: pd.DataFrame) -> pd.DataFrame:
    """The kept rows with every defaulted column the extract lacks, at its declared value (``TableInfo.defaults``)."""
    missing = {column: value for column, value in info.defaults.items() if column not in kept.columns}
    return kept.assign(
        **{column: pd.Series(value, index=kept.index, dtype="object") for column, value in missing.items()}
    )


def _first_problems(info: TableInfo, file: str, raw: pd.DataFrame, problems: pd.DataFrame) -> list[Problem]:
    """The first problems of a table as records; the rejects file holds every reason."""
    first = problems.sort_values("row", kind="stable").head(MAX_PROBLEMS_PER_TABLE)
    keys = raw[info.key].take(first["row"].to_numpy()).astype("str").tolist()
    return [
        Problem(
            table=info.name,
            file=file,
            column=column,
            expected=expected,
            found=found,
            key=key if isinstance(key, str) and key else None,
            row=int(row) + 1,
        )
        for row, column, expected, found, key in zip(
            first["row"], first["column"], first["expected"], first["found"], keys, strict=True
        )
    ]


def _referenced(table: str) -> list[str]:
    """Columns of ``table`` that another table's foreign key points at."""
    return sorted(
        {column for name in TABLES for parent, column in table_info(name).foreign_keys.values() if parent == table}
    )


def _fatal(info: TableInfo, file: str, *, expected: str, found: str, action: str, column: str | None = None) -> Problem:
    return Problem(table=info.name, file=file, column=column, expected=expected, found=found, fatal=True, action=action)
