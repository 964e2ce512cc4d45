"""The outcome of validating a workspace: counts per table and every problem found.

The report is plain data (frozen dataclasses) so the CLI can print it, a flow
can log it and ``clean/validation.json`` can keep it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

SHOWN_PROBLEMS = 20
REPORT_FILE = "validation.json"
"""Name of the report in the clean folder."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the raw data, worded for the person who can fix it.

    Attributes:
        table: The contract table.
        file: The file it was read from (or would have been).
        column: The column concerned; None for a problem with the whole file.
        expected: What the contract expects.
        found: What the file holds.
        key: The row's key value, when the row has one.
        row: The row's position in the file, from 1 (CSV line = row + 1).
        fatal: Whether the problem stops the whole workspace (a missing table
            or column, an unreadable file) rather than one row.
        action: What to do about it, for fatal problems.
    """

    table: str
    file: str
    column: str | None
    expected: str
    found: str
    key: str | None = None
    row: int | None = None
    fatal: bool = False
    action: str = ""

    @property
    def where(self) -> str:
        """The row as a person finds it: its key and row number, or the file for a file problem."""
        if self.row is None:
            return self.key or self.file
        return f"{self.key} (row {self.row})" if self.key else f"row {self.row}"

    def message(self) -> str:
        """The problem as one sentence."""
        place = [f"table {self.table}"]
        if self.row is not None:
            place.append(f"row {self.row}" + (f" ({self.key})" if self.key else ""))
        if self.column:
            place.append(f"column {self.column}")
        text = f"{self.file}, {', '.join(place)}: expected {self.expected}, found {self.found}."
        return f"{text} {self.action}".strip()


@dataclass(frozen=True)
class TableSummary:
    """How one contract table fared.

    Attributes:
        table: The contract table.
        required: Whether the contract requires it.
        status: ``ok`` (read and checked), ``absent`` (optional and missing, or
            without a row: a header alone, or every row quarantined) or ``fatal``
            (missing, unreadable, without a required column, a required table
            without rows, or more rows quarantined than its limit).
        file: The file read, if any.
        rows_read: Data rows in the file.
        rows_kept: Rows written to the clean layer (``rows_read - rows_rejected``).
        rows_rejected: Rows quarantined in ``rejects/<table>.parquet``.
        problem_count: Row problems found (a row may have several).
        problems_by_rule: Row problems counted per ``column: rule``.
        notes: Anything else worth knowing (ignored columns, skipped checks).
    """

    table: str
    required: bool
    status: str
    file: str | None = None
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    problem_count: int = 0
    problems_by_rule: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationReport:
    """Everything ``validate_workspace`` found.

    Attributes:
        raw_dir: The folder validated.
        rejects_dir: Where quarantined rows were written.
        clean_dir: Where kept rows and this report were written.
        extract_end: The extract's last day; None when unknown, in which case
            dates after the end were not checked.
        tables: One summary per contract table, in contract order.
        problems: Every fatal problem, then the first row problems of each
            table (at most ``max_problems_per_table``; the rejects files hold
            the reason of every quarantined row).
        max_problems_per_table: The cap on row problems kept per table.
        notes: Remarks about the whole run.
        table_limits: Each table's reject limits (``sources.reject_limits.RejectLimits.describe``).
        mapping: What the extract's mapping did per table (``sources.event_mapping_source.MappedFolder.report``);
            None when the extract has no mapping.
    """

    raw_dir: str
    rejects_dir: str
    clean_dir: str
    extract_end: date | None
    tables: tuple[TableSummary, ...]
    problems: tuple[Problem, ...]
    max_problems_per_table: int
    notes: tuple[str, ...] = ()
    table_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    mapping: dict[str, Any] | None = None

    @property
    def fatal(self) -> bool:
        """Whether the workspace cannot be used until its files are fixed."""
        return any(problem.fatal for problem in self.problems)

    @property
    def absent_tables(self) -> tuple[str, ...]:
        """Optional tables the extract does not have."""
        return tuple(summary.table for summary in self.tables if summary.status == "absent")

    @property
    def problem_count(self) -> int:
        """Every problem found, fatal and row problems, including those not listed."""
        fatal = sum(problem.fatal for problem in self.problems)
        return fatal + sum(summary.problem_count for summary in self.tables)

    def table(self, name: str) -> TableSummary:
        """The summary of one table."""
        return next(summary for summary in self.tables if summary.table == name)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "fatal": self.fatal,
            "raw_dir": self.raw_dir,
            "rejects_dir": self.rejects_dir,
            "clean_dir": self.clean_dir,
            "extract_end": self.extract_end.isoformat() if self.extract_end else None,
            "future_dates_checked": self.extract_end is not None,
            "problem_count": self.problem_count,
            "absent_tables": list(self.absent_tables),
            "notes": list(self.notes),
            "tables": [_summary_dict(summary) for summary in self.tables],
            "max_problems_per_table": self.max_problems_per_table,
            "table_limits": self.table_limits,
            "problems": [asdict(problem) for problem in self.problems],
            "mapping": self.mapping,
        }

    def render(self, console: Console) -> None:
        """Print counts per table, the first problems and what to do next."""
        end = self.extract_end.isoformat() if self.extract_end else "unknown"
        console.print(f"[bold]Validated {self.raw_dir}[/bold] (extract end: {end})")
        if self.mapping is not None:
            render_mapping(self.mapping, console)
        console.print(_counts_table(self.tables))
        if self.problems:
            console.print(_problems_table(self.problems[:SHOWN_PROBLEMS]))
        for note in self.notes:
            console.print(f"[yellow]{note}[/yellow]")
        for summary in self.tables:
            for note in summary.notes:
                console.print(f"[yellow]{summary.table}: {note}[/yellow]")
        rejected = sum(summary.rows_rejected for summary in self.tables)
        shown = min(len(self.problems), SHOWN_PROBLEMS)
        console.print(
            f"{self.problem_count:,} problem(s) in total (showing {shown});"
            f" {rejected:,} row(s) quarantined in {self.rejects_dir}, each with its reject_reason."
        )
        if self.fatal:
            console.print(
                "[red bold]Fatal: the files above must be fixed before this workspace can be"
                " used; no clean tables were written.[/red bold]"
            )
            for action in dict.fromkeys(p.action for p in self.problems if p.fatal and p.action):
                console.print(f"[red]- {action}[/red]")
        else:
            console.print(f"[green]Clean tables written to {self.clean_dir}.[/green]")
        console.print(f"Full report: {Path(self.clean_dir) / REPORT_FILE}")


def _summary_dict(summary: TableSummary) -> dict[str, Any]:
    data = asdict(summary)
    data["notes"] = list(summary.notes)
    return data


def _counts_table(tables: tuple[TableSummary, ...]) -> Table:
    counts = Table(title="Rows per table")
    counts.add_column("Table")
    counts.add_column("Status")
    for number in ("Read", "Kept", "Rejected"):
        counts.add_column(number, justify="right")
    counts.add_column("File")
    styles = {"ok": "green", "absent": "dim", "fatal": "red"}
    for summary in tables:
        status = "absent (optional)" if summary.status == "absent" else summary.status
        counts.add_row(
            summary.table,
            f"[{styles[summary.status]}]{status}[/]",
            f"{summary.rows_read:,}",
            f"{summary.rows_kept:,}",
            f"[red]{summary.rows_rejected:,}[/]" if summary.rows_rejected else "0",
            summary.file or "-",
        )
    return counts


def _problems_table(problems: tuple[Problem, ...]) -> Table:
    listed = Table(title="Problems")
    for name in ("Table", "Row", "Column", "Expected", "Found"):
        listed.add_column(name, overflow="fold")
    for problem in problems:
        style = "red" if problem.fatal else ""
        listed.add_row(
            problem.table,
            problem.where,
            problem.column or "-",
            problem.expected,
            problem.found,
            style=style,
        )
    return listed


def render_mapping(mapping: dict[str, Any], console: Console) -> None:
    """Print what the extract's mapping did: per table, renames, codes mapped and left, constants and dates."""
    console.print(f"[bold]Mapped with {mapping['file']}[/bold]")
    for record in mapping["tables"]:
        console.print(f"  {record['table']} (from {Path(record['file']).name}):", markup=False)
        for line in mapping_lines(record):
            console.print(f"    {line}", markup=False, highlight=False)
    if mapping.get("note"):
        console.print(f"[yellow]{mapping['note']}[/yellow]")


def mapping_lines(record: dict[str, Any]) -> list[str]:
    """One table's mapping record as sentences."""
    lines = []
    if record["columns_renamed"]:
        renamed = ", ".join(f"{crm} -> {column}" for crm, column in record["columns_renamed"].items())
        lines.append(f"columns renamed: {renamed}")
    for column, pairs in record["values_mapped"].items():
        mapped = ", ".join(f"{code} -> {pair['to']} ({pair['rows']:,})" for code, pair in pairs.items()) or "none"
        lines.append(f"{column}: values mapped {mapped}")
        if record["unmapped_rows"].get(column):
            left = ", ".join(f"{value} ({rows:,})" for value, rows in record["values_unmapped"][column].items())
            lines.append(
                f"{column}: {record['unmapped_rows'][column]:,} row(s) left unmapped: {left}"
                " (validation quarantines those outside the contract's values)"
            )
    for column, value in record["constants_filled"].items():
        lines.append(f"{column}: filled with {value!r} on every row")
    for column, parsed in record["dates_parsed"].items():
        if parsed["already_dates"]:
            lines.append(f"{column}: already dates in the file; format {parsed['format']} not needed")
            continue
        line = f"{column}: {parsed['rows']:,} date(s) read as {parsed['format']}"
        if parsed["unmatched"]:
            line += (
                f"; {parsed['unmatched']:,} did not match (e.g. {', '.join(parsed['examples'])}), left to validation"
            )
        lines.append(line)
    return lines or ["read as it is (nothing to map)"]
