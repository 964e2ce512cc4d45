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
  features. With ``shards`` > 1 each table is ``clean/<table>/<shard>.parquet``,
  one file per account shard (``sources.validation_sharded``: each shard is
  checked alone, on an executor such as a Dask client's, with the same outcome);
- ``clean/validation.json``: the report.
"""

from __future__ import annotations

import json
from concurrent.futures import Executor
from datetime import date
from pathlib import Path

from sources.checks import ParentKeys, check_rows
from sources.contract import EARLIEST_DAY, LATEST_DAY, TABLES, table_info
from sources.event_mapping import EventMapping
from sources.event_mapping_source import MappedFolder, mapped_folder
from sources.extract_shape import shape_of
from sources.folders import WorkspaceFolders
from sources.reader import EXTRACT_FILE, TableReadError, read_extract
from sources.reject_limits import RejectLimits
from sources.validation_checked import check_table
from sources.validation_output import StagedOutputs
from sources.validation_report import Problem, ValidationReport
from sources.validation_sharded import validate_in_shards
from sources.validation_tables import MAX_PROBLEMS_PER_TABLE, Outcome, open_table, summarise, without_rows

SHAPE_KEY = "extract_shape"
"""Where the report keeps what the extract left out (``sources.extract_shape.ExtractShape.to_dict``)."""


def validate_workspace(
    folders: WorkspaceFolders,
    *,
    extract_end: date | None = None,
    limits: RejectLimits | None = None,
    mapping: EventMapping | None = None,
    shards: int = 1,
    runner: Executor | None = None,
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
        shards: Account shards to check apart and write apart (``clean/<table>/<shard>.parquet``); 1 checks
            every table in one pass and writes ``clean/<table>.parquet``. The report is the same either way.
        runner: Where shards are checked (threads, a Dask client's executor); None checks them here, one
            after another.

    Returns:
        The report; ``report.fatal`` tells whether the workspace is unusable.
    """
    if shards < 1:
        raise ValueError(f"shards = {shards}: validation needs at least one shard.")
    limits = limits or RejectLimits()
    raw_dir = folders.raw
    notes: list[str] = []
    if not raw_dir.is_dir():
        notes.append(f"There is no folder {raw_dir}: put the extract's tables there, or run savedesk simulate.")
    end, extract_problems = _extract_end(raw_dir, extract_end, notes)
    folder = mapped_folder(raw_dir, mapping)
    with StagedOutputs(folders, shards) as staged:
        if shards == 1:
            outcomes = _in_one_pass(raw_dir, folder, staged, end, limits)
        else:
            outcomes = validate_in_shards(raw_dir, folder, staged, shards, end, limits, runner)
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


def _in_one_pass(
    raw_dir: Path, folder: MappedFolder, staged: StagedOutputs, end: date | None, limits: RejectLimits
) -> list[Outcome]:
    """Every table read whole and checked in contract order, parents before children."""
    parents: dict[str, ParentKeys] = {}
    outcomes = []
    for name in TABLES:
        info = table_info(name)
        opened = open_table(info, raw_dir, folder)
        if isinstance(opened, Outcome):
            outcomes.append(opened)
            continue
        raw = opened.frame
        assert raw is not None  # noqa: S101 - read whole
        if raw.empty:
            outcomes.append(without_rows(opened))
            continue
        stage = lambda kept, info=info: staged.write_clean(info, kept)  # noqa: E731
        checked, keys = check_table(info, raw, None, end, parents, stage, rows_check=check_rows)
        opened.frame = raw = None  # the kept rows are staged: let the table go
        parents.update({f"{name}.{column}": value for column, value in keys.items()})
        outcomes.append(summarise(opened, checked, staged, limits))
    return outcomes


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
