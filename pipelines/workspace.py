"""Opening a workspace for feature work: validated tables and the dates they cover.

Validation runs again only when a raw file is newer than the last report, so a
command that needs clean tables costs a validation once per extract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import polars as pl

from features.view import Tables, scan_tables
from pipelines.settings import Settings
from sources.contract import table_info
from sources.reader import read_extract
from sources.validation import validate_workspace
from sources.validation_report import REPORT_FILE


class WorkspaceError(Exception):
    """The workspace cannot be used as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Workspace:
    """Validated tables and the span of days they cover."""

    tables: Tables
    start: date
    end: date

    def check_as_of(self, as_of: date) -> None:
        """Refuse an as-of date outside the data.

        Raises:
            WorkspaceError: ``as_of`` lies before the first or after the last day.
        """
        if not self.start <= as_of <= self.end:
            raise WorkspaceError(
                f"--as-of {as_of} is outside the data, which covers {self.start} to {self.end}:"
                " choose a date in that range."
            )


def open_workspace(settings: Settings) -> Workspace:
    """Validate the workspace if needed and open its clean tables.

    Raises:
        WorkspaceError: Validation found fatal problems, or the data has no dates.
    """
    report = settings.clean_dir / REPORT_FILE
    raw_files = list(settings.raw_dir.glob("*")) if settings.raw_dir.is_dir() else []
    newest_raw = max((p.stat().st_mtime for p in raw_files), default=0.0)
    fresh = report.is_file() and report.stat().st_mtime >= newest_raw
    if not fresh or json.loads(report.read_text(encoding="utf-8")).get("fatal", True):
        result = validate_workspace(settings)
        if result.fatal:
            problems = [p.message() for p in result.problems if p.fatal][:10]
            raise WorkspaceError(
                f"{settings.raw_dir} fails validation; fix these and run again"
                f" (details: savedesk validate --data {settings.data}):\n  " + "\n  ".join(problems)
            )
    tables = scan_tables(settings.clean_dir)
    extract = read_extract(settings.raw_dir)
    start, end = extract.start, extract.end
    if start is None or end is None:
        first, last = _event_span(tables)
        start, end = start or first, end or last
    return Workspace(tables=tables, start=start, end=end)


def _event_span(tables: Tables) -> tuple[date, date]:
    spans = [
        frame.select(
            pl.col(table_info(name).event_time).min().alias("a"), pl.col(table_info(name).event_time).max().alias("b")
        )
        for name, frame in tables.items()
        if name != "accounts"
    ]
    found = pl.concat(pl.collect_all(spans))
    if found.is_empty() or found["a"].min() is None:
        raise WorkspaceError("The clean tables hold no dated events: nothing to build features from.")
    return found["a"].min(), found["b"].max()  # type: ignore[return-value]
