"""One table of a validation run: opening its file (the problems of a whole file) and summing up its checks.

``open_table`` finds the file (through the extract's mapping), reads it, or, for a plain Parquet file
that validation splits into account shards, only its footer, and stops at problems of the whole file: a
missing table or column, an unreadable file. ``summarise`` turns a table's row checks
(``sources.validation_checked.TableChecked``) into its summary, its listed problems and its rejects file,
whether the table was checked in one pass or in shards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as arrow
import pyarrow.parquet as pq

from sources.contract import TABLES, TableInfo
from sources.event_mapping_source import MappedFolder
from sources.expectations import describe_dtype
from sources.reader import SUFFIXES, TableReadError
from sources.reject_limits import RejectLimits, empty_table, limit_problem
from sources.validation_checked import TableChecked
from sources.validation_output import StagedOutputs
from sources.validation_report import Problem, TableSummary
from sources.validation_shards import BATCH_ROWS, parquet_batches

MAX_PROBLEMS_PER_TABLE = 1_000
REPORT_BUG = "This is a savedesk bug: report it with the file."


@dataclass
class Outcome:
    """How one table fared: its summary, its problems, and the columns of its file when rows were kept."""

    summary: TableSummary
    problems: list[Problem] = field(default_factory=list)
    columns: tuple[str, ...] = ()


@dataclass
class OpenTable:
    """A table whose file was found and could be read (or, streamed, whose footer could).

    Attributes:
        info: The table.
        path: Its file.
        columns: The file's columns.
        notes: Files of the same table that were not read.
        frame: The rows, when the file was read whole.
        parquet: The file, when its rows are streamed in batches instead.
    """

    info: TableInfo
    path: Path
    columns: tuple[str, ...]
    notes: list[str]
    frame: pd.DataFrame | None = None
    parquet: pq.ParquetFile | None = None

    def batches(self) -> Iterator[arrow.RecordBatch]:
        """The rows in batches, in file order.

        Raises:
            TableReadError: A streamed file turned out unreadable part way.
        """
        if self.parquet is None:
            assert self.frame is not None  # noqa: S101 - one of the two is set
            yield from arrow.Table.from_pandas(self.frame, preserve_index=False).to_batches(BATCH_ROWS)
            return
        try:
            yield from parquet_batches(self.parquet)
        except (arrow.ArrowException, OSError) as error:
            raise TableReadError(f"{self.path}: not a readable Parquet file ({error}).") from error

    @property
    def schema(self) -> arrow.Schema:
        """The schema of the batches."""
        if self.parquet is not None:
            return self.parquet.schema_arrow
        return arrow.Schema.from_pandas(self.frame, preserve_index=False)


def open_table(info: TableInfo, raw_dir: Path, folder: MappedFolder, *, stream: bool = False) -> OpenTable | Outcome:
    """Find and read one table (through the extract's mapping), or the outcome of a file that cannot be used.

    Args:
        info: The table.
        raw_dir: The extract's folder.
        folder: The extract's folder read through its mapping.
        stream: Read only the footer of a plain Parquet file (its rows are streamed later).
    """
    path = folder.table_path(info.name)
    if path is None and not info.required:
        return Outcome(TableSummary(info.name, required=False, status="absent"))
    if path is None:
        problem = fatal(
            info,
            f"{raw_dir / info.name}.parquet or .csv",
            expected="the required table",
            found="no such file",
            action=f"Export the {info.name} table as {info.name}.parquet or {info.name}.csv into {raw_dir}.",
        )
        return Outcome(TableSummary(info.name, info.required, "fatal", problem.file), [problem])
    mapped = folder.mapping is not None and info.name in folder.mapping.tables
    try:
        if stream and path.suffix == ".parquet" and not mapped and path.stat().st_size:
            parquet = _parquet_file(path)
            columns = _columns(parquet.schema_arrow)
            opened = OpenTable(info, path, columns, [], parquet=parquet)
        else:
            frame = folder.read(info.name, path)
            opened = OpenTable(info, path, tuple(map(str, frame.columns)), [], frame=frame)
    except TableReadError as error:
        return unreadable(info, path, error)
    missing = [column for column in info.required_columns if column not in opened.columns]
    if missing:
        has = ", ".join(opened.columns)
        problems = [
            fatal(
                info,
                str(path),
                column=column,
                expected=f"a column {column} ({describe_dtype(TABLES[info.name].columns[column])})",
                found=f"no such column (the file has: {has})",
                action=f"Add the column {column} to {path.name}, or rename the column that holds it.",
            )
            for column in missing
        ]
        return Outcome(TableSummary(info.name, info.required, "fatal", str(path)), problems)
    others = _others(raw_dir, info, path)
    opened.notes = [f"{other.name} was ignored: {path.name} was read instead." for other in others]
    return opened


def unreadable(info: TableInfo, path: Path, error: TableReadError) -> Outcome:
    """The outcome of a table whose file cannot be read: one fatal problem naming the file and the fix."""
    problem = fatal(
        info,
        str(path),
        expected="a readable UTF-8 CSV or Parquet file",
        found=str(error).removeprefix(f"{path}: "),
        action=f"Re-export {path.name} and run validate again.",
    )
    return Outcome(TableSummary(info.name, info.required, "fatal", str(path)), [problem])


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (arrow.ArrowException, OSError) as error:
        raise TableReadError(f"{path}: not a readable Parquet file ({error}).") from error


def _columns(schema: arrow.Schema) -> tuple[str, ...]:
    """The columns pandas would read: without the columns a pandas index was stored in."""
    index = {name for name in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(name, str)}
    return tuple(name for name in schema.names if name not in index)


def _others(raw_dir: Path, info: TableInfo, read: Path) -> list[Path]:
    candidates = (raw_dir / f"{info.name}{suffix}" for suffix in SUFFIXES)
    return [candidate for candidate in candidates if candidate.is_file() and candidate != read]


def without_rows(opened: OpenTable) -> Outcome:
    """A file with its header and no row: fatal for a required table, absent for an optional one."""
    info, path = opened.info, opened.path
    if info.required:
        return Outcome(TableSummary(info.name, info.required, "fatal", str(path)), [empty_table(info, path)])
    note = f"{path.name} has a header and no rows: treated as absent (its features are left out, not zeros)."
    return Outcome(TableSummary(info.name, info.required, "absent", str(path), notes=(*opened.notes, note)))


def summarise(opened: OpenTable, checked: TableChecked, staged: StagedOutputs, limits: RejectLimits) -> Outcome:
    """Stage a table's rejects, drop its kept rows if it turned out absent, and summarise what was found."""
    info, path, notes = opened.info, opened.path, opened.notes
    rejected = len(checked.rejected_rows)
    too_many = limit_problem(info, path, checked.rows, checked.problems, rejected, limits)
    if rejected:
        staged.write_rejects(info, checked.rejected, checked.rejected_rows, checked.reasons)
    status = "fatal" if checked.column_errors or too_many else "ok"
    if rejected == checked.rows and not info.required and status == "ok":
        status = "absent"
        notes = [*notes, "every row was quarantined: treated as absent (its features are left out, not zeros)."]
        staged.drop_clean(info.name)
    extra = [column for column in opened.columns if column not in TABLES[info.name].columns]
    notes = [
        *notes,
        *([f"columns not in the contract were ignored: {', '.join(extra)}."] if extra else []),
        *(
            f"{column} was not checked against {info.foreign_keys[column][0]}, which could not be validated."
            for column in checked.unchecked
        ),
    ]
    problems = checked.problems
    counts = (problems["column"] + ": " + problems["rule"]).value_counts().sort_index()
    summary = TableSummary(
        table=info.name,
        required=info.required,
        status=status,
        file=str(path),
        rows_read=checked.rows,
        rows_kept=checked.kept,
        rows_rejected=rejected,
        problem_count=len(problems),
        problems_by_rule={str(rule): int(count) for rule, count in counts.items()},
        notes=tuple(notes),
    )
    listed = [*([too_many] if too_many else []), *_first_problems(info, str(path), problems)]
    listed += [
        fatal(info, str(path), expected="columns of the contract's types", found=error, action=REPORT_BUG)
        for error in checked.column_errors
    ]
    return Outcome(summary, listed, opened.columns if status != "absent" else ())


def _first_problems(info: TableInfo, file: str, problems: pd.DataFrame) -> list[Problem]:
    """The first problems of a table as records; the rejects file holds every reason."""
    first = problems.sort_values("row", kind="stable").head(MAX_PROBLEMS_PER_TABLE)
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
            first["row"], first["column"], first["expected"], first["found"], first["key"], strict=True
        )
    ]


def fatal(info: TableInfo, file: str, *, expected: str, found: str, action: str, column: str | None = None) -> Problem:
    """A problem of a whole file, which stops the workspace."""
    return Problem(table=info.name, file=file, column=column, expected=expected, found=found, fatal=True, action=action)
