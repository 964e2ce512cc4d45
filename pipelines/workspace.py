"""Opening a workspace for feature work: validated tables and the dates they cover.

Validation runs again only when a raw file is newer than the last report, so a
command that needs clean tables costs a validation once per extract.

The outcomes reps recorded through the API join the tables here, and only
here, so every reader (training, evaluation, the nightly lists) sees the same
data: their save attempts are appended to ``save_attempts`` and their requests'
resolutions updated (``serving.outcomes_feed``). A workspace without an
outcomes store opens without one; opening never creates it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from features.view import Tables, scan_tables
from pipelines.settings import Settings
from serving.outcomes_feed import FeedReport, merge_outcomes
from sources.contract import table_info
from sources.extract_shape import ExtractShape
from sources.folders import WorkspaceFolders
from sources.reader import read_extract
from sources.validation import SHAPE_KEY
from sources.validation_report import REPORT_FILE, ValidationReport


class WorkspaceError(Exception):
    """The workspace cannot be used as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Workspace:
    """Validated tables and the span of days they cover."""

    tables: Tables
    start: date
    end: date
    outcomes: FeedReport = field(default_factory=FeedReport)
    """What the recorded outcomes added to ``tables``, and what they could not place."""
    shape: ExtractShape = field(default_factory=ExtractShape)
    """The optional tables and columns the extract lacks (``sources.extract_shape``)."""

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


@contextmanager
def validation_runner(settings: Settings) -> Iterator[Executor | None]:
    """Where validation checks its shards (``[validation_run]``): threads, or the nightly's Dask cluster.

    One shard needs no runner (None: checked here). With ``dask``, each worker reads its shard's pieces from,
    and writes its clean files into, the workspace: workers on other machines must see it at the same path.
    """
    run = settings.validation_run
    if run.shards == 1:
        yield None
        return
    with shard_executor(settings, run.task_runner, run.threads) as executor:
        yield executor


@contextmanager
def shard_executor(settings: Settings, task_runner: str, threads: int) -> Iterator[Executor]:
    """An executor for account-shard work: ``threads`` threads here, or the nightly's Dask cluster.

    ``dask``: ``nightly.dask_address``, or a local cluster of ``nightly.dask_workers`` capped at
    ``nightly.worker_memory``.
    """
    if task_runner == "threads":
        with ThreadPoolExecutor(threads, thread_name_prefix="shards") as pool:
            yield pool
        return
    from distributed import Client, LocalCluster

    desk = settings.nightly
    if desk.dask_address:
        with Client(desk.dask_address) as client:
            yield client.get_executor()
        return
    cluster = LocalCluster(n_workers=desk.dask_workers, threads_per_worker=1, memory_limit=desk.worker_memory,
                           dashboard_address=":0")  # fmt: skip
    with cluster, Client(cluster) as client:
        yield client.get_executor()


def validate_with_settings(settings: Settings, **options: Any) -> ValidationReport:
    """Validate the workspace with the settings' reject limits, shards and runner."""
    from sources import validation  # looked up when called, as the CLI's tests replace it

    folders = WorkspaceFolders(raw=settings.raw_dir, clean=settings.clean_dir, rejects=settings.rejects_dir)
    with validation_runner(settings) as runner:
        return validation.validate_workspace(
            folders, limits=settings.validation, shards=settings.validation_run.shards, runner=runner, **options
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
    saved = json.loads(report.read_text(encoding="utf-8")) if fresh else {}
    # Validated again when the raw tables changed, the last run was fatal, or the reject limits changed.
    if not fresh or saved.get("fatal", True) or saved.get("table_limits") != settings.validation.describe():
        result = validate_with_settings(settings)
        if result.fatal:
            problems = [p.message() for p in result.problems if p.fatal][:10]
            raise WorkspaceError(
                f"{settings.raw_dir} fails validation; fix these and run again"
                f" (details: savedesk validate --data {settings.data}):\n  " + "\n  ".join(problems)
            )
    tables = scan_tables(settings.clean_dir)
    shape = ExtractShape.from_dict(json.loads(report.read_text(encoding="utf-8")).get(SHAPE_KEY))
    extract = read_extract(settings.raw_dir)
    start, end = extract.start, extract.end
    if start is None or end is None:
        first, last = _event_span(tables)
        start, end = start or first, end or last
    recorded = _recorded_outcomes(settings)
    if recorded is None or recorded.empty:
        return Workspace(tables=tables, start=start, end=end, shape=shape)
    tables, merged = merge_outcomes(tables, recorded, end)
    return Workspace(tables=tables, start=start, end=end, outcomes=merged, shape=shape)


def _recorded_outcomes(settings: Settings) -> pd.DataFrame | None:
    """Every outcome in the workspace's outcomes store; None when it has none (a SQLite file not yet made).

    Raises:
        WorkspaceError: A configured store cannot be read (training without the
            desk's outcomes would silently learn from less than it should).
    """
    from serving.store import OutcomesStore  # Alembic is imported only when there is a store

    url = settings.outcomes_database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        return None
    try:
        store = OutcomesStore.open(url, settings.nightly.time_zone)
    except SQLAlchemyError as error:
        raise WorkspaceError(
            f"The outcomes store at {parsed.render_as_string(hide_password=True)} cannot be read"
            f" ({error.__class__.__name__}): check SAVEDESK_OUTCOMES_URL and that the database is up."
        ) from error
    try:
        return store.outcomes()
    finally:
        store.dispose()


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
